//! Builds every guest component from source (the official skills, the domains' evaluators, the
//! SDK template and the test fixtures) with hyper-toolchain, and puts the `.wasm` files in
//! OUT_DIR. Guests are never committed as binaries.
//!
//! Each guest is built with its own `cargo -p` call: the SDK's world features (`research`,
//! `evaluator`, `tool`) are mutually exclusive and cargo would unify them across one call.

use std::path::PathBuf;

/// (cargo package, output file stem)
const GUESTS: &[(&str, &str)] = &[
    ("search-bm25", "search_bm25"),
    ("search-evaluator", "search_evaluator"),
    ("cisi-evaluator", "cisi_evaluator"),
    ("tldr-evaluator", "tldr_evaluator"),
    ("tldr-extractive", "tldr_extractive"),
    ("ml-tinygpt", "ml_tinygpt"),
    ("ml-evaluator", "ml_evaluator"),
    ("finance-timing", "finance_timing"),
    ("finance-evaluator", "finance_evaluator"),
    ("finance-rotation", "finance_rotation"),
    ("forge-json", "forge_json"),
    ("forge-csv", "forge_csv"),
    ("forge-url", "forge_url"),
    ("forge-html", "forge_html"),
    ("forge-format", "forge_format"),
    ("fixture-trivial", "fixture_trivial"),
    ("fixture-hostile", "fixture_hostile"),
    ("fixture-hostile-sockets", "fixture_hostile_sockets"),
    ("skill-template-rust", "skill_template_rust"),
    ("fixture-future-api", "fixture_future_api"),
    ("fixture-large", "fixture_large"),
    ("fixture-tensor-user", "fixture_tensor_user"),
    ("fixture-gpu-user", "fixture_gpu_user"),
    ("fixture-hostile-tool", "fixture_hostile_tool"),
];

/// A build failure as cargo shows it: the message, not a panic's backtrace.
type BuildResult<T> = Result<T, String>;

fn env_path(var: &str) -> BuildResult<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{var} is not set (run this through cargo)"))
}

fn main() -> BuildResult<()> {
    let manifest_dir = env_path("CARGO_MANIFEST_DIR")?;
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .map_err(|e| format!("repository root above {}: {e}", manifest_dir.display()))?;
    let out_dir = env_path("OUT_DIR")?;
    for dir in ["wit", "sdk", "skills", "domains", "tests/fixtures"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for var in [
        "HYPER_GUEST_CARGO",
        "HYPER_GUEST_RUSTC",
        "HYPER_WASM_LD",
        "HYPER_WASI_LIBC",
        "HYPER_WASM_COMPONENT_LD",
        "HYPER_GUEST_TARGET_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let host_rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let toolchain =
        hyper_toolchain::rust::Toolchain::detect(&host_rustc).map_err(|e| format!("\n\n{e}\n"))?;

    // <target>/<profile>/build/hyper-guests-<hash>/out -> <target>/wasm-guests, shared by
    // every profile so that std is built once.
    let target_dir = std::env::var("HYPER_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            out_dir
                .ancestors()
                .nth(4)
                .map(|p| p.join("wasm-guests"))
                .unwrap_or_else(|| out_dir.join("wasm-guests"))
        });
    println!(
        "cargo:rustc-env=HYPER_GUEST_TARGET_DIR={}",
        target_dir.display()
    );
    let config = out_dir.join("wasm-config.toml");
    let offline = std::env::var_os("HYPER_GUEST_OFFLINE").is_some();
    for (package, stem) in GUESTS {
        toolchain
            .build(
                &root.join("sdk"),
                Some(package),
                &target_dir,
                &config,
                offline,
            )
            .map_err(|e| format!("\n\n{e}\n"))?;
        let built = hyper_toolchain::rust::output(&target_dir, stem);
        std::fs::copy(&built, out_dir.join(format!("{stem}.wasm")))
            .map_err(|e| format!("copy {}: {e}", built.display()))?;
    }
    Ok(())
}
