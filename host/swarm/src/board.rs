//! Leaderboards as Loro documents, one per domain: a map from `<author>/<experiment id>` to
//! the signed record's JSON. Merging is Loro's (a CRDT), so any two boards that saw the same
//! updates in any order are identical.
//!
//! Nothing unsigned reaches a board: records are verified before they are inserted, and
//! updates from peers are first imported into a fork of the document and checked entry by
//! entry; if anything in them fails verification the whole update is refused. An in-memory
//! index of the verified records serves reads, so reading never re-parses or re-verifies.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

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
    peer: u64,
    doc: Mutex<LoroDoc>,
    index: Mutex<BTreeMap<String, SignedResult>>,
}

impl Board {
    /// A new, empty board; `peer` is this node's Loro peer id (derived from its PeerId).
    pub fn new(domain: &str, peer: u64) -> Self {
        let doc = LoroDoc::new();
        let _ = doc.set_peer_id(peer);
        Board {
            domain: domain.to_string(),
            peer,
            doc: Mutex::new(doc),
            index: Mutex::new(BTreeMap::new()),
        }
    }

    fn doc(&self) -> MutexGuard<'_, LoroDoc> {
        self.doc.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn index(&self) -> MutexGuard<'_, BTreeMap<String, SignedResult>> {
        // Poisoned only if a thread panicked mid-update; the map still holds verified records.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Restores a board from a snapshot (as persisted by the node), verifying every record.
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
        let key = signed.key();
        if self.index().contains_key(&key) {
            return Ok(false);
        }
        let json =
            String::from_utf8(signed.encode()).map_err(|e| BoardError::Loro(e.to_string()))?;
        let doc = self.doc();
        doc.get_map(RESULTS)
            .insert(&key, json)
            .map_err(|e| BoardError::Loro(e.to_string()))?;
        doc.commit();
        drop(doc);
        self.index().insert(key, signed.clone());
        Ok(true)
    }

    /// Every record on the board (all verified on the way in).
    pub fn results(&self) -> Vec<SignedResult> {
        self.index().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.index().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This board's version vector, encoded (sent to peers so they send only what is missing).
    pub fn version(&self) -> Vec<u8> {
        self.doc().oplog_vv().encode()
    }

    /// The updates a peer at version `their_version` is missing.
    pub fn updates_since(&self, their_version: &[u8]) -> Result<Vec<u8>, BoardError> {
        let vv = VersionVector::decode(their_version)
            .map_err(|e| BoardError::Refused(format!("bad version vector: {e}")))?;
        if vv.is_empty() {
            // A new node: a snapshot is half the size of the full update log and imports
            // ten times faster.
            return self.snapshot();
        }
        self.doc()
            .export(ExportMode::updates(&vv))
            .map_err(|e| BoardError::Loro(e.to_string()))
    }

    pub fn snapshot(&self) -> Result<Vec<u8>, BoardError> {
        self.doc()
            .export(ExportMode::Snapshot)
            .map_err(|e| BoardError::Loro(e.to_string()))
    }

    /// Imports a peer's updates after checking, on a fork, that every entry they add is a
    /// validly signed record of this domain under its proper key, and that none is rewritten
    /// or deleted. Returns how many records were added.
    pub fn import_checked(&self, bytes: &[u8]) -> Result<usize, BoardError> {
        let mut doc = self.doc();
        let before = doc.state_frontiers();
        let fork = doc.fork();
        fork.import(bytes)
            .map_err(|e| BoardError::Refused(format!("not a Loro update: {e}")))?;
        // Nothing but the results map may exist.
        if let loro::LoroValue::Map(roots) = fork.get_value() {
            if let Some(other) = roots.keys().find(|k| k.as_str() != RESULTS) {
                return Err(BoardError::Refused(format!(
                    "update adds an unknown container `{other}`"
                )));
            }
        }
        let fresh = self.index().is_empty();
        // The entries the update adds, as (key, signed JSON). For an empty board that is the
        // whole map (read in place, not copied); otherwise only what changed since `before`,
        // so a small update to a large board costs what the update holds.
        let all_entries = if fresh {
            fork.get_map(RESULTS).get_value()
        } else {
            loro::LoroValue::Null
        };
        let mut changed: Vec<(String, String)> = Vec::new();
        if !fresh {
            let diff = fork
                .diff(&before, &fork.state_frontiers())
                .map_err(|e| BoardError::Loro(e.to_string()))?;
            let index = self.index();
            for (container, d) in diff.iter() {
                let loro::event::Diff::Map(delta) = d else {
                    return Err(BoardError::Refused(format!(
                        "update changes an unexpected container {container}"
                    )));
                };
                if !matches!(container, loro::ContainerID::Root { name, .. } if name.as_str() == RESULTS)
                {
                    return Err(BoardError::Refused(format!(
                        "update changes an unexpected container {container}"
                    )));
                }
                for (key, value) in &delta.updated {
                    let json = match value {
                        Some(loro::ValueOrContainer::Value(loro::LoroValue::String(s))) => {
                            s.to_string()
                        }
                        None => {
                            return Err(BoardError::Refused(format!("update deletes entry {key}")))
                        }
                        Some(_) => {
                            return Err(BoardError::Refused(format!(
                                "entry {key} is not a signed record"
                            )))
                        }
                    };
                    match index.get(key.as_ref()) {
                        // The same record arrived from two peers: nothing changes.
                        Some(known) if known.encode() == json.as_bytes() => {}
                        Some(_) => {
                            return Err(BoardError::Refused(format!(
                                "update rewrites existing entry {key}"
                            )))
                        }
                        None => changed.push((key.to_string(), json)),
                    }
                }
            }
        }
        let mut candidates: Vec<(&str, &str)> = changed
            .iter()
            .map(|(k, j)| (k.as_str(), j.as_str()))
            .collect();
        if let loro::LoroValue::Map(map) = &all_entries {
            for (key, value) in map.iter() {
                match value {
                    loro::LoroValue::String(json) => candidates.push((key.as_str(), json)),
                    _ => {
                        return Err(BoardError::Refused(format!(
                            "entry {key} is not a signed record"
                        )))
                    }
                }
            }
        }
        // Signature checks dominate a large sync: spread them over the cores.
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .max(1);
        let chunk = candidates.len().div_ceil(threads).max(1);
        let checked: Vec<Result<Vec<(String, SignedResult)>, BoardError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = candidates
                    .chunks(chunk)
                    .map(|part| {
                        scope.spawn(move || {
                            let entries = part
                                .iter()
                                .map(|(key, json)| self.check_entry(key, json))
                                .collect::<Result<Vec<_>, _>>()?;
                            let records: Vec<SignedResult> =
                                entries.iter().map(|(_, r)| r.clone()).collect();
                            crate::record::verify_all(&records)
                                .map_err(|e| BoardError::Refused(e.to_string()))?;
                            Ok(entries)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(BoardError::Refused("verifier thread panicked".into()))
                        })
                    })
                    .collect()
            });
        let mut new = Vec::new();
        for part in checked {
            new.extend(part?);
        }
        // The fork is the checked document: adopt it (keeping our Loro peer id) rather than
        // importing the same bytes a second time.
        let _ = fork.set_peer_id(self.peer);
        *doc = fork;
        let added = new.len();
        self.index().extend(new);
        Ok(added)
    }

    fn check_entry(&self, key: &str, json: &str) -> Result<(String, SignedResult), BoardError> {
        // Parsed here, verified by the caller in a batch.
        let signed = SignedResult::parse(json.as_bytes())
            .map_err(|e| BoardError::Refused(format!("entry {key}: {e}")))?;
        if signed.key() != key || signed.record.domain != self.domain {
            return Err(BoardError::Refused(format!(
                "entry {key} is filed under the wrong key or domain"
            )));
        }
        Ok((key.to_string(), signed))
    }

    /// Best scored record per author.
    pub fn best_per_peer(&self) -> BTreeMap<String, SignedResult> {
        let mut best: BTreeMap<String, SignedResult> = BTreeMap::new();
        for r in self.index().values() {
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
                    best.insert(r.record.author.clone(), r.clone());
                }
            }
        }
        best
    }

    /// The best scored record of one skill under one evaluator (ties broken by key).
    pub fn best_for(&self, skill_hash: &str, evaluator_hash: &str) -> Option<SignedResult> {
        let index = self.index();
        let mut best: Option<&SignedResult> = None;
        for r in index.values() {
            let Some(v) = r.record.val else { continue };
            if r.record.skill_hash != skill_hash || r.record.evaluator_hash != evaluator_hash {
                continue;
            }
            let better = match best.and_then(|b| b.record.val) {
                None => true,
                Some(bv) if r.record.direction == "lower" => v < bv,
                Some(bv) => v > bv,
            };
            if better {
                best = Some(r);
            }
        }
        best.cloned()
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
