//! Proposers choose the next parameters to try. Each proposer is one file here and sees the
//! same [`Context`]: the space, the point to climb from, what not to repeat, every scored
//! result it may learn from (this loop's and, on a node, the swarm's) and the points other
//! nodes are running now. Everything is seeded, so a run with the same seed and the same
//! history proposes the same sequence.

use hyper_runtime::ParamKind;

use crate::params::{Assignment, Space, Value};

mod gp;
mod mixed;
mod novelty;
mod tpe;

pub use gp::GpProposer;
pub use mixed::MixedProposer;
pub use novelty::NoveltyProposer;
pub use tpe::TpeProposer;

/// Rounds to 4 decimals where that is representable (huge values are left as they are), so
/// that journals stay readable; finer steps rarely matter.
pub(crate) fn round4(x: f64) -> f64 {
    if x.abs() < 1e12 {
        (x * 1e4).round() / 1e4
    } else {
        x
    }
}

/// `x` clamped into `[min, max]`, with NaN (which `f64::clamp` passes through) taken to `at`.
pub(crate) fn within(x: f64, min: f64, max: f64, at: f64) -> f64 {
    if x.is_nan() {
        at.clamp(min, max)
    } else {
        x.clamp(min, max)
    }
}

/// One scored (or crashed) experiment a proposer may learn from.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub params: Assignment,
    /// The validation metric; None when the experiment crashed.
    pub val: Option<f64>,
}

/// What a proposer knows when it is asked for the next point.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub space: &'a Space,
    /// The point to climb from: the best known (this loop's or an adopted one), else the
    /// defaults.
    pub best: &'a Assignment,
    /// Points tried or claimed: exact repeats teach nothing.
    pub avoid: &'a [Assignment],
    /// Every result this proposer may learn from, oldest first.
    pub history: &'a [Observation],
    /// Points other nodes are running now (claimed, not yet scored).
    pub pending: &'a [Assignment],
    pub higher_is_better: bool,
    /// The swarm's proposals have collapsed onto one neighbourhood (see
    /// [`crate::diversity`]): propose away from what was tried.
    pub explore: bool,
}

impl<'a> Context<'a> {
    /// A context with nothing learnt yet (tests, and proposers that only hill-climb).
    pub fn new(space: &'a Space, best: &'a Assignment, avoid: &'a [Assignment]) -> Self {
        Context {
            space,
            best,
            avoid,
            history: &[],
            pending: &[],
            higher_is_better: true,
            explore: false,
        }
    }
}

impl<'a> Context<'a> {
    /// Every point this context knows of: learnt from, tried, claimed, in flight, and the
    /// point to climb from.
    pub fn known(&self) -> Vec<&'a Assignment> {
        self.history
            .iter()
            .map(|o| &o.params)
            .chain(self.avoid)
            .chain(self.pending)
            .chain(std::iter::once(self.best))
            .collect()
    }
}

pub trait Proposer {
    /// The next assignment to try.
    fn propose(&mut self, context: &Context) -> Assignment;
}

/// The random point of the space (best of 32 draws) farthest from everything in `from`:
/// where a proposer goes when told to explore.
pub(crate) fn farthest_point(
    random: &mut MixedProposer,
    space: &Space,
    from: &[&Assignment],
) -> Assignment {
    let nearest = |p: &Assignment| {
        from.iter()
            .map(|t| space.distance(p, t))
            .fold(f64::INFINITY, f64::min)
    };
    let mut chosen = random.random_point(space);
    let mut score = nearest(&chosen);
    for _ in 0..31 {
        let p = random.random_point(space);
        let d = nearest(&p);
        if d > score {
            (chosen, score) = (p, d);
        }
    }
    chosen
}

/// How much of the declared space a set of assignments has visited, in [0, 1]: per parameter,
/// the share of its cells seen (numbers: 5 equal bins, on a log scale where declared;
/// choices: each option; flags: both values), averaged over parameters. Pinned parameters
/// (one possible value) count as fully explored.
pub fn coverage(space: &Space, tried: &[Assignment]) -> f64 {
    if space.specs.is_empty() {
        return 1.0;
    }
    const BINS: usize = 5;
    let mut total = 0.0;
    for spec in &space.specs {
        let cell = |v: &Value| -> Option<usize> {
            match (&spec.kind, v) {
                (ParamKind::Int(r), Value::Int(x)) if r.max > r.min => Some(
                    ((crate::params::int_span(r.min, *x) / crate::params::int_span(r.min, r.max))
                        * BINS as f64) as usize,
                ),
                (ParamKind::Float(r), Value::Float(x)) if r.max > r.min => {
                    let t = if r.log_scale {
                        (x.ln() - r.min.ln()) / (r.max.ln() - r.min.ln())
                    } else {
                        crate::params::float_position(*x, r.min, r.max)
                    };
                    Some((t.clamp(0.0, 1.0) * BINS as f64) as usize)
                }
                (ParamKind::Choice(c), Value::Choice(x)) => c.options.iter().position(|o| o == x),
                (ParamKind::Flag(_), Value::Flag(b)) => Some(usize::from(*b)),
                _ => None,
            }
        };
        let cells = match &spec.kind {
            ParamKind::Int(r) if r.max > r.min => {
                BINS.min((crate::params::int_span(r.min, r.max) + 1.0).min(BINS as f64) as usize)
            }
            ParamKind::Float(r) if r.max > r.min => BINS,
            ParamKind::Choice(c) => c.options.len(),
            ParamKind::Flag(_) => 2,
            _ => {
                total += 1.0;
                continue;
            }
        };
        let mut seen = std::collections::HashSet::new();
        for a in tried {
            if let Some(c) = a.get(&spec.name).and_then(cell) {
                seen.insert(c.min(cells - 1));
            }
        }
        total += seen.len() as f64 / cells as f64;
    }
    total / space.specs.len() as f64
}

/// The synthetic objective the model-based proposers' tests minimise.
#[cfg(test)]
pub(crate) mod bowl {
    use crate::params::{Assignment, Value};

    /// Lower is better: x near 1, n near 7, choice `b`; anything else does not matter.
    pub fn loss(a: &Assignment) -> f64 {
        let (Some(Value::Float(x)), Some(Value::Int(n))) = (a.get("x"), a.get("n")) else {
            panic!("not a point of the bowl: {a:?}")
        };
        let c = if a.get("c") == Some(&Value::Choice("b".into())) {
            0.0
        } else {
            1.0
        };
        (x - 1.0).powi(2) + ((*n - 7) as f64 / 4.0).powi(2) + c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_runtime::{ParamKind, ParamSpec};

    fn space() -> Space {
        use crate::params::specs::{choice, flag, float, int};
        Space::new(vec![
            float("k1", 0.1, 3.0, 1.2),
            int("n", 0, 20, 0),
            choice("stem", &["a", "b"], "a"),
            flag("f", false),
        ])
        .unwrap()
    }

    #[test]
    fn proposals_stay_in_bounds_and_are_seeded() {
        let space = space();
        let best = space.defaults();
        let run = |seed| {
            let mut p = MixedProposer::new(seed);
            let mut tried = vec![best.clone()];
            for _ in 0..200 {
                let next = p.propose(&Context::new(&space, &best, &tried));
                assert!(
                    space.from_json(&Space::to_json(&next)).is_some(),
                    "out of bounds: {next:?}"
                );
                tried.push(next);
            }
            tried
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn the_novelty_proposer_caps_its_share_near_the_best_and_explores_more() {
        let space = space();
        let best = space.defaults();
        let near = |a: &Assignment| space.distance(a, &best) < 0.1;
        let mut mixed = MixedProposer::new(3);
        let mut novel = NoveltyProposer::new(3);
        novel.max_near_share = 0.2;
        let (mut tried_m, mut tried_n) = (vec![best.clone()], vec![best.clone()]);
        for _ in 0..100 {
            let m = mixed.propose(&Context::new(&space, &best, &tried_m));
            tried_m.push(m);
            let n = novel.propose(&Context::new(&space, &best, &tried_n));
            assert!(
                space.from_json(&Space::to_json(&n)).is_some(),
                "out of bounds: {n:?}"
            );
            tried_n.push(n);
        }
        let share = |t: &[Assignment]| t[1..].iter().filter(|a| near(a)).count() as f64 / 100.0;
        // Hill-climbing one parameter at a time often stays near the best; novelty never more
        // than its cap.
        assert!(share(&tried_m) > 0.3, "mixed {}", share(&tried_m));
        assert!(share(&tried_n) <= 0.21, "novelty {}", share(&tried_n));
        assert!((novel.near_share() - share(&tried_n)).abs() < 1e-9);
        let (cm, cn) = (coverage(&space, &tried_m), coverage(&space, &tried_n));
        assert!(cn >= cm && cn > 0.9, "coverage mixed {cm} novelty {cn}");
        assert_eq!(
            coverage(&space, std::slice::from_ref(&best)),
            (0.2 + 0.2 + 0.5 + 0.5) / 4.0
        );
    }

    #[test]
    fn invalid_spaces_are_refused() {
        use hyper_runtime::bindings::v0_1_0::types::IntRange;
        let bad = vec![ParamSpec {
            name: "x".into(),
            description: String::new(),
            kind: ParamKind::Int(IntRange {
                min: 5,
                max: 1,
                default: 3,
            }),
        }];
        assert!(Space::new(bad).is_err());
    }
}
