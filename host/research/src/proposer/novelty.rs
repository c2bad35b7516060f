//! Hill-climbing that caps its share of proposals near the best.

use super::{Context, MixedProposer, Proposer};
use crate::params::Assignment;

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
    fn propose(&mut self, context: &Context) -> Assignment {
        let (space, best, tried) = (context.space, context.best, context.avoid);
        let mut candidate = self.inner.propose(context);
        let is_near = |c: &Assignment| space.distance(c, best) < self.near_radius;
        if is_near(&candidate)
            && f64::from(self.near + 1) / f64::from(self.total + 1) > self.max_near_share
        {
            let from: Vec<&Assignment> = tried.iter().chain(std::iter::once(best)).collect();
            candidate = super::farthest_point(&mut self.inner, space, &from);
        }
        self.total += 1;
        if is_near(&candidate) {
            self.near += 1;
        }
        candidate
    }
}
