//! The libp2p node. One task owns the `Swarm` and the boards; the rest of the host talks to it
//! through a cloneable [`NodeClient`] that sends commands with oneshot replies (the shape of
//! rust-libp2p's file-sharing example).
//!
//! - result announcements: gossipsub, topic `/hyper/results/1/<domain>`, messages validated
//!   (size, schema, version, signature, author) before they are accepted and forwarded;
//! - board sync: request-response `/hyper/board-sync/1` — a peer sends its Loro version vector
//!   and gets back only the updates it lacks; on every new connection and every anti-entropy
//!   interval;
//! - identify, Kademlia (peer routing), optional mDNS on the LAN, TCP + noise + yamux.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    identify, identity, kad, mdns, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::board::Board;
use crate::record::{SignedResult, MAX_RECORD_BYTES};

pub const SYNC_PROTOCOL: &str = "/hyper/board-sync/1";

pub fn topic(domain: &str) -> IdentTopic {
    IdentTopic::new(format!("/hyper/results/1/{domain}"))
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

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: vec![Multiaddr::empty()
                .with(libp2p::multiaddr::Protocol::Ip4(
                    std::net::Ipv4Addr::LOCALHOST,
                ))
                .with(libp2p::multiaddr::Protocol::Tcp(0))],
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
}

enum Command {
    Publish(SignedResult, oneshot::Sender<anyhow::Result<()>>),
    PublishRaw(String, Vec<u8>, oneshot::Sender<anyhow::Result<()>>),
    Board(String, oneshot::Sender<Vec<SignedResult>>),
    Count(String, oneshot::Sender<usize>),
    Leaderboard(String, oneshot::Sender<Option<Leaderboard>>),
    Snapshot(String, oneshot::Sender<Option<Vec<u8>>>),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Peers(oneshot::Sender<Vec<PeerId>>),
    Stats(oneshot::Sender<Stats>),
    Dial(Multiaddr, oneshot::Sender<anyhow::Result<()>>),
    Shutdown,
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
        ask!(self, Publish, record)?
    }

    /// Test hook: publishes arbitrary bytes on a domain's topic, as a hostile peer would.
    #[doc(hidden)]
    pub async fn publish_raw(&self, domain: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        ask!(self, PublishRaw, domain.to_string(), bytes)?
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
        .with_behaviour(
            |key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                let gossip_config = gossipsub::ConfigBuilder::default()
                    .heartbeat_interval(Duration::from_millis(200))
                    .validation_mode(gossipsub::ValidationMode::Strict)
                    .validate_messages()
                    .max_transmit_size(MAX_RECORD_BYTES + 1024)
                    .build()?;
                let gossipsub = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
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
                let identify = identify::Behaviour::new(identify::Config::new(
                    "/hyper/1".into(),
                    key.public(),
                ));
                let kad = kad::Behaviour::new(
                    key.public().to_peer_id(),
                    kad::store::MemoryStore::new(key.public().to_peer_id()),
                );
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
        let board = match boards.get(domain) {
            Some(snapshot) => Board::from_snapshot(domain, loro_peer(&peer_id), snapshot)
                .map_err(|e| anyhow::anyhow!("restoring the {domain} board: {e}"))?,
            None => Board::new(domain, loro_peer(&peer_id)),
        };
        boards_by_domain.insert(domain.clone(), board);
    }
    for addr in &config.listen {
        swarm.listen_on(addr.clone())?;
    }
    for addr in &config.bootstrap {
        swarm.dial(addr.clone())?;
    }
    let (tx, rx) = mpsc::channel(256);
    let mut task = NodeTask {
        swarm,
        boards: boards_by_domain,
        stats: Stats::default(),
        listen: Vec::new(),
        anti_entropy: config.anti_entropy,
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

struct NodeTask {
    swarm: Swarm<Behaviour>,
    boards: HashMap<String, Board>,
    stats: Stats,
    listen: Vec<Multiaddr>,
    anti_entropy: Duration,
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
                    let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                    for peer in peers {
                        self.request_sync(peer);
                    }
                }
            }
        }
    }

    fn drop_message(&mut self, why: &str) {
        *self.stats.dropped.entry(why.to_string()).or_default() += 1;
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
            self.swarm.behaviour_mut().sync.send_request(&peer, request);
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
                        Ok(_) => {
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
            Command::PublishRaw(domain, bytes, reply) => {
                let result = match self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(topic(&domain), bytes)
                {
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
            Command::Shutdown => {}
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
                let acceptance = self.accept_gossip(&message.topic, &message.data);
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
                request_response::Message::Response { response, .. } => {
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

    /// Strict validation of an announced record before it is accepted or forwarded.
    fn accept_gossip(
        &mut self,
        topic_hash: &gossipsub::TopicHash,
        data: &[u8],
    ) -> MessageAcceptance {
        let signed = match SignedResult::decode(data) {
            Ok(s) => s,
            Err(e) => {
                let why = match e {
                    crate::record::RecordError::TooLarge(_) => "oversized",
                    crate::record::RecordError::Malformed(_) => "malformed",
                    crate::record::RecordError::UnknownVersion(_) => "unknown-version",
                    _ => "bad-signature",
                };
                self.drop_message(why);
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
        match board.insert(&signed) {
            Ok(true) => {
                self.stats.accepted += 1;
                MessageAcceptance::Accept
            }
            Ok(false) => {
                // A replay of something we have: not forwarded again.
                self.stats.duplicates += 1;
                MessageAcceptance::Ignore
            }
            Err(_) => {
                self.drop_message("refused-by-board");
                MessageAcceptance::Reject
            }
        }
    }
}
