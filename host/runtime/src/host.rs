//! Per-call host state: the WASI context built from the policy and the seed, the resource
//! table (with a capacity), store limits, and the per-call state of every capability unit
//! (`caps/`): the meter (deadline, copy budget), virtual clock, scratch quota, captured stdio,
//! logs, tensors and GPU.

use std::time::Duration;

use rand::SeedableRng;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::v0_1_0::types;
use crate::caps::clocks::VirtualClock;
use crate::caps::fs::{ScratchQuota, SharedQuota};
use crate::caps::stdio::CapturedPipe;
use crate::limits::{Exceeded, Meter};
use crate::policy::SandboxPolicy;

/// A progress callback: (step, total, intermediate metrics).
pub type ProgressFn = Box<dyn FnMut(u32, u32, &[types::Metric]) + Send>;

/// One message a guest logged (bounded: see `caps/guest_io.rs`).
#[derive(Clone, Debug)]
pub struct LogRecord {
    pub level: &'static str,
    pub message: String,
}

/// What a call left behind besides its result: captured output and logs.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub logs: Vec<LogRecord>,
    pub fuel_consumed: Option<u64>,
    /// Largest linear memory the guest grew to.
    pub peak_memory_bytes: u64,
    /// Where the call's host tensors lived (`cpu`, `cuda`), if it used any.
    pub tensor_device: Option<&'static str>,
    /// The GPU adapter the call used (`hyper:compute/gpu`), if it used one.
    pub gpu_adapter: Option<String>,
    /// Quotas the host refused as error values during the call.
    pub refusals: Vec<Exceeded>,
}

/// The store's resource limiter: memory, tables and instances from the policy. Growing past
/// a limit traps with an [`Exceeded`] (typed), never with text to be matched.
pub(crate) struct Limiter {
    memory: usize,
    table_elements: usize,
    instances: usize,
    pub(crate) peak_memory: usize,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            return Err(Exceeded::Memory { limit: self.memory }.trap());
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(Exceeded::StoreLimit {
                what: "table elements",
                limit: self.table_elements,
            }
            .trap());
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}

pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) meter: Meter,
    pub(crate) clock: VirtualClock,
    pub(crate) scratch_quota: SharedQuota,
    /// Host tensors of this call, made on first use.
    tensors: Option<hyper_compute::TensorStore>,
    tensor_limits: hyper_compute::Limits,
    /// This call's GPU, opened on first use (or why it could not be).
    gpu: Option<Result<hyper_compute::gpu::Gpu, hyper_compute::gpu::GpuError>>,
    gpu_limits: hyper_compute::gpu::GpuLimits,
    seed: u64,
    pub(crate) limits: Limiter,
    pub(crate) stdout: CapturedPipe,
    pub(crate) stderr: CapturedPipe,
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) log_bytes: usize,
    pub(crate) log_budget: usize,
    pub(crate) progress: Option<ProgressFn>,
    /// Kept alive for the duration of the call, deleted on drop.
    _scratch: Option<scratch::ScratchDir>,
}

impl HostState {
    pub(crate) fn new(
        policy: &SandboxPolicy,
        seed: u64,
        progress: Option<ProgressFn>,
        scratch_pool: &std::sync::Arc<scratch::ScratchPool>,
    ) -> anyhow::Result<Self> {
        let (stdout, stderr) = CapturedPipe::pair(policy);
        let mut builder = WasiCtxBuilder::new();
        // No env, no args, no stdin, no network: the builder starts empty and we add nothing.
        // Clocks are not the context's: `caps/clocks.rs` answers for them.
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .secure_random(rand::rngs::StdRng::seed_from_u64(seed))
            .insecure_random(rand::rngs::StdRng::seed_from_u64(
                seed ^ 0x9e37_79b9_7f4a_7c15,
            ))
            .insecure_random_seed(u128::from(seed) << 64 | u128::from(seed.rotate_left(17)));
        if let Some(dir) = &policy.data_dir {
            // Opened through cap-std first so that a missing or non-directory path is a clear
            // error here rather than an odd one inside the guest.
            cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())
                .map_err(|e| anyhow::anyhow!("data directory {}: {e}", dir.display()))?;
            builder.preopened_dir(dir, "/data", FsPerms::ReadOnly)?;
        }
        let scratch = if policy.scratch {
            let dir = scratch_pool.take()?;
            builder.preopened_dir(dir.path(), "/scratch", FsPerms::ReadWrite)?;
            Some(dir)
        } else {
            None
        };
        let mut table = ResourceTable::new();
        table.set_max_capacity(policy.handles);
        Ok(HostState {
            wasi: builder.build(),
            table,
            meter: Meter::new(policy.deadline, policy.copy_bytes),
            clock: VirtualClock::new(seed),
            scratch_quota: ScratchQuota::for_call(policy),
            tensors: None,
            tensor_limits: crate::caps::tensor::limits(policy),
            gpu: None,
            gpu_limits: crate::caps::gpu::limits(policy),
            seed,
            limits: Limiter {
                memory: policy.memory_bytes,
                table_elements: policy.table_elements,
                instances: policy.instances,
                peak_memory: 0,
            },
            stdout,
            stderr,
            logs: Vec::new(),
            log_bytes: 0,
            log_budget: policy.log_bytes,
            progress,
            _scratch: scratch,
        })
    }

    /// This call's tensor store (seeded from the call's seed).
    pub(crate) fn tensors(&mut self) -> &mut hyper_compute::TensorStore {
        let (limits, seed) = (self.tensor_limits, self.seed);
        self.tensors
            .get_or_insert_with(|| hyper_compute::TensorStore::new(limits, seed))
    }

    /// This call's GPU, opened with the policy's quota and timeout on first use, its waits
    /// capped at the time the call has left.
    pub(crate) fn gpu(
        &mut self,
    ) -> Result<&mut hyper_compute::gpu::Gpu, hyper_compute::gpu::GpuError> {
        let limits = self.gpu_limits;
        let left = self.meter.remaining();
        match self
            .gpu
            .get_or_insert_with(|| hyper_compute::gpu::Gpu::open(limits))
        {
            Ok(gpu) => {
                gpu.set_time_left(left.max(Duration::from_millis(1)));
                Ok(gpu)
            }
            Err(e) => Err(e.clone()),
        }
    }

    pub(crate) fn report(&self) -> RunReport {
        RunReport {
            stdout: self.stdout.contents(),
            stderr: self.stderr.contents(),
            logs: self.logs.clone(),
            fuel_consumed: None,
            peak_memory_bytes: self.limits.peak_memory as u64,
            tensor_device: self.tensors.as_ref().map(|t| t.device_name()),
            gpu_adapter: self
                .gpu
                .as_ref()
                .and_then(|g| g.as_ref().ok())
                .map(|g| g.adapter().to_string()),
            refusals: self.meter.refusals.clone(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Per-call scratch directories. Creating and deleting a directory per experiment costs
/// ~160 µs on these machines (more than everything else in a small experiment), so a directory
/// the guest left empty goes back to a pool and the next call gets it; one with anything left in
/// it is deleted. Either way each call starts with an empty `/scratch`. The pool's root is
/// removed when the runtime is dropped. Hand-rolled (no `tempfile` in the runtime) because it
/// is this pooling, not just create-and-delete.
pub(crate) mod scratch {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    static POOLS: AtomicU64 = AtomicU64::new(0);

    pub(crate) struct ScratchPool {
        root: PathBuf,
        free: Mutex<Vec<PathBuf>>,
        next: AtomicU64,
    }

    impl ScratchPool {
        pub(crate) fn new() -> std::io::Result<Arc<Self>> {
            let n = POOLS.fetch_add(1, Ordering::Relaxed);
            if n == 0 {
                remove_stale_roots();
            }
            let root =
                std::env::temp_dir().join(format!("hyper-scratch-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&root)?;
            Ok(Arc::new(ScratchPool {
                root,
                free: Mutex::new(Vec::new()),
                next: AtomicU64::new(0),
            }))
        }

        pub(crate) fn take(self: &Arc<Self>) -> std::io::Result<ScratchDir> {
            let reused = self.free.lock().ok().and_then(|mut free| free.pop());
            let path = match reused {
                Some(path) => path,
                None => {
                    let path = self
                        .root
                        .join(self.next.fetch_add(1, Ordering::Relaxed).to_string());
                    std::fs::create_dir(&path)?;
                    path
                }
            };
            Ok(ScratchDir {
                path,
                pool: self.clone(),
            })
        }
    }

    /// Removes the scratch roots of hyper processes that are gone (killed with -9, say), so
    /// that what a guest left in /scratch does not pile up in the temp dir.
    fn remove_stale_roots() {
        if !Path::new("/proc/self").exists() {
            return; // no cheap liveness check on this platform
        }
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("hyper-scratch-"))
                .and_then(|r| r.split('-').next())
            else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    impl Drop for ScratchPool {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    pub(crate) struct ScratchDir {
        path: PathBuf,
        pool: Arc<ScratchPool>,
    }

    impl ScratchDir {
        pub(crate) fn path(&self) -> &Path {
            &self.path
        }
    }

    impl Drop for ScratchDir {
        fn drop(&mut self) {
            let empty = std::fs::read_dir(&self.path)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if empty {
                if let Ok(mut free) = self.pool.free.lock() {
                    free.push(std::mem::take(&mut self.path));
                    return;
                }
            }
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
