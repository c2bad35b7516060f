//! Installing a stranger's package: every check, in order, before anything is written.
//!
//! 1. the file is a well-formed package of bounded size (exactly three entries, canonical
//!    manifest, no odd entry names or types);
//! 2. the component's sha256 and size match the manifest (else: tampered);
//! 3. the hash is the one asked for (`sha256:…` installs);
//! 4. the signature verifies against the key the package names;
//! 5. that publisher is trusted, or the user said `--allow-unknown-publisher`;
//! 6. the component targets the world and API version the manifest says, one this host runs;
//! 7. it imports nothing its manifest does not declare, and nothing the sandbox refuses;
//! 8. it links against the host (typed exports check), compiling it once into the cache.
//!
//! Only then does [`install`] write the store.

use ed25519_dalek::VerifyingKey;
use hyper_runtime::{ImportVerdict, Runtime};

use crate::keys::{fingerprint, TrustList};
use crate::package::Package;
use crate::store::{Installed, Store};
use crate::{RegistryError, Result};

/// The API versions of `hyper:research` this host runs.
pub const SUPPORTED_API: &[&str] = &[hyper_runtime::bindings::v0_1_0::VERSION];

#[derive(Clone, Debug, Default)]
pub struct InstallOptions {
    pub allow_unknown_publisher: bool,
    /// For `sha256:…` installs: the package hash (or a prefix of at least 8 digits).
    pub expected_hash: Option<String>,
}

/// A package that passed every check, and what it will be granted.
#[derive(Debug)]
pub struct InstallPlan {
    pub package: Package,
    pub hash: String,
    pub publisher_fingerprint: String,
    pub publisher_trusted: bool,
    /// (interface, what the sandbox gives behind it)
    pub grants: Vec<(String, String)>,
}

pub fn check(
    runtime: &Runtime,
    trust: &TrustList,
    own_key: Option<&VerifyingKey>,
    bytes: &[u8],
    options: &InstallOptions,
) -> Result<InstallPlan> {
    let package = Package::from_bytes(bytes)?;
    let hash = package.hash();
    if let Some(expected) = &options.expected_hash {
        if !hash.starts_with(expected.as_str()) || expected.len() < 8 {
            return Err(RegistryError::HashMismatch {
                expected: expected.clone(),
                actual: hash,
            });
        }
    }
    let key = package.verify_signature()?;
    let trusted = trust.trusts(&key) || own_key == Some(&key);
    if !trusted && !options.allow_unknown_publisher {
        return Err(RegistryError::UntrustedPublisher {
            fingerprint: fingerprint(&key),
            key: hex::encode(key.to_bytes()),
        });
    }
    let manifest = &package.manifest;
    if !SUPPORTED_API.contains(&manifest.api.as_str()) {
        return Err(RegistryError::Refused(format!(
            "the package targets hyper:research@{}, this host runs {}",
            manifest.api,
            SUPPORTED_API.join(", ")
        )));
    }
    let load_options = load_options(manifest);
    let inspection = hyper_runtime::inspect_with(runtime, &package.component, load_options)
        .map_err(|f| RegistryError::Refused(f.reason))?;
    match (inspection.world, inspection.api_version.as_deref()) {
        (Some(world), Some(api)) if world.name() == manifest.world && api == manifest.api => {}
        (Some(world), Some(api)) => {
            return Err(RegistryError::ManifestMismatch(format!(
                "the manifest says {}@{}, the component is {}@{api}",
                manifest.world,
                manifest.api,
                world.name()
            )))
        }
        _ => {
            return Err(RegistryError::Refused(
                "the component exports no hyper:research interface".into(),
            ))
        }
    }
    let mut grants = Vec::new();
    for (import, verdict) in &inspection.imports {
        let bare = import.split('@').next().unwrap_or(import);
        if !manifest
            .capabilities
            .imports
            .iter()
            .any(|declared| declared == bare)
        {
            return Err(RegistryError::ManifestMismatch(format!(
                "the component imports `{import}`, which the manifest does not declare"
            )));
        }
        match verdict {
            ImportVerdict::Granted(why) => grants.push((bare.to_string(), why.to_string())),
            ImportVerdict::Refused(why) => {
                return Err(RegistryError::Refused(format!("imports `{import}`: {why}")))
            }
        }
    }
    let linked = match manifest.world.as_str() {
        "research-skill" => {
            hyper_runtime::Skill::load_with(runtime, &package.component, load_options).map(|_| ())
        }
        "evaluator" => {
            hyper_runtime::Evaluator::load_with(runtime, &package.component, load_options)
                .map(|_| ())
        }
        _ => hyper_runtime::Tool::load_with(runtime, &package.component, load_options).map(|_| ()),
    };
    linked.map_err(|f| RegistryError::Refused(f.reason))?;
    Ok(InstallPlan {
        hash,
        publisher_fingerprint: fingerprint(&key),
        publisher_trusted: trusted,
        grants,
        package,
    })
}

/// The optional grants a package's manifest asks for (and the user accepts at install):
/// inert sockets when it declares any `wasi:sockets` import.
pub fn load_options(manifest: &crate::Manifest) -> hyper_runtime::LoadOptions {
    hyper_runtime::LoadOptions {
        inert_sockets: manifest
            .capabilities
            .imports
            .iter()
            .any(|i| i.starts_with("wasi:sockets/")),
    }
}

/// Writes a checked package into the store.
pub fn install(store: &Store, plan: &InstallPlan) -> Result<Installed> {
    store.add(&plan.package)
}
