//! Running one experiment and writing it down: the [`Scorer`] (the evaluator and the
//! metric's direction), the [`Experimenter`] (skill run + score, timed) and the
//! [`RecordBuilder`] (what every record of a run shares, plus the experiment's own fields).

use std::time::{Instant, SystemTime};

use hyper_journal::{Record, Status};
use hyper_runtime::{
    Artifact, Evaluator, ExperimentSpec, Failure, FailureKind, Metric, RunReport, SandboxPolicy,
    Skill,
};

use super::ProgressHook;
use crate::domain::Domain;
use crate::params::{Assignment, Space};

/// Which way the metric improves: compares values, with or without a noise floor.
#[derive(Clone, Copy, Debug)]
pub(super) struct Direction {
    pub higher_is_better: bool,
}

impl Direction {
    /// Better than `best` by more than `floor`.
    pub fn beats(self, candidate: f64, best: f64, floor: f64) -> bool {
        if self.higher_is_better {
            candidate > best + floor
        } else {
            candidate < best - floor
        }
    }

    pub fn better(self, candidate: f64, best: f64) -> bool {
        self.beats(candidate, best, 0.0)
    }
}

/// Scores artifacts with the domain's evaluator.
pub(super) struct Scorer<'a> {
    pub domain: &'a Domain,
    pub evaluator: &'a Evaluator,
}

impl Scorer<'_> {
    pub fn direction(&self) -> Direction {
        Direction {
            higher_is_better: self.domain.higher_is_better(),
        }
    }

    /// (validation, test, every metric) of an artifact. The primary metric must be the
    /// domain's.
    pub fn score(&self, artifact: &Artifact) -> Result<(f64, f64, serde_json::Value), Failure> {
        crate::replay::score(self.domain, self.evaluator, artifact)
    }
}

/// What one experiment produced, before it is judged.
pub(super) struct Outcome {
    /// (validation, test, metrics), or why it crashed.
    pub scored: Result<(f64, f64, serde_json::Value), String>,
    pub crash_kind: Option<FailureKind>,
    pub duration_ms: u64,
    pub peak_memory_bytes: u64,
    pub platform: String,
    pub started_at: String,
    pub finished_at: String,
}

impl Outcome {
    pub fn val(&self) -> Option<f64> {
        self.scored.as_ref().ok().map(|(v, _, _)| *v)
    }
}

/// Runs a skill in its sandbox and scores what it made.
pub(super) struct Experimenter<'a> {
    pub skill: &'a Skill,
    pub policy: SandboxPolicy,
    pub scorer: Scorer<'a>,
}

impl<'a> Experimenter<'a> {
    /// Runs `skill` in the domain's sandbox, scored by its evaluator.
    pub fn new(skill: &'a Skill, domain: &'a Domain, evaluator: &'a Evaluator) -> Self {
        Experimenter {
            skill,
            policy: domain.skill_policy(),
            scorer: Scorer { domain, evaluator },
        }
    }

    pub fn run(&self, spec: &ExperimentSpec, progress: Option<&ProgressHook>) -> Outcome {
        self.run_keeping(spec, progress).0
    }

    /// [`Experimenter::run`], handing back what the skill made and its captured output too
    /// (`hyper try` shows them; the loop does not keep them).
    pub fn run_keeping(
        &self,
        spec: &ExperimentSpec,
        progress: Option<&ProgressHook>,
    ) -> (Outcome, Option<Artifact>, RunReport) {
        let started_at = now_rfc3339();
        let t0 = Instant::now();
        let hook = progress.cloned().map(|ProgressHook(f)| {
            Box::new(move |step: u32, total: u32, metrics: &[Metric]| f(step, total, metrics))
                as hyper_runtime::ProgressFn
        });
        let (made, report) = self.skill.run(&self.policy, spec, hook);
        let scored = match &made {
            Ok(artifact) => self.scorer.score(artifact),
            Err(failure) => Err(failure.clone()),
        };
        let crash_kind = scored.as_ref().err().map(|f| f.kind);
        let outcome = Outcome {
            scored: scored.map_err(|f| crash_reason(&f)),
            crash_kind,
            duration_ms: t0.elapsed().as_millis() as u64,
            peak_memory_bytes: report.peak_memory_bytes,
            // The device is part of the platform a result was measured on.
            platform: crate::replay::run_platform(&report),
            started_at,
            finished_at: now_rfc3339(),
        };
        (outcome, made.ok(), report)
    }
}

/// The failure's reason with the last line the guest wrote to stderr (unless it panicked:
/// the panic message is already the reason).
fn crash_reason(failure: &Failure) -> String {
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
    reason
}

pub(super) fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The fields every record of one run shares.
pub(super) struct RecordBuilder {
    pub run_id: String,
    pub domain: String,
    pub skill_name: String,
    pub skill_hash: String,
    pub evaluator_hash: String,
    pub metric_name: String,
    pub direction: String,
    /// The receipt's data hash: what a replay must run on to be comparable.
    pub data_hash: String,
    pub domain_version: String,
}

impl RecordBuilder {
    pub fn build(
        &self,
        spec: &ExperimentSpec,
        params: &Assignment,
        outcome: Outcome,
        status: Status,
        reason: Option<String>,
    ) -> Record {
        let (val, test, metrics, reason) = match outcome.scored {
            Ok((val, test, metrics)) => (Some(val), Some(test), metrics, reason),
            Err(why) => (
                None,
                None,
                serde_json::json!({ "failure": outcome.crash_kind }),
                Some(why),
            ),
        };
        Record {
            seq: 0,
            id: spec.id.clone(),
            run_id: self.run_id.clone(),
            domain: self.domain.clone(),
            skill_name: self.skill_name.clone(),
            skill_hash: self.skill_hash.clone(),
            evaluator_hash: self.evaluator_hash.clone(),
            params: Space::to_json(params),
            seed: spec.seed,
            parent: spec.parent.clone(),
            metric_name: self.metric_name.clone(),
            direction: self.direction.clone(),
            val,
            test,
            metrics,
            status,
            reason,
            duration_ms: outcome.duration_ms,
            peak_memory_bytes: outcome.peak_memory_bytes,
            platform: outcome.platform,
            started_at: outcome.started_at,
            finished_at: outcome.finished_at,
            data_hash: self.data_hash.clone(),
            domain_version: self.domain_version.clone(),
        }
    }
}
