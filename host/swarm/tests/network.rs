//! Real libp2p nodes on loopback: results spread to every board, a late node catches up, a
//! restarted node keeps what it had, and hostile messages are dropped and counted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use hyper_swarm::attest::SignedAttestation;
use hyper_swarm::node::attestation_topic;
use hyper_swarm::node::{start, NodeClient, NodeConfig};
use hyper_swarm::record::SignedResult;

fn secret(n: u8) -> [u8; 32] {
    [n; 32]
}

fn record(n: u8, id: &str, val: f64) -> SignedResult {
    hyper_swarm::record::sample(&SigningKey::from_bytes(&secret(n)), id, val)
}

fn config(bootstrap: Vec<libp2p::Multiaddr>) -> NodeConfig {
    NodeConfig {
        bootstrap,
        anti_entropy: Duration::from_millis(500),
        ..NodeConfig::default()
    }
}

/// Node `n`'s `i`-th record `<prefix><i>`, scored `base + i / 100`.
async fn publish(node: &NodeClient, n: u8, prefix: &str, i: usize, base: f64) {
    node.publish(record(n, &format!("{prefix}{i}"), base + i as f64 / 100.0))
        .await
        .expect("publish");
}

async fn wait_for(nodes: &[&NodeClient], count: usize) {
    let start = Instant::now();
    loop {
        let mut done = true;
        for n in nodes {
            if n.board("search").await.expect("board").len() < count {
                done = false;
            }
        }
        if done {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "boards did not reach {count} results"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_converge_and_a_late_node_catches_up() {
    let a = start(secret(1), config(vec![]), HashMap::new())
        .await
        .expect("a");
    let addr = a.listen_addrs().await.expect("addrs")[0].clone();
    let b = start(secret(2), config(vec![addr.clone()]), HashMap::new())
        .await
        .expect("b");
    let c = start(secret(3), config(vec![addr.clone()]), HashMap::new())
        .await
        .expect("c");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..5 {
        publish(&a, 1, "a", i, 0.30).await;
        publish(&b, 2, "b", i, 0.31).await;
        publish(&c, 3, "c", i, 0.32).await;
    }
    wait_for(&[&a, &b, &c], 15).await;
    let (ba, bb, bc) = (
        a.board("search").await.expect("a"),
        b.board("search").await.expect("b"),
        c.board("search").await.expect("c"),
    );
    assert_eq!(ba, bb);
    assert_eq!(ba, bc);

    // A node started later catches up completely through board sync.
    let d = start(secret(4), config(vec![addr]), HashMap::new())
        .await
        .expect("d");
    wait_for(&[&d], 15).await;
    assert_eq!(d.board("search").await.expect("d"), ba);

    // A restarted node keeps what it had (its snapshot) and re-syncs what it missed.
    let snapshot = c
        .snapshot("search")
        .await
        .expect("snapshot")
        .expect("board");
    c.shutdown().await;
    a.publish(record(1, "after-restart", 0.5))
        .await
        .expect("publish");
    let mut boards = HashMap::new();
    boards.insert("search".to_string(), snapshot);
    let b_addr = b.listen_addrs().await.expect("addrs")[0].clone();
    let c2 = start(secret(3), config(vec![b_addr]), boards)
        .await
        .expect("c restarted");
    assert!(
        c2.board("search").await.expect("c2").len() >= 15,
        "restored from its snapshot"
    );
    wait_for(&[&c2, &a, &b, &d], 16).await;
    for n in [&a, &b, &d] {
        n.shutdown().await;
    }
    c2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_are_dropped_counted_and_never_reach_the_board() {
    let honest = start(secret(10), config(vec![]), HashMap::new())
        .await
        .expect("honest");
    let addr = honest.listen_addrs().await.expect("addrs")[0].clone();
    let evil = start(secret(11), config(vec![addr]), HashMap::new())
        .await
        .expect("evil");
    // Let gossipsub mesh.
    let start_t = Instant::now();
    while honest.peers().await.expect("peers").is_empty() {
        assert!(start_t.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let good = record(11, "good", 0.4);
    let mut tampered = record(11, "tampered", 0.4);
    tampered.record.val = Some(0.99);
    let mut future = record(11, "future", 0.4).record;
    future.v = 9;
    let future = SignedResult::sign(future, &SigningKey::from_bytes(&secret(11)));
    let mut impostor = record(12, "impostor", 0.4).record;
    impostor.author = honest.peer_id.to_base58();
    let impostor = SignedResult::sign(impostor, &SigningKey::from_bytes(&secret(12)));
    for bytes in [
        b"garbage".to_vec(),
        vec![b'x'; 20_000],
        tampered.encode(),
        future.encode(),
        impostor.encode(),
    ] {
        let _ = evil.publish_raw("search", bytes).await;
    }
    evil.publish(good.clone()).await.expect("good");
    // Replaying the good one changes nothing.
    let _ = evil.publish_raw("search", good.encode()).await;
    let start_t = Instant::now();
    loop {
        let board = honest.board("search").await.expect("board");
        if !board.is_empty() {
            assert_eq!(board, vec![good.clone()]);
            break;
        }
        assert!(
            start_t.elapsed() < Duration::from_secs(20),
            "the good record never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = honest.stats().await.expect("stats");
    let dropped: u64 = stats.dropped.values().sum();
    assert!(dropped >= 3, "{stats:?}");
    assert_eq!(
        honest.board("search").await.expect("board").len(),
        1,
        "{stats:?}"
    );
    // Attestations: garbage, oversized, tampered, about a result nobody has, on another
    // domain's topic, and one about the attester's own result are all dropped; a valid one
    // about the good record is kept.
    let attest = |subject: &SignedResult, by: u8| {
        let outcome = hyper_research::ReplayOutcome {
            verdict: hyper_research::Verdict::Disagree,
            reason: "the replay gives 0.1".into(),
            val: Some(0.1),
            test: Some(0.1),
            platform: "x86_64-linux".into(),
            duration_ms: 1,
        };
        SignedAttestation::sign(subject, &outcome, &SigningKey::from_bytes(&secret(by)), 1)
    };
    let mut forged = attest(&good, 13);
    forged.attestation.verdict = hyper_research::Verdict::Agree;
    let topic = attestation_topic("search").to_string();
    for bytes in [
        // Not the results phase's garbage: gossipsub would drop that copy as a duplicate.
        b"not an attestation".to_vec(),
        vec![b'x'; 20_000],
        forged.encode(),
        attest(&record(11, "nobody-has-it", 0.3), 13).encode(),
        attest(&good, 11).encode(),
    ] {
        let _ = evil.publish_raw_on(&topic, bytes).await;
    }
    let _ = evil
        .publish_raw_on(
            &attestation_topic("other").to_string(),
            attest(&good, 14).encode(),
        )
        .await;
    let valid = attest(&good, 13);
    let _ = evil.publish_raw_on(&topic, valid.encode()).await;
    let start_t = Instant::now();
    while honest.stats().await.expect("stats").attestations == 0 {
        assert!(
            start_t.elapsed() < Duration::from_secs(20),
            "the valid attestation never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = honest.stats().await.expect("stats");
    assert_eq!(after.attestations, 1, "{after:?}");
    assert!(
        after.dropped.values().sum::<u64>() >= dropped + 4,
        "{after:?}"
    );
    let snapshot = honest
        .snapshot("search")
        .await
        .expect("snapshot")
        .expect("board");
    let board = hyper_swarm::board::Board::from_snapshot("search", 0, &snapshot).expect("restore");
    assert_eq!(board.attestations(), vec![valid]);
    honest.shutdown().await;
    evil.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_to_the_union() {
    // Two islands that never met: {a, b} and {c, d}.
    let a = start(secret(21), config(vec![]), HashMap::new())
        .await
        .expect("a");
    let b = start(
        secret(22),
        config(vec![a.listen_addrs().await.expect("addrs")[0].clone()]),
        HashMap::new(),
    )
    .await
    .expect("b");
    let c = start(secret(23), config(vec![]), HashMap::new())
        .await
        .expect("c");
    let d = start(
        secret(24),
        config(vec![c.listen_addrs().await.expect("addrs")[0].clone()]),
        HashMap::new(),
    )
    .await
    .expect("d");
    for i in 0..4 {
        publish(&a, 21, "a", i, 0.2).await;
        publish(&b, 22, "b", i, 0.3).await;
        publish(&c, 23, "c", i, 0.4).await;
        publish(&d, 24, "d", i, 0.1).await;
    }
    wait_for(&[&a, &b, &c, &d], 8).await;
    assert_eq!(
        a.board("search").await.expect("a").len(),
        8,
        "islands stay separate"
    );
    assert_eq!(c.board("search").await.expect("c").len(), 8);
    // Heal: one link between the islands.
    b.dial(c.listen_addrs().await.expect("addrs")[0].clone())
        .await
        .expect("dial");
    wait_for(&[&a, &b, &c, &d], 16).await;
    let union = a.board("search").await.expect("a");
    for n in [&b, &c, &d] {
        assert_eq!(n.board("search").await.expect("board"), union);
    }
    // The whole board (these records were never replayed: they are unverified at `a`).
    let best = a
        .leaderboard("search", true)
        .await
        .expect("lb")
        .expect("board")
        .global_best
        .expect("best");
    assert_eq!(best.result.record.id, "c3");
    assert_eq!(best.status, hyper_swarm::trust::Status::Unverified);
    for n in [&a, &b, &c, &d] {
        n.shutdown().await;
    }
}
