//! A model-based proposer: the Tree-structured Parzen Estimator (Bergstra et al., NeurIPS
//! 2011), independent per parameter as in Optuna's and Hyperopt's default samplers, mixed
//! with hill-climbing from the best result known. The density estimators come from the `tpe`
//! crate (by the author of kurobako); this file maps our spaces onto them, draws candidates
//! from the good density and takes the one with the highest good/bad likelihood ratio.
//!
//! What makes it a swarm's proposer:
//!
//! - it learns from the whole [`Context::history`] — on a node, the swarm's results for the
//!   same skill and evaluator that it may learn from, not only this loop's — so N nodes fit
//!   one model, and every node climbs from the best result any of them found;
//! - points other nodes are running now enter the model as if they had scored as badly as
//!   the worst result so far (the "constant liar", pessimistic variant), which pushes this
//!   node's model draws away from work already in flight: N nodes act as one asynchronous
//!   parallel optimiser instead of N copies of the same search;
//! - crashed experiments count as the worst result too, so regions that crash are left;
//! - regions tried many times without gain sit in the bad density and are drawn less.
//!
//! Why the mixture: on its own, TPE's draws (whose good density has a wide bandwidth when few
//! results are good) explore too widely for budgets of a few dozen experiments — on the
//! bowl of this file's tests it lost to plain hill-climbing (5.5 vs 2.4 summed loss over 20
//! seeds, 40 experiments each). Three quarters hill-climbing from the incumbent and a quarter
//! model draws (in place of `mixed`'s uniformly random jumps) won (1.4 vs 2.4).
//!
//! Numbers are modelled on a [0, 1) position (log position for log-scale floats), which keeps
//! the arithmetic finite for any declared range; choices and flags with a histogram.

use hyper_runtime::ParamKind;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tpe::density_estimation::{BuildDensityEstimator, DefaultEstimator, DensityEstimator};

use super::{farthest_point, round4, within, Context, MixedProposer, Proposer};
use crate::params::{int_span, Assignment, Space, Value};

/// Most results the model is fitted on: the best and the most recent half each (a board can
/// hold far more, and fitting is linear in them per candidate).
const MAX_TRIALS: usize = 2000;

/// Mutations of the incumbent weighed against the points in flight per local proposal.
const LOCAL_CANDIDATES: usize = 8;

pub struct TpeProposer {
    rng: StdRng,
    /// Proposes until the model has `startup` scored results, draws the local candidates,
    /// and explores where it is told to.
    fallback: MixedProposer,
    /// Hill-climbing from the incumbent without random jumps: the model's draws are the jumps.
    climber: MixedProposer,
    /// Scored results needed before the model proposes (Optuna's `n_startup_trials`).
    pub startup: usize,
    /// Candidates drawn from the good density, and mutations of good results, per proposal;
    /// the one with the highest good/bad likelihood ratio is taken.
    pub candidates: usize,
    /// Share of proposals that are mutations of good results rather than draws.
    pub local_share: f64,
}

/// One parameter's good and bad densities.
struct Densities {
    good: DefaultEstimator,
    bad: DefaultEstimator,
}

impl TpeProposer {
    pub fn new(seed: u64) -> Self {
        TpeProposer {
            rng: StdRng::seed_from_u64(seed ^ 0x7a3e_5d1c_0b9f_2468),
            fallback: MixedProposer::new(seed),
            climber: {
                let mut climber = MixedProposer::new(seed.wrapping_add(1));
                climber.random_share = 0.0;
                climber
            },
            startup: 6,
            candidates: 16,
            local_share: 0.75,
        }
    }

    /// Each known point with its loss (lower is better), best first: scored results, then
    /// crashes and pending claims at the worst loss seen; and how many were scored.
    fn trials<'c>(context: &Context<'c>) -> (Vec<(&'c Assignment, f64)>, usize) {
        let sign = if context.higher_is_better { -1.0 } else { 1.0 };
        let mut scored: Vec<(&Assignment, f64)> = context
            .history
            .iter()
            .filter_map(|o| {
                o.val
                    .filter(|v| v.is_finite())
                    .map(|v| (&o.params, sign * v))
            })
            .collect();
        if scored.len() > MAX_TRIALS {
            let newest = scored.split_off(scored.len() - MAX_TRIALS / 2);
            scored.sort_by(|a, b| a.1.total_cmp(&b.1));
            scored.truncate(MAX_TRIALS / 2);
            scored.extend(newest);
        }
        scored.sort_by(|a, b| a.1.total_cmp(&b.1));
        let n_scored = scored.len();
        let worst = scored.last().map(|(_, l)| *l).unwrap_or(0.0);
        let crashed = context.history.iter().filter(|o| o.val.is_none());
        scored.extend(crashed.map(|o| (&o.params, worst)));
        scored.extend(context.pending.iter().map(|p| (p, worst)));
        (scored, n_scored)
    }

    /// The good and bad densities of each parameter that can vary: the good ones fitted on
    /// the best `gamma` of the trials (Optuna's default: 10 %, at most 25), the bad on the
    /// rest.
    fn densities(space: &Space, trials: &[(&Assignment, f64)]) -> Vec<Option<Densities>> {
        let n_good = (trials.len() as f64 * 0.1).ceil().clamp(1.0, 25.0) as usize;
        let (good, bad) = trials.split_at(n_good.min(trials.len()));
        space
            .specs
            .iter()
            .map(|spec| {
                let (range, builder) = model_range(&spec.kind)?;
                let at = |set: &[(&Assignment, f64)]| -> Vec<f64> {
                    set.iter()
                        .filter_map(|(a, _)| {
                            a.get(&spec.name).and_then(|v| position(&spec.kind, v))
                        })
                        .collect()
                };
                let (g, b) = (at(good), at(bad));
                Some(Densities {
                    good: builder
                        .build_density_estimator(g.iter().copied(), range)
                        .ok()?,
                    bad: builder
                        .build_density_estimator(b.iter().copied(), range)
                        .ok()?,
                })
            })
            .collect()
    }

    /// log l(x) − log g(x) summed over the parameters (independent TPE's acquisition).
    fn acquisition(space: &Space, densities: &[Option<Densities>], a: &Assignment) -> f64 {
        space
            .specs
            .iter()
            .zip(densities)
            .filter_map(|(spec, d)| {
                let d = d.as_ref()?;
                let x = a.get(&spec.name).and_then(|v| position(&spec.kind, v))?;
                Some(d.good.log_pdf(x) - d.bad.log_pdf(x))
            })
            .filter(|r| r.is_finite())
            .sum()
    }

    /// A point drawn from the good densities, parameter by parameter.
    fn draw(
        &mut self,
        space: &Space,
        densities: &[Option<Densities>],
        base: &Assignment,
    ) -> Assignment {
        let mut out = base.clone();
        for (spec, d) in space.specs.iter().zip(densities) {
            if let Some(d) = d {
                let x = d.good.sample(&mut self.rng);
                out.insert(spec.name.clone(), value_at(&spec.kind, x));
            }
        }
        space.fix(out)
    }

    /// A mutation of `base`. With other nodes running points now (all of them climbing from
    /// the same incumbent, most likely), the one of [`LOCAL_CANDIDATES`] mutations farthest
    /// from those points (local penalisation): the round explores as many directions as
    /// there are nodes instead of one several times.
    fn climb(&mut self, context: &Context, base: &Assignment) -> Assignment {
        let local = Context {
            best: base,
            ..*context
        };
        if context.pending.is_empty() {
            return self.climber.propose(&local);
        }
        let space = context.space;
        let running: Vec<_> = context
            .pending
            .iter()
            .map(|p| space.coordinates(p))
            .collect();
        let mut best: Option<(f64, Assignment)> = None;
        for _ in 0..LOCAL_CANDIDATES {
            let candidate = self.climber.propose(&local);
            let at = space.coordinates(&candidate);
            let nearest = running
                .iter()
                .map(|r| r.distance(&at))
                .fold(f64::INFINITY, f64::min);
            if best.as_ref().is_none_or(|(d, _)| nearest > *d) {
                best = Some((nearest, candidate));
            }
        }
        best.map_or_else(|| self.climber.propose(&local), |(_, a)| a)
    }

    /// The best result known (its own or, on a node, the swarm's): what mutations climb from.
    fn incumbent<'t>(trials: &[(&'t Assignment, f64)], scored: usize) -> Option<&'t Assignment> {
        trials[..scored].first().map(|(a, _)| *a)
    }
}

impl Proposer for TpeProposer {
    fn propose(&mut self, context: &Context) -> Assignment {
        let space = context.space;
        if context.explore {
            return farthest_point(&mut self.fallback, space, &context.known());
        }
        let (trials, scored) = Self::trials(context);
        if scored < self.startup {
            return self.fallback.propose(context);
        }
        // Most proposals climb from the incumbent (TPE's own draws explore too widely for
        // budgets of a few dozen experiments); the rest are TPE's draws from the good
        // densities, ranked by the model.
        if self.rng.random::<f64>() < self.local_share {
            let base = Self::incumbent(&trials, scored)
                .unwrap_or(context.best)
                .clone();
            return self.climb(context, &base);
        }
        let densities = Self::densities(space, &trials);
        let mut best: Option<(f64, Assignment)> = None;
        for _ in 0..self.candidates.max(1) {
            let candidate = self.draw(space, &densities, context.best);
            if context.avoid.contains(&candidate) || context.pending.contains(&candidate) {
                continue;
            }
            let score = Self::acquisition(space, &densities, &candidate);
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, candidate));
            }
        }
        match best {
            Some((_, a)) => a,
            None => self.fallback.propose(context),
        }
    }
}

/// The model's range and estimator for a parameter; None when it has one possible value.
fn model_range(
    kind: &ParamKind,
) -> Option<(
    tpe::range::Range,
    tpe::density_estimation::DefaultEstimatorBuilder,
)> {
    let numeric = || {
        tpe::range(0.0, 1.0)
            .ok()
            .map(|r| (r, tpe::parzen_estimator()))
    };
    let categorical = |n: usize| {
        tpe::categorical_range(n)
            .ok()
            .map(|r| (r, tpe::histogram_estimator()))
    };
    match kind {
        ParamKind::Int(r) if r.max > r.min => numeric(),
        ParamKind::Float(r) if r.max > r.min => numeric(),
        ParamKind::Choice(c) if c.options.len() > 1 => categorical(c.options.len()),
        ParamKind::Flag(_) => categorical(2),
        _ => None,
    }
}

/// Just below 1: the model's ranges are half-open.
const TOP: f64 = 1.0 - 1e-9;

/// Where a value lies in the model's range: [0, 1) for numbers, the index for choices.
fn position(kind: &ParamKind, v: &Value) -> Option<f64> {
    let x = match (kind, v) {
        // Cell centres: integer `k` covers [k, k + 1) of the span.
        (ParamKind::Int(r), Value::Int(x)) => {
            (int_span(r.min, *x) + 0.5) / (int_span(r.min, r.max) + 1.0)
        }
        (ParamKind::Float(r), Value::Float(x)) if r.log_scale => {
            (x.ln() - r.min.ln()) / (r.max.ln() - r.min.ln())
        }
        (ParamKind::Float(r), Value::Float(x)) => crate::params::float_position(*x, r.min, r.max),
        (ParamKind::Choice(c), Value::Choice(x)) => {
            return c.options.iter().position(|o| o == x).map(|i| i as f64)
        }
        (ParamKind::Flag(_), Value::Flag(b)) => return Some(f64::from(u8::from(*b))),
        _ => return None,
    };
    x.is_finite().then(|| x.clamp(0.0, TOP))
}

/// The value at a position of the model's range (inverse of [`position`]).
fn value_at(kind: &ParamKind, x: f64) -> Value {
    let t = x.clamp(0.0, TOP);
    match kind {
        ParamKind::Int(r) => {
            let cells = int_span(r.min, r.max) + 1.0;
            // `as` saturates; the addition is done in i128 so no range overflows.
            let offset = (t * cells).floor() as i128;
            let v = (i128::from(r.min) + offset).clamp(i128::from(r.min), i128::from(r.max));
            Value::Int(v as i64)
        }
        ParamKind::Float(r) if r.log_scale => Value::Float(within(
            round4((r.min.ln() + t * (r.max.ln() - r.min.ln())).exp()),
            r.min,
            r.max,
            r.default,
        )),
        ParamKind::Float(r) => {
            // On halves: `max - min` overflows for ranges as wide as ±f64::MAX.
            let v = (r.min / 2.0 + t * (r.max / 2.0 - r.min / 2.0)) * 2.0;
            Value::Float(within(round4(v), r.min, r.max, r.default))
        }
        // Categorical positions are indices, not [0, 1) positions.
        ParamKind::Choice(c) => {
            let i = (x.max(0.0) as usize).min(c.options.len().saturating_sub(1));
            Value::Choice(
                c.options
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| c.default.clone()),
            )
        }
        ParamKind::Flag(_) => Value::Flag(x >= 0.5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposer::bowl::loss;
    use crate::proposer::Observation;
    use hyper_runtime::bindings::v0_1_0::types::{ChoiceSet, FloatRange, IntRange};

    fn space() -> Space {
        use crate::params::specs::{choice, float, int};
        Space::new(vec![
            float("x", -5.0, 5.0, 4.0),
            int("n", 0, 20, 20),
            choice("c", &["a", "b", "c"], "a"),
        ])
        .unwrap()
    }

    fn run(proposer: &mut dyn Proposer, budget: usize) -> f64 {
        let space = space();
        let mut history: Vec<Observation> = vec![];
        let mut best = space.defaults();
        let mut best_loss = loss(&best);
        let mut tried = vec![best.clone()];
        for _ in 0..budget {
            let mut context = Context::new(&space, &best, &tried);
            context.history = &history;
            context.higher_is_better = false;
            let a = proposer.propose(&context);
            assert!(
                space.from_json(&Space::to_json(&a)).is_some(),
                "out of bounds: {a:?}"
            );
            let l = loss(&a);
            history.push(Observation {
                params: a.clone(),
                val: Some(l),
            });
            tried.push(a.clone());
            if l < best_loss {
                (best, best_loss) = (a, l);
            }
        }
        best_loss
    }

    #[test]
    fn the_model_finds_a_better_minimum_than_hill_climbing_on_most_seeds() {
        let (mut tpe_wins, mut total_tpe, mut total_mixed) = (0, 0.0, 0.0);
        for seed in 0..20 {
            let t = run(&mut TpeProposer::new(seed), 40);
            let m = run(&mut MixedProposer::new(seed), 40);
            total_tpe += t;
            total_mixed += m;
            if t <= m {
                tpe_wins += 1;
            }
        }
        assert!(
            tpe_wins >= 12,
            "tpe better on {tpe_wins}/20 seeds ({total_tpe} vs {total_mixed})"
        );
        assert!(total_tpe < total_mixed, "{total_tpe} vs {total_mixed}");
    }

    #[test]
    fn points_in_flight_push_the_next_proposal_away_and_crashes_count_as_bad() {
        let space = space();
        let best = space.defaults();
        // Twenty results around x = 1 (good), a dozen at x = -4 (bad).
        let at = |x: f64, n: i64| -> Assignment {
            let mut a = space.defaults();
            a.insert("x".into(), Value::Float(x));
            a.insert("n".into(), Value::Int(n));
            a
        };
        let mut history: Vec<Observation> = (0..20)
            .map(|i| {
                let a = at(1.0 + (i as f64 - 10.0) * 0.05, 7);
                Observation {
                    val: Some(loss(&a)),
                    params: a,
                }
            })
            .collect();
        history.extend((0..12).map(|i| {
            let a = at(-4.0 + i as f64 * 0.01, 15);
            Observation {
                val: Some(loss(&a)),
                params: a,
            }
        }));
        // Pure model draws (no hill-climbing): where do they land?
        let draws = |pending: &[Assignment], history: &[Observation]| -> Vec<f64> {
            let mut p = TpeProposer {
                local_share: 0.0,
                ..TpeProposer::new(1)
            };
            (0..200)
                .map(|_| {
                    let mut context = Context::new(&space, &best, &[]);
                    context.history = history;
                    context.pending = pending;
                    context.higher_is_better = false;
                    match p.propose(&context).get("x") {
                        Some(Value::Float(x)) => *x,
                        other => panic!("{other:?}"),
                    }
                })
                .collect()
        };
        let share = |xs: &[f64], lo: f64, hi: f64| {
            xs.iter().filter(|x| (lo..=hi).contains(*x)).count() as f64 / xs.len() as f64
        };
        let free = draws(&[], &history);
        // Uniform draws would put 40 % within 2 of x = 1 and 12 % near x = -4.
        assert!(
            share(&free, -1.0, 3.0) > 0.6,
            "the model should favour the good region"
        );
        assert!(
            share(&free, -5.0, -3.4) < 0.05,
            "the model should avoid the bad region"
        );
        // Other nodes are running forty points where this node's draws went most: fewer of
        // its draws land there now.
        let mut sorted = free.clone();
        sorted.sort_by(f64::total_cmp);
        let m = sorted[sorted.len() / 2];
        let pending: Vec<Assignment> = (0..40).map(|i| at(m - 0.2 + i as f64 * 0.01, 7)).collect();
        let crowded = draws(&pending, &history);
        let (before, during) = (
            share(&free, m - 0.2, m + 0.2),
            share(&crowded, m - 0.2, m + 0.2),
        );
        assert!(
            during < before / 2.0,
            "claims in flight did not spread proposals: {during} vs {before}"
        );
        // The same points as crashes instead of claims: also left.
        let mut crashed = history.clone();
        crashed.extend(pending.iter().map(|a| Observation {
            params: a.clone(),
            val: None,
        }));
        let after = share(&draws(&[], &crashed), m - 0.2, m + 0.2);
        assert!(after < before / 2.0, "{after} vs {before}");
    }

    #[test]
    fn a_flood_of_results_keeps_the_best_in_the_model() {
        let space = space();
        let best_point = {
            let mut a = space.defaults();
            a.insert("x".into(), Value::Float(1.0));
            a
        };
        // One excellent early result, then 5,000 poor ones (a long run, or a flood).
        let mut history = vec![Observation {
            params: best_point.clone(),
            val: Some(0.0),
        }];
        history.extend((0..5000).map(|i| Observation {
            params: space.defaults(),
            val: Some(50.0 + f64::from(i)),
        }));
        let pending = vec![space.defaults(); 3];
        let mut context = Context::new(&space, &best_point, &[]);
        context.history = &history;
        context.pending = &pending;
        context.higher_is_better = false;
        let (trials, scored) = TpeProposer::trials(&context);
        assert_eq!(scored, MAX_TRIALS);
        assert_eq!(trials.len(), MAX_TRIALS + pending.len());
        assert_eq!(TpeProposer::incumbent(&trials, scored), Some(&best_point));
    }

    #[test]
    fn positions_round_trip_and_extreme_ranges_stay_finite() {
        let choice = ParamKind::Choice(ChoiceSet {
            options: vec!["a".into(), "b".into(), "c".into()],
            default: "a".into(),
        });
        for o in ["a", "b", "c"] {
            let x = position(&choice, &Value::Choice(o.into())).unwrap();
            assert_eq!(value_at(&choice, x), Value::Choice(o.into()));
        }
        for b in [false, true] {
            let x = position(&ParamKind::Flag(false), &Value::Flag(b)).unwrap();
            assert_eq!(value_at(&ParamKind::Flag(false), x), Value::Flag(b));
        }
        let wide = ParamKind::Float(FloatRange {
            min: -f64::MAX,
            max: f64::MAX,
            default: 0.0,
            log_scale: false,
        });
        let ints = ParamKind::Int(IntRange {
            min: i64::MIN,
            max: i64::MAX,
            default: 0,
        });
        for t in [0.0, 0.25, 0.5, 0.999_999, 1.0] {
            let Value::Float(v) = value_at(&wide, t) else {
                panic!()
            };
            assert!(v.is_finite());
            let Value::Int(_) = value_at(&ints, t) else {
                panic!()
            };
        }
        let small = ParamKind::Int(IntRange {
            min: 1,
            max: 40,
            default: 10,
        });
        for k in 1..=40 {
            let x = position(&small, &Value::Int(k)).unwrap();
            assert_eq!(value_at(&small, x), Value::Int(k));
        }
    }
}
