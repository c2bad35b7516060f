//! Dashboard responsiveness with a large board: one node (listening nowhere) holding N signed
//! results from 20 authors (default 100,000), its dashboard, and the time to answer each API
//! read and to render the pages in headless Chromium (host/dashboard/web/load.mjs).
//!
//! `cargo bench -p hyper-tests --bench dashboard --profile dev -- [--results 100000]`

use hyper_tests::flags::OrExit;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use hyper_swarm::node::{start, NodeConfig};
use hyper_swarm::record::{peer_id_of, ResultRecord, SignedResult, RECORD_VERSION};
use hyper_tests::swarm_harness::tokio_rt;

fn get(addr: SocketAddr, path: &str) -> (Duration, usize) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).or_exit("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .or_exit("write");
    let mut body = Vec::new();
    s.read_to_end(&mut body).or_exit("read");
    (t.elapsed(), body.len())
}

fn main() {
    let n: usize = hyper_tests::flags::value("--results", 100_000);
    let rt = tokio_rt();
    let client = rt
        .block_on(start(
            [7; 32],
            NodeConfig {
                listen: vec![],
                domains: vec!["search".into()],
                ..NodeConfig::default()
            },
            HashMap::new(),
        ))
        .or_exit("node");
    // The first author is the node itself (its own results count as verified), the other 19
    // are strangers (unverified).
    let keys: Vec<SigningKey> = (0..20u8)
        .map(|i| SigningKey::from_bytes(&[if i == 0 { 7 } else { i + 100 }; 32]))
        .collect();
    let t = Instant::now();
    for i in 0..n {
        let key = &keys[i % keys.len()];
        let k = i / keys.len();
        let record = ResultRecord {
            v: RECORD_VERSION,
            id: format!("run-{k:06}"),
            domain: "search".into(),
            skill_hash: "ab".repeat(32),
            evaluator_hash: "cd".repeat(32),
            data_hash: "ef".repeat(32),
            domain_version: "1".into(),
            params: serde_json::json!({ "k1": 0.5 + (i % 97) as f64 / 50.0, "b": (i % 13) as f64 / 13.0 }),
            seed: i as u64,
            parent: (k > 0).then(|| format!("run-{:06}", k - 1)),
            metric: "ndcg@10".into(),
            direction: "higher".into(),
            val: Some(0.3 + ((i * 7919) % 1000) as f64 / 10_000.0),
            test: Some(0.3),
            status: "keep".into(),
            platform: "x86_64-linux".into(),
            author: peer_id_of(&key.verifying_key()),
            finished_ms: 1_764_000_000_000 + i as u64 * 1000,
        };
        rt.block_on(client.publish(SignedResult::sign(record, key)))
            .or_exit("publish");
    }
    println!(
        "board: {n} results from {} authors, loaded in {:.1} s",
        keys.len(),
        t.elapsed().as_secs_f64()
    );
    let dashboard =
        hyper_dashboard::Dashboard::new(client.clone(), vec!["search".into()], Default::default());
    let addr = rt
        .block_on(hyper_dashboard::serve(
            dashboard,
            "127.0.0.1:0".parse().or_exit("addr"),
        ))
        .or_exit("serve");
    let t = Instant::now();
    while !String::from_utf8_lossy(&{
        let mut s = TcpStream::connect(addr).or_exit("connect");
        write!(
            s,
            "GET /api/overview HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .or_exit("write the request");
        let mut b = Vec::new();
        s.read_to_end(&mut b).or_exit("read the answer");
        b
    })
    .contains(&format!("\"results\":{n}"))
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "first view of the board built in {:.2} s (in the background; pages wait for it once)",
        t.elapsed().as_secs_f64()
    );
    println!("| request | time | bytes |\n|---|---|---|");
    for path in [
        "/",
        "/api/overview",
        "/api/domain/search",
        "/api/domain/search/results?page=0&per=50",
        "/api/domain/search/results?page=1000&per=50",
        &format!(
            "/api/domain/search/result?key={}/run-004999",
            peer_id_of(&keys[3].verifying_key())
        ),
        "/api/peers",
        "/api/snapshot",
    ] {
        let runs: Vec<(Duration, usize)> = (0..5).map(|_| get(addr, path)).collect();
        let mut times: Vec<f64> = runs.iter().map(|r| r.0.as_secs_f64() * 1000.0).collect();
        times.sort_by(f64::total_cmp);
        println!(
            "| `{path}` | {:.1} ms (median of 5) | {} |",
            times[2], runs[0].1
        );
    }
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/dashboard/web");
    let out = std::process::Command::new("node")
        .current_dir(&web)
        .args(["load.mjs", &format!("http://{addr}/"), "search"])
        .output()
        .or_exit("node");
    println!(
        "page loads in headless Chromium: {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    if !out.status.success() {
        println!(
            "(load.mjs failed: {})",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    rt.block_on(client.shutdown());
}
