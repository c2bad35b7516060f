//! Choosing the next parameters: an open hypothesis not yet tried, else the proposer's point,
//! asked with everything the loop may learn from — its own results and (on a node) the
//! swarm's for the same skill and evaluator — and the swarm's diversity signal; a point
//! another node has claimed (exactly or nearly) or one inside a dead end is drawn again.

use std::collections::HashSet;

use crate::diversity::{Diversity, DiversityPolicy};
use crate::params::{Assignment, Space};
use crate::peers::Peers;
use crate::proposer::{Context, Observation, Proposer};

/// Redraws of a proposal inside a dead end before it is taken anyway ("proposed less", not
/// "never": the signal is only as good as the results behind it).
const DEAD_END_REDRAWS: u32 = 3;
/// Redraws of a proposal near another node's claim.
const CLAIM_REDRAWS: u32 = 20;

/// Which results the loop shares and learns with.
pub(super) struct Scope<'a> {
    pub domain: &'a str,
    pub skill_hash: &'a str,
    pub evaluator_hash: &'a str,
    pub higher_is_better: bool,
    pub near_duplicate: f64,
}

/// What choosing the parameters counted, for the summary.
#[derive(Default)]
pub(super) struct Counts {
    pub from_hypotheses: u32,
    pub skipped_claimed: u32,
    pub avoided_dead_ends: u32,
    /// Proposals made while the swarm's diversity had collapsed (the proposer explored).
    pub explored: u32,
    /// The most results of others a proposal learnt from.
    pub shared_observations: usize,
}

pub(super) struct Proposals {
    pub proposer: Box<dyn Proposer>,
    pub policy: DiversityPolicy,
    /// Points this loop tried (also those of resumed runs).
    pub tried: Vec<Assignment>,
    /// This loop's results (and resumed ones), oldest first, with when they finished (ms
    /// since the Unix epoch).
    pub own: Vec<(u64, Observation)>,
    heeded: HashSet<String>,
    pub diversity: Option<Diversity>,
    pub counts: Counts,
}

impl Proposals {
    pub fn new(proposer: Box<dyn Proposer>) -> Self {
        Proposals {
            proposer,
            policy: DiversityPolicy::default(),
            tried: Vec::new(),
            own: Vec::new(),
            heeded: HashSet::new(),
            diversity: None,
            counts: Counts::default(),
        }
    }

    pub fn next(
        &mut self,
        scope: &Scope,
        space: &Space,
        base: &Assignment,
        peers: &mut dyn Peers,
    ) -> Assignment {
        if let Some(h) = self.hypothesis(scope, space, base, peers) {
            self.counts.from_hypotheses += 1;
            return h;
        }
        let claimed: Vec<Assignment> = peers
            .claimed(scope.domain, scope.skill_hash)
            .iter()
            .filter_map(|p| space.from_json(p))
            .collect();
        let (history, shared) = self.history(scope, space, peers);
        let diversity = Diversity::measure(space, &history, scope.higher_is_better, &self.policy);
        peers.report(scope.domain, &diversity);
        // The signal steers only a loop that learns with others: alone, a loop searches as
        // its proposer does (and `hyper run` stays what it was).
        let steer = shared > 0;
        let explore = steer && diversity.collapsed;
        if explore {
            self.counts.explored += 1;
        }
        let mut avoid: Vec<Assignment> = self.tried.iter().chain(&claimed).cloned().collect();
        let mut dead_end_redraws = 0;
        let mut params = self.ask(space, base, &avoid, &history, &claimed, explore, scope);
        for _ in 0..CLAIM_REDRAWS + DEAD_END_REDRAWS {
            let near_claim = claimed
                .iter()
                .any(|c| space.distance(c, &params) < scope.near_duplicate);
            let dead = steer
                && dead_end_redraws < DEAD_END_REDRAWS
                && diversity.in_dead_end(space, &params, &self.policy);
            if !near_claim && !dead {
                break;
            }
            if near_claim {
                self.counts.skipped_claimed += 1;
            } else {
                dead_end_redraws += 1;
                self.counts.avoided_dead_ends += 1;
            }
            avoid.push(params);
            params = self.ask(space, base, &avoid, &history, &claimed, explore, scope);
        }
        self.diversity = Some(diversity);
        params
    }

    #[allow(clippy::too_many_arguments)]
    fn ask(
        &mut self,
        space: &Space,
        best: &Assignment,
        avoid: &[Assignment],
        history: &[Observation],
        pending: &[Assignment],
        explore: bool,
        scope: &Scope,
    ) -> Assignment {
        self.proposer.propose(&Context {
            space,
            best,
            avoid,
            history,
            pending,
            higher_is_better: scope.higher_is_better,
            explore,
        })
    }

    /// The oldest open hypothesis not yet heeded that makes a new point of this space.
    fn hypothesis(
        &mut self,
        scope: &Scope,
        space: &Space,
        base: &Assignment,
        peers: &mut dyn Peers,
    ) -> Option<Assignment> {
        for h in peers.hypotheses(scope.domain) {
            if !self.heeded.insert(h.key.clone()) {
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
                Some(a) if !self.tried.contains(&a) => return Some(a),
                _ => {}
            }
        }
        None
    }

    /// Own results and the swarm's, in the order they finished, and how many are the swarm's.
    fn history(
        &mut self,
        scope: &Scope,
        space: &Space,
        peers: &mut dyn Peers,
    ) -> (Vec<Observation>, usize) {
        let shared: Vec<(u64, Observation)> = peers
            .observations(scope.domain, scope.skill_hash, scope.evaluator_hash)
            .into_iter()
            .filter_map(|o| {
                let params = space.from_json(&o.params)?;
                Some((
                    o.finished_ms,
                    Observation {
                        params,
                        val: o.val.filter(|v| v.is_finite()),
                    },
                ))
            })
            .collect();
        self.counts.shared_observations = self.counts.shared_observations.max(shared.len());
        let mut all: Vec<&(u64, Observation)> = self.own.iter().chain(&shared).collect();
        // Stable: own results keep their order among equal timestamps.
        all.sort_by_key(|(at, _)| *at);
        let history = all.into_iter().map(|(_, o)| o.clone()).collect();
        (history, shared.len())
    }
}
