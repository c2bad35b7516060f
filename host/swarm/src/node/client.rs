//! The node's API: a cloneable handle that sends commands to the task that owns the swarm,
//! each with a oneshot reply.

use std::time::Duration;

use libp2p::gossipsub::IdentTopic;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::{topic, Leaderboard, SharedSkill, Stats, TrustReport};
use crate::announce::{Body, Claim, Hypothesis};
use crate::attest::SignedAttestation;
use crate::record::SignedResult;

pub(super) enum Command {
    Publish(Box<SignedResult>, oneshot::Sender<anyhow::Result<()>>),
    PublishRaw(IdentTopic, Vec<u8>, oneshot::Sender<anyhow::Result<()>>),
    Board(String, oneshot::Sender<Vec<SignedResult>>),
    Attestations(String, oneshot::Sender<Vec<SignedAttestation>>),
    Count(String, oneshot::Sender<usize>),
    Leaderboard(String, bool, oneshot::Sender<Option<Leaderboard>>),
    Snapshot(String, oneshot::Sender<Option<Vec<u8>>>),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Peers(oneshot::Sender<Vec<PeerId>>),
    Stats(oneshot::Sender<Stats>),
    Dial(Multiaddr, oneshot::Sender<anyhow::Result<()>>),
    Claim(Body, oneshot::Sender<anyhow::Result<()>>),
    Claims(String, oneshot::Sender<Vec<Claim>>),
    ClaimedFirst(
        String,
        String,
        serde_json::Value,
        oneshot::Sender<Option<String>>,
    ),
    Hypotheses(String, oneshot::Sender<Vec<Hypothesis>>),
    BestFor(
        String,
        String,
        String,
        oneshot::Sender<Option<SignedResult>>,
    ),
    Observations(String, String, String, oneshot::Sender<Vec<SignedResult>>),
    ShareSkill(SharedSkill, oneshot::Sender<anyhow::Result<()>>),
    FetchSkill(String, String, oneshot::Sender<anyhow::Result<Vec<u8>>>),
    FetchComponent(String, oneshot::Sender<anyhow::Result<Vec<u8>>>),
    Attest(Box<SignedAttestation>, oneshot::Sender<anyhow::Result<()>>),
    Trust(String, oneshot::Sender<Option<TrustReport>>),
    GetResult(String, String, oneshot::Sender<Option<SignedResult>>),
    ReplayCandidates(String, usize, oneshot::Sender<Vec<SignedResult>>),
    PeerScore(PeerId, oneshot::Sender<Option<f64>>),
    Shutdown,
}

/// Most observations handed to a loop per proposal (a board may hold far more).
pub const MAX_OBSERVATIONS: usize = 4000;
/// Most of them from any one author.
pub const MAX_OBSERVATIONS_PER_AUTHOR: usize = 1000;

#[derive(Clone)]
pub struct NodeClient {
    tx: mpsc::Sender<Command>,
    pub peer_id: PeerId,
    feed: crate::feed::Feed,
}

macro_rules! ask {
    ($self:ident, $variant:ident $(, $arg:expr)*) => {{
        let (tx, rx) = oneshot::channel();
        $self.tx.send(Command::$variant($($arg,)* tx)).await.map_err(|_| anyhow::anyhow!("the node has stopped"))?;
        rx.await.map_err(|_| anyhow::anyhow!("the node has stopped"))
    }};
}

impl NodeClient {
    pub(super) fn new(tx: mpsc::Sender<Command>, peer_id: PeerId, feed: crate::feed::Feed) -> Self {
        NodeClient { tx, peer_id, feed }
    }

    /// The live feed from now on: new results and attestations on the boards, claims and
    /// hypotheses (see [`crate::feed`]).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<crate::feed::FeedEvent> {
        self.feed.subscribe()
    }

    /// Adds a record to the local board and announces it.
    pub async fn publish(&self, record: SignedResult) -> anyhow::Result<()> {
        ask!(self, Publish, Box::new(record))?
    }

    /// Test hook: publishes arbitrary bytes on a domain's topic, as a hostile peer would.
    #[doc(hidden)]
    pub async fn publish_raw(&self, domain: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        ask!(self, PublishRaw, topic(domain), bytes)?
    }

    /// Test hook: publishes arbitrary bytes on any topic.
    #[doc(hidden)]
    pub async fn publish_raw_on(&self, topic: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        ask!(self, PublishRaw, IdentTopic::new(topic), bytes)?
    }

    pub async fn board(&self, domain: &str) -> anyhow::Result<Vec<SignedResult>> {
        ask!(self, Board, domain.to_string())
    }

    /// The verified board (`all`: with unverified, disputed and refuted results too).
    /// Every attestation on a domain's board.
    pub async fn attestations(&self, domain: &str) -> anyhow::Result<Vec<SignedAttestation>> {
        ask!(self, Attestations, domain.to_string())
    }

    pub async fn leaderboard(
        &self,
        domain: &str,
        all: bool,
    ) -> anyhow::Result<Option<Leaderboard>> {
        ask!(self, Leaderboard, domain.to_string(), all)
    }

    /// Number of results on a domain's board (cheap).
    pub async fn count(&self, domain: &str) -> anyhow::Result<usize> {
        ask!(self, Count, domain.to_string())
    }

    pub async fn snapshot(&self, domain: &str) -> anyhow::Result<Option<Vec<u8>>> {
        ask!(self, Snapshot, domain.to_string())
    }

    pub async fn listen_addrs(&self) -> anyhow::Result<Vec<Multiaddr>> {
        ask!(self, ListenAddrs)
    }

    pub async fn peers(&self) -> anyhow::Result<Vec<PeerId>> {
        ask!(self, Peers)
    }

    pub async fn stats(&self) -> anyhow::Result<Stats> {
        ask!(self, Stats)
    }

    pub async fn dial(&self, addr: Multiaddr) -> anyhow::Result<()> {
        ask!(self, Dial, addr)?
    }

    /// Announces that this node is about to run `params` of a skill in a domain; other nodes
    /// skip it and what is near it for `ttl`.
    pub async fn claim(
        &self,
        domain: &str,
        skill_hash: &str,
        params: serde_json::Value,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        let body = Body::Claim {
            domain: domain.into(),
            skill_hash: skill_hash.into(),
            params,
            ttl_ms: ttl.as_millis() as u64,
        };
        ask!(self, Claim, body)?
    }

    /// Other nodes' fresh claims in a domain.
    pub async fn claims(&self, domain: &str) -> anyhow::Result<Vec<Claim>> {
        ask!(self, Claims, domain.to_string())
    }

    /// The node that goes first among those with a fresh claim on exactly `params` (the
    /// lowest PeerId, this one included), when it is another node this one may learn from:
    /// trusted, or with verified work or matched attestations, and never refuted. A new
    /// identity's claim never makes this node wait.
    pub async fn claimed_first(
        &self,
        domain: &str,
        skill_hash: &str,
        params: serde_json::Value,
    ) -> anyhow::Result<Option<String>> {
        ask!(
            self,
            ClaimedFirst,
            domain.to_string(),
            skill_hash.to_string(),
            params
        )
    }

    /// Publishes an idea for others to try: parameters to fix and/or a skill.
    pub async fn hypothesize(
        &self,
        domain: &str,
        id: &str,
        params: serde_json::Value,
        skill: Option<String>,
        note: &str,
    ) -> anyhow::Result<()> {
        let body = Body::Hypothesis {
            domain: domain.into(),
            id: id.into(),
            params,
            skill,
            note: note.into(),
        };
        ask!(self, Claim, body)?
    }

    /// Open hypotheses of a domain (this node's own included), oldest first.
    pub async fn hypotheses(&self, domain: &str) -> anyhow::Result<Vec<Hypothesis>> {
        ask!(self, Hypotheses, domain.to_string())
    }

    /// The best result on the board for one skill and evaluator (so that its parameters and
    /// score mean the same thing to the caller) among those this node counts as verified and
    /// whose authors are not refuted: what a loop may climb from.
    pub async fn best_for(
        &self,
        domain: &str,
        skill_hash: &str,
        evaluator_hash: &str,
    ) -> anyhow::Result<Option<SignedResult>> {
        ask!(
            self,
            BestFor,
            domain.to_string(),
            skill_hash.to_string(),
            evaluator_hash.to_string()
        )
    }

    /// Other authors' results for one skill and evaluator that a loop on this node may learn
    /// from ([`crate::trust::TrustView::learnable_results`]), oldest first: the newest
    /// [`MAX_OBSERVATIONS`], at most [`MAX_OBSERVATIONS_PER_AUTHOR`] of any one author's.
    pub async fn observations(
        &self,
        domain: &str,
        skill_hash: &str,
        evaluator_hash: &str,
    ) -> anyhow::Result<Vec<SignedResult>> {
        ask!(
            self,
            Observations,
            domain.to_string(),
            skill_hash.to_string(),
            evaluator_hash.to_string()
        )
    }

    /// Serves a package to peers: a gossip announcement plus a Kademlia provider record.
    pub async fn share_skill(&self, skill: SharedSkill) -> anyhow::Result<()> {
        ask!(self, ShareSkill, skill)?
    }

    /// Finds peers that serve `name@version` (announcements seen and Kademlia providers) and
    /// fetches the package from the first that has it. The caller must still run every
    /// install check on the bytes.
    pub async fn fetch_skill(&self, name: &str, version: &str) -> anyhow::Result<Vec<u8>> {
        ask!(self, FetchSkill, name.to_string(), version.to_string())?
    }

    /// Finds a package whose component has this SHA-256 (Kademlia providers, then connected
    /// peers) and fetches it. The caller must check that the component has that hash.
    pub async fn fetch_component(&self, sha256: &str) -> anyhow::Result<Vec<u8>> {
        ask!(self, FetchComponent, sha256.to_string())?
    }

    /// Adds this node's attestation to the board and announces it.
    pub async fn attest(&self, attestation: SignedAttestation) -> anyhow::Result<()> {
        ask!(self, Attest, Box::new(attestation))?
    }

    /// This node's trust view of a domain: statuses, reputations, trusted attesters.
    pub async fn trust(&self, domain: &str) -> anyhow::Result<Option<TrustReport>> {
        ask!(self, Trust, domain.to_string())
    }

    /// One result on a domain's board by key (`<author>/<id>`).
    pub async fn result(&self, domain: &str, key: &str) -> anyhow::Result<Option<SignedResult>> {
        ask!(self, GetResult, domain.to_string(), key.to_string())
    }

    /// Results this node should replay next, most important first (see the verifier).
    pub async fn replay_candidates(
        &self,
        domain: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<SignedResult>> {
        ask!(self, ReplayCandidates, domain.to_string(), limit)
    }

    /// A connected peer's gossipsub score (None when not connected).
    pub async fn peer_score(&self, peer: PeerId) -> anyhow::Result<Option<f64>> {
        ask!(self, PeerScore, peer)
    }

    pub async fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown).await;
    }
}
