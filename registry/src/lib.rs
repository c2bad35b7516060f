//! # hyper-registry: skill packages, signatures, the local store and the index
//!
//! - [`manifest`]: what a package says about itself (name, version, world, capabilities…), in
//!   one canonical JSON encoding whose sha256 is the package's identity;
//! - [`package`]: the `.hskill` file (a tar of exactly three entries) and reading it strictly;
//! - [`keys`]: the node's ed25519 identity (which signs packages) and the trusted publishers;
//! - [`store`]: installed packages under `$HYPER_HOME/store`, content-addressed, atomic;
//! - [`index`]: name → versions → hash, publisher, yanked; mergeable data;
//! - [`install`]: every check a stranger's package must pass, in order, before anything is
//!   written.

pub mod index;
pub mod install;
pub mod keys;
pub mod manifest;
pub mod pack;
pub mod package;
pub mod remote;
pub mod store;

pub use install::{install, InstallOptions, InstallPlan};
pub use keys::{Identity, TrustList};
pub use manifest::Manifest;
pub use package::Package;
pub use store::Store;

/// Every way a registry operation can refuse or fail, with what to do next.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("not a skill package: {0}")]
    Malformed(String),
    #[error("package is {size} bytes, more than the limit of {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("component hash mismatch: the manifest says {expected}, the component is {actual} (the package was tampered with or damaged)")]
    HashMismatch { expected: String, actual: String },
    #[error("bad signature: the package was not signed by the key it names ({0})")]
    BadSignature(String),
    #[error("publisher {fingerprint} is not trusted: add it with `hyper trust add {key}` or pass --allow-unknown-publisher")]
    UntrustedPublisher { fingerprint: String, key: String },
    #[error("the component does not match its manifest: {0}")]
    ManifestMismatch(String),
    #[error("component refused: {0}")]
    Refused(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Declined(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, RegistryError>;

/// sha256 of some bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
