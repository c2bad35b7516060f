//! The registry index: for each skill name, its versions with package hash, publisher and
//! yanked flag, as one JSON file per name in a directory (which a static HTTP server can serve
//! unchanged), with the packages beside it under `packages/<hash>.hskill`.
//!
//! Index entries are data that merges: the union of versions, where `yanked` only ever goes
//! from false to true. Two indexes merged in any order give the same result (the swarm will
//! sync them between peers this way).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::package::Package;
use crate::store::compare_versions;
use crate::{RegistryError, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    pub name: String,
    pub versions: BTreeSet<VersionEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionEntry {
    pub version: String,
    /// Package hash (sha256 of the canonical manifest).
    pub hash: String,
    /// Publisher key, hex.
    pub publisher: String,
    pub yanked: bool,
}

impl IndexEntry {
    /// Union of versions; a version yanked on either side is yanked.
    pub fn merge(&self, other: &IndexEntry) -> IndexEntry {
        let mut versions: BTreeSet<VersionEntry> = BTreeSet::new();
        for v in self.versions.iter().chain(&other.versions) {
            let yanked = self.versions.iter().chain(&other.versions).any(|w| {
                w.hash == v.hash && w.version == v.version && w.publisher == v.publisher && w.yanked
            });
            versions.insert(VersionEntry {
                yanked,
                ..v.clone()
            });
        }
        IndexEntry {
            name: self.name.clone(),
            versions,
        }
    }

    /// The newest non-yanked version, or exactly `version` if given (even if yanked: pinning
    /// an exact version is allowed, as with cargo).
    pub fn resolve(&self, version: Option<&str>) -> Option<&VersionEntry> {
        match version {
            Some(v) => self.versions.iter().find(|e| e.version == v),
            None => self
                .versions
                .iter()
                .filter(|e| !e.yanked)
                .max_by(|a, b| compare_versions(&a.version, &b.version)),
        }
    }
}

/// A local index directory.
pub struct Index {
    dir: PathBuf,
}

impl Index {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("packages"))?;
        Ok(Index { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    pub fn entry(&self, name: &str) -> Result<IndexEntry> {
        if !crate::manifest::valid_name(name) {
            return Err(RegistryError::NotFound(format!(
                "`{name}` is not a skill name"
            )));
        }
        match std::fs::read(self.entry_path(name)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| RegistryError::Malformed(format!("index entry {name}: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IndexEntry {
                name: name.to_string(),
                versions: BTreeSet::new(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    fn write_entry(&self, entry: &IndexEntry) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(entry)
            .map_err(|e| RegistryError::Malformed(e.to_string()))?;
        let path = self.entry_path(&entry.name);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(tmp, path)?;
        Ok(())
    }

    /// Adds a package file to the index (merging with what is there).
    pub fn publish(&self, package: &Package) -> Result<VersionEntry> {
        package.verify_signature()?;
        let hash = package.hash();
        let file = self.package_path(&hash);
        if !file.exists() {
            let tmp = file.with_extension("hskill.tmp");
            std::fs::write(&tmp, package.to_bytes()?)?;
            std::fs::rename(&tmp, &file)?;
        }
        let version = VersionEntry {
            version: package.manifest.version.clone(),
            hash,
            publisher: package.signature.publisher.clone(),
            yanked: false,
        };
        let mut mine = IndexEntry {
            name: package.manifest.name.clone(),
            versions: BTreeSet::new(),
        };
        mine.versions.insert(version.clone());
        self.write_entry(&self.entry(&package.manifest.name)?.merge(&mine))?;
        Ok(version)
    }

    /// Marks a version yanked: still installable by exact version, never chosen by default.
    pub fn yank(&self, name: &str, version: &str) -> Result<()> {
        let entry = self.entry(name)?;
        let mut yanked = IndexEntry {
            name: name.to_string(),
            versions: BTreeSet::new(),
        };
        for v in entry.versions.iter().filter(|v| v.version == version) {
            yanked.versions.insert(VersionEntry {
                yanked: true,
                ..v.clone()
            });
        }
        if yanked.versions.is_empty() {
            return Err(RegistryError::NotFound(format!(
                "{name}@{version} is not in the index"
            )));
        }
        self.write_entry(&entry.merge(&yanked))
    }

    pub fn package_path(&self, hash: &str) -> PathBuf {
        self.dir.join("packages").join(format!("{hash}.hskill"))
    }

    /// Finds a package by hash across all entries.
    pub fn find_hash(&self, prefix: &str) -> Result<PathBuf> {
        if prefix.len() < 8 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(RegistryError::NotFound(
                "give at least 8 hex digits of the package hash".into(),
            ));
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("packages"))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(hash) = name.strip_suffix(".hskill") {
                if hash.starts_with(prefix) {
                    found.push(self.package_path(hash));
                }
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(RegistryError::NotFound(format!(
                "no package sha256:{prefix} in the index at {}",
                self.dir.display()
            ))),
            n => Err(RegistryError::NotFound(format!(
                "sha256:{prefix} matches {n} packages: give more digits"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: &str, hash: &str, yanked: bool) -> VersionEntry {
        VersionEntry {
            version: version.into(),
            hash: hash.into(),
            publisher: "k".into(),
            yanked,
        }
    }

    #[test]
    fn merge_is_a_commutative_union_where_yanks_win() {
        let a = IndexEntry {
            name: "s".into(),
            versions: [v("0.1.0", "h1", false), v("0.2.0", "h2", false)].into(),
        };
        let b = IndexEntry {
            name: "s".into(),
            versions: [v("0.2.0", "h2", true), v("0.3.0", "h3", false)].into(),
        };
        let ab = a.merge(&b);
        assert_eq!(ab, b.merge(&a));
        assert_eq!(ab, ab.merge(&a), "idempotent");
        assert!(ab.versions.contains(&v("0.2.0", "h2", true)));
        assert_eq!(ab.resolve(None).map(|e| e.version.as_str()), Some("0.3.0"));
        let no_newest = IndexEntry {
            name: "s".into(),
            versions: [v("0.1.0", "h1", false), v("0.2.0", "h2", true)].into(),
        };
        assert_eq!(
            no_newest.resolve(None).map(|e| e.version.as_str()),
            Some("0.1.0"),
            "yanked versions are skipped"
        );
        assert_eq!(
            no_newest.resolve(Some("0.2.0")).map(|e| e.hash.as_str()),
            Some("h2"),
            "but can be pinned"
        );
    }
}
