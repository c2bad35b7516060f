//! The loop's states, explicit: what the next experiment is for ([`Phase`]), how its result
//! is judged ([`judge`]), what it does to the phase and which records that commits
//! ([`Phase::advance`]), the noise floor ([`NoiseFloor`]) and the point the loop climbs from
//! ([`Climb`]). Nothing here runs a skill or touches the journal.

use hyper_journal::{Record, Status};

use super::records::Direction;
use crate::params::Assignment;

/// A result that beat the best by more than the noise floor, waiting for its confirmation
/// run (not journalled yet).
#[derive(Clone, Debug)]
pub(super) struct Candidate {
    pub record: Record,
    pub params: Assignment,
    /// The best it beat, when there was one.
    pub beaten: Option<f64>,
}

#[derive(Clone, Debug)]
pub(super) enum Phase {
    /// Nothing measured on this platform yet: run the defaults.
    Baseline,
    /// The baseline's parameters again with other seeds; `left` more to run.
    Noise { left: u32 },
    /// New points from hypotheses and the proposer.
    Explore,
    /// The candidate's parameters once more with another seed (boxed: a record is large).
    Confirm(Box<Candidate>),
}

/// One experiment's record, the parameters it ran and the value of the point it climbed
/// from.
pub(super) struct Ran {
    pub record: Record,
    pub params: Assignment,
    pub point: Option<f64>,
}

/// What one experiment is for (the [`Phase`] it ran in, without its data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Baseline,
    Noise,
    Proposal,
    Confirm,
}

impl Phase {
    pub fn step(&self) -> Step {
        match self {
            Phase::Baseline => Step::Baseline,
            Phase::Noise { .. } => Step::Noise,
            Phase::Explore => Step::Proposal,
            Phase::Confirm(_) => Step::Confirm,
        }
    }

    /// The next phase after an experiment that ran in this phase, and the records to
    /// journal now, in order.
    pub fn advance(
        self,
        ran: Ran,
        noise_runs: u32,
        floor: f64,
        direction: Direction,
    ) -> (Phase, Vec<(Record, Assignment)>) {
        let Ran {
            record,
            params,
            point,
        } = ran;
        match self {
            Phase::Baseline => {
                let next = if record.status == Status::Baseline && noise_runs > 0 {
                    Phase::Noise { left: noise_runs }
                } else {
                    Phase::Explore
                };
                (next, vec![(record, params)])
            }
            Phase::Noise { left } => {
                let next = match left.saturating_sub(1) {
                    0 => Phase::Explore,
                    left => Phase::Noise { left },
                };
                (next, vec![(record, params)])
            }
            // A new best above a measured noise floor waits for its confirmation run.
            Phase::Explore if record.status == Status::Keep && floor > 0.0 => (
                Phase::Confirm(Box::new(Candidate {
                    record,
                    params,
                    beaten: point,
                })),
                Vec::new(),
            ),
            Phase::Explore => (Phase::Explore, vec![(record, params)]),
            Phase::Confirm(candidate) => {
                let candidate = confirm(*candidate, &record, floor, direction);
                (
                    Phase::Explore,
                    vec![(candidate.record, candidate.params), (record, params)],
                )
            }
        }
    }

    /// The candidate still waiting when the budget ends: it stays unconfirmed.
    pub fn unconfirmed(self) -> Option<Record> {
        match self {
            Phase::Confirm(mut c) => {
                c.record.status = Status::Discard;
                c.record.reason =
                    Some("not confirmed: the budget ended before its confirmation run".into());
                Some(c.record)
            }
            _ => None,
        }
    }
}

/// The candidate, kept if its confirmation run beat what it beat by more than the floor,
/// else discarded with why; its metrics name the confirmation run either way.
fn confirm(mut candidate: Candidate, run: &Record, floor: f64, direction: Direction) -> Candidate {
    let held = run.val.is_some_and(|v| {
        candidate
            .beaten
            .is_none_or(|b| direction.beats(v, b, floor))
    });
    if let Some(metrics) = candidate.record.metrics.as_object_mut() {
        metrics.insert(
            "confirmation".into(),
            serde_json::json!({ "id": run.id, "seed": run.seed, "validation": run.val, "test": run.test }),
        );
    }
    if !held {
        candidate.record.status = Status::Discard;
        candidate.record.reason = Some(format!(
            "did not hold: the confirmation run `{}` (another seed) gave {} where it needed to beat {} by more than the noise floor {floor:.4}",
            run.id,
            run.val.map(|v| format!("{v:.4}")).unwrap_or_else(|| "a crash".into()),
            candidate.beaten.map(|b| format!("{b:.4}")).unwrap_or_else(|| "nothing".into()),
        ));
    }
    candidate
}

/// The status (and why, where it needs saying) of an experiment that scored `val` in `step`,
/// against `point` (the value it climbed from, if any); None: it crashed.
pub(super) fn judge(
    step: Step,
    val: Option<f64>,
    point: Option<f64>,
    floor: f64,
    direction: Direction,
) -> (Status, Option<String>) {
    let Some(val) = val else {
        return (Status::Crash, None);
    };
    match (step, point) {
        (Step::Noise, _) => (Status::Noise, None),
        (Step::Confirm, _) => (Status::Confirm, None),
        (Step::Baseline, _) => (Status::Baseline, None),
        (Step::Proposal, None) => (Status::Keep, None),
        (Step::Proposal, Some(b)) if direction.beats(val, b, floor) => (Status::Keep, None),
        (Step::Proposal, Some(b)) if direction.better(val, b) => (
            Status::Discard,
            Some(format!(
                "beat the best ({b}) by less than the noise floor ({floor:.4})"
            )),
        ),
        (Step::Proposal, Some(_)) => (Status::Discard, None),
    }
}

/// The baseline's metric and its repeats': their spread (sample sd) is the noise floor.
#[derive(Clone, Default)]
pub(super) struct NoiseFloor {
    vals: Vec<f64>,
}

impl NoiseFloor {
    pub fn add(&mut self, val: Option<f64>) {
        self.vals.extend(val.filter(|v| v.is_finite()));
    }

    /// None before two values.
    pub fn floor(&self) -> Option<f64> {
        noise_floor(&self.vals)
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.vals.len()
    }

    /// The floor over these values and `others` (other nodes' values of the same point).
    pub fn floor_with(&self, others: &[f64]) -> Option<f64> {
        let finite = others.iter().copied().filter(|v| v.is_finite());
        let vals: Vec<f64> = self.vals.iter().copied().chain(finite).collect();
        noise_floor(&vals)
    }
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

/// A result the loop may climb from: its parent key, value and parameters.
#[derive(Clone, Debug)]
pub(super) struct Point {
    pub key: String,
    pub val: Option<f64>,
    pub params: Assignment,
}

/// The loop's own best, and a better result adopted from the swarm (until a keep of ours
/// beats it).
#[derive(Default)]
pub(super) struct Climb {
    pub best: Option<(Record, Assignment)>,
    adopted: Option<Point>,
}

impl Climb {
    pub fn new(best: Option<(Record, Assignment)>) -> Self {
        Climb {
            best,
            adopted: None,
        }
    }

    /// The point to climb from: the local best, or the adopted one where it is better.
    pub fn point(&self, direction: Direction) -> Option<Point> {
        let ours = self.best.as_ref().map(|(r, a)| Point {
            key: r.id.clone(),
            val: r.val,
            params: a.clone(),
        });
        match (&self.adopted, ours) {
            (Some(theirs), Some(ours))
                if ours
                    .val
                    .is_none_or(|v| theirs.val.is_some_and(|t| direction.better(t, v))) =>
            {
                Some(theirs.clone())
            }
            (Some(theirs), None) => Some(theirs.clone()),
            (_, ours) => ours,
        }
    }

    /// Adopts `theirs` when it beats what the loop climbs from; true if it did.
    pub fn offer(&mut self, theirs: Point, direction: Direction) -> bool {
        let Some(v) = theirs.val.filter(|v| v.is_finite()) else {
            return false;
        };
        let ours = match &self.adopted {
            Some(a) => a.val,
            None => self.best.as_ref().and_then(|(r, _)| r.val),
        };
        if ours.is_none_or(|o| direction.better(v, o)) {
            self.adopted = Some(theirs);
            true
        } else {
            false
        }
    }

    /// A baseline or keep journalled: the new local best (it beat the adopted point too).
    pub fn kept(&mut self, record: &Record, params: &Assignment) {
        self.adopted = None;
        self.best = Some((record.clone(), params.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: Direction = Direction {
        higher_is_better: true,
    };

    fn record(id: &str, status: Status, val: Option<f64>) -> Record {
        Record {
            seq: 0,
            id: id.into(),
            run_id: "r".into(),
            domain: "d".into(),
            skill_name: "s".into(),
            skill_hash: "h".into(),
            evaluator_hash: "e".into(),
            params: serde_json::json!({}),
            seed: 1,
            parent: None,
            metric_name: "m".into(),
            direction: "higher".into(),
            val,
            test: val,
            metrics: serde_json::json!({}),
            status,
            reason: None,
            duration_ms: 1,
            peak_memory_bytes: 0,
            platform: String::new(),
            started_at: String::new(),
            finished_at: String::new(),
            data_hash: String::new(),
            domain_version: String::new(),
        }
    }

    fn ran(id: &str, step: Step, val: Option<f64>, point: Option<f64>, floor: f64) -> Ran {
        let (status, reason) = judge(step, val, point, floor, UP);
        let mut record = record(id, status, val);
        record.reason = reason;
        Ran {
            record,
            params: Assignment::new(),
            point,
        }
    }

    fn ids(commit: &[(Record, Assignment)]) -> Vec<(String, Status)> {
        commit
            .iter()
            .map(|(r, _)| (r.id.clone(), r.status))
            .collect()
    }

    #[test]
    fn baseline_then_noise_runs_then_proposals() {
        let (p, c) =
            Phase::Baseline.advance(ran("b", Step::Baseline, Some(0.5), None, 0.0), 2, 0.0, UP);
        assert_eq!(ids(&c), [("b".into(), Status::Baseline)]);
        assert!(matches!(p, Phase::Noise { left: 2 }));
        let (p, _) = p.advance(ran("n1", Step::Noise, Some(0.51), None, 0.0), 2, 0.0, UP);
        assert!(matches!(p, Phase::Noise { left: 1 }));
        let (p, c) = p.advance(ran("n2", Step::Noise, Some(0.49), None, 0.0), 2, 0.0, UP);
        assert_eq!(ids(&c), [("n2".into(), Status::Noise)]);
        assert!(matches!(p, Phase::Explore));
        // No noise runs, or a crashed baseline: straight to proposals.
        let (p, _) =
            Phase::Baseline.advance(ran("b", Step::Baseline, Some(0.5), None, 0.0), 0, 0.0, UP);
        assert!(matches!(p, Phase::Explore));
        let (p, c) = Phase::Baseline.advance(ran("b", Step::Baseline, None, None, 0.0), 2, 0.0, UP);
        assert_eq!(ids(&c), [("b".into(), Status::Crash)]);
        assert!(matches!(p, Phase::Explore));
    }

    #[test]
    fn a_new_best_above_the_floor_waits_for_its_confirmation_and_holds_or_not() {
        let floor = 0.01;
        // Better by less than the floor: discarded at once, with why.
        let (p, c) = Phase::Explore.advance(
            ran("p", Step::Proposal, Some(0.505), Some(0.5), floor),
            0,
            floor,
            UP,
        );
        assert!(matches!(p, Phase::Explore));
        assert_eq!(ids(&c), [("p".into(), Status::Discard)]);
        assert!(c[0]
            .0
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("noise floor")));
        // Better by more: nothing journalled until the confirmation run.
        let (p, c) = Phase::Explore.advance(
            ran("k", Step::Proposal, Some(0.6), Some(0.5), floor),
            0,
            floor,
            UP,
        );
        assert!(c.is_empty());
        assert!(matches!(&p, Phase::Confirm(c) if c.beaten == Some(0.5)));
        let held = p.clone().advance(
            ran("c", Step::Confirm, Some(0.58), None, floor),
            0,
            floor,
            UP,
        );
        assert_eq!(
            ids(&held.1),
            [("k".into(), Status::Keep), ("c".into(), Status::Confirm)]
        );
        assert_eq!(held.1[0].0.metrics["confirmation"]["id"], "c");
        let failed = p.clone().advance(
            ran("c", Step::Confirm, Some(0.505), None, floor),
            0,
            floor,
            UP,
        );
        assert_eq!(
            ids(&failed.1),
            [("k".into(), Status::Discard), ("c".into(), Status::Confirm)]
        );
        assert!(failed.1[0]
            .0
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("did not hold")));
        // The budget ends while it waits: unconfirmed.
        let left = p.unconfirmed().expect("candidate");
        assert_eq!(left.status, Status::Discard);
        assert!(Phase::Explore.unconfirmed().is_none());
    }

    #[test]
    fn the_climb_takes_a_better_adopted_point_until_a_keep_beats_it() {
        let mut climb = Climb::new(Some((
            record("mine", Status::Keep, Some(0.5)),
            Assignment::new(),
        )));
        let theirs = |v| Point {
            key: "peer/x".into(),
            val: Some(v),
            params: Assignment::new(),
        };
        assert!(!climb.offer(theirs(0.4), UP), "worse is not adopted");
        assert!(climb.offer(theirs(0.7), UP));
        assert_eq!(climb.point(UP).map(|p| p.key), Some("peer/x".into()));
        assert!(!climb.offer(theirs(0.6), UP), "worse than the adopted one");
        climb.kept(
            &record("mine2", Status::Keep, Some(0.8)),
            &Assignment::new(),
        );
        assert_eq!(climb.point(UP).map(|p| p.key), Some("mine2".into()));
        assert!(
            !climb.offer(
                Point {
                    val: None,
                    ..theirs(0.0)
                },
                UP
            ),
            "no value, nothing to adopt"
        );
    }
}
