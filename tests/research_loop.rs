//! The research loop on the real search domain: improves on the baseline, journals every
//! experiment, survives hostile skills, resumes from the journal.

use hyper_journal::{Journal, Status};
use hyper_research::{Event, LoopOptions, ResearchLoop};
use hyper_runtime::{Evaluator, Skill};
use hyper_tests::*;

/// A skill from `path`, the search evaluator and a fresh journal under `home`.
fn parts(home: &std::path::Path, path: &str) -> (Skill, Evaluator, Journal) {
    loop_parts(home, path, fixtures::SEARCH_EVALUATOR)
}

#[test]
fn twenty_experiments_on_cranfield_match_or_beat_the_baseline() {
    let (_t, home) = temp_home();
    let domain = search_domain(&home);
    let (skill, evaluator, mut journal) = parts(&home, fixtures::SEARCH_BM25);
    let mut finished = 0;
    let summary = ResearchLoop {
        domain,
        skill,
        evaluator,
        journal: &mut journal,
    }
    .run(
        &LoopOptions {
            experiments: Some(20),
            seed: 1,
            ..LoopOptions::default()
        },
        &mut |e| {
            if let Event::ExperimentFinished { .. } = e {
                finished += 1;
            }
        },
    )
    .expect("loop");
    assert_eq!(finished, 20);
    assert_eq!(summary.experiments, 20);
    assert_eq!(summary.crashed, 0);
    let baseline = summary.baseline.as_ref().expect("baseline ran");
    let best = summary.best.as_ref().expect("a best");
    let (b, v) = (
        baseline.val.expect("baseline val"),
        best.val.expect("best val"),
    );
    // BM25 on Cranfield: the literature reports NDCG@10 of about 0.35-0.45.
    assert!((0.35..=0.45).contains(&b), "baseline NDCG@10 {b}");
    assert!(v >= b, "best {v} below baseline {b}");
    let rows = journal.list("search").expect("list");
    assert_eq!(rows.len(), 20);
    assert_eq!(rows[0].status, Status::Baseline);
    // The baseline's parameters twice more with other seeds: the noise floor.
    assert_eq!(summary.noise, 2);
    for r in &rows[1..3] {
        assert_eq!(r.status, Status::Noise);
        assert_eq!(
            (&r.params, r.parent.as_deref()),
            (&rows[0].params, Some(rows[0].id.as_str()))
        );
        assert_ne!(r.seed, rows[0].seed);
    }
    let floor = summary.noise_floor.expect("a floor from three runs");
    assert!(floor >= 0.0);
    // Every new best beat the one before by more than the floor and held on a confirmation
    // run (its own record, parented on the candidate).
    let confirms: Vec<_> = rows
        .iter()
        .filter(|r| r.status == Status::Confirm)
        .collect();
    assert_eq!(
        summary.kept + summary.discarded + summary.noise + confirms.len() as u32 + 1,
        20
    );
    for c in &confirms {
        let candidate = rows
            .iter()
            .find(|r| Some(r.id.as_str()) == c.parent.as_deref())
            .expect("candidate");
        assert_eq!(candidate.params, c.params);
        assert_eq!(candidate.metrics["confirmation"]["id"], c.id.as_str());
    }
    if floor == 0.0 {
        assert!(confirms.is_empty(), "no confirmation needed without noise");
    }
    eprintln!(
        "noise floor {floor}, {} confirmation runs, {} confirmed",
        confirms.len(),
        summary.confirmed
    );
    assert!(rows
        .iter()
        .all(|r| r.val.is_some() && r.test.is_some() && r.skill_hash == summary.skill_hash));
    assert!(
        rows.iter().skip(1).all(|r| r.parent.is_some()),
        "every mutation names its parent"
    );
    let best_row = journal
        .best("search", &summary.skill_hash)
        .expect("best")
        .expect("some");
    assert_eq!(best_row.val, best.val);
}

#[test]
fn hostile_skill_crashes_are_journaled_and_the_loop_goes_on() {
    let (_t, home) = temp_home();
    let domain = search_domain_with_budget(&home, 1, 64);
    let (skill, evaluator, mut journal) = parts(&home, fixtures::HOSTILE);
    let summary = run_loop(domain, skill, evaluator, &mut journal, 14, 5)
        .expect("the loop itself must not fail");
    assert_eq!(summary.experiments, 14);
    let rows = journal.list("search").expect("list");
    assert_eq!(rows.len(), 14);
    // The default (`none`) is a valid, if poor, run: it is the baseline.
    assert_eq!(rows[0].status, Status::Baseline);
    let crashes: Vec<_> = rows.iter().filter(|r| r.status == Status::Crash).collect();
    assert!(
        crashes.len() >= 8,
        "only {} crashes: {rows:#?}",
        crashes.len()
    );
    for c in &crashes {
        let reason = c.reason.as_deref().unwrap_or("");
        assert!(!reason.is_empty(), "crash without a reason: {c:?}");
        assert!(c.val.is_none() && c.test.is_none());
    }
}

#[test]
fn a_second_run_resumes_from_the_journal() {
    let (_t, home) = temp_home();
    let (skill, evaluator, mut journal) = parts(&home, fixtures::SEARCH_BM25);
    let first = ResearchLoop {
        domain: search_domain(&home),
        skill: skill.clone(),
        evaluator: evaluator.clone(),
        journal: &mut journal,
    }
    .run(
        &LoopOptions {
            experiments: Some(4),
            seed: 2,
            ..LoopOptions::default()
        },
        &mut |_| {},
    )
    .expect("first");
    let mut resumed_from = None;
    let second = ResearchLoop {
        domain: search_domain(&home),
        skill,
        evaluator,
        journal: &mut journal,
    }
    .run(
        &LoopOptions {
            experiments: Some(3),
            seed: 3,
            ..LoopOptions::default()
        },
        &mut |e| {
            if let Event::Started {
                resumed_from: r, ..
            } = e
            {
                resumed_from = r.map(|r| r.id.clone());
            }
        },
    )
    .expect("second");
    assert_eq!(resumed_from, first.best.as_ref().map(|b| b.id.clone()));
    assert!(
        second.baseline.is_none(),
        "no second baseline when resuming"
    );
    assert!(second.best.as_ref().and_then(|b| b.val) >= first.best.as_ref().and_then(|b| b.val));
    assert_eq!(journal.count("search").expect("count"), 7);
}

#[test]
fn the_documented_minimal_skill_builds_and_runs() {
    let (_t, home) = temp_home();
    let (skill, evaluator, mut journal) = parts(&home, fixtures::TEMPLATE_RUST);
    let summary = ResearchLoop {
        domain: search_domain(&home),
        skill,
        evaluator,
        journal: &mut journal,
    }
    .run(
        &LoopOptions {
            experiments: Some(3),
            seed: 1,
            ..LoopOptions::default()
        },
        &mut |_| {},
    )
    .expect("loop");
    assert_eq!(summary.crashed, 0, "{summary:#?}");
    let val = summary.best.and_then(|b| b.val).expect("scored");
    // Ranking the shortest documents first ignores the query: far below BM25, but scored.
    assert!((0.0..0.1).contains(&val), "{val}");
}

#[test]
fn the_novelty_proposer_explores_more_of_the_space() {
    let run = |proposer| {
        let (_t, home) = temp_home();
        let domain = search_domain(&home);
        let (skill, evaluator, mut journal) = parts(&home, fixtures::SEARCH_BM25);
        ResearchLoop {
            domain,
            skill,
            evaluator,
            journal: &mut journal,
        }
        .run(
            &LoopOptions {
                experiments: Some(20),
                seed: 2,
                noise_runs: 0,
                proposer,
                ..LoopOptions::default()
            },
            &mut |_| {},
        )
        .expect("loop")
    };
    let mixed = run(hyper_research::ProposerKind::Mixed);
    let novelty = run(hyper_research::ProposerKind::Novelty);
    assert_eq!((mixed.crashed, novelty.crashed), (0, 0));
    assert!(
        novelty.coverage > mixed.coverage,
        "novelty {} vs mixed {}",
        novelty.coverage,
        mixed.coverage
    );
    eprintln!(
        "coverage: mixed {:.3}, novelty {:.3}",
        mixed.coverage, novelty.coverage
    );
}
