//! The fuzz targets' bodies, shared by the cargo-fuzz crate (`tests/fuzz`, libFuzzer) and the
//! test suite (`tests/fuzz_corpora.rs` replays the committed corpora and a deterministic
//! stream of mutations through the same functions). Each takes arbitrary bytes — what a
//! hostile skill, peer or package can hand the host — and must never panic; `space` also
//! checks that every proposal lies inside the declared bounds.

use hyper_research::params::Space;
use hyper_research::{
    Context, GpProposer, MixedProposer, NoveltyProposer, Observation, Proposer, TpeProposer,
};
use hyper_runtime::bindings::v0_1_0::types::{ChoiceSet, FloatRange, IntRange};
use hyper_runtime::{ParamKind, ParamSpec};

/// Reads values off the input, then zeros once it is used up.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
    fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.take())
    }
    fn string(&mut self) -> String {
        let len = (self.u8() % 24) as usize;
        let n = len.min(self.0.len());
        let s = String::from_utf8_lossy(&self.0[..n]).into_owned();
        self.0 = &self.0[n..];
        s
    }
}

fn kind(b: &mut Bytes) -> ParamKind {
    match b.u8() % 4 {
        0 => ParamKind::Int(IntRange {
            min: b.i64(),
            max: b.i64(),
            default: b.i64(),
        }),
        1 => ParamKind::Float(FloatRange {
            min: b.f64(),
            max: b.f64(),
            default: b.f64(),
            log_scale: b.u8().is_multiple_of(2),
        }),
        2 => {
            let options: Vec<String> = (0..b.u8() % 6).map(|_| b.string()).collect();
            let default = b.string();
            ParamKind::Choice(ChoiceSet { options, default })
        }
        _ => ParamKind::Flag(b.u8().is_multiple_of(2)),
    }
}

/// A declared parameter space from bytes: validation, then proposals from both proposers.
pub fn space(data: &[u8]) {
    let mut b = Bytes(data);
    let seed = u64::from_le_bytes(b.take());
    let specs: Vec<ParamSpec> = (0..b.u8() % 8)
        .map(|_| ParamSpec {
            name: b.string(),
            description: b.string(),
            kind: kind(&mut b),
        })
        .collect();
    let Ok(space) = Space::new(specs) else {
        return;
    };
    let proposers: [Box<dyn Proposer>; 4] = [
        Box::new(MixedProposer::new(seed)),
        Box::new(NoveltyProposer::new(seed)),
        Box::new(TpeProposer::new(seed)),
        Box::new(GpProposer::new(seed)),
    ];
    for mut p in proposers {
        let mut tried = vec![space.defaults()];
        let mut history = Vec::new();
        for i in 0..10u32 {
            let best = tried[tried.len() - 1].clone();
            // The model proposes from six results on (a crash every fourth).
            let mut context = Context::new(&space, &best, &tried);
            context.history = &history;
            let next = p.propose(&context);
            history.push(Observation {
                params: next.clone(),
                val: (i % 4 != 3).then(|| f64::from(i % 5)),
            });
            for s in &space.specs {
                let Some(v) = next.get(&s.name) else {
                    panic!("the proposer left out `{}`", s.name);
                };
                assert!(
                    hyper_research::params::admits(&s.kind, v),
                    "{} = {v:?} outside {:?}",
                    s.name,
                    s.kind
                );
            }
            let d = space.distance(&best, &next);
            assert!((0.0..=1.0).contains(&d), "distance {d}");
            tried.push(next);
        }
    }
}

/// A result record as gossiped by a peer.
pub fn record(data: &[u8]) {
    if let Ok(r) = hyper_swarm::record::SignedResult::decode(data) {
        let _ = hyper_swarm::record::SignedResult::decode(&r.encode());
    }
}

/// An attestation as gossiped by a peer.
pub fn attestation(data: &[u8]) {
    if let Ok(a) = hyper_swarm::attest::SignedAttestation::decode(data) {
        let _ = hyper_swarm::attest::SignedAttestation::decode(&a.encode());
    }
}

/// A board-sync answer from a peer, imported onto a board that holds one record and one
/// attestation (what an update is checked against): refused or imported, never a panic.
pub fn board_update(data: &[u8]) {
    use ed25519_dalek::SigningKey;
    let board = hyper_swarm::board::Board::new("search", 1);
    let author = SigningKey::from_bytes(&[1; 32]);
    let record = hyper_swarm::record::sample(&author, "seed", 0.5);
    if board.insert(&record).is_err() {
        return;
    }
    if board.import_checked(data).is_ok() {
        let _ = board.snapshot();
        let _ = board.results();
    }
}

/// A claim, hypothesis or skill announcement as gossiped by a peer.
pub fn announcement(data: &[u8]) {
    let _ = hyper_swarm::announce::SignedAnnouncement::decode(data);
}

/// A `.hskill` package as downloaded from a stranger.
pub fn hskill(data: &[u8]) {
    if let Ok(p) = hyper_registry::package::Package::from_bytes(data) {
        let _ = p.verify_signature();
    }
}

/// A domain manifest (`hyper-domain.toml`) of a cause someone publishes.
pub fn manifest(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    if std::fs::write(dir.path().join("hyper-domain.toml"), data).is_ok() {
        let _ = hyper_research::Domain::load(dir.path());
    }
}

/// Every target by name, for the corpus replay.
/// A fuzz target: arbitrary bytes in, no panic out.
pub type Target = fn(&[u8]);

pub const TARGETS: &[(&str, Target)] = &[
    ("space", space),
    ("record", record),
    ("announcement", announcement),
    ("attestation", attestation),
    ("board_update", board_update),
    ("hskill", hskill),
    ("manifest", manifest),
];
