//! `hyper skill pack`: from an author's `hyper-skill.toml` and built component to a signed
//! `.hskill`. The world, API version and capabilities are read off the component itself, so
//! a packed manifest always declares exactly what the component imports.

use std::path::Path;

use hyper_runtime::Runtime;

use crate::keys::Identity;
use crate::manifest::{Capabilities, ComponentRef, Manifest, SourceManifest};
use crate::package::Package;
use crate::{sha256_hex, RegistryError, Result};

pub const SOURCE_MANIFEST: &str = "hyper-skill.toml";

/// Packs the skill described by `source` (a `hyper-skill.toml`, or a folder holding one).
pub fn pack(runtime: &Runtime, source: &Path, identity: &Identity) -> Result<Package> {
    let manifest_path = if source.is_dir() {
        source.join(SOURCE_MANIFEST)
    } else {
        source.to_path_buf()
    };
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
        RegistryError::NotFound(format!("cannot read {}: {e}", manifest_path.display()))
    })?;
    let src: SourceManifest = toml::from_str(&text)
        .map_err(|e| RegistryError::Malformed(format!("{}: {e}", manifest_path.display())))?;
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let component_path = dir.join(&src.component);
    let component = std::fs::read(&component_path).map_err(|e| {
        RegistryError::NotFound(format!(
            "cannot read the component {}: {e} (build the skill first)",
            component_path.display()
        ))
    })?;
    pack_component(runtime, src, component, identity)
}

/// Packs an already-read component with the author's metadata.
pub fn pack_component(
    runtime: &Runtime,
    src: SourceManifest,
    component: Vec<u8>,
    identity: &Identity,
) -> Result<Package> {
    // Sockets are recorded as an (inert) capability rather than refused: language runtimes
    // such as CPython import them whatever the program does. Install asks about them.
    let inert = hyper_runtime::LoadOptions {
        inert_sockets: true,
    };
    let inspection = hyper_runtime::inspect_with(runtime, &component, inert)
        .map_err(|f| RegistryError::Refused(f.reason))?;
    let (Some(world), Some(api)) = (inspection.world, inspection.api_version.clone()) else {
        return Err(RegistryError::Refused(
            "the component exports no hyper:research interface".into(),
        ));
    };
    if !crate::install::SUPPORTED_API.contains(&api.as_str()) {
        return Err(RegistryError::Refused(format!(
            "the component targets hyper:research@{api}, this host runs {}",
            crate::install::SUPPORTED_API.join(", ")
        )));
    }
    if let Some(refused) = inspection.refused() {
        return Err(RegistryError::Refused(format!(
            "the component imports `{refused}`, which the sandbox never grants"
        )));
    }
    let mut imports: Vec<String> = inspection
        .imports
        .iter()
        .map(|(name, _)| name.split('@').next().unwrap_or(name).to_string())
        .collect();
    imports.sort();
    imports.dedup();
    let manifest = Manifest {
        name: src.name,
        version: src.version,
        description: src.description,
        authors: src.authors,
        license: src.license,
        world: world.name().to_string(),
        api,
        domains: src.domains,
        task: src.task,
        capabilities: Capabilities { imports },
        component: ComponentRef {
            sha256: sha256_hex(&component),
            size: component.len() as u64,
        },
    };
    Package::build(manifest, component, identity.signing_key())
}
