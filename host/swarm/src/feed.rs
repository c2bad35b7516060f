//! The node's live feed: every new entry a board takes in (results and attestations, from
//! gossip, sync or this node) and every claim and hypothesis the node accepts, as events on
//! a broadcast channel that any number of readers (the dashboard's pages) subscribe to.
//!
//! A slow reader loses the oldest events (tokio's broadcast `Lagged`), never slows the node:
//! the sender never waits.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::announce::{Body, SignedAnnouncement};
use crate::attest::SignedAttestation;
use crate::record::SignedResult;

/// Events kept for a reader that falls behind before it loses the oldest.
pub const FEED_CAPACITY: usize = 1024;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeedEvent {
    Result {
        domain: String,
        key: String,
        author: String,
        id: String,
        skill_hash: String,
        metric: String,
        val: Option<f64>,
        status: String,
        finished_ms: u64,
    },
    Attestation {
        domain: String,
        subject: String,
        attester: String,
        verdict: String,
        val: Option<f64>,
        finished_ms: u64,
    },
    Claim {
        domain: String,
        author: String,
        skill_hash: String,
        params: serde_json::Value,
        issued_ms: u64,
    },
    Hypothesis {
        domain: String,
        author: String,
        id: String,
        note: String,
        issued_ms: u64,
    },
}

impl FeedEvent {
    pub fn domain(&self) -> &str {
        match self {
            FeedEvent::Result { domain, .. }
            | FeedEvent::Attestation { domain, .. }
            | FeedEvent::Claim { domain, .. }
            | FeedEvent::Hypothesis { domain, .. } => domain,
        }
    }

    pub fn of_result(r: &SignedResult) -> Self {
        let rec = &r.record;
        FeedEvent::Result {
            domain: rec.domain.clone(),
            key: r.key(),
            author: rec.author.clone(),
            id: rec.id.clone(),
            skill_hash: rec.skill_hash.clone(),
            metric: rec.metric.clone(),
            val: rec.val,
            status: rec.status.clone(),
            finished_ms: rec.finished_ms,
        }
    }

    pub fn of_attestation(a: &SignedAttestation) -> Self {
        let at = &a.attestation;
        FeedEvent::Attestation {
            domain: at.domain.clone(),
            subject: at.subject.clone(),
            attester: at.attester.clone(),
            verdict: at.verdict.as_str().to_string(),
            val: at.val,
            finished_ms: at.finished_ms,
        }
    }

    /// A claim or hypothesis; None for what the feed does not show (skill announcements).
    pub fn of_announcement(s: &SignedAnnouncement) -> Option<Self> {
        let a = &s.announcement;
        match &a.body {
            Body::Claim {
                domain,
                skill_hash,
                params,
                ..
            } => Some(FeedEvent::Claim {
                domain: domain.clone(),
                author: a.author.clone(),
                skill_hash: skill_hash.clone(),
                params: params.clone(),
                issued_ms: a.issued_ms,
            }),
            Body::Hypothesis {
                domain, id, note, ..
            } => Some(FeedEvent::Hypothesis {
                domain: domain.clone(),
                author: a.author.clone(),
                id: id.clone(),
                note: note.clone(),
                issued_ms: a.issued_ms,
            }),
            Body::Skill { .. } => None,
        }
    }
}

/// The sending side, cloned into every board and the node task.
#[derive(Clone)]
pub struct Feed(broadcast::Sender<FeedEvent>);

impl Default for Feed {
    fn default() -> Self {
        Feed(broadcast::channel(FEED_CAPACITY).0)
    }
}

impl Feed {
    /// Sends to whoever listens (nobody listening is fine).
    pub fn send(&self, event: FeedEvent) {
        let _ = self.0.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FeedEvent> {
        self.0.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::TryRecvError;

    fn hypothesis(n: usize) -> FeedEvent {
        FeedEvent::Hypothesis {
            domain: "search".into(),
            author: "a".into(),
            id: format!("h{n}"),
            note: String::new(),
            issued_ms: n as u64,
        }
    }

    /// A reader that never reads costs the node nothing: the sender does not wait, the reader
    /// is told how many it missed and goes on from the oldest event still kept.
    #[test]
    fn a_reader_that_falls_behind_loses_the_oldest_events_and_never_blocks_the_node() {
        let feed = Feed::default();
        let mut slow = feed.subscribe();
        let extra = 10;
        for n in 0..FEED_CAPACITY + extra {
            feed.send(hypothesis(n));
        }
        assert_eq!(slow.try_recv(), Err(TryRecvError::Lagged(extra as u64)));
        assert_eq!(slow.try_recv(), Ok(hypothesis(extra)));
        let mut rest = 1;
        while slow.try_recv().is_ok() {
            rest += 1;
        }
        assert_eq!(rest, FEED_CAPACITY);
        // Nobody listening is fine too.
        drop(slow);
        feed.send(hypothesis(0));
    }
}
