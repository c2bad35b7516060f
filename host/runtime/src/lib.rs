//! # hyper-runtime: the sandboxed wasmtime host
//!
//! Owns everything between a `.wasm` file and a finished call into it:
//! - [`Runtime`]: one wasmtime `Engine` (component model, pooling allocator with on-demand
//!   fallback, epoch deadlines, optional fuel) and an on-disk cache of compiled components;
//! - [`SandboxPolicy`]: what a guest is granted (memory, deadline, fuel, the domain's data
//!   read-only at `/data`, a scratch dir at `/scratch`, bounded stdio and log) and nothing else;
//! - [`Skill`], [`Evaluator`]: a loaded component of one world with its `InstancePre`; each
//!   call gets a fresh `Store`;
//! - [`inspect`]: a component's world, imports and exports against a policy;
//! - [`Failure`]: every way a guest can fail, as a readable reason;
//! - the `hyper:compute/tensor` host interface (`tensor.rs`) over `hyper-compute`;
//! - the `hyper:compute/gpu` host interface (`gpu.rs`) over `hyper_compute::gpu` (wgpu).

pub mod bindings;
mod cache;
mod component;
mod failure;
mod gpu;
mod host;
mod policy;
mod tensor;

pub use bindings::v0_1_0::types::{
    Artifact, Direction, Error as GuestError, ExperimentSpec, Metric, Param, ParamKind, ParamSpec,
    ParamValue, Split,
};
pub use bindings::v0_1_0::{MetricInfo, SkillInfo, ToolInfo};
pub use cache::CompileCache;
pub use component::{
    inspect, inspect_with, Evaluator, ImportVerdict, Inspection, Skill, Tool, World,
};
pub use failure::{Failure, FailureKind};
pub use host::{LogRecord, ProgressFn, RunReport};
pub use policy::{LoadOptions, SandboxPolicy};

mod engine;
pub use engine::{Runtime, RuntimeConfig};
