//! Builds every guest component from source with the guest toolchain (Debian's rustc-web with
//! `-Zbuild-std` for wasm32-wasip2; see scripts/setup.sh) and puts the `.wasm` files in OUT_DIR.
//! Guests are never committed as binaries.
//!
//! Each guest is built with its own `cargo -p` call: the SDK's world features (`research`,
//! `evaluator`, `tool`) are mutually exclusive and cargo would unify them across one call.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (cargo package, output file stem)
const GUESTS: &[(&str, &str)] = &[
    ("search-bm25", "search_bm25"),
    ("search-evaluator", "search_evaluator"),
    ("fixture-trivial", "fixture_trivial"),
    ("fixture-hostile", "fixture_hostile"),
    ("fixture-hostile-sockets", "fixture_hostile_sockets"),
    ("skill-template-rust", "skill_template_rust"),
    ("fixture-future-api", "fixture_future_api"),
];

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("repository root");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for dir in ["wit", "sdk", "skills", "domains", "tests/fixtures"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for var in [
        "HYPER_GUEST_CARGO",
        "HYPER_GUEST_RUSTC",
        "HYPER_WASM_LD",
        "HYPER_WASI_LIBC",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let guest_cargo = env_or("HYPER_GUEST_CARGO", "/usr/bin/cargo");
    let guest_rustc = env_or("HYPER_GUEST_RUSTC", "/usr/bin/rustc");
    let wasm_ld = env_or("HYPER_WASM_LD", "/usr/bin/wasm-ld-22");
    let wasi_libc = env_or("HYPER_WASI_LIBC", "/usr/lib/wasm32-wasi");
    for (what, path) in [
        ("guest cargo", &guest_cargo),
        ("guest rustc", &guest_rustc),
        ("wasm-ld", &wasm_ld),
        ("wasi-libc", &wasi_libc),
    ] {
        if !Path::new(path).exists() {
            panic!(
                "\n\nthe guest toolchain is missing: {what} not found at {path}.\n\
                 Run `scripts/setup.sh` once (it installs Debian's rustc-web, rust-web-src, wasi-libc and lld-22),\n\
                 or point HYPER_GUEST_CARGO / HYPER_GUEST_RUSTC / HYPER_WASM_LD / HYPER_WASI_LIBC at them.\n"
            );
        }
    }
    let linker = component_linker();

    // <target>/<profile>/build/hyper-guests-<hash>/out -> <target>
    let target_dir = std::env::var("HYPER_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            out_dir
                .ancestors()
                .nth(4)
                .map(|p| p.join("wasm-guests"))
                .unwrap_or_else(|| out_dir.join("wasm-guests"))
        });
    let config = out_dir.join("wasm-config.toml");
    std::fs::write(
        &config,
        format!(
            "[unstable]\nbuild-std = [\"std\", \"panic_abort\"]\n\n[target.wasm32-wasip2]\nlinker = {linker:?}\nrustflags = [\"-L\", \"native={wasi_libc}\", \"-C\", \"link-arg=--wasm-ld-path={wasm_ld}\"]\n"
        ),
    )
    .expect("write wasm cargo config");

    for (package, stem) in GUESTS {
        let mut cmd = Command::new(&guest_cargo);
        // The outer cargo's variables (RUSTFLAGS, CARGO_TARGET_DIR, CARGO_ENCODED_RUSTFLAGS,
        // the jobserver...) describe the host build, not this one.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if (key.starts_with("CARGO") && key != "CARGO_HOME")
                || key.starts_with("RUST")
                || key.starts_with("__CARGO")
            {
                cmd.env_remove(key.as_ref());
            }
        }
        cmd.current_dir(root.join("sdk"))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("RUSTC", &guest_rustc)
            .env("CARGO_TARGET_DIR", &target_dir)
            .arg("--config")
            .arg(&config)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "-p",
                package,
            ]);
        if std::env::var_os("HYPER_GUEST_OFFLINE").is_some() {
            cmd.arg("--offline");
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("could not run {guest_cargo}: {e}"));
        if !status.success() {
            panic!("building guest `{package}` failed ({status}); see the output above");
        }
        let built = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{stem}.wasm"));
        std::fs::copy(&built, out_dir.join(format!("{stem}.wasm")))
            .unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
    }
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// `wasm-component-ld` ships with the rustup toolchain that builds the host.
fn component_linker() -> String {
    if let Ok(path) = std::env::var("HYPER_WASM_COMPONENT_LD") {
        return path;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let path =
        Path::new(&sysroot).join("lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld");
    if !path.exists() {
        panic!(
            "wasm-component-ld not found at {}; set HYPER_WASM_COMPONENT_LD",
            path.display()
        );
    }
    path.display().to_string()
}
