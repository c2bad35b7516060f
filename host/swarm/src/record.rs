//! Signed result records: what a node tells the swarm about one finished experiment.
//!
//! A record is signed by its author's ed25519 key (the node identity that also signs
//! packages), over its canonical JSON with a domain-separation prefix. The author field is the
//! libp2p PeerId derived from that same key, so a record cannot claim someone else's identity.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Largest encoded signed record accepted from the network.
pub const MAX_RECORD_BYTES: usize = 16 << 10;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultRecord {
    /// Format version; unknown versions are dropped.
    pub v: u32,
    /// Experiment id (unique per author).
    pub id: String,
    pub domain: String,
    pub skill_hash: String,
    pub evaluator_hash: String,
    /// SHA-256 of the domain's data and held-out files (see `Domain::data_hash`).
    pub data_hash: String,
    /// The domain's manifest version.
    pub domain_version: String,
    pub params: serde_json::Value,
    pub seed: u64,
    pub parent: Option<String>,
    pub metric: String,
    /// `higher` or `lower`.
    pub direction: String,
    pub val: Option<f64>,
    pub test: Option<f64>,
    /// `baseline`, `keep`, `discard` or `crash`.
    pub status: String,
    pub platform: String,
    /// The author's PeerId (base58), derived from `public_key`.
    pub author: String,
    /// Milliseconds since the Unix epoch when the experiment finished.
    pub finished_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedResult {
    pub record: ResultRecord,
    /// ed25519 public key, hex.
    pub public_key: String,
    /// Signature of `hyper-result-v1:` + canonical JSON of `record`, hex.
    pub signature: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecordError {
    #[error("record too large ({0} bytes)")]
    TooLarge(usize),
    #[error("malformed record: {0}")]
    Malformed(String),
    #[error("unknown record version {0}")]
    UnknownVersion(u32),
    #[error("bad signature")]
    BadSignature,
    #[error("author {author} does not match the signing key ({derived})")]
    WrongAuthor { author: String, derived: String },
}

/// 2: receipts (`data_hash`, `domain_version`); version-1 records are dropped.
pub const RECORD_VERSION: u32 = 2;

fn message(record: &ResultRecord) -> Vec<u8> {
    let mut m = b"hyper-result-v1:".to_vec();
    // Serialising a struct of plain values cannot fail.
    m.extend(serde_json::to_vec(record).unwrap_or_default());
    m
}

/// The libp2p PeerId (base58) of an ed25519 public key.
pub fn peer_id_of(key: &VerifyingKey) -> String {
    match libp2p::identity::ed25519::PublicKey::try_from_bytes(key.as_bytes()) {
        Ok(pk) => {
            libp2p::PeerId::from_public_key(&libp2p::identity::PublicKey::from(pk)).to_base58()
        }
        Err(_) => String::new(),
    }
}

/// The PeerId of an ed25519 public key given in hex (as `hyper trust` stores them).
pub fn peer_id_of_hex(key_hex: &str) -> Option<String> {
    let bytes: [u8; 32] = hex::decode(key_hex.trim()).ok()?.try_into().ok()?;
    let key = VerifyingKey::from_bytes(&bytes).ok()?;
    Some(peer_id_of(&key))
}

/// Checks an ed25519 signature (hex key and signature) over `message`, and that `author` is
/// the PeerId of that key. Shared by result records and announcements.
pub(crate) fn check_signature(
    message: &[u8],
    public_key: &str,
    signature: &str,
    author: &str,
) -> Result<(), RecordError> {
    let key_bytes: [u8; 32] = hex::decode(public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(RecordError::BadSignature)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| RecordError::BadSignature)?;
    let sig_bytes: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(RecordError::BadSignature)?;
    key.verify(message, &Signature::from_bytes(&sig_bytes))
        .map_err(|_| RecordError::BadSignature)?;
    let derived = peer_id_of(&key);
    if derived != author {
        return Err(RecordError::WrongAuthor {
            author: author.to_string(),
            derived,
        });
    }
    Ok(())
}

impl SignedResult {
    pub fn sign(record: ResultRecord, key: &SigningKey) -> Self {
        let signature = key.sign(&message(&record));
        SignedResult {
            public_key: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(signature.to_bytes()),
            record,
        }
    }

    /// Strict decoding from the network: size, schema, version, author, signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let signed = Self::parse(bytes)?;
        signed.verify()?;
        Ok(signed)
    }

    /// Size and schema only; the caller must verify (e.g. many at once with [`verify_all`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn verify(&self) -> Result<(), RecordError> {
        self.check_fields()?;
        let r = &self.record;
        check_signature(&message(r), &self.public_key, &self.signature, &r.author)
    }

    /// Version and value ranges.
    fn check_fields(&self) -> Result<(), RecordError> {
        if self.record.v != RECORD_VERSION {
            return Err(RecordError::UnknownVersion(self.record.v));
        }
        let r = &self.record;
        let finite = |x: Option<f64>| x.is_none_or(f64::is_finite);
        if r.id.is_empty()
            || r.id.len() > 128
            || r.domain.is_empty()
            || r.domain.len() > 64
            || r.data_hash.len() > 64
            || r.domain_version.len() > 32
            || r.skill_hash.len() > 64
            || r.evaluator_hash.len() > 64
            || !finite(r.val)
            || !finite(r.test)
        {
            return Err(RecordError::Malformed(
                "id, domain or metric values out of range".into(),
            ));
        }
        if !["higher", "lower"].contains(&r.direction.as_str())
            || !["baseline", "keep", "discard", "crash", "noise", "confirm"]
                .contains(&r.status.as_str())
        {
            return Err(RecordError::Malformed("direction or status".into()));
        }
        Ok(())
    }

    /// The board key: unique per author and experiment.
    pub fn key(&self) -> String {
        format!("{}/{}", self.record.author, self.record.id)
    }

    /// SHA-256 of the encoded signed record: what an attestation names, so that it speaks
    /// of these exact bytes.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.encode()))
    }

    /// What a replay needs, from the record.
    pub fn receipt(&self) -> hyper_research::Receipt {
        let r = &self.record;
        hyper_research::Receipt {
            id: r.id.clone(),
            domain: r.domain.clone(),
            domain_version: r.domain_version.clone(),
            skill_hash: r.skill_hash.clone(),
            evaluator_hash: r.evaluator_hash.clone(),
            data_hash: r.data_hash.clone(),
            params: r.params.clone(),
            seed: r.seed,
            parent: r.parent.clone(),
            platform: r.platform.clone(),
            val: r.val,
            test: r.test,
        }
    }

    /// Best first on the metric (a missing value last), ties broken by key so that every
    /// node orders the same way.
    pub fn rank(&self, other: &SignedResult) -> std::cmp::Ordering {
        let (x, y) = (
            self.record.val.unwrap_or(f64::NAN),
            other.record.val.unwrap_or(f64::NAN),
        );
        let by_value = if self.record.direction == "lower" {
            x.total_cmp(&y)
        } else {
            y.total_cmp(&x)
        };
        by_value.then_with(|| self.key().cmp(&other.key()))
    }

    /// Whether `self` is better than `other` on the metric (a missing value never is).
    pub fn beats(&self, other: Option<f64>) -> bool {
        let Some(v) = self.record.val else {
            return false;
        };
        match other {
            None => true,
            Some(o) if self.record.direction == "lower" => v < o,
            Some(o) => v > o,
        }
    }
}

/// Verifies many records, as [`SignedResult::verify`] does each, but about twice as fast:
/// what a full board sync spends its time on. Public keys are decompressed and their PeerIds
/// derived once per author, and signatures are checked with ed25519 batch verification.
///
/// Batch verification accepts exactly what one-by-one verification accepts except for
/// signatures with small-order components, which only the holder of the secret key can make:
/// it cannot let anyone put words in another author's mouth.
pub fn verify_all(records: &[SignedResult]) -> Result<(), RecordError> {
    let mut keys: std::collections::HashMap<&str, (VerifyingKey, String)> =
        std::collections::HashMap::new();
    for chunk in records.chunks(256) {
        let mut messages = Vec::with_capacity(chunk.len());
        let mut signatures = Vec::with_capacity(chunk.len());
        let mut verifying = Vec::with_capacity(chunk.len());
        for r in chunk {
            r.check_fields()?;
            let (key, author) = match keys.get(r.public_key.as_str()) {
                Some(known) => known.clone(),
                None => {
                    let bytes: [u8; 32] = hex::decode(&r.public_key)
                        .ok()
                        .and_then(|b| b.try_into().ok())
                        .ok_or(RecordError::BadSignature)?;
                    let key =
                        VerifyingKey::from_bytes(&bytes).map_err(|_| RecordError::BadSignature)?;
                    let derived = (key, peer_id_of(&key));
                    keys.insert(&r.public_key, derived.clone());
                    derived
                }
            };
            if author != r.record.author {
                return Err(RecordError::WrongAuthor {
                    author: r.record.author.clone(),
                    derived: author,
                });
            }
            let sig: [u8; 64] = hex::decode(&r.signature)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(RecordError::BadSignature)?;
            messages.push(message(&r.record));
            signatures.push(Signature::from_bytes(&sig));
            verifying.push(key);
        }
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        if ed25519_dalek::verify_batch(&refs, &signatures, &verifying).is_err() {
            // Name the culprit.
            for r in chunk {
                r.verify()?;
            }
            return Err(RecordError::BadSignature);
        }
    }
    Ok(())
}

/// The signed, shareable form of a journal record. Deterministic (the finish time comes from
/// the journal, and ed25519 signatures are deterministic), so re-sharing a record after a
/// restart yields the very same bytes and boards never see two versions of one experiment.
pub fn from_journal(record: &hyper_journal::Record, key: &SigningKey) -> SignedResult {
    let finished_ms = record.finished_ms();
    SignedResult::sign(
        ResultRecord {
            v: RECORD_VERSION,
            id: record.id.clone(),
            domain: record.domain.clone(),
            skill_hash: record.skill_hash.clone(),
            evaluator_hash: record.evaluator_hash.clone(),
            data_hash: record.data_hash.clone(),
            domain_version: record.domain_version.clone(),
            params: record.params.clone(),
            seed: record.seed,
            parent: record.parent.clone(),
            metric: record.metric_name.clone(),
            direction: record.direction.clone(),
            val: record.val,
            test: record.test,
            status: record.status.as_str().to_string(),
            platform: record.platform.chars().take(200).collect(),
            author: peer_id_of(&key.verifying_key()),
            finished_ms,
        },
        key,
    )
}

/// A signed record with plausible contents, for tests and benchmarks.
#[doc(hidden)]
pub fn sample(key: &SigningKey, id: &str, val: f64) -> SignedResult {
    SignedResult::sign(
        ResultRecord {
            v: RECORD_VERSION,
            id: id.into(),
            domain: "search".into(),
            skill_hash: "ab".repeat(32),
            evaluator_hash: "cd".repeat(32),
            data_hash: "ef".repeat(32),
            domain_version: "1".into(),
            params: serde_json::json!({ "k1": val, "b": 0.75, "stemmer": "porter" }),
            seed: 1,
            parent: None,
            metric: "ndcg@10".into(),
            direction: "higher".into(),
            val: Some(val),
            test: Some(val),
            status: "keep".into(),
            platform: "x86_64-linux cpus=2".into(),
            author: peer_id_of(&key.verifying_key()),
            finished_ms: 1,
        },
        key,
    )
}
