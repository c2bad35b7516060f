//! The sandbox policy: everything a guest may use. Anything not listed here is refused.

use std::path::PathBuf;
use std::time::Duration;

/// What one guest call is granted. The defaults are what a research skill gets when its
/// domain says nothing more specific.
#[derive(Clone, Debug)]
pub struct SandboxPolicy {
    /// Linear memory in bytes, summed over the component's memories.
    pub memory_bytes: usize,
    /// Table elements per table.
    pub table_elements: usize,
    /// Core instances, tables and memories a component may create.
    pub instances: usize,
    /// Wall-clock deadline of one call (enforced by epoch interruption).
    pub deadline: Duration,
    /// Deterministic instruction budget; needs a runtime created with fuel enabled.
    pub fuel: Option<u64>,
    /// Host directory mounted read-only at `/data`.
    pub data_dir: Option<PathBuf>,
    /// Give the guest a fresh writable directory at `/scratch`, deleted after the call.
    pub scratch: bool,
    /// Bytes each of stdout and stderr may receive before the guest is stopped.
    pub stdio_bytes: usize,
    /// Bytes of `log` messages before the guest is stopped.
    pub log_bytes: usize,
    /// Largest artifact or tool output accepted from a guest.
    pub max_output_bytes: usize,
    /// Bytes of host tensors (`hyper:compute/tensor`) live at once, optimiser state included.
    pub tensor_bytes: u64,
    /// Host tensors live at once.
    pub tensor_handles: usize,
    /// Bytes of GPU buffers (`hyper:compute/gpu`) live at once.
    pub gpu_bytes: u64,
    /// How long one GPU dispatch or read-back may take. Host calls are not interrupted by
    /// the epoch deadline, so this bounds the time a skill can spend inside one.
    pub gpu_timeout: Duration,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        SandboxPolicy {
            memory_bytes: 512 << 20,
            table_elements: 100_000,
            instances: 64,
            deadline: Duration::from_secs(60),
            fuel: None,
            data_dir: None,
            scratch: true,
            stdio_bytes: 1 << 20,
            log_bytes: 1 << 20,
            max_output_bytes: 64 << 20,
            tensor_bytes: 2 << 30,
            tensor_handles: 65_536,
            gpu_bytes: 1 << 30,
            gpu_timeout: Duration::from_secs(10),
        }
    }
}

/// Interfaces a guest may import, by `namespace:package/interface` (any version: semver
/// matching happens in the linker). What WASI gives behind them is still virtualised: empty
/// environment and arguments, seeded random and clocks, captured stdio, only the preopens.
pub(crate) const GRANTED_INTERFACES: &[(&str, &str)] = &[
    ("hyper:research/types", "shared types"),
    ("hyper:research/log", "bounded logging"),
    ("hyper:research/progress", "progress reports"),
    (
        "hyper:compute/tensor",
        "host tensors, within the call's memory and handle quotas",
    ),
    (
        GPU_INTERFACE,
        "GPU compute, within the call's buffer quota and dispatch timeout",
    ),
    ("wasi:io/error", "stream errors"),
    ("wasi:io/poll", "polling"),
    ("wasi:io/streams", "streams"),
    ("wasi:cli/environment", "empty environment and arguments"),
    ("wasi:cli/exit", "exit (ends the call)"),
    ("wasi:cli/stdin", "empty stdin"),
    ("wasi:cli/stdout", "captured, size-limited stdout"),
    ("wasi:cli/stderr", "captured, size-limited stderr"),
    ("wasi:cli/terminal-input", "no terminal"),
    ("wasi:cli/terminal-output", "no terminal"),
    ("wasi:cli/terminal-stdin", "no terminal"),
    ("wasi:cli/terminal-stdout", "no terminal"),
    ("wasi:cli/terminal-stderr", "no terminal"),
    (
        "wasi:clocks/monotonic-clock",
        "virtual clock derived from the seed",
    ),
    (
        "wasi:clocks/wall-clock",
        "virtual clock derived from the seed",
    ),
    ("wasi:random/random", "seeded random"),
    ("wasi:random/insecure", "seeded random"),
    ("wasi:random/insecure-seed", "seeded random"),
    (
        "wasi:filesystem/types",
        "only /data (read-only) and /scratch",
    ),
    (
        "wasi:filesystem/preopens",
        "only /data (read-only) and /scratch",
    ),
];

pub(crate) const GPU_INTERFACE: &str = "hyper:compute/gpu";

/// Strips `@version` from an import name.
pub(crate) fn unversioned(name: &str) -> &str {
    name.split('@').next().unwrap_or(name)
}

/// Which optional grants a component is loaded with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Link `wasi:sockets/*` imports but deny every socket operation (no address is ever
    /// allowed; TCP, UDP and name lookup are off). Language runtimes such as CPython import
    /// these whether or not the program uses the network; without this option a component
    /// that imports them is refused at load. `hyper skill install` asks before granting it.
    pub inert_sockets: bool,
}

pub(crate) const INERT_SOCKETS: &str = "linked but inert: every socket operation is denied";

/// Why an import is granted, or `None` when the policy refuses it.
pub(crate) fn grant_for(import: &str, options: LoadOptions) -> Option<&'static str> {
    let bare = unversioned(import);
    if options.inert_sockets && bare.starts_with("wasi:sockets/") {
        return Some(INERT_SOCKETS);
    }
    GRANTED_INTERFACES
        .iter()
        .find(|(name, _)| *name == bare)
        .map(|(_, why)| *why)
}
