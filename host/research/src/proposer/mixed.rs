//! The default proposer of `hyper run`: seeded hill-climbing from the best with random jumps.

use hyper_runtime::ParamKind;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{round4, within, Context, Proposer};
use crate::params::{Assignment, Space, Value};

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

    pub(crate) fn random_value(&mut self, kind: &ParamKind) -> Value {
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
    fn propose(&mut self, context: &Context) -> Assignment {
        let (space, best, tried) = (context.space, context.best, context.avoid);
        if context.explore {
            let from: Vec<&Assignment> = tried.iter().chain(std::iter::once(best)).collect();
            return super::farthest_point(self, space, &from);
        }
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
