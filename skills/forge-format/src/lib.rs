//! The official `format-validate` tool: JSON Schema `format` assertions written against the
//! RFCs they cite (RFC 3339 dates and times, ISO 8601 durations, RFC 5321 mailboxes,
//! RFC 1123 host names, RFC 3986/3987 URIs and IRIs, RFC 4122 UUIDs, RFC 6901 JSON
//! pointers, RFC 6570 URI templates, ECMA-262 regular expressions). Only `idn-hostname`
//! leans on a crate (idna, for UTS #46). Non-strings and unknown formats are valid, as
//! the JSON Schema specification says.

mod checks;

use hyper_sdk::prelude::*;
use serde_json::Value;

struct FormatValidate;

impl Tool for FormatValidate {
    fn info() -> ToolInfo {
        ToolInfo {
            name: "forge-format".into(),
            version: "0.1.0".into(),
            task: "format-validate".into(),
            description: "hand-written JSON Schema format checks (RFC 3339, 5321, 3986 ...)".into(),
        }
    }

    fn call(input: &[u8]) -> Result<Vec<u8>, Error> {
        let request: Value = serde_json::from_slice(input)
            .map_err(|e| Error::InvalidParams(format!("request is not JSON: {e}")))?;
        let format = request
            .get("format")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::InvalidParams("`format` must be a string".into()))?;
        let valid = match request.get("data") {
            Some(Value::String(s)) => checks::check(format, s),
            _ => true,
        };
        Ok(format!("{{\"valid\":{valid}}}").into_bytes())
    }
}

register_tool!(FormatValidate);
