//! What a loop on a node takes from other nodes instead of running it itself: the result of
//! the defaults (its baseline) and their repeats with other seeds (its noise floor).
//!
//! Why: N nodes started together would each run the same defaults first and then repeat
//! them `noise_runs` times; on one skill, evaluator and data set those N·(1 + noise_runs)
//! experiments measure the same thing. Of nodes that claim the defaults at once the first
//! runs them and their repeats; the others propose meanwhile and take its values, from nodes
//! they may learn from only (a stranger's score of the defaults changes nothing).

use std::time::{Duration, Instant};

use super::records::Direction;
use super::state::{Climb, Phase, Point};
use super::Run;
use crate::params::Space;
use crate::peers::{BaselineQuery, PeerBest, Peers};

/// How long a loop that left its baseline to another node waits, after its first proposal,
/// for that node's result: twice the proposal's own time, within these bounds. A node that
/// claimed the defaults and never reports costs one such wait, once.
pub(super) const BASELINE_WAIT_MIN: Duration = Duration::from_secs(2);
pub(super) const BASELINE_WAIT_MAX: Duration = Duration::from_secs(300);

/// Where the loop's reference point (its baseline) comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BaselineState {
    /// The loop runs (or ran) the defaults itself, or has no peers to share them with.
    Own,
    /// The loop claimed the defaults and runs them itself.
    Claimed,
    /// Another node claimed the defaults first: the loop proposes while it waits for that
    /// node's result.
    Awaiting,
    /// Another node's result of the defaults is the loop's reference.
    Taken,
    /// The node that claimed the defaults first did not report in time: the loop's first
    /// result is its reference, as after a crashed baseline.
    Missing,
}

/// Where the noise floor of a loop that took (or awaits) another node's baseline comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SharedNoise {
    /// Not shared: the loop repeats its own baseline, or has nothing more to take.
    Own,
    /// The loop proposes while the node that ran the defaults repeats them; at experiment
    /// `due` (that node's baseline and repeats take as many) it runs the repeats still missing
    /// itself.
    Waiting { due: u32 },
    /// The loop runs the missing repeats itself; repeats of others that arrive meanwhile
    /// count, and the loop stops as soon as it has enough.
    Running,
}

impl Run {
    /// With peers, before each experiment while the baseline is undecided or awaited: takes
    /// another node's result of the defaults as the reference, or — right after claiming the
    /// defaults — leaves them to a node that claimed them first. True when the loop moved on
    /// without running its baseline (nothing ran: the caller picks the next step).
    pub(super) fn share_baseline(
        &mut self,
        query: &BaselineQuery,
        space: &Space,
        peers: &mut dyn Peers,
        climb: &mut Climb,
        noise_runs: u32,
        direction: Direction,
    ) -> bool {
        match (self.baseline, &self.phase) {
            (BaselineState::Own, Phase::Baseline) => {}
            (BaselineState::Awaiting, _) => {
                if let Some(theirs) = peers.baseline_result(query) {
                    self.take_baseline(theirs, space, climb, direction);
                }
                return false;
            }
            _ => return false,
        }
        if let Some(theirs) = peers.baseline_result(query) {
            self.take_baseline(theirs, space, climb, direction);
        } else {
            peers.claim(query.domain, query.skill_hash, query.params);
            if !peers.baseline_claimed_first(query) {
                self.baseline = BaselineState::Claimed;
                return false;
            }
            match peers.baseline_result(query) {
                Some(theirs) => self.take_baseline(theirs, space, climb, direction),
                None => self.baseline = BaselineState::Awaiting,
            }
        }
        // The node that runs the defaults repeats them too: propose meanwhile, and take
        // its repeats as they arrive (see `share_noise`).
        self.phase = Phase::Explore;
        if noise_runs > 0 {
            self.shared_noise = SharedNoise::Waiting {
                due: self.index + noise_runs + 1,
            };
        }
        true
    }

    /// Another node's result of the defaults becomes the point the loop climbs from and
    /// judges against (until a keep of its own).
    fn take_baseline(
        &mut self,
        theirs: PeerBest,
        space: &Space,
        climb: &mut Climb,
        direction: Direction,
    ) {
        let point = Point {
            params: space
                .from_json(&theirs.params)
                .unwrap_or_else(|| space.defaults()),
            key: theirs.key.clone(),
            val: Some(theirs.val),
        };
        if climb.offer(point, direction) {
            self.summary.baseline_from = Some(theirs.key);
        }
        self.baseline = BaselineState::Taken;
    }

    /// After a proposal with nothing to judge it against, while another node runs the
    /// defaults: waits up to `wait` for that result (it is then the reference). Waits once:
    /// after that the proposal is judged against nothing, as after a crashed baseline.
    pub(super) fn await_baseline(
        &mut self,
        query: &BaselineQuery,
        wait: Duration,
        space: &Space,
        peers: &mut dyn Peers,
        climb: &mut Climb,
        direction: Direction,
    ) -> Option<f64> {
        if self.baseline != BaselineState::Awaiting {
            return None;
        }
        let t0 = Instant::now();
        loop {
            if let Some(theirs) = peers.baseline_result(query) {
                let val = theirs.val;
                self.take_baseline(theirs, space, climb, direction);
                return Some(val);
            }
            if t0.elapsed() >= wait {
                self.baseline = BaselineState::Missing;
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// With peers, before each experiment while the noise floor is shared: once the values
    /// of the defaults by nodes the loop may learn from, with its own repeats, are as many as
    /// it would have measured itself (its baseline and `noise_runs` repeats), their spread is
    /// the floor; if they are still short when they are due, it runs the missing repeats
    /// itself, once. Bounded: at most `noise_runs` repeats of its own, as without peers.
    pub(super) fn share_noise(
        &mut self,
        query: &BaselineQuery,
        peers: &mut dyn Peers,
        noise_runs: u32,
    ) {
        let due = match self.shared_noise {
            SharedNoise::Own => return,
            SharedNoise::Waiting { due } => Some(due),
            SharedNoise::Running => None,
        };
        let theirs = peers.baseline_repeats(query);
        let needed = noise_runs as usize + 1;
        let have = theirs.len() + self.noise.len();
        let repeating = matches!(self.phase, Phase::Noise { .. });
        if have >= needed || (due.is_none() && !repeating) {
            self.summary.noise_floor = self.noise.floor_with(&theirs);
            self.summary.noise_shared = theirs.len() as u32;
            self.shared_noise = SharedNoise::Own;
            if repeating {
                self.phase = Phase::Explore;
            }
        } else if due.is_some_and(|d| self.index >= d) && matches!(self.phase, Phase::Explore) {
            let left = (needed - have) as u32;
            self.phase = Phase::Noise { left };
            self.shared_noise = SharedNoise::Running;
        }
    }
}
