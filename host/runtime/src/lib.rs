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
//! - [`Failure`]: every way a guest can fail, as a kind from trap codes and the host's own
//!   typed limits ([`Exceeded`]) and a readable reason;
//! - the capability units (`caps/`): guest I/O, stdio, virtual clocks, random, filesystem
//!   with a scratch quota, tensors, GPU, inert sockets — one table for what is granted and
//!   what is linked.

pub mod bindings;
mod cache;
mod caps;
mod component;
mod failure;
mod host;
mod limits;
mod policy;

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
pub use limits::{bound_text, escape_control, Exceeded};
pub use policy::{LoadOptions, SandboxPolicy};

mod engine;
pub use engine::{Runtime, RuntimeConfig};
