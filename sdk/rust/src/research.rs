//! The research-skill world: the [`Skill`] trait and [`register_skill!`].

use crate::bindings::exports::hyper::research::experiment::{self, Guest};
use crate::bindings::hyper::research::types::{
    Artifact, Error, ExperimentSpec, ParamSpec as WitParamSpec,
};
use crate::Params;

/// What a skill declares about itself.
#[derive(Clone, Debug)]
pub struct SkillInfo {
    pub name: String,
    pub version: String,
    pub domain: String,
    pub description: String,
    pub params: Vec<WitParamSpec>,
}

impl SkillInfo {
    pub fn new(name: &str, version: &str, domain: &str) -> Self {
        SkillInfo {
            name: name.into(),
            version: version.into(),
            domain: domain.into(),
            description: String::new(),
            params: Vec::new(),
        }
    }

    pub fn describe(mut self, description: &str) -> Self {
        self.description = description.into();
        self
    }

    pub fn param(mut self, spec: WitParamSpec) -> Self {
        self.params.push(spec);
        self
    }
}

/// One experiment as the skill sees it.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub id: String,
    pub domain: String,
    pub params: Params,
    pub seed: u64,
    pub parent: Option<String>,
}

/// A research skill. Only `info` and `run` are required.
pub trait Skill {
    /// Name, version, domain and declared parameter space.
    fn info() -> SkillInfo;

    /// Run one experiment; return the artifact the domain's evaluator scores.
    fn run(experiment: &Experiment) -> Result<Artifact, Error>;
}

/// Reports progress to the host (shown to the user, never used for scoring).
pub mod progress {
    use crate::Metric;

    pub fn report(step: u32, total: u32, metrics: &[Metric]) {
        crate::bindings::hyper::research::progress::report(step, total, metrics)
    }
}

#[doc(hidden)]
pub struct SkillExport<T>(core::marker::PhantomData<T>);

impl<T: Skill> Guest for SkillExport<T> {
    fn describe() -> experiment::SkillInfo {
        let info = T::info();
        experiment::SkillInfo {
            name: info.name,
            version: info.version,
            domain: info.domain,
            description: info.description,
            params: info.params,
        }
    }

    fn run(spec: ExperimentSpec) -> Result<Artifact, Error> {
        let experiment = Experiment {
            id: spec.id,
            domain: spec.domain,
            params: Params(spec.params),
            seed: spec.seed,
            parent: spec.parent,
        };
        T::run(&experiment)
    }
}

/// Exports a [`Skill`] implementation as this component's `experiment` interface.
#[macro_export]
macro_rules! register_skill {
    ($skill:ty) => {
        type __HyperSkillExport = $crate::SkillExport<$skill>;
        $crate::bindings::__export_world!(__HyperSkillExport with_types_in $crate::bindings);
    };
}
