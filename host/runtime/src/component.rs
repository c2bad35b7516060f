//! Loading components of each world, checking them against the policy, and calling them in
//! fresh stores.

use std::time::Instant;

use wasmtime::component::Component;
use wasmtime::Store;

use crate::bindings::v0_1_0::{
    types, EvaluatorPre, MetricInfo, ResearchSkillPre, SkillInfo, ToolInfo, ToolSkillPre, VERSION,
};
use crate::cache::content_hash;
use crate::caps::grant_for;
use crate::failure::{Failure, FailureKind};
use crate::host::{HostState, ProgressFn, RunReport};
use crate::limits::{bound_text, Exceeded};
use crate::policy::{unversioned, LoadOptions, SandboxPolicy};
use crate::Runtime;

/// The worlds of `hyper:research` a component can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    ResearchSkill,
    Evaluator,
    ToolSkill,
}

impl World {
    fn export(self) -> &'static str {
        match self {
            World::ResearchSkill => "hyper:research/experiment",
            World::Evaluator => "hyper:research/metric",
            World::ToolSkill => "hyper:research/tool",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            World::ResearchSkill => "research-skill",
            World::Evaluator => "evaluator",
            World::ToolSkill => "tool-skill",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", content = "why", rename_all = "kebab-case")]
pub enum ImportVerdict {
    Granted(&'static str),
    Refused(String),
}

/// What `hyper skill inspect` shows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Inspection {
    pub sha256: String,
    pub size: usize,
    pub world: Option<World>,
    pub api_version: Option<String>,
    pub exports: Vec<String>,
    pub imports: Vec<(String, ImportVerdict)>,
}

impl Inspection {
    /// The first import the policy refuses, if any.
    pub fn refused(&self) -> Option<&str> {
        self.imports
            .iter()
            .find(|(_, v)| matches!(v, ImportVerdict::Refused(_)))
            .map(|(n, _)| n.as_str())
    }
}

fn looks_like_component(bytes: &[u8]) -> Result<(), Failure> {
    // A component's preamble is `\0asm` + version 0x0d + layer 1; a core module has layer 0.
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(Failure::new(
            FailureKind::Refused,
            "not a WebAssembly file (bad magic number)",
        ));
    }
    if bytes[6..8] != [1, 0] {
        return Err(Failure::new(
            FailureKind::Refused,
            "a core WebAssembly module, not a component: build for wasm32-wasip2 or run `wasm-tools component new`",
        ));
    }
    Ok(())
}

fn inspect_component(
    runtime: &Runtime,
    component: &Component,
    bytes: &[u8],
    options: LoadOptions,
) -> Inspection {
    let engine = runtime.engine();
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let mut world = None;
    let mut api_version = None;
    for candidate in [World::ResearchSkill, World::Evaluator, World::ToolSkill] {
        if let Some(export) = exports
            .iter()
            .find(|e| unversioned(e) == candidate.export())
        {
            world = Some(candidate);
            api_version = export.split_once('@').map(|(_, v)| v.to_string());
        }
    }
    // Verdicts come from the capability table of the component's world (a component that
    // exports no world is judged as a research skill; loading refuses it anyway).
    let judged_as = world.unwrap_or(World::ResearchSkill);
    let imports = ty
        .imports(engine)
        .map(|(name, _)| {
            let verdict = match grant_for(name, judged_as, options) {
                Ok(why) => ImportVerdict::Granted(why),
                Err(why) => ImportVerdict::Refused(why),
            };
            (name.to_string(), verdict)
        })
        .collect();
    Inspection {
        sha256: content_hash(bytes),
        size: bytes.len(),
        world,
        api_version,
        exports,
        imports,
    }
}

/// Compiles `bytes` and reports its world, imports and exports against the policy.
pub fn inspect(runtime: &Runtime, bytes: &[u8]) -> Result<Inspection, Failure> {
    inspect_with(runtime, bytes, LoadOptions::default())
}

/// [`inspect`] with optional grants.
pub fn inspect_with(
    runtime: &Runtime,
    bytes: &[u8],
    options: LoadOptions,
) -> Result<Inspection, Failure> {
    looks_like_component(bytes)?;
    let hash = content_hash(bytes);
    let component = runtime.compile(bytes, &hash).map_err(|e| {
        Failure::new(
            FailureKind::Refused,
            format!("invalid component: {}", root_message(&e)),
        )
    })?;
    Ok(inspect_component(runtime, &component, bytes, options))
}

fn root_message(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// Compiles and checks a component for `world`; the refusal names what is wrong.
fn load(
    runtime: &Runtime,
    bytes: &[u8],
    world: World,
    options: LoadOptions,
) -> Result<(Component, Inspection), Failure> {
    looks_like_component(bytes)?;
    let hash = content_hash(bytes);
    let component = runtime.compile(bytes, &hash).map_err(|e| {
        Failure::new(
            FailureKind::Refused,
            format!("invalid component: {}", root_message(&e)),
        )
    })?;
    let inspection = inspect_component(runtime, &component, bytes, options);
    if let Some((name, ImportVerdict::Refused(why))) = inspection
        .imports
        .iter()
        .find(|(_, v)| matches!(v, ImportVerdict::Refused(_)))
    {
        return Err(Failure::new(
            FailureKind::Refused,
            format!("refused import `{name}`: {why}"),
        ));
    }
    match (inspection.world, inspection.api_version.as_deref()) {
        (Some(w), Some(v)) if w == world && v == VERSION => {}
        (Some(w), Some(v)) if w == world => {
            return Err(Failure::new(
                FailureKind::Refused,
                format!("targets hyper:research@{v}, but this host runs API versions {VERSION}"),
            ))
        }
        (Some(w), _) => {
            return Err(Failure::new(
                FailureKind::Refused,
                format!(
                    "is a `{}` component, expected a `{}`",
                    w.name(),
                    world.name()
                ),
            ))
        }
        (None, _) => {
            return Err(Failure::new(
                FailureKind::Refused,
                format!(
                    "exports no hyper:research interface (expected `{}@{VERSION}`)",
                    world.export()
                ),
            ))
        }
    }
    Ok((component, inspection))
}

/// Loads `bytes` as a `world` component and links it: one `InstancePre` per component, made
/// once, instantiated into a fresh store per call.
fn prepare<P>(
    runtime: &Runtime,
    bytes: &[u8],
    world: World,
    options: LoadOptions,
    linker: &wasmtime::component::Linker<HostState>,
    typed: impl FnOnce(wasmtime::component::InstancePre<HostState>) -> wasmtime::Result<P>,
) -> Result<(P, Inspection), Failure> {
    let (component, inspection) = load(runtime, bytes, world, options)?;
    let refused = |what: &str, e: wasmtime::Error| {
        Failure::new(
            FailureKind::Refused,
            format!("{what}: {}", root_message(&e.into())),
        )
    };
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| refused("cannot link", e))?;
    let pre = typed(instance_pre)
        .map_err(|e| refused(&format!("does not match the {} world", world.name()), e))?;
    Ok((pre, inspection))
}

/// A fresh store for one call, with limits, fuel and deadline from the policy.
fn new_store(
    runtime: &Runtime,
    policy: &SandboxPolicy,
    seed: u64,
    progress: Option<ProgressFn>,
) -> Result<Store<HostState>, Failure> {
    let state = HostState::new(policy, seed, progress, runtime.scratch_pool()).map_err(|e| {
        Failure::new(
            FailureKind::Host,
            format!("could not set up the sandbox: {}", root_message(&e)),
        )
    })?;
    let mut store = Store::new(runtime.engine(), state);
    // A guest blocked in the host cannot see the epoch; the meter's check at the start of
    // every host call covers that side.
    store.limiter(|s| &mut s.limits);
    if runtime.config().fuel {
        store
            .set_fuel(policy.fuel.unwrap_or(u64::MAX))
            .map_err(|e| Failure::new(FailureKind::Host, format!("fuel: {e}")))?;
    }
    store.set_epoch_deadline(runtime.deadline_ticks(policy.deadline));
    store.epoch_deadline_trap();
    Ok(store)
}

/// Runs `call` in a fresh store and classifies the outcome.
fn call_in_store<T>(
    runtime: &Runtime,
    policy: &SandboxPolicy,
    seed: u64,
    progress: Option<ProgressFn>,
    call: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<Result<T, types::Error>>,
) -> (Result<T, Failure>, RunReport) {
    let mut store = match new_store(runtime, policy, seed, progress) {
        Ok(store) => store,
        Err(failure) => return (Err(failure), RunReport::default()),
    };
    let outcome = call(&mut store);
    let mut report = store.data().report();
    if runtime.config().fuel {
        if let Ok(left) = store.get_fuel() {
            report.fuel_consumed = Some(policy.fuel.unwrap_or(u64::MAX) - left);
        }
    }
    let result = match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(guest_error)) => Err(Failure::guest_error(
            guest_error_text(&guest_error),
            &report,
        )),
        Err(error) => Err(Failure::from_call_error(error, policy, &report)),
    };
    (result, report)
}

/// Longest guest text (an error's words) kept in a failure's reason.
pub const MAX_GUEST_TEXT: usize = 4096;

pub(crate) fn guest_error_text(e: &types::Error) -> String {
    let b = |m: &str| bound_text(m, MAX_GUEST_TEXT);
    match e {
        types::Error::InvalidParams(m) => format!("invalid parameters: {}", b(m)),
        types::Error::Data(m) => format!("data error: {}", b(m)),
        types::Error::BadArtifact(m) => format!("bad artifact: {}", b(m)),
        types::Error::Failed(m) => format!("failed: {}", b(m)),
    }
}

/// Bytes of a list of parameter specs as the guest sent them (strings and fixed parts).
fn spec_bytes(params: &[types::ParamSpec]) -> usize {
    params
        .iter()
        .map(|p| {
            let kind = match &p.kind {
                types::ParamKind::Choice(c) => {
                    c.default.len() + c.options.iter().map(|o| o.len() + 8).sum::<usize>()
                }
                _ => 32,
            };
            p.name.len() + p.description.len() + kind + 16
        })
        .sum()
}

/// Refuses a name (skill name, version, domain, task, metric) or description a guest
/// declared that is too long to go into a journal row or a gossiped record.
fn check_text(call: &'static str, fields: &[(&str, &str, usize)]) -> Result<(), Failure> {
    for (what, value, max) in fields {
        if value.len() > *max {
            return Err(Failure::new(
                FailureKind::OutputQuota,
                format!(
                    "{call} returned a {what} of {} bytes, more than the {max} allowed",
                    value.len()
                ),
            ));
        }
    }
    Ok(())
}

const NAME: usize = crate::caps::guest_io::MAX_NAME_BYTES;
const DESCRIPTION: usize = 4096;

/// Refuses an exported result larger than the policy allows (`describe`, `score`): the
/// copy itself is bounded by the guest's memory limit, what the host keeps by this.
fn check_size(call: &'static str, len: usize, policy: &SandboxPolicy) -> Result<(), Failure> {
    if len > policy.describe_bytes {
        let e = Exceeded::Output {
            call,
            len: len as u64,
            limit: policy.describe_bytes as u64,
        };
        return Err(Failure::new(FailureKind::OutputQuota, e.to_string()));
    }
    Ok(())
}

/// A research skill, compiled and checked, ready to run experiments.
#[derive(Clone)]
pub struct Skill {
    runtime: Runtime,
    pre: ResearchSkillPre<HostState>,
    inspection: Inspection,
}

impl Skill {
    pub fn load(runtime: &Runtime, bytes: &[u8]) -> Result<Self, Failure> {
        Self::load_with(runtime, bytes, LoadOptions::default())
    }

    /// [`Self::load`] with optional grants (see [`LoadOptions`]).
    pub fn load_with(
        runtime: &Runtime,
        bytes: &[u8],
        options: LoadOptions,
    ) -> Result<Self, Failure> {
        let (pre, inspection) = prepare(
            runtime,
            bytes,
            World::ResearchSkill,
            options,
            &runtime.linkers().research,
            ResearchSkillPre::new,
        )?;
        Ok(Skill {
            runtime: runtime.clone(),
            pre,
            inspection,
        })
    }

    /// sha256 of the component bytes.
    pub fn hash(&self) -> &str {
        &self.inspection.sha256
    }

    pub fn inspection(&self) -> &Inspection {
        &self.inspection
    }

    pub fn describe(&self, policy: &SandboxPolicy) -> Result<SkillInfo, Failure> {
        let info = call_in_store(&self.runtime, policy, 0, None, |store| {
            let instance = self.pre.instantiate(&mut *store)?;
            Ok(Ok(instance
                .hyper_research_experiment()
                .call_describe(&mut *store)?))
        })
        .0?;
        let len = info.name.len()
            + info.version.len()
            + info.domain.len()
            + info.description.len()
            + spec_bytes(&info.params);
        check_size("describe", len, policy)?;
        check_text(
            "describe",
            &[
                ("name", &info.name, NAME),
                ("version", &info.version, NAME),
                ("domain", &info.domain, NAME),
                ("description", &info.description, DESCRIPTION),
            ],
        )?;
        Ok(info)
    }

    /// Runs one experiment; the artifact is checked against `policy.max_output_bytes`.
    pub fn run(
        &self,
        policy: &SandboxPolicy,
        spec: &types::ExperimentSpec,
        progress: Option<ProgressFn>,
    ) -> (Result<types::Artifact, Failure>, RunReport) {
        let (result, report) = call_in_store(&self.runtime, policy, spec.seed, progress, |store| {
            let instance = self.pre.instantiate(&mut *store)?;
            instance
                .hyper_research_experiment()
                .call_run(&mut *store, spec)
        });
        let result = result.and_then(|artifact| {
            if artifact.bytes.len() > policy.max_output_bytes {
                Err(Failure::new(
                    FailureKind::BadArtifact,
                    format!(
                        "artifact of {} bytes exceeds the limit of {}",
                        artifact.bytes.len(),
                        policy.max_output_bytes
                    ),
                ))
            } else {
                Ok(artifact)
            }
        });
        (result, report)
    }

    /// Host overhead probe: instantiate in a fresh store and drop, without calling anything.
    pub fn instantiate_only(&self, policy: &SandboxPolicy) -> Result<std::time::Duration, Failure> {
        let start = Instant::now();
        call_in_store(&self.runtime, policy, 0, None, |store| {
            self.pre.instantiate(&mut *store)?;
            Ok(Ok(()))
        })
        .0?;
        Ok(start.elapsed())
    }
}

/// A domain evaluator, compiled and checked.
#[derive(Clone)]
pub struct Evaluator {
    runtime: Runtime,
    pre: EvaluatorPre<HostState>,
    inspection: Inspection,
}

impl Evaluator {
    pub fn load(runtime: &Runtime, bytes: &[u8]) -> Result<Self, Failure> {
        Self::load_with(runtime, bytes, LoadOptions::default())
    }

    /// [`Self::load`] with optional grants (see [`LoadOptions`]).
    pub fn load_with(
        runtime: &Runtime,
        bytes: &[u8],
        options: LoadOptions,
    ) -> Result<Self, Failure> {
        let (pre, inspection) = prepare(
            runtime,
            bytes,
            World::Evaluator,
            options,
            &runtime.linkers().evaluator,
            EvaluatorPre::new,
        )?;
        Ok(Evaluator {
            runtime: runtime.clone(),
            pre,
            inspection,
        })
    }

    pub fn hash(&self) -> &str {
        &self.inspection.sha256
    }

    pub fn describe(&self, policy: &SandboxPolicy) -> Result<MetricInfo, Failure> {
        let info = call_in_store(&self.runtime, policy, 0, None, |store| {
            let instance = self.pre.instantiate(&mut *store)?;
            Ok(Ok(instance
                .hyper_research_metric()
                .call_describe(&mut *store)?))
        })
        .0?;
        check_size(
            "evaluator describe",
            info.name.len() + info.description.len(),
            policy,
        )?;
        check_text(
            "evaluator describe",
            &[
                ("metric name", &info.name, NAME),
                ("description", &info.description, DESCRIPTION),
            ],
        )?;
        Ok(info)
    }

    /// Scores an artifact. An `error` from the evaluator means the artifact is bad.
    pub fn score(
        &self,
        policy: &SandboxPolicy,
        artifact: &types::Artifact,
        split: types::Split,
    ) -> Result<Vec<types::Metric>, Failure> {
        let (result, _) = call_in_store(&self.runtime, policy, 0, None, |store| {
            let instance = self.pre.instantiate(&mut *store)?;
            instance
                .hyper_research_metric()
                .call_score(&mut *store, artifact, split)
        });
        let result = result.and_then(|metrics| {
            let len: usize = metrics.iter().map(|m| m.name.len() + 16).sum();
            check_size("score", len, policy)?;
            for m in &metrics {
                check_text("score", &[("metric name", &m.name, NAME)])?;
            }
            if metrics.len() > crate::caps::guest_io::MAX_PROGRESS_METRICS {
                return Err(Failure::new(
                    FailureKind::OutputQuota,
                    format!(
                        "score returned {} metrics, more than the {} allowed",
                        metrics.len(),
                        crate::caps::guest_io::MAX_PROGRESS_METRICS
                    ),
                ));
            }
            Ok(metrics)
        });
        result.map_err(|f| match f.kind {
            FailureKind::GuestError => Failure {
                kind: FailureKind::BadArtifact,
                reason: format!("evaluator rejected the artifact: {}", f.reason),
                stderr_tail: None,
            },
            _ => Failure {
                reason: format!("evaluator {}", f.reason),
                ..f
            },
        })
    }
}

/// A tool skill, compiled and checked.
#[derive(Clone)]
pub struct Tool {
    runtime: Runtime,
    pre: ToolSkillPre<HostState>,
    inspection: Inspection,
}

impl Tool {
    pub fn load(runtime: &Runtime, bytes: &[u8]) -> Result<Self, Failure> {
        Self::load_with(runtime, bytes, LoadOptions::default())
    }

    /// [`Self::load`] with optional grants (see [`LoadOptions`]).
    pub fn load_with(
        runtime: &Runtime,
        bytes: &[u8],
        options: LoadOptions,
    ) -> Result<Self, Failure> {
        let (pre, inspection) = prepare(
            runtime,
            bytes,
            World::ToolSkill,
            options,
            &runtime.linkers().tool,
            ToolSkillPre::new,
        )?;
        Ok(Tool {
            runtime: runtime.clone(),
            pre,
            inspection,
        })
    }

    pub fn hash(&self) -> &str {
        &self.inspection.sha256
    }

    pub fn describe(&self, policy: &SandboxPolicy) -> Result<ToolInfo, Failure> {
        let info = call_in_store(&self.runtime, policy, 0, None, |store| {
            let instance = self.pre.instantiate(&mut *store)?;
            Ok(Ok(instance
                .hyper_research_tool()
                .call_describe(&mut *store)?))
        })
        .0?;
        let len = info.name.len() + info.version.len() + info.task.len() + info.description.len();
        check_size("tool describe", len, policy)?;
        check_text(
            "tool describe",
            &[
                ("name", &info.name, NAME),
                ("version", &info.version, NAME),
                ("task", &info.task, NAME),
                ("description", &info.description, DESCRIPTION),
            ],
        )?;
        Ok(info)
    }

    pub fn call(
        &self,
        policy: &SandboxPolicy,
        input: &[u8],
    ) -> (Result<Vec<u8>, Failure>, RunReport) {
        let (result, report) = call_in_store(&self.runtime, policy, 0, None, |store| {
            let instance = self.pre.instantiate(&mut *store)?;
            instance.hyper_research_tool().call_call(&mut *store, input)
        });
        let result = result.and_then(|output| {
            if output.len() > policy.max_output_bytes {
                let e = Exceeded::Output {
                    call: "tool call",
                    len: output.len() as u64,
                    limit: policy.max_output_bytes as u64,
                };
                return Err(Failure::new(FailureKind::OutputQuota, e.to_string()));
            }
            Ok(output)
        });
        (result, report)
    }
}
