//! Capability `gpu`: the `hyper:compute/gpu` host interface. A skill's `buffer` and
//! `pipeline` resources are handles into a per-call [`hyper_compute::gpu::Gpu`], opened on
//! first use with the policy's byte and pipeline quotas. Every call checks the call's
//! deadline first, and every wait on the device is capped at the time the call has left, so a
//! shader cannot hold the host past the deadline. Data written and read counts against the
//! call's copy budget. Expected failures come back as `gpu-error`s (quotas also noted in the
//! run report).
//!
//! Loading a skill that imports this interface on a machine without an adapter is refused
//! (`component.rs` asks [`hyper_compute::gpu::probe`]), so the skill learns at install time,
//! not halfway through an experiment.

use hyper_compute::gpu::{Gpu, GpuError as ComputeError, GpuHandle};
use wasmtime::component::Resource;

use crate::host::HostState;
use crate::limits::Exceeded;

/// The device's limits from this capability's slice of the policy.
pub(crate) fn limits(policy: &crate::SandboxPolicy) -> hyper_compute::gpu::GpuLimits {
    hyper_compute::gpu::GpuLimits {
        max_bytes: policy.gpu_bytes,
        timeout: policy.gpu_timeout,
        max_pipelines: policy.gpu_pipelines,
        ..Default::default()
    }
}

pub(crate) fn link(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    bindings::GpuUser::add_to_linker::<_, wasmtime::component::HasSelf<HostState>>(linker, |s| s)
}

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/compute/since_v0.1.0",
        world: "gpu-user",
        imports: { default: trappable },
        with: {
            "hyper:compute/gpu.buffer": super::BufferRes,
            "hyper:compute/gpu.pipeline": super::PipelineRes,
        },
    });
}

use bindings::hyper::compute::gpu::{self as wit, GpuError};

/// The host side of one `buffer` resource.
pub struct BufferRes(GpuHandle);
/// The host side of one `pipeline` resource.
pub struct PipelineRes(GpuHandle);

type Res<T> = wasmtime::Result<Result<T, GpuError>>;

fn convert(e: ComputeError) -> GpuError {
    match e {
        ComputeError::NoAdapter(m) => GpuError::NoAdapter(m),
        e @ ComputeError::Quota { .. } => GpuError::Quota(e.to_string()),
        ComputeError::Shader(m) => GpuError::Shader(m),
        ComputeError::Invalid(m) => GpuError::Invalid(m),
        e @ ComputeError::Timeout(_) => GpuError::Timeout(e.to_string()),
        ComputeError::BadHandle(_) => GpuError::BadHandle,
        e @ ComputeError::Limit(_) => GpuError::Quota(e.to_string()),
    }
}

fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl HostState {
    /// Runs `f` on this call's GPU (opening it on first use), after the deadline check.
    fn on_gpu<T>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut Gpu) -> Result<T, ComputeError>,
    ) -> Res<T> {
        self.meter.check(call)?;
        let result = self.gpu().and_then(f);
        if let Err(
            e @ (ComputeError::Quota { .. } | ComputeError::Limit(_) | ComputeError::Timeout(_)),
        ) = &result
        {
            self.meter.refused(Exceeded::Gpu(e.to_string()));
        }
        Ok(result.map_err(convert))
    }
}

impl HostState {
    /// Counts a buffer's bytes about to be copied to the guest.
    fn copy_out(&mut self, call: &'static str, h: GpuHandle) -> wasmtime::Result<()> {
        let size = match self.gpu() {
            Ok(g) => g.buffer_size(h).unwrap_or(0),
            Err(_) => 0,
        };
        self.meter.copy(call, size as usize)
    }
}

impl wit::HostBuffer for HostState {
    fn create(&mut self, size: u64) -> Res<Resource<BufferRes>> {
        match self.on_gpu("gpu.create", |g| g.create_buffer(size))? {
            Ok(h) => Ok(Ok(self.table.push(BufferRes(h))?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn size(&mut self, this: Resource<BufferRes>) -> wasmtime::Result<u64> {
        let h = self.table.get(&this)?.0;
        Ok(self.on_gpu("gpu.size", |g| g.buffer_size(h))?.unwrap_or(0))
    }

    fn write(&mut self, this: Resource<BufferRes>, offset: u64, data: Vec<u8>) -> Res<()> {
        self.meter.copy("gpu.write", data.len())?;
        let h = self.table.get(&this)?.0;
        self.on_gpu("gpu.write", |g| g.write(h, offset, &data))
    }

    fn write_f32(&mut self, this: Resource<BufferRes>, offset: u64, data: Vec<f32>) -> Res<()> {
        self.meter.copy("gpu.write-f32", 4 * data.len())?;
        let h = self.table.get(&this)?.0;
        self.on_gpu("gpu.write-f32", |g| g.write(h, offset, &f32_bytes(&data)))
    }

    fn read(&mut self, this: Resource<BufferRes>) -> Res<Vec<u8>> {
        let h = self.table.get(&this)?.0;
        self.copy_out("gpu.read", h)?;
        self.on_gpu("gpu.read", |g| g.read(h))
    }

    fn read_f32(&mut self, this: Resource<BufferRes>) -> Res<Vec<f32>> {
        let h = self.table.get(&this)?.0;
        self.copy_out("gpu.read-f32", h)?;
        self.on_gpu("gpu.read-f32", |g| g.read(h).map(|b| bytes_f32(&b)))
    }

    fn drop(&mut self, this: Resource<BufferRes>) -> wasmtime::Result<()> {
        let BufferRes(h) = self.table.delete(this)?;
        let _ = self.on_gpu("gpu.drop", |g| g.drop_buffer(h))?;
        Ok(())
    }
}

impl wit::HostPipeline for HostState {
    fn create(&mut self, wgsl: String, entry_point: String) -> Res<Resource<PipelineRes>> {
        match self.on_gpu("gpu.create", |g| g.pipeline(&wgsl, &entry_point))? {
            Ok(h) => Ok(Ok(self.table.push(PipelineRes(h))?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn dispatch(
        &mut self,
        this: Resource<PipelineRes>,
        buffers: Vec<Resource<BufferRes>>,
        x: u32,
        y: u32,
        z: u32,
    ) -> Res<()> {
        let pipeline = self.table.get(&this)?.0;
        let bound = buffers
            .iter()
            .map(|b| Ok(self.table.get(b)?.0))
            .collect::<wasmtime::Result<Vec<_>>>()?;
        self.on_gpu("gpu.dispatch", |g| g.dispatch(pipeline, &bound, [x, y, z]))
    }

    fn drop(&mut self, this: Resource<PipelineRes>) -> wasmtime::Result<()> {
        let PipelineRes(h) = self.table.delete(this)?;
        let _ = self.on_gpu("gpu.drop", |g| g.drop_pipeline(h))?;
        Ok(())
    }
}

impl wit::Host for HostState {
    fn adapter(&mut self) -> wasmtime::Result<String> {
        Ok(match self.gpu() {
            Ok(g) => g.adapter().to_string(),
            Err(e) => e.to_string(),
        })
    }
}
