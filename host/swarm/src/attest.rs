//! Attestations: a signed "I replayed this result and got that: agree / disagree / could not
//! replay it here". Gossiped on the domain's attestation topic and kept on the board beside
//! the results, so any node can see who checked what. An attestation names the exact bytes of
//! the result it speaks of (`subject_sha256`), so it cannot be moved onto another version.
//!
//! What an attestation is *worth* is decided by each node for itself ([`crate::trust`]): a
//! signature only says who attested, not that the attester is honest.

use ed25519_dalek::{Signer, SigningKey};
use hyper_research::Verdict;
use serde::{Deserialize, Serialize};

use crate::record::{check_signature, peer_id_of, RecordError, SignedResult};

/// Largest encoded attestation accepted from the network.
pub const MAX_ATTESTATION_BYTES: usize = 4 << 10;
pub const ATTESTATION_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    pub v: u32,
    pub domain: String,
    /// The board key of the result: `<author>/<experiment id>`.
    pub subject: String,
    /// SHA-256 of the signed result's encoding ([`SignedResult::digest`]).
    pub subject_sha256: String,
    pub verdict: Verdict,
    /// The replay's figures (none when it did not run or crashed).
    pub val: Option<f64>,
    pub test: Option<f64>,
    /// Where the replay ran.
    pub platform: String,
    /// Why, in words (bounded).
    pub reason: String,
    /// The attester's PeerId, derived from `public_key`.
    pub attester: String,
    pub finished_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedAttestation {
    pub attestation: Attestation,
    pub public_key: String,
    /// Signature of `hyper-attestation-v1:` + canonical JSON of `attestation`, hex.
    pub signature: String,
}

/// Milliseconds since the Unix epoch: an attestation's `finished_ms`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn message(a: &Attestation) -> Vec<u8> {
    let mut m = b"hyper-attestation-v1:".to_vec();
    // Serialising a struct of plain values cannot fail.
    m.extend(serde_json::to_vec(a).unwrap_or_default());
    m
}

impl SignedAttestation {
    /// Signs an attestation about `subject` with this node's key.
    pub fn sign(
        subject: &SignedResult,
        outcome: &hyper_research::ReplayOutcome,
        key: &SigningKey,
        finished_ms: u64,
    ) -> Self {
        let attestation = Attestation {
            v: ATTESTATION_VERSION,
            domain: subject.record.domain.clone(),
            subject: subject.key(),
            subject_sha256: subject.digest(),
            verdict: outcome.verdict,
            val: outcome.val,
            test: outcome.test,
            platform: outcome.platform.chars().take(200).collect(),
            reason: outcome.reason.chars().take(500).collect(),
            attester: peer_id_of(&key.verifying_key()),
            finished_ms,
        };
        let signature = key.sign(&message(&attestation));
        SignedAttestation {
            public_key: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(signature.to_bytes()),
            attestation,
        }
    }

    /// Strict decoding from the network: size, schema, version, fields, signature, attester.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() > MAX_ATTESTATION_BYTES {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        let signed: SignedAttestation =
            serde_json::from_slice(bytes).map_err(|e| RecordError::Malformed(e.to_string()))?;
        signed.verify()?;
        Ok(signed)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn verify(&self) -> Result<(), RecordError> {
        let a = &self.attestation;
        if a.v != ATTESTATION_VERSION {
            return Err(RecordError::UnknownVersion(a.v));
        }
        let finite = |x: Option<f64>| x.is_none_or(f64::is_finite);
        if a.domain.is_empty()
            || a.domain.len() > 64
            || a.subject.is_empty()
            || a.subject.len() > 256
            || a.subject_sha256.len() != 64
            || a.platform.len() > 800
            || a.reason.len() > 2000
            || !finite(a.val)
            || !finite(a.test)
        {
            return Err(RecordError::Malformed(
                "attestation fields out of range".into(),
            ));
        }
        // Nobody attests their own results: it would be worth nothing and only add noise.
        if a.subject.split('/').next() == Some(a.attester.as_str()) {
            return Err(RecordError::Malformed(
                "an attestation about the attester's own result".into(),
            ));
        }
        check_signature(&message(a), &self.public_key, &self.signature, &a.attester)
    }

    /// The board key: one attestation per attester and result.
    pub fn key(&self) -> String {
        format!("{}/{}", self.attestation.attester, self.attestation.subject)
    }
}
