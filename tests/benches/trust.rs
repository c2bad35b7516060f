//! Trust benchmark: N honest nodes on loopback research `search` together, each with its
//! verifier on (default share 10 %), then a 50-identity flood of fabricated bests that vouch
//! for each other arrives while they research on. Prints the figures README.md quotes:
//! the share of compute spent on replays at steady state, the time from an honest new best
//! to "verified" on the other nodes, and attacker results on verified boards and adopted by
//! loops under the flood.
//!
//! `cargo bench -p hyper-tests --bench trust -- [--nodes 8] [--experiments 30] [--share 0.1]`
//! (add `--profile dev` to skip the release build: the guests are release builds either way).

use hyper_tests::flags::OrExit;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_research::Solo;
use hyper_swarm::peers::SwarmPeers;
use hyper_swarm::record::{from_journal, peer_id_of};
use hyper_swarm::trust::Status;
use hyper_tests::swarm_harness::*;
use hyper_tests::{flags, temp_home};

/// A published result: key, when it was published, its value, whether its loop kept it.
#[derive(Clone)]
struct Published {
    key: String,
    author: usize,
    at: Instant,
    val: f64,
    kept: bool,
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Runs one round of research on every node at once (threads), publishing every record.
fn round(
    rt: &tokio::runtime::Runtime,
    peers: &[Peer],
    seed: u64,
    experiments: u32,
    adopt_every: u32,
    published: &Arc<Mutex<Vec<Published>>>,
) -> Vec<Vec<hyper_journal::Record>> {
    let handles: Vec<_> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (client, key, home, meter) = (
                p.client.clone(),
                p.key.clone(),
                p.home.clone(),
                p.meter.clone(),
            );
            let handle = rt.handle().clone();
            let published = published.clone();
            let me = p.id();
            std::thread::spawn(move || {
                let mut swarm = SwarmPeers::new(client.clone(), handle.clone());
                let (_, rows) = research(
                    &home,
                    options(seed + i as u64, experiments, adopt_every),
                    &mut swarm,
                    |record| {
                        meter.add_research(record.duration_ms);
                        handle
                            .block_on(client.publish(from_journal(record, &key)))
                            .or_exit("publish");
                        if let Some(val) = record.val {
                            if let Ok(mut list) = published.lock() {
                                list.push(Published {
                                    key: format!("{me}/{}", record.id),
                                    author: i,
                                    at: Instant::now(),
                                    val,
                                    kept: matches!(
                                        record.status,
                                        hyper_journal::Status::Keep
                                            | hyper_journal::Status::Baseline
                                    ),
                                });
                            }
                        }
                    },
                );
                rows
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("research thread"))
        .collect()
}

/// Samples every node's statuses until `stop`: the first time each (observer, result) was
/// seen verified.
fn monitor(
    rt: &tokio::runtime::Runtime,
    peers: &[Peer],
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<HashMap<(usize, String), Instant>> {
    let clients: Vec<_> = peers.iter().map(|p| p.client.clone()).collect();
    let handle = rt.handle().clone();
    std::thread::spawn(move || {
        let mut seen: HashMap<(usize, String), Instant> = HashMap::new();
        while !stop.load(Ordering::Relaxed) {
            for (i, c) in clients.iter().enumerate() {
                if let Ok(Some(report)) = handle.block_on(c.trust("search")) {
                    let now = Instant::now();
                    for (key, status) in report.statuses {
                        if status == Status::Verified {
                            seen.entry((i, key)).or_insert(now);
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        seen
    })
}

fn main() {
    let n: usize = flags::value("--nodes", 8);
    let experiments: u32 = flags::value("--experiments", 30);
    let share: f64 = flags::value("--share", 0.10);
    let rt = tokio_rt();
    let mut peers: Vec<Peer> = Vec::new();
    for i in 0..n {
        let bootstrap: Vec<&Peer> = peers.iter().collect();
        peers.push(peer(&rt, 120 + i as u8, &bootstrap));
    }
    until("every node connected", 60, || {
        peers.iter().all(|p| {
            rt.block_on(p.client.peers())
                .map(|x| x.len() >= (n - 1).min(3))
                .unwrap_or(false)
        })
    });
    std::thread::sleep(Duration::from_secs(1));
    println!(
        "hyper trust benchmark: {n} honest nodes on loopback, {experiments} experiments each, verifier share {share}, {}",
        hyper_research::platform()
    );
    let stop_verifiers: Vec<_> = peers
        .iter()
        .map(|p| spawn_verifier(&rt, p, share))
        .collect();
    let stop_monitor = Arc::new(AtomicBool::new(false));
    let watch = monitor(&rt, &peers, stop_monitor.clone());
    let published = Arc::new(Mutex::new(Vec::new()));

    // Phase 1: honest steady state.
    let t0 = Instant::now();
    round(&rt, &peers, 500, experiments, 5, &published);
    let research_secs = t0.elapsed().as_secs_f64();
    let figures: Vec<_> = peers.iter().map(|p| p.meter.figures()).collect();
    let replay_ms: u64 = figures.iter().map(|f| f.replay_ms).sum();
    let research_ms: u64 = figures.iter().map(|f| f.research_ms).sum();
    let replays: u64 = figures.iter().map(|f| f.replays).sum();
    // Let late verifications land (the verifiers keep their duty cycle).
    std::thread::sleep(Duration::from_secs(20));
    stop_monitor.store(true, Ordering::Relaxed);
    let seen = watch.join().expect("monitor");
    let list = published.lock().or_exit("list").clone();
    // Swarm-wide new bests: kept results that beat everything published before them.
    let mut best = f64::MIN;
    let mut bests: Vec<Published> = Vec::new();
    let mut sorted = list.clone();
    sorted.sort_by_key(|p| p.at);
    for p in sorted.iter().filter(|p| p.kept) {
        if p.val > best {
            best = p.val;
            bests.push(p.clone());
        }
    }
    let new_bests = bests.len();
    let mut delays = Vec::new();
    let mut all_others = Vec::new();
    let (mut superseded, mut never) = (0, 0);
    for (i, p) in bests.iter().enumerate() {
        let mut worst: f64 = 0.0;
        for observer in (0..n).filter(|&o| o != p.author) {
            match seen.get(&(observer, p.key.clone())) {
                Some(at) => {
                    let d = at.saturating_duration_since(p.at).as_secs_f64();
                    delays.push(d);
                    worst = worst.max(d);
                }
                None => {
                    // A later best verified there first: this one no longer mattered (the
                    // verifier checks what would be adopted, not what was overtaken).
                    let later = bests[i + 1..].iter().any(|q| {
                        q.author == observer || seen.contains_key(&(observer, q.key.clone()))
                    });
                    if later {
                        superseded += 1;
                    } else {
                        never += 1;
                    }
                    worst = f64::INFINITY;
                }
            }
        }
        if worst.is_finite() {
            all_others.push(worst);
        }
    }
    println!(
        "steady state: {replays} replays; compute on replays {:.1}% ({replay_ms} ms of {} ms; target <= 10%); research took {research_secs:.1} s",
        100.0 * replay_ms as f64 / (replay_ms + research_ms).max(1) as f64,
        replay_ms + research_ms
    );
    println!(
        "new swarm bests: {new_bests}; time to verified on another node p50 {:.2} s, p90 {:.2} s ({} (observer, best) pairs); on all {} others p50 {:.2} s, max {:.2} s ({} bests); not verified: {superseded} pairs overtaken first by a later best, {never} never",
        percentile(delays.clone(), 0.5),
        percentile(delays.clone(), 0.9),
        delays.len(),
        n - 1,
        percentile(all_others.clone(), 0.5),
        percentile(all_others.clone(), 1.0),
        all_others.len(),
    );

    let trusted: Vec<usize> = peers
        .iter()
        .map(|p| {
            rt.block_on(p.client.trust("search"))
                .ok()
                .flatten()
                .map_or(0, |r| {
                    r.reputations
                        .values()
                        .filter(|x| x.trusted_attester)
                        .count()
                })
        })
        .collect();
    println!("trusted attesters per node (earned by matching replays): {trusted:?}");

    // Phase 2: 50 identities publish fabricated bests and attest each other's.
    let flood = peer(&rt, 250, &peers.iter().collect::<Vec<_>>());
    until("the flood node is connected", 60, || {
        rt.block_on(flood.client.peers())
            .map(|p| p.len() >= 2)
            .unwrap_or(false)
    });
    std::thread::sleep(Duration::from_secs(1));
    let (_t, scratch) = temp_home();
    let (_, rows) = research(&scratch, options(3, 1, 0), &mut Solo, |_| {});
    let (sybils, fakes) = sybil_flood(&rt, &flood, &rows[0], 50, 150, 5);
    let before: Vec<_> = peers.iter().map(|p| p.meter.figures()).collect();
    let t1 = Instant::now();
    let rows = round(&rt, &peers, 900, experiments / 2, 2, &published);
    let flood_secs = t1.elapsed().as_secs_f64();
    for s in &stop_verifiers {
        s.store(true, Ordering::Relaxed);
    }
    let sybil_ids: HashSet<String> = sybils
        .iter()
        .map(|k| peer_id_of(&k.verifying_key()))
        .collect();
    let adopted = adopted_from(rows.iter().flatten(), &sybil_ids);
    let mut on_boards = 0;
    let mut refuted = 0;
    for p in &peers {
        on_boards += on_verified_board(&rt, p, &sybil_ids);
        let report = rt
            .block_on(p.client.trust("search"))
            .or_exit("trust")
            .or_exit("search");
        refuted += fakes
            .iter()
            .filter(|f| report.statuses.get(&f.key()) == Some(&Status::Refuted))
            .count();
    }
    let after: Vec<_> = peers.iter().map(|p| p.meter.figures()).collect();
    let d_replay: u64 = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.replay_ms - b.replay_ms)
        .sum();
    let d_research: u64 = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.research_ms - b.research_ms)
        .sum();
    println!(
        "50-identity flood (50 fabricated bests, 250 mutual attestations): attacker results on verified boards {on_boards}, adopted by loops {adopted} (targets 0); refutations {refuted} of {} (node, fake) pairs; compute on replays {:.1}%; the round took {flood_secs:.1} s",
        fakes.len() * n,
        100.0 * d_replay as f64 / (d_replay + d_research).max(1) as f64,
    );
    rt.block_on(async {
        for p in peers.iter().chain([&flood]) {
            p.client.shutdown().await;
        }
    });
}
