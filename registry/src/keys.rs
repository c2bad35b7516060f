//! The node's ed25519 identity (it signs packages and, later, results) and the list of
//! publisher keys this node trusts.

use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::{RegistryError, Result};

/// A short, readable fingerprint of a public key: the first 16 bytes of its sha256, in groups.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let digest = crate::sha256_hex(key.as_bytes());
    digest.as_bytes()[..32]
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

pub struct Identity {
    key: SigningKey,
}

impl Identity {
    fn path(home: &Path) -> PathBuf {
        home.join("identity").join("ed25519.secret")
    }

    /// Loads the node's key, creating it (from the OS's CSPRNG, file mode 0600) on first use.
    pub fn load_or_create(home: &Path) -> Result<Self> {
        let path = Self::path(home);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes: [u8; 32] = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        RegistryError::Malformed(format!(
                            "identity key {} is damaged (expected 64 hex digits)",
                            path.display()
                        ))
                    })?;
                Ok(Identity {
                    key: SigningKey::from_bytes(&bytes),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret)
                    .map_err(|e| std::io::Error::other(format!("no OS randomness: {e}")))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                write_private(&path, hex::encode(secret).as_bytes())?;
                Ok(Identity {
                    key: SigningKey::from_bytes(&secret),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn public_hex(&self) -> String {
        hex::encode(self.public_key().to_bytes())
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_key())
    }
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(data)
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrustList {
    #[serde(default, rename = "publisher")]
    pub publishers: Vec<TrustedPublisher>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrustedPublisher {
    /// ed25519 public key, hex.
    pub key: String,
    #[serde(default)]
    pub name: String,
}

impl TrustList {
    fn path(home: &Path) -> PathBuf {
        home.join("trusted-publishers.toml")
    }

    pub fn load(home: &Path) -> Result<Self> {
        match std::fs::read_to_string(Self::path(home)) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                RegistryError::Malformed(format!("{}: {e}", Self::path(home).display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustList::default()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn save(&self, home: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| RegistryError::Malformed(e.to_string()))?;
        let path = Self::path(home);
        let tmp = path.with_extension("tmp");
        std::fs::create_dir_all(home)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, path)?;
        Ok(())
    }

    /// Adds a key (hex); refuses anything that is not an ed25519 public key.
    pub fn add(&mut self, key_hex: &str, name: &str) -> Result<()> {
        let bytes: [u8; 32] = hex::decode(key_hex.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| RegistryError::Malformed("a publisher key is 64 hex digits".into()))?;
        VerifyingKey::from_bytes(&bytes)
            .map_err(|_| RegistryError::Malformed("not a valid ed25519 public key".into()))?;
        let key = hex::encode(bytes);
        if !self.publishers.iter().any(|p| p.key == key) {
            self.publishers.push(TrustedPublisher {
                key,
                name: name.to_string(),
            });
        }
        Ok(())
    }

    pub fn trusts(&self, key: &VerifyingKey) -> bool {
        let key = hex::encode(key.to_bytes());
        self.publishers.iter().any(|p| p.key == key)
    }
}
