//! Research loops on the real search domain connected to real libp2p nodes on loopback
//! (through `hyper_swarm::peers::SwarmPeers`): parameters another node claimed are skipped,
//! hypotheses are tried, and a loop adopts the swarm's best result as its starting point once
//! its node has verified it by replay.

use std::collections::HashMap;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use hyper_research::Solo;
use hyper_swarm::node::{start, NodeClient, NodeConfig};
use hyper_swarm::peers::SwarmPeers;
use hyper_tests::swarm_harness::{options, research, tokio_rt, until};
use hyper_tests::*;

fn node(rt: &tokio::runtime::Runtime, n: u8, bootstrap: Option<&NodeClient>) -> NodeClient {
    rt.block_on(async {
        let bootstrap = match bootstrap {
            Some(b) => vec![b.listen_addrs().await.expect("addrs")[0].clone()],
            None => vec![],
        };
        start(
            [n; 32],
            NodeConfig {
                bootstrap,
                anti_entropy: Duration::from_millis(500),
                ..NodeConfig::default()
            },
            HashMap::new(),
        )
        .await
        .expect("node")
    })
}

#[test]
fn parameters_claimed_by_another_node_are_skipped() {
    // What seed 7 proposes when alone.
    let (_t, solo_home) = temp_home();
    let (_, solo) = research(&solo_home, options(7, 3, 0), &mut Solo, |_| {});
    let (p1, p2) = (solo[1].params.clone(), solo[2].params.clone());

    let rt = tokio_rt();
    let a = node(&rt, 61, None);
    let b = node(&rt, 62, Some(&a));
    until("connected", 30, || {
        !rt.block_on(b.peers()).expect("peers").is_empty()
    });
    std::thread::sleep(Duration::from_millis(1200));
    // A claims a near-duplicate of p1 (k1 nudged by 0.001) and p2 exactly.
    let mut near_p1 = p1.clone();
    let k1 = near_p1["k1"].as_f64().expect("k1");
    near_p1["k1"] = serde_json::json!(if k1 > 1.0 { k1 - 0.001 } else { k1 + 0.001 });
    let skill_hash = solo[0].skill_hash.clone();
    for claim in [&near_p1, &p2] {
        rt.block_on(a.claim(
            "search",
            &skill_hash,
            claim.clone(),
            Duration::from_secs(120),
        ))
        .expect("claim");
    }
    until("B sees both claims", 30, || {
        rt.block_on(b.claims("search")).expect("claims").len() == 2
    });

    let (_t2, home) = temp_home();
    let mut peers = SwarmPeers::new(b.clone(), rt.handle().clone());
    let (summary, rows) = research(&home, options(7, 3, 0), &mut peers, |_| {});
    assert!(summary.skipped_claimed >= 1, "{summary:?}");
    assert_eq!(rows[0].params, solo[0].params, "the baseline always runs");
    for r in &rows {
        assert_ne!(r.params, p1, "ran a near-duplicate of a claim");
        assert_ne!(r.params, p2, "ran a claimed parameter set");
    }
    // B's own claims reached A while it ran.
    until("A sees B's claims", 30, || {
        rt.block_on(a.claims("search")).expect("claims").len() >= 2
    });
    rt.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn a_loop_tries_hypotheses_and_adopts_the_swarms_best() {
    let rt = tokio_rt();
    let key_a = SigningKey::from_bytes(&[71; 32]);
    let a = node(&rt, 71, None);
    let b = node(&rt, 72, Some(&a));
    until("connected", 30, || {
        !rt.block_on(b.peers()).expect("peers").is_empty()
    });
    // A researches and shares every result.
    let (_ta, home_a) = temp_home();
    let mut peers_a = SwarmPeers::new(a.clone(), rt.handle().clone());
    let (summary_a, _) = research(&home_a, options(1, 10, 0), &mut peers_a, |record| {
        rt.block_on(a.publish(hyper_swarm::record::from_journal(record, &key_a)))
            .expect("publish");
    });
    let a_best = summary_a.best.clone().expect("best");
    let a_baseline = summary_a.baseline.clone().expect("baseline");
    assert!(
        a_best.val > a_baseline.val,
        "A must have improved on its baseline for this test: {summary_a:?}"
    );
    let a_key = format!("{}/{}", a.peer_id.to_base58(), a_best.id);
    rt.block_on(a.hypothesize(
        "search",
        "s-stemmer",
        serde_json::json!({ "stemmer": "s" }),
        None,
        "the S stemmer on top of the best",
    ))
    .expect("hypothesize");
    until("B has A's board and hypothesis", 30, || {
        rt.block_on(b.count("search")).expect("count") == 10
            && rt.block_on(b.hypotheses("search")).expect("hyp").len() == 1
    });

    // A's best is not B's to climb from until B has checked it.
    let (_tb, home_b) = temp_home();
    search_domain(&home_b);
    let (skill_hash, evaluator_hash) = (a_best.skill_hash.clone(), a_best.evaluator_hash.clone());
    let best_for = || {
        rt.block_on(b.best_for("search", &skill_hash, &evaluator_hash))
            .expect("best")
    };
    assert_eq!(best_for(), None, "an unverified result is never adopted");
    let mut verifier = hyper_swarm::verifier::Verifier::new(
        b.clone(),
        rt.handle().clone(),
        hyper_swarm::verifier::VerifierSetup {
            home: home_b.clone(),
            runtime: runtime(),
            key: SigningKey::from_bytes(&[72; 32]),
            meter: std::sync::Arc::new(hyper_swarm::verifier::ComputeMeter::default()),
            share: 1.0,
            domains: vec!["search".into()],
        },
    );
    let theirs = rt
        .block_on(b.result("search", &a_key))
        .expect("result")
        .expect("A's best on B's board");
    assert_eq!(
        verifier.check(&theirs).verdict,
        hyper_research::Verdict::Agree
    );
    assert_eq!(best_for().map(|r| r.key()), Some(a_key.clone()));

    // B: baseline, then (adopting every experiment) climbs from A's best with the hypothesis.
    let mut peers_b = SwarmPeers::new(b.clone(), rt.handle().clone());
    let (summary_b, rows) = research(&home_b, options(3, 3, 1), &mut peers_b, |_| {});
    assert!(summary_b.adopted >= 1, "{summary_b:?}");
    assert_eq!(summary_b.from_hypotheses, 1, "{summary_b:?}");
    assert_eq!(rows[1].parent.as_deref(), Some(a_key.as_str()));
    let mut expected = a_best.params.clone();
    expected["stemmer"] = serde_json::json!("s");
    assert_eq!(rows[1].params, expected);
    // The baseline is the same on both platforms: the evaluator, not the node, scores.
    assert_eq!(rows[0].val, a_baseline.val);
    rt.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// Shared observations: B's model learns from every result of A, whom B trusts (`hyper
/// trust`), but from none of C's — a new identity with nothing verified, whose fabricated
/// results are on the same board.
#[test]
fn a_loop_learns_from_the_results_of_trusted_and_verified_authors_only() {
    let rt = tokio_rt();
    let (key_a, key_c) = (
        SigningKey::from_bytes(&[81; 32]),
        SigningKey::from_bytes(&[83; 32]),
    );
    let a = node(&rt, 81, None);
    let id_a = hyper_swarm::record::peer_id_of(&key_a.verifying_key());
    let b = rt.block_on(async {
        start(
            [82; 32],
            NodeConfig {
                bootstrap: vec![a.listen_addrs().await.expect("addrs")[0].clone()],
                anti_entropy: Duration::from_millis(500),
                trusted: [id_a].into_iter().collect(),
                ..NodeConfig::default()
            },
            HashMap::new(),
        )
        .await
        .expect("node")
    });
    until("connected", 30, || {
        !rt.block_on(b.peers()).expect("peers").is_empty()
    });
    // A researches 6 experiments and shares them; C publishes 5 edits of A's rows.
    let (_ta, home_a) = temp_home();
    let mut a_rows = Vec::new();
    research(&home_a, options(1, 6, 0), &mut Solo, |record| {
        rt.block_on(a.publish(hyper_swarm::record::from_journal(record, &key_a)))
            .expect("publish");
        a_rows.push(record.clone());
    });
    for (i, row) in a_rows.iter().take(5).enumerate() {
        let fake = hyper_tests::swarm_harness::fabricate(
            row,
            &format!("c-{i}"),
            2.0 + i as f64 * 0.1,
            0.9,
        );
        rt.block_on(a.publish(hyper_swarm::record::from_journal(&fake, &key_c)))
            .expect("publish");
    }
    until("B has both authors' results", 30, || {
        rt.block_on(b.count("search")).expect("count") == 11
    });
    let (_tb, home_b) = temp_home();
    let mut peers_b = SwarmPeers::new(b.clone(), rt.handle().clone());
    // The node's default proposer.
    let gp = hyper_research::LoopOptions {
        proposer: hyper_research::ProposerKind::Gp,
        ..options(2, 4, 0)
    };
    let (summary, _) = research(&home_b, gp, &mut peers_b, |_| {});
    assert_eq!(
        summary.shared_observations, 6,
        "A's six, none of C's: {summary:?}"
    );
    // B's diversity signal was measured on A's results and its own, and B shows it.
    let diversity = summary.diversity.clone().expect("measured");
    assert!(diversity.results >= 6 + 3, "{diversity:?}");
    assert!((0.0..=1.0).contains(&diversity.coverage), "{diversity:?}");
    let shown = peers_b
        .diversity
        .lock()
        .expect("lock")
        .get("search")
        .cloned();
    assert_eq!(shown, Some(diversity));
    rt.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });
}

/// A node's PeerId for the key `[n; 32]`.
fn id_of(n: u8) -> String {
    hyper_swarm::record::peer_id_of(&SigningKey::from_bytes(&[n; 32]).verifying_key())
}

#[test]
fn a_loop_shares_the_baseline_of_nodes_it_may_learn_from_and_no_strangers() {
    let rt = tokio_rt();
    // B, the loop under test, has the highest PeerId of these keys: A (trusted) and C (a
    // new identity) both "go first" when they claim the defaults.
    let mut keys: Vec<u8> = (90..100).collect();
    keys.sort_by_key(|&n| id_of(n));
    let (n_a, n_c, n_b) = (keys[0], keys[1], keys[9]);
    let (key_a, key_c) = (
        SigningKey::from_bytes(&[n_a; 32]),
        SigningKey::from_bytes(&[n_c; 32]),
    );
    let a = node(&rt, n_a, None);
    let c = node(&rt, n_c, Some(&a));
    let b = rt.block_on(async {
        start(
            [n_b; 32],
            NodeConfig {
                bootstrap: vec![a.listen_addrs().await.expect("addrs")[0].clone()],
                anti_entropy: Duration::from_millis(500),
                trusted: [id_of(n_a)].into_iter().collect(),
                ..NodeConfig::default()
            },
            HashMap::new(),
        )
        .await
        .expect("node")
    });
    until("connected", 30, || {
        rt.block_on(b.peers()).expect("peers").len() >= 2
    });
    // Gossip needs a mesh (claims travel only by gossip).
    std::thread::sleep(Duration::from_millis(1500));
    let shared = |seed, experiments, noise_runs| hyper_research::LoopOptions {
        proposer: hyper_research::ProposerKind::Gp,
        share_baseline: true,
        noise_runs,
        ..options(seed, experiments, 0)
    };
    // A's results, not published yet: the baseline (the defaults), its two repeats with
    // other seeds, two proposals.
    let (_ta, home_a) = temp_home();
    let a_options = hyper_research::LoopOptions {
        noise_runs: 2,
        ..options(1, 5, 0)
    };
    let (_, a_rows) = research(&home_a, a_options, &mut Solo, |_| {});
    let a_base = a_rows[0].clone();
    assert_eq!(a_base.status, hyper_journal::Status::Baseline);
    assert_eq!(a_rows[2].status, hyper_journal::Status::Noise);
    let defaults = a_base.params.clone();

    let claim_defaults = |by: &NodeClient| {
        let ttl = Duration::from_secs(300);
        let claim = by.claim("search", &a_base.skill_hash, defaults.clone(), ttl);
        rt.block_on(claim).expect("claim");
    };
    // 1. A stranger publishes a result of the defaults with a made-up score, then claims
    //    them (a node's result of what it claimed ends the claim): B runs its own baseline
    //    and scores the defaults itself.
    let mut fake = a_base.clone();
    fake.id = "c-base".into();
    fake.val = Some(0.99);
    rt.block_on(c.publish(hyper_swarm::record::from_journal(&fake, &key_c)))
        .expect("publish");
    until("B has C's result", 30, || {
        rt.block_on(b.count("search")).expect("count") == 1
    });
    claim_defaults(&c);
    until("B has C's claim", 30, || {
        !rt.block_on(b.claims("search")).expect("claims").is_empty()
    });
    let (_t1, home_1) = temp_home();
    let mut peers_b = SwarmPeers::new(b.clone(), rt.handle().clone());
    let (s1, rows_1) = research(&home_1, shared(2, 2, 0), &mut peers_b, |_| {});
    assert_eq!(s1.baseline_from, None, "{s1:?}");
    assert_eq!(rows_1[0].status, hyper_journal::Status::Baseline);
    assert_eq!(rows_1[0].params, defaults);
    assert_eq!(
        rows_1[0].val, a_base.val,
        "the real score of the defaults, not C's"
    );

    // 2. Trusted A claims the defaults and never reports: B leaves them to A, proposes,
    //    waits for A's result once (bounded) and goes on. Its noise runs wait as long as A's
    //    baseline and repeats take (3 experiments); none came, so B then repeats the
    //    defaults itself as often as it would have alone (3 values of them).
    claim_defaults(&a);
    until("B has A's claim", 30, || {
        rt.block_on(b.claims("search"))
            .expect("claims")
            .iter()
            .any(|c| c.author == id_of(n_a))
    });
    let (_t2, home_2) = temp_home();
    let (s2, rows_2) = research(&home_2, shared(3, 6, 2), &mut peers_b, |_| {});
    assert_eq!(s2.experiments, 6, "{s2:?}");
    assert_eq!(
        (s2.baseline.as_ref(), s2.baseline_from.as_ref()),
        (None, None)
    );
    assert!(
        rows_2[..3].iter().all(|r| r.params != defaults),
        "{rows_2:?}"
    );
    assert!(
        rows_2[3..]
            .iter()
            .all(|r| r.params == defaults && r.status == hyper_journal::Status::Noise),
        "{rows_2:?}"
    );
    assert_eq!(
        (s2.noise, s2.noise_shared, s2.noise_floor),
        (3, 0, Some(0.0))
    );

    // 3. A publishes its results, the baseline and its repeats among them: B takes the
    //    baseline as its reference, runs no baseline and judges its proposals against A's
    //    score; its noise floor is measured on A's three values of the defaults (not on C's
    //    made-up one), so it repeats nothing itself.
    for row in &a_rows {
        rt.block_on(a.publish(hyper_swarm::record::from_journal(row, &key_a)))
            .expect("publish");
    }
    until("B has A's results", 30, || {
        rt.block_on(b.count("search")).expect("count") == 1 + 5
    });
    let (_t3, home_3) = temp_home();
    let (s3, rows_3) = research(&home_3, shared(4, 2, 2), &mut peers_b, |_| {});
    let a_key = format!("{}/{}", id_of(n_a), a_base.id);
    assert_eq!(s3.baseline_from.as_deref(), Some(a_key.as_str()), "{s3:?}");
    assert_eq!((s3.experiments, s3.baseline.as_ref()), (2, None));
    assert_eq!(
        (s3.noise, s3.noise_shared, s3.noise_floor),
        (0, 3, Some(0.0))
    );
    assert!(rows_3.iter().all(|r| r.params != defaults), "{rows_3:?}");
    let first = &rows_3[0];
    assert_ne!(first.params, defaults);
    assert_eq!(first.parent.as_deref(), Some(a_key.as_str()));
    let beat = first.val.expect("scored") > a_base.val.expect("scored");
    assert_eq!(
        first.status == hyper_journal::Status::Keep,
        beat,
        "{first:?}"
    );

    // 4. A floods "repeats" of the defaults (40 more, 0 and 1 in turn): B measures its floor
    //    on at most MAX_BASELINE_REPEATS values of others and repeats nothing itself. (A node
    //    B trusts can still widen B's floor this way: trust is what lets it.)
    for i in 0..40 {
        let mut repeat = a_base.clone();
        repeat.id = format!("a-flood-{i}");
        repeat.status = hyper_journal::Status::Noise;
        repeat.val = Some(if i % 2 == 0 { 0.0 } else { 1.0 });
        rt.block_on(a.publish(hyper_swarm::record::from_journal(&repeat, &key_a)))
            .expect("publish");
    }
    until("B has A's flood", 30, || {
        rt.block_on(b.count("search")).expect("count") == 1 + 5 + 40
    });
    let (_t4, home_4) = temp_home();
    let (s4, _) = research(&home_4, shared(5, 1, 2), &mut peers_b, |_| {});
    assert_eq!(
        (s4.noise, s4.noise_shared),
        (0, hyper_research::MAX_BASELINE_REPEATS as u32),
        "{s4:?}"
    );
    assert!(s4.noise_floor.is_some_and(f64::is_finite), "{s4:?}");
    rt.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
        c.shutdown().await;
    });
}
