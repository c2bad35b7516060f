//! The official `url-parse` tool: the url crate (rust-url, Servo's WHATWG URL parser) and its
//! `quirks` module, which exposes exactly the URL API's attributes (href, protocol, host ...).
//! Input `{"input": "...", "base": "..." | null}`; a parse failure is an error.

use hyper_sdk::prelude::*;
use url::{quirks, Url};

struct UrlParse;

fn field<'a>(request: &'a serde_json::Value, key: &str) -> Result<Option<&'a str>, Error> {
    match request.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::InvalidParams(format!(
            "`{key}` must be a string or null, got {other}"
        ))),
    }
}

impl Tool for UrlParse {
    fn info() -> ToolInfo {
        ToolInfo {
            name: "forge-url".into(),
            version: "0.1.0".into(),
            task: "url-parse".into(),
            description: "rust-url (WHATWG URL) through its quirks accessors".into(),
        }
    }

    fn call(input: &[u8]) -> Result<Vec<u8>, Error> {
        let request: serde_json::Value = serde_json::from_slice(input)
            .map_err(|e| Error::InvalidParams(format!("request is not JSON: {e}")))?;
        let text = field(&request, "input")?
            .ok_or_else(|| Error::InvalidParams("`input` is missing".into()))?;
        let url = match field(&request, "base")? {
            Some(base) => {
                let base = Url::parse(base).map_err(|e| Error::Failed(format!("base: {e}")))?;
                base.join(text)
            }
            None => Url::parse(text),
        }
        .map_err(|e| Error::Failed(format!("failure: {e}")))?;
        let out = serde_json::json!({
            "href": quirks::href(&url),
            "origin": quirks::origin(&url),
            "protocol": quirks::protocol(&url),
            "username": quirks::username(&url),
            "password": quirks::password(&url),
            "host": quirks::host(&url),
            "hostname": quirks::hostname(&url),
            "port": quirks::port(&url),
            "pathname": quirks::pathname(&url),
            "search": quirks::search(&url),
            "hash": quirks::hash(&url),
        });
        serde_json::to_vec(&out).map_err(|e| Error::Failed(format!("cannot serialise: {e}")))
    }
}

register_tool!(UrlParse);
