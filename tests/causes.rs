//! The two causes the project ships, end to end on real components: CISI literature search
//! (a search skill ranks, the cause's evaluator scores NDCG@10 with judgements only it can
//! read) and extractive TL;DR on SciTLDR (the skill extracts sentences, the evaluator scores
//! ROUGE against TL;DRs only it can read). Plus the evaluator pin: an installed domain whose
//! evaluator changes is refused.

use std::collections::HashMap;

use hyper_research::domain;
use hyper_runtime::{Artifact, Split};
use hyper_tests::*;

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn cisi_runs_end_to_end_and_only_the_evaluator_sees_judgements() {
    let (_t, home) = temp_home();
    let d = embedded_domain(&home, &hyper_guests::CISI, &[]);
    assert_eq!(d.skill_domain(), "search");
    let data = d.skill_policy().data_dir.expect("data");
    assert_eq!(files(&data), ["CISI.ALL", "CISI.QRY", "collection.json"]);
    let heldout = d.evaluator_policy().data_dir.expect("heldout");
    assert!(files(&heldout).contains(&"CISI.REL".to_string()));
    let (skill, evaluator, mut journal) =
        loop_parts(&home, fixtures::SEARCH_BM25, fixtures::CISI_EVALUATOR);
    let summary = run_loop(d, skill, evaluator, &mut journal, 6, 3).expect("loop");
    assert_eq!(
        (summary.experiments, summary.crashed),
        (6, 0),
        "{summary:?}"
    );
    let baseline = summary.baseline.as_ref().expect("baseline");
    let (val, test) = (baseline.val.expect("val"), baseline.test.expect("test"));
    // BM25 on CISI: NDCG@10 in the usual range for this hard collection.
    assert!(
        (0.25..0.6).contains(&val) && (0.25..0.6).contains(&test),
        "{val} {test}"
    );
    // Exactly the judged queries count: 51 validation, 25 test.
    assert_eq!(
        baseline.metrics["validation"]["queries"], 51.0,
        "{}",
        baseline.metrics
    );
    assert_eq!(baseline.metrics["test"]["queries"], 25.0);
}

#[test]
fn cisi_evaluator_refuses_runs_outside_the_collection() {
    let (_t, home) = temp_home();
    let d = embedded_domain(&home, &hyper_guests::CISI, &[]);
    let evaluator = hyper_runtime::Evaluator::load(&runtime(), &read(fixtures::CISI_EVALUATOR))
        .expect("evaluator");
    let score = |run: &str| {
        evaluator.score(
            &d.evaluator_policy(),
            &Artifact {
                media_type: "text/tab-separated-values; profile=trec-run".into(),
                bytes: run.as_bytes().to_vec(),
            },
            Split::Validation,
        )
    };
    let err = score("1 1461 1 1.0\n")
        .expect_err("doc out of range")
        .to_string();
    assert!(err.contains("document id out of range 1..=1460"), "{err}");
    let err = score("113 1 1 1.0\n")
        .expect_err("query out of range")
        .to_string();
    assert!(err.contains("query id out of range 1..=112"), "{err}");
    // A run that answers query 1 with exactly its judged documents: NDCG@10 of that query is
    // 1, the others 0, so the mean is 1/51.
    let rel = std::fs::read_to_string(d.dir.join("heldout/CISI.REL")).expect("rel");
    let relevant: Vec<&str> = rel
        .lines()
        .filter(|l| l.split_whitespace().next() == Some("1"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(!relevant.is_empty());
    let run: String = relevant
        .iter()
        .enumerate()
        .map(|(i, doc)| format!("1 {doc} {} {}\n", i + 1, 100 - i))
        .collect();
    let metrics = score(&run).expect("scored");
    assert!(
        (metrics[0].value - 1.0 / 51.0).abs() < 1e-12,
        "{}",
        metrics[0].value
    );
}

#[test]
fn tldr_runs_end_to_end_and_scores_rouge_on_hidden_tldrs() {
    let (_t, home) = temp_home();
    let d = embedded_domain(&home, &hyper_guests::TLDR, &[]);
    let data = d.skill_policy().data_dir.expect("data");
    assert_eq!(
        files(&data),
        ["dev.sources.jsonl", "test.sources.jsonl", "train.jsonl"]
    );
    // What skills see of validation and test papers: ids and sentences, no TL;DR.
    let sources = std::fs::read_to_string(data.join("dev.sources.jsonl")).expect("sources");
    assert!(!sources.contains("\"target\""));
    assert_eq!(sources.lines().count(), 619);
    let (skill, evaluator, mut journal) =
        loop_parts(&home, fixtures::TLDR_EXTRACTIVE, fixtures::TLDR_EVALUATOR);
    let summary = run_loop(d, skill, evaluator, &mut journal, 6, 1).expect("loop");
    assert_eq!(
        (summary.experiments, summary.crashed),
        (6, 0),
        "{summary:?}"
    );
    let baseline = summary.baseline.as_ref().expect("baseline");
    let val = baseline.val.expect("val");
    assert!((0.2..0.5).contains(&val), "{val}");
    assert_eq!(baseline.metrics["validation"]["papers"], 619.0);
    assert_eq!(baseline.metrics["test"]["papers"], 618.0);
}

/// Summaries built here from the held-out files: the oracle sentence (the one SciTLDR's
/// authors label closest to the TL;DR) must beat the first and the last sentence; TL;DRs
/// themselves are not extractive and are refused, as are missing papers.
#[test]
fn tldr_evaluator_rewards_the_oracle_and_refuses_non_extractive_summaries() {
    let (_t, home) = temp_home();
    let d = embedded_domain(&home, &hyper_guests::TLDR, &[]);
    let evaluator = hyper_runtime::Evaluator::load(&runtime(), &read(fixtures::TLDR_EVALUATOR))
        .expect("evaluator");
    let papers: Vec<serde_json::Value> = std::fs::read_to_string(d.dir.join("heldout/dev.jsonl"))
        .expect("dev")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let pick = |choose: &dyn Fn(&serde_json::Value) -> String| -> Vec<u8> {
        let map: HashMap<String, String> = papers
            .iter()
            .map(|p| (p["paper_id"].as_str().expect("id").to_string(), choose(p)))
            .collect();
        serde_json::to_vec(&map).expect("json")
    };
    let sentence =
        |p: &serde_json::Value, i: usize| p["source"][i].as_str().expect("sentence").to_string();
    let score = |bytes: Vec<u8>| {
        evaluator.score(
            &d.evaluator_policy(),
            &Artifact {
                media_type: "application/vnd.hyper.tldr+json".into(),
                bytes,
            },
            Split::Validation,
        )
    };
    let first = score(pick(&|p| sentence(p, 0))).expect("lead-1")[0].value;
    let last = score(pick(&|p| {
        sentence(p, p["source"].as_array().expect("source").len() - 1)
    }))
    .expect("last")[0]
        .value;
    let oracle = score(pick(&|p| {
        let labels = p["source_labels"].as_array().expect("labels");
        let i = labels.iter().position(|l| l == 1).unwrap_or(0);
        sentence(p, i)
    }))
    .expect("oracle")[0]
        .value;
    eprintln!("validation ROUGE-1: first sentence {first:.4}, last {last:.4}, oracle {oracle:.4}");
    assert!(
        oracle > first + 0.05 && oracle > last + 0.05,
        "{oracle} {first} {last}"
    );
    let err = score(pick(&|p| {
        p["target"][0].as_str().expect("tldr").to_string()
    }))
    .expect_err("abstractive")
    .to_string();
    assert!(err.contains("is not 1-3 of its source sentences"), "{err}");
    let err = score(b"{}".to_vec()).expect_err("missing").to_string();
    assert!(err.contains("no summary for paper"), "{err}");
    let err = score(b"[1, 2]".to_vec())
        .expect_err("not an object")
        .to_string();
    assert!(err.contains("not a JSON object"), "{err}");
}

#[test]
fn an_installed_domain_whose_evaluator_changes_is_refused() {
    let (_t, home) = temp_home();
    let d = embedded_domain(&home, &hyper_guests::CISI, &[]);
    let lock = d.lock().expect("lock").expect("pinned");
    assert!(lock.is_builtin());
    assert_eq!(lock.evaluator_sha256, d.evaluator_sha256().expect("sha"));
    // Swap the evaluator for another (valid) evaluator component.
    std::fs::write(d.evaluator_path(), read(fixtures::SEARCH_EVALUATOR)).expect("swap");
    let err = domain::Domain::find(&home, "cisi")
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("the evaluator of `cisi` changed since it was installed"),
        "{err}"
    );
    assert!(err.contains(&lock.evaluator_sha256), "{err}");
    // The binary's copy restores it (built-ins are pinned by the binary).
    let d = embedded_domain(&home, &hyper_guests::CISI, &[]);
    assert_eq!(d.evaluator_sha256().expect("sha"), lock.evaluator_sha256);
}
