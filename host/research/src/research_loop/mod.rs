//! The research loop: baseline, propose, run, score, keep or discard, journal, repeat.
//!
//! [`ResearchLoop::run_with`] drives an explicit state machine ([`state::Phase`]: baseline,
//! noise, proposals, confirmation); the parts it drives are separate: the proposer with what
//! it learns from ([`proposals`]), the scorer, the experiment runner and the record builder
//! ([`records`]).

mod proposals;
mod records;
mod shared;
mod state;
mod trial;

pub use trial::Trial;

use std::time::{Duration, Instant, SystemTime};

use hyper_journal::{Journal, Record, Status};
use hyper_runtime::{Evaluator, ExperimentSpec, Metric, Skill, SkillInfo};

use crate::diversity::Diversity;
use crate::domain::Domain;
use crate::params::Space;
use crate::peers::{BaselineQuery, Peers, Solo};
use crate::proposer::{
    coverage, GpProposer, MixedProposer, NoveltyProposer, Observation, Proposer, TpeProposer,
};
use proposals::{Proposals, Scope};
use records::{Direction, Experimenter, RecordBuilder};
use shared::{BaselineState, SharedNoise, BASELINE_WAIT_MAX, BASELINE_WAIT_MIN};
use state::{judge, Climb, NoiseFloor, Phase, Point, Ran, Step};

#[derive(Clone, Debug)]
pub struct LoopOptions {
    /// Stop after this many experiments (the baseline counts as one).
    pub experiments: Option<u32>,
    /// Stop starting new experiments after this long.
    pub time: Option<Duration>,
    pub seed: u64,
    /// Continue from the journal's best for this domain and skill instead of re-running the
    /// baseline.
    pub resume: bool,
    /// With peers: every this many experiments, climb from the swarm's best for this skill
    /// when it beats the local one (0: never).
    pub adopt_every: u32,
    /// With peers: a proposal closer than this (the space's normalised distance, 0–1) to a
    /// parameter set another node has claimed is skipped.
    pub near_duplicate: f64,
    /// Called with the skill's own progress reports during an experiment (step, total,
    /// intermediate metrics: shown to people, never scored).
    pub progress: Option<ProgressHook>,
    /// After the baseline, run its parameters this many more times with other seeds: the
    /// spread of the metric (sample sd) is the noise floor. A new best must beat the best by
    /// more than the floor, and (when the floor is above 0) hold on a confirmation run with
    /// another seed.
    pub noise_runs: u32,
    /// How new points are chosen.
    pub proposer: ProposerKind,
    /// Parameters the user fixes for the whole loop (`hyper run --set NAME=VALUE`), pinned
    /// like the domain's `[fixed]`.
    pub fixed: toml::Table,
    /// With peers: a result of the same defaults (same skill, evaluator and data) by a node
    /// the loop may learn from is this loop's baseline, instead of running the defaults
    /// again; of nodes that claim the defaults at once, the first runs them and the others
    /// go on proposing, judged against its result when it arrives (`hyper node`; off with
    /// `--own-baseline`, for a platform whose values differ from its peers').
    pub share_baseline: bool,
}

/// The proposers a loop can use.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProposerKind {
    /// Hill-climbing from the best with random jumps.
    #[default]
    Mixed,
    /// Hill-climbing that spends at most half its proposals near the current best.
    Novelty,
    /// A Tree-structured Parzen Estimator fitted on every result the loop may learn from (on
    /// a node, the swarm's too), with points in flight as constant liars: the default of
    /// `hyper node`.
    Tpe,
    /// Bayesian optimisation: a Gaussian process fitted on the same results, the candidate
    /// of highest expected improvement, points in flight at the model's prediction.
    Gp,
    /// Ask an OpenAI-compatible chat endpoint (falling back to `Mixed` when it fails).
    Llm(crate::llm::LlmConfig),
}

/// A progress callback shared with the running skill's host calls.
#[derive(Clone)]
pub struct ProgressHook(pub std::sync::Arc<ProgressCallback>);

/// (step, total, intermediate metrics) from a running skill.
pub type ProgressCallback = dyn Fn(u32, u32, &[Metric]) + Send + Sync;

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressHook")
    }
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            experiments: Some(20),
            time: None,
            seed: 0,
            resume: true,
            adopt_every: 5,
            near_duplicate: 0.01,
            progress: None,
            noise_runs: 2,
            proposer: ProposerKind::Mixed,
            fixed: toml::Table::new(),
            share_baseline: false,
        }
    }
}

/// What the loop tells its observer (the CLI draws a progress bar from these).
#[derive(Debug)]
pub enum Event<'a> {
    Started {
        run_id: &'a str,
        skill: &'a SkillInfo,
        resumed_from: Option<&'a Record>,
        planned: Option<u32>,
    },
    ExperimentStarted {
        index: u32,
        id: &'a str,
    },
    ExperimentFinished {
        index: u32,
        record: &'a Record,
        best: Option<&'a Record>,
    },
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub run_id: String,
    pub domain: String,
    pub skill: String,
    pub skill_hash: String,
    pub metric: String,
    pub direction: String,
    pub experiments: u32,
    pub kept: u32,
    pub discarded: u32,
    pub crashed: u32,
    /// Proposals skipped because another node had claimed them or something near them.
    pub skipped_claimed: u32,
    /// Experiments that tried a peer's hypothesis.
    pub from_hypotheses: u32,
    /// Times the loop adopted a better result from the swarm as its starting point.
    pub adopted: u32,
    /// Repeats of the baseline with other seeds (status `noise`).
    pub noise: u32,
    /// Sample sd of the metric over the baseline and its repeats (None before two scored).
    pub noise_floor: Option<f64>,
    /// Values of the defaults by other nodes the noise floor was measured on (with the
    /// loop's own repeats, if any): 0 when the loop measured it alone.
    pub noise_shared: u32,
    /// Candidates that beat the best by more than the floor and held on their confirmation
    /// run, and those that did not hold.
    pub confirmed: u32,
    pub unconfirmed: u32,
    /// Share of the declared space the proposals of this run visited (see
    /// [`crate::proposer::coverage`]).
    pub coverage: f64,
    /// Proposals drawn again because they fell inside a region the swarm tried many times
    /// without gain.
    pub avoided_dead_ends: u32,
    /// Proposals made while the swarm's diversity signal was collapsed: the proposer was told
    /// to explore.
    pub explored: u32,
    /// The most results of other nodes one proposal learnt from.
    pub shared_observations: usize,
    /// The diversity signal at the last proposal (own and shared results).
    pub diversity: Option<Diversity>,
    pub baseline: Option<Record>,
    /// The other node's result (`<author>/<experiment id>`) this loop took as its baseline
    /// instead of running the defaults itself.
    pub baseline_from: Option<String>,
    pub best: Option<Record>,
    pub elapsed_ms: u64,
}

pub struct ResearchLoop<'j> {
    pub domain: Domain,
    pub skill: Skill,
    pub evaluator: Evaluator,
    pub journal: &'j mut Journal,
}

/// splitmix64: a seed per experiment from the run seed and the experiment's index.
fn derive_seed(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a run knows before its first experiment: the skill, its space and where it resumes.
struct Prepared {
    info: SkillInfo,
    space: Space,
    builder: RecordBuilder,
    climb: Climb,
    noise: NoiseFloor,
    proposals: Proposals,
}

fn make_proposer(kind: &ProposerKind, seed: u64) -> Box<dyn Proposer> {
    match kind {
        ProposerKind::Mixed => Box::new(MixedProposer::new(seed)),
        ProposerKind::Novelty => Box::new(NoveltyProposer::new(seed)),
        ProposerKind::Tpe => Box::new(TpeProposer::new(seed)),
        ProposerKind::Gp => Box::new(GpProposer::new(seed)),
        ProposerKind::Llm(config) => Box::new(crate::llm::LlmProposer::new(config.clone(), seed)),
    }
}

impl ResearchLoop<'_> {
    /// Runs alone (no peers): `hyper run`.
    pub fn run(
        &mut self,
        options: &LoopOptions,
        observer: &mut dyn FnMut(&Event),
    ) -> anyhow::Result<Summary> {
        self.run_with(options, &mut Solo, observer)
    }

    /// Describes the skill and the evaluator, checks they fit the domain, and reads where
    /// an earlier run left off.
    fn prepare(&self, options: &LoopOptions) -> anyhow::Result<Prepared> {
        self.domain.check_required()?;
        let info = self
            .skill
            .describe(&self.domain.skill_policy())
            .map_err(|f| anyhow::anyhow!("the skill's describe() failed: {f}"))?;
        if info.domain != self.domain.skill_domain() {
            anyhow::bail!(
                "skill `{}` is for domain `{}`, not `{}`",
                info.name,
                info.domain,
                self.domain.skill_domain()
            );
        }
        let mut space = Space::new(info.params.clone()).map_err(|e| {
            anyhow::anyhow!(
                "skill `{}` declares an invalid parameter space: {e}",
                info.name
            )
        })?;
        space.pin(&self.domain.manifest.fixed).map_err(|e| {
            anyhow::anyhow!(
                "skill `{}` cannot run in domain `{}`: {e}",
                info.name,
                self.domain.name()
            )
        })?;
        space
            .pin_by(&options.fixed, "--set")
            .map_err(|e| anyhow::anyhow!("skill `{}`: {e}", info.name))?;
        let metric = self
            .evaluator
            .describe(&self.domain.evaluator_policy())
            .map_err(|f| anyhow::anyhow!("the evaluator's describe() failed: {f}"))?;
        if metric.name != self.domain.manifest.metric.name {
            anyhow::bail!(
                "evaluator scores `{}` but the domain declares `{}`",
                metric.name,
                self.domain.manifest.metric.name
            );
        }
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let run_id = format!(
            "{:012x}",
            derive_seed(options.seed, nanos ^ u64::from(std::process::id())) & 0xffff_ffff_ffff
        );
        let builder = RecordBuilder {
            run_id,
            domain: self.domain.name().to_string(),
            skill_name: info.name.clone(),
            skill_hash: self.skill.hash().to_string(),
            evaluator_hash: self.evaluator.hash().to_string(),
            metric_name: self.domain.manifest.metric.name.clone(),
            direction: self.domain.manifest.metric.direction.clone(),
            data_hash: self.domain.data_hash()?,
            domain_version: self.domain.version().to_string(),
        };
        let mut proposals = Proposals::new(make_proposer(&options.proposer, options.seed));
        let mut noise = NoiseFloor::default();
        let mut climb = Climb::default();
        if options.resume {
            let skill_hash = &builder.skill_hash;
            climb = Climb::new(
                self.journal
                    .best(self.domain.name(), skill_hash)?
                    .and_then(|r| space.from_json(&r.params).map(|a| (r, a))),
            );
            for r in self.journal.list(self.domain.name())? {
                if r.skill_hash != *skill_hash {
                    continue;
                }
                if matches!(r.status, Status::Baseline | Status::Noise) {
                    noise.add(r.val);
                }
                if let Some(a) = space.from_json(&r.params) {
                    if r.evaluator_hash == builder.evaluator_hash {
                        let seen = Observation {
                            params: a.clone(),
                            val: r.val,
                        };
                        proposals.own.push((r.finished_ms(), seen));
                    }
                    proposals.tried.push(a);
                }
            }
        }
        Ok(Prepared {
            info,
            space,
            builder,
            climb,
            noise,
            proposals,
        })
    }

    /// Runs with peers: claims what it tries, skips what others claimed, learns from their
    /// results, picks up their hypotheses and, every `adopt_every` experiments, climbs from
    /// the swarm's best.
    pub fn run_with(
        &mut self,
        options: &LoopOptions,
        peers: &mut dyn Peers,
        observer: &mut dyn FnMut(&Event),
    ) -> anyhow::Result<Summary> {
        let started = Instant::now();
        let prepared = self.prepare(options)?;
        let (space, builder) = (&prepared.space, &prepared.builder);
        observer(&Event::Started {
            run_id: &builder.run_id,
            skill: &prepared.info,
            resumed_from: prepared.climb.best.as_ref().map(|(r, _)| r),
            planned: options.experiments,
        });
        let experimenter = Experimenter::new(&self.skill, &self.domain, &self.evaluator);
        let direction = experimenter.scorer.direction();
        let scope = Scope {
            domain: self.domain.name(),
            skill_hash: &builder.skill_hash,
            evaluator_hash: &builder.evaluator_hash,
            higher_is_better: direction.higher_is_better,
            near_duplicate: options.near_duplicate,
        };
        let mut run = Run::new(&prepared);
        let (mut climb, mut proposals) = (prepared.climb, prepared.proposals);
        let defaults = Space::to_json(&space.fix(space.defaults()));
        let baseline = BaselineQuery {
            domain: scope.domain,
            skill_hash: scope.skill_hash,
            evaluator_hash: scope.evaluator_hash,
            data_hash: &builder.data_hash,
            params: &defaults,
        };
        while options.experiments.is_none_or(|n| run.index < n)
            && options.time.is_none_or(|t| started.elapsed() < t)
        {
            if options.share_baseline
                && run.share_baseline(
                    &baseline,
                    space,
                    peers,
                    &mut climb,
                    options.noise_runs,
                    direction,
                )
            {
                proposals.tried.push(space.fix(space.defaults()));
                continue;
            }
            if options.share_baseline {
                run.share_noise(&baseline, peers, options.noise_runs);
            }
            let step = run.phase.step();
            if step == Step::Proposal && options.adopt_due(run.index) {
                run.adopt(&scope, space, peers, direction, &mut climb);
            }
            let point = climb.point(direction);
            let (params, parent) = run.plan(&point, &scope, space, peers, &mut proposals);
            if step == Step::Proposal
                || (step == Step::Baseline && run.baseline == BaselineState::Own)
            {
                peers.claim(scope.domain, scope.skill_hash, &Space::to_json(&params));
                proposals.tried.push(params.clone());
            }
            let spec = ExperimentSpec {
                id: format!("{}-{:04}", builder.run_id, run.index),
                domain: self.domain.name().to_string(),
                params: space.to_wit(&params),
                seed: derive_seed(options.seed, u64::from(run.index)),
                parent,
            };
            observer(&Event::ExperimentStarted {
                index: run.index,
                id: &spec.id,
            });
            let took = Instant::now();
            let outcome = experimenter.run(&spec, options.progress.as_ref());
            let floor = run.summary.noise_floor.unwrap_or(0.0);
            let mut point_val = point.as_ref().and_then(|p| p.val);
            if step == Step::Proposal && point_val.is_none() {
                let wait = (took.elapsed() * 2).clamp(BASELINE_WAIT_MIN, BASELINE_WAIT_MAX);
                point_val =
                    run.await_baseline(&baseline, wait, space, peers, &mut climb, direction);
            }
            let (status, reason) = judge(step, outcome.val(), point_val, floor, direction);
            let record = builder.build(&spec, &params, outcome, status, reason);
            run.index += 1;
            proposals.own.push((
                record.finished_ms(),
                Observation {
                    params: params.clone(),
                    val: record.val,
                },
            ));
            if step == Step::Noise {
                run.noise.add(record.val);
                run.summary.noise_floor = run.noise.floor();
            }
            let ran = Ran {
                record,
                params,
                point: point_val,
            };
            let phase = std::mem::replace(&mut run.phase, Phase::Explore);
            let commit;
            (run.phase, commit) = phase.advance(ran, options.noise_runs, floor, direction);
            for (i, (record, params)) in commit.into_iter().enumerate() {
                // Committed before the loop moves on: a crash after this line loses nothing.
                let seq = self.journal.append(&record)?;
                let record = Record { seq, ..record };
                run.committed(step, i, &record, &params, options.noise_runs, &mut climb);
                observer(&Event::ExperimentFinished {
                    index: run.index - 1,
                    record: &record,
                    best: climb.best.as_ref().map(|(r, _)| r),
                });
            }
        }
        // The budget ended between a candidate and its confirmation: it stays unconfirmed.
        if let Some(candidate) = std::mem::replace(&mut run.phase, Phase::Explore).unconfirmed() {
            let seq = self.journal.append(&candidate)?;
            let candidate = Record { seq, ..candidate };
            run.summary.count(&candidate);
            run.summary.unconfirmed += 1;
            observer(&Event::ExperimentFinished {
                index: run.index.saturating_sub(1),
                record: &candidate,
                best: climb.best.as_ref().map(|(r, _)| r),
            });
        }
        let mut summary = run.summary;
        summary.coverage = coverage(space, &proposals.tried);
        summary.skipped_claimed = proposals.counts.skipped_claimed;
        summary.from_hypotheses = proposals.counts.from_hypotheses;
        summary.avoided_dead_ends = proposals.counts.avoided_dead_ends;
        summary.explored = proposals.counts.explored;
        summary.shared_observations = proposals.counts.shared_observations;
        summary.diversity = proposals.diversity.take();
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }
}

impl LoopOptions {
    /// Whether the experiment at `index` should first look for a better result to adopt.
    fn adopt_due(&self, index: u32) -> bool {
        self.adopt_every > 0 && index > 0 && index.is_multiple_of(self.adopt_every)
    }
}

/// One run's state between experiments: its phase, noise floor, counters and index.
struct Run {
    phase: Phase,
    noise: NoiseFloor,
    summary: Summary,
    index: u32,
    baseline: BaselineState,
    shared_noise: SharedNoise,
}

impl Run {
    fn new(prepared: &Prepared) -> Self {
        let builder = &prepared.builder;
        Run {
            phase: if prepared.climb.best.is_none() {
                Phase::Baseline
            } else {
                Phase::Explore
            },
            noise: prepared.noise.clone(),
            summary: Summary {
                run_id: builder.run_id.clone(),
                domain: builder.domain.clone(),
                skill: prepared.info.name.clone(),
                skill_hash: builder.skill_hash.clone(),
                metric: builder.metric_name.clone(),
                direction: builder.direction.clone(),
                experiments: 0,
                kept: 0,
                discarded: 0,
                crashed: 0,
                skipped_claimed: 0,
                from_hypotheses: 0,
                adopted: 0,
                noise: 0,
                noise_floor: prepared.noise.floor(),
                noise_shared: 0,
                confirmed: 0,
                unconfirmed: 0,
                coverage: 0.0,
                avoided_dead_ends: 0,
                explored: 0,
                shared_observations: 0,
                diversity: None,
                baseline: None,
                baseline_from: None,
                best: prepared.climb.best.as_ref().map(|(r, _)| r.clone()),
                elapsed_ms: 0,
            },
            index: 0,
            baseline: BaselineState::Own,
            shared_noise: SharedNoise::Own,
        }
    }

    /// Offers the swarm's best for this skill to the climb.
    fn adopt(
        &mut self,
        scope: &Scope,
        space: &Space,
        peers: &mut dyn Peers,
        direction: Direction,
        climb: &mut Climb,
    ) {
        let theirs = peers
            .best(scope.domain, scope.skill_hash, scope.evaluator_hash)
            .and_then(|t| {
                Some(Point {
                    params: space.from_json(&t.params)?,
                    key: t.key,
                    val: Some(t.val),
                })
            });
        if theirs.is_some_and(|t| climb.offer(t, direction)) {
            self.summary.adopted += 1;
        }
    }

    /// The parameters and parent of the next experiment in this phase.
    fn plan(
        &self,
        point: &Option<Point>,
        scope: &Scope,
        space: &Space,
        peers: &mut dyn Peers,
        proposals: &mut Proposals,
    ) -> (crate::params::Assignment, Option<String>) {
        let (params, parent) = match (&self.phase, point) {
            (Phase::Confirm(c), _) => (c.params.clone(), Some(c.record.id.clone())),
            (Phase::Noise { .. }, _) => match &self.summary.baseline {
                Some(b) => (
                    space
                        .from_json(&b.params)
                        .unwrap_or_else(|| space.defaults()),
                    Some(b.id.clone()),
                ),
                None => (space.defaults(), None),
            },
            // The baseline always runs the defaults, even if a peer ran them too: it is this
            // platform's reference point.
            (Phase::Baseline, _) => (space.defaults(), None),
            // The baseline crashed: explore from the defaults instead of repeating them.
            (Phase::Explore, None) => {
                (proposals.next(scope, space, &space.defaults(), peers), None)
            }
            (Phase::Explore, Some(p)) => (
                proposals.next(scope, space, &p.params, peers),
                Some(p.key.clone()),
            ),
        };
        (space.fix(params), parent)
    }

    /// Counts a journalled record; a baseline or keep becomes the best to climb from.
    fn committed(
        &mut self,
        step: Step,
        position: usize,
        record: &Record,
        params: &crate::params::Assignment,
        noise_runs: u32,
        climb: &mut Climb,
    ) {
        self.summary.count(record);
        // After a confirmation run the candidate comes first: kept if it held.
        if step == Step::Confirm && position == 0 {
            if record.status == Status::Keep {
                self.summary.confirmed += 1;
            } else {
                self.summary.unconfirmed += 1;
            }
        }
        if record.status == Status::Baseline {
            self.summary.baseline = Some(record.clone());
            if noise_runs > 0 {
                self.noise.add(record.val);
            }
        }
        if matches!(record.status, Status::Baseline | Status::Keep) {
            climb.kept(record, params);
            self.summary.best = Some(record.clone());
        }
    }
}

impl Summary {
    /// Counts one journalled record.
    fn count(&mut self, record: &Record) {
        self.experiments += 1;
        match record.status {
            Status::Keep => self.kept += 1,
            Status::Discard => self.discarded += 1,
            Status::Crash => self.crashed += 1,
            Status::Noise => self.noise += 1,
            Status::Confirm | Status::Baseline => {}
        }
    }
}
