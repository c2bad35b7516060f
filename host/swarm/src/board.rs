//! Leaderboards as Loro documents, one per domain: a map `results` from
//! `<author>/<experiment id>` to the signed record's JSON, and a map `attestations` from
//! `<attester>/<author>/<experiment id>` to a signed attestation's JSON (who replayed which
//! result, with what verdict). Merging is Loro's (a CRDT), so any two boards that saw the same
//! updates in any order are identical.
//!
//! Nothing unsigned reaches a board: records are verified before they are inserted, and
//! updates from peers are first imported into a *staging* copy of the document (kept in
//! lockstep with the accepted one) whose change events name exactly the entries the update
//! adds; those are checked (batch signature verification on all cores) and only then is the
//! update applied to the accepted document. If anything fails, the whole update is refused and
//! the staging copy is rebuilt. Checking costs what the update holds, not what the board holds.
//!
//! Each record lives in the document once, as its author's operation: a record that arrives
//! by gossip is verified and served at once (it is *pending*) but not written as this node's
//! own operation, since the author's operation follows by sync. Were every node to re-write
//! every gossiped record, documents would hold one copy per node and version vectors would
//! never agree. A record still pending after a while (its author went silent before anyone
//! synced from it) is written by this node so that it is not lost.
//!
//! An in-memory index of the verified records serves reads, so reading never re-parses or
//! re-verifies.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use loro::{ExportMode, LoroDoc, Subscription, VersionVector};

use crate::attest::SignedAttestation;
use crate::dry_run::{dry_run, Limits};
use crate::record::SignedResult;

const RESULTS: &str = "results";
const ATTESTATIONS: &str = "attestations";
/// Attestations a board keeps (each is a few hundred bytes); past this, new ones are refused.
pub const MAX_ATTESTATIONS: usize = 400_000;

/// The two maps of a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Map {
    Results,
    Attestations,
}

impl Map {
    fn name(self) -> &'static str {
        match self {
            Map::Results => RESULTS,
            Map::Attestations => ATTESTATIONS,
        }
    }

    fn of(name: &str) -> Option<Map> {
        match name {
            RESULTS => Some(Map::Results),
            ATTESTATIONS => Some(Map::Attestations),
            _ => None,
        }
    }
}

/// A verified entry of either map.
#[derive(Clone, Debug)]
enum Entry {
    Result(SignedResult),
    Attestation(SignedAttestation),
}

impl Entry {
    fn map(&self) -> Map {
        match self {
            Entry::Result(_) => Map::Results,
            Entry::Attestation(_) => Map::Attestations,
        }
    }

    fn key(&self) -> String {
        match self {
            Entry::Result(r) => r.key(),
            Entry::Attestation(a) => a.key(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Entry::Result(r) => r.encode(),
            Entry::Attestation(a) => a.encode(),
        }
    }
}
/// Starts a saved board (see [`Board::snapshot`]).
const SAVED_MAGIC: &[u8] = b"hyper-board-v1\0";

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// A record that does not verify (kept typed so the node can count why).
    #[error("refused record: {0}")]
    Record(#[from] crate::record::RecordError),
    #[error("refused update: {0}")]
    Refused(String),
    #[error("loro: {0}")]
    Loro(String),
    /// The update would have killed the process (or hung it): seen in a dry run.
    #[error("refused update: {0}")]
    DryRun(#[from] crate::dry_run::DryRunError),
}

/// One change the staging document reported: a key of the results map and its new value, or
/// a change somewhere a board has nothing.
enum Change {
    Entry(Map, String, Option<String>),
    NotAnEntry(String),
    Elsewhere(String),
}

type Changes = Arc<Mutex<Vec<Change>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoned only if a thread panicked mid-update; the data is still consistent (every
    // mutation below is a single insert or swap).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs Loro on bytes from a peer. Loro's decoders are meant to return errors on malformed
/// input, but some assert instead (found by the `board_update` fuzz target: an assertion in
/// `decode_import_blob_meta`); a panic there must refuse the update, not take down the task
/// that owns the swarm. The caller rebuilds whatever the decoder may have half-changed.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, BoardError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| BoardError::Refused("malformed Loro data (the decoder gave up on it)".into()))
}

/// What a dry run of a peer's update may use: memory and time to decode the largest sync
/// answer (512 MiB) with room to spare, and no more.
fn dry_run_limits(bytes: usize) -> Limits {
    let mib = (bytes >> 20) as u64;
    Limits {
        memory: (1 << 30) + 16 * bytes as u64,
        time: Duration::from_secs(30) + Duration::from_millis(200) * mib as u32,
    }
}

/// Everything [`Board::import_checked`] has Loro do with a peer's bytes, and nothing else:
/// run in the dry run's child, on its copy of the board (see [`crate::dry_run`]).
fn decode_only(inner: &mut Inner, bytes: &[u8]) {
    let _ = LoroDoc::decode_import_blob_meta(bytes, false);
    if inner.index.is_empty() && inner.attestations.is_empty() {
        // As `check_whole`: no change events, the maps read in place.
        inner.staging.subscription = None;
        if inner.staging.doc.import(bytes).is_ok() {
            let _ = inner.staging.doc.get_value();
        }
    } else {
        let _ = inner.staging.try_import(bytes);
    }
}

/// Whether every attestation among `new` speaks of a result on the board or among `new`.
fn subjects_known(inner: &Inner, new: &[(String, Entry)]) -> bool {
    let arriving: std::collections::HashSet<&str> = new
        .iter()
        .filter(|(_, e)| matches!(e, Entry::Result(_)))
        .map(|(k, _)| k.as_str())
        .collect();
    new.iter().all(|(_, e)| match e {
        Entry::Attestation(a) => {
            let subject = a.attestation.subject.as_str();
            inner.index.contains_key(subject) || arriving.contains(subject)
        }
        Entry::Result(_) => true,
    })
}

/// What checking an update found: new verified entries, and pending entries whose authors'
/// operations arrived with it.
type Checked = (Vec<(String, Entry)>, Vec<(Map, String)>);

/// Pending entries as a saved board keeps them.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedPending {
    #[serde(default)]
    results: Vec<SignedResult>,
    #[serde(default)]
    attestations: Vec<SignedAttestation>,
}

struct Staging {
    doc: LoroDoc,
    changes: Changes,
    /// Change events; dropped while a whole board is imported at once (reading the map in
    /// place is cheaper than 100k events).
    subscription: Option<Subscription>,
}

impl Staging {
    fn of(doc: &LoroDoc) -> Staging {
        let mut staging = Staging {
            doc: doc.fork(),
            changes: Arc::new(Mutex::new(Vec::new())),
            subscription: None,
        };
        staging.subscribe();
        staging
    }

    fn subscribe(&mut self) {
        let sink = self.changes.clone();
        self.subscription = Some(self.doc.subscribe_root(Arc::new(move |event| {
            let mut out = lock(&sink);
            for container in event.events {
                let map = match &container.target {
                    loro::ContainerID::Root {
                        name,
                        container_type: loro::ContainerType::Map,
                    } => Map::of(name.as_str()),
                    _ => None,
                };
                match (&container.diff, map) {
                    (loro::event::Diff::Map(delta), Some(map)) => {
                        for (key, value) in &delta.updated {
                            out.push(match value {
                                Some(loro::ValueOrContainer::Value(loro::LoroValue::String(
                                    json,
                                ))) => Change::Entry(map, key.to_string(), Some(json.to_string())),
                                None => Change::Entry(map, key.to_string(), None),
                                Some(_) => Change::NotAnEntry(key.to_string()),
                            });
                        }
                    }
                    _ => out.push(Change::Elsewhere(container.target.to_string())),
                }
            }
        })));
    }

    /// Imports into the staging document and returns what changed.
    fn try_import(&self, bytes: &[u8]) -> Result<Vec<Change>, BoardError> {
        lock(&self.changes).clear();
        self.doc
            .import(bytes)
            .map_err(|e| BoardError::Refused(format!("not a Loro update: {e}")))?;
        Ok(std::mem::take(&mut *lock(&self.changes)))
    }
}

struct Inner {
    /// The accepted document: only verified records, each under its proper key.
    doc: LoroDoc,
    staging: Staging,
    /// Verified records by key (those in `doc` and the pending ones).
    index: BTreeMap<String, SignedResult>,
    /// Verified attestations by key (likewise).
    attestations: BTreeMap<String, SignedAttestation>,
    /// [`SignedResult::digest`] of every record in `index`, computed once at insertion (what
    /// attestations name; the trust view compares them on every recomputation).
    digests: std::collections::HashMap<String, String>,
    /// Entries verified from gossip whose author's operation has not arrived yet.
    pending: BTreeMap<(Map, String), Instant>,
    /// Where new entries are announced (the node's live feed), once the node sets it.
    feed: Option<crate::feed::Feed>,
}

impl Inner {
    fn get(&self, map: Map, key: &str) -> Option<Entry> {
        match map {
            Map::Results => self.index.get(key).cloned().map(Entry::Result),
            Map::Attestations => self.attestations.get(key).cloned().map(Entry::Attestation),
        }
    }

    fn contains(&self, map: Map, key: &str) -> bool {
        match map {
            Map::Results => self.index.contains_key(key),
            Map::Attestations => self.attestations.contains_key(key),
        }
    }

    fn add(&mut self, key: String, entry: Entry) -> bool {
        use crate::feed::FeedEvent;
        let event = self.feed.as_ref().map(|_| match &entry {
            Entry::Result(r) => FeedEvent::of_result(r),
            Entry::Attestation(a) => FeedEvent::of_attestation(a),
        });
        let new = match entry {
            Entry::Result(r) => {
                self.digests.insert(key.clone(), r.digest());
                self.index.insert(key, r).is_none()
            }
            Entry::Attestation(a) => self.attestations.insert(key, a).is_none(),
        };
        if let (true, Some(feed), Some(event)) = (new, &self.feed, event) {
            feed.send(event);
        }
        new
    }
}

pub struct Board {
    pub domain: String,
    inner: Mutex<Inner>,
}

impl Board {
    /// A new, empty board; `peer` is this node's Loro peer id (derived from its PeerId).
    pub fn new(domain: &str, peer: u64) -> Self {
        let doc = LoroDoc::new();
        let _ = doc.set_peer_id(peer);
        let staging = Staging::of(&doc);
        Board {
            domain: domain.to_string(),
            inner: Mutex::new(Inner {
                doc,
                staging,
                index: BTreeMap::new(),
                attestations: BTreeMap::new(),
                digests: std::collections::HashMap::new(),
                pending: BTreeMap::new(),
                feed: None,
            }),
        }
    }

    /// Announces every new entry from now on on `feed`.
    pub fn set_feed(&self, feed: crate::feed::Feed) {
        self.inner().feed = Some(feed);
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Restores a board from [`Board::snapshot`] (or from a bare Loro snapshot), verifying
    /// every record.
    pub fn from_snapshot(domain: &str, peer: u64, snapshot: &[u8]) -> Result<Self, BoardError> {
        let board = Board::new(domain, peer);
        let (doc, pending) = match snapshot.strip_prefix(SAVED_MAGIC) {
            Some(rest) => {
                let (len, rest) = rest
                    .split_first_chunk::<8>()
                    .ok_or_else(|| BoardError::Refused("truncated saved board".into()))?;
                let len = usize::try_from(u64::from_le_bytes(*len))
                    .map_err(|_| BoardError::Refused("saved board too large".into()))?;
                if rest.len() < len {
                    return Err(BoardError::Refused("truncated saved board".into()));
                }
                let (doc, pending) = rest.split_at(len);
                let pending: SavedPending = serde_json::from_slice(pending)
                    .map_err(|e| BoardError::Refused(format!("saved pending records: {e}")))?;
                (doc, pending)
            }
            None => (snapshot, SavedPending::default()),
        };
        board.import_checked(doc)?;
        for record in &pending.results {
            board.accept_remote(record)?;
        }
        for attestation in &pending.attestations {
            board.accept_attestation(attestation)?;
        }
        Ok(board)
    }

    fn check_record(&self, signed: &SignedResult) -> Result<(), BoardError> {
        signed.verify()?;
        if signed.record.domain != self.domain {
            return Err(BoardError::Refused(format!(
                "record for domain `{}` on the `{}` board",
                signed.record.domain, self.domain
            )));
        }
        Ok(())
    }

    fn check_attestation(&self, signed: &SignedAttestation) -> Result<(), BoardError> {
        signed.verify()?;
        if signed.attestation.domain != self.domain {
            return Err(BoardError::Refused(format!(
                "attestation for domain `{}` on the `{}` board",
                signed.attestation.domain, self.domain
            )));
        }
        Ok(())
    }

    /// Writes a verified entry into the document as this node's operation (and into the
    /// staging copy).
    fn write(&self, inner: &mut Inner, entry: &Entry) -> Result<(), BoardError> {
        let json =
            String::from_utf8(entry.encode()).map_err(|e| BoardError::Loro(e.to_string()))?;
        let staged = inner.staging.doc.oplog_vv();
        inner
            .doc
            .get_map(entry.map().name())
            .insert(&entry.key(), json)
            .map_err(|e| BoardError::Loro(e.to_string()))?;
        inner.doc.commit();
        let update = inner
            .doc
            .export(ExportMode::updates(&staged))
            .map_err(|e| BoardError::Loro(e.to_string()))?;
        inner.staging.try_import(&update)?;
        Ok(())
    }

    /// Adds a verified record of this domain that this node authored (or re-shares); returns
    /// false if it was already there.
    pub fn insert(&self, signed: &SignedResult) -> Result<bool, BoardError> {
        self.check_record(signed)?;
        self.insert_entry(Entry::Result(signed.clone()))
    }

    /// Adds an attestation this node made; returns false if it was already there.
    pub fn insert_attestation(&self, signed: &SignedAttestation) -> Result<bool, BoardError> {
        self.check_attestation(signed)?;
        self.insert_entry(Entry::Attestation(signed.clone()))
    }

    fn insert_entry(&self, entry: Entry) -> Result<bool, BoardError> {
        let (map, key) = (entry.map(), entry.key());
        let mut inner = self.inner();
        let pending = inner.pending.contains_key(&(map, key.clone()));
        if inner.contains(map, &key) && !pending {
            return Ok(false);
        }
        // This node's own attestations are not capped: they cost it a replay each.
        self.write(&mut inner, &entry)?;
        inner.pending.remove(&(map, key.clone()));
        Ok(inner.add(key, entry))
    }

    /// Takes in a verified record that arrived by gossip: served at once, written to the
    /// document only if its author's operation does not follow (see [`Board::settle`]).
    /// Returns false if it was already there.
    pub fn accept_remote(&self, signed: &SignedResult) -> Result<bool, BoardError> {
        self.check_record(signed)?;
        self.accept_entry(Entry::Result(signed.clone()))
    }

    /// Takes in a verified attestation that arrived by gossip (as [`Board::accept_remote`]).
    pub fn accept_attestation(&self, signed: &SignedAttestation) -> Result<bool, BoardError> {
        self.check_attestation(signed)?;
        self.accept_entry(Entry::Attestation(signed.clone()))
    }

    fn accept_entry(&self, entry: Entry) -> Result<bool, BoardError> {
        let (map, key) = (entry.map(), entry.key());
        let mut inner = self.inner();
        if inner.contains(map, &key) {
            return Ok(false);
        }
        if let Entry::Attestation(a) = &entry {
            if inner.attestations.len() >= MAX_ATTESTATIONS {
                return Err(BoardError::Refused(
                    "the board holds its maximum of attestations".into(),
                ));
            }
            // An attestation only ever follows the result it speaks of; one about a result
            // this board lacks would be room taken for nothing.
            if !inner.index.contains_key(&a.attestation.subject) {
                return Err(BoardError::Refused(format!(
                    "attestation about {}, which is not on the board",
                    a.attestation.subject
                )));
            }
        }
        inner.pending.insert((map, key.clone()), Instant::now());
        inner.add(key, entry);
        Ok(true)
    }

    /// Writes records that have been pending for longer than `after` as this node's own
    /// operations (their author went silent before anyone synced from it). Returns how many.
    pub fn settle(&self, after: Duration) -> Result<usize, BoardError> {
        let mut inner = self.inner();
        let now = Instant::now();
        let due: Vec<(Map, String)> = inner
            .pending
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= after)
            .map(|(k, _)| k.clone())
            .collect();
        for (map, key) in &due {
            if let Some(entry) = inner.get(*map, key) {
                self.write(&mut inner, &entry)?;
            }
            inner.pending.remove(&(*map, key.clone()));
        }
        Ok(due.len())
    }

    /// Records verified from gossip whose author's operation has not arrived yet.
    pub fn pending(&self) -> usize {
        self.inner().pending.len()
    }

    /// Every record on the board (all verified on the way in).
    pub fn results(&self) -> Vec<SignedResult> {
        self.inner().index.values().cloned().collect()
    }

    /// Runs `f` over the verified records and attestations without copying them.
    pub fn with_entries<T>(
        &self,
        f: impl FnOnce(&BTreeMap<String, SignedResult>, &BTreeMap<String, SignedAttestation>) -> T,
    ) -> T {
        let inner = self.inner();
        f(&inner.index, &inner.attestations)
    }

    /// This node's trust view of the board (see [`crate::trust`]).
    pub fn trust_view(&self, config: &crate::trust::TrustConfig) -> crate::trust::TrustView {
        let inner = self.inner();
        crate::trust::TrustView::compute(config, &inner.index, &inner.attestations, &inner.digests)
    }

    /// Every attestation on the board (all verified on the way in).
    pub fn attestations(&self) -> Vec<SignedAttestation> {
        self.inner().attestations.values().cloned().collect()
    }

    /// One record by key.
    pub fn get(&self, key: &str) -> Option<SignedResult> {
        self.inner().index.get(key).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner().index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This board's version vector, encoded (sent to peers so they send only what is missing).
    pub fn version(&self) -> Vec<u8> {
        self.inner().doc.oplog_vv().encode()
    }

    /// The updates a peer at version `their_version` is missing.
    pub fn updates_since(&self, their_version: &[u8]) -> Result<Vec<u8>, BoardError> {
        let vv = guarded(|| {
            VersionVector::decode(their_version)
                .map_err(|e| BoardError::Refused(format!("bad version vector: {e}")))
        })??;
        let inner = self.inner();
        if vv.includes_vv(&inner.doc.oplog_vv()) {
            // They have everything: the usual answer of an anti-entropy round.
            return Ok(Vec::new());
        }
        let mode = if vv.is_empty() {
            // A new node: a snapshot is half the size of the full update log and imports
            // ten times faster.
            ExportMode::Snapshot
        } else {
            ExportMode::updates(&vv)
        };
        inner
            .doc
            .export(mode)
            .map_err(|e| BoardError::Loro(e.to_string()))
    }

    /// The board as the node saves it: the Loro snapshot, and the records still pending (they
    /// are on the board but not yet in the document; a restart must not lose them).
    ///
    /// Framing (hand-rolled: two fields, no crate needed): magic, the snapshot's length as
    /// u64 little-endian, the snapshot, then the pending entries as JSON
    /// (`{"results": [...], "attestations": [...]}`).
    pub fn snapshot(&self) -> Result<Vec<u8>, BoardError> {
        let inner = self.inner();
        let doc = inner
            .doc
            .export(ExportMode::Snapshot)
            .map_err(|e| BoardError::Loro(e.to_string()))?;
        let mut saved = SavedPending::default();
        for (map, key) in inner.pending.keys() {
            match inner.get(*map, key) {
                Some(Entry::Result(r)) => saved.results.push(r),
                Some(Entry::Attestation(a)) => saved.attestations.push(a),
                None => {}
            }
        }
        let pending = serde_json::to_vec(&saved).map_err(|e| BoardError::Loro(e.to_string()))?;
        let mut out = Vec::with_capacity(SAVED_MAGIC.len() + 8 + doc.len() + pending.len());
        out.extend_from_slice(SAVED_MAGIC);
        out.extend_from_slice(&(doc.len() as u64).to_le_bytes());
        out.extend_from_slice(&doc);
        out.extend_from_slice(&pending);
        Ok(out)
    }

    /// Imports a peer's updates after checking, on the staging copy, that every entry they
    /// add is a validly signed record of this domain under its proper key, that none is
    /// rewritten or deleted, and that nothing else is touched. Returns how many records were
    /// added (records already served from gossip are not counted again).
    pub fn import_checked(&self, bytes: &[u8]) -> Result<usize, BoardError> {
        if bytes.is_empty() {
            // What `updates_since` answers when nothing is missing.
            return Ok(0);
        }
        let mut inner = self.inner();
        // Loro's decoders abort the process on some crafted updates (a panic is caught
        // below; an abort is not): decode it first in a forked copy of this process.
        dry_run(dry_run_limits(bytes.len()), || {
            decode_only(&mut inner, bytes)
        })?;
        let imported = guarded(|| self.import_locked(&mut inner, bytes));
        if imported.is_err() {
            // The decoder gave up midway: the staging copy may hold part of the update.
            inner.staging = Staging::of(&inner.doc);
        }
        imported?
    }

    fn import_locked(&self, inner: &mut Inner, bytes: &[u8]) -> Result<usize, BoardError> {
        // Nothing new (e.g. what gossip or another peer already brought): no work at all.
        if let Ok(meta) = LoroDoc::decode_import_blob_meta(bytes, false) {
            if inner.doc.oplog_vv().includes_vv(&meta.partial_end_vv) {
                return Ok(0);
            }
        }
        let outcome = self.check_staged(inner, bytes);
        match outcome {
            Ok((new, arrived)) if !subjects_known(inner, &new) => {
                let _ = arrived;
                inner.staging = Staging::of(&inner.doc);
                Err(BoardError::Refused(
                    "update holds an attestation about a result that is neither on the board nor in the update".into(),
                ))
            }
            Ok((new, arrived)) => {
                inner
                    .doc
                    .import(bytes)
                    .map_err(|e| BoardError::Loro(e.to_string()))?;
                for key in arrived {
                    inner.pending.remove(&key);
                }
                let mut added = 0;
                for (key, entry) in new {
                    if matches!(entry, Entry::Result(_)) {
                        added += 1;
                    }
                    inner.add(key, entry);
                }
                Ok(added)
            }
            Err(e) => {
                // The staging copy took the refused update: rebuild it from the accepted one.
                inner.staging = Staging::of(&inner.doc);
                Err(e)
            }
        }
    }

    /// Imports into staging and checks what changed. Returns the new verified entries and the
    /// keys of pending entries whose authors' operations have now arrived.
    fn check_staged(&self, inner: &mut Inner, bytes: &[u8]) -> Result<Checked, BoardError> {
        if inner.index.is_empty() && inner.attestations.is_empty() {
            return self.check_whole(inner, bytes);
        }
        let changes = inner.staging.try_import(bytes)?;
        let mut candidates: Vec<(Map, String, String)> = Vec::new();
        let mut arrived = Vec::new();
        for change in changes {
            let (map, key, json) = match change {
                Change::Entry(map, key, Some(json)) => (map, key, json),
                Change::Entry(_, key, None) => {
                    return Err(BoardError::Refused(format!("update deletes entry {key}")))
                }
                Change::NotAnEntry(key) => {
                    return Err(BoardError::Refused(format!(
                        "entry {key} is not a signed record"
                    )))
                }
                Change::Elsewhere(container) => {
                    return Err(BoardError::Refused(format!(
                        "update changes container {container}, which a board does not have"
                    )))
                }
            };
            match inner.get(map, &key) {
                // Already verified (from gossip, or the same entry from two peers).
                Some(known) if known.encode() == json.as_bytes() => {
                    if inner.pending.contains_key(&(map, key.clone())) {
                        arrived.push((map, key));
                    }
                }
                Some(_) => {
                    return Err(BoardError::Refused(format!(
                        "update rewrites existing entry {key}"
                    )))
                }
                None => candidates.push((map, key, json)),
            }
        }
        self.check_capacity(inner, &candidates)?;
        let candidates: Vec<(Map, &str, &str)> = candidates
            .iter()
            .map(|(m, k, j)| (*m, k.as_str(), j.as_str()))
            .collect();
        Ok((self.verify_entries(&candidates)?, arrived))
    }

    fn check_capacity(
        &self,
        inner: &Inner,
        candidates: &[(Map, String, String)],
    ) -> Result<(), BoardError> {
        let new = candidates
            .iter()
            .filter(|(m, _, _)| *m == Map::Attestations)
            .count();
        if inner.attestations.len() + new > MAX_ATTESTATIONS {
            return Err(BoardError::Refused(format!(
                "update would take the board past {MAX_ATTESTATIONS} attestations"
            )));
        }
        Ok(())
    }

    /// An empty board takes in a whole board (a new node's first sync, or a restore): every
    /// entry is new, so the maps are read in place instead of through change events.
    fn check_whole(&self, inner: &mut Inner, bytes: &[u8]) -> Result<Checked, BoardError> {
        inner.staging.subscription = None;
        let imported = inner.staging.doc.import(bytes);
        inner.staging.subscribe();
        imported.map_err(|e| BoardError::Refused(format!("not a Loro update: {e}")))?;
        if let loro::LoroValue::Map(roots) = inner.staging.doc.get_value() {
            if let Some(other) = roots.keys().find(|k| Map::of(k.as_str()).is_none()) {
                return Err(BoardError::Refused(format!(
                    "update changes container {other}, which a board does not have"
                )));
            }
        }
        let mut owned: Vec<(Map, String, String)> = Vec::new();
        for map in [Map::Results, Map::Attestations] {
            let all = inner.staging.doc.get_map(map.name()).get_value();
            if let loro::LoroValue::Map(entries) = &all {
                for (key, value) in entries.iter() {
                    match value {
                        loro::LoroValue::String(json) => {
                            owned.push((map, key.to_string(), json.to_string()))
                        }
                        _ => {
                            return Err(BoardError::Refused(format!(
                                "entry {key} is not a signed record"
                            )))
                        }
                    }
                }
            }
        }
        self.check_capacity(inner, &owned)?;
        let candidates: Vec<(Map, &str, &str)> = owned
            .iter()
            .map(|(m, k, j)| (*m, k.as_str(), j.as_str()))
            .collect();
        Ok((self.verify_entries(&candidates)?, Vec::new()))
    }

    /// Parses and verifies new entries, on all cores (signature checks dominate a large sync).
    fn verify_entries(
        &self,
        candidates: &[(Map, &str, &str)],
    ) -> Result<Vec<(String, Entry)>, BoardError> {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .max(1);
        let chunk = candidates.len().div_ceil(threads).max(1);
        let checked: Vec<Result<Vec<(String, Entry)>, BoardError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = candidates
                .chunks(chunk)
                .map(|part| scope.spawn(move || self.verify_part(part)))
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
        Ok(new)
    }

    /// One thread's share: records batch-verified, attestations one by one.
    fn verify_part(&self, part: &[(Map, &str, &str)]) -> Result<Vec<(String, Entry)>, BoardError> {
        let mut out = Vec::with_capacity(part.len());
        let mut records = Vec::new();
        for (map, key, json) in part {
            match map {
                Map::Results => {
                    let record = self.check_entry(key, json)?;
                    records.push(record.clone());
                    out.push((key.to_string(), Entry::Result(record)));
                }
                Map::Attestations => {
                    let a = SignedAttestation::decode(json.as_bytes())
                        .map_err(|e| BoardError::Refused(format!("entry {key}: {e}")))?;
                    if a.key() != *key || a.attestation.domain != self.domain {
                        return Err(BoardError::Refused(format!(
                            "entry {key} is filed under the wrong key or domain"
                        )));
                    }
                    out.push((key.to_string(), Entry::Attestation(a)));
                }
            }
        }
        crate::record::verify_all(&records).map_err(|e| BoardError::Refused(e.to_string()))?;
        Ok(out)
    }

    fn check_entry(&self, key: &str, json: &str) -> Result<SignedResult, BoardError> {
        // Parsed here, verified by the caller in a batch.
        let signed = SignedResult::parse(json.as_bytes())
            .map_err(|e| BoardError::Refused(format!("entry {key}: {e}")))?;
        if signed.key() != key || signed.record.domain != self.domain {
            return Err(BoardError::Refused(format!(
                "entry {key} is filed under the wrong key or domain"
            )));
        }
        Ok(signed)
    }

    /// Best scored record per author.
    pub fn best_per_peer(&self) -> BTreeMap<String, SignedResult> {
        self.best_per_peer_where(&|_| true)
    }

    /// Best scored record per author among those `keep` admits.
    pub fn best_per_peer_where(
        &self,
        keep: &dyn Fn(&SignedResult) -> bool,
    ) -> BTreeMap<String, SignedResult> {
        let mut best: BTreeMap<String, SignedResult> = BTreeMap::new();
        for r in self.inner().index.values() {
            if r.record.val.is_none() || !keep(r) {
                continue;
            }
            match best.get(&r.record.author) {
                Some(b) if !r.beats(b.record.val) => {}
                _ => {
                    best.insert(r.record.author.clone(), r.clone());
                }
            }
        }
        best
    }

    /// The best scored record of one skill under one evaluator (ties broken by key).
    pub fn best_for(&self, skill_hash: &str, evaluator_hash: &str) -> Option<SignedResult> {
        self.best_for_where(skill_hash, evaluator_hash, &|_| true)
    }

    /// [`Board::best_for`] among the records `keep` admits.
    pub fn best_for_where(
        &self,
        skill_hash: &str,
        evaluator_hash: &str,
        keep: &dyn Fn(&SignedResult) -> bool,
    ) -> Option<SignedResult> {
        let inner = self.inner();
        let mut best: Option<&SignedResult> = None;
        for r in inner.index.values() {
            if r.record.val.is_none()
                || r.record.skill_hash != skill_hash
                || r.record.evaluator_hash != evaluator_hash
            {
                continue;
            }
            // Only results their loop kept: a seed-lucky repeat or an unconfirmed candidate
            // is not a point to climb from.
            if !matches!(r.record.status.as_str(), "baseline" | "keep") || !keep(r) {
                continue;
            }
            if r.beats(best.and_then(|b| b.record.val)) {
                best = Some(r);
            }
        }
        best.cloned()
    }

    /// The global best (ties broken by key, so every node agrees).
    pub fn global_best(&self) -> Option<SignedResult> {
        self.global_best_where(&|_| true)
    }

    /// The global best among the records `keep` admits.
    pub fn global_best_where(&self, keep: &dyn Fn(&SignedResult) -> bool) -> Option<SignedResult> {
        self.best_per_peer_where(keep)
            .into_values()
            .min_by(SignedResult::rank)
    }
}
