//! Signed records and Loro boards without the network: verification, convergence in any
//! order, version-vector sync, and hostile updates refused.

use ed25519_dalek::SigningKey;
use hyper_swarm::board::Board;
use hyper_swarm::record::{RecordError, SignedResult};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn record(key: &SigningKey, id: &str, val: f64) -> SignedResult {
    hyper_swarm::record::sample(key, id, val)
}

#[test]
fn records_verify_and_tampering_is_caught() {
    let k = key(1);
    let r = record(&k, "e1", 0.4);
    assert_eq!(SignedResult::decode(&r.encode()).expect("valid"), r);
    let mut tampered = r.clone();
    tampered.record.val = Some(0.99);
    assert_eq!(tampered.verify(), Err(RecordError::BadSignature));
    let mut impostor = record(&key(2), "e1", 0.4);
    impostor.record.author = r.record.author.clone();
    let impostor = SignedResult::sign(impostor.record, &key(2));
    assert!(matches!(
        impostor.verify(),
        Err(RecordError::WrongAuthor { .. })
    ));
    let mut future = r.record.clone();
    future.v = hyper_swarm::record::RECORD_VERSION + 1;
    assert_eq!(
        SignedResult::sign(future, &k).verify(),
        Err(RecordError::UnknownVersion(
            hyper_swarm::record::RECORD_VERSION + 1
        ))
    );
    assert!(matches!(
        SignedResult::decode(&vec![b' '; 20_000]),
        Err(RecordError::TooLarge(_))
    ));
    assert!(matches!(
        SignedResult::decode(b"{\"record\": 1}"),
        Err(RecordError::Malformed(_))
    ));
}

#[test]
fn boards_converge_in_any_order_and_sync_by_version_vector() {
    let (a, b, c) = (
        Board::new("search", 1),
        Board::new("search", 2),
        Board::new("search", 3),
    );
    let (ka, kb) = (key(1), key(2));
    for i in 0..20 {
        a.insert(&record(&ka, &format!("a{i}"), 0.3 + i as f64 / 100.0))
            .expect("insert a");
        b.insert(&record(&kb, &format!("b{i}"), 0.35 + i as f64 / 200.0))
            .expect("insert b");
    }
    // c learns b first, then a; a learns b; b learns a: every path ends at the same board.
    c.import_checked(&b.updates_since(&c.version()).expect("updates"))
        .expect("c <- b");
    c.import_checked(&a.updates_since(&c.version()).expect("updates"))
        .expect("c <- a");
    a.import_checked(&b.updates_since(&a.version()).expect("updates"))
        .expect("a <- b");
    b.import_checked(&a.updates_since(&b.version()).expect("updates"))
        .expect("b <- a");
    for board in [&a, &b, &c] {
        assert_eq!(board.len(), 40);
    }
    assert_eq!(a.results(), b.results());
    assert_eq!(a.results(), c.results());
    let best = a.global_best().expect("best");
    assert_eq!(best.record.id, "a19");
    assert_eq!(c.global_best(), Some(best));
    assert_eq!(a.best_per_peer().len(), 2);
    // Nothing new to send once in sync.
    let empty = a.updates_since(&b.version()).expect("updates");
    assert!(empty.is_empty());
    assert_eq!(b.import_checked(&empty).expect("no-op"), 0);
    // A restored snapshot is the same board.
    let restored =
        Board::from_snapshot("search", 9, &a.snapshot().expect("snapshot")).expect("restore");
    assert_eq!(restored.results(), a.results());
}

#[test]
fn hostile_updates_never_reach_the_board() {
    let honest = Board::new("search", 1);
    honest.insert(&record(&key(1), "e1", 0.4)).expect("insert");
    // A peer that writes an unsigned entry straight into its Loro document.
    let evil = loro::LoroDoc::new();
    let _ = evil.set_peer_id(66);
    evil.get_map("results")
        .insert("someone/e9", "{\"forged\": true}")
        .expect("insert");
    evil.commit();
    let bytes = evil.export(loro::ExportMode::Snapshot).expect("export");
    assert!(honest.import_checked(&bytes).is_err());
    // A validly signed record filed under another key.
    let evil2 = loro::LoroDoc::new();
    let _ = evil2.set_peer_id(67);
    let r = record(&key(3), "e2", 0.9);
    evil2
        .get_map("results")
        .insert("victim/e2", String::from_utf8(r.encode()).expect("utf-8"))
        .expect("insert");
    evil2.commit();
    assert!(honest
        .import_checked(&evil2.export(loro::ExportMode::Snapshot).expect("export"))
        .is_err());
    // Garbage.
    assert!(honest.import_checked(b"not loro at all").is_err());
    assert_eq!(honest.len(), 1);
    assert_eq!(honest.results().len(), 1);
    // A peer that synced the board, then deletes or rewrites an entry.
    let copy = |peer: u64| {
        let doc = loro::LoroDoc::new();
        let _ = doc.set_peer_id(peer);
        // An empty version vector gets the whole document.
        doc.import(
            &honest
                .updates_since(&loro::LoroDoc::new().oplog_vv().encode())
                .expect("updates"),
        )
        .expect("import");
        doc
    };
    let key_e1 = record(&key(1), "e1", 0.4).key();
    let deleter = copy(68);
    deleter.get_map("results").delete(&key_e1).expect("delete");
    deleter.commit();
    let err = honest
        .import_checked(&deleter.export(loro::ExportMode::Snapshot).expect("export"))
        .expect_err("deletion");
    assert!(err.to_string().contains("deletes"), "{err}");
    let rewriter = copy(69);
    let rewritten = record(&key(1), "e1", 0.99);
    rewriter
        .get_map("results")
        .insert(
            &key_e1,
            String::from_utf8(rewritten.encode()).expect("utf-8"),
        )
        .expect("insert");
    rewriter.commit();
    let err = honest
        .import_checked(&rewriter.export(loro::ExportMode::Snapshot).expect("export"))
        .expect_err("rewrite");
    assert!(err.to_string().contains("rewrites"), "{err}");
    // Anything outside the results map, on a board with entries and on an empty one.
    let junk = copy(70);
    junk.get_text("junk").insert(0, "x").expect("text");
    junk.commit();
    let bytes = junk.export(loro::ExportMode::Snapshot).expect("export");
    assert!(honest.import_checked(&bytes).is_err());
    assert!(Board::new("search", 5).import_checked(&bytes).is_err());
    // One forged entry among many valid ones refuses the whole update (batch verification
    // still names it).
    let many = loro::LoroDoc::new();
    let _ = many.set_peer_id(71);
    for i in 0..600 {
        let mut r = record(&key(4), &format!("m{i}"), 0.1);
        if i == 377 {
            r.record.val = Some(0.95);
        }
        many.get_map("results")
            .insert(&r.key(), String::from_utf8(r.encode()).expect("utf-8"))
            .expect("insert");
    }
    many.commit();
    let bytes = many.export(loro::ExportMode::Snapshot).expect("export");
    let fresh = Board::new("search", 6);
    let err = fresh.import_checked(&bytes).expect_err("forged entry");
    assert!(err.to_string().contains("signature"), "{err}");
    assert!(fresh.is_empty());
    assert!(honest.import_checked(&bytes).is_err());
    assert_eq!(honest.len(), 1);
    // Records of another domain are refused at insert.
    let mut other = record(&key(1), "e3", 0.5).record;
    other.domain = "ml".into();
    assert!(honest.insert(&SignedResult::sign(other, &key(1))).is_err());
}

/// A record that arrives by gossip is served at once, but the document holds only its
/// author's operation once that syncs in; if it never does, the node writes it itself.
#[test]
fn gossiped_records_wait_for_their_authors_operation() {
    let author = Board::new("search", 1);
    let relay = Board::new("search", 2);
    let r = record(&key(1), "g1", 0.5);
    assert!(author.insert(&r).expect("insert"));
    assert!(relay.accept_remote(&r).expect("gossip"));
    assert!(
        !relay.accept_remote(&r).expect("replay"),
        "a replay adds nothing"
    );
    assert_eq!(relay.results(), vec![r.clone()]);
    assert_eq!(relay.pending(), 1);
    // The author's operation arrives: no longer pending, nothing new counted.
    let added = relay
        .import_checked(&author.updates_since(&relay.version()).expect("updates"))
        .expect("import");
    assert_eq!(added, 0);
    assert_eq!(relay.pending(), 0);
    // Version vectors now agree: the next round carries nothing.
    assert!(author
        .updates_since(&relay.version())
        .expect("updates")
        .is_empty());

    // A pending record survives a save and restore (it is verified again on the way in).
    let waiting = record(&key(4), "w1", 0.7);
    assert!(relay.accept_remote(&waiting).expect("gossip"));
    let restored =
        Board::from_snapshot("search", 8, &relay.snapshot().expect("snapshot")).expect("restore");
    assert_eq!(restored.results(), relay.results());
    assert_eq!(restored.pending(), 1);
    let mut forged = relay.snapshot().expect("snapshot");
    let at = forged.len() - 10;
    forged[at] ^= 1;
    assert!(Board::from_snapshot("search", 8, &forged).is_err());
    // An author that went silent: the record is settled by the relay and survives a snapshot.
    let silent = record(&key(3), "s1", 0.6);
    assert!(relay.accept_remote(&silent).expect("gossip"));
    assert_eq!(
        relay
            .settle(std::time::Duration::from_secs(3600))
            .expect("settle"),
        0
    );
    assert_eq!(relay.settle(std::time::Duration::ZERO).expect("settle"), 2);
    let restored =
        Board::from_snapshot("search", 9, &relay.snapshot().expect("snapshot")).expect("restore");
    assert_eq!(restored.results(), relay.results());
    assert_eq!(restored.len(), 3);
    assert_eq!(restored.pending(), 0);
}

fn outcome(verdict: hyper_research::Verdict, val: Option<f64>) -> hyper_research::ReplayOutcome {
    hyper_research::ReplayOutcome {
        verdict,
        reason: "replayed".into(),
        val,
        test: val,
        platform: "x86_64-linux cpus=2".into(),
        duration_ms: 5,
    }
}

#[test]
fn attestations_sync_beside_results_and_hostile_ones_are_refused() {
    use hyper_research::Verdict;
    use hyper_swarm::attest::SignedAttestation;
    let (author, checker) = (key(31), key(32));
    let result = record(&author, "r1", 0.4);
    let a = SignedAttestation::sign(&result, &outcome(Verdict::Agree, Some(0.4)), &checker, 7);
    assert_eq!(SignedAttestation::decode(&a.encode()).expect("valid"), a);
    // Tampering, and attesting one's own result, are refused.
    let mut tampered = a.clone();
    tampered.attestation.verdict = Verdict::Disagree;
    assert_eq!(tampered.verify(), Err(RecordError::BadSignature));
    let own = SignedAttestation::sign(&result, &outcome(Verdict::Agree, Some(0.4)), &author, 7);
    assert!(matches!(own.verify(), Err(RecordError::Malformed(_))));
    assert!(matches!(
        SignedAttestation::decode(&vec![b' '; 5000]),
        Err(RecordError::TooLarge(_))
    ));
    // One node holds the result and the attestation; another syncs both.
    let first = Board::new("search", 1);
    assert!(first.insert(&result).expect("result"));
    assert!(first.insert_attestation(&a).expect("attestation"));
    let second = Board::new("search", 2);
    second
        .import_checked(&first.updates_since(&second.version()).expect("updates"))
        .expect("import");
    assert_eq!(second.attestations(), vec![a.clone()]);
    assert_eq!(second.results(), vec![result.clone()]);
    // An attestation about a result the board lacks is not kept, by gossip or by sync.
    let unknown = record(&author, "r2", 0.5);
    let orphan =
        SignedAttestation::sign(&unknown, &outcome(Verdict::Agree, Some(0.5)), &checker, 8);
    assert!(second.accept_attestation(&orphan).is_err());
    let third = Board::new("search", 3);
    third.insert(&result).expect("result");
    third
        .insert_attestation(&orphan)
        .expect("own attestations are this node's business");
    let before = second.attestations().len();
    assert!(second
        .import_checked(&third.updates_since(&second.version()).expect("updates"))
        .is_err());
    assert_eq!(second.attestations().len(), before);
    // Saved and restored with the board.
    let restored =
        Board::from_snapshot("search", 2, &second.snapshot().expect("snapshot")).expect("restore");
    assert_eq!(restored.attestations(), vec![a]);
}

/// Found by the `board_update` fuzz target: bytes on which Loro's update decoder asserts
/// (`decode_import_blob_meta`) instead of returning an error. A peer could send them as a
/// sync answer; the board refuses them and keeps working.
#[test]
fn an_update_that_makes_the_decoder_panic_is_refused_and_the_board_keeps_working() {
    let hostile = include_bytes!(
        "../../../tests/fuzz/corpus/board_update/loro-assert-decode-import-blob-meta"
    );
    let board = Board::new("search", 1);
    let first = record(&key(41), "first", 0.4);
    board.insert(&first).expect("insert");
    assert!(matches!(
        board.import_checked(hostile),
        Err(hyper_swarm::board::BoardError::Refused(_))
    ));
    keeps_working(&board, 42);
    // The same bytes as a version vector: answered (or refused), never a panic.
    let _ = board.updates_since(hostile);
    let _ = board.updates_since(b"\xff\xff\xff\xff");
}

/// After refusing hostile bytes, `board` (holding one record) still works: another peer's
/// real update goes in, it syncs out to a new node, and it saves and restores.
fn keeps_working(board: &Board, seed: u8) {
    let other = Board::new("search", 2);
    other
        .insert(&record(&key(seed), "second", 0.5))
        .expect("insert");
    board
        .import_checked(&other.updates_since(&board.version()).expect("updates"))
        .expect("a real update still imports");
    assert_eq!(board.results().len(), 2);
    let fresh = Board::new("search", 3);
    fresh
        .import_checked(&board.updates_since(&fresh.version()).expect("updates"))
        .expect("sync out");
    assert_eq!(fresh.results().len(), 2);
    let restored = Board::from_snapshot("search", 5, &board.snapshot().expect("snapshot"))
        .expect("the board saves and restores");
    assert_eq!(restored.results().len(), 2);
}

/// Found by the `board_update` fuzz target: a sync answer on which Loro's decoder asks for a
/// 28 TB allocation (`Vec::with_capacity` of a count read from the bytes). That aborts the
/// process — no panic to catch — so any peer could kill a node with it. The dry run in a
/// forked child takes the abort instead; the board refuses the update, names why, and keeps
/// working, in a state the hostile bytes did not touch.
#[test]
fn an_update_that_makes_the_decoder_abort_is_refused_in_a_dry_run_and_the_node_lives() {
    let hostile = include_bytes!("../../../tests/fuzz/corpus/board_update/loro-alloc-28TB");
    let board = Board::new("search", 1);
    let first = record(&key(43), "first", 0.4);
    board.insert(&first).expect("insert");
    let refused = board.import_checked(hostile);
    #[cfg(unix)]
    {
        use hyper_swarm::dry_run::DryRunError;
        assert!(
            matches!(
                refused,
                Err(hyper_swarm::board::BoardError::DryRun(
                    DryRunError::Crashed {
                        signal: libc::SIGABRT
                    }
                ))
            ),
            "{refused:?}"
        );
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("would have killed the node"), "{message}");
    }
    // The class, not the one input: on an empty board (a new node's first sync takes the
    // whole-board path), as a saved board file (bare and in the saved framing), as a version
    // vector, and cut short or grown at other sizes. Refused or answered; the process lives.
    assert!(Board::new("search", 4).import_checked(hostile).is_err());
    assert!(Board::from_snapshot("search", 6, hostile).is_err());
    let mut saved = b"hyper-board-v1\0".to_vec();
    saved.extend_from_slice(&(hostile.len() as u64).to_le_bytes());
    saved.extend_from_slice(hostile);
    saved.extend_from_slice(b"{}");
    assert!(Board::from_snapshot("search", 7, &saved).is_err());
    let _ = board.updates_since(hostile);
    for len in [hostile.len() / 2, hostile.len() - 1] {
        let _ = board.import_checked(&hostile[..len]);
    }
    let mut grown = hostile.to_vec();
    grown.extend_from_slice(&[0xff; 64]);
    let _ = board.import_checked(&grown);
    assert_eq!(board.results(), vec![first]);
    keeps_working(&board, 44);
}

/// Field bounds of records and attestations from peers, in other forms than the oversized
/// message: each field past its bound is refused by name before any signature work.
#[test]
fn record_and_attestation_fields_past_their_bounds_are_refused() {
    use hyper_research::Verdict;
    use hyper_swarm::attest::SignedAttestation;
    let result = record(&key(51), "r", 0.4);
    type RecordEdit = fn(&mut hyper_swarm::record::ResultRecord);
    let record_edits: [RecordEdit; 6] = [
        |r| r.data_hash = "e".repeat(65),
        |r| r.domain_version = "v".repeat(33),
        |r| r.skill_hash = "a".repeat(65),
        |r| r.evaluator_hash = "a".repeat(65),
        |r| r.id = String::new(),
        |r| r.status = "adopted".into(),
    ];
    for edit in record_edits {
        let mut bad = result.clone();
        edit(&mut bad.record);
        assert!(
            matches!(bad.verify(), Err(RecordError::Malformed(_))),
            "{:?}",
            bad.record
        );
    }
    let a = SignedAttestation::sign(&result, &outcome(Verdict::Agree, Some(0.4)), &key(52), 1);
    // What a node signs is cut to size: a guest's long reason does not make it unsendable.
    let long = hyper_research::ReplayOutcome {
        reason: "x".repeat(10_000),
        ..outcome(Verdict::Disagree, Some(0.1))
    };
    let cut = SignedAttestation::sign(&result, &long, &key(52), 1);
    assert_eq!(cut.attestation.reason.len(), 500);
    assert!(cut.verify().is_ok());
    type AttestationEdit = fn(&mut hyper_swarm::attest::Attestation);
    let attestation_edits: [AttestationEdit; 6] = [
        |a| a.reason = "x".repeat(2001),
        |a| a.platform = "p".repeat(801),
        |a| a.subject_sha256 = "ab".into(),
        |a| a.subject = String::new(),
        |a| a.domain = "d".repeat(65),
        |a| a.v = 2,
    ];
    for edit in attestation_edits {
        let mut bad = a.clone();
        edit(&mut bad.attestation);
        assert!(
            matches!(
                bad.verify(),
                Err(RecordError::Malformed(_) | RecordError::UnknownVersion(_))
            ),
            "{:?}",
            bad.attestation
        );
    }
}
