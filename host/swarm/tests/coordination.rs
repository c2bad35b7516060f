//! Real libp2p nodes on loopback: QUIC, claims, hypotheses and skill sharing through
//! gossip and Kademlia.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use hyper_swarm::announce::{Body, SignedAnnouncement};
use hyper_swarm::node::{start, NodeClient, NodeConfig, SharedSkill};
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

fn secret(n: u8) -> [u8; 32] {
    [n; 32]
}

fn config(bootstrap: Vec<Multiaddr>) -> NodeConfig {
    NodeConfig {
        bootstrap,
        anti_entropy: Duration::from_millis(500),
        ..NodeConfig::default()
    }
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The node's address on the given transport (`tcp` or `quic`).
async fn addr(node: &NodeClient, quic: bool) -> Multiaddr {
    node.listen_addrs()
        .await
        .expect("addrs")
        .into_iter()
        .find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)) == quic)
        .expect("an address on that transport")
}

/// Node `x`, and node `y` bootstrapped from it, connected and meshed.
async fn meshed_pair(x: u8, y: u8) -> (NodeClient, NodeClient) {
    let a = start(secret(x), config(vec![]), HashMap::new())
        .await
        .expect("a");
    let b = start(
        secret(y),
        config(vec![addr(&a, false).await]),
        HashMap::new(),
    )
    .await
    .expect("b");
    meshed(&a, &b).await;
    (a, b)
}

async fn meshed(a: &NodeClient, b: &NodeClient) {
    until("peers connected", || async {
        !a.peers().await.expect("peers").is_empty() && !b.peers().await.expect("peers").is_empty()
    })
    .await;
    // Let gossipsub graft the mesh (heartbeat 200 ms).
    tokio::time::sleep(Duration::from_millis(1200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_talk_over_quic_alone() {
    let quic_only = NodeConfig {
        listen: vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().expect("multiaddr")],
        ..config(vec![])
    };
    let a = start(secret(31), quic_only.clone(), HashMap::new())
        .await
        .expect("a");
    let a_addr = addr(&a, true).await;
    let b = start(
        secret(32),
        NodeConfig {
            bootstrap: vec![a_addr],
            ..quic_only
        },
        HashMap::new(),
    )
    .await
    .expect("b");
    let signed = hyper_swarm::record::sample(&SigningKey::from_bytes(&secret(31)), "q1", 0.3);
    a.publish(signed.clone()).await.expect("publish");
    until("the record crossed QUIC", || async {
        b.board("search").await.expect("board") == vec![signed.clone()]
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_and_hypotheses_reach_other_nodes_and_lapse() {
    let (a, b) = meshed_pair(41, 42).await;

    let params = serde_json::json!({ "k1": 1.5, "b": 0.7 });
    a.claim("search", "ab", params.clone(), Duration::from_secs(2))
        .await
        .expect("claim");
    until("b sees a's claim", || async {
        b.claims("search").await.expect("claims").len() == 1
    })
    .await;
    let claims = b.claims("search").await.expect("claims");
    assert_eq!(claims[0].params, params);
    assert_eq!(claims[0].author, a.peer_id.to_base58());
    assert!(
        a.claims("search").await.expect("claims").is_empty(),
        "a node does not avoid its own claims"
    );
    // The claimer goes silent: the claim lapses after its TTL.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(b.claims("search").await.expect("claims").is_empty());

    // A claim ends as soon as its result arrives.
    let mut signed = hyper_swarm::record::sample(&SigningKey::from_bytes(&secret(41)), "r1", 0.3);
    signed.record.params = params.clone();
    let signed = hyper_swarm::record::SignedResult::sign(
        signed.record,
        &SigningKey::from_bytes(&secret(41)),
    );
    a.claim("search", "ab", params.clone(), Duration::from_secs(60))
        .await
        .expect("claim");
    until("b sees the new claim", || async {
        b.claims("search").await.expect("claims").len() == 1
    })
    .await;
    a.publish(signed).await.expect("publish");
    until("the result ends the claim", || async {
        b.claims("search").await.expect("claims").is_empty()
    })
    .await;

    // Hypotheses: open on both nodes.
    b.hypothesize(
        "search",
        "h1",
        serde_json::json!({ "stemmer": "s" }),
        Some("search-bm25@0.1.0".into()),
        "the S stemmer may suit short queries",
    )
    .await
    .expect("hypothesize");
    until("a sees b's hypothesis", || async {
        a.hypotheses("search").await.expect("hyp").len() == 1
    })
    .await;
    let h = &a.hypotheses("search").await.expect("hyp")[0];
    assert_eq!(h.key, format!("{}/h1", b.peer_id.to_base58()));
    assert_eq!(h.params, serde_json::json!({ "stemmer": "s" }));
    assert_eq!(b.hypotheses("search").await.expect("hyp").len(), 1);

    // A replayed (stale) claim and a forged one are dropped and counted.
    let key = SigningKey::from_bytes(&secret(42));
    let stale = SignedAnnouncement::sign_at(
        Body::Claim {
            domain: "search".into(),
            skill_hash: "ab".into(),
            params: serde_json::json!({}),
            ttl_ms: 60_000,
        },
        &key,
        hyper_swarm::announce::now_ms() - 3_600_000,
    );
    let mut forged = SignedAnnouncement::sign(
        Body::Claim {
            domain: "search".into(),
            skill_hash: "ab".into(),
            params: serde_json::json!({}),
            ttl_ms: 60_000,
        },
        &key,
    );
    forged.announcement.author = a.peer_id.to_base58();
    let before = a.stats().await.expect("stats");
    for bytes in [stale.encode(), forged.encode(), b"{}".to_vec()] {
        let _ = b.publish_raw_on("/hyper/coord/1/search", bytes).await;
    }
    until("all three dropped", || async {
        let now = a.stats().await.expect("stats");
        now.dropped.values().sum::<u64>() >= before.dropped.values().sum::<u64>() + 3
    })
    .await;
    let stats = a.stats().await.expect("stats");
    assert!(stats.dropped.contains_key("stale"), "{stats:?}");
    assert!(a.claims("search").await.expect("claims").is_empty());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_node_finds_a_skill_through_kademlia_and_fetches_it() {
    let (a, b) = meshed_pair(51, 52).await;
    let package: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    a.share_skill(SharedSkill {
        name: "search-bm25".into(),
        version: "0.2.0".into(),
        package_hash: "ab".repeat(32),
        component_sha256: "cd".repeat(32),
        bytes: Arc::new(package.clone()),
    })
    .await
    .expect("share");
    until("b heard the announcement", || async {
        b.stats().await.expect("stats").skill_announcements == 1
    })
    .await;
    // b learned of it by gossip.
    assert_eq!(
        b.fetch_skill("search-bm25", "0.2.0").await.expect("fetch"),
        package
    );
    // c joins later, connected only to b: it never saw the announcement and must find the
    // provider through Kademlia.
    let c = start(
        secret(53),
        config(vec![addr(&b, false).await]),
        HashMap::new(),
    )
    .await
    .expect("c");
    until("c connected", || async {
        !c.peers().await.expect("peers").is_empty()
    })
    .await;
    assert_eq!(c.stats().await.expect("stats").skill_announcements, 0);
    let fetched = c.fetch_skill("search-bm25", "0.2.0").await.expect("fetch");
    assert_eq!(fetched, package);
    assert_eq!(a.stats().await.expect("stats").skills_served, 2);
    // By its component's hash (what a replay asks for), through that provider record.
    let by_hash = c
        .fetch_component(&"cd".repeat(32))
        .await
        .expect("fetch by hash");
    assert_eq!(by_hash, package);
    assert_eq!(a.stats().await.expect("stats").skills_served, 3);
    let err = c
        .fetch_component(&"ee".repeat(32))
        .await
        .expect_err("unknown component");
    assert!(err.to_string().contains("no peer serves"), "{err}");
    // Nobody serves this one: a clear error, not a hang.
    let err = c
        .fetch_skill("search-bm25", "9.9.9")
        .await
        .expect_err("unknown version");
    assert!(err.to_string().contains("no peer serves"), "{err}");
    for n in [&a, &b, &c] {
        n.shutdown().await;
    }
}
