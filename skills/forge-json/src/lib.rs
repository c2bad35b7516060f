//! The official `json-parse` tool: serde_json, which follows RFC 8259 strictly (no trailing
//! commas, no comments, no NaN, UTF-8 only, nesting capped at 128). An accepted document comes
//! back as the parsed value re-serialised; a rejected one as an error naming serde's reason.

use hyper_sdk::prelude::*;

struct JsonParse;

impl Tool for JsonParse {
    fn info() -> ToolInfo {
        ToolInfo {
            name: "forge-json".into(),
            version: "0.1.0".into(),
            task: "json-parse".into(),
            description: "serde_json: strict RFC 8259; echoes the parsed value".into(),
        }
    }

    fn call(input: &[u8]) -> Result<Vec<u8>, Error> {
        let value: serde_json::Value =
            serde_json::from_slice(input).map_err(|e| Error::Failed(format!("rejected: {e}")))?;
        serde_json::to_vec(&value).map_err(|e| Error::Failed(format!("cannot serialise: {e}")))
    }
}

register_tool!(JsonParse);
