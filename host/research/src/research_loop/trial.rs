//! One experiment with parameters chosen by hand, outside any loop (`hyper try`): the
//! defaults with the user's `--set` values pinned (checked against the skill's declared
//! space), run in the skill's sandbox, scored on the validation split. The artifact and the
//! guest's output are handed back for inspection; the journal is written only when asked.

use hyper_journal::{Record, Status};
use hyper_runtime::{Artifact, ExperimentSpec, RunReport};

use super::records::{now_rfc3339, Outcome, Scorer};
use super::{LoopOptions, ResearchLoop};
use crate::params::Space;

/// What one trial gave.
pub struct Trial {
    /// Every parameter as it ran (the defaults with the pinned values).
    pub params: serde_json::Value,
    /// The validation value, or None when the skill or the scoring failed.
    pub val: Option<f64>,
    pub metrics: serde_json::Value,
    /// Why it failed, in one sentence.
    pub failure: Option<String>,
    /// What the skill made (None when it failed before returning one).
    pub artifact: Option<Artifact>,
    /// The guest's log, stdout and stderr.
    pub report: RunReport,
    pub duration_ms: u64,
    /// The record as `--journal` stores it (status keep when it beats this skill's best in
    /// the journal, else discard; crash when it failed).
    pub record: Record,
}

impl ResearchLoop<'_> {
    /// Runs the defaults with `options.fixed` pinned, once, with `options.seed`; journals the
    /// record only when `journal` is set.
    pub fn trial(&mut self, options: &LoopOptions, journal: bool) -> anyhow::Result<Trial> {
        let prepared = self.prepare(&LoopOptions {
            resume: false,
            ..options.clone()
        })?;
        let (space, builder) = (&prepared.space, &prepared.builder);
        let params = space.defaults();
        let spec = ExperimentSpec {
            id: format!("try-{}", builder.run_id),
            domain: self.domain.name().to_string(),
            params: space.to_wit(&params),
            seed: options.seed,
            parent: None,
        };
        let scorer = Scorer {
            domain: &self.domain,
            evaluator: &self.evaluator,
        };
        let started_at = now_rfc3339();
        let t0 = std::time::Instant::now();
        let (made, report) = self.skill.run(&self.domain.skill_policy(), &spec, None);
        let artifact = made.as_ref().ok().cloned();
        let scored = made.and_then(|a| scorer.score(&a));
        let outcome = Outcome {
            crash_kind: scored.as_ref().err().map(|f| f.kind),
            scored: scored.map_err(|f| f.to_string()),
            duration_ms: t0.elapsed().as_millis() as u64,
            peak_memory_bytes: report.peak_memory_bytes,
            platform: crate::replay::run_platform(&report),
            started_at,
            finished_at: now_rfc3339(),
        };
        let (val, failure) = (outcome.val(), outcome.scored.as_ref().err().cloned());
        let metrics = outcome
            .scored
            .as_ref()
            .map(|(_, _, m)| m.clone())
            .unwrap_or_default();
        let status = match val {
            None => Status::Crash,
            Some(v) => {
                let best = self.journal.best(self.domain.name(), &builder.skill_hash)?;
                let beats = best
                    .and_then(|b| b.val)
                    .is_none_or(|b| scorer.direction().better(v, b));
                if beats {
                    Status::Keep
                } else {
                    Status::Discard
                }
            }
        };
        let duration_ms = outcome.duration_ms;
        let mut record = builder.build(
            &spec,
            &params,
            outcome,
            status,
            Some("hyper try: parameters set by hand".into()),
        );
        if journal {
            record.seq = self.journal.append(&record)?;
        }
        Ok(Trial {
            params: Space::to_json(&params),
            val,
            metrics,
            failure,
            artifact,
            report,
            duration_ms,
            record,
        })
    }
}
