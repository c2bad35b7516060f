//! # hyper-toolchain: build guest components from source
//!
//! One place that knows how to turn a skill's source into a component on these machines,
//! shared by the build script that compiles the official skills and fixtures and by
//! `hyper skill build`:
//! - [`rust`]: Debian's rustc-web 1.96 with `-Zbuild-std` for `wasm32-wasip2` (rustup cannot
//!   add targets here), linked into a component by the rustup toolchain's `wasm-component-ld`;
//! - [`c`] (feature `c`): bindings from `wit-bindgen-c`, clang-14 for `wasm32-wasi` with
//!   wasi-libc, then `wit-component` with the WASI preview1 reactor adapter;
//! - [`python`]: `componentize-py`; [`js`]: `componentize-js` — both installed by
//!   `scripts/setup.sh` under the guest tools prefix.

use std::path::{Path, PathBuf};
use std::process::Command;

#[cfg(feature = "c")]
pub mod c;

/// A failed build, with the command's output so the author can see why.
#[derive(Debug)]
pub struct BuildError(pub String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

pub type Result<T> = std::result::Result<T, BuildError>;

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// Where `scripts/setup.sh` puts componentize-py and componentize-js.
pub fn tools_prefix() -> PathBuf {
    if let Ok(p) = std::env::var("HYPER_GUEST_TOOLS") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache").join("hyper-guest-tools")
}

fn require(what: &str, path: &str) -> Result<()> {
    if Path::new(path).exists() {
        Ok(())
    } else {
        Err(BuildError(format!(
            "{what} not found at {path}: run `scripts/setup.sh` (it installs the guest toolchains), \
             or point the HYPER_* variable for it at another location"
        )))
    }
}

/// Runs a command, turning failure into an error an author can act on: which tool failed,
/// the compiler's own first errors (file, line, message), and the command to run it by hand.
fn run(cmd: &mut Command, what: &str) -> Result<()> {
    run_explained(cmd, what, None)
}

/// [`run`], with `diagnose` run on failure when the tool's own output may not say where the
/// error is (componentize-js says only "failed to parse JS source"): its errors come first.
fn run_explained(cmd: &mut Command, what: &str, diagnose: Option<&mut Command>) -> Result<()> {
    // componentize-py is a Rust program: with RUST_BACKTRACE inherited it prints its own
    // stack (30 frames of its internals) after the author's error.
    cmd.env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0");
    let output = cmd.output().map_err(|e| {
        BuildError(format!(
            "{what}: could not start {:?}: {e}",
            cmd.get_program()
        ))
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let dir = cmd.get_current_dir();
    let mut errors = Vec::new();
    if let Some(check) = diagnose {
        if let Ok(out) = check.output() {
            let said = String::from_utf8_lossy(&out.stderr).into_owned();
            errors = diagnostics::first_errors(&said, check.get_current_dir().or(dir));
        }
    }
    if errors.is_empty() {
        errors = diagnostics::first_errors(&text, dir);
    }
    let said = if errors.is_empty() {
        // Nothing recognisable: the last lines, without stack frames.
        let lines: Vec<&str> = text.lines().filter(|l| !is_stack_frame(l)).collect();
        let tail = &lines[lines.len().saturating_sub(20)..];
        format!("its last lines:\n{}", tail.join("\n"))
    } else {
        format!(
            "{} error(s), the first:\n  {}",
            errors.len(),
            errors.join("\n  ")
        )
    };
    Err(BuildError(format!(
        "{what} failed ({}); {said}\nto run it by hand: {}",
        output.status,
        command_line(cmd)
    )))
}

/// A backtrace line (`  12: symbol` or `at file:line`), noise to a skill author.
fn is_stack_frame(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("at ")
        || t.split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// The command as one shell line: `cd DIR && VAR=… program args…`.
pub fn command_line(cmd: &Command) -> String {
    let quote = |s: &std::ffi::OsStr| {
        let s = s.to_string_lossy();
        shlex::try_quote(&s).map_or(s.to_string(), |q| q.into_owned())
    };
    let mut words: Vec<String> = cmd
        .get_envs()
        .filter(|(k, _)| !k.to_string_lossy().ends_with("BACKTRACE"))
        .filter_map(|(k, v)| v.map(|v| format!("{}={}", k.to_string_lossy(), quote(v))))
        .collect();
    words.push(quote(cmd.get_program()));
    words.extend(cmd.get_args().map(quote));
    let line = words.join(" ");
    match cmd.get_current_dir() {
        Some(dir) => format!("cd {} && {line}", quote(dir.as_os_str())),
        None => line,
    }
}

pub mod diagnostics;

pub mod rust {
    use super::*;

    /// The Rust guest toolchain.
    pub struct Toolchain {
        pub cargo: String,
        pub rustc: String,
        pub wasm_ld: String,
        pub wasi_libc: String,
        pub component_ld: String,
    }

    impl Toolchain {
        /// Finds the toolchain; `host_rustc` is the rustup rustc whose sysroot ships
        /// `wasm-component-ld`.
        pub fn detect(host_rustc: &str) -> Result<Self> {
            let cargo = env_or("HYPER_GUEST_CARGO", "/usr/bin/cargo");
            let rustc = env_or("HYPER_GUEST_RUSTC", "/usr/bin/rustc");
            let wasm_ld = env_or("HYPER_WASM_LD", "/usr/bin/wasm-ld-22");
            let wasi_libc = env_or("HYPER_WASI_LIBC", "/usr/lib/wasm32-wasi");
            require("the guest cargo (Debian cargo-web)", &cargo)?;
            require("the guest rustc (Debian rustc-web)", &rustc)?;
            require("wasm-ld (Debian lld-22)", &wasm_ld)?;
            require("wasi-libc (Debian wasi-libc)", &wasi_libc)?;
            let component_ld = match std::env::var("HYPER_WASM_COMPONENT_LD") {
                Ok(p) => p,
                Err(_) => {
                    let sysroot = Command::new(host_rustc)
                        .args(["--print", "sysroot"])
                        .output()
                        .ok()
                        .and_then(|o| String::from_utf8(o.stdout).ok())
                        .map(|s| s.trim().to_string())
                        .unwrap_or_default();
                    Path::new(&sysroot)
                        .join("lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld")
                        .display()
                        .to_string()
                }
            };
            require(
                "wasm-component-ld (ships with the rustup toolchain)",
                &component_ld,
            )?;
            Ok(Toolchain {
                cargo,
                rustc,
                wasm_ld,
                wasi_libc,
                component_ld,
            })
        }

        /// The cargo `--config` file contents for wasm32-wasip2 with build-std.
        pub fn cargo_config(&self) -> String {
            format!(
                "[unstable]\nbuild-std = [\"std\", \"panic_abort\"]\n\n[target.wasm32-wasip2]\nlinker = {:?}\nrustflags = [\"-L\", \"native={}\", \"-C\", \"link-arg=--wasm-ld-path={}\"]\n",
                self.component_ld, self.wasi_libc, self.wasm_ld
            )
        }

        /// Builds `package` (or the crate at `manifest_dir`) in release mode for
        /// wasm32-wasip2 and returns the component's path. `config_path` is where the cargo
        /// config is written; `target_dir` is shared between builds so std is compiled once.
        pub fn build(
            &self,
            manifest_dir: &Path,
            package: Option<&str>,
            target_dir: &Path,
            config_path: &Path,
            offline: bool,
        ) -> Result<()> {
            std::fs::write(config_path, self.cargo_config())
                .map_err(|e| BuildError(format!("writing {}: {e}", config_path.display())))?;
            let mut cmd = Command::new(&self.cargo);
            // The calling cargo's variables (RUSTFLAGS, CARGO_TARGET_DIR, jobserver...)
            // describe the host build, not this one.
            for (key, _) in std::env::vars_os() {
                let key = key.to_string_lossy();
                if (key.starts_with("CARGO") && key != "CARGO_HOME")
                    || key.starts_with("RUST")
                    || key.starts_with("__CARGO")
                {
                    cmd.env_remove(key.as_ref());
                }
            }
            cmd.current_dir(manifest_dir)
                .env("RUSTC_BOOTSTRAP", "1")
                .env("RUSTC", &self.rustc)
                .env("CARGO_TARGET_DIR", target_dir)
                .arg("--config")
                .arg(config_path)
                .args(["build", "--release", "--target", "wasm32-wasip2"]);
            if let Some(p) = package {
                cmd.args(["-p", p]);
            }
            if offline {
                cmd.arg("--offline");
            }
            run(
                &mut cmd,
                &format!(
                    "building {}",
                    package.unwrap_or(&manifest_dir.display().to_string())
                ),
            )
        }
    }

    /// Where a built crate's component lands.
    pub fn output(target_dir: &Path, crate_name: &str) -> PathBuf {
        target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", crate_name.replace('-', "_")))
    }
}

pub mod python {
    use super::*;

    /// `componentize-py -d <wit> -w <world> componentize <module> -o <out>` in `dir`.
    pub fn build(dir: &Path, wit: &Path, world: &str, module: &str, out: &Path) -> Result<()> {
        let tool = env_or(
            "HYPER_COMPONENTIZE_PY",
            &tools_prefix()
                .join("venv/bin/componentize-py")
                .display()
                .to_string(),
        );
        require("componentize-py", &tool)?;
        run(
            Command::new(&tool)
                .current_dir(dir)
                .arg("-d")
                .arg(wit)
                .args(["-w", world, "componentize", module, "-o"])
                .arg(out),
            "componentize-py",
        )
    }
}

pub mod js {
    use super::*;

    /// `componentize-js <source> --wit <wit> -n <world> -d http fetch-event -o <out>`: without
    /// `-d http` the component imports `wasi:http`, which the sandbox refuses.
    pub fn build(dir: &Path, source: &Path, wit: &Path, world: &str, out: &Path) -> Result<()> {
        let tool = env_or(
            "HYPER_COMPONENTIZE_JS",
            &tools_prefix()
                .join("js/node_modules/.bin/componentize-js")
                .display()
                .to_string(),
        );
        require("componentize-js", &tool)?;
        // componentize-js reports a syntax error without a place; node's own check has it.
        let mut check = Command::new(env_or("HYPER_NODE", "node"));
        check
            .current_dir(dir)
            .args(["--experimental-default-type=module", "--check"])
            .arg(source);
        run_explained(
            Command::new(&tool)
                .current_dir(dir)
                .arg(source)
                .arg("--wit")
                .arg(wit)
                .args(["-n", world, "-d", "http", "fetch-event", "-o"])
                .arg(out),
            "componentize-js",
            Some(&mut check),
        )
    }
}
