//! C guests: `wit-bindgen-c` writes the bindings of a world, clang-14 compiles the skill and
//! the bindings for `wasm32-wasi` as a reactor against Debian's wasi-libc (WASI preview 1),
//! and `wit-component` turns the core module into a component with the preview1 → preview2
//! adapter. All in-process except clang, so no `wasm-tools` or `wit-bindgen` CLI is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{env_or, require, run, BuildError, Result};

/// Writes the C bindings of `world` (from the WIT package in `wit_dir`) into `out_dir`:
/// `<world>.h`, `<world>.c` and `<world>_component_type.o`.
pub fn bindings(wit_dir: &Path, world: &str, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let err = |e: anyhow_like::Error| BuildError(format!("C bindings for {world}: {e}"));
    let mut resolve = wit_bindgen_core::wit_parser::Resolve::default();
    let (package, _) = resolve.push_path(wit_dir).map_err(|e| err(e.into()))?;
    let world_id = resolve
        .select_world(&[package], Some(world))
        .map_err(|e| err(e.into()))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world_id, &mut files)
        .map_err(|e| err(e.into()))?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| BuildError(format!("{}: {e}", out_dir.display())))?;
    let mut written = Vec::new();
    for (name, contents) in files.iter() {
        let path = out_dir.join(name);
        std::fs::write(&path, contents)
            .map_err(|e| BuildError(format!("{}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

/// Builds a C skill: bindings into `dir/bindings`, `sources` + bindings compiled and linked by
/// clang, adapted into the component `out`.
pub fn build(
    dir: &Path,
    wit_dir: &Path,
    world: &str,
    sources: &[PathBuf],
    out: &Path,
) -> Result<()> {
    let clang = env_or("HYPER_CLANG", "/usr/bin/clang-14");
    let wasi_libc = env_or("HYPER_WASI_LIBC", "/usr/lib/wasm32-wasi");
    require(
        "clang-14 (Debian clang-14, lld-14, libclang-rt-14-dev-wasm32)",
        &clang,
    )?;
    require("wasi-libc (Debian wasi-libc)", &wasi_libc)?;
    let glue_dir = dir.join("bindings");
    let glue = bindings(wit_dir, world, &glue_dir)?;
    let core = dir.join("target").join("core.wasm");
    std::fs::create_dir_all(dir.join("target")).map_err(|e| BuildError(e.to_string()))?;
    let mut cmd = Command::new(&clang);
    cmd.current_dir(dir)
        .args([
            "--target=wasm32-wasi",
            "-mexec-model=reactor",
            "-O2",
            "-Wall",
        ])
        .arg("-I")
        .arg(&glue_dir)
        .args(sources)
        .args(
            glue.iter()
                .filter(|p| p.extension().is_some_and(|e| e == "c" || e == "o")),
        )
        .arg("-o")
        .arg(&core);
    run(&mut cmd, "clang")?;
    let module =
        std::fs::read(&core).map_err(|e| BuildError(format!("{}: {e}", core.display())))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|e| {
            e.validate(true).adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|mut e| e.encode())
        .map_err(|e| BuildError(format!("making a component of {}: {e:#}", core.display())))?;
    std::fs::write(out, component).map_err(|e| BuildError(format!("{}: {e}", out.display())))
}

/// The error type of wit-parser and wit-bindgen (anyhow), named without depending on it.
mod anyhow_like {
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn bindings_for_every_world() {
        let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit/since_v0.1.0");
        let out = std::env::temp_dir().join(format!("hyper-c-bindings-{}", std::process::id()));
        for world in ["research-skill", "evaluator", "tool-skill"] {
            let files = super::bindings(&wit, world, &out).expect("bindings");
            let stem = world.replace('-', "_");
            for suffix in [".h", ".c", "_component_type.o"] {
                assert!(
                    files.iter().any(|f| f.ends_with(format!("{stem}{suffix}"))),
                    "{world}: {files:?}"
                );
            }
        }
        if std::env::var_os("KEEP").is_none() {
            let _ = std::fs::remove_dir_all(out);
        }
    }
}
