//! Leaderboards as Loro documents, one per domain: a map from `<author>/<experiment id>` to
//! the signed record's JSON. Merging is Loro's (a CRDT), so any two boards that saw the same
//! updates in any order are identical.
//!
//! Nothing unsigned reaches a board: records are verified before they are inserted, and
//! updates from peers are first imported into a fork of the document and checked entry by
//! entry; if anything in them fails verification the whole update is refused.

use std::collections::BTreeMap;

use loro::{ExportMode, LoroDoc, VersionVector};

use crate::record::SignedResult;

const RESULTS: &str = "results";

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("refused update: {0}")]
    Refused(String),
    #[error("loro: {0}")]
    Loro(String),
}

pub struct Board {
    pub domain: String,
    doc: LoroDoc,
}

impl Board {
    /// A new, empty board; `peer` is this node's Loro peer id (derived from its PeerId).
    pub fn new(domain: &str, peer: u64) -> Self {
        let doc = LoroDoc::new();
        let _ = doc.set_peer_id(peer);
        Board {
            domain: domain.to_string(),
            doc,
        }
    }

    /// Restores a board from a snapshot (as persisted by the node).
    pub fn from_snapshot(domain: &str, peer: u64, snapshot: &[u8]) -> Result<Self, BoardError> {
        let board = Board::new(domain, peer);
        board.import_checked(snapshot)?;
        Ok(board)
    }

    /// Adds a verified record of this domain; returns false if it was already there.
    pub fn insert(&self, signed: &SignedResult) -> Result<bool, BoardError> {
        signed
            .verify()
            .map_err(|e| BoardError::Refused(e.to_string()))?;
        if signed.record.domain != self.domain {
            return Err(BoardError::Refused(format!(
                "record for domain `{}` on the `{}` board",
                signed.record.domain, self.domain
            )));
        }
        let map = self.doc.get_map(RESULTS);
        let key = signed.key();
        if map.get(&key).is_some() {
            return Ok(false);
        }
        let json =
            String::from_utf8(signed.encode()).map_err(|e| BoardError::Loro(e.to_string()))?;
        map.insert(&key, json)
            .map_err(|e| BoardError::Loro(e.to_string()))?;
        self.doc.commit();
        Ok(true)
    }

    fn entries(doc: &LoroDoc) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let loro::LoroValue::Map(map) = doc.get_map(RESULTS).get_value() {
            for (k, v) in map.iter() {
                if let loro::LoroValue::String(s) = v {
                    out.insert(k.to_string(), s.to_string());
                } else {
                    out.insert(k.to_string(), String::new());
                }
            }
        }
        out
    }

    /// Every record on the board (all verified on the way in).
    pub fn results(&self) -> Vec<SignedResult> {
        Self::entries(&self.doc)
            .values()
            .filter_map(|json| SignedResult::decode(json.as_bytes()).ok())
            .collect()
    }

    pub fn len(&self) -> usize {
        Self::entries(&self.doc).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This board's version vector, encoded (sent to peers so they send only what is missing).
    pub fn version(&self) -> Vec<u8> {
        self.doc.oplog_vv().encode()
    }

    /// The updates a peer at version `their_version` is missing.
    pub fn updates_since(&self, their_version: &[u8]) -> Result<Vec<u8>, BoardError> {
        let vv = VersionVector::decode(their_version)
            .map_err(|e| BoardError::Refused(format!("bad version vector: {e}")))?;
        self.doc
            .export(ExportMode::updates(&vv))
            .map_err(|e| BoardError::Loro(e.to_string()))
    }

    pub fn snapshot(&self) -> Result<Vec<u8>, BoardError> {
        self.doc
            .export(ExportMode::Snapshot)
            .map_err(|e| BoardError::Loro(e.to_string()))
    }

    /// Imports a peer's updates after checking, on a fork, that every entry they add or change
    /// is a validly signed record of this domain under its proper key.
    pub fn import_checked(&self, bytes: &[u8]) -> Result<usize, BoardError> {
        let before = Self::entries(&self.doc);
        let fork = self.doc.fork();
        fork.import(bytes)
            .map_err(|e| BoardError::Refused(format!("not a Loro update: {e}")))?;
        let after = Self::entries(&fork);
        let mut added = 0;
        for (key, json) in &after {
            if before.get(key) == Some(json) {
                continue;
            }
            if before.contains_key(key) {
                return Err(BoardError::Refused(format!(
                    "update rewrites existing entry {key}"
                )));
            }
            let signed = SignedResult::decode(json.as_bytes())
                .map_err(|e| BoardError::Refused(format!("entry {key}: {e}")))?;
            if signed.key() != *key || signed.record.domain != self.domain {
                return Err(BoardError::Refused(format!(
                    "entry {key} is filed under the wrong key or domain"
                )));
            }
            added += 1;
        }
        if after.len() < before.len() {
            return Err(BoardError::Refused("update deletes entries".into()));
        }
        self.doc
            .import(bytes)
            .map_err(|e| BoardError::Loro(e.to_string()))?;
        Ok(added)
    }

    /// Best scored record per author.
    pub fn best_per_peer(&self) -> BTreeMap<String, SignedResult> {
        let mut best: BTreeMap<String, SignedResult> = BTreeMap::new();
        for r in self.results() {
            let Some(v) = r.record.val else { continue };
            let better = |b: &SignedResult| {
                let bv = b.record.val.unwrap_or(f64::NAN);
                if r.record.direction == "lower" {
                    v < bv
                } else {
                    v > bv
                }
            };
            match best.get(&r.record.author) {
                Some(b) if !better(b) => {}
                _ => {
                    best.insert(r.record.author.clone(), r);
                }
            }
        }
        best
    }

    /// The global best (ties broken by key, so every node agrees).
    pub fn global_best(&self) -> Option<SignedResult> {
        let mut all: Vec<SignedResult> = self.best_per_peer().into_values().collect();
        all.sort_by(|a, b| {
            let (x, y) = (
                a.record.val.unwrap_or(f64::NAN),
                b.record.val.unwrap_or(f64::NAN),
            );
            let ord = if a.record.direction == "lower" {
                x.total_cmp(&y)
            } else {
                y.total_cmp(&x)
            };
            ord.then(a.key().cmp(&b.key()))
        });
        all.into_iter().next()
    }
}
