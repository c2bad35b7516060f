//! # hyper-research: domains, parameter spaces, proposers and the research loop
//!
//! A [`Domain`] is a folder: `hyper-domain.toml` (metric, direction, budget), the data skills
//! may read, and the evaluator component that alone computes the metric. The
//! [`ResearchLoop`] runs a skill's baseline, then proposes mutations over the skill's declared
//! [`Space`], scores each artifact with the evaluator, keeps or discards against the best, and
//! appends every experiment to the journal before moving on.

pub mod diversity;
pub mod domain;
pub mod llm;
pub mod params;
pub mod peers;
pub mod proposer;
pub mod replay;
pub mod report;
mod research_loop;

pub use diversity::{Diversity, DiversityPolicy};
pub use domain::{Domain, DomainError, Manifest, ReplayRule};
pub use params::{Assignment, Space, Value};
pub use peers::{
    BaselineQuery, PeerBest, PeerHypothesis, PeerObservation, Peers, Solo, MAX_BASELINE_REPEATS,
};
pub use proposer::{
    Context, GpProposer, MixedProposer, NoveltyProposer, Observation, Proposer, TpeProposer,
};
pub use replay::{replay, Receipt, ReplayOutcome, Verdict};
pub use research_loop::{
    Event, LoopOptions, ProgressHook, ProposerKind, ResearchLoop, Summary, Trial,
};

/// A short description of the machine, stored with every result.
pub fn platform() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!(
        "{}-{} cpus={} wasmtime=48.0.8",
        std::env::consts::ARCH,
        std::env::consts::OS,
        cpus
    )
}
