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
    let summary = ResearchLoop {
        domain,
        skill,
        evaluator,
        journal: &mut journal,
    }
    .run(
        &LoopOptions {
            experiments: Some(12),
            seed: 5,
            ..LoopOptions::default()
        },
        &mut |_| {},
    )
    .expect("loop");
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
