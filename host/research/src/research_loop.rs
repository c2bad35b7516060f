//! The research loop: baseline, propose, run, score, keep or discard, journal, repeat.

use std::time::{Duration, Instant, SystemTime};

use hyper_journal::{Journal, Record, Status};
use hyper_runtime::{
    Artifact, Evaluator, ExperimentSpec, Failure, FailureKind, Metric, Skill, SkillInfo,
};

use crate::domain::Domain;
use crate::params::{Assignment, Space};
use crate::peers::{Peers, Solo};
use crate::proposer::{coverage, MixedProposer, NoveltyProposer, Proposer};

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
    /// Candidates that beat the best by more than the floor and held on their confirmation
    /// run, and those that did not hold.
    pub confirmed: u32,
    pub unconfirmed: u32,
    /// Share of the declared space the proposals of this run visited (see
    /// [`crate::proposer::coverage`]).
    pub coverage: f64,
    pub baseline: Option<Record>,
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

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

impl ResearchLoop<'_> {
    /// Better than `best` by more than `floor`.
    fn beats(&self, candidate: f64, best: f64, floor: f64) -> bool {
        if self.domain.higher_is_better() {
            candidate > best + floor
        } else {
            candidate < best - floor
        }
    }

    fn better(&self, candidate: f64, best: f64) -> bool {
        if self.domain.higher_is_better() {
            candidate > best
        } else {
            candidate < best
        }
    }

    /// Scores an artifact on both splits. The primary metric must be the domain's.
    fn score(&self, artifact: &Artifact) -> Result<(f64, f64, serde_json::Value), Failure> {
        crate::replay::score(&self.domain, &self.evaluator, artifact)
    }

    /// Runs alone (no peers): `hyper run`.
    pub fn run(
        &mut self,
        options: &LoopOptions,
        observer: &mut dyn FnMut(&Event),
    ) -> anyhow::Result<Summary> {
        self.run_with(options, &mut Solo, observer)
    }

    /// Picks the next parameters: an open hypothesis if there is one not yet tried, else the
    /// proposer's choice, skipping what other nodes have claimed (exactly or nearly).
    #[allow(clippy::too_many_arguments)]
    fn next_params(
        &self,
        options: &LoopOptions,
        space: &Space,
        base: &Assignment,
        tried: &[Assignment],
        proposer: &mut dyn Proposer,
        peers: &mut dyn Peers,
        heeded: &mut std::collections::HashSet<String>,
        summary: &mut Summary,
    ) -> Assignment {
        let domain = self.domain.name();
        for h in peers.hypotheses(domain) {
            if !heeded.insert(h.key.clone()) {
                continue;
            }
            let (Some(mut merged), Some(fixed)) = (
                Space::to_json(base).as_object().cloned(),
                h.params.as_object(),
            ) else {
                continue;
            };
            for (k, v) in fixed {
                merged.insert(k.clone(), v.clone());
            }
            // A hypothesis about parameters this skill lacks, or out of bounds, is ignored.
            match space.from_json(&serde_json::Value::Object(merged)) {
                Some(a) if !tried.contains(&a) => {
                    summary.from_hypotheses += 1;
                    return a;
                }
                _ => {}
            }
        }
        let claimed: Vec<Assignment> = peers
            .claimed(domain, self.skill.hash())
            .iter()
            .filter_map(|p| space.from_json(p))
            .collect();
        let mut avoid: Vec<Assignment> = tried.iter().chain(&claimed).cloned().collect();
        let mut params = proposer.propose(space, base, &avoid);
        for _ in 0..20 {
            if claimed
                .iter()
                .all(|c| space.distance(c, &params) >= options.near_duplicate)
            {
                break;
            }
            summary.skipped_claimed += 1;
            avoid.push(params);
            params = proposer.propose(space, base, &avoid);
        }
        params
    }

    /// Runs with peers: claims what it tries, skips what others claimed, picks up their
    /// hypotheses and, every `adopt_every` experiments, climbs from the swarm's best.
    pub fn run_with(
        &mut self,
        options: &LoopOptions,
        peers: &mut dyn Peers,
        observer: &mut dyn FnMut(&Event),
    ) -> anyhow::Result<Summary> {
        let started = Instant::now();
        self.domain.check_required()?;
        let skill_policy = self.domain.skill_policy();
        let info = self
            .skill
            .describe(&skill_policy)
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

        let run_id = format!(
            "{:012x}",
            derive_seed(
                options.seed,
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0)
                    ^ u64::from(std::process::id())
            ) & 0xffff_ffff_ffff
        );
        let skill_hash = self.skill.hash().to_string();
        // The receipt's data hash: what a replay must run on to be comparable.
        let data_hash = self.domain.data_hash()?;
        let resumed = if options.resume {
            self.journal.best(self.domain.name(), &skill_hash)?
        } else {
            None
        };
        let mut best: Option<(Record, Assignment)> = resumed
            .as_ref()
            .and_then(|r| space.from_json(&r.params).map(|a| (r.clone(), a)));
        let mut tried: Vec<Assignment> = Vec::new();
        // The baseline's metric and its repeats': their spread is the noise floor.
        let mut noise_vals: Vec<f64> = Vec::new();
        if options.resume {
            for r in self.journal.list(self.domain.name())? {
                if r.skill_hash == skill_hash
                    && matches!(r.status, Status::Baseline | Status::Noise)
                {
                    noise_vals.extend(r.val.filter(|v| v.is_finite()));
                }
                if r.skill_hash == skill_hash {
                    if let Some(a) = space.from_json(&r.params) {
                        tried.push(a);
                    }
                }
            }
        }
        observer(&Event::Started {
            run_id: &run_id,
            skill: &info,
            resumed_from: best.as_ref().map(|(r, _)| r),
            planned: options.experiments,
        });

        let mut proposer: Box<dyn Proposer> = match &options.proposer {
            ProposerKind::Mixed => Box::new(MixedProposer::new(options.seed)),
            ProposerKind::Novelty => Box::new(NoveltyProposer::new(options.seed)),
            ProposerKind::Llm(config) => {
                Box::new(crate::llm::LlmProposer::new(config.clone(), options.seed))
            }
        };
        let mut summary = Summary {
            run_id: run_id.clone(),
            domain: self.domain.name().to_string(),
            skill: info.name.clone(),
            skill_hash: skill_hash.clone(),
            metric: self.domain.manifest.metric.name.clone(),
            direction: self.domain.manifest.metric.direction.clone(),
            experiments: 0,
            kept: 0,
            discarded: 0,
            crashed: 0,
            skipped_claimed: 0,
            from_hypotheses: 0,
            adopted: 0,
            noise: 0,
            noise_floor: None,
            confirmed: 0,
            unconfirmed: 0,
            coverage: 0.0,
            baseline: None,
            best: best.as_ref().map(|(r, _)| r.clone()),
            elapsed_ms: 0,
        };
        // A peer's result that beats the local best: (key, val, params).
        let mut adopted: Option<(String, f64, Assignment)> = None;
        let mut heeded = std::collections::HashSet::new();
        let evaluator_hash = self.evaluator.hash().to_string();
        let mut index: u32 = 0;
        let mut noise_left: u32 = 0;
        // A candidate that beat the best by more than the noise floor, waiting for its
        // confirmation run: (record not yet journalled, its parameters, the best it beat).
        let mut pending: Option<(Record, Assignment, Option<f64>)> = None;
        summary.noise_floor = noise_floor(&noise_vals);
        loop {
            if options.experiments.is_some_and(|n| index >= n)
                || options.time.is_some_and(|t| started.elapsed() >= t)
            {
                break;
            }
            let is_baseline = best.is_none() && summary.baseline.is_none() && index == 0;
            let kind = if pending.is_some() {
                Kind::Confirm
            } else if noise_left > 0 {
                Kind::Noise
            } else {
                Kind::Proposal
            };
            if kind == Kind::Proposal
                && options.adopt_every > 0
                && index > 0
                && index.is_multiple_of(options.adopt_every)
            {
                if let Some(theirs) = peers.best(self.domain.name(), &skill_hash, &evaluator_hash) {
                    let ours = adopted
                        .as_ref()
                        .map(|(_, v, _)| *v)
                        .or(best.as_ref().and_then(|(r, _)| r.val));
                    if let Some(a) = space.from_json(&theirs.params) {
                        if theirs.val.is_finite() && ours.is_none_or(|v| self.better(theirs.val, v))
                        {
                            adopted = Some((theirs.key, theirs.val, a));
                            summary.adopted += 1;
                        }
                    }
                }
            }
            // The point to climb from: the local best, or a peer's if it is better.
            let point: Option<(String, Option<f64>, &Assignment)> = match (&adopted, &best) {
                (Some((key, v, a)), Some((r, _))) if r.val.is_none_or(|rv| self.better(*v, rv)) => {
                    Some((key.clone(), Some(*v), a))
                }
                (Some((key, v, a)), None) => Some((key.clone(), Some(*v), a)),
                (_, Some((r, a))) => Some((r.id.clone(), r.val, a)),
                (None, None) => None,
            };
            let (params, parent) = match (&kind, &point) {
                (Kind::Confirm, _) => match &pending {
                    Some((candidate, params, _)) => (params.clone(), Some(candidate.id.clone())),
                    None => (space.defaults(), None),
                },
                (Kind::Noise, _) => match &summary.baseline {
                    Some(b) => (
                        space
                            .from_json(&b.params)
                            .unwrap_or_else(|| space.defaults()),
                        Some(b.id.clone()),
                    ),
                    None => (space.defaults(), None),
                },
                // The baseline always runs the defaults, even if a peer ran them too: it is
                // this platform's reference point.
                (_, None) if index == 0 => (space.defaults(), None),
                // The baseline crashed: explore from the defaults instead of repeating them.
                (_, None) => {
                    let defaults = space.defaults();
                    let p = self.next_params(
                        options,
                        &space,
                        &defaults,
                        &tried,
                        proposer.as_mut(),
                        peers,
                        &mut heeded,
                        &mut summary,
                    );
                    (p, None)
                }
                (_, Some((parent, _, assignment))) => {
                    let p = self.next_params(
                        options,
                        &space,
                        assignment,
                        &tried,
                        proposer.as_mut(),
                        peers,
                        &mut heeded,
                        &mut summary,
                    );
                    (p, Some(parent.clone()))
                }
            };
            let params = space.fix(params);
            let point_val = point.as_ref().and_then(|(_, v, _)| *v);
            if kind == Kind::Proposal {
                peers.claim(self.domain.name(), &skill_hash, &Space::to_json(&params));
                tried.push(params.clone());
            }
            let floor = summary.noise_floor.unwrap_or(0.0);
            let id = format!("{run_id}-{index:04}");
            let seed = derive_seed(options.seed, u64::from(index));
            observer(&Event::ExperimentStarted { index, id: &id });
            let spec = ExperimentSpec {
                id: id.clone(),
                domain: self.domain.name().to_string(),
                params: space.to_wit(&params),
                seed,
                parent: parent.clone(),
            };
            let started_at = now_rfc3339();
            let t0 = Instant::now();
            let hook = options.progress.clone().map(|ProgressHook(f)| {
                Box::new(move |step: u32, total: u32, metrics: &[Metric]| f(step, total, metrics))
                    as hyper_runtime::ProgressFn
            });
            let (outcome, report) = self.skill.run(&skill_policy, &spec, hook);
            let scored = outcome.and_then(|artifact| self.score(&artifact));
            let duration_ms = t0.elapsed().as_millis() as u64;
            let (status, val, test, metrics, reason) = match scored {
                Ok((val, test, metrics)) => {
                    let (status, reason) = match (kind, point_val) {
                        (Kind::Noise, _) => (Status::Noise, None),
                        (Kind::Confirm, _) => (Status::Confirm, None),
                        _ if is_baseline => (Status::Baseline, None),
                        (_, None) => (Status::Keep, None),
                        (_, Some(b)) if self.beats(val, b, floor) => (Status::Keep, None),
                        (_, Some(b)) if self.better(val, b) => (
                            Status::Discard,
                            Some(format!(
                                "beat the best ({b}) by less than the noise floor ({floor:.4})"
                            )),
                        ),
                        (_, Some(_)) => (Status::Discard, None),
                    };
                    (status, Some(val), Some(test), metrics, reason)
                }
                Err(failure) => {
                    let mut reason = failure.reason.clone();
                    if let Some(tail) = failure
                        .stderr_tail
                        .as_deref()
                        .filter(|_| failure.kind != FailureKind::Panic)
                    {
                        let last = tail.lines().last().unwrap_or("");
                        if !last.is_empty() {
                            reason.push_str(&format!(
                                " [stderr: {}]",
                                last.chars().take(200).collect::<String>()
                            ));
                        }
                    }
                    (
                        Status::Crash,
                        None,
                        None,
                        serde_json::json!({ "failure": failure.kind }),
                        Some(reason),
                    )
                }
            };
            let record = Record {
                seq: 0,
                id,
                run_id: run_id.clone(),
                domain: self.domain.name().to_string(),
                skill_name: info.name.clone(),
                skill_hash: skill_hash.clone(),
                evaluator_hash: self.evaluator.hash().to_string(),
                params: Space::to_json(&params),
                seed,
                parent,
                metric_name: self.domain.manifest.metric.name.clone(),
                direction: self.domain.manifest.metric.direction.clone(),
                val,
                test,
                metrics,
                status,
                reason,
                duration_ms,
                peak_memory_bytes: report.peak_memory_bytes,
                // The device is part of the platform a result was measured on.
                platform: crate::replay::run_platform(&report),
                started_at,
                finished_at: now_rfc3339(),
                data_hash: data_hash.clone(),
                domain_version: self.domain.version().to_string(),
            };
            index += 1;
            proposer.observe(&params, val);
            // A new best above a measured noise floor waits for its confirmation run.
            if status == Status::Keep && floor > 0.0 && kind == Kind::Proposal {
                pending = Some((record, params, point_val));
                continue;
            }
            let mut records = Vec::with_capacity(2);
            if kind == Kind::Confirm {
                if let Some((mut candidate, candidate_params, beaten)) = pending.take() {
                    let held = val.is_some_and(|v| beaten.is_none_or(|b| self.beats(v, b, floor)));
                    if let Some(metrics) = candidate.metrics.as_object_mut() {
                        metrics.insert(
                            "confirmation".into(),
                            serde_json::json!({ "id": record.id, "seed": record.seed, "validation": val, "test": test }),
                        );
                    }
                    if held {
                        summary.confirmed += 1;
                    } else {
                        summary.unconfirmed += 1;
                        candidate.status = Status::Discard;
                        candidate.reason = Some(format!(
                            "did not hold: the confirmation run `{}` (another seed) gave {} where it needed to beat {} by more than the noise floor {floor:.4}",
                            record.id,
                            val.map(|v| format!("{v:.4}")).unwrap_or_else(|| "a crash".into()),
                            beaten.map(|b| format!("{b:.4}")).unwrap_or_else(|| "nothing".into()),
                        ));
                    }
                    records.push((candidate, candidate_params));
                }
            }
            if kind == Kind::Noise {
                noise_left = noise_left.saturating_sub(1);
            }
            if status == Status::Noise {
                noise_vals.extend(val);
                summary.noise_floor = noise_floor(&noise_vals);
            }
            records.push((record, params));
            for (record, params) in records {
                // Committed before the loop moves on: a crash after this line loses nothing.
                let seq = self.journal.append(&record)?;
                let record = Record { seq, ..record };
                summary.experiments += 1;
                match record.status {
                    Status::Baseline => {
                        summary.baseline = Some(record.clone());
                        if options.noise_runs > 0 && record.val.is_some() {
                            noise_vals.extend(record.val);
                            noise_left = options.noise_runs;
                        }
                    }
                    Status::Keep => summary.kept += 1,
                    Status::Discard => summary.discarded += 1,
                    Status::Crash => summary.crashed += 1,
                    Status::Noise => summary.noise += 1,
                    Status::Confirm => {}
                }
                if matches!(record.status, Status::Baseline | Status::Keep) {
                    // A keep beats the adopted point too, so the local best takes over from it.
                    adopted = None;
                    best = Some((record.clone(), params));
                    summary.best = Some(record.clone());
                }
                observer(&Event::ExperimentFinished {
                    index: index - 1,
                    record: &record,
                    best: best.as_ref().map(|(r, _)| r),
                });
            }
        }
        // The budget ended between a candidate and its confirmation: it stays unconfirmed.
        if let Some((mut candidate, _, _)) = pending.take() {
            candidate.status = Status::Discard;
            candidate.reason =
                Some("not confirmed: the budget ended before its confirmation run".into());
            let seq = self.journal.append(&candidate)?;
            let candidate = Record { seq, ..candidate };
            summary.experiments += 1;
            summary.discarded += 1;
            summary.unconfirmed += 1;
            observer(&Event::ExperimentFinished {
                index: index.saturating_sub(1),
                record: &candidate,
                best: best.as_ref().map(|(r, _)| r),
            });
        }
        summary.coverage = coverage(&space, &tried);
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }
}

/// What one experiment of the loop is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A new point from the proposer (or a hypothesis, or the baseline).
    Proposal,
    /// The baseline's parameters with another seed.
    Noise,
    /// The pending candidate's parameters with another seed.
    Confirm,
}

/// Sample standard deviation of the baseline's metric over seeds (None before two values).
fn noise_floor(vals: &[f64]) -> Option<f64> {
    if vals.len() < 2 {
        return None;
    }
    let n = vals.len() as f64;
    let mean = vals.iter().sum::<f64>() / n;
    let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    // Differences in the last bits (a sum taken in another order) are not noise.
    Some(if sd <= 1e-9 * mean.abs().max(1.0) {
        0.0
    } else {
        sd
    })
}
