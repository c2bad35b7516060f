//! One domain's board as a node sees it at one moment: the input of the snapshot, the
//! archive and the dashboard.

use std::collections::BTreeMap;

use hyper_research::Diversity;
use hyper_swarm::node::NodeClient;
use hyper_swarm::record::SignedResult;
use hyper_swarm::trust::{Reputation, Status};

#[derive(Clone, Debug)]
pub struct BoardState {
    pub domain: String,
    pub results: Vec<SignedResult>,
    /// Verification status by result key (missing: unverified).
    pub statuses: BTreeMap<String, Status>,
    pub reputations: BTreeMap<String, Reputation>,
    pub attestations: usize,
    /// The diversity signal this node's loop last measured (None: it researches nothing here).
    pub diversity: Option<Diversity>,
}

impl BoardState {
    /// Reads a domain's board and this node's trust view of it; None when the node does not
    /// follow the domain.
    pub async fn read(
        client: &NodeClient,
        domain: &str,
        diversity: Option<Diversity>,
    ) -> anyhow::Result<Option<BoardState>> {
        let Some(report) = client.trust(domain).await? else {
            return Ok(None);
        };
        let results = client.board(domain).await?;
        Ok(Some(BoardState {
            domain: domain.to_string(),
            results,
            statuses: report.statuses,
            reputations: report.reputations,
            attestations: report.attestations,
            diversity,
        }))
    }

    pub fn status(&self, result: &SignedResult) -> Status {
        self.statuses
            .get(&result.key())
            .copied()
            .unwrap_or(Status::Unverified)
    }

    /// Sample sd of an author's baseline and noise runs of a skill (what its loop took as the
    /// noise floor); None before two.
    pub fn noise_floor(&self, author: &str, skill_hash: &str) -> Option<f64> {
        let vals: Vec<f64> = self
            .results
            .iter()
            .map(|r| &r.record)
            .filter(|r| r.author == author && r.skill_hash == skill_hash)
            .filter(|r| matches!(r.status.as_str(), "baseline" | "noise"))
            .filter_map(|r| r.val.filter(|v| v.is_finite()))
            .collect();
        if vals.len() < 2 {
            return None;
        }
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        Some((vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
    }
}
