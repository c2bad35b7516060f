//! What comes in by gossip, checked strictly before it is accepted and forwarded: results,
//! attestations, claims, hypotheses and skill announcements. Anything that fails is rejected
//! (and counted by reason in [`super::Stats`]); gossipsub then stops forwarding it.

use std::time::Instant;

use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::PeerId;

use super::event_loop::NodeTask;
use super::{attestation_topic, coordination_topic, reason, skills_topic, topic};
use crate::announce::{Body, SignedAnnouncement};
use crate::attest::SignedAttestation;
use crate::board::BoardError;
use crate::record::{RecordError, SignedResult};

impl NodeTask {
    /// Strict validation of a claim, hypothesis or skill announcement before it is accepted
    /// or forwarded.
    pub(super) fn accept_announcement(
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
                if let Some(event) = crate::feed::FeedEvent::of_announcement(&signed) {
                    self.feed.send(event);
                }
                MessageAcceptance::Accept
            }
        }
    }

    /// A decoded message on the topic it belongs on, or none (dropped and counted).
    fn on_its_topic<T>(
        &mut self,
        decoded: Result<T, RecordError>,
        topic_of: impl Fn(&T) -> IdentTopic,
        topic_hash: &gossipsub::TopicHash,
    ) -> Option<T> {
        let message = match decoded {
            Ok(m) => m,
            Err(e) => {
                self.drop_message(reason(&e));
                return None;
            }
        };
        if topic_of(&message).hash() != *topic_hash {
            self.drop_message("wrong-topic");
            return None;
        }
        Some(message)
    }

    /// gossipsub's verdict on what a board said about a gossiped entry: new is accepted;
    /// already there is not forwarded again; a bad signature or schema is rejected; any other
    /// refusal is counted as `refused` and answered with `refused_as`.
    fn judge(
        &mut self,
        outcome: Result<bool, BoardError>,
        refused: &str,
        refused_as: MessageAcceptance,
    ) -> MessageAcceptance {
        match outcome {
            Ok(true) => MessageAcceptance::Accept,
            Ok(false) => {
                self.stats.duplicates += 1;
                MessageAcceptance::Ignore
            }
            Err(BoardError::Record(e)) => {
                self.drop_message(reason(&e));
                MessageAcceptance::Reject
            }
            Err(_) => {
                self.drop_message(refused);
                refused_as
            }
        }
    }

    /// Strict validation of an announced record before it is accepted or forwarded.
    pub(super) fn accept_gossip(
        &mut self,
        topic_hash: &gossipsub::TopicHash,
        data: &[u8],
    ) -> MessageAcceptance {
        // Parsed here, verified once, by the board.
        let parsed = SignedResult::parse(data);
        let Some(signed) = self.on_its_topic(parsed, |s| topic(&s.record.domain), topic_hash)
        else {
            return MessageAcceptance::Reject;
        };
        let Some(board) = self.boards.get(&signed.record.domain) else {
            return MessageAcceptance::Ignore;
        };
        let outcome = board.accept_remote(&signed);
        let verdict = self.judge(outcome, "refused-by-board", MessageAcceptance::Reject);
        if matches!(verdict, MessageAcceptance::Accept) {
            self.stats.accepted += 1;
            let r = &signed.record;
            self.coordination.finished(&r.domain, &r.author, &r.params);
        }
        verdict
    }

    /// Strict validation of an attestation before it is accepted or forwarded.
    pub(super) fn accept_attestation(
        &mut self,
        topic_hash: &gossipsub::TopicHash,
        data: &[u8],
    ) -> MessageAcceptance {
        let decoded = SignedAttestation::decode(data);
        let topic_of = |s: &SignedAttestation| attestation_topic(&s.attestation.domain);
        let Some(signed) = self.on_its_topic(decoded, topic_of, topic_hash) else {
            return MessageAcceptance::Reject;
        };
        let Some(board) = self.boards.get(&signed.attestation.domain) else {
            return MessageAcceptance::Ignore;
        };
        // About a result this node lacks, or the board is full of attestations: not
        // forwarded, but not proof of malice either (gossip may have reordered them).
        let outcome = board.accept_attestation(&signed);
        let verdict = self.judge(outcome, "attestation-not-kept", MessageAcceptance::Ignore);
        if matches!(verdict, MessageAcceptance::Accept) {
            self.stats.attestations += 1;
        }
        verdict
    }
}
