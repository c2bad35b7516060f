//! Skill packages between peers: serving what this node shares (announced by gossip and as
//! Kademlia provider records, under its name and version and under its component's hash),
//! and fetching a package from the peers that provide it, one request at a time.
//!
//! Fetched bytes are untrusted: callers run every install check on them (or, for a replay,
//! check the component's hash and run it in the sandbox).

use std::collections::{HashMap, HashSet};

use libp2p::{kad, request_response, PeerId};
use tokio::sync::oneshot;

use super::event_loop::NodeTask;
use super::{component_key, skill_key, skills_topic, SharedSkill, SkillRequest, SkillResponse};
use crate::announce::{Body, SignedAnnouncement};

type SkillsEvent = request_response::Event<SkillRequest, SkillResponse>;
type Reply = oneshot::Sender<anyhow::Result<Vec<u8>>>;

/// What a fetch looks for.
#[derive(Clone, Debug)]
pub(super) enum Wanted {
    Named(String, String),
    /// A package whose component has this SHA-256.
    Component(String),
}

impl Wanted {
    fn describe(&self) -> String {
        match self {
            Wanted::Named(name, version) => format!("{name}@{version}"),
            Wanted::Component(sha) => format!("a skill with component sha256 {sha}"),
        }
    }

    fn request(&self) -> SkillRequest {
        match self {
            Wanted::Named(name, version) => SkillRequest {
                name: name.clone(),
                version: version.clone(),
                component_sha256: None,
            },
            Wanted::Component(sha) => SkillRequest {
                name: String::new(),
                version: String::new(),
                component_sha256: Some(sha.clone()),
            },
        }
    }

    fn key(&self) -> kad::RecordKey {
        match self {
            Wanted::Named(name, version) => skill_key(name, version),
            Wanted::Component(sha) => component_key(sha),
        }
    }
}

/// A package being looked for: providers to try, one request in flight at a time.
struct Fetch {
    wanted: Wanted,
    reply: Reply,
    candidates: Vec<PeerId>,
    tried: HashSet<PeerId>,
    lookup_done: bool,
    in_flight: bool,
}

/// Every fetch in progress, with the Kademlia lookups and requests that serve them.
#[derive(Default)]
pub(super) struct Fetches {
    fetches: HashMap<u64, Fetch>,
    next: u64,
    lookups: HashMap<kad::QueryId, u64>,
    requests: HashMap<request_response::OutboundRequestId, u64>,
}

impl NodeTask {
    /// Serves a package: a gossip announcement plus provider records by name and by hash.
    pub(super) fn share_skill(&mut self, skill: SharedSkill) -> anyhow::Result<()> {
        let key = format!("{}@{}", skill.name, skill.version);
        let body = Body::Skill {
            name: skill.name.clone(),
            version: skill.version.clone(),
            package_hash: skill.package_hash.clone(),
            size: skill.bytes.len() as u64,
        };
        let kad = &mut self.swarm.behaviour_mut().kad;
        let provided = kad
            .start_providing(skill_key(&skill.name, &skill.version))
            .and_then(|_| kad.start_providing(component_key(&skill.component_sha256)));
        self.served.insert(key, skill);
        match provided {
            Err(e) => Err(anyhow::anyhow!("provider record: {e}")),
            Ok(_) => {
                let signed = SignedAnnouncement::sign(body, &self.key);
                self.announce(skills_topic(), signed.encode())
            }
        }
    }

    /// A package this node serves that matches a request.
    fn served_for(&self, request: &SkillRequest) -> Option<&SharedSkill> {
        match &request.component_sha256 {
            Some(sha) => self.served.values().find(|s| s.component_sha256 == *sha),
            None => self
                .served
                .get(&format!("{}@{}", request.name, request.version)),
        }
    }

    pub(super) fn start_fetch(&mut self, wanted: Wanted, reply: Reply) {
        if let Some(local) = self.served_for(&wanted.request()) {
            let _ = reply.send(Ok(local.bytes.as_ref().clone()));
            return;
        }
        let id = self.fetches.next;
        self.fetches.next += 1;
        let mut candidates: Vec<PeerId> = match &wanted {
            Wanted::Named(name, version) => self
                .announced_providers
                .get(&format!("{name}@{version}"))
                .map(|set| set.iter().copied().collect())
                .unwrap_or_default(),
            Wanted::Component(_) => Vec::new(),
        };
        if matches!(wanted, Wanted::Component(_)) {
            // Connected peers are asked too: a provider record may not have spread yet.
            candidates.extend(self.swarm.connected_peers().copied());
        }
        let query = self.swarm.behaviour_mut().kad.get_providers(wanted.key());
        self.fetches.lookups.insert(query, id);
        self.fetches.fetches.insert(
            id,
            Fetch {
                wanted,
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
        let me = *self.swarm.local_peer_id();
        let Some(fetch) = self.fetches.fetches.get_mut(&id) else {
            return;
        };
        if fetch.in_flight {
            return;
        }
        while let Some(peer) = fetch.candidates.pop() {
            if peer == me || !fetch.tried.insert(peer) {
                continue;
            }
            let request = fetch.wanted.request();
            let rid = self
                .swarm
                .behaviour_mut()
                .skills
                .send_request(&peer, request);
            fetch.in_flight = true;
            self.fetches.requests.insert(rid, id);
            return;
        }
        if fetch.lookup_done {
            if let Some(fetch) = self.fetches.fetches.remove(&id) {
                let _ = fetch.reply.send(Err(anyhow::anyhow!(
                    "no peer serves {} (asked {} peer(s))",
                    fetch.wanted.describe(),
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
        let Some(id) = self.fetches.requests.remove(&rid) else {
            return;
        };
        match package {
            Some(bytes) => {
                if let Some(fetch) = self.fetches.fetches.remove(&id) {
                    let _ = fetch.reply.send(Ok(bytes));
                }
            }
            None => {
                if let Some(fetch) = self.fetches.fetches.get_mut(&id) {
                    fetch.in_flight = false;
                }
                self.advance_fetch(id);
            }
        }
    }

    pub(super) fn on_skills_event(&mut self, event: SkillsEvent) {
        match event {
            request_response::Event::Message { message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let package = self.served_for(&request).map(|s| s.bytes.as_ref().clone());
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
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                tracing::debug!("skill request failed: {error}");
                self.fetch_answered(request_id, None);
            }
            _ => {}
        }
    }

    /// Progress of a provider lookup: more peers to ask, or the end of the lookup.
    pub(super) fn on_providers(
        &mut self,
        query: kad::QueryId,
        found: kad::GetProvidersResult,
        last: bool,
    ) {
        let Some(&fetch_id) = self.fetches.lookups.get(&query) else {
            return;
        };
        let mut done = last;
        match found {
            Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => {
                if let Some(fetch) = self.fetches.fetches.get_mut(&fetch_id) {
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
            self.fetches.lookups.remove(&query);
            if let Some(fetch) = self.fetches.fetches.get_mut(&fetch_id) {
                fetch.lookup_done = true;
            }
        }
        self.advance_fetch(fetch_id);
    }
}
