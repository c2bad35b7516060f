//! Proposers choose the next parameters to try. Everything is seeded, so a run with the same
//! seed proposes the same sequence.

use hyper_runtime::ParamKind;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::params::{Assignment, Space, Value};

/// Rounds to 4 decimals so that journals stay readable; finer steps rarely matter.
/// Rounds to 4 decimals where that is representable (huge values are left as they are).
fn round4(x: f64) -> f64 {
    if x.abs() < 1e12 {
        (x * 1e4).round() / 1e4
    } else {
        x
    }
}

/// `x` clamped into `[min, max]`, with NaN (which `f64::clamp` passes through) taken to `at`.
fn within(x: f64, min: f64, max: f64, at: f64) -> f64 {
    if x.is_nan() {
        at.clamp(min, max)
    } else {
        x.clamp(min, max)
    }
}

pub trait Proposer {
    /// The next assignment to try, given the current best and everything tried so far.
    fn propose(&mut self, space: &Space, best: &Assignment, tried: &[Assignment]) -> Assignment;

    /// What an experiment scored (None: it crashed); proposers that learn from the history
    /// keep it.
    fn observe(&mut self, _params: &Assignment, _metric: Option<f64>) {}
}

/// Hill-climbing from the best (mutating one or two parameters) most of the time, and a
/// uniformly random point of the space otherwise, so that the search does not get stuck.
pub struct MixedProposer {
    rng: StdRng,
    /// Share of proposals drawn uniformly at random.
    pub random_share: f64,
}

impl MixedProposer {
    pub fn new(seed: u64) -> Self {
        MixedProposer {
            rng: StdRng::seed_from_u64(seed),
            random_share: 0.25,
        }
    }

    fn gaussian(&mut self) -> f64 {
        // Box-Muller: two uniforms in (0, 1] give one standard normal.
        let u1: f64 = 1.0 - self.rng.random::<f64>();
        let u2: f64 = self.rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn random_value(&mut self, kind: &ParamKind) -> Value {
        match kind {
            ParamKind::Int(r) => Value::Int(self.rng.random_range(r.min..=r.max)),
            ParamKind::Float(r) if r.log_scale && r.min < r.max => Value::Float(within(
                round4((self.rng.random_range(r.min.ln()..=r.max.ln())).exp()),
                r.min,
                r.max,
                r.default,
            )),
            ParamKind::Float(r) => Value::Float(if r.min >= r.max {
                r.min
            } else {
                // On halves: `max - min` overflows for ranges as wide as ±f64::MAX.
                let t: f64 = self.rng.random();
                let x = r.min / 2.0 + t * (r.max / 2.0 - r.min / 2.0);
                within(round4(x * 2.0), r.min, r.max, r.default)
            }),
            ParamKind::Choice(c) => {
                Value::Choice(c.options[self.rng.random_range(0..c.options.len())].clone())
            }
            ParamKind::Flag(_) => Value::Flag(self.rng.random()),
        }
    }

    fn mutate(&mut self, kind: &ParamKind, current: Option<&Value>) -> Value {
        match (kind, current) {
            (ParamKind::Int(r), Some(Value::Int(v))) => {
                let span = crate::params::int_span(r.min, r.max);
                // `as` saturates, and the sum below saturates too: no overflow at the ends.
                let step = (self.gaussian() * (span * 0.15).max(1.0)).round() as i64;
                let step = if step == 0 {
                    if self.rng.random() {
                        1
                    } else {
                        -1
                    }
                } else {
                    step
                };
                Value::Int(v.saturating_add(step).clamp(r.min, r.max))
            }
            (ParamKind::Float(r), Some(Value::Float(v))) if r.log_scale => Value::Float(within(
                round4(v * (self.gaussian() * 0.5).exp()),
                r.min,
                r.max,
                *v,
            )),
            (ParamKind::Float(r), Some(Value::Float(v))) => {
                let half_span = r.max / 2.0 - r.min / 2.0;
                let x = v + self.gaussian() * half_span * 0.3;
                Value::Float(within(round4(x), r.min, r.max, *v))
            }
            (ParamKind::Choice(c), Some(Value::Choice(v))) if c.options.len() > 1 => {
                let others: Vec<&String> = c.options.iter().filter(|o| *o != v).collect();
                Value::Choice(others[self.rng.random_range(0..others.len())].clone())
            }
            (ParamKind::Flag(_), Some(Value::Flag(b))) => Value::Flag(!b),
            (kind, _) => self.random_value(kind),
        }
    }

    fn candidate(&mut self, space: &Space, best: &Assignment) -> Assignment {
        if space.specs.is_empty() {
            return best.clone();
        }
        if self.rng.random::<f64>() < self.random_share {
            return space
                .specs
                .iter()
                .map(|s| (s.name.clone(), self.random_value(&s.kind)))
                .collect();
        }
        let mut next = best.clone();
        let changes = if space.specs.len() > 1 && self.rng.random::<f64>() < 0.3 {
            2
        } else {
            1
        };
        for _ in 0..changes {
            let spec = &space.specs[self.rng.random_range(0..space.specs.len())];
            let value = self.mutate(&spec.kind, best.get(&spec.name));
            next.insert(spec.name.clone(), value);
        }
        next
    }
}

impl Proposer for MixedProposer {
    fn propose(&mut self, space: &Space, best: &Assignment, tried: &[Assignment]) -> Assignment {
        // Avoid repeating an exact assignment (the skills are deterministic per seed, and a
        // repeat teaches nothing); after a few attempts accept whatever comes.
        let mut candidate = self.candidate(space, best);
        for _ in 0..32 {
            if !tried.contains(&candidate) {
                break;
            }
            candidate = self.candidate(space, best);
        }
        candidate
    }
}

impl MixedProposer {
    /// A uniformly random point of the space.
    pub fn random_point(&mut self, space: &Space) -> Assignment {
        space
            .specs
            .iter()
            .map(|s| (s.name.clone(), self.random_value(&s.kind)))
            .collect()
    }
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

/// Hill-climbing like [`MixedProposer`], but it counts how many of its proposals land near
/// the current best (normalised distance below `near_radius`) and never lets that share
/// exceed `max_near_share`: past it, the next proposal is the random point farthest from
/// everything tried (best of 32 draws). This keeps a search from collapsing onto one
/// neighbourhood of the space.
pub struct NoveltyProposer {
    inner: MixedProposer,
    pub near_radius: f64,
    pub max_near_share: f64,
    near: u32,
    total: u32,
}

impl NoveltyProposer {
    pub fn new(seed: u64) -> Self {
        NoveltyProposer {
            inner: MixedProposer::new(seed),
            near_radius: 0.1,
            max_near_share: 0.5,
            near: 0,
            total: 0,
        }
    }

    /// Share of this proposer's proposals so far that landed near the best of their time.
    pub fn near_share(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            f64::from(self.near) / f64::from(self.total)
        }
    }
}

impl Proposer for NoveltyProposer {
    fn propose(&mut self, space: &Space, best: &Assignment, tried: &[Assignment]) -> Assignment {
        let mut candidate = self.inner.propose(space, best, tried);
        let is_near = |c: &Assignment| space.distance(c, best) < self.near_radius;
        if is_near(&candidate)
            && f64::from(self.near + 1) / f64::from(self.total + 1) > self.max_near_share
        {
            let farthest = |p: &Assignment| {
                tried
                    .iter()
                    .chain(std::iter::once(best))
                    .map(|t| space.distance(p, t))
                    .fold(f64::INFINITY, f64::min)
            };
            let mut chosen = self.inner.random_point(space);
            let mut score = farthest(&chosen);
            for _ in 0..31 {
                let p = self.inner.random_point(space);
                let d = farthest(&p);
                if d > score {
                    (chosen, score) = (p, d);
                }
            }
            candidate = chosen;
        }
        self.total += 1;
        if is_near(&candidate) {
            self.near += 1;
        }
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_runtime::{ParamKind, ParamSpec};

    fn space() -> Space {
        use hyper_runtime::bindings::v0_1_0::types::{ChoiceSet, FloatRange, IntRange};
        Space::new(vec![
            ParamSpec {
                name: "k1".into(),
                description: String::new(),
                kind: ParamKind::Float(FloatRange {
                    min: 0.1,
                    max: 3.0,
                    default: 1.2,
                    log_scale: false,
                }),
            },
            ParamSpec {
                name: "n".into(),
                description: String::new(),
                kind: ParamKind::Int(IntRange {
                    min: 0,
                    max: 20,
                    default: 0,
                }),
            },
            ParamSpec {
                name: "stem".into(),
                description: String::new(),
                kind: ParamKind::Choice(ChoiceSet {
                    options: vec!["a".into(), "b".into()],
                    default: "a".into(),
                }),
            },
            ParamSpec {
                name: "f".into(),
                description: String::new(),
                kind: ParamKind::Flag(false),
            },
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
                let next = p.propose(&space, &best, &tried);
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
            let m = mixed.propose(&space, &best, &tried_m);
            tried_m.push(m);
            let n = novel.propose(&space, &best, &tried_n);
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
