//! Board anti-entropy: on every new connection and every interval, a few peers are asked
//! for the board updates this node lacks (by Loro version vector); what they answer is
//! checked entry by entry before it is imported (see [`crate::board`]).

use std::time::Duration;

use libp2p::request_response;
use libp2p::PeerId;

use super::event_loop::NodeTask;
use super::{SyncRequest, SyncResponse, ANTI_ENTROPY_FANOUT};

type SyncEvent = request_response::Event<SyncRequest, SyncResponse>;

impl NodeTask {
    /// One interval's work: settle gossiped entries nobody synced, ask a few peers.
    pub(super) fn anti_entropy_round(&mut self) {
        // Gossiped entries whose authors' operations never came by sync are written by this
        // node, so that they are not lost.
        let after = (self.anti_entropy * 3).max(Duration::from_secs(2));
        for board in self.boards.values() {
            if let Err(e) = board.settle(after) {
                tracing::warn!("settling {}: {e}", board.domain);
            }
        }
        // A few peers per round, in turn (not all of them: in a well-connected swarm that
        // would be n² requests every round).
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        let take = peers.len().min(ANTI_ENTROPY_FANOUT);
        for i in 0..take {
            let peer = peers[(self.round + i) % peers.len()];
            self.request_sync(peer);
        }
        self.round = self.round.wrapping_add(take);
    }

    fn sync_done(&mut self, id: request_response::OutboundRequestId) {
        if let Some(key) = self.sync_requests.remove(&id) {
            self.syncing.remove(&key);
        }
    }

    pub(super) fn request_sync(&mut self, peer: PeerId) {
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

    pub(super) fn on_sync_event(&mut self, event: SyncEvent) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
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
                    self.import(peer, response);
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                tracing::debug!("board sync request failed: {error}");
                self.sync_done(request_id);
            }
            _ => {}
        }
    }

    fn import(&mut self, peer: PeerId, response: SyncResponse) {
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
}
