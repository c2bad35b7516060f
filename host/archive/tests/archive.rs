//! The snapshot against its schema, and the git archive against a real bare repository:
//! cloned and read back, rerun (nothing pushed), grown (only the new runs added), and resumed
//! after the local work repository was lost.

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::SigningKey;
use hyper_archive::{archive, BoardState, Snapshot};
use hyper_swarm::record::{peer_id_of, sample, SignedResult};
use hyper_swarm::trust::Status;

/// The swarm's sample record, made a baseline (no parent) or a child, finished at `ms`.
fn result(key: &SigningKey, id: &str, val: f64, parent: Option<&str>, ms: u64) -> SignedResult {
    let mut record = sample(key, id, val).record;
    record.params = serde_json::json!({ "k1": val });
    record.seed = 7;
    record.parent = parent.map(String::from);
    record.test = Some(val - 0.01);
    record.status = if parent.is_none() { "baseline" } else { "keep" }.into();
    record.finished_ms = ms;
    SignedResult::sign(record, key)
}

fn state(results: Vec<SignedResult>, verified: &[&SignedResult]) -> BoardState {
    BoardState {
        domain: "search".into(),
        statuses: verified
            .iter()
            .map(|r| (r.key(), Status::Verified))
            .collect(),
        results,
        reputations: BTreeMap::new(),
        attestations: 0,
        diversity: None,
    }
}

fn keys() -> (SigningKey, SigningKey) {
    (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    )
}

const T0: u64 = 1_764_000_000_000;

#[test]
fn the_snapshot_follows_its_schema_and_ranks_only_verified_results() {
    let (a, b) = keys();
    let ra = result(&a, "a-0", 0.40, None, T0);
    let ra2 = result(&a, "a-1", 0.45, Some("a-0"), T0 + 1000);
    let rb = result(&b, "b-0", 0.90, None, T0 + 2000); // unverified: must not lead
    let s = state(vec![ra.clone(), ra2.clone(), rb.clone()], &[&ra, &ra2]);
    let snap = Snapshot::build(&[s], "hyper test", T0 + 5000).to_json();
    let schema: serde_json::Value =
        serde_json::from_str(hyper_archive::snapshot::SCHEMA).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&snap)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{snap:#}");
    assert_eq!(snap["version"], 2);
    assert_eq!(snap["summary"]["experiments"], 3);
    assert_eq!(snap["summary"]["verified"], 2);
    let board = &snap["leaderboards"]["search"];
    assert_eq!(board["globalBest"]["experimentId"], "a-1", "{board:#}");
    assert_eq!(board["globalBest"]["verification"], "verified");
    assert_eq!(
        board["top10"].as_array().map(Vec::len),
        Some(1),
        "one verified agent"
    );
    assert_eq!(
        snap["experimentCounts"]["search"]["byVerification"]["unverified"],
        1
    );
    // The schema can fail: a snapshot without its disclaimer, or with a wrong version.
    let mut broken = snap.clone();
    broken.as_object_mut().map(|o| o.remove("disclaimer"));
    assert!(!validator.is_valid(&broken));
    let mut broken = snap;
    broken["version"] = 3.into();
    assert!(!validator.is_valid(&broken));
}

fn clone_files(remote: &Path, branch: &str) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().expect("tmp");
    let repo = git2::build::RepoBuilder::new()
        .branch(branch)
        .clone(remote.to_str().expect("utf-8 path"), dir.path())
        .expect("clone");
    let tree = repo.head().expect("head").peel_to_tree().expect("tree");
    tree.iter()
        .map(|e| {
            let blob = repo.find_blob(e.id()).expect("blob");
            (
                e.name().unwrap_or_default().to_string(),
                String::from_utf8_lossy(blob.content()).into_owned(),
            )
        })
        .collect()
}

fn commits(remote: &Path, branch: &str) -> usize {
    let repo = git2::Repository::open_bare(remote).expect("open");
    let mut walk = repo.revwalk().expect("walk");
    walk.push_ref(&format!("refs/heads/{branch}")).expect("ref");
    walk.count()
}

#[test]
fn the_archive_is_a_git_history_that_grows_only_with_new_runs() {
    let (a, b) = keys();
    let dir = tempfile::tempdir().expect("tmp");
    let remote = dir.path().join("remote.git");
    git2::Repository::init_bare(&remote).expect("bare remote");
    let work = dir.path().join("work.git");
    let url = remote.to_str().expect("utf-8");
    let r =
        |k: &SigningKey, id: &str, v: f64, p: Option<&str>, dt: u64| result(k, id, v, p, T0 + dt);
    let first = vec![
        r(&a, "a-0", 0.40, None, 0),
        r(&a, "a-1", 0.45, Some("a-0"), 10),
        r(&b, "b-0", 0.41, None, 5),
    ];
    let s1 = state(first.clone(), &[&first[0]]);
    let snap = Snapshot::build(std::slice::from_ref(&s1), "t", T0 + 100);
    let report = archive(&work, url, std::slice::from_ref(&s1), &snap).expect("archive");
    assert_eq!(report.new_runs, 3);
    let branch_a = format!("agents/{}/search", peer_id_of(&a.verifying_key()));
    let branch_b = format!("agents/{}/search", peer_id_of(&b.verifying_key()));
    assert_eq!(report.pushed.len(), 3, "{report:?}"); // two agents and the snapshot
    assert!(report.pushed.contains(&branch_a) && report.pushed.contains(&branch_b));

    let files = clone_files(&remote, &branch_a);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "JOURNAL.md",
            "best.json",
            "index.json",
            "run-0001.json",
            "run-0001.md",
            "run-0002.json",
            "run-0002.md"
        ]
    );
    // run-0001.json is the signed record itself: it still verifies.
    let back: SignedResult = serde_json::from_str(&files["run-0001.json"]).expect("json");
    assert_eq!(back, first[0]);
    SignedResult::decode(&back.encode()).expect("the archived record verifies");
    assert!(files["JOURNAL.md"].contains("`a-1`") && files["JOURNAL.md"].contains("verified"));
    let best: serde_json::Value = serde_json::from_str(&files["best.json"]).expect("json");
    assert_eq!(
        best["result"]["record"]["id"], "a-0",
        "the best *verified* run: {best}"
    );
    let snapshot_files = clone_files(&remote, "snapshot");
    let archived: serde_json::Value =
        serde_json::from_str(&snapshot_files["snapshot.json"]).expect("json");
    assert_eq!(archived["summary"]["experiments"], 3);

    // Again with nothing new (a later clock): nothing pushed, no new commit anywhere.
    let snap = Snapshot::build(std::slice::from_ref(&s1), "t", T0 + 9_999);
    let again = archive(&work, url, std::slice::from_ref(&s1), &snap).expect("archive");
    assert_eq!(
        (again.new_runs, again.pushed.len(), again.unchanged),
        (0, 0, 3),
        "{again:?}"
    );
    assert_eq!(commits(&remote, &branch_a), 1);

    // Two new runs of A: only they are added, with the next numbers; old files unchanged.
    let mut grown = first.clone();
    grown.push(r(&a, "a-2", 0.47, Some("a-1"), 20));
    grown.push(r(&a, "a-3", 0.43, Some("a-2"), 30));
    let s2 = state(grown.clone(), &[&first[0]]);
    let snap = Snapshot::build(std::slice::from_ref(&s2), "t", T0 + 200);
    let third = archive(&work, url, std::slice::from_ref(&s2), &snap).expect("archive");
    assert_eq!(third.new_runs, 2);
    assert_eq!(third.pushed, vec![branch_a.clone(), "snapshot".to_string()]);
    let files2 = clone_files(&remote, &branch_a);
    assert_eq!(files2["run-0001.json"], files["run-0001.json"]);
    let grown_back: SignedResult = serde_json::from_str(&files2["run-0004.json"]).expect("json");
    assert_eq!(grown_back.record.id, "a-3");
    assert_eq!(commits(&remote, &branch_a), 2);

    // The local work repository lost (a kill -9 mid-run, a new machine): the next run
    // starts from the remote and neither duplicates nor renumbers anything.
    std::fs::remove_dir_all(&work).expect("rm");
    let fourth = archive(&work, url, std::slice::from_ref(&s2), &snap).expect("archive");
    assert_eq!((fourth.new_runs, fourth.pushed.len()), (0, 0), "{fourth:?}");
    let index: BTreeMap<String, u64> =
        serde_json::from_str(&clone_files(&remote, &branch_a)["index.json"]).expect("json");
    assert_eq!(index.len(), 4);
    let mut numbers: Vec<u64> = index.values().copied().collect();
    numbers.sort();
    assert_eq!(numbers, [1, 2, 3, 4]);
}
