//! The sandbox policy: everything a guest may use, with every quota. Anything not listed here
//! is refused. Each field belongs to one capability unit (`caps/`), which reads its slice of
//! the policy when a call starts; the table in `caps/mod.rs` says which.

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
    /// Wall-clock deadline of one call: epoch interruption in wasm, and a check at the start
    /// of every host call (tensor, GPU, filesystem, log, clocks) for a guest inside the host.
    pub deadline: Duration,
    /// Deterministic instruction budget; needs a runtime created with fuel enabled.
    pub fuel: Option<u64>,
    /// Host directory mounted read-only at `/data`.
    pub data_dir: Option<PathBuf>,
    /// Give the guest a fresh writable directory at `/scratch`, deleted after the call.
    pub scratch: bool,
    /// Bytes a call may write to `/scratch` (growth of files; see `caps/fs.rs`).
    pub scratch_bytes: u64,
    /// Files, directories and symlinks a call may create in `/scratch`.
    pub scratch_files: u64,
    /// Files and directories a call may hold open at once (each is an OS descriptor of the
    /// host process).
    pub open_files: usize,
    /// Host resources (streams, pollables, descriptors, tensors, buffers) alive at once.
    pub handles: usize,
    /// Bytes copied between guest and host in one call through the host's imports (log,
    /// progress, tensor data, GPU data).
    pub copy_bytes: u64,
    /// Bytes of what `describe` and `score` may return.
    pub describe_bytes: usize,
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
    /// Work one host tensor op may need, in flop-equivalents (bounds the time inside one
    /// host call; see hyper-compute).
    pub tensor_op_work: f64,
    /// Work of all host tensor ops of one call together.
    pub tensor_call_work: f64,
    /// Bytes of GPU buffers (`hyper:compute/gpu`) live at once.
    pub gpu_bytes: u64,
    /// How long one GPU dispatch or read-back may take. Host calls are not interrupted by
    /// the epoch deadline, so this bounds the time a skill can spend inside one.
    pub gpu_timeout: Duration,
    /// GPU compute pipelines alive at once.
    pub gpu_pipelines: usize,
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
            scratch_bytes: 256 << 20,
            scratch_files: 4096,
            open_files: 256,
            handles: 100_000,
            copy_bytes: 1 << 30,
            describe_bytes: 1 << 20,
            stdio_bytes: 1 << 20,
            log_bytes: 1 << 20,
            max_output_bytes: 64 << 20,
            tensor_bytes: 2 << 30,
            tensor_handles: 65_536,
            tensor_op_work: hyper_compute::DEFAULT_MAX_OP_WORK,
            tensor_call_work: 1e15,
            gpu_bytes: 1 << 30,
            gpu_timeout: Duration::from_secs(10),
            gpu_pipelines: 64,
        }
    }
}

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
