//! Fetching packages and index entries over HTTP(S): a package URL, or an index served as
//! static files (`<base>/<name>.json`, `<base>/packages/<hash>.hskill`) — the same layout as a
//! local index folder, so any static file server can host one.

use std::time::Duration;

use crate::index::IndexEntry;
use crate::package::MAX_PACKAGE_BYTES;
use crate::{RegistryError, Result};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .timeout_connect(Some(Duration::from_secs(15)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// GETs `url`; `Ok(None)` on 404; anything larger than `limit` bytes is refused.
pub fn get(url: &str, limit: u64) -> Result<Option<Vec<u8>>> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(RegistryError::NotFound(format!(
            "`{url}` is not an http(s) URL"
        )));
    }
    let fail = |e: ureq::Error| match e {
        ureq::Error::BodyExceedsLimit(_) => RegistryError::TooLarge {
            size: limit + 1,
            limit,
        },
        other => RegistryError::NotFound(format!("fetching {url}: {other}")),
    };
    let mut response = agent().get(url).call().map_err(fail)?;
    match response.status().as_u16() {
        200 => {}
        404 => return Ok(None),
        code => {
            return Err(RegistryError::NotFound(format!(
                "fetching {url}: HTTP {code}"
            )))
        }
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(fail)?;
    Ok(Some(body))
}

/// A package file by URL.
pub fn fetch_package(url: &str) -> Result<Vec<u8>> {
    get(url, MAX_PACKAGE_BYTES)?
        .ok_or_else(|| RegistryError::NotFound(format!("{url}: not found (HTTP 404)")))
}

/// An index served over HTTP(S).
pub struct RemoteIndex {
    base: String,
}

impl RemoteIndex {
    pub fn new(base: &str) -> Self {
        RemoteIndex {
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub fn entry(&self, name: &str) -> Result<IndexEntry> {
        if !crate::manifest::valid_name(name) {
            return Err(RegistryError::NotFound(format!(
                "`{name}` is not a skill name"
            )));
        }
        match get(&format!("{}/{name}.json", self.base), 1 << 20)? {
            Some(bytes) => {
                let entry: IndexEntry = serde_json::from_slice(&bytes)
                    .map_err(|e| RegistryError::Malformed(format!("index entry {name}: {e}")))?;
                if entry.name != name {
                    return Err(RegistryError::Malformed(format!(
                        "index entry for `{name}` names `{}`",
                        entry.name
                    )));
                }
                Ok(entry)
            }
            None => Ok(IndexEntry {
                name: name.to_string(),
                versions: Default::default(),
            }),
        }
    }

    pub fn package(&self, hash: &str) -> Result<Vec<u8>> {
        if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(RegistryError::Malformed(format!(
                "`{hash}` is not a package hash"
            )));
        }
        fetch_package(&format!("{}/packages/{hash}.hskill", self.base))
    }
}
