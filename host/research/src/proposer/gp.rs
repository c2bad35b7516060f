//! A Bayesian-optimisation proposer: a Gaussian-process surrogate of the metric over the
//! declared space, and the candidate with the highest expected improvement over the best
//! result known (Jones et al. 1998; as SMAC's and BoTorch's defaults, with a GP as in
//! Snoek et al. 2012).
//!
//! Why it is the swarm's proposer: its progress is cumulative. Every result — this loop's
//! and, on a node, every result of the swarm it may learn from — narrows the model where it
//! lies, so N nodes fitting one model on one shared history behave as one optimiser with N
//! hands, where N hill-climbers that copy the leader now and then behave as N lotteries.
//! Points other nodes are running now enter the model at its own prediction ("kriging
//! believer", Ginsbourger et al. 2010): that shrinks the model's uncertainty where work is
//! in flight, so expected improvement there drops and a round of N nodes spreads over N
//! promising places instead of proposing one point N times.
//!
//! The model: per parameter a distance (a number's position in its range, log position
//! where declared, as [`Space::coordinates`]; 0 or 1 for choices and flags), a Matérn 5/2
//! kernel over those distances scaled by one length per parameter (automatic relevance
//! determination: a parameter that does not matter gets a long length and stops steering),
//! lengths and noise chosen by coordinate ascent of the marginal likelihood over a grid.
//!
//! Hand-written linear algebra (a Cholesky factorisation and triangular solves, below): the
//! systems have at most [`MAX_POINTS`] rows, and the workspace has no linear-algebra crate;
//! pulling one in (nalgebra, faer) would cost more build time than these sixty lines.
//!
//! Bounds on what comes from outside: at most [`MAX_POINTS`] results are modelled (the best
//! and the newest half each), crashes count as the worst result, non-finite values are
//! dropped, and the work per proposal is bounded by those sizes and the candidate counts.

use hyper_runtime::ParamKind;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{farthest_point, Context, MixedProposer, Proposer};
use crate::params::{Assignment, Coordinate, Coordinates, Space};

/// Most results a model is fitted on (fitting is cubic in them).
pub const MAX_POINTS: usize = 160;

/// Above this many parameters, one length for all of them instead of one each.
const MAX_RELEVANCE_DIMS: usize = 32;

/// Pairwise gaps held per fit (points² × parameters): bounds memory for wide spaces.
const MAX_GAPS: usize = 4_000_000;

/// Length scales tried per parameter (in units of its normalised range; a choice differs by 1).
const LENGTHS: [f64; 6] = [0.08, 0.15, 0.3, 0.6, 1.2, 4.0];
/// Noise variances tried (the metric standardised to variance 1).
const NOISES: [f64; 3] = [1e-4, 1e-2, 0.1];

pub struct GpProposer {
    rng: StdRng,
    seed: u64,
    /// Proposes before the model has `startup` distinct scored points, and explores.
    fallback: MixedProposer,
    /// Mutations of good results: the local candidates.
    climber: MixedProposer,
    /// Distinct scored points needed before the model proposes.
    pub startup: usize,
    /// Uniformly random candidates per proposal.
    pub random_candidates: usize,
    /// Mutations of each of the best few results per proposal.
    pub local_candidates: usize,
    /// Vary each parameter alone from the defaults first (a one-at-a-time screening design:
    /// as many experiments as parameters, which N nodes share out).
    pub screening: bool,
    /// Improvement over the best demanded by expected improvement (in the metric's sd).
    pub xi: f64,
    /// A second screening value for numbers that helped alone (see `screen_again`).
    pub screen_twice: bool,
}

impl GpProposer {
    pub fn new(seed: u64) -> Self {
        GpProposer {
            rng: StdRng::seed_from_u64(seed ^ 0x3c6e_f372_fe94_f82b),
            seed,
            fallback: MixedProposer::new(seed),
            climber: {
                let mut climber = MixedProposer::new(seed.wrapping_add(1));
                climber.random_share = 0.0;
                climber
            },
            startup: 3,
            random_candidates: 300,
            local_candidates: 60,
            xi: 0.0,
            screening: true,
            screen_twice: true,
        }
    }

    /// The candidates: random points and mutations of the best results, none tried,
    /// claimed or in the history.
    fn candidates(&mut self, context: &Context, ranked: &[&Assignment]) -> Vec<Assignment> {
        let space = context.space;
        let mut out = Vec::new();
        // Crossovers of good results: where two moves each helped, both together may help
        // more (the model judges).
        let top = &ranked[..ranked.len().min(5)];
        if top.len() > 1 {
            for _ in 0..self.local_candidates {
                let (i, j) = (
                    self.rng.random_range(0..top.len()),
                    self.rng.random_range(0..top.len()),
                );
                let child: Assignment = top[i]
                    .iter()
                    .map(|(k, v)| {
                        let other = top[j].get(k).filter(|_| self.rng.random::<bool>());
                        (k.clone(), other.unwrap_or(v).clone())
                    })
                    .collect();
                out.push(space.fix(child));
            }
        }
        for _ in 0..self.random_candidates {
            out.push(self.fallback.random_point(space));
        }
        for (i, base) in ranked.iter().take(5).enumerate() {
            // The incumbent gets the most neighbours: that is where improvement is likeliest.
            let n = if i == 0 {
                self.local_candidates * 3
            } else {
                self.local_candidates
            };
            for _ in 0..n {
                out.push(self.climber.propose(&Context::new(space, base, &[])));
            }
        }
        let known = |a: &Assignment| {
            context.avoid.contains(a)
                || context.pending.contains(a)
                || context.history.iter().any(|o| &o.params == a)
        };
        out.retain(|a| !known(a));
        out
    }
}

impl GpProposer {
    /// The defaults with the first parameter that no result, claim or point tried has
    /// varied alone changed to a random other value; None once every parameter has been.
    fn screen(&mut self, context: &Context, alone: &[Vec<&Assignment>]) -> Option<Assignment> {
        let space = context.space;
        let defaults = space.defaults();
        for index in self.screening_order(space) {
            if !alone[index].is_empty() {
                continue;
            }
            let spec = &space.specs[index];
            for _ in 0..8 {
                let value = self.fallback.random_value(&spec.kind);
                if Some(&value) != defaults.get(&spec.name) {
                    let mut a = defaults.clone();
                    a.insert(spec.name.clone(), value);
                    return Some(space.fix(a));
                }
            }
        }
        None
    }

    /// The screening design's second value: a number whose value alone beat the defaults
    /// is varied alone once more, to a value at least a quarter of its range from the first.
    /// One value shows that a parameter matters, not where: on cisi `prf_docs` alone gives
    /// 0.41 at 3 and 0.43 at 16. Nodes that share the screening each draw one value per
    /// parameter where isolated nodes each draw their own; this spends part of what sharing
    /// saves on a second draw where it can pay. At most one experiment per number, whatever
    /// peers report: a parameter with two points alone (tried, claimed or in flight) is done.
    fn screen_again(
        &mut self,
        context: &Context,
        alone: &[Vec<&Assignment>],
    ) -> Option<Assignment> {
        let space = context.space;
        let defaults = space.defaults();
        let sign = if context.higher_is_better { 1.0 } else { -1.0 };
        let value_of = |a: &Assignment| {
            context
                .history
                .iter()
                .find(|o| &o.params == a)
                .and_then(|o| o.val)
                .filter(|v| v.is_finite())
                .map(|v| sign * v)
        };
        let base = value_of(&defaults)?;
        for index in self.screening_order(space) {
            let spec = &space.specs[index];
            let [first] = alone[index][..] else {
                continue;
            };
            if value_of(first).is_none_or(|v| v <= base) {
                continue;
            }
            // Choices and flags have no position: their one other value is all there is.
            let position = |a: &Assignment| match space.coordinates(a).0.get(index) {
                Some(Coordinate::Number(x)) => Some(*x),
                _ => None,
            };
            let Some(x1) = position(first) else {
                continue;
            };
            for _ in 0..16 {
                let mut a = defaults.clone();
                a.insert(spec.name.clone(), self.fallback.random_value(&spec.kind));
                let a = space.fix(a);
                if position(&a).is_some_and(|x| (x - x1).abs() >= 0.25)
                    && a.get(&spec.name) != defaults.get(&spec.name)
                {
                    return Some(a);
                }
            }
        }
        None
    }

    /// The indices of the parameters to screen, in this node's (seeded) order. Each node
    /// screens in its own order: when claims travel slower than nodes start, nodes that
    /// cannot yet see each other's claims still rarely collide.
    fn screening_order(&self, space: &Space) -> Vec<usize> {
        let mut order: Vec<usize> = (0..space.specs.len()).collect();
        let mut shuffle = StdRng::seed_from_u64(self.seed);
        for i in (1..order.len()).rev() {
            order.swap(i, shuffle.random_range(0..=i));
        }
        order.retain(|&i| {
            let spec = &space.specs[i];
            varies(&spec.kind) && !space.pins.contains_key(&spec.name)
        });
        order
    }
}

/// Per parameter (by index), the distinct points of `seen` that are the defaults with that
/// parameter alone changed; at most two each, all the screening asks. One pass over `seen`,
/// which may hold thousands of peers' results, for both screening passes.
fn varied_alone<'a>(
    space: &Space,
    defaults: &Assignment,
    seen: &[&'a Assignment],
) -> Vec<Vec<&'a Assignment>> {
    let mut alone: Vec<Vec<&Assignment>> = vec![Vec::new(); space.specs.len()];
    for &a in seen {
        let mut changed = space
            .specs
            .iter()
            .enumerate()
            .filter(|(_, s)| a.get(&s.name) != defaults.get(&s.name))
            .map(|(i, _)| i);
        if let (Some(i), None) = (changed.next(), changed.next()) {
            if alone[i].len() < 2 && !alone[i].contains(&a) {
                alone[i].push(a);
            }
        }
    }
    alone
}

impl Proposer for GpProposer {
    fn propose(&mut self, context: &Context) -> Assignment {
        let space = context.space;
        if context.explore {
            return farthest_point(&mut self.fallback, space, &context.known());
        }
        if self.screening {
            // Both passes read which parameters were varied alone: one scan of the history.
            let alone = varied_alone(space, &space.defaults(), &context.known());
            if let Some(a) = self.screen(context, &alone) {
                return a;
            }
            if self.screen_twice {
                if let Some(a) = self.screen_again(context, &alone) {
                    return a;
                }
            }
        }
        let data = Data::from_context(context);
        if data.distinct_scored < self.startup {
            return self.fallback.propose(context);
        }
        let Some(model) = Model::fit(space, &data) else {
            return self.fallback.propose(context);
        };
        let ranked = data.ranked();
        let incumbent = data.best_y() + self.xi;
        let candidates = self.candidates(context, &ranked);
        let mut best: Option<(f64, Assignment)> = None;
        for c in candidates {
            let (mean, var) = model.predict(&space.coordinates(&c));
            let ei = expected_improvement(mean, var.max(0.0).sqrt(), incumbent);
            // Ties (EI underflows to 0 far from the data) go to the first, a random point.
            if best.as_ref().is_none_or(|(s, _)| ei > *s) {
                best = Some((ei, c));
            }
        }
        best.map_or_else(|| self.fallback.propose(context), |(_, a)| a)
    }
}

/// The results a model is fitted on: coordinates and the metric as a gain (higher is better),
/// with the points in flight apart (they get the model's own prediction).
struct Data<'c> {
    points: Vec<(&'c Assignment, Coordinates, f64)>,
    pending: Vec<Coordinates>,
    distinct_scored: usize,
}

impl<'c> Data<'c> {
    fn from_context(context: &Context<'c>) -> Self {
        let space = context.space;
        let sign = if context.higher_is_better { 1.0 } else { -1.0 };
        let mut scored: Vec<(&Assignment, f64)> = context
            .history
            .iter()
            .filter_map(|o| {
                o.val
                    .filter(|v| v.is_finite())
                    .map(|v| (&o.params, sign * v))
            })
            .collect();
        // Wide spaces model fewer points (see MAX_GAPS); pending and crashes are added below.
        let dims = space.specs.len().max(1);
        let cap = (((MAX_GAPS / dims) as f64).sqrt() as usize).clamp(16, MAX_POINTS);
        let cap = cap * 2 / 3;
        if scored.len() > cap {
            let newest = scored.split_off(scored.len() - cap / 2);
            scored.sort_by(|a, b| b.1.total_cmp(&a.1));
            scored.truncate(cap - cap / 2);
            scored.extend(newest);
        }
        let worst = scored.iter().map(|(_, g)| *g).fold(f64::INFINITY, f64::min);
        let mut distinct: Vec<&Assignment> = Vec::new();
        for (a, _) in &scored {
            if !distinct.contains(a) {
                distinct.push(a);
            }
        }
        let distinct_scored = distinct.len();
        let crashed = context
            .history
            .iter()
            .rev()
            .filter(|o| o.val.is_none())
            .take(cap / 4)
            .map(|o| (&o.params, worst));
        if worst.is_finite() {
            scored.extend(crashed);
        }
        let points = scored
            .into_iter()
            .map(|(a, g)| (a, space.coordinates(a), g))
            .collect();
        let pending = context
            .pending
            .iter()
            .take(cap / 4)
            .map(|p| space.coordinates(p))
            .collect();
        Data {
            points,
            pending,
            distinct_scored,
        }
    }

    /// Distinct points, best first.
    fn ranked(&self) -> Vec<&'c Assignment> {
        let mut by_gain: Vec<&(&Assignment, Coordinates, f64)> = self.points.iter().collect();
        by_gain.sort_by(|a, b| b.2.total_cmp(&a.2));
        let mut out: Vec<&Assignment> = Vec::new();
        for (a, _, _) in by_gain {
            if !out.contains(a) {
                out.push(a);
            }
        }
        out
    }

    /// The best gain, standardised as the model's.
    fn best_y(&self) -> f64 {
        let (mean, sd) = self.moments();
        let best = self
            .points
            .iter()
            .map(|p| p.2)
            .fold(f64::NEG_INFINITY, f64::max);
        (best - mean) / sd
    }

    fn moments(&self) -> (f64, f64) {
        let n = self.points.len().max(1) as f64;
        let mean = self.points.iter().map(|p| p.2).sum::<f64>() / n;
        let var = self
            .points
            .iter()
            .map(|p| (p.2 - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, if var > 1e-24 { var.sqrt() } else { 1.0 })
    }
}

/// A fitted Gaussian process: training points, the kernel's lengths, the factor of the
/// kernel matrix and the weights of the standardised targets.
struct Model {
    points: Vec<Coordinates>,
    /// The standardised targets.
    targets: Vec<f64>,
    lengths: Vec<f64>,
    factor: Cholesky,
    weights: Vec<f64>,
}

impl Model {
    /// Fits the lengths and noise on the scored points, then adds the points in flight at the
    /// model's prediction. None when no kernel matrix could be factored.
    fn fit(space: &Space, data: &Data) -> Option<Model> {
        let (mean, sd) = data.moments();
        let y: Vec<f64> = data.points.iter().map(|p| (p.2 - mean) / sd).collect();
        let x: Vec<Coordinates> = data.points.iter().map(|p| p.1.clone()).collect();
        let dims = space.specs.len();
        let diffs = Diffs::new(&x, dims);
        let mut lengths = vec![0.3; dims];
        let mut noise = 1e-2;
        let mut best = diffs.likelihood(&lengths, noise, &y)?;
        // Many parameters: one length for all (a grid search per parameter would cost
        // seconds a proposal).
        if dims > MAX_RELEVANCE_DIMS {
            for &l in &LENGTHS {
                let all = vec![l; dims];
                match diffs.likelihood(&all, noise, &y) {
                    Some(v) if v > best => (best, lengths) = (v, all),
                    _ => {}
                }
            }
        }
        // Coordinate ascent over the grid: each parameter's length in turn, then the noise.
        let sweeps = if dims <= MAX_RELEVANCE_DIMS { 2 } else { 0 };
        for _ in 0..sweeps {
            for d in 0..dims {
                if !varies(&space.specs[d].kind) {
                    continue;
                }
                for &l in &LENGTHS {
                    let old = lengths[d];
                    lengths[d] = l;
                    match diffs.likelihood(&lengths, noise, &y) {
                        Some(v) if v > best => best = v,
                        _ => lengths[d] = old,
                    }
                }
            }
            for &n in &NOISES {
                match diffs.likelihood(&lengths, n, &y) {
                    Some(v) if v > best => (best, noise) = (v, n),
                    _ => {}
                }
            }
        }
        let model = Model::with(x, y, lengths, noise)?;
        if data.pending.is_empty() {
            return Some(model);
        }
        // Kriging believer: the points in flight as if they scored what the model predicts.
        let mut x = model.points.clone();
        let mut y = model.targets.clone();
        for p in &data.pending {
            y.push(model.predict(p).0);
            x.push(p.clone());
        }
        Model::with(x, y, model.lengths, noise)
    }

    fn with(x: Vec<Coordinates>, y: Vec<f64>, lengths: Vec<f64>, noise: f64) -> Option<Model> {
        let n = x.len();
        let mut k = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = kernel(&x[i], &x[j], &lengths) + if i == j { noise } else { 0.0 };
                k[i * n + j] = v;
                k[j * n + i] = v;
            }
        }
        let factor = Cholesky::new(k, n)?;
        let weights = factor.solve(&y);
        Some(Model {
            points: x,
            targets: y,
            lengths,
            factor,
            weights,
        })
    }

    /// The posterior mean and variance at `x`.
    fn predict(&self, x: &Coordinates) -> (f64, f64) {
        let k: Vec<f64> = self
            .points
            .iter()
            .map(|p| kernel(x, p, &self.lengths))
            .collect();
        let mean = k.iter().zip(&self.weights).map(|(a, b)| a * b).sum();
        let v = self.factor.forward(&k);
        let var = 1.0 - v.iter().map(|x| x * x).sum::<f64>();
        (mean, var)
    }
}

/// Whether a parameter can take more than one value.
fn varies(kind: &ParamKind) -> bool {
    match kind {
        ParamKind::Int(r) => r.max > r.min,
        ParamKind::Float(r) => r.max > r.min,
        ParamKind::Choice(c) => c.options.len() > 1,
        ParamKind::Flag(_) => true,
    }
}

/// Per-parameter distance of two coordinates (numbers: difference of positions, at most 1;
/// choices and flags: 0 or 1).
fn gap(a: &Coordinate, b: &Coordinate) -> f64 {
    match (a, b) {
        (Coordinate::Number(x), Coordinate::Number(y)) => {
            let d = (x - y).abs();
            if d.is_finite() {
                d.min(1.0)
            } else {
                1.0
            }
        }
        (Coordinate::Other(x), Coordinate::Other(y)) if x == y => 0.0,
        _ => 1.0,
    }
}

/// Matérn 5/2 of the scaled distance, unit variance.
fn matern(r2: f64) -> f64 {
    let r = (5.0 * r2).sqrt();
    (1.0 + r + r * r / 3.0) * (-r).exp()
}

fn kernel(a: &Coordinates, b: &Coordinates, lengths: &[f64]) -> f64 {
    let r2: f64 =
        a.0.iter()
            .zip(&b.0)
            .zip(lengths)
            .map(|((x, y), l)| (gap(x, y) / l).powi(2))
            .sum();
    matern(r2)
}

/// Pairwise per-parameter gaps of the training points, computed once per fit.
struct Diffs {
    n: usize,
    dims: usize,
    /// `gaps[(i * n + j) * dims + d]`, squared.
    gaps: Vec<f64>,
}

impl Diffs {
    fn new(x: &[Coordinates], dims: usize) -> Self {
        let n = x.len();
        let mut gaps = vec![0.0; n * n * dims];
        for i in 0..n {
            for j in 0..i {
                for d in 0..dims {
                    let g = match (x[i].0.get(d), x[j].0.get(d)) {
                        (Some(a), Some(b)) => gap(a, b),
                        _ => 1.0,
                    };
                    gaps[(i * n + j) * dims + d] = g * g;
                    gaps[(j * n + i) * dims + d] = g * g;
                }
            }
        }
        Diffs { n, dims, gaps }
    }

    /// The log marginal likelihood of `y` (up to a constant), None if not factorable.
    fn likelihood(&self, lengths: &[f64], noise: f64, y: &[f64]) -> Option<f64> {
        let n = self.n;
        let inv: Vec<f64> = lengths.iter().map(|l| 1.0 / (l * l)).collect();
        let mut k = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = if i == j {
                    1.0 + noise
                } else {
                    let base = (i * n + j) * self.dims;
                    let r2: f64 = self.gaps[base..base + self.dims]
                        .iter()
                        .zip(&inv)
                        .map(|(g, w)| g * w)
                        .sum();
                    matern(r2)
                };
                k[i * n + j] = v;
                k[j * n + i] = v;
            }
        }
        let factor = Cholesky::new(k, n)?;
        let alpha = factor.solve(y);
        let fit: f64 = y.iter().zip(&alpha).map(|(a, b)| a * b).sum();
        let v = -0.5 * fit - factor.log_det_half();
        v.is_finite().then_some(v)
    }
}

/// The lower-triangular factor L of a symmetric positive-definite matrix (A = L·Lᵀ).
struct Cholesky {
    n: usize,
    l: Vec<f64>,
}

impl Cholesky {
    /// None when the matrix is not (numerically) positive definite.
    fn new(mut a: Vec<f64>, n: usize) -> Option<Self> {
        for j in 0..n {
            let mut d = a[j * n + j];
            for k in 0..j {
                d -= a[j * n + k] * a[j * n + k];
            }
            // Also refuses NaN (a comparison with NaN is false).
            if d.is_nan() || d <= 1e-12 {
                return None;
            }
            let d = d.sqrt();
            a[j * n + j] = d;
            for i in j + 1..n {
                let mut s = a[i * n + j];
                for k in 0..j {
                    s -= a[i * n + k] * a[j * n + k];
                }
                a[i * n + j] = s / d;
            }
        }
        Some(Cholesky { n, l: a })
    }

    /// Solves L·v = b.
    fn forward(&self, b: &[f64]) -> Vec<f64> {
        let n = self.n;
        let mut v = b.to_vec();
        for i in 0..n {
            let row = &self.l[i * n..i * n + i];
            let s = v[i] - row.iter().zip(&v[..i]).map(|(l, x)| l * x).sum::<f64>();
            v[i] = s / self.l[i * n + i];
        }
        v
    }

    /// Solves A·x = b.
    fn solve(&self, b: &[f64]) -> Vec<f64> {
        let n = self.n;
        let mut x = self.forward(b);
        for i in (0..n).rev() {
            let below: f64 = (i + 1..n).map(|k| self.l[k * n + i] * x[k]).sum();
            x[i] = (x[i] - below) / self.l[i * n + i];
        }
        x
    }

    /// ½ log det A = Σ log Lᵢᵢ.
    fn log_det_half(&self) -> f64 {
        (0..self.n).map(|i| self.l[i * self.n + i].ln()).sum()
    }
}

/// Expected improvement over `best` of a normal with this mean and sd.
fn expected_improvement(mean: f64, sd: f64, best: f64) -> f64 {
    let gain = mean - best;
    if sd < 1e-12 {
        return gain.max(0.0);
    }
    let z = gain / sd;
    let cdf = 0.5 * libm::erfc(-z / std::f64::consts::SQRT_2);
    let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    gain * cdf + sd * pdf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Value;
    use crate::proposer::bowl::loss;
    use crate::proposer::Observation;

    fn space() -> Space {
        use crate::params::specs::{choice, flag, float, int};
        Space::new(vec![
            float("x", -5.0, 5.0, 4.0),
            int("n", 0, 20, 20),
            choice("c", &["a", "b", "c"], "a"),
            flag("f", false),
        ])
        .unwrap()
    }

    /// `nodes` proposers sharing one history in rounds (each sees the points proposed before
    /// it in its round as in flight); the best loss after `rounds`.
    fn search(proposers: &mut [Box<dyn Proposer>], rounds: usize) -> (f64, Vec<Assignment>) {
        let space = space();
        let defaults = space.defaults();
        let mut history = vec![Observation {
            val: Some(loss(&defaults)),
            params: defaults.clone(),
        }];
        let mut proposed = Vec::new();
        for _ in 0..rounds {
            let mut pending: Vec<Assignment> = Vec::new();
            for p in proposers.iter_mut() {
                let mut context = Context::new(&space, &defaults, &[]);
                context.history = &history;
                context.pending = &pending;
                context.higher_is_better = false;
                let a = p.propose(&context);
                assert!(space.from_json(&Space::to_json(&a)).is_some(), "{a:?}");
                pending.push(a);
            }
            for a in pending {
                history.push(Observation {
                    val: Some(loss(&a)),
                    params: a.clone(),
                });
                proposed.push(a);
            }
        }
        let best = history
            .iter()
            .filter_map(|o| o.val)
            .fold(f64::INFINITY, f64::min);
        (best, proposed)
    }

    #[test]
    fn the_model_beats_hill_climbing_on_most_seeds() {
        let (mut wins, mut total_gp, mut total_mixed) = (0, 0.0, 0.0);
        for seed in 0..20 {
            let (g, _) = search(&mut [Box::new(GpProposer::new(seed))], 30);
            let (m, _) = search(&mut [Box::new(MixedProposer::new(seed))], 30);
            total_gp += g;
            total_mixed += m;
            wins += usize::from(g <= m);
        }
        assert!(
            wins >= 14,
            "gp better on {wins}/20 ({total_gp} vs {total_mixed})"
        );
        assert!(total_gp < total_mixed / 2.0, "{total_gp} vs {total_mixed}");
    }

    #[test]
    fn nodes_share_out_the_screening_and_then_propose_different_points() {
        let space = space();
        let defaults = space.defaults();
        // Four nodes, one round: each varies a different parameter alone.
        let mut nodes: Vec<Box<dyn Proposer>> = (0..4)
            .map(|s| Box::new(GpProposer::new(s)) as Box<dyn Proposer>)
            .collect();
        let (_, first) = search(&mut nodes, 1);
        let varied: Vec<Vec<&str>> = first
            .iter()
            .map(|a| {
                space
                    .specs
                    .iter()
                    .filter(|s| a.get(&s.name) != defaults.get(&s.name))
                    .map(|s| s.name.as_str())
                    .collect()
            })
            .collect();
        let mut names: Vec<&str> = varied.iter().map(|v| v[0]).collect();
        assert!(varied.iter().all(|v| v.len() == 1), "{varied:?}");
        names.sort();
        names.dedup();
        assert_eq!(
            names.len(),
            4,
            "two nodes screened the same parameter: {varied:?}"
        );
        // Later rounds: no point proposed twice, by any node.
        let (_, all) = search(&mut nodes, 6);
        for (i, a) in all.iter().enumerate() {
            assert!(!all[..i].contains(a), "proposed twice: {a:?}");
        }
    }

    fn alone_in<'a>(context: &Context<'a>) -> Vec<Vec<&'a Assignment>> {
        varied_alone(context.space, &context.space.defaults(), &context.known())
    }

    fn again(gp: &mut GpProposer, context: &Context) -> Option<Assignment> {
        gp.screen_again(context, &alone_in(context))
    }

    #[test]
    fn a_number_that_helped_alone_is_screened_once_more_far_from_its_first_value() {
        let space = space();
        let defaults = space.defaults();
        let with = |name: &str, v: Value| {
            let mut a = defaults.clone();
            a.insert(name.into(), v);
            a
        };
        // The first pass done: x helped alone (lower is better here), n made it worse, and
        // the choice and the flag are not numbers.
        let first_x = with("x", Value::Float(2.0));
        let scored = |a: &Assignment, val: f64| Observation {
            params: a.clone(),
            val: Some(val),
        };
        let mut history = vec![
            scored(&defaults, 10.0),
            scored(&first_x, 4.0),
            scored(&with("n", Value::Int(3)), 12.0),
            scored(&with("c", Value::Choice("b".into())), 9.0),
            scored(&with("f", Value::Flag(true)), 9.0),
        ];
        let position = |a: &Assignment| match space.coordinates(a).0[0] {
            Coordinate::Number(x) => x,
            ref other => panic!("{other:?}"),
        };
        for seed in 0..20 {
            let mut gp = GpProposer::new(seed);
            let mut context = Context::new(&space, &defaults, &[]);
            context.history = &history;
            context.higher_is_better = false;
            let again = again(&mut gp, &context).expect("a second value of x");
            let alone = varied_alone(&space, &defaults, &[&again]);
            assert_eq!(alone[0], [&again], "not x alone: {again:?}");
            assert!(
                (position(&again) - position(&first_x)).abs() >= 0.25,
                "{again:?} is near {first_x:?}"
            );
        }
        // Once x has its second value (scored, or in flight on another node), nothing more
        // is screened: n did not help, and choices and flags get one value.
        let mut second = defaults.clone();
        second.insert("x".into(), Value::Float(-3.0));
        for in_flight in [false, true] {
            let mut gp = GpProposer::new(7);
            let pending = [second.clone()];
            let mut done = history.clone();
            let mut context = Context::new(&space, &defaults, &[]);
            if in_flight {
                context.pending = &pending;
            } else {
                done.push(scored(&second, 3.0));
            }
            context.history = &done;
            context.higher_is_better = false;
            assert_eq!(again(&mut gp, &context), None, "in flight: {in_flight}");
        }
        // Peers flood points of x alone, all better than the defaults: x has its two points
        // and no more is screened (one more experiment per number at most, whatever peers
        // report); n and the choice, never varied twice, are not screened again either.
        let mut flood = history.clone();
        for i in 0..4000 {
            let x = with("x", Value::Float(-5.0 + f64::from(i) * 0.0025));
            flood.push(scored(&x, 1.0));
        }
        let mut context = Context::new(&space, &defaults, &[]);
        context.history = &flood;
        context.higher_is_better = false;
        assert_eq!(again(&mut GpProposer::new(3), &context), None);
        // Without the defaults' value there is nothing to compare with.
        history.remove(0);
        let mut context = Context::new(&space, &defaults, &[]);
        context.history = &history;
        assert_eq!(again(&mut GpProposer::new(1), &context), None);
    }

    #[test]
    fn a_point_in_flight_loses_its_uncertainty_in_the_model() {
        let space = space();
        let mut history = Vec::new();
        for i in 0..12 {
            let mut a = space.defaults();
            a.insert("x".into(), Value::Float(-5.0 + f64::from(i) * 0.8));
            history.push(Observation {
                val: Some(loss(&a)),
                params: a,
            });
        }
        let mut running = space.defaults();
        running.insert("x".into(), Value::Float(1.3));
        running.insert("c".into(), Value::Choice("b".into()));
        let best = space.defaults();
        let mut context = Context::new(&space, &best, &[]);
        context.history = &history;
        context.higher_is_better = false;
        let free = Model::fit(&space, &Data::from_context(&context)).unwrap();
        let pending = [running.clone()];
        context.pending = &pending;
        let busy = Model::fit(&space, &Data::from_context(&context)).unwrap();
        let at = space.coordinates(&running);
        let (_, before) = free.predict(&at);
        let (_, after) = busy.predict(&at);
        assert!(after < before / 5.0, "variance {after} vs {before}");
        let incumbent = Data::from_context(&context).best_y();
        let ei = |m: &Model| {
            let (mean, var) = m.predict(&at);
            expected_improvement(mean, var.max(0.0).sqrt(), incumbent)
        };
        assert!(
            ei(&busy) < ei(&free) / 2.0,
            "{} vs {}",
            ei(&busy),
            ei(&free)
        );
    }

    #[test]
    fn a_flood_of_results_is_bounded_and_keeps_the_best() {
        let space = space();
        let mut good = space.defaults();
        good.insert("x".into(), Value::Float(1.0));
        good.insert("n".into(), Value::Int(7));
        let mut history = vec![Observation {
            params: good.clone(),
            val: Some(0.0),
        }];
        // 5,000 results a node might hold, some not finite, some crashes.
        history.extend((0..5000).map(|i| {
            let mut a = space.defaults();
            a.insert("n".into(), Value::Int(i % 21));
            Observation {
                params: a,
                val: match i % 50 {
                    0 => None,
                    1 => Some(f64::NAN),
                    2 => Some(f64::INFINITY),
                    _ => Some(50.0 + i as f64),
                },
            }
        }));
        let pending = vec![space.defaults(); 500];
        let mut context = Context::new(&space, &good, &[]);
        context.history = &history;
        context.pending = &pending;
        context.higher_is_better = false;
        let data = Data::from_context(&context);
        assert!(data.points.len() + data.pending.len() <= MAX_POINTS);
        assert!(data.points.iter().all(|p| p.2.is_finite()));
        assert_eq!(data.ranked()[0], &good);
        let a = GpProposer::new(1).propose(&context);
        assert!(space.from_json(&Space::to_json(&a)).is_some());
    }

    #[test]
    fn claims_of_every_screening_point_only_skip_the_screening() {
        // A stranger claims every one-at-a-time point (and more, in several sizes): the
        // proposer moves on to the model and still proposes a new point in bounds.
        let space = space();
        let defaults = space.defaults();
        let history = vec![Observation {
            val: Some(loss(&defaults)),
            params: defaults.clone(),
        }];
        let mut random = MixedProposer::new(9);
        for extra in [0, 10, 1_000] {
            let mut claims: Vec<Assignment> = Vec::new();
            for spec in &space.specs {
                for _ in 0..4 {
                    let mut a = defaults.clone();
                    a.insert(spec.name.clone(), random.random_value(&spec.kind));
                    claims.push(a);
                }
            }
            claims.extend((0..extra).map(|_| random.random_point(&space)));
            let mut gp = GpProposer::new(2);
            // Every parameter has been varied alone by a claim: nothing left to screen.
            let mut context = Context::new(&space, &defaults, &[]);
            context.history = &history;
            context.pending = &claims;
            context.higher_is_better = false;
            assert!(
                claims.iter().any(|c| c != &defaults)
                    && gp.screen(&context, &alone_in(&context)).is_none(),
                "{extra} extra claims"
            );
            let a = gp.propose(&context);
            assert!(space.from_json(&Space::to_json(&a)).is_some(), "{a:?}");
            assert!(!claims.contains(&a) && a != defaults, "{a:?}");
        }
    }

    #[test]
    fn a_wide_space_models_fewer_points() {
        use crate::params::specs::float;
        let specs = (0..256)
            .map(|i| float(&format!("p{i}"), 0.0, 1.0, 0.5))
            .collect();
        let space = Space::new(specs).unwrap();
        let history: Vec<Observation> = (0..400)
            .map(|i| {
                let mut a = space.defaults();
                a.insert(
                    format!("p{}", i % 256),
                    Value::Float(f64::from(i % 7) / 7.0),
                );
                Observation {
                    params: a,
                    val: Some(f64::from(i % 13)),
                }
            })
            .collect();
        let best = space.defaults();
        let mut context = Context::new(&space, &best, &[]);
        context.history = &history;
        let data = Data::from_context(&context);
        // points² × parameters stays within the bound on pairwise gaps.
        assert!(
            data.points.len().pow(2) * 256 <= MAX_GAPS,
            "{}",
            data.points.len()
        );
        let mut p = GpProposer::new(3);
        p.screening = false;
        let a = p.propose(&context);
        assert!(space.from_json(&Space::to_json(&a)).is_some());
    }
}
