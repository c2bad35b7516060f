//! The node's side of verification: its trust view of each board (cached until the board
//! changes), this node's attestations, which results its verifier should replay next, and
//! the gossipsub application score of each peer (refuted identities are graylisted).

use std::collections::{BTreeMap, HashMap};

use libp2p::PeerId;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::event_loop::NodeTask;
use super::{attestation_topic, NodeConfig};
use crate::attest::SignedAttestation;
use crate::board::Board;
use crate::record::SignedResult;
use crate::trust::{Reputation, Status, TrustConfig, TrustView, SAMPLE_AFTER};

/// What `hyper status` and tests read about a domain's verification.
#[derive(Clone, Debug, Serialize)]
pub struct TrustReport {
    pub domain: String,
    pub quorum: usize,
    pub results: usize,
    pub attestations: usize,
    /// Results per status.
    pub counts: BTreeMap<String, usize>,
    /// Every identity with results or attestations on the board.
    pub reputations: BTreeMap<String, Reputation>,
    /// Status of every result by key (in-process only: not sent over the control socket).
    #[serde(skip)]
    pub statuses: BTreeMap<String, Status>,
}

/// Trust views by domain, each computed for a given board size (boards only grow, so the
/// number of entries tells whether a view is current).
pub(super) struct Verification {
    config: TrustConfig,
    views: HashMap<String, ((usize, usize), TrustView)>,
}

impl Verification {
    pub fn new(me: &str, config: &NodeConfig) -> Self {
        Verification {
            config: TrustConfig {
                me: me.to_string(),
                trusted: config.trusted.clone(),
                quorum: config.quorum.max(1),
            },
            views: HashMap::new(),
        }
    }

    /// The current trust view of a board.
    pub fn view(&mut self, board: &Board) -> &TrustView {
        let size = board.with_entries(|r, a| (r.len(), a.len()));
        let config = &self.config;
        let slot = self
            .views
            .entry(board.domain.clone())
            .or_insert_with(|| ((usize::MAX, 0), TrustView::default()));
        if slot.0 != size {
            *slot = (size, board.trust_view(config));
        }
        &slot.1
    }

    /// Whether a loop here may follow `identity`'s lead on this board: trusted outright, or
    /// with verified work or matched attestations, and never refuted (the standing
    /// [`TrustView::learnable`] asks of an unverified result's author).
    pub fn has_standing(&mut self, board: &Board, identity: &str) -> bool {
        let trusted = self.config.trusted.contains(identity);
        let rep = self.view(board).reputation(identity);
        !rep.is_refuted() && (trusted || rep.verified > 0 || rep.trusted_attester)
    }

    pub fn report(&mut self, board: &Board) -> TrustReport {
        let quorum = self.config.quorum;
        let view = self.view(board);
        let (results, attestations, statuses) = board.with_entries(|r, a| {
            let statuses: BTreeMap<String, Status> =
                r.keys().map(|k| (k.clone(), view.status(k))).collect();
            (r.len(), a.len(), statuses)
        });
        let counts = Status::counts(statuses.values().copied());
        TrustReport {
            domain: board.domain.clone(),
            quorum,
            results,
            attestations,
            counts,
            reputations: view.reputations().clone(),
            statuses,
        }
    }

    /// Results this node should replay, most important first:
    /// 1. results that would become the verified best of their skill and evaluator (what a
    ///    loop would adopt), those of authors with verified work before new identities;
    /// 2. results of new identities, of identities with disputes, and contested results;
    /// 3. the best each loop would climb from when it is verified on trusted attesters' word
    ///    alone (a spot check: a trusted attester that lies about a best is caught);
    /// 4. the rest, sampled: an identity with a long record of verified results
    ///    ([`SAMPLE_AFTER`] or more) has each ordinary result replayed with probability
    ///    1/verified (decided by the result's hash, so every call agrees).
    ///
    /// Within a class, results that would also calibrate an attester (one whose word does not
    /// count here yet but has verified work) come first. Skipped: this node's own results,
    /// results it already attested, results refuted or verified (but for the spot checks),
    /// crashes, and every result of a refuted identity (never adopted, so not worth compute).
    pub fn candidates(&mut self, board: &Board, limit: usize) -> Vec<SignedResult> {
        let me = self.config.me.clone();
        let view = self.view(board);
        board.with_entries(|results, attestations| {
            // Results attested by peers whose attestations do not count here yet but could
            // (verified work, nothing against them): replaying one of those also tells
            // whether to trust that attester, after which its word saves replays.
            let mut calibrating: HashMap<&str, usize> = HashMap::new();
            for a in attestations.values() {
                let at = &a.attestation;
                let rep = view.reputation(&at.attester);
                if at.verdict != hyper_research::Verdict::Unreplayable
                    && !rep.trusted_attester
                    && !rep.is_refuted()
                    && rep.verified > 0
                {
                    *calibrating.entry(at.subject.as_str()).or_default() += 1;
                }
            }
            // The adoptable best per skill and evaluator: what loops climb from.
            let mut best: HashMap<(&str, &str), (Option<f64>, &str)> = HashMap::new();
            for (key, r) in results {
                if view.adoptable(r) && matches!(r.record.status.as_str(), "baseline" | "keep") {
                    let slot = best
                        .entry((&r.record.skill_hash, &r.record.evaluator_hash))
                        .or_insert((None, ""));
                    if r.beats(slot.0) {
                        *slot = (r.record.val, key.as_str());
                    }
                }
            }
            let mut ranked: Vec<(u8, bool, usize, f64, &SignedResult)> = Vec::new();
            for (key, r) in results {
                let status = view.status(key);
                let rep = view.reputation(&r.record.author);
                let group = (
                    r.record.skill_hash.as_str(),
                    r.record.evaluator_hash.as_str(),
                );
                let (best_val, best_key) = best.get(&group).copied().unwrap_or((None, ""));
                // Verified on others' word alone and what loops climb from: spot-checked, so
                // that a trusted attester's lie about a best is caught by replay.
                let spot_check = status == Status::Verified && key.as_str() == best_key;
                if r.record.author == me
                    || r.record.val.is_none()
                    || view.attested_by_me(key)
                    || status == Status::Refuted
                    || (status == Status::Verified && !spot_check)
                    || rep.is_refuted()
                {
                    continue;
                }
                let known = rep.verified > 0;
                let would_lead =
                    matches!(r.record.status.as_str(), "baseline" | "keep") && r.beats(best_val);
                let class = if would_lead {
                    0
                } else if !known || rep.disputed > 0 || view.is_contested(key) {
                    1
                } else if spot_check {
                    2
                } else if rep.verified < SAMPLE_AFTER || sampled(key, rep.verified) {
                    3
                } else {
                    continue;
                };
                let v = r.record.val.unwrap_or(f64::NAN);
                let order = if r.record.direction == "lower" { v } else { -v };
                let calibrates = usize::MAX - calibrating.get(key.as_str()).copied().unwrap_or(0);
                ranked.push((class, !known, calibrates, order, r));
            }
            ranked.sort_by(|a, b| {
                (a.0, a.1, a.2)
                    .cmp(&(b.0, b.1, b.2))
                    .then(a.3.total_cmp(&b.3))
                    .then(a.4.key().cmp(&b.4.key()))
            });
            ranked
                .into_iter()
                .take(limit)
                .map(|(_, _, _, _, r)| r.clone())
                .collect()
        })
    }

    /// The lowest application score of an identity over all boards.
    fn score(&mut self, boards: &HashMap<String, Board>, identity: &str) -> f64 {
        let mut score = f64::INFINITY;
        for board in boards.values() {
            score = score.min(self.view(board).application_score(identity));
        }
        if score.is_finite() {
            score
        } else {
            0.0
        }
    }
}

/// Whether a result of an identity with `verified` verified results is sampled for replay
/// (probability 1/verified, fixed by the result's key).
fn sampled(key: &str, verified: u64) -> bool {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first) % verified.max(1) == 0
}

impl NodeTask {
    /// Adds this node's attestation to its board and announces it.
    pub(super) fn publish_attestation(
        &mut self,
        attestation: &SignedAttestation,
    ) -> anyhow::Result<()> {
        if attestation.attestation.attester != self.me {
            anyhow::bail!("only this node's own attestations are published through it");
        }
        let domain = attestation.attestation.domain.clone();
        let Some(board) = self.boards.get(&domain) else {
            anyhow::bail!("this node does not follow domain `{domain}`");
        };
        if board
            .insert_attestation(attestation)
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            self.stats.attestations_published += 1;
            self.announce(attestation_topic(&domain), attestation.encode())?;
        }
        Ok(())
    }

    /// Sets every connected peer's gossipsub application score from its reputation.
    pub(super) fn update_scores(&mut self) {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            self.update_score(peer);
        }
    }

    pub(super) fn update_score(&mut self, peer: PeerId) {
        let score = self.verification.score(&self.boards, &peer.to_base58());
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, score);
    }
}
