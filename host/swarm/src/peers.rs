//! A research loop's view of the swarm ([`hyper_research::Peers`]) through a running node.
//! Research runs on plain threads (wasmtime calls block), so each call blocks on the node's
//! tokio runtime; a node that has stopped just makes the loop behave as if alone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_research::{
    BaselineQuery, Diversity, PeerBest, PeerHypothesis, PeerObservation, Peers,
    MAX_BASELINE_REPEATS,
};
use tokio::runtime::Handle;

use crate::node::NodeClient;
use crate::record::SignedResult;

pub struct SwarmPeers {
    client: NodeClient,
    runtime: Handle,
    /// How long a claim holds if this node goes silent.
    pub claim_ttl: Duration,
    /// The diversity signal each domain's loop last measured (shown by `hyper status`).
    pub diversity: DiversityBoard,
    /// How long a loop waits, after claiming its baseline, for the claims of nodes that
    /// started at the same moment (a gossip round trip on a mesh is well under this).
    pub claims_settle: Duration,
}

/// The latest diversity signal per domain, shared with whoever shows it.
pub type DiversityBoard = Arc<Mutex<BTreeMap<String, Diversity>>>;

impl SwarmPeers {
    /// `runtime` is the handle of the runtime the node runs on; call from outside it.
    pub fn new(client: NodeClient, runtime: Handle) -> Self {
        SwarmPeers {
            client,
            runtime,
            claim_ttl: Duration::from_secs(300),
            diversity: DiversityBoard::default(),
            claims_settle: Duration::from_millis(500),
        }
    }
}

impl SwarmPeers {
    /// Scored results of exactly this baseline (same parameters and data) by nodes the loop
    /// may learn from, oldest first.
    fn of_baseline(&mut self, query: &BaselineQuery) -> Vec<SignedResult> {
        let observed = self.runtime.block_on(self.client.observations(
            query.domain,
            query.skill_hash,
            query.evaluator_hash,
        ));
        let mut results = observed.unwrap_or_default();
        results.retain(|r| {
            r.record.params == *query.params
                && r.record.data_hash == query.data_hash
                && r.record.val.is_some_and(f64::is_finite)
        });
        results
    }
}

impl Peers for SwarmPeers {
    fn claim(&mut self, domain: &str, skill_hash: &str, params: &serde_json::Value) {
        let claim = self
            .client
            .claim(domain, skill_hash, params.clone(), self.claim_ttl);
        if let Err(e) = self.runtime.block_on(claim) {
            tracing::debug!("claim not announced: {e}");
        }
    }

    fn claimed(&mut self, domain: &str, skill_hash: &str) -> Vec<serde_json::Value> {
        self.runtime
            .block_on(self.client.claims(domain))
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.skill_hash == skill_hash)
            .map(|c| c.params)
            .collect()
    }

    fn hypotheses(&mut self, domain: &str) -> Vec<PeerHypothesis> {
        self.runtime
            .block_on(self.client.hypotheses(domain))
            .unwrap_or_default()
            .into_iter()
            .map(|h| PeerHypothesis {
                key: h.key,
                params: h.params,
            })
            .collect()
    }

    fn best(&mut self, domain: &str, skill_hash: &str, evaluator_hash: &str) -> Option<PeerBest> {
        let best = self
            .runtime
            .block_on(self.client.best_for(domain, skill_hash, evaluator_hash))
            .ok()??;
        Some(PeerBest {
            key: best.key(),
            val: best.record.val?,
            params: best.record.params,
        })
    }

    fn observations(
        &mut self,
        domain: &str,
        skill_hash: &str,
        evaluator_hash: &str,
    ) -> Vec<PeerObservation> {
        let observed =
            self.runtime
                .block_on(self.client.observations(domain, skill_hash, evaluator_hash));
        observed
            .unwrap_or_default()
            .into_iter()
            .map(|r| PeerObservation {
                finished_ms: r.record.finished_ms,
                val: r.record.val,
                params: r.record.params,
            })
            .collect()
    }

    fn baseline_result(&mut self, query: &BaselineQuery) -> Option<PeerBest> {
        // The oldest: every node that takes the baseline then takes the same one.
        let first = self.of_baseline(query).into_iter().next()?;
        Some(PeerBest {
            key: first.key(),
            val: first.record.val?,
            params: first.record.params,
        })
    }

    fn baseline_repeats(&mut self, query: &BaselineQuery) -> Vec<f64> {
        let results = self.of_baseline(query).into_iter();
        let vals = results.filter_map(|r| r.record.val);
        vals.take(MAX_BASELINE_REPEATS).collect()
    }

    fn baseline_claimed_first(&mut self, query: &BaselineQuery) -> bool {
        std::thread::sleep(self.claims_settle);
        let first = self
            .client
            .claimed_first(query.domain, query.skill_hash, query.params.clone());
        matches!(self.runtime.block_on(first), Ok(Some(_)))
    }

    fn report(&mut self, domain: &str, diversity: &Diversity) {
        if let Ok(mut map) = self.diversity.lock() {
            map.insert(domain.to_string(), diversity.clone());
        }
    }
}
