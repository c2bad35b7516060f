//! The task that owns the swarm and the boards: it answers commands from [`NodeClient`]s and
//! dispatches swarm events to the part that handles them.
//!
//! [`NodeClient`]: super::NodeClient

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::{kad, mdns, Multiaddr, PeerId, Swarm};
use tokio::sync::mpsc;

use super::behaviour::{Behaviour, BehaviourEvent};
use super::client::Command;
use super::skill_fetch::Fetches;
use super::verification::Verification;
use super::{coordination_topic, skills_topic, topic, Leaderboard, NodeConfig, SharedSkill, Stats};
use crate::announce::{Body, Coordination, SignedAnnouncement};
use crate::board::Board;

pub(super) struct NodeTask {
    pub swarm: Swarm<Behaviour>,
    /// The node key (the same one as the PeerId's), to sign announcements and attestations.
    pub key: ed25519_dalek::SigningKey,
    /// This node's PeerId, base58.
    pub me: String,
    pub coordination: Coordination,
    /// Packages this node serves, by `name@version`.
    pub served: HashMap<String, SharedSkill>,
    /// Peers that announced they serve `name@version` (bounded).
    pub announced_providers: HashMap<String, HashSet<PeerId>>,
    pub fetches: Fetches,
    pub boards: HashMap<String, Board>,
    /// The result and attestation topics of `boards`, hashed once (checked for every gossip
    /// message).
    pub result_topics: HashSet<gossipsub::TopicHash>,
    pub attestation_topics: HashSet<gossipsub::TopicHash>,
    pub verification: Verification,
    pub stats: Stats,
    pub listen: Vec<Multiaddr>,
    pub anti_entropy: Duration,
    /// Anti-entropy rounds so far (which peers are next).
    pub round: usize,
    /// Sync requests in flight, by (peer, domain) and by request id.
    pub syncing: HashSet<(PeerId, String)>,
    pub sync_requests: HashMap<request_response::OutboundRequestId, (PeerId, String)>,
    /// The live feed (boards announce their own new entries; claims and hypotheses here).
    pub feed: crate::feed::Feed,
}

impl NodeTask {
    pub fn new(
        swarm: Swarm<Behaviour>,
        key: ed25519_dalek::SigningKey,
        boards: HashMap<String, Board>,
        config: &NodeConfig,
        feed: crate::feed::Feed,
    ) -> Self {
        let me = swarm.local_peer_id().to_base58();
        NodeTask {
            swarm,
            key,
            verification: Verification::new(&me, config),
            me,
            coordination: Coordination::default(),
            served: HashMap::new(),
            announced_providers: HashMap::new(),
            fetches: Fetches::default(),
            result_topics: boards.keys().map(|d| topic(d).hash()).collect(),
            attestation_topics: boards
                .keys()
                .map(|d| super::attestation_topic(d).hash())
                .collect(),
            boards,
            stats: Stats::default(),
            listen: Vec::new(),
            anti_entropy: config.anti_entropy,
            round: 0,
            syncing: HashSet::new(),
            sync_requests: HashMap::new(),
            feed,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(self.anti_entropy);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.handle_event(event),
                command = rx.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.handle_command(command),
                },
                _ = tick.tick() => {
                    self.anti_entropy_round();
                    self.update_scores();
                }
            }
        }
    }

    pub fn drop_message(&mut self, why: &str) {
        *self.stats.dropped.entry(why.to_string()).or_default() += 1;
    }

    /// Publishes on a topic; being alone (or not yet meshed) is not an error.
    pub fn announce(&mut self, topic: IdentTopic, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
            Ok(_)
            | Err(gossipsub::PublishError::NoPeersSubscribedToTopic)
            | Err(gossipsub::PublishError::Duplicate) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("announcing: {e}")),
        }
    }

    fn publish_result(&mut self, record: &crate::record::SignedResult) -> anyhow::Result<()> {
        let Some(board) = self.boards.get(&record.record.domain) else {
            anyhow::bail!(
                "this node does not follow domain `{}`",
                record.record.domain
            );
        };
        match board.insert(record) {
            Err(e) => Err(anyhow::anyhow!("{e}")),
            // Already on the board (a re-share after a restart): nothing to say. Alone, or
            // not yet meshed: the record is on the board and anti-entropy will carry it.
            Ok(false) => Ok(()),
            Ok(true) => self.announce(topic(&record.record.domain), record.encode()),
        }
    }

    /// See [`super::NodeClient::claimed_first`].
    fn claimed_first(
        &mut self,
        domain: &str,
        skill_hash: &str,
        params: &serde_json::Value,
    ) -> Option<String> {
        let board = self.boards.get(domain)?;
        let claims = self.coordination.claims(domain, &self.me, Instant::now());
        claims
            .into_iter()
            .filter(|c| c.skill_hash == skill_hash && c.params == *params && c.author < self.me)
            .map(|c| c.author)
            .filter(|author| self.verification.has_standing(board, author))
            .min()
    }

    pub fn handle_command(&mut self, command: Command) {
        match command {
            Command::Publish(record, reply) => {
                let _ = reply.send(self.publish_result(&record));
            }
            Command::PublishRaw(topic, bytes, reply) => {
                let result = match self.swarm.behaviour_mut().gossipsub.publish(topic, bytes) {
                    Ok(_) | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Ok(()),
                    Err(e) => Err(anyhow::anyhow!("{e}")),
                };
                let _ = reply.send(result);
            }
            Command::Attestations(domain, reply) => {
                let _ = reply.send(
                    self.boards
                        .get(&domain)
                        .map(Board::attestations)
                        .unwrap_or_default(),
                );
            }
            Command::Board(domain, reply) => {
                let _ = reply.send(
                    self.boards
                        .get(&domain)
                        .map(Board::results)
                        .unwrap_or_default(),
                );
            }
            Command::Leaderboard(domain, all, reply) => {
                let board = self.boards.get(&domain).map(|board| {
                    let view = self.verification.view(board);
                    Leaderboard::of(board, view, all)
                });
                let _ = reply.send(board);
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
                if let Some(event) = crate::feed::FeedEvent::of_announcement(&signed) {
                    self.feed.send(event);
                }
                let _ = reply.send(self.announce(topic, signed.encode()));
            }
            Command::Claims(domain, reply) => {
                let _ = reply.send(self.coordination.claims(&domain, &self.me, Instant::now()));
            }
            Command::ClaimedFirst(domain, skill_hash, params, reply) => {
                let _ = reply.send(self.claimed_first(&domain, &skill_hash, &params));
            }
            Command::Hypotheses(domain, reply) => {
                let _ = reply.send(self.coordination.hypotheses(&domain));
            }
            Command::BestFor(domain, skill_hash, evaluator_hash, reply) => {
                let best = self.boards.get(&domain).and_then(|board| {
                    let view = self.verification.view(board);
                    board.best_for_where(&skill_hash, &evaluator_hash, &|r| view.adoptable(r))
                });
                let _ = reply.send(best);
            }
            Command::Observations(domain, skill_hash, evaluator_hash, reply) => {
                let observed = self.boards.get(&domain).map(|board| {
                    let view = self.verification.view(board);
                    board.with_entries(|results, _| {
                        let same = results.values().filter(|r| {
                            r.record.skill_hash == skill_hash
                                && r.record.evaluator_hash == evaluator_hash
                        });
                        view.learnable_results(
                            same,
                            &self.me,
                            super::client::MAX_OBSERVATIONS,
                            super::client::MAX_OBSERVATIONS_PER_AUTHOR,
                        )
                    })
                });
                let _ = reply.send(observed.unwrap_or_default());
            }
            Command::ShareSkill(skill, reply) => {
                let _ = reply.send(self.share_skill(skill));
            }
            Command::FetchSkill(name, version, reply) => {
                self.start_fetch(super::skill_fetch::Wanted::Named(name, version), reply)
            }
            Command::FetchComponent(sha256, reply) => {
                self.start_fetch(super::skill_fetch::Wanted::Component(sha256), reply)
            }
            Command::Attest(attestation, reply) => {
                let _ = reply.send(self.publish_attestation(&attestation));
            }
            Command::Trust(domain, reply) => {
                let report = self
                    .boards
                    .get(&domain)
                    .map(|board| self.verification.report(board));
                let _ = reply.send(report);
            }
            Command::GetResult(domain, key, reply) => {
                let _ = reply.send(self.boards.get(&domain).and_then(|b| b.get(&key)));
            }
            Command::ReplayCandidates(domain, limit, reply) => {
                let candidates = self
                    .boards
                    .get(&domain)
                    .map(|board| self.verification.candidates(board, limit))
                    .unwrap_or_default();
                let _ = reply.send(candidates);
            }
            Command::PeerScore(peer, reply) => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::Shutdown => {}
        }
    }

    pub fn handle_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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
                self.update_score(peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let acceptance = if self.result_topics.contains(&message.topic) {
                    self.accept_gossip(&message.topic, &message.data)
                } else if self.attestation_topics.contains(&message.topic) {
                    self.accept_attestation(&message.topic, &message.data)
                } else {
                    self.accept_announcement(&message.topic, &message.data)
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Skills(event)) => self.on_skills_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(found),
                step,
                ..
            })) => self.on_providers(id, found, step.last),
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
}
