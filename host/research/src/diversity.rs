//! The swarm's diversity signal and its negative results, measured on the results a loop
//! knows (on a node: the swarm's for the same skill and evaluator, plus its own).
//!
//! - **coverage**: the share of the declared space visited ([`crate::proposer::coverage`]);
//! - **entropy**: how evenly results spread over those cells (1 = evenly, 0 = one cell);
//! - **concentration**: the share of the most recent proposals within a small distance of
//!   the leader. Many nodes copying the leader is one search done many times ("237 agents
//!   converging on the same hypothesis is 1 agent with 237× compute"); when the share passes
//!   [`DiversityPolicy::collapse_at`] the signal is *collapsed* and loops explore (propose
//!   away from everything tried) until it recovers;
//! - **dead ends**: regions tried many times without gain — at least
//!   [`DiversityPolicy::dead_end_tries`] results within [`DiversityPolicy::dead_end_radius`] of
//!   each other, none of which improved on the best known before it, and the leader not among
//!   them. Loops propose less there.
//!
//! "Gain" is judged from the results' order and values, not from the status a peer wrote.

use hyper_runtime::ParamKind;

use crate::params::{Assignment, Space, Value};
use crate::proposer::{coverage, Observation};

#[derive(Clone, Debug, PartialEq)]
pub struct DiversityPolicy {
    /// Normalised distance (0–1) under which a proposal counts as "near" the leader.
    pub near: f64,
    /// How many of the most recent results the concentration is measured over.
    pub recent: usize,
    /// Concentration at or above which the signal is collapsed.
    pub collapse_at: f64,
    /// Fewest recent results before the signal can collapse.
    pub min_recent: usize,
    pub dead_end_radius: f64,
    pub dead_end_tries: usize,
    /// Most results examined for dead ends (the newest): the search is quadratic in them.
    pub dead_end_window: usize,
}

impl Default for DiversityPolicy {
    fn default() -> Self {
        DiversityPolicy {
            near: 0.1,
            recent: 16,
            collapse_at: 0.85,
            min_recent: 8,
            dead_end_radius: 0.12,
            dead_end_tries: 5,
            dead_end_window: 300,
        }
    }
}

/// A region tried many times without gain.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DeadEnd {
    /// The result with the most fruitless neighbours.
    pub center: serde_json::Value,
    /// Results within the radius, none of which was a gain.
    pub tries: usize,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Diversity {
    /// Results the signal was measured on.
    pub results: usize,
    pub coverage: f64,
    pub entropy: f64,
    pub concentration: f64,
    pub collapsed: bool,
    pub dead_ends: Vec<DeadEnd>,
    /// Results inside dead ends.
    pub dead_end_results: usize,
    /// The policy's threshold, reported with the signal.
    pub collapse_at: f64,
}

impl Diversity {
    /// The signal over `history` (oldest first); `higher_is_better` orders the metric.
    pub fn measure(
        space: &Space,
        history: &[Observation],
        higher_is_better: bool,
        policy: &DiversityPolicy,
    ) -> Diversity {
        let points: Vec<Assignment> = history.iter().map(|o| o.params.clone()).collect();
        let gains = gains(history, higher_is_better);
        let leader = leader(history, higher_is_better);
        let recent = &history[history.len().saturating_sub(policy.recent)..];
        let concentration = match &leader {
            Some(l) if !recent.is_empty() => {
                let near = recent
                    .iter()
                    .filter(|o| space.distance(&o.params, l) < policy.near)
                    .count();
                near as f64 / recent.len() as f64
            }
            _ => 0.0,
        };
        let dead_ends = dead_ends(space, history, &gains, leader.as_ref(), policy);
        Diversity {
            results: history.len(),
            coverage: coverage(space, &points),
            entropy: entropy(space, &points),
            concentration,
            collapsed: recent.len() >= policy.min_recent && concentration >= policy.collapse_at,
            dead_end_results: dead_ends.iter().map(|d| d.1).sum(),
            dead_ends: dead_ends
                .into_iter()
                .map(|(center, tries)| DeadEnd {
                    center: Space::to_json(&center),
                    tries,
                })
                .collect(),
            collapse_at: policy.collapse_at,
        }
    }

    /// Whether `point` lies in one of the dead ends.
    pub fn in_dead_end(&self, space: &Space, point: &Assignment, policy: &DiversityPolicy) -> bool {
        self.dead_ends.iter().any(|d| {
            space
                .from_json(&d.center)
                .is_some_and(|c| space.distance(&c, point) < policy.dead_end_radius)
        })
    }
}

/// Whether each result improved on the best of everything before it.
fn gains(history: &[Observation], higher_is_better: bool) -> Vec<bool> {
    let mut best: Option<f64> = None;
    history
        .iter()
        .map(|o| match o.val.filter(|v| v.is_finite()) {
            Some(v) if best.is_none_or(|b| if higher_is_better { v > b } else { v < b }) => {
                best = Some(v);
                true
            }
            _ => false,
        })
        .collect()
}

fn leader(history: &[Observation], higher_is_better: bool) -> Option<Assignment> {
    history
        .iter()
        .filter_map(|o| o.val.filter(|v| v.is_finite()).map(|v| (v, &o.params)))
        .max_by(|a, b| {
            let order = a.0.total_cmp(&b.0);
            if higher_is_better {
                order
            } else {
                order.reverse()
            }
        })
        .map(|(_, p)| p.clone())
}

/// Greedy: the fruitless result with the most fruitless neighbours (and no gain among them)
/// becomes a dead end, its neighbours are taken out, repeat.
fn dead_ends(
    space: &Space,
    history: &[Observation],
    gains: &[bool],
    leader: Option<&Assignment>,
    policy: &DiversityPolicy,
) -> Vec<(Assignment, usize)> {
    let start = history.len().saturating_sub(policy.dead_end_window);
    let window: Vec<(&Assignment, bool)> = history[start..]
        .iter()
        .zip(&gains[start..])
        .map(|(o, g)| (&o.params, *g))
        .collect();
    // Neighbour lists once (the search below only takes members out), on coordinates: the
    // window's pairwise distances are the cost of this signal.
    let coords: Vec<_> = window.iter().map(|(p, _)| space.coordinates(p)).collect();
    let neighbours: Vec<Vec<usize>> = coords
        .iter()
        .map(|c| {
            (0..coords.len())
                .filter(|&j| c.distance(&coords[j]) < policy.dead_end_radius)
                .collect()
        })
        .collect();
    let mut taken = vec![false; window.len()];
    let mut found = Vec::new();
    loop {
        let mut best: Option<(usize, Vec<usize>)> = None;
        for (i, (p, gain)) in window.iter().enumerate() {
            let near_leader = leader.is_some_and(|l| space.distance(p, l) < policy.dead_end_radius);
            if taken[i] || *gain || near_leader {
                continue;
            }
            let near: Vec<usize> = neighbours[i]
                .iter()
                .copied()
                .filter(|&j| !taken[j])
                .collect();
            if near.iter().any(|&j| window[j].1) {
                continue;
            }
            let most = best.as_ref().map_or(0, |(_, b)| b.len());
            if near.len() >= policy.dead_end_tries && near.len() > most {
                best = Some((i, near));
            }
        }
        let Some((center, members)) = best else {
            break;
        };
        for &j in &members {
            taken[j] = true;
        }
        found.push((window[center].0.clone(), members.len()));
    }
    found
}

/// Per parameter, the entropy of the results over its coverage cells divided by the most it
/// could be; averaged over the parameters that can vary.
fn entropy(space: &Space, points: &[Assignment]) -> f64 {
    let mut total = 0.0;
    let mut counted = 0;
    for spec in &space.specs {
        let cells = match &spec.kind {
            ParamKind::Int(r) if r.max > r.min => {
                5usize.min((crate::params::int_span(r.min, r.max) + 1.0) as usize)
            }
            ParamKind::Float(r) if r.max > r.min => 5,
            ParamKind::Choice(c) if c.options.len() > 1 => c.options.len(),
            ParamKind::Flag(_) => 2,
            _ => continue,
        };
        let mut counts = vec![0usize; cells];
        for p in points {
            if let Some(c) = p.get(&spec.name).and_then(|v| cell(&spec.kind, v, cells)) {
                counts[c] += 1;
            }
        }
        let n: usize = counts.iter().sum();
        counted += 1;
        if n == 0 {
            continue;
        }
        let h: f64 = counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / n as f64;
                -p * p.ln()
            })
            .sum();
        total += h / (cells as f64).ln();
    }
    if counted == 0 {
        0.0
    } else {
        total / counted as f64
    }
}

fn cell(kind: &ParamKind, v: &Value, cells: usize) -> Option<usize> {
    let t = match (kind, v) {
        (ParamKind::Int(r), Value::Int(x)) => {
            crate::params::int_span(r.min, *x) / (crate::params::int_span(r.min, r.max) + 1.0)
        }
        (ParamKind::Float(r), Value::Float(x)) if r.log_scale => {
            (x.ln() - r.min.ln()) / (r.max.ln() - r.min.ln())
        }
        (ParamKind::Float(r), Value::Float(x)) => crate::params::float_position(*x, r.min, r.max),
        (ParamKind::Choice(c), Value::Choice(x)) => return c.options.iter().position(|o| o == x),
        (ParamKind::Flag(_), Value::Flag(b)) => return Some(usize::from(*b)),
        _ => return None,
    };
    t.is_finite()
        .then(|| ((t.clamp(0.0, 1.0) * cells as f64) as usize).min(cells - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> Space {
        use crate::params::specs::float;
        Space::new(vec![float("a", 0.0, 1.0, 0.5), float("b", 0.0, 1.0, 0.5)]).unwrap()
    }

    fn at(a: f64, b: f64, val: f64) -> Observation {
        let mut p = Assignment::new();
        p.insert("a".into(), Value::Float(a));
        p.insert("b".into(), Value::Float(b));
        Observation {
            params: p,
            val: Some(val),
        }
    }

    #[test]
    fn copies_of_the_leader_collapse_the_signal_and_spread_results_do_not() {
        let space = space();
        let policy = DiversityPolicy::default();
        let mut copied = vec![at(0.1, 0.9, 0.2), at(0.9, 0.1, 0.3), at(0.5, 0.5, 0.9)];
        copied.extend((0..12).map(|i| at(0.5 + i as f64 * 0.002, 0.5, 0.8)));
        let d = Diversity::measure(&space, &copied, true, &policy);
        assert!(d.collapsed && d.concentration > 0.8, "{d:?}");
        let spread: Vec<Observation> = (0..15)
            .map(|i| {
                at(
                    (i as f64 * 0.37) % 1.0,
                    (i as f64 * 0.61) % 1.0,
                    i as f64 * 0.01,
                )
            })
            .collect();
        let s = Diversity::measure(&space, &spread, true, &policy);
        assert!(!s.collapsed && s.concentration < 0.3, "{s:?}");
        assert!(
            s.coverage > d.coverage && s.entropy > d.entropy,
            "{s:?} vs {d:?}"
        );
    }

    #[test]
    fn a_region_tried_often_without_gain_is_a_dead_end_and_one_with_a_gain_is_not() {
        let space = space();
        let policy = DiversityPolicy::default();
        let mut h = vec![at(0.5, 0.5, 0.5)];
        h.extend((0..6).map(|i| at(0.1 + i as f64 * 0.01, 0.1, 0.2)));
        let d = Diversity::measure(&space, &h, true, &policy);
        assert_eq!(d.dead_ends.len(), 1, "{d:?}");
        assert_eq!(d.dead_end_results, 6);
        assert!(d.in_dead_end(&space, &h[3].params, &policy));
        assert!(!d.in_dead_end(&space, &h[0].params, &policy));
        // One of them improved on the best before it: not a dead end.
        let mut g = h.clone();
        g.push(at(0.12, 0.1, 0.6));
        assert!(Diversity::measure(&space, &g, true, &policy)
            .dead_ends
            .is_empty());
        // Too few tries.
        assert!(Diversity::measure(&space, &h[..4], true, &policy)
            .dead_ends
            .is_empty());
    }
}
