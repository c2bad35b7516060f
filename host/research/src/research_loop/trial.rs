//! One experiment with parameters chosen by hand, outside any loop (`hyper try`): the
//! defaults with the user's `--set` values pinned (checked against the skill's declared
//! space), run in the skill's sandbox, scored on the validation split. The artifact and the
//! guest's output are handed back for inspection; the journal is written only when asked.

use hyper_journal::{Record, Status};
use hyper_runtime::{Artifact, ExperimentSpec, RunReport};

use super::records::Experimenter;
use super::{LoopOptions, ResearchLoop};

/// What one trial gave: its record (parameters as they ran, the validation value, or why it
/// failed), what the skill made and what it printed and logged.
pub struct Trial {
    /// The record as `--journal` stores it (status keep when it beats this skill's best in
    /// the journal, else discard; crash when it failed).
    pub record: Record,
    /// What the skill made (None when it failed before returning one).
    pub artifact: Option<Artifact>,
    /// The guest's log, stdout and stderr.
    pub report: RunReport,
}

impl Trial {
    /// Why it failed, in one sentence (None when it was scored).
    pub fn failure(&self) -> Option<&str> {
        match self.record.status {
            Status::Crash => Some(self.record.reason.as_deref().unwrap_or("it crashed")),
            _ => None,
        }
    }
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
        let experimenter = Experimenter::new(&self.skill, &self.domain, &self.evaluator);
        let (outcome, artifact, report) = experimenter.run_keeping(&spec, None);
        let val = outcome.val();
        let status = match val {
            None => Status::Crash,
            Some(v) => {
                let best = self.journal.best(self.domain.name(), &builder.skill_hash)?;
                let beats = best
                    .and_then(|b| b.val)
                    .is_none_or(|b| experimenter.scorer.direction().better(v, b));
                if beats {
                    Status::Keep
                } else {
                    Status::Discard
                }
            }
        };
        let mut record = builder.build(
            &spec,
            &params,
            outcome,
            status,
            // (a crash's record gives its reason instead)
            Some("hyper try: parameters set by hand".into()),
        );
        if journal {
            record.seq = self.journal.append(&record)?;
        }
        Ok(Trial {
            record,
            artifact,
            report,
        })
    }
}
