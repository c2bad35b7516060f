//! The finance domain end to end on real components: the timing skill fits on the years
//! before 1960 and returns a strategy; the evaluator alone runs it walk-forward and scores
//! Sharpe on 1960-1999 (validation) and 2000-2023 (test); malformed strategies are refused.

use hyper_research::{LoopOptions, ResearchLoop};
use hyper_runtime::{Artifact, Split};
use hyper_tests::*;

#[test]
fn the_loop_scores_strategies_walk_forward_and_journals_both_periods() {
    let (_t, home) = temp_home();
    let domain = embedded_domain(&home, &hyper_guests::FINANCE, &[]);
    let names: Vec<String> = std::fs::read_dir(domain.skill_policy().data_dir.expect("data"))
        .expect("data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["train.csv"], "skills see the training years only");
    let (skill, evaluator, mut journal) =
        loop_parts(&home, fixtures::FINANCE_TIMING, fixtures::FINANCE_EVALUATOR);
    let summary = run_loop(domain, skill, evaluator, &mut journal, 12, 5).expect("loop");
    assert_eq!(
        (summary.experiments, summary.crashed),
        (12, 0),
        "{summary:?}"
    );
    let rows = journal.list("finance").expect("journal");
    assert_eq!(rows.len(), 12);
    for row in &rows {
        let (val, test) = (row.val.expect("val"), row.test.expect("test"));
        assert!(
            (-1.0..2.0).contains(&val) && (-1.0..2.0).contains(&test),
            "{val} {test}"
        );
        let m = &row.metrics;
        assert!(
            m.to_string().contains("max_drawdown") && m.to_string().contains("turnover"),
            "{m}"
        );
    }
    let best = summary.best.as_ref().expect("best");
    let baseline = summary.baseline.as_ref().expect("baseline");
    assert!(best.val >= baseline.val);

    // The report agrees with the loop: same best, a lineage from the baseline, parameter
    // effects, and the validation/test gap.
    let report = hyper_research::report::markdown("finance", &rows, None);
    assert_eq!(
        hyper_research::report::best(&rows).map(|r| &r.id),
        Some(&best.id)
    );
    let chain = hyper_research::report::lineage(&rows, best);
    assert_eq!(chain.first().map(|r| &r.id), Some(&baseline.id));
    assert_eq!(chain.last().map(|r| &r.id), Some(&best.id));
    for section in [
        "## Best configuration",
        "## Validation vs test",
        "## Parameter effects",
        "## What did not work",
    ] {
        assert!(report.contains(section), "{report}");
    }
    assert!(report.contains("| momentum_months |"), "{report}");
    let effects = hyper_research::report::effects(&rows);
    assert!(effects.iter().all(|e| e.n >= 1 && e.sd >= 0.0));
    let svg = hyper_research::report::svg(&rows).expect("plot");
    assert_eq!(
        svg.matches("<circle").count(),
        12 + 1,
        "12 points + the legend's"
    );
}

#[test]
fn malformed_or_forward_looking_strategies_are_refused() {
    let (_t, home) = temp_home();
    let domain = embedded_domain(&home, &hyper_guests::FINANCE, &[]);
    let (_, evaluator, _) =
        loop_parts(&home, fixtures::FINANCE_TIMING, fixtures::FINANCE_EVALUATOR);
    let policy = domain.evaluator_policy();
    let score = |media: &str, json: &str| {
        evaluator.score(
            &policy,
            &Artifact {
                media_type: media.into(),
                bytes: json.as_bytes().to_vec(),
            },
            Split::Validation,
        )
    };
    let media = "application/vnd.hyper.strategy+json";
    let hold = score(media, r#"{"version":1,"sizing":"linear"}"#).expect("buy and hold");
    // Buy and hold is its own reference.
    assert_eq!(hold[0].value, hold[4].value);
    for (m, json, why) in [
        (
            "text/plain",
            r#"{"version":1,"sizing":"linear"}"#,
            "media type",
        ),
        (media, "weights: 1,1,1", "not a strategy"),
        (
            media,
            r#"{"version":1,"sizing":"linear","weights":[1,0,1]}"#,
            "unknown field",
        ),
        (
            media,
            r#"{"version":1,"sizing":"linear","cape_low":40,"cape_high":10}"#,
            "cape_low",
        ),
    ] {
        let err = score(m, json).expect_err(why).to_string();
        assert!(err.contains(why), "{err} (expected {why})");
    }
}

/// Kenneth French's files from the shared data folder (not shipped; `$HYPER_SHARED_DATA`
/// overrides where to look).
fn french_dir() -> std::path::PathBuf {
    let candidates = [
        std::env::var("HYPER_SHARED_DATA").unwrap_or_default(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").to_string(),
        "/work/shared/data".to_string(),
    ];
    candidates
        .iter()
        .filter(|d| !d.is_empty())
        .map(|d| std::path::Path::new(d).join("french-data-library"))
        .find(|d| d.join("F-F_Research_Data_Factors.CSV").is_file())
        .unwrap_or_else(|| {
            panic!("french-data-library not found under {candidates:?}: set HYPER_SHARED_DATA")
        })
}

#[test]
fn industry_rotation_runs_on_data_the_user_supplies() {
    let (_t, home) = temp_home();
    let domain = embedded_domain(&home, &hyper_guests::FINANCE_INDUSTRIES, &[]);
    let (skill, evaluator, mut journal) = loop_parts(
        &home,
        fixtures::FINANCE_ROTATION,
        fixtures::FINANCE_EVALUATOR,
    );
    // Without the files: a clear error naming them and where they go, before any experiment.
    let err = ResearchLoop {
        domain: domain.clone(),
        skill,
        evaluator,
        journal: &mut journal,
    }
    .run(&LoopOptions::default(), &mut |_| {})
    .expect_err("no data yet")
    .to_string();
    assert!(
        err.contains("F-F_Research_Data_Factors.CSV")
            && err.contains("12_Industry_Portfolios.CSV")
            && err.contains("heldout"),
        "{err}"
    );
    assert!(journal
        .list("finance-industries")
        .expect("journal")
        .is_empty());

    for file in [
        "F-F_Research_Data_Factors.CSV",
        "12_Industry_Portfolios.CSV",
    ] {
        std::fs::copy(
            french_dir().join(file),
            domain.dir.join("heldout").join(file),
        )
        .expect("copy");
    }
    let (skill, evaluator, _) = loop_parts(
        &home,
        fixtures::FINANCE_ROTATION,
        fixtures::FINANCE_EVALUATOR,
    );
    let summary = run_loop(domain, skill, evaluator, &mut journal, 10, 2).expect("loop");
    assert_eq!(
        (summary.experiments, summary.crashed),
        (10, 0),
        "{summary:?}"
    );
    let baseline = summary.baseline.as_ref().expect("baseline");
    let (val, test) = (baseline.val.expect("val"), baseline.test.expect("test"));
    // Momentum across industries, 1960-1999 and 2000-2024: Sharpe well inside (0, 1.5).
    assert!(
        (0.0..1.5).contains(&val) && (-0.5..1.5).contains(&test),
        "{val} {test}"
    );
    let metrics = baseline.metrics.to_string();
    assert!(metrics.contains("passive_sharpe"), "{metrics}");
}
