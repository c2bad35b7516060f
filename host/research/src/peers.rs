//! What a research loop shares with, and learns from, other nodes. The loop only sees this
//! trait: plain `hyper run` uses [`Solo`] (no peers, nothing changes), `hyper node` connects
//! it to the swarm. Every method has a do-nothing default, so a loop with no peers runs
//! exactly as it would alone.

/// A result a peer (or this node, in an earlier run) has on the shared board.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerBest {
    /// `<author>/<experiment id>`, recorded as the parent of what the loop tries next.
    pub key: String,
    pub val: f64,
    pub params: serde_json::Value,
}

/// An open idea from a peer: parameters to fix (a JSON object), merged into the point the
/// loop climbs from.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerHypothesis {
    pub key: String,
    pub params: serde_json::Value,
}

/// A result another node published for the same skill and evaluator that this loop may learn
/// from (the node decides which: see `hyper_swarm::peers::SwarmPeers`).
#[derive(Clone, Debug, PartialEq)]
pub struct PeerObservation {
    pub params: serde_json::Value,
    /// None: it crashed.
    pub val: Option<f64>,
    /// When it finished (ms since the Unix epoch): orders the swarm's results.
    pub finished_ms: u64,
}

/// The baseline a loop is about to run: the defaults of one skill under one evaluator on one
/// data set, as a parameter object.
#[derive(Clone, Copy, Debug)]
pub struct BaselineQuery<'a> {
    pub domain: &'a str,
    pub skill_hash: &'a str,
    pub evaluator_hash: &'a str,
    pub data_hash: &'a str,
    pub params: &'a serde_json::Value,
}

/// Most values of other nodes a loop's noise floor is measured on.
pub const MAX_BASELINE_REPEATS: usize = 32;

pub trait Peers {
    /// Announces the parameters the loop is about to run.
    fn claim(&mut self, _domain: &str, _skill_hash: &str, _params: &serde_json::Value) {}

    /// Parameters other nodes have claimed for this skill and not finished yet.
    fn claimed(&mut self, _domain: &str, _skill_hash: &str) -> Vec<serde_json::Value> {
        Vec::new()
    }

    /// Open hypotheses of the domain, oldest first.
    fn hypotheses(&mut self, _domain: &str) -> Vec<PeerHypothesis> {
        Vec::new()
    }

    /// The best result anyone has for this skill under this evaluator.
    fn best(
        &mut self,
        _domain: &str,
        _skill_hash: &str,
        _evaluator_hash: &str,
    ) -> Option<PeerBest> {
        None
    }

    /// Other nodes' results for this skill under this evaluator that the loop may learn
    /// from (never this node's own), oldest first.
    fn observations(
        &mut self,
        _domain: &str,
        _skill_hash: &str,
        _evaluator_hash: &str,
    ) -> Vec<PeerObservation> {
        Vec::new()
    }

    /// A result of exactly this baseline, by another node, that the loop may learn from (the
    /// same rule as [`Peers::observations`]): the loop takes it as its reference instead of
    /// running the same defaults again.
    fn baseline_result(&mut self, _query: &BaselineQuery) -> Option<PeerBest> {
        None
    }

    /// Every value of exactly this baseline by other nodes the loop may learn from (their
    /// results of the defaults and repeats of them with other seeds), oldest first, at most
    /// [`MAX_BASELINE_REPEATS`]: the loop measures its noise floor on them instead of
    /// repeating the defaults itself.
    fn baseline_repeats(&mut self, _query: &BaselineQuery) -> Vec<f64> {
        Vec::new()
    }

    /// Called right after the loop claimed its baseline: whether another node it may learn
    /// from claimed the same baseline and goes first (the loop then waits for that node's
    /// result instead of running it too). May wait briefly for claims to arrive.
    fn baseline_claimed_first(&mut self, _query: &BaselineQuery) -> bool {
        false
    }

    /// The diversity signal the loop measured on the swarm's results, for `hyper status`.
    fn report(&mut self, _domain: &str, _diversity: &crate::diversity::Diversity) {}
}

/// No peers.
pub struct Solo;

impl Peers for Solo {}
