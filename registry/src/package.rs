//! The `.hskill` file: a tar of exactly `hyper-skill.json` (the canonical manifest),
//! `skill.wasm` (the component) and `signature.json`, read strictly.

use std::io::Read;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::{sha256_hex, RegistryError, Result};

pub const MANIFEST_ENTRY: &str = "hyper-skill.json";
pub const COMPONENT_ENTRY: &str = "skill.wasm";
pub const SIGNATURE_ENTRY: &str = "signature.json";

/// Largest package file accepted.
pub const MAX_PACKAGE_BYTES: u64 = 96 << 20;
const MAX_MANIFEST_BYTES: u64 = 256 << 10;
const MAX_SIGNATURE_BYTES: u64 = 4 << 10;

/// What is signed: a domain-separation prefix and the package hash.
fn signed_message(package_hash: &str) -> Vec<u8> {
    format!("hyper-skill-package-v1:{package_hash}").into_bytes()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    pub algorithm: String,
    /// The publisher's ed25519 public key, hex.
    pub publisher: String,
    /// ed25519 signature of `hyper-skill-package-v1:<package hash>`, hex.
    pub signature: String,
}

#[derive(Clone, Debug)]
pub struct Package {
    pub manifest: Manifest,
    pub component: Vec<u8>,
    pub signature: SignatureFile,
}

impl Package {
    /// Builds and signs a package.
    pub fn build(manifest: Manifest, component: Vec<u8>, key: &SigningKey) -> Result<Self> {
        manifest.validate()?;
        let hash = manifest.package_hash();
        let signature = SignatureFile {
            algorithm: "ed25519".into(),
            publisher: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(key.sign(&signed_message(&hash)).to_bytes()),
        };
        let package = Package {
            manifest,
            component,
            signature,
        };
        package.check_component_hash()?;
        Ok(package)
    }

    /// The package's identity: sha256 of its canonical manifest (which pins the component).
    pub fn hash(&self) -> String {
        self.manifest.package_hash()
    }

    fn check_component_hash(&self) -> Result<()> {
        let actual = sha256_hex(&self.component);
        if actual != self.manifest.component.sha256
            || self.component.len() as u64 != self.manifest.component.size
        {
            return Err(RegistryError::HashMismatch {
                expected: self.manifest.component.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// The `.hskill` bytes: a deterministic tar (fixed order, mtime 0, mode 0644).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let signature = serde_json::to_vec(&self.signature)
            .map_err(|e| RegistryError::Malformed(e.to_string()))?;
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in [
            (MANIFEST_ENTRY, self.manifest.canonical_bytes()),
            (COMPONENT_ENTRY, self.component.clone()),
            (SIGNATURE_ENTRY, signature),
        ] {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, name, data.as_slice())?;
        }
        Ok(builder.into_inner()?)
    }

    /// Reads a `.hskill` strictly: exactly the three entries, regular files, bounded sizes,
    /// canonical manifest, matching component hash. The signature is checked separately by
    /// [`Package::verify_signature`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() as u64 > MAX_PACKAGE_BYTES {
            return Err(RegistryError::TooLarge {
                size: bytes.len() as u64,
                limit: MAX_PACKAGE_BYTES,
            });
        }
        let malformed = |m: String| RegistryError::Malformed(m);
        let mut archive = tar::Archive::new(bytes);
        let (mut manifest, mut component, mut signature) = (None, None, None);
        let entries = archive
            .entries()
            .map_err(|e| malformed(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| malformed(format!("damaged or truncated archive: {e}")))?;
            let raw_name = entry.path_bytes().into_owned();
            let name = String::from_utf8_lossy(&raw_name).into_owned();
            if entry.header().entry_type() != tar::EntryType::Regular {
                return Err(malformed(format!("entry `{name}` is not a regular file")));
            }
            let (slot, limit) = match name.as_str() {
                MANIFEST_ENTRY => (&mut manifest, MAX_MANIFEST_BYTES),
                COMPONENT_ENTRY => (&mut component, MAX_PACKAGE_BYTES),
                SIGNATURE_ENTRY => (&mut signature, MAX_SIGNATURE_BYTES),
                _ => return Err(malformed(format!("unexpected entry `{name}` (a package holds only {MANIFEST_ENTRY}, {COMPONENT_ENTRY}, {SIGNATURE_ENTRY})"))),
            };
            let size = entry
                .header()
                .size()
                .map_err(|e| malformed(format!("entry `{name}`: {e}")))?;
            if size > limit {
                return Err(RegistryError::TooLarge { size, limit });
            }
            if slot.is_some() {
                return Err(malformed(format!("entry `{name}` appears twice")));
            }
            let mut data = Vec::with_capacity(size as usize);
            entry
                .by_ref()
                .take(limit + 1)
                .read_to_end(&mut data)
                .map_err(|e| malformed(format!("damaged or truncated entry `{name}`: {e}")))?;
            if data.len() as u64 != size {
                return Err(malformed(format!("entry `{name}` is truncated")));
            }
            *slot = Some(data);
        }
        let missing = |what: &str| malformed(format!("missing {what}"));
        let manifest = Manifest::from_canonical(&manifest.ok_or_else(|| missing(MANIFEST_ENTRY))?)?;
        let component = component.ok_or_else(|| missing(COMPONENT_ENTRY))?;
        let signature: SignatureFile =
            serde_json::from_slice(&signature.ok_or_else(|| missing(SIGNATURE_ENTRY))?)
                .map_err(|e| malformed(format!("{SIGNATURE_ENTRY}: {e}")))?;
        let package = Package {
            manifest,
            component,
            signature,
        };
        package.check_component_hash()?;
        Ok(package)
    }

    /// Checks the signature against the key the package names; returns that key.
    pub fn verify_signature(&self) -> Result<VerifyingKey> {
        let bad = |m: &str| RegistryError::BadSignature(m.to_string());
        if self.signature.algorithm != "ed25519" {
            return Err(bad("unknown signature algorithm"));
        }
        let key_bytes: [u8; 32] = hex::decode(&self.signature.publisher)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("publisher key is not 32 hex bytes"))?;
        let key = VerifyingKey::from_bytes(&key_bytes)
            .map_err(|_| bad("publisher key is not a valid ed25519 key"))?;
        let sig_bytes: [u8; 64] = hex::decode(&self.signature.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("signature is not 64 hex bytes"))?;
        key.verify(
            &signed_message(&self.hash()),
            &Signature::from_bytes(&sig_bytes),
        )
        .map_err(|_| bad("signature does not verify"))?;
        Ok(key)
    }
}
