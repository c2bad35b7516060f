//! GPU compute for skills on wgpu: buffers within a byte quota, compute pipelines from WGSL
//! (validated before use), dispatches with bounded workgroup counts and a timeout. Without a
//! GPU, Debian's lavapipe (`mesa-vulkan-drivers`) is a software Vulkan adapter; without any
//! adapter, [`Gpu::open`] says so.
//!
//! Like tensors, buffers and pipelines are handles into a per-call [`Gpu`]; nothing a skill
//! sends can panic the host: wgpu validation errors are caught with error scopes.
//!
//! A dispatch that does not finish within the timeout (an endless shader loop) is an error;
//! the [`Gpu`] is then *hung*: it refuses every later operation, and when dropped it leaks its
//! device instead of waiting for the GPU (dropping a wgpu device waits for its queue, which
//! would block the host thread for as long as the shader runs). Leaked devices are counted
//! for the whole process ([`leaked_devices`]); past [`MAX_LEAKED_DEVICES`] no new device is
//! opened, so a node that keeps running hostile shaders refuses GPU work instead of
//! accumulating spinning devices.
//!
//! Everything a call holds on the device is counted against its byte quota — storage
//! buffers and the staging buffer of a read-back — and pipelines against
//! [`GpuLimits::max_pipelines`]. The timeout of each wait is the smaller of the configured one
//! and the time the caller has left ([`Gpu::set_time_left`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

/// Devices this process leaked after a timeout and that may still be running a shader.
static LEAKED: AtomicUsize = AtomicUsize::new(0);

/// How many leaked devices the process tolerates before it refuses to open another.
pub const MAX_LEAKED_DEVICES: usize = 4;

/// Devices leaked so far by timed-out dispatches.
pub fn leaked_devices() -> usize {
    LEAKED.load(Ordering::Relaxed)
}

pub type GpuHandle = u32;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    #[error("GPU buffer quota exceeded: {used} bytes + {requested} requested > {limit}")]
    Quota {
        used: u64,
        requested: u64,
        limit: u64,
    },
    #[error("shader: {0}")]
    Shader(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("the GPU did not finish within {0:?}")]
    Timeout(Duration),
    #[error("no GPU object with handle {0}")]
    BadHandle(GpuHandle),
    #[error("GPU limit: {0}")]
    Limit(String),
}

type Result<T> = std::result::Result<T, GpuError>;

#[derive(Clone, Copy, Debug)]
pub struct GpuLimits {
    /// Bytes of all buffers together.
    pub max_bytes: u64,
    /// Workgroups per dimension of one dispatch (also capped by the adapter).
    pub max_workgroups: u32,
    /// How long one dispatch or read-back may take.
    pub timeout: Duration,
    /// Compute pipelines alive at once.
    pub max_pipelines: usize,
}

impl Default for GpuLimits {
    fn default() -> Self {
        GpuLimits {
            max_bytes: 256 << 20,
            max_workgroups: 65_535,
            timeout: Duration::from_secs(10),
            max_pipelines: 64,
        }
    }
}

pub struct Gpu {
    /// Set when a dispatch timed out: the queue may never drain.
    hung: bool,
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: String,
    limits: GpuLimits,
    /// The timeout of the next wait: `limits.timeout` or less.
    timeout: Duration,
    used: u64,
    next: GpuHandle,
    buffers: HashMap<GpuHandle, wgpu::Buffer>,
    pipelines: HashMap<GpuHandle, wgpu::ComputePipeline>,
}

fn request_adapter() -> Result<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .map_err(|e| GpuError::NoAdapter(e.to_string()))
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?})", info.name, info.backend)
}

/// Whether this machine has a GPU adapter, and which: asked once per process (loading a
/// skill that imports `gpu` checks this, and asking the driver takes tens of milliseconds).
pub fn probe() -> Result<String> {
    static PROBE: OnceLock<Result<String>> = OnceLock::new();
    PROBE
        .get_or_init(|| request_adapter().map(|a| describe(&a.get_info())))
        .clone()
}

impl Drop for Gpu {
    fn drop(&mut self) {
        if self.hung {
            // Keep the device alive for the rest of the process: see the module docs.
            std::mem::forget(self.device.clone());
            std::mem::forget(self.queue.clone());
            LEAKED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Gpu {
    /// The first adapter the system offers (a real GPU, else a software one).
    pub fn open(limits: GpuLimits) -> Result<Gpu> {
        let leaked = leaked_devices();
        if leaked >= MAX_LEAKED_DEVICES {
            return Err(GpuError::Limit(format!(
                "{leaked} GPU devices of this process are still held by shaders that timed out; GPU work is refused until it restarts"
            )));
        }
        let adapter = request_adapter()?;
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("hyper-gpu"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let max_workgroups = limits
            .max_workgroups
            .min(device.limits().max_compute_workgroups_per_dimension);
        Ok(Gpu {
            hung: false,
            device,
            queue,
            adapter: describe(&info),
            limits: GpuLimits {
                max_workgroups,
                ..limits
            },
            timeout: limits.timeout,
            used: 0,
            next: 1,
            buffers: HashMap::new(),
            pipelines: HashMap::new(),
        })
    }

    /// The adapter's name and backend, to record with results.
    pub fn adapter(&self) -> &str {
        &self.adapter
    }

    /// Caps the next waits at `left` (the caller's remaining deadline).
    pub fn set_time_left(&mut self, left: Duration) {
        self.timeout = self.limits.timeout.min(left);
    }

    /// Refuses work once a dispatch has timed out.
    fn usable(&self) -> Result<()> {
        if self.hung {
            Err(GpuError::Timeout(self.limits.timeout))
        } else {
            Ok(())
        }
    }

    fn fits(&self, bytes: u64) -> Result<()> {
        if self.used.saturating_add(bytes) > self.limits.max_bytes {
            return Err(GpuError::Quota {
                used: self.used,
                requested: bytes,
                limit: self.limits.max_bytes,
            });
        }
        Ok(())
    }

    fn handle(&mut self) -> GpuHandle {
        let h = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        h
    }

    /// Runs `f` inside a validation error scope: wgpu reports misuse there instead of
    /// panicking.
    fn checked<T>(&self, f: impl FnOnce() -> T) -> std::result::Result<T, String> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        match pollster::block_on(scope.pop()) {
            None => Ok(value),
            Some(e) => Err(e.to_string()),
        }
    }

    /// A storage buffer of `size` bytes (a multiple of 4), zeroed.
    pub fn create_buffer(&mut self, size: u64) -> Result<GpuHandle> {
        self.usable()?;
        if size == 0 || !size.is_multiple_of(4) {
            return Err(GpuError::Invalid(format!(
                "a buffer size must be a positive multiple of 4, got {size}"
            )));
        }
        self.fits(size)?;
        let max = self.device.limits().max_storage_buffer_binding_size;
        if size > max {
            return Err(GpuError::Invalid(format!(
                "a buffer of {size} bytes is larger than the adapter allows ({max})"
            )));
        }
        let buffer = self
            .checked(|| {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .map_err(GpuError::Invalid)?;
        self.used += size;
        let h = self.handle();
        self.buffers.insert(h, buffer);
        Ok(h)
    }

    fn buffer(&self, h: GpuHandle) -> Result<&wgpu::Buffer> {
        self.buffers.get(&h).ok_or(GpuError::BadHandle(h))
    }

    pub fn write(&mut self, h: GpuHandle, offset: u64, data: &[u8]) -> Result<()> {
        self.usable()?;
        let buffer = self.buffer(h)?;
        let end = offset.checked_add(data.len() as u64);
        if !offset.is_multiple_of(4)
            || !data.len().is_multiple_of(4)
            || end.is_none_or(|e| e > buffer.size())
        {
            return Err(GpuError::Invalid(format!(
                "write of {} bytes at {offset} does not fit a {}-byte buffer in 4-byte units",
                data.len(),
                buffer.size()
            )));
        }
        self.queue.write_buffer(buffer, offset, data);
        Ok(())
    }

    fn wait(&mut self, index: wgpu::SubmissionIndex) -> Result<()> {
        match self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: Some(self.timeout),
        }) {
            Ok(_) => Ok(()),
            Err(wgpu::PollError::Timeout) => {
                self.hung = true;
                Err(GpuError::Timeout(self.timeout))
            }
            Err(e) => Err(GpuError::Invalid(e.to_string())),
        }
    }

    /// The whole buffer's bytes.
    pub fn read(&mut self, h: GpuHandle) -> Result<Vec<u8>> {
        self.usable()?;
        let size = self.buffer(h)?.size();
        // The staging copy lives on the device too.
        self.fits(size)?;
        let buffer = self.buffer(h)?;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        let index = self.queue.submit([encoder.finish()]);
        let (tx, rx) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait(index)?;
        match rx.recv_timeout(self.timeout) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(GpuError::Invalid(e.to_string())),
            Err(_) => {
                self.hung = true;
                return Err(GpuError::Timeout(self.timeout));
            }
        }
        let bytes = staging.get_mapped_range(..).to_vec();
        staging.unmap();
        staging.destroy();
        Ok(bytes)
    }

    pub fn drop_buffer(&mut self, h: GpuHandle) -> Result<()> {
        let buffer = self.buffers.remove(&h).ok_or(GpuError::BadHandle(h))?;
        self.used -= buffer.size();
        if !self.hung {
            buffer.destroy();
        }
        Ok(())
    }

    /// The size in bytes of a buffer.
    pub fn buffer_size(&self, h: GpuHandle) -> Result<u64> {
        Ok(self.buffer(h)?.size())
    }

    pub fn drop_pipeline(&mut self, h: GpuHandle) -> Result<()> {
        self.pipelines
            .remove(&h)
            .map(|_| ())
            .ok_or(GpuError::BadHandle(h))
    }

    /// A compute pipeline from WGSL source and an entry point; the source is parsed and
    /// validated first, and a bad one is a `Shader` error naming the problem.
    pub fn pipeline(&mut self, wgsl: &str, entry: &str) -> Result<GpuHandle> {
        self.usable()?;
        if wgsl.len() > 1 << 20 {
            return Err(GpuError::Shader("source larger than 1 MiB".into()));
        }
        if self.pipelines.len() >= self.limits.max_pipelines {
            return Err(GpuError::Limit(format!(
                "more than {} pipelines alive at once; drop the ones you no longer need",
                self.limits.max_pipelines
            )));
        }
        let module = self
            .checked(|| {
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: None,
                        source: wgpu::ShaderSource::Wgsl(wgsl.into()),
                    })
            })
            .map_err(GpuError::Shader)?;
        let pipeline = self
            .checked(|| {
                self.device
                    .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: None,
                        layout: None,
                        module: &module,
                        entry_point: Some(entry),
                        compilation_options: Default::default(),
                        cache: None,
                    })
            })
            .map_err(GpuError::Shader)?;
        let h = self.handle();
        self.pipelines.insert(h, pipeline);
        Ok(h)
    }

    /// Runs a pipeline over `workgroups` with `buffers` bound in order to group 0, bindings
    /// 0, 1, …, and waits for it (up to the timeout).
    pub fn dispatch(
        &mut self,
        pipeline: GpuHandle,
        buffers: &[GpuHandle],
        workgroups: [u32; 3],
    ) -> Result<()> {
        self.usable()?;
        if workgroups
            .iter()
            .any(|&w| w == 0 || w > self.limits.max_workgroups)
        {
            return Err(GpuError::Invalid(format!(
                "workgroups {workgroups:?}: each must be between 1 and {}",
                self.limits.max_workgroups
            )));
        }
        let pipeline = self
            .pipelines
            .get(&pipeline)
            .ok_or(GpuError::BadHandle(pipeline))?;
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                Ok(wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: self.buffer(*h)?.as_entire_binding(),
                })
            })
            .collect::<Result<_>>()?;
        let submitted = self
            .checked(|| {
                let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &pipeline.get_bind_group_layout(0),
                    entries: &entries,
                });
                let mut encoder = self.device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, &bind_group, &[]);
                    pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
                }
                self.queue.submit([encoder.finish()])
            })
            .map_err(GpuError::Invalid)?;
        self.wait(submitted)
    }
}
