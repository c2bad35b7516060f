//! Installed packages under `$HYPER_HOME/store`, content-addressed:
//!
//! ```text
//! store/blobs/<sha256>                      component bytes, shared by every package using them
//! store/packages/<package hash>/hyper-skill.json
//! store/packages/<package hash>/signature.json
//! ```
//!
//! A package directory appears by an atomic rename of a complete temporary one, and a blob by
//! an atomic rename of a complete temporary file, so a crash never leaves half a package.
//! Removing a package deletes its directory, then every blob no remaining package refers to.

use std::path::{Path, PathBuf};

use crate::manifest::Manifest;
use crate::package::{Package, SignatureFile, MANIFEST_ENTRY, SIGNATURE_ENTRY};
use crate::{sha256_hex, RegistryError, Result};

pub struct Store {
    root: PathBuf,
}

/// One installed package.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Installed {
    pub hash: String,
    pub manifest: Manifest,
    pub publisher: String,
    pub publisher_fingerprint: String,
}

impl Store {
    pub fn open(home: &Path) -> Result<Self> {
        let root = home.join("store");
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("packages"))?;
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root.join("blobs").join(sha256)
    }

    fn package_dir(&self, hash: &str) -> PathBuf {
        self.root.join("packages").join(hash)
    }

    /// Writes a verified package. Installing the same package twice is a no-op.
    pub fn add(&self, package: &Package) -> Result<Installed> {
        let hash = package.hash();
        let blob = self.blob_path(&package.manifest.component.sha256);
        if !blob.exists() {
            let tmp = self
                .root
                .join("blobs")
                .join(format!(".tmp-{hash}-{}", std::process::id()));
            std::fs::write(&tmp, &package.component)?;
            std::fs::rename(&tmp, &blob)?;
        }
        let dir = self.package_dir(&hash);
        if !dir.exists() {
            let tmp = self
                .root
                .join("packages")
                .join(format!(".tmp-{hash}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp)?;
            std::fs::write(tmp.join(MANIFEST_ENTRY), package.manifest.canonical_bytes())?;
            let signature = serde_json::to_vec(&package.signature)
                .map_err(|e| RegistryError::Malformed(e.to_string()))?;
            std::fs::write(tmp.join(SIGNATURE_ENTRY), signature)?;
            std::fs::rename(&tmp, &dir)?;
        }
        self.get(&hash)
    }

    /// One installed package by full hash.
    pub fn get(&self, hash: &str) -> Result<Installed> {
        let dir = self.package_dir(hash);
        let manifest = Manifest::from_canonical(
            &std::fs::read(dir.join(MANIFEST_ENTRY))
                .map_err(|_| RegistryError::NotFound(format!("no installed package {hash}")))?,
        )?;
        let signature: SignatureFile =
            serde_json::from_slice(&std::fs::read(dir.join(SIGNATURE_ENTRY))?)
                .map_err(|e| RegistryError::Malformed(e.to_string()))?;
        let key = Package {
            manifest: manifest.clone(),
            component: Vec::new(),
            signature: signature.clone(),
        }
        .verify_signature()?;
        Ok(Installed {
            hash: hash.to_string(),
            manifest,
            publisher: signature.publisher,
            publisher_fingerprint: crate::keys::fingerprint(&key),
        })
    }

    /// Every installed package, by name then version.
    pub fn list(&self) -> Result<Vec<Installed>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.root.join("packages"))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            match self.get(&name) {
                Ok(installed) => out.push(installed),
                Err(e) => tracing::warn!("skipping damaged store entry {name}: {e}"),
            }
        }
        out.sort_by(|a, b| {
            a.manifest
                .name
                .cmp(&b.manifest.name)
                .then(compare_versions(&a.manifest.version, &b.manifest.version))
        });
        Ok(out)
    }

    /// Finds an installed package: `name`, `name@version` or `sha256:<hash or prefix>`.
    pub fn find(&self, spec: &str) -> Result<Installed> {
        let all = self.list()?;
        let matches: Vec<&Installed> = if let Some(prefix) = spec.strip_prefix("sha256:") {
            all.iter()
                .filter(|p| p.hash.starts_with(prefix) && prefix.len() >= 8)
                .collect()
        } else if let Some((name, version)) = spec.split_once('@') {
            all.iter()
                .filter(|p| p.manifest.name == name && p.manifest.version == version)
                .collect()
        } else {
            // The highest version of that name.
            all.iter()
                .rfind(|p| p.manifest.name == spec)
                .into_iter()
                .collect()
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(RegistryError::NotFound(format!(
                "no installed skill matches `{spec}`: see `hyper skill list`"
            ))),
            _ => Err(RegistryError::NotFound(format!(
                "`{spec}` matches {} packages: give more of the hash",
                matches.len()
            ))),
        }
    }

    /// The component bytes of an installed package, re-checked against the manifest.
    pub fn component(&self, installed: &Installed) -> Result<Vec<u8>> {
        let bytes = std::fs::read(self.blob_path(&installed.manifest.component.sha256))?;
        let actual = sha256_hex(&bytes);
        if actual != installed.manifest.component.sha256 {
            return Err(RegistryError::HashMismatch {
                expected: installed.manifest.component.sha256.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// The component with this SHA-256, if any installed package has it (re-checked against
    /// the hash): what a replay of a result that names its skill by hash runs.
    pub fn component_by_hash(&self, sha256: &str) -> Option<Vec<u8>> {
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let bytes = std::fs::read(self.blob_path(sha256)).ok()?;
        (sha256_hex(&bytes) == sha256).then_some(bytes)
    }

    /// Re-verifies an installed package: manifest, signature, component hash.
    pub fn verify(&self, installed: &Installed) -> Result<()> {
        self.get(&installed.hash)?;
        self.component(installed).map(|_| ())
    }

    /// Removes a package, then the blobs no other package uses.
    pub fn remove(&self, hash: &str) -> Result<()> {
        let dir = self.package_dir(hash);
        if !dir.exists() {
            return Err(RegistryError::NotFound(format!(
                "no installed package {hash}"
            )));
        }
        // Rename first so that a crash mid-delete never leaves a half package under its name.
        let doomed = self.root.join("packages").join(format!(".removing-{hash}"));
        std::fs::rename(&dir, &doomed)?;
        std::fs::remove_dir_all(&doomed)?;
        let used: std::collections::HashSet<String> = self
            .list()?
            .into_iter()
            .map(|p| p.manifest.component.sha256)
            .collect();
        for entry in std::fs::read_dir(self.root.join("blobs"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && !used.contains(&name) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

/// Orders versions by their numeric dot-separated parts, then as text.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| {
        v.split(['.', '-', '+'])
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    parts(a).cmp(&parts(b)).then(a.cmp(b))
}
