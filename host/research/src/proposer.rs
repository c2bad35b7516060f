//! Proposers choose the next parameters to try. Everything is seeded, so a run with the same
//! seed proposes the same sequence.

use hyper_runtime::ParamKind;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::params::{Assignment, Space, Value};

/// Rounds to 4 decimals so that journals stay readable; finer steps rarely matter.
fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

pub trait Proposer {
    /// The next assignment to try, given the current best and everything tried so far.
    fn propose(&mut self, space: &Space, best: &Assignment, tried: &[Assignment]) -> Assignment;
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
            ParamKind::Float(r) if r.log_scale => Value::Float(
                round4((self.rng.random_range(r.min.ln()..=r.max.ln())).exp()).clamp(r.min, r.max),
            ),
            ParamKind::Float(r) => Value::Float(if r.min == r.max {
                r.min
            } else {
                round4(self.rng.random_range(r.min..=r.max)).clamp(r.min, r.max)
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
                let span = (r.max - r.min) as f64;
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
                Value::Int((v + step).clamp(r.min, r.max))
            }
            (ParamKind::Float(r), Some(Value::Float(v))) if r.log_scale => {
                Value::Float(round4(v * (self.gaussian() * 0.5).exp()).clamp(r.min, r.max))
            }
            (ParamKind::Float(r), Some(Value::Float(v))) => {
                let x = v + self.gaussian() * (r.max - r.min) * 0.15;
                Value::Float(round4(x).clamp(r.min, r.max))
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
