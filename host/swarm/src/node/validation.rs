//! What comes in by gossip, checked strictly before it is accepted and forwarded: results,
//! attestations, claims, hypotheses and skill announcements. Anything that fails is rejected
//! (and counted by reason in [`super::Stats`]); gossipsub then stops forwarding it.

use std::time::Instant;

use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::PeerId;

use super::event_loop::NodeTask;
use super::{attestation_topic, coordination_topic, reason, skills_topic, topic};
use crate::announce::{Body, SignedAnnouncement};
use crate::attest::SignedAttestation;
use crate::board::BoardError;
use crate::record::SignedResult;

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
                MessageAcceptance::Accept
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

    /// Strict validation of an attestation before it is accepted or forwarded.
    pub(super) fn accept_attestation(
        &mut self,
        topic_hash: &gossipsub::TopicHash,
        data: &[u8],
    ) -> MessageAcceptance {
        let signed = match SignedAttestation::decode(data) {
            Ok(s) => s,
            Err(e) => {
                self.drop_message(reason(&e));
                return MessageAcceptance::Reject;
            }
        };
        if attestation_topic(&signed.attestation.domain).hash() != *topic_hash {
            self.drop_message("wrong-topic");
            return MessageAcceptance::Reject;
        }
        let Some(board) = self.boards.get(&signed.attestation.domain) else {
            return MessageAcceptance::Ignore;
        };
        match board.accept_attestation(&signed) {
            Ok(true) => {
                self.stats.attestations += 1;
                MessageAcceptance::Accept
            }
            Ok(false) => {
                self.stats.duplicates += 1;
                MessageAcceptance::Ignore
            }
            Err(BoardError::Record(e)) => {
                self.drop_message(reason(&e));
                MessageAcceptance::Reject
            }
            Err(_) => {
                // About a result this node lacks, or the board is full of attestations: not
                // forwarded, but not proof of malice either (gossip may have reordered them).
                self.drop_message("attestation-not-kept");
                MessageAcceptance::Ignore
            }
        }
    }
}
