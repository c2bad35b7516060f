//! The libp2p node. One task owns the `Swarm` and the boards; the rest of the host talks to it
//! through a cloneable [`NodeClient`] that sends commands with oneshot replies (the shape of
//! rust-libp2p's file-sharing example).
//!
//! - result announcements: gossipsub, topic `/hyper/results/1/<domain>`, messages validated
//!   (size, schema, version, signature, author) before they are accepted and forwarded;
//! - board sync: request-response `/hyper/board-sync/1` — a peer sends its Loro version vector
//!   and gets back only the updates it lacks; on every new connection and every anti-entropy
//!   interval;
//! - identify, Kademlia (peer routing), optional mDNS on the LAN; TCP + noise + yamux, and QUIC.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    identify, identity, kad, mdns, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::announce::{Body, Claim, Coordination, Hypothesis, SignedAnnouncement};
use crate::board::{Board, BoardError};
use crate::record::{SignedResult, MAX_RECORD_BYTES};

pub const SYNC_PROTOCOL: &str = "/hyper/board-sync/1";
pub const SKILL_FETCH_PROTOCOL: &str = "/hyper/skill-fetch/1";
pub const KAD_PROTOCOL: &str = "/hyper/kad/1";
/// Peers asked for missing board updates per anti-entropy round.
pub const ANTI_ENTROPY_FANOUT: usize = 2;

/// Result announcements of a domain.
pub fn topic(domain: &str) -> IdentTopic {
    IdentTopic::new(format!("/hyper/results/1/{domain}"))
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

/// Largest skill package served or fetched (the registry's download cap).
pub const MAX_PACKAGE_BYTES: u64 = 96 << 20;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SkillRequest {
    pub name: String,
    pub version: String,
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

/// Largest sync response: a full board of ~100k results is tens of MB.
const MAX_SYNC_RESPONSE: u64 = 512 << 20;

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    sync: request_response::cbor::Behaviour<SyncRequest, SyncResponse>,
    skills: request_response::cbor::Behaviour<SkillRequest, SkillResponse>,
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub domains: Vec<String>,
    pub mdns: bool,
    pub anti_entropy: Duration,
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
    pub skill_announcements: u64,
    pub skills_served: u64,
}

enum Command {
    Publish(Box<SignedResult>, oneshot::Sender<anyhow::Result<()>>),
    PublishRaw(IdentTopic, Vec<u8>, oneshot::Sender<anyhow::Result<()>>),
    Board(String, oneshot::Sender<Vec<SignedResult>>),
    Count(String, oneshot::Sender<usize>),
    Leaderboard(String, oneshot::Sender<Option<Leaderboard>>),
    Snapshot(String, oneshot::Sender<Option<Vec<u8>>>),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Peers(oneshot::Sender<Vec<PeerId>>),
    Stats(oneshot::Sender<Stats>),
    Dial(Multiaddr, oneshot::Sender<anyhow::Result<()>>),
    Claim(Body, oneshot::Sender<anyhow::Result<()>>),
    Claims(String, oneshot::Sender<Vec<Claim>>),
    Hypotheses(String, oneshot::Sender<Vec<Hypothesis>>),
    BestFor(
        String,
        String,
        String,
        oneshot::Sender<Option<SignedResult>>,
    ),
    ShareSkill(SharedSkill, oneshot::Sender<anyhow::Result<()>>),
    FetchSkill(String, String, oneshot::Sender<anyhow::Result<Vec<u8>>>),
    Shutdown,
}

/// A package this node serves to peers.
#[derive(Clone, Debug)]
pub struct SharedSkill {
    pub name: String,
    pub version: String,
    pub package_hash: String,
    pub bytes: std::sync::Arc<Vec<u8>>,
}

/// A package being looked for: providers to try, one request in flight at a time.
struct Fetch {
    name: String,
    version: String,
    reply: oneshot::Sender<anyhow::Result<Vec<u8>>>,
    candidates: Vec<PeerId>,
    tried: HashSet<PeerId>,
    lookup_done: bool,
    in_flight: bool,
}

/// A domain's board as people read it.
#[derive(Clone, Debug, Serialize)]
pub struct Leaderboard {
    pub domain: String,
    pub results: usize,
    pub global_best: Option<SignedResult>,
    pub best_per_peer: Vec<SignedResult>,
}

impl Leaderboard {
    pub fn of(board: &Board) -> Self {
        let mut per_peer: Vec<SignedResult> = board.best_per_peer().into_values().collect();
        let higher = per_peer
            .first()
            .is_none_or(|r| r.record.direction != "lower");
        per_peer.sort_by(|a, b| {
            let (x, y) = (
                a.record.val.unwrap_or(f64::NAN),
                b.record.val.unwrap_or(f64::NAN),
            );
            if higher {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            }
        });
        Leaderboard {
            domain: board.domain.clone(),
            results: board.len(),
            global_best: board.global_best(),
            best_per_peer: per_peer,
        }
    }
}

/// A cloneable handle to a running node.
#[derive(Clone)]
pub struct NodeClient {
    tx: mpsc::Sender<Command>,
    pub peer_id: PeerId,
}

macro_rules! ask {
    ($self:ident, $variant:ident $(, $arg:expr)*) => {{
        let (tx, rx) = oneshot::channel();
        $self.tx.send(Command::$variant($($arg,)* tx)).await.map_err(|_| anyhow::anyhow!("the node has stopped"))?;
        rx.await.map_err(|_| anyhow::anyhow!("the node has stopped"))
    }};
}

impl NodeClient {
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

    pub async fn leaderboard(&self, domain: &str) -> anyhow::Result<Option<Leaderboard>> {
        ask!(self, Leaderboard, domain.to_string())
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

    /// The best scored result on the board for one skill and evaluator (so that its
    /// parameters and score mean the same thing to the caller).
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

    pub async fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown).await;
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

/// Starts a node with `secret` (the node's ed25519 secret key bytes) and `boards` to restore
/// (domain → snapshot). Returns its client; the node runs until shut down.
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
    let mdns_enabled = config.mdns;
    let mut swarm: Swarm<Behaviour> = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_quic()
        .with_behaviour(
            |key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                // Every message we send is already signed by its author (results and
                // announcements carry their own ed25519 signatures, checked before anything is
                // accepted or forwarded), so gossipsub's own per-message signatures would only
                // be verified again on every duplicate copy, which dominated CPU in a
                // well-connected swarm. Messages are anonymous and identified by a hash of
                // their content, so an identical replay is a duplicate to gossipsub too.
                let gossip_config = gossipsub::ConfigBuilder::default()
                    .heartbeat_interval(Duration::from_millis(200))
                    .validation_mode(gossipsub::ValidationMode::Anonymous)
                    .message_id_fn(|message: &gossipsub::Message| {
                        gossipsub::MessageId::from(Sha256::digest(&message.data).to_vec())
                    })
                    .validate_messages()
                    .max_transmit_size(MAX_RECORD_BYTES + 1024)
                    .build()?;
                let gossipsub = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Anonymous,
                    gossip_config,
                )?;
                let codec =
                    request_response::cbor::codec::Codec::<SyncRequest, SyncResponse>::default()
                        .set_request_size_maximum(1 << 20)
                        .set_response_size_maximum(MAX_SYNC_RESPONSE);
                let sync = request_response::Behaviour::with_codec(
                    codec,
                    [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(120)),
                );
                let skill_codec =
                    request_response::cbor::codec::Codec::<SkillRequest, SkillResponse>::default()
                        .set_request_size_maximum(4 << 10)
                        .set_response_size_maximum(MAX_PACKAGE_BYTES + (1 << 10));
                let skills = request_response::Behaviour::with_codec(
                    skill_codec,
                    [(
                        StreamProtocol::new(SKILL_FETCH_PROTOCOL),
                        ProtocolSupport::Full,
                    )],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(120)),
                );
                let identify = identify::Behaviour::new(identify::Config::new(
                    "/hyper/1".into(),
                    key.public(),
                ));
                let mut kad = kad::Behaviour::with_config(
                    key.public().to_peer_id(),
                    kad::store::MemoryStore::new(key.public().to_peer_id()),
                    kad::Config::new(StreamProtocol::new(KAD_PROTOCOL)),
                );
                // Serve the DHT even before an external address is confirmed (loopback, LAN):
                // otherwise nobody would store or answer provider records.
                kad.set_mode(Some(kad::Mode::Server));
                let mdns = if mdns_enabled {
                    Some(mdns::tokio::Behaviour::new(
                        mdns::Config::default(),
                        key.public().to_peer_id(),
                    )?)
                } else {
                    None
                };
                Ok(Behaviour {
                    gossipsub,
                    sync,
                    skills,
                    identify,
                    kad,
                    mdns: Toggle::from(mdns),
                })
            },
        )
        .map_err(|e| anyhow::anyhow!("building the node: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let mut boards_by_domain = HashMap::new();
    for domain in &config.domains {
        swarm.behaviour_mut().gossipsub.subscribe(&topic(domain))?;
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&coordination_topic(domain))?;
        let board = match boards.get(domain) {
            Some(snapshot) => Board::from_snapshot(domain, loro_peer(&peer_id), snapshot)
                .map_err(|e| anyhow::anyhow!("restoring the {domain} board: {e}"))?,
            None => Board::new(domain, loro_peer(&peer_id)),
        };
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
    let mut task = NodeTask {
        swarm,
        key: ed25519_dalek::SigningKey::from_bytes(&signing_secret),
        me: peer_id.to_base58(),
        coordination: Coordination::default(),
        served: HashMap::new(),
        announced_providers: HashMap::new(),
        fetches: HashMap::new(),
        next_fetch: 0,
        lookups: HashMap::new(),
        requests: HashMap::new(),
        result_topics: boards_by_domain.keys().map(|d| topic(d).hash()).collect(),
        boards: boards_by_domain,
        stats: Stats::default(),
        listen: Vec::new(),
        anti_entropy: config.anti_entropy,
        round: 0,
        syncing: HashSet::new(),
        sync_requests: HashMap::new(),
    };
    // Wait until the listeners are up so that `listen_addrs` is useful immediately.
    while task.listen.len() < config.listen.len() {
        match task.swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => task.listen.push(address),
            other => task.handle_event(other),
        }
    }
    tokio::spawn(task.run(rx));
    Ok(NodeClient { tx, peer_id })
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

struct NodeTask {
    swarm: Swarm<Behaviour>,
    /// The node key (the same one as the PeerId's), to sign announcements.
    key: ed25519_dalek::SigningKey,
    /// This node's PeerId, base58.
    me: String,
    coordination: Coordination,
    /// Packages this node serves, by `name@version`.
    served: HashMap<String, SharedSkill>,
    /// Peers that announced they serve `name@version` (bounded).
    announced_providers: HashMap<String, HashSet<PeerId>>,
    fetches: HashMap<u64, Fetch>,
    next_fetch: u64,
    lookups: HashMap<kad::QueryId, u64>,
    requests: HashMap<request_response::OutboundRequestId, u64>,
    boards: HashMap<String, Board>,
    /// The result topics of `boards`, hashed once (checked for every gossip message).
    result_topics: HashSet<gossipsub::TopicHash>,
    stats: Stats,
    listen: Vec<Multiaddr>,
    anti_entropy: Duration,
    /// Anti-entropy rounds so far (which peers are next).
    round: usize,
    /// Sync requests in flight, by (peer, domain) and by request id.
    syncing: HashSet<(PeerId, String)>,
    sync_requests: HashMap<request_response::OutboundRequestId, (PeerId, String)>,
}

impl NodeTask {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(self.anti_entropy);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.handle_event(event),
                command = rx.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.handle_command(command),
                },
                _ = tick.tick() => {
                    // Gossiped records whose authors' operations never came by sync are
                    // written by this node, so that they are not lost.
                    let after = (self.anti_entropy * 3).max(Duration::from_secs(2));
                    for board in self.boards.values() {
                        if let Err(e) = board.settle(after) {
                            tracing::warn!("settling {}: {e}", board.domain);
                        }
                    }
                    // Anti-entropy with a few peers per round, in turn (not all of them: in a
                    // well-connected swarm that would be n² requests every round).
                    let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                    let take = peers.len().min(ANTI_ENTROPY_FANOUT);
                    for i in 0..take {
                        let peer = peers[(self.round + i) % peers.len()];
                        self.request_sync(peer);
                    }
                    self.round = self.round.wrapping_add(take);
                }
            }
        }
    }

    fn drop_message(&mut self, why: &str) {
        *self.stats.dropped.entry(why.to_string()).or_default() += 1;
    }

    fn sync_done(&mut self, id: request_response::OutboundRequestId) {
        if let Some(key) = self.sync_requests.remove(&id) {
            self.syncing.remove(&key);
        }
    }

    fn request_sync(&mut self, peer: PeerId) {
        let requests: Vec<SyncRequest> = self
            .boards
            .values()
            .map(|b| SyncRequest {
                domain: b.domain.clone(),
                version: b.version(),
            })
            .collect();
        for request in requests {
            // One request per peer and domain at a time: a new node would otherwise ask twice
            // (on connecting and at the next round) before the first, large, answer arrived.
            if !self.syncing.insert((peer, request.domain.clone())) {
                continue;
            }
            let domain = request.domain.clone();
            let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
            self.sync_requests.insert(id, (peer, domain));
        }
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Publish(record, reply) => {
                let result = match self.boards.get(&record.record.domain) {
                    None => Err(anyhow::anyhow!(
                        "this node does not follow domain `{}`",
                        record.record.domain
                    )),
                    Some(board) => match board.insert(&record) {
                        Err(e) => Err(anyhow::anyhow!("{e}")),
                        // Already on the board (a re-share after a restart): nothing to say.
                        Ok(false) => Ok(()),
                        Ok(true) => {
                            let bytes = record.encode();
                            match self
                                .swarm
                                .behaviour_mut()
                                .gossipsub
                                .publish(topic(&record.record.domain), bytes)
                            {
                                // Alone, or not yet meshed: the record is on the board and
                                // anti-entropy will carry it.
                                Ok(_)
                                | Err(gossipsub::PublishError::NoPeersSubscribedToTopic)
                                | Err(gossipsub::PublishError::Duplicate) => Ok(()),
                                Err(e) => Err(anyhow::anyhow!("announcing: {e}")),
                            }
                        }
                    },
                };
                let _ = reply.send(result);
            }
            Command::PublishRaw(topic, bytes, reply) => {
                let result = match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
                    Ok(_) | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Ok(()),
                    Err(e) => Err(anyhow::anyhow!("{e}")),
                };
                let _ = reply.send(result);
            }
            Command::Board(domain, reply) => {
                let _ = reply.send(
                    self.boards
                        .get(&domain)
                        .map(Board::results)
                        .unwrap_or_default(),
                );
            }
            Command::Leaderboard(domain, reply) => {
                let _ = reply.send(self.boards.get(&domain).map(Leaderboard::of));
            }
            Command::Count(domain, reply) => {
                let _ = reply.send(self.boards.get(&domain).map(Board::len).unwrap_or(0));
            }
            Command::Snapshot(domain, reply) => {
                let _ = reply.send(self.boards.get(&domain).and_then(|b| b.snapshot().ok()));
            }
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.listen.clone());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats.clone());
            }
            Command::Dial(addr, reply) => {
                let _ = reply.send(
                    self.swarm
                        .dial(addr)
                        .map_err(|e| anyhow::anyhow!("dial: {e}")),
                );
            }
            Command::Claim(body, reply) => {
                let signed = SignedAnnouncement::sign(body, &self.key);
                let topic = match signed.domain() {
                    Some(domain) => coordination_topic(domain),
                    None => skills_topic(),
                };
                // Our own hypotheses are open for our own loops too.
                if matches!(signed.announcement.body, Body::Hypothesis { .. }) {
                    self.coordination.accept(&signed, Instant::now());
                }
                let _ = reply.send(self.announce(topic, signed.encode()));
            }
            Command::Claims(domain, reply) => {
                let _ = reply.send(self.coordination.claims(&domain, &self.me, Instant::now()));
            }
            Command::Hypotheses(domain, reply) => {
                let _ = reply.send(self.coordination.hypotheses(&domain));
            }
            Command::BestFor(domain, skill_hash, evaluator_hash, reply) => {
                let _ = reply.send(
                    self.boards
                        .get(&domain)
                        .and_then(|b| b.best_for(&skill_hash, &evaluator_hash)),
                );
            }
            Command::ShareSkill(skill, reply) => {
                let key = format!("{}@{}", skill.name, skill.version);
                let body = Body::Skill {
                    name: skill.name.clone(),
                    version: skill.version.clone(),
                    package_hash: skill.package_hash.clone(),
                    size: skill.bytes.len() as u64,
                };
                let provided = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .start_providing(skill_key(&skill.name, &skill.version));
                self.served.insert(key, skill);
                let result = match provided {
                    Err(e) => Err(anyhow::anyhow!("provider record: {e}")),
                    Ok(_) => {
                        let signed = SignedAnnouncement::sign(body, &self.key);
                        self.announce(skills_topic(), signed.encode())
                    }
                };
                let _ = reply.send(result);
            }
            Command::FetchSkill(name, version, reply) => self.start_fetch(name, version, reply),
            Command::Shutdown => {}
        }
    }

    /// Publishes on a topic; being alone (or not yet meshed) is not an error.
    fn announce(&mut self, topic: IdentTopic, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
            Ok(_)
            | Err(gossipsub::PublishError::NoPeersSubscribedToTopic)
            | Err(gossipsub::PublishError::Duplicate) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("announcing: {e}")),
        }
    }

    fn start_fetch(
        &mut self,
        name: String,
        version: String,
        reply: oneshot::Sender<anyhow::Result<Vec<u8>>>,
    ) {
        let key = format!("{name}@{version}");
        if let Some(local) = self.served.get(&key) {
            let _ = reply.send(Ok(local.bytes.as_ref().clone()));
            return;
        }
        let id = self.next_fetch;
        self.next_fetch += 1;
        let candidates: Vec<PeerId> = self
            .announced_providers
            .get(&key)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        let query = self
            .swarm
            .behaviour_mut()
            .kad
            .get_providers(skill_key(&name, &version));
        self.lookups.insert(query, id);
        self.fetches.insert(
            id,
            Fetch {
                name,
                version,
                reply,
                candidates,
                tried: HashSet::new(),
                lookup_done: false,
                in_flight: false,
            },
        );
        self.advance_fetch(id);
    }

    /// Sends the next request of a fetch, or ends it when nobody is left to ask.
    fn advance_fetch(&mut self, id: u64) {
        let Some(fetch) = self.fetches.get_mut(&id) else {
            return;
        };
        if fetch.in_flight {
            return;
        }
        let me = *self.swarm.local_peer_id();
        while let Some(peer) = fetch.candidates.pop() {
            if peer == me || !fetch.tried.insert(peer) {
                continue;
            }
            let request = SkillRequest {
                name: fetch.name.clone(),
                version: fetch.version.clone(),
            };
            let rid = self
                .swarm
                .behaviour_mut()
                .skills
                .send_request(&peer, request);
            fetch.in_flight = true;
            self.requests.insert(rid, id);
            return;
        }
        if fetch.lookup_done {
            if let Some(fetch) = self.fetches.remove(&id) {
                let _ = fetch.reply.send(Err(anyhow::anyhow!(
                    "no peer serves {}@{} (asked {} peer(s))",
                    fetch.name,
                    fetch.version,
                    fetch.tried.len()
                )));
            }
        }
    }

    /// A request of a fetch ended: with the package, or with nothing (then try the next peer).
    fn fetch_answered(
        &mut self,
        rid: request_response::OutboundRequestId,
        package: Option<Vec<u8>>,
    ) {
        let Some(id) = self.requests.remove(&rid) else {
            return;
        };
        match package {
            Some(bytes) => {
                if let Some(fetch) = self.fetches.remove(&id) {
                    let _ = fetch.reply.send(Ok(bytes));
                }
            }
            None => {
                if let Some(fetch) = self.fetches.get_mut(&id) {
                    fetch.in_flight = false;
                }
                self.advance_fetch(id);
            }
        }
    }

    fn handle_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => self.listen.push(address),
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer_id, endpoint.get_remote_address().clone());
                self.request_sync(peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let acceptance = if self.is_result_topic(&message.topic) {
                    self.accept_gossip(&message.topic, &message.data)
                } else {
                    self.accept_announcement(&message.topic, &message.data)
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                peer,
                message,
                ..
            })) => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let updates = self
                        .boards
                        .get(&request.domain)
                        .and_then(|b| b.updates_since(&request.version).ok())
                        .unwrap_or_default();
                    let _ = self.swarm.behaviour_mut().sync.send_response(
                        channel,
                        SyncResponse {
                            domain: request.domain,
                            updates,
                        },
                    );
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.sync_done(request_id);
                    if response.updates.is_empty() {
                        return;
                    }
                    let imported = match self.boards.get(&response.domain) {
                        Some(board) => board
                            .import_checked(&response.updates)
                            .map_err(|e| e.to_string()),
                        None => Err(format!("unknown domain {}", response.domain)),
                    };
                    match imported {
                        Ok(_) => self.stats.sync_imports += 1,
                        Err(e) => {
                            self.stats.sync_refused += 1;
                            tracing::warn!("refused board update from {peer}: {e}");
                        }
                    }
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Sync(
                request_response::Event::OutboundFailure {
                    request_id, error, ..
                },
            )) => {
                tracing::debug!("board sync request failed: {error}");
                self.sync_done(request_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Skills(request_response::Event::Message {
                message,
                ..
            })) => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let package = self
                        .served
                        .get(&format!("{}@{}", request.name, request.version))
                        .map(|s| s.bytes.as_ref().clone());
                    if package.is_some() {
                        self.stats.skills_served += 1;
                    }
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .skills
                        .send_response(channel, SkillResponse { package });
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.fetch_answered(request_id, response.package),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Skills(
                request_response::Event::OutboundFailure {
                    request_id, error, ..
                },
            )) => {
                tracing::debug!("skill request failed: {error}");
                self.fetch_answered(request_id, None);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(found),
                step,
                ..
            })) => {
                let Some(&fetch_id) = self.lookups.get(&id) else {
                    return;
                };
                let mut done = step.last;
                match found {
                    Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => {
                        if let Some(fetch) = self.fetches.get_mut(&fetch_id) {
                            fetch.candidates.extend(providers);
                        }
                    }
                    Ok(kad::GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => done = true,
                    Err(e) => {
                        tracing::debug!("provider lookup: {e}");
                        done = true;
                    }
                }
                if done {
                    self.lookups.remove(&id);
                    if let Some(fetch) = self.fetches.get_mut(&fetch_id) {
                        fetch.lookup_done = true;
                    }
                }
                self.advance_fetch(fetch_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    let _ = self.swarm.dial(addr);
                }
            }
            _ => {}
        }
    }

    fn is_result_topic(&self, hash: &gossipsub::TopicHash) -> bool {
        self.result_topics.contains(hash)
    }

    /// Strict validation of a claim, hypothesis or skill announcement before it is accepted
    /// or forwarded.
    fn accept_announcement(
        &mut self,
        topic_hash: &gossipsub::TopicHash,
        data: &[u8],
    ) -> MessageAcceptance {
        let signed = match SignedAnnouncement::decode(data) {
            Ok(s) => s,
            Err(e) => {
                self.drop_message(reason(&e));
                return MessageAcceptance::Reject;
            }
        };
        let expected = match signed.domain() {
            Some(domain) => coordination_topic(domain),
            None => skills_topic(),
        };
        if expected.hash() != *topic_hash {
            self.drop_message("wrong-topic");
            return MessageAcceptance::Reject;
        }
        match &signed.announcement.body {
            Body::Skill { name, version, .. } => {
                // The author (who signed it) says it serves the package.
                let author_peer: Option<PeerId> = signed.announcement.author.parse().ok();
                if self.announced_providers.len() >= 4096 {
                    self.drop_message("too-many-skills");
                    return MessageAcceptance::Ignore;
                }
                if let Some(peer) = author_peer {
                    self.announced_providers
                        .entry(format!("{name}@{version}"))
                        .or_default()
                        .insert(peer);
                }
                self.stats.skill_announcements += 1;
                MessageAcceptance::Accept
            }
            Body::Claim { .. } | Body::Hypothesis { .. } => {
                if !signed.domain().is_some_and(|d| self.boards.contains_key(d)) {
                    return MessageAcceptance::Ignore;
                }
                if !self.coordination.accept(&signed, Instant::now()) {
                    self.drop_message("stale");
                    return MessageAcceptance::Reject;
                }
                match signed.announcement.body {
                    Body::Claim { .. } => self.stats.claims += 1,
                    _ => self.stats.hypotheses += 1,
                }
                MessageAcceptance::Accept
            }
        }
    }

    /// Strict validation of an announced record before it is accepted or forwarded.
    fn accept_gossip(
        &mut self,
        topic_hash: &gossipsub::TopicHash,
        data: &[u8],
    ) -> MessageAcceptance {
        // Parsed here, verified once, by the board.
        let signed = match SignedResult::parse(data) {
            Ok(s) => s,
            Err(e) => {
                self.drop_message(reason(&e));
                return MessageAcceptance::Reject;
            }
        };
        if topic(&signed.record.domain).hash() != *topic_hash {
            self.drop_message("wrong-topic");
            return MessageAcceptance::Reject;
        }
        let Some(board) = self.boards.get(&signed.record.domain) else {
            return MessageAcceptance::Ignore;
        };
        match board.accept_remote(&signed) {
            Ok(true) => {
                self.stats.accepted += 1;
                self.coordination.finished(
                    &signed.record.domain,
                    &signed.record.author,
                    &signed.record.params,
                );
                MessageAcceptance::Accept
            }
            Ok(false) => {
                // A replay of something we have: not forwarded again.
                self.stats.duplicates += 1;
                MessageAcceptance::Ignore
            }
            Err(BoardError::Record(e)) => {
                self.drop_message(reason(&e));
                MessageAcceptance::Reject
            }
            Err(_) => {
                self.drop_message("refused-by-board");
                MessageAcceptance::Reject
            }
        }
    }
}
