//! Signed announcements other than results, and the node's view of them:
//!
//! - **claims**: "I am about to run these parameters" — other loops skip them and anything near
//!   them while the claim is fresh. A claim lapses after its TTL (capped by the receiver, so a
//!   claimer that goes silent frees its region) or as soon as the claimer's result arrives.
//! - **hypotheses**: an idea for others — a region of the parameter space (some parameters
//!   fixed) and/or a skill to try — that other nodes' proposers pick up.
//! - **skills**: "I serve this package" (gossip; the node also puts a Kademlia provider record).
//!
//! Like results, every announcement is signed by its author's node key over canonical JSON
//! with its own domain-separation prefix, and validated strictly before it is accepted or
//! forwarded.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::record::{check_signature, peer_id_of, RecordError};

pub const ANNOUNCE_VERSION: u32 = 1;
/// Largest encoded announcement accepted from the network.
pub const MAX_ANNOUNCE_BYTES: usize = 16 << 10;
/// A receiver never honours a claim for longer than this, whatever the claimer asked for.
pub const MAX_CLAIM_TTL: Duration = Duration::from_secs(600);
/// Announcements issued further than this from the receiver's clock (replays of old claims,
/// wildly wrong clocks) are dropped.
pub const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;
/// Open hypotheses kept per domain (oldest dropped first), so a chatty peer cannot grow memory.
pub const MAX_HYPOTHESES: usize = 256;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Body {
    Claim {
        domain: String,
        skill_hash: String,
        params: serde_json::Value,
        ttl_ms: u64,
    },
    Hypothesis {
        domain: String,
        /// Unique per author.
        id: String,
        /// Parameters to fix (a JSON object, possibly empty).
        params: serde_json::Value,
        /// A skill to try, `name@version`.
        skill: Option<String>,
        note: String,
    },
    Skill {
        name: String,
        version: String,
        /// The package hash (sha256 of its canonical manifest).
        package_hash: String,
        size: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Announcement {
    pub v: u32,
    /// The author's PeerId (base58), derived from the signing key.
    pub author: String,
    /// Milliseconds since the Unix epoch.
    pub issued_ms: u64,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAnnouncement {
    pub announcement: Announcement,
    pub public_key: String,
    pub signature: String,
}

fn message(a: &Announcement) -> Vec<u8> {
    let mut m = b"hyper-announce-v1:".to_vec();
    // Serialising a struct of plain values cannot fail.
    m.extend(serde_json::to_vec(a).unwrap_or_default());
    m
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn short(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max
}

impl SignedAnnouncement {
    pub fn sign(body: Body, key: &SigningKey) -> Self {
        Self::sign_at(body, key, now_ms())
    }

    /// Signs with a given issue time (milliseconds since the Unix epoch).
    pub fn sign_at(body: Body, key: &SigningKey, issued_ms: u64) -> Self {
        let announcement = Announcement {
            v: ANNOUNCE_VERSION,
            author: peer_id_of(&key.verifying_key()),
            issued_ms,
            body,
        };
        SignedAnnouncement {
            public_key: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(key.sign(&message(&announcement)).to_bytes()),
            announcement,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Strict decoding from the network: size, schema, version, field bounds, author,
    /// signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() > MAX_ANNOUNCE_BYTES {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        let signed: SignedAnnouncement =
            serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))?;
        let a = &signed.announcement;
        if a.v != ANNOUNCE_VERSION {
            return Err(RecordError::UnknownVersion(a.v));
        }
        let ok = match &a.body {
            Body::Claim {
                domain,
                skill_hash,
                params,
                ..
            } => short(domain, 64) && short(skill_hash, 128) && params.is_object(),
            Body::Hypothesis {
                domain,
                id,
                params,
                skill,
                note,
            } => {
                short(domain, 64)
                    && short(id, 128)
                    && params.is_object()
                    && skill.as_deref().is_none_or(|s| short(s, 128))
                    && note.len() <= 1024
            }
            Body::Skill {
                name,
                version,
                package_hash,
                ..
            } => short(name, 64) && short(version, 64) && short(package_hash, 128),
        };
        if !ok {
            return Err(RecordError::Malformed("field out of range".into()));
        }
        check_signature(
            &message(a),
            &signed.public_key,
            &signed.signature,
            &a.author,
        )?;
        Ok(signed)
    }

    /// The domain an announcement belongs to (skills belong to none).
    pub fn domain(&self) -> Option<&str> {
        match &self.announcement.body {
            Body::Claim { domain, .. } | Body::Hypothesis { domain, .. } => Some(domain),
            Body::Skill { .. } => None,
        }
    }
}

/// Another node's fresh claim.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Claim {
    pub author: String,
    pub skill_hash: String,
    pub params: serde_json::Value,
}

/// An open hypothesis.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hypothesis {
    /// `<author>/<id>`, unique across the swarm.
    pub key: String,
    pub author: String,
    pub params: serde_json::Value,
    pub skill: Option<String>,
    pub note: String,
    pub issued_ms: u64,
}

/// What the node knows of claims and hypotheses, per domain.
#[derive(Default)]
pub struct Coordination {
    claims: HashMap<String, Vec<(Claim, Instant)>>,
    hypotheses: HashMap<String, BTreeMap<String, Hypothesis>>,
}

impl Coordination {
    /// Takes in a verified claim or hypothesis. Returns false for one that is stale (issued
    /// too long ago or in the future, e.g. a replay) or not about claims and hypotheses.
    pub fn accept(&mut self, signed: &SignedAnnouncement, now: Instant) -> bool {
        let a = &signed.announcement;
        if a.issued_ms.abs_diff(now_ms()) > MAX_CLOCK_SKEW_MS {
            return false;
        }
        match &a.body {
            Body::Claim {
                domain,
                skill_hash,
                params,
                ttl_ms,
            } => {
                let ttl = Duration::from_millis(*ttl_ms).min(MAX_CLAIM_TTL);
                let claim = Claim {
                    author: a.author.clone(),
                    skill_hash: skill_hash.clone(),
                    params: params.clone(),
                };
                let list = self.claims.entry(domain.clone()).or_default();
                list.retain(|(c, expires)| *expires > now && *c != claim);
                list.push((claim, now + ttl));
                true
            }
            Body::Hypothesis {
                domain,
                id,
                params,
                skill,
                note,
            } => {
                let key = format!("{}/{id}", a.author);
                let open = self.hypotheses.entry(domain.clone()).or_default();
                open.insert(
                    key.clone(),
                    Hypothesis {
                        key,
                        author: a.author.clone(),
                        params: params.clone(),
                        skill: skill.clone(),
                        note: note.clone(),
                        issued_ms: a.issued_ms,
                    },
                );
                while open.len() > MAX_HYPOTHESES {
                    let oldest = open
                        .values()
                        .min_by_key(|h| h.issued_ms)
                        .map(|h| h.key.clone());
                    match oldest {
                        Some(k) => open.remove(&k),
                        None => break,
                    };
                }
                true
            }
            Body::Skill { .. } => false,
        }
    }

    /// A result from `author` with `params` arrived: their claim on it is done.
    pub fn finished(&mut self, domain: &str, author: &str, params: &serde_json::Value) {
        if let Some(list) = self.claims.get_mut(domain) {
            list.retain(|(c, _)| !(c.author == author && c.params == *params));
        }
    }

    /// Fresh claims of a domain, by anyone but `except` (this node).
    pub fn claims(&mut self, domain: &str, except: &str, now: Instant) -> Vec<Claim> {
        let Some(list) = self.claims.get_mut(domain) else {
            return Vec::new();
        };
        list.retain(|(_, expires)| *expires > now);
        list.iter()
            .filter(|(c, _)| c.author != except)
            .map(|(c, _)| c.clone())
            .collect()
    }

    pub fn hypotheses(&self, domain: &str) -> Vec<Hypothesis> {
        let mut all: Vec<Hypothesis> = self
            .hypotheses
            .get(domain)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| a.issued_ms.cmp(&b.issued_ms).then(a.key.cmp(&b.key)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn claim(params: serde_json::Value, ttl_ms: u64) -> Body {
        Body::Claim {
            domain: "search".into(),
            skill_hash: "ab".into(),
            params,
            ttl_ms,
        }
    }

    #[test]
    fn announcements_round_trip_and_tampering_is_caught() {
        let signed = SignedAnnouncement::sign(claim(serde_json::json!({"k1": 1.2}), 1000), &key(1));
        let bytes = signed.encode();
        assert_eq!(SignedAnnouncement::decode(&bytes), Ok(signed.clone()));
        let tampered = String::from_utf8(bytes)
            .expect("utf8")
            .replace("1.2", "1.3");
        assert_eq!(
            SignedAnnouncement::decode(tampered.as_bytes()),
            Err(RecordError::BadSignature)
        );
        assert!(matches!(
            SignedAnnouncement::decode(b"{\"nope\":1}"),
            Err(RecordError::Malformed(_))
        ));
        assert!(matches!(
            SignedAnnouncement::decode(&vec![b' '; MAX_ANNOUNCE_BYTES + 1]),
            Err(RecordError::TooLarge(_))
        ));
    }

    #[test]
    fn claims_lapse_by_ttl_or_when_the_result_arrives() {
        let mut c = Coordination::default();
        let now = Instant::now();
        let p = serde_json::json!({"k1": 1.2});
        let a = SignedAnnouncement::sign(claim(p.clone(), 1000), &key(1));
        let b = SignedAnnouncement::sign(claim(serde_json::json!({"k1": 2.0}), 1000), &key(2));
        assert!(c.accept(&a, now));
        assert!(c.accept(&b, now));
        assert_eq!(c.claims("search", "", now).len(), 2);
        // Our own claims are not returned to us.
        let me = a.announcement.author.clone();
        assert_eq!(c.claims("search", &me, now).len(), 1);
        c.finished("search", &me, &p);
        assert_eq!(c.claims("search", "", now).len(), 1);
        assert!(c
            .claims("search", "", now + Duration::from_millis(1001))
            .is_empty());
        // A claimer cannot hold a region longer than the cap.
        let greedy = SignedAnnouncement::sign(claim(p, u64::MAX), &key(3));
        assert!(c.accept(&greedy, now));
        assert!(c.claims("search", "", now + MAX_CLAIM_TTL).is_empty());
    }

    #[test]
    fn stale_announcements_are_refused() {
        let mut c = Coordination::default();
        let a = SignedAnnouncement::sign_at(claim(serde_json::json!({}), 1000), &key(1), 1);
        assert!(!c.accept(&a, Instant::now()));
    }
}
