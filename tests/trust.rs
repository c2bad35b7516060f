//! Trust with real nodes on loopback: results are checked by replay before anyone climbs
//! from them; fabricated results are refuted; identities made for free cannot vouch for each
//! other; a verifier that lies loses its standing; honest newcomers get verified.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use hyper_journal::Record;
use hyper_research::{Solo, Verdict};
use hyper_swarm::peers::SwarmPeers;
use hyper_swarm::record::{from_journal, peer_id_of, SignedResult};
use hyper_swarm::trust::Status;
use hyper_tests::swarm_harness::*;
use hyper_tests::*;

fn status(rt: &tokio::runtime::Runtime, p: &Peer, key: &str) -> Status {
    rt.block_on(p.client.trust("search"))
        .expect("trust")
        .expect("search")
        .statuses
        .get(key)
        .copied()
        .unwrap_or(Status::Unverified)
}

fn attestation_of(
    rt: &tokio::runtime::Runtime,
    on: &Peer,
    by: &Peer,
    subject: &str,
) -> Option<Verdict> {
    rt.block_on(on.client.board("search")).expect("board");
    let report = rt.block_on(on.client.trust("search")).expect("trust")?;
    let _ = report;
    // The board's attestations, read through the leaderboard's source: the node's board.
    let board = rt
        .block_on(on.client.snapshot("search"))
        .expect("snapshot")?;
    let board = hyper_swarm::board::Board::from_snapshot("search", 0, &board).expect("board");
    board
        .attestations()
        .into_iter()
        .find(|a| a.attestation.attester == by.id() && a.attestation.subject == subject)
        .map(|a| a.attestation.verdict)
}

#[test]
fn a_fabricated_result_is_never_adopted_but_replayed_refuted_and_scored_down() {
    // The same seed alone: the best an unaffected loop reaches.
    let (_t, solo_home) = temp_home();
    let (solo, _) = research(&solo_home, options(5, 15, 5), &mut Solo, |_| {});
    let solo_best = solo.best.clone().expect("best");

    let rt = tokio_rt();
    let attacker = peer(&rt, 81, &[]);
    // The attacker ran one honest experiment, then added an edited row.
    let (_, rows) = research(&attacker.home, options(9, 1, 0), &mut Solo, |_| {});
    let fake = fabricate(&rows[0], "fabricated-0001", 0.4, 0.97);
    for r in [&rows[0], &fake] {
        rt.block_on(attacker.client.publish(from_journal(r, &attacker.key)))
            .expect("publish");
    }
    let fake_key = format!("{}/fabricated-0001", attacker.id());

    let honest = peer(&rt, 82, &[&attacker]);
    until("the honest node has the attacker's board", 30, || {
        rt.block_on(honest.client.count("search")).expect("count") == 2
    });
    let stop = spawn_verifier(&rt, &honest, 0.10);
    let (summary, rows) = research_on(&rt, &honest, options(5, 15, 5));
    // Research unaffected: never adopted, the same best as alone.
    assert_eq!(summary.adopted, 0, "{summary:?}");
    for r in &rows {
        assert_ne!(
            r.parent.as_deref(),
            Some(fake_key.as_str()),
            "climbed from the fake"
        );
    }
    let best = summary.best.clone().expect("best");
    assert_eq!(best.val, solo_best.val);
    assert_eq!(best.params, solo_best.params);
    // Replayed and refuted, and the refutation reached the attacker's own board.
    until("the honest node refutes the fabricated result", 60, || {
        status(&rt, &honest, &fake_key) == Status::Refuted
    });
    until("the refutation is gossiped", 30, || {
        attestation_of(&rt, &attacker, &honest, &fake_key) == Some(Verdict::Disagree)
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let report = rt
        .block_on(honest.client.trust("search"))
        .expect("trust")
        .expect("search");
    let rep = &report.reputations[&attacker.id()];
    assert!(rep.is_refuted() && rep.score() < 0, "{rep:?}");
    // Not on the verified board; on --all as refuted.
    let verified = rt
        .block_on(honest.client.leaderboard("search", false))
        .expect("board")
        .expect("search");
    assert!(verified
        .best_per_peer
        .iter()
        .all(|e| e.result.key() != fake_key && e.status == Status::Verified));
    let all = rt
        .block_on(honest.client.leaderboard("search", true))
        .expect("board")
        .expect("search");
    let listed = all
        .best_per_peer
        .iter()
        .find(|e| e.result.record.author == attacker.id())
        .expect("the attacker is listed with --all");
    assert_eq!(listed.status, Status::Refuted);
    // Scored down in gossipsub: the attacker is below the graylist threshold (-80).
    until("the attacker's gossipsub score drops", 30, || {
        rt.block_on(honest.client.peer_score(attacker.client.peer_id))
            .expect("score")
            .is_some_and(|s| s < -80.0)
    });
    rt.block_on(async {
        honest.client.shutdown().await;
        attacker.client.shutdown().await;
    });
}

#[test]
fn fifty_sybils_that_vouch_for_each_other_are_never_verified_or_adopted() {
    let rt = tokio_rt();
    let a = peer(&rt, 91, &[]);
    let c = peer(&rt, 92, &[&a]);
    let flood = peer(&rt, 93, &[&a, &c]);
    until("connected", 30, || {
        rt.block_on(a.client.peers()).expect("peers").len() == 2
    });
    std::thread::sleep(Duration::from_millis(800));
    // One honest experiment gives a plausible record to edit; 50 identities publish
    // fabricated bests and each attests `agree` on the next five.
    let (_t, scratch) = temp_home();
    let (_, rows) = research(&scratch, options(3, 1, 0), &mut Solo, |_| {});
    let (sybils, fakes) = sybil_flood(&rt, &flood, &rows[0], 50, 200, 5);
    until("the honest nodes have the flood", 30, || {
        [&a, &c]
            .iter()
            .all(|p| rt.block_on(p.client.count("search")).expect("count") >= 50)
    });
    let stops = [spawn_verifier(&rt, &a, 0.10), spawn_verifier(&rt, &c, 0.10)];
    let (ra, rc) = (rt.handle().clone(), rt.handle().clone());
    let (a_client, a_key, a_home, a_meter) = (
        a.client.clone(),
        a.key.clone(),
        a.home.clone(),
        a.meter.clone(),
    );
    let loop_a = std::thread::spawn(move || {
        let mut peers = SwarmPeers::new(a_client.clone(), ra.clone());
        research(&a_home, options(11, 12, 2), &mut peers, |record| {
            a_meter.add_research(record.duration_ms);
            ra.block_on(a_client.publish(from_journal(record, &a_key)))
                .expect("publish");
        })
    });
    let (summary_c, rows_c) = {
        let mut peers = SwarmPeers::new(c.client.clone(), rc.clone());
        research(&c.home, options(12, 12, 2), &mut peers, |record| {
            c.meter.add_research(record.duration_ms);
            rc.block_on(c.client.publish(from_journal(record, &c.key)))
                .expect("publish");
        })
    };
    let (summary_a, rows_a) = loop_a.join().expect("loop a");
    for s in &stops {
        s.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let sybil_ids: HashSet<String> = sybils
        .iter()
        .map(|k| peer_id_of(&k.verifying_key()))
        .collect();
    let adopted_from_sybils = adopted_from(rows_a.iter().chain(&rows_c), &sybil_ids);
    let mut on_verified_boards = 0;
    for p in [&a, &c] {
        on_verified_boards += on_verified_board(&rt, p, &sybil_ids);
        let report = rt
            .block_on(p.client.trust("search"))
            .expect("trust")
            .expect("search");
        for id in &sybil_ids {
            let rep = report.reputations.get(id).cloned().unwrap_or_default();
            assert_eq!(rep.verified, 0, "a sybil got verified work: {rep:?}");
            assert!(!rep.trusted_attester, "a sybil is a trusted attester");
        }
        for fake in &fakes {
            assert_ne!(report.statuses.get(&fake.key()), Some(&Status::Verified));
        }
    }
    println!(
        "50-identity flood: attacker results on the verified boards {on_verified_boards}, adopted by loops {adopted_from_sybils}; A adopted {} time(s), C {}",
        summary_a.adopted, summary_c.adopted
    );
    assert_eq!(on_verified_boards, 0);
    assert_eq!(adopted_from_sybils, 0);
    rt.block_on(async {
        for p in [&a, &c, &flood] {
            p.client.shutdown().await;
        }
    });
}

#[test]
fn a_lying_verifier_loses_its_standing_and_its_attestations_stop_counting() {
    let rt = tokio_rt();
    let judge = peer(&rt, 101, &[]);
    let liar = peer(&rt, 102, &[&judge]);
    let worker = peer(&rt, 103, &[&judge, &liar]);
    until("connected", 30, || {
        rt.block_on(judge.client.peers()).expect("peers").len() == 2
    });
    std::thread::sleep(Duration::from_millis(800));
    // The worker and the liar research honestly.
    let (_, worker_rows) = research_on(&rt, &worker, options(21, 3, 0));
    let (_, liar_rows) = research_on(&rt, &liar, options(22, 2, 0));
    until("the judge has every result", 30, || {
        rt.block_on(judge.client.count("search")).expect("count") == 5
    });
    // The liar earns its standing: it replays the worker's results honestly, the judge
    // replays the same ones and the liar's own.
    let mut liar_verifier = verifier(&rt, &liar, 1.0);
    let mut judge_verifier = verifier(&rt, &judge, 1.0);
    let board: HashMap<String, SignedResult> = rt
        .block_on(judge.client.board("search"))
        .expect("board")
        .into_iter()
        .map(|r| (r.key(), r))
        .collect();
    let key = |p: &Peer, r: &Record| format!("{}/{}", p.id(), r.id);
    for r in &worker_rows[..2] {
        assert_eq!(
            liar_verifier.check(&board[&key(&worker, r)]).verdict,
            Verdict::Agree
        );
        assert_eq!(
            judge_verifier.check(&board[&key(&worker, r)]).verdict,
            Verdict::Agree
        );
    }
    for r in &liar_rows {
        assert_eq!(
            judge_verifier.check(&board[&key(&liar, r)]).verdict,
            Verdict::Agree
        );
    }
    until("the liar is a trusted attester", 30, || {
        let report = rt
            .block_on(judge.client.trust("search"))
            .expect("t")
            .expect("s");
        report
            .reputations
            .get(&liar.id())
            .is_some_and(|r| r.trusted_attester)
    });
    // Its word now counts: its honest attestation on the worker's third result verifies it
    // at the judge without a replay there.
    let third = &board[&key(&worker, &worker_rows[2])];
    liar_verifier.check(third);
    until("the liar's word verifies a result", 30, || {
        status(&rt, &judge, &third.key()) == Status::Verified
    });
    // Then it lies: `agree` on a fabricated result of the worker's.
    let lie = |subject: &SignedResult| {
        rt.block_on(liar.client.attest(false_agreement(subject, &liar.key)))
            .expect("attest");
    };
    let fake1 = from_journal(
        &fabricate(&worker_rows[0], "fake-1", 0.3, 0.95),
        &worker.key,
    );
    rt.block_on(worker.client.publish(fake1.clone()))
        .expect("publish");
    until("the judge has the fake", 30, || {
        rt.block_on(judge.client.count("search")).expect("count") == 6
    });
    lie(&fake1);
    until("the lie counts while the liar is trusted", 30, || {
        status(&rt, &judge, &fake1.key()) == Status::Verified
    });
    // Verified on the liar's word alone and the best a loop would climb from: the judge's
    // verifier has it queued for a spot check.
    let queued = rt
        .block_on(judge.client.replay_candidates("search", 10))
        .expect("candidates");
    assert!(
        queued.iter().any(|r| r.key() == fake1.key()),
        "not queued for a spot check"
    );
    // The judge replays it: its own verdict stands, and the liar is caught.
    assert_eq!(judge_verifier.check(&fake1).verdict, Verdict::Disagree);
    until("the liar loses its standing", 30, || {
        let report = rt
            .block_on(judge.client.trust("search"))
            .expect("t")
            .expect("s");
        let rep = report
            .reputations
            .get(&liar.id())
            .cloned()
            .unwrap_or_default();
        rep.false_attestations == 1 && !rep.trusted_attester && rep.standing() == "refuted"
    });
    assert_eq!(status(&rt, &judge, &fake1.key()), Status::Refuted);
    // Its attestations stop counting: a second lie verifies nothing.
    let fake2 = from_journal(
        &fabricate(&worker_rows[1], "fake-2", 0.35, 0.96),
        &worker.key,
    );
    rt.block_on(worker.client.publish(fake2.clone()))
        .expect("publish");
    until("the judge has the second fake", 30, || {
        rt.block_on(judge.client.count("search")).expect("count") == 7
    });
    lie(&fake2);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(status(&rt, &judge, &fake2.key()), Status::Unverified);
    rt.block_on(async {
        for p in [&judge, &liar, &worker] {
            p.client.shutdown().await;
        }
    });
}

#[test]
fn an_honest_new_peers_results_become_verified_within_a_bounded_time() {
    let rt = tokio_rt();
    let old = peer(&rt, 111, &[]);
    let newcomer = peer(&rt, 112, &[&old]);
    until("connected", 30, || {
        !rt.block_on(old.client.peers()).expect("peers").is_empty()
    });
    std::thread::sleep(Duration::from_millis(800));
    let stop = spawn_verifier(&rt, &old, 0.10);
    let old_home = old.home.clone();
    let (h, oc, ok, om) = (
        rt.handle().clone(),
        old.client.clone(),
        old.key.clone(),
        old.meter.clone(),
    );
    let old_loop = std::thread::spawn(move || {
        let mut peers = SwarmPeers::new(oc.clone(), h.clone());
        research(&old_home, options(31, 20, 0), &mut peers, |record| {
            om.add_research(record.duration_ms);
            h.block_on(oc.publish(from_journal(record, &ok)))
                .expect("publish");
        })
    });
    let (summary, _) = research_on(&rt, &newcomer, options(32, 8, 0));
    let best = summary.best.expect("best");
    let best_key = format!("{}/{}", newcomer.id(), best.id);
    let published = Instant::now();
    until("the newcomer's best is verified", 90, || {
        status(&rt, &old, &best_key) == Status::Verified
    });
    println!(
        "a newcomer's best verified {:.1} s after it finished",
        published.elapsed().as_secs_f64()
    );
    old_loop.join().expect("old loop");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let report = rt
        .block_on(old.client.trust("search"))
        .expect("t")
        .expect("s");
    let rep = &report.reputations[&newcomer.id()];
    assert!(rep.verified >= 1 && !rep.is_refuted(), "{rep:?}");
    let figures = old.meter.figures();
    println!("the old node's verifier: {figures:?}");
    assert!(figures.replays >= 1);
    rt.block_on(async {
        old.client.shutdown().await;
        newcomer.client.shutdown().await;
    });
}
