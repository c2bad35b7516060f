//! Real nodes on loopback with research loops and verifiers, for the trust tests and the
//! trust benchmark: each [`Peer`] is a node with its own home (the search domain installed),
//! key and compute meter.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use hyper_journal::{Journal, Record, Status as JournalStatus};
use hyper_research::{LoopOptions, Peers, ReplayOutcome, ResearchLoop, Summary, Verdict};
use hyper_runtime::{Evaluator, Skill};
use hyper_swarm::attest::SignedAttestation;
use hyper_swarm::node::{attestation_topic, start, NodeClient, NodeConfig};
use hyper_swarm::peers::SwarmPeers;
use hyper_swarm::record::{from_journal, SignedResult};
use hyper_swarm::verifier::{ComputeMeter, Verifier, VerifierSetup};

use crate::{fixtures, read, runtime, search_domain, temp_home};

pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
}

/// A node with its own home (the search domain installed) and key.
pub struct Peer {
    pub client: NodeClient,
    pub key: SigningKey,
    pub home: PathBuf,
    _dir: tempfile::TempDir,
    pub meter: Arc<ComputeMeter>,
}

impl Peer {
    pub fn id(&self) -> String {
        self.client.peer_id.to_base58()
    }
}

pub fn peer(rt: &tokio::runtime::Runtime, n: u8, bootstrap: &[&Peer]) -> Peer {
    let (dir, home) = temp_home();
    search_domain(&home);
    let client = rt.block_on(async {
        let mut addrs = Vec::new();
        for b in bootstrap {
            addrs.push(b.client.listen_addrs().await.expect("addrs")[0].clone());
        }
        start(
            [n; 32],
            NodeConfig {
                bootstrap: addrs,
                anti_entropy: Duration::from_millis(300),
                ..NodeConfig::default()
            },
            HashMap::new(),
        )
        .await
        .expect("node")
    });
    Peer {
        client,
        key: SigningKey::from_bytes(&[n; 32]),
        home,
        _dir: dir,
        meter: Arc::new(ComputeMeter::default()),
    }
}

pub fn verifier(rt: &tokio::runtime::Runtime, p: &Peer, share: f64) -> Verifier {
    Verifier::new(
        p.client.clone(),
        rt.handle().clone(),
        VerifierSetup {
            home: p.home.clone(),
            runtime: runtime(),
            key: p.key.clone(),
            meter: p.meter.clone(),
            share,
            domains: vec!["search".into()],
        },
    )
}

/// Runs a verifier on its own thread until the returned flag is set.
pub fn spawn_verifier(rt: &tokio::runtime::Runtime, p: &Peer, share: f64) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let v = verifier(rt, p, share);
    let flag = stop.clone();
    std::thread::spawn(move || v.run(flag, Duration::from_millis(50)));
    stop
}

pub fn until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn options(seed: u64, experiments: u32, adopt_every: u32) -> LoopOptions {
    LoopOptions {
        experiments: Some(experiments),
        seed,
        adopt_every,
        noise_runs: 0,
        ..LoopOptions::default()
    }
}

/// The BM25 loop on `home`'s search domain; with a node, every record is published and
/// counted by the node's compute meter.
pub fn research(
    home: &std::path::Path,
    options: LoopOptions,
    peers: &mut dyn Peers,
    mut on_record: impl FnMut(&Record),
) -> (Summary, Vec<Record>) {
    let runtime = runtime();
    let skill = Skill::load(&runtime, &read(fixtures::SEARCH_BM25)).expect("skill");
    let evaluator =
        Evaluator::load(&runtime, &read(fixtures::SEARCH_EVALUATOR)).expect("evaluator");
    let mut journal = Journal::open(home.join("journal.db")).expect("journal");
    let summary = ResearchLoop {
        domain: search_domain(home),
        skill,
        evaluator,
        journal: &mut journal,
    }
    .run_with(&options, peers, &mut |event| {
        if let hyper_research::Event::ExperimentFinished { record, .. } = event {
            on_record(record);
        }
    })
    .expect("loop");
    (summary, journal.list("search").expect("rows"))
}

/// Researches on a node: publishes every record and counts its compute.
pub fn research_on(
    rt: &tokio::runtime::Runtime,
    p: &Peer,
    options: LoopOptions,
) -> (Summary, Vec<Record>) {
    let mut peers = SwarmPeers::new(p.client.clone(), rt.handle().clone());
    research(&p.home, options, &mut peers, |record| {
        p.meter.add_research(record.duration_ms);
        rt.block_on(p.client.publish(from_journal(record, &p.key)))
            .expect("publish");
    })
}

/// `record` edited as the attacker did with sqlite3: other parameters, a score of
/// 0.97 and status keep, under a new id.
pub fn fabricate(record: &Record, id: &str, k1: f64, val: f64) -> Record {
    let mut fake = record.clone();
    fake.id = id.into();
    fake.params["k1"] = serde_json::json!(k1);
    fake.val = Some(val);
    fake.test = Some(val);
    fake.status = JournalStatus::Keep;
    fake
}

/// An attestation that says `agree` about `subject` without having replayed it.
pub fn false_agreement(subject: &SignedResult, by: &SigningKey) -> SignedAttestation {
    let lie = ReplayOutcome {
        verdict: Verdict::Agree,
        reason: "replayed, agrees".into(),
        val: subject.record.val,
        test: subject.record.test,
        platform: subject.record.platform.clone(),
        duration_ms: 100,
    };
    SignedAttestation::sign(subject, &lie, by, 1)
}

/// A Sybil flood through `via`: `identities` fresh keys (from `first_key`) each publish a
/// fabricated best (an edit of `template`, beating everything honest) and each attests
/// `agree` on the next `vouch` identities' fakes. Returns the keys and the fakes.
pub fn sybil_flood(
    rt: &tokio::runtime::Runtime,
    via: &Peer,
    template: &Record,
    identities: u8,
    first_key: u8,
    vouch: usize,
) -> (Vec<SigningKey>, Vec<SignedResult>) {
    let keys: Vec<SigningKey> = (0..identities)
        .map(|i| SigningKey::from_bytes(&[first_key.wrapping_add(i); 32]))
        .collect();
    let fakes: Vec<SignedResult> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let (k1, val) = (0.5 + i as f64 * 0.01, 0.9 + i as f64 * 0.001);
            from_journal(&fabricate(template, &format!("sybil-{i}"), k1, val), key)
        })
        .collect();
    for fake in &fakes {
        rt.block_on(via.client.publish(fake.clone()))
            .expect("publish");
    }
    let topic = attestation_topic("search").to_string();
    for (i, key) in keys.iter().enumerate() {
        for j in 1..=vouch {
            let lie = false_agreement(&fakes[(i + j) % fakes.len()], key);
            rt.block_on(via.client.publish_raw_on(&topic, lie.encode()))
                .expect("publish attestation");
        }
    }
    (keys, fakes)
}

/// How many of `identities` have an entry on `p`'s verified leaderboard.
pub fn on_verified_board(
    rt: &tokio::runtime::Runtime,
    p: &Peer,
    identities: &std::collections::HashSet<String>,
) -> usize {
    let board = rt
        .block_on(p.client.leaderboard("search", false))
        .expect("board")
        .expect("search");
    board
        .best_per_peer
        .iter()
        .filter(|e| identities.contains(&e.result.record.author))
        .count()
}

/// How many experiments climbed from a result of one of `identities`.
pub fn adopted_from<'r>(
    rows: impl IntoIterator<Item = &'r Record>,
    identities: &std::collections::HashSet<String>,
) -> usize {
    rows.into_iter()
        .filter(|r| {
            r.parent
                .as_deref()
                .and_then(|p| p.split('/').next())
                .is_some_and(|a| identities.contains(a))
        })
        .count()
}
