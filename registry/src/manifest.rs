//! The package manifest and its canonical encoding.

use serde::{Deserialize, Serialize};

use crate::{RegistryError, Result};

/// Longest name, version, description... a manifest may carry.
const MAX_FIELD: usize = 4096;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub license: String,
    /// `research-skill`, `evaluator` or `tool-skill`.
    pub world: String,
    /// The `hyper:research` API version the component targets, e.g. `0.1.0`.
    pub api: String,
    /// Domains a research skill serves.
    #[serde(default)]
    pub domains: Vec<String>,
    /// The forge task a tool serves.
    #[serde(default)]
    pub task: Option<String>,
    pub capabilities: Capabilities,
    pub component: ComponentRef,
}

/// What the package asks the host for. The component may import no interface missing here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Interfaces the component imports, without versions (e.g. `wasi:filesystem/types`).
    pub imports: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentRef {
    pub sha256: String,
    pub size: u64,
}

/// Skill and domain names: 1-64 of a-z, 0-9, `-` and `_` (safe as file names and URL parts).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Manifest {
    /// The canonical encoding: compact JSON in field order. Its sha256 is the package hash.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings, lists and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn package_hash(&self) -> String {
        crate::sha256_hex(&self.canonical_bytes())
    }

    /// Parses canonical manifest bytes; anything else (extra fields, other key order, spaces)
    /// is refused so that one package has exactly one hash.
    pub fn from_canonical(bytes: &[u8]) -> Result<Self> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| RegistryError::Malformed(format!("manifest: {e}")))?;
        if manifest.canonical_bytes() != bytes {
            return Err(RegistryError::Malformed(
                "manifest is not in canonical form".into(),
            ));
        }
        manifest.validate()?;
        Ok(manifest)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(RegistryError::Malformed(format!("manifest: {m}")));
        if !valid_name(&self.name) {
            return bad(format!(
                "name `{}` must be 1-64 of a-z, 0-9, - and _",
                self.name
            ));
        }
        if self.version.is_empty()
            || self.version.len() > 64
            || !self
                .version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
        {
            return bad(format!("version `{}` is not a version", self.version));
        }
        if !["research-skill", "evaluator", "tool-skill"].contains(&self.world.as_str()) {
            return bad(format!(
                "world `{}` is not research-skill, evaluator or tool-skill",
                self.world
            ));
        }
        let sizes = [&self.description, &self.license, &self.api]
            .iter()
            .map(|s| s.len())
            .max()
            .unwrap_or(0);
        if sizes > MAX_FIELD
            || self
                .authors
                .iter()
                .chain(&self.domains)
                .chain(&self.capabilities.imports)
                .any(|s| s.len() > MAX_FIELD)
        {
            return bad("a field is absurdly long".into());
        }
        if self.authors.len() + self.domains.len() + self.capabilities.imports.len() > 1024 {
            return bad("too many entries".into());
        }
        if self.component.sha256.len() != 64
            || !self.component.sha256.chars().all(|c| c.is_ascii_hexdigit())
        {
            return bad("component.sha256 is not a sha256".into());
        }
        if self.domains.iter().any(|d| !valid_name(d)) {
            return bad("a domain name is invalid".into());
        }
        Ok(())
    }
}

/// What an author writes in `hyper-skill.toml` next to their skill; `hyper skill pack` fills in
/// the world, API version, capabilities and component hash from the component itself.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceManifest {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub license: String,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub task: Option<String>,
    /// Path of the built component, relative to the manifest.
    pub component: String,
    /// How `hyper skill build` builds it.
    #[serde(default)]
    pub build: Option<BuildSection>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    /// `rust`, `c`, `python` or `js`.
    pub lang: String,
}
