//! The libp2p node. One task owns the `Swarm` and the boards; the rest of the host talks to it
//! through a cloneable [`NodeClient`] that sends commands with oneshot replies (the shape of
//! rust-libp2p's file-sharing example).
//!
//! - result announcements: gossipsub, topic `/hyper/results/2/<domain>`, messages validated
//!   (size, schema, version, signature, author) before they are accepted and forwarded;
//! - attestations (who replayed which result, with what verdict): topic
//!   `/hyper/attest/1/<domain>`, validated the same way, kept on the board;
//! - board sync: request-response `/hyper/board-sync/2` — a peer sends its Loro version vector
//!   and gets back only the updates it lacks; on every new connection and every anti-entropy
//!   interval;
//! - skills served to peers by name and version or by component hash (`/hyper/skill-fetch/2`,
//!   Kademlia provider records);
//! - identify, Kademlia (peer routing), optional mDNS on the LAN; TCP + noise + yamux, and QUIC.
//!
//! One file per part: [`client`] (the API), `behaviour` (the libp2p behaviours), `event_loop`
//! (the task that owns the swarm), `validation` (what comes in by gossip), `sync` (board
//! anti-entropy), `skill_fetch` (packages from peers), `verification` (trust, attestations,
//! replay candidates, gossipsub application scores).

mod behaviour;
mod client;
mod event_loop;
mod skill_fetch;
mod sync;
mod validation;
mod verification;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::IdentTopic;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{identity, kad, Multiaddr, PeerId, Swarm};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::board::Board;
use crate::record::SignedResult;
use crate::trust::{Reputation, Status, TrustView};

pub use client::NodeClient;
pub use verification::TrustReport;

pub const SYNC_PROTOCOL: &str = "/hyper/board-sync/2";
pub const SKILL_FETCH_PROTOCOL: &str = "/hyper/skill-fetch/2";
pub const KAD_PROTOCOL: &str = "/hyper/kad/1";
/// Peers asked for missing board updates per anti-entropy round.
pub const ANTI_ENTROPY_FANOUT: usize = 2;

/// Result announcements of a domain.
pub fn topic(domain: &str) -> IdentTopic {
    IdentTopic::new(format!("/hyper/results/2/{domain}"))
}

/// Attestations of a domain.
pub fn attestation_topic(domain: &str) -> IdentTopic {
    IdentTopic::new(format!("/hyper/attest/1/{domain}"))
}

/// Claims and hypotheses of a domain.
pub fn coordination_topic(domain: &str) -> IdentTopic {
    IdentTopic::new(format!("/hyper/coord/1/{domain}"))
}

/// Skill announcements (all domains).
pub fn skills_topic() -> IdentTopic {
    IdentTopic::new("/hyper/skills/1")
}

/// The Kademlia key under which peers serving `name@version` are provider records.
pub fn skill_key(name: &str, version: &str) -> kad::RecordKey {
    kad::RecordKey::new(&format!("hyper-skill/{name}@{version}"))
}

/// The Kademlia key under which peers serving a package whose component has this SHA-256
/// are provider records (what a replay looks for: a result names its skill by hash).
pub fn component_key(sha256: &str) -> kad::RecordKey {
    kad::RecordKey::new(&format!("hyper-component/{sha256}"))
}

/// Largest skill package served or fetched (the registry's download cap).
pub const MAX_PACKAGE_BYTES: u64 = 96 << 20;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SkillRequest {
    pub name: String,
    pub version: String,
    /// Asks for the package whose component has this SHA-256 instead (name and version
    /// are then empty).
    #[serde(default)]
    pub component_sha256: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SkillResponse {
    /// The `.hskill` bytes, or none when this peer does not serve that package.
    #[serde(with = "serde_bytes")]
    pub package: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncRequest {
    pub domain: String,
    /// Loro version vector.
    #[serde(with = "serde_bytes")]
    pub version: Vec<u8>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncResponse {
    pub domain: String,
    /// Loro updates (empty when the domain is unknown or nothing is missing).
    #[serde(with = "serde_bytes")]
    pub updates: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub domains: Vec<String>,
    pub mdns: bool,
    pub anti_entropy: Duration,
    /// PeerIds (base58) of identities whose attestations count outright (`hyper trust`).
    pub trusted: HashSet<String>,
    /// Distinct trusted attesters needed to verify a result on their word.
    pub quorum: usize,
}

fn loopback() -> Multiaddr {
    Multiaddr::empty().with(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST))
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: vec![
                loopback().with(Protocol::Tcp(0)),
                loopback().with(Protocol::Udp(0)).with(Protocol::QuicV1),
            ],
            bootstrap: Vec::new(),
            domains: vec!["search".into()],
            mdns: false,
            anti_entropy: Duration::from_secs(5),
            trusted: HashSet::new(),
            quorum: 1,
        }
    }
}

/// What the node counted: what it took in and what it dropped, and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub accepted: u64,
    pub duplicates: u64,
    pub dropped: BTreeMap<String, u64>,
    pub sync_imports: u64,
    pub sync_refused: u64,
    pub claims: u64,
    pub hypotheses: u64,
    pub attestations: u64,
    pub attestations_published: u64,
    pub skill_announcements: u64,
    pub skills_served: u64,
}

/// A package this node serves to peers.
#[derive(Clone, Debug)]
pub struct SharedSkill {
    pub name: String,
    pub version: String,
    pub package_hash: String,
    /// SHA-256 of the package's component (what results name as their skill).
    pub component_sha256: String,
    pub bytes: std::sync::Arc<Vec<u8>>,
}

/// One entry of a leaderboard: an author's best result and what this node knows of it.
#[derive(Clone, Debug, Serialize)]
pub struct LeaderboardEntry {
    #[serde(flatten)]
    pub result: SignedResult,
    pub status: Status,
    pub reputation: Reputation,
}

/// A domain's board as people read it: by default only what this node counts as verified.
#[derive(Clone, Debug, Serialize)]
pub struct Leaderboard {
    pub domain: String,
    pub results: usize,
    /// Results this node counts as verified (its own included).
    pub verified: usize,
    pub attestations: usize,
    /// Whether unverified, disputed and refuted results are listed too.
    pub all: bool,
    pub global_best: Option<LeaderboardEntry>,
    pub best_per_peer: Vec<LeaderboardEntry>,
}

impl Leaderboard {
    /// The verified board (`all`: every result).
    pub fn of(board: &Board, view: &TrustView, all: bool) -> Self {
        let keep = |r: &SignedResult| all || view.status(&r.key()) == Status::Verified;
        let entry = |r: SignedResult| LeaderboardEntry {
            status: view.status(&r.key()),
            reputation: view.reputation(&r.record.author),
            result: r,
        };
        let mut per_peer: Vec<SignedResult> =
            board.best_per_peer_where(&keep).into_values().collect();
        per_peer.sort_by(SignedResult::rank);
        let (results, attestations) = board.with_entries(|r, a| (r.len(), a.len()));
        let verified = board.with_entries(|r, _| {
            r.keys()
                .filter(|k| view.status(k) == Status::Verified)
                .count()
        });
        Leaderboard {
            domain: board.domain.clone(),
            results,
            verified,
            attestations,
            all,
            global_best: board.global_best_where(&keep).map(entry),
            best_per_peer: per_peer.into_iter().map(entry).collect(),
        }
    }
}

/// The Loro peer id of a libp2p peer: the first 8 bytes of its PeerId's multihash digest.
fn loro_peer(peer: &PeerId) -> u64 {
    let bytes = peer.to_bytes();
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    let mut id = [0u8; 8];
    id[..tail.len()].copy_from_slice(tail);
    u64::from_le_bytes(id) & 0x7fff_ffff_ffff_ffff
}

/// The counter a refused message is filed under.
fn reason(e: &crate::record::RecordError) -> &'static str {
    match e {
        crate::record::RecordError::TooLarge(_) => "oversized",
        crate::record::RecordError::Malformed(_) => "malformed",
        crate::record::RecordError::UnknownVersion(_) => "unknown-version",
        _ => "bad-signature",
    }
}

/// Starts a node with `secret` (the node's ed25519 secret key bytes) and `boards` to restore
/// (domain → snapshot; one that does not restore — damaged, or saved by an older version —
/// is left out with a warning and the node starts that board empty: peers and the journal
/// refill it). Returns its client; the node runs until shut down.
pub async fn start(
    secret: [u8; 32],
    config: NodeConfig,
    boards: HashMap<String, Vec<u8>>,
) -> anyhow::Result<NodeClient> {
    let signing_secret = secret;
    let mut secret = secret;
    let keypair = identity::Keypair::from(identity::ed25519::Keypair::from(
        identity::ed25519::SecretKey::try_from_bytes(&mut secret)?,
    ));
    let peer_id = keypair.public().to_peer_id();
    let mut swarm: Swarm<behaviour::Behaviour> = behaviour::build(keypair, config.mdns)?;
    let mut boards_by_domain = HashMap::new();
    let feed = crate::feed::Feed::default();
    for domain in &config.domains {
        let gossip = &mut swarm.behaviour_mut().gossipsub;
        gossip.subscribe(&topic(domain))?;
        gossip.subscribe(&attestation_topic(domain))?;
        gossip.subscribe(&coordination_topic(domain))?;
        let restored = boards
            .get(domain)
            .map(|snapshot| Board::from_snapshot(domain, loro_peer(&peer_id), snapshot));
        let board = match restored {
            Some(Ok(board)) => board,
            Some(Err(e)) => {
                tracing::warn!(
                    "the saved {domain} board does not restore ({e}); starting it empty"
                );
                Board::new(domain, loro_peer(&peer_id))
            }
            None => Board::new(domain, loro_peer(&peer_id)),
        };
        board.set_feed(feed.clone());
        boards_by_domain.insert(domain.clone(), board);
    }
    swarm.behaviour_mut().gossipsub.subscribe(&skills_topic())?;
    for addr in &config.listen {
        swarm.listen_on(addr.clone())?;
    }
    for addr in &config.bootstrap {
        swarm.dial(addr.clone())?;
    }
    let (tx, rx) = mpsc::channel(256);
    let mut task = event_loop::NodeTask::new(
        swarm,
        ed25519_dalek::SigningKey::from_bytes(&signing_secret),
        boards_by_domain,
        &config,
        feed.clone(),
    );
    // Wait until the listeners are up so that `listen_addrs` is useful immediately.
    while task.listen.len() < config.listen.len() {
        match task.swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => task.listen.push(address),
            other => task.handle_event(other),
        }
    }
    tokio::spawn(task.run(rx));
    Ok(NodeClient::new(tx, peer_id, feed))
}
