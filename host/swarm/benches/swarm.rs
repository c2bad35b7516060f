//! Swarm benchmark: prints the figures README.md quotes. `cargo bench -p hyper-swarm --bench
//! swarm [-- --nodes 20 --results 100000]` (release build). In-process nodes on loopback.
//!
//! - propagation latency: one record published by a random node, time until every node's board
//!   has it (p50/p99 over many records, polled at 1 ms);
//! - convergence after a burst: every node publishes at once; time until all boards are equal;
//! - a new node's full sync of a board of N results (N signed records), and that board's
//!   memory (RSS growth while building it) and on-disk (snapshot) size.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use hyper_swarm::board::Board;
use hyper_swarm::node::{start, NodeClient, NodeConfig};
use hyper_swarm::record::SignedResult;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn record(key: &SigningKey, id: usize, val: f64) -> SignedResult {
    hyper_swarm::record::sample(key, &format!("e{id}"), val)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn counts(nodes: &[NodeClient]) -> Vec<usize> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(n.count("search").await.unwrap_or(0));
    }
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let n_nodes = arg("--nodes", 20);
    let n_results = arg("--results", 100_000);
    let samples = arg("--samples", 100);
    println!(
        "hyper swarm benchmark: {n_nodes} in-process nodes on loopback, {} cpus",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let config = |bootstrap| NodeConfig {
        bootstrap,
        anti_entropy: Duration::from_secs(1),
        ..NodeConfig::default()
    };
    let mut nodes: Vec<NodeClient> = Vec::new();
    let mut keys = Vec::new();
    for i in 0..n_nodes {
        let secret = [i as u8 + 1; 32];
        keys.push(SigningKey::from_bytes(&secret));
        // A tree: node i dials node (i-1)/2, so paths are a few hops long.
        let bootstrap = if i == 0 {
            vec![]
        } else {
            vec![nodes[(i - 1) / 2].listen_addrs().await?[0].clone()]
        };
        nodes.push(start(secret, config(bootstrap), HashMap::new()).await?);
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // gossipsub meshes form

    // 1. Propagation latency.
    let mut latencies = Vec::new();
    let mut expected = 0;
    for s in 0..samples {
        let from = s % n_nodes;
        let t0 = Instant::now();
        nodes[from]
            .publish(record(&keys[from], 1_000_000 + s, 0.1))
            .await?;
        expected += 1;
        while counts(&nodes).await.iter().any(|&c| c < expected) {
            if t0.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("a record did not reach every node in 10 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(t0.elapsed());
    }
    latencies.sort();
    println!(
        "propagation to all {n_nodes} boards ({samples} records): p50 {:.1} ms, p99 {:.1} ms   (target p99 ≤ 100 ms)",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );

    // 2. Convergence after a burst: every node publishes 25 records at once.
    let burst = 25;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let node = node.clone();
        let key = keys[i].clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..burst {
                let _ = node.publish(record(&key, 2_000_000 + r, 0.2)).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let target = expected + burst * n_nodes;
    while counts(&nodes).await.iter().any(|&c| c < target) {
        if t0.elapsed() > Duration::from_secs(60) {
            let mut stats = Vec::new();
            for n in &nodes {
                stats.push(n.stats().await?);
            }
            anyhow::bail!(
                "no convergence after the burst: {:?}\n{stats:#?}",
                counts(&nodes).await
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let converged = t0.elapsed();
    let first = nodes[0].board("search").await?;
    for n in &nodes[1..] {
        assert_eq!(
            n.board("search").await?,
            first,
            "boards differ after convergence"
        );
    }
    println!(
        "convergence after a burst of {} results: {:.0} ms   (target ≤ 2000 ms)",
        burst * n_nodes,
        converged.as_secs_f64() * 1e3
    );
    for n in &nodes {
        n.shutdown().await;
    }

    // 3. A board of n_results, its size, and a new node's full sync of it.
    let rss0 = rss_bytes();
    let board = Board::new("search", 1);
    let authors: Vec<SigningKey> = (0..20u8)
        .map(|i| SigningKey::from_bytes(&[100 + i; 32]))
        .collect();
    let t0 = Instant::now();
    for i in 0..n_results {
        board
            .insert(&record(
                &authors[i % authors.len()],
                i,
                (i % 1000) as f64 / 1000.0,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let built = t0.elapsed();
    let rss = rss_bytes().saturating_sub(rss0);
    let snapshot = board.snapshot().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "board of {n_results} results: built in {:.1} s; memory +{:.0} MB (RSS); snapshot on disk {:.1} MB",
        built.as_secs_f64(),
        rss as f64 / 1e6,
        snapshot.len() as f64 / 1e6
    );
    // The trust view of that board with one attestation per result (from 5 attesters): what
    // a node recomputes when its board has changed and someone asks (the verifier, a loop's
    // adoption, the leaderboard, the application scores).
    let attesters: Vec<SigningKey> = (0..5u8)
        .map(|i| SigningKey::from_bytes(&[150 + i; 32]))
        .collect();
    let agrees = hyper_research::ReplayOutcome {
        verdict: hyper_research::Verdict::Agree,
        reason: String::new(),
        val: None,
        test: None,
        platform: String::new(),
        duration_ms: 1,
    };
    for (i, r) in board.results().iter().enumerate() {
        let a = hyper_swarm::attest::SignedAttestation::sign(r, &agrees, &attesters[i % 5], 1);
        board
            .insert_attestation(&a)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let trust = hyper_swarm::trust::TrustConfig {
        me: hyper_swarm::record::peer_id_of(&attesters[0].verifying_key()),
        trusted: Default::default(),
        quorum: 1,
    };
    let t0 = Instant::now();
    let view = board.trust_view(&trust);
    println!(
        "trust view of {n_results} results and {n_results} attestations: {:.0} ms ({} identities)",
        t0.elapsed().as_secs_f64() * 1e3,
        view.reputations().len()
    );
    let snapshot = board.snapshot().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut boards = HashMap::new();
    boards.insert("search".to_string(), snapshot);
    drop(board);
    let holder = start([200; 32], config(vec![]), boards).await?;
    let t0 = Instant::now();
    let newcomer = start(
        [201; 32],
        config(vec![holder.listen_addrs().await?[0].clone()]),
        HashMap::new(),
    )
    .await?;
    while newcomer.count("search").await? < n_results {
        if t0.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("full sync did not finish");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "new node's full sync of {n_results} results: {:.2} s   (target ≤ 3 s)",
        t0.elapsed().as_secs_f64()
    );
    // 4. What the dry run of every peer's update (a forked child decodes it first) adds to
    // an import, in a process of this size: the fork and the wait, with nothing decoded.
    let limits = hyper_swarm::dry_run::Limits {
        memory: 1 << 30,
        time: Duration::from_secs(30),
    };
    let mut forks = Vec::new();
    for _ in 0..samples {
        let t0 = Instant::now();
        hyper_swarm::dry_run::dry_run(limits, || {}).map_err(|e| anyhow::anyhow!("{e}"))?;
        forks.push(t0.elapsed());
    }
    forks.sort();
    println!(
        "dry run of an update (fork, wait; nothing decoded) at {:.0} MB RSS: p50 {:.2} ms, p99 {:.2} ms",
        rss_bytes() as f64 / 1e6,
        percentile(&forks, 0.5).as_secs_f64() * 1e3,
        percentile(&forks, 0.99).as_secs_f64() * 1e3
    );
    holder.shutdown().await;
    newcomer.shutdown().await;
    Ok(())
}
