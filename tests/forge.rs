//! The skill forge end to end: the official tool of every task on its full conformance suite
//! (real components built from source, every case in its own sandboxed instance), a hostile
//! tool whose hangs, traps and memory blow-ups fail only their own cases, and the journal's
//! leaderboard.

use std::time::{Duration, Instant};

use hyper_forge::{tasks, CaseBudget, ForgeOptions, Verdict};
use hyper_tests::{fixtures, read, runtime};

fn run(tool: &str, task: &str, options: &ForgeOptions) -> hyper_forge::ForgeReport {
    let runtime = runtime();
    let tool = hyper_forge::load_tool(&runtime, &read(tool)).expect("load tool");
    let task = tasks::find(task).expect("task");
    hyper_forge::test_tool(&tool, &task, options).expect("forge run")
}

#[test]
fn every_task_loads_its_whole_suite() {
    let count = |name: &str| tasks::find(name).expect("task").cases().to_vec();
    let json = count("json-parse");
    let prefix = |p: &str| json.iter().filter(|c| c.id.starts_with(p)).count();
    assert_eq!((prefix("y_"), prefix("n_"), prefix("i_")), (95, 188, 35));
    assert_eq!(count("csv-parse").len(), 11);
    assert_eq!(count("url-parse").len(), 891);
    assert_eq!(count("html-entities").len(), 80 + 4210 + 336);
    assert_eq!(count("format-validate").len(), 764);
    // Case ids are unique: `--filter` and failure lists name one case each.
    for t in tasks::built_in().expect("built-in tasks") {
        let cases = t.cases();
        let ids: std::collections::HashSet<_> = cases.iter().map(|c| &c.id).collect();
        assert_eq!(ids.len(), cases.len(), "{}", t.name);
    }
}

/// The pass rates the README states; each official tool runs on its whole suite.
#[test]
fn official_tools_pass_their_suites() {
    let options = ForgeOptions::default();
    let json = run(fixtures::FORGE_JSON, "json-parse", &options);
    assert_eq!(
        (json.passed, json.failed),
        (283, 0),
        "{:?}",
        json.failures().collect::<Vec<_>>()
    );
    // serde_json accepts 5 of the implementation-defined cases and refuses 30.
    assert_eq!(json.info_accepted + json.info_refused, 35);
    let csv = run(fixtures::FORGE_CSV, "csv-parse", &options);
    assert_eq!((csv.passed, csv.failed), (11, 0));
    let html = run(fixtures::FORGE_HTML, "html-entities", &options);
    assert_eq!((html.passed, html.failed), (4626, 0));
    let url = run(fixtures::FORGE_URL, "url-parse", &options);
    assert_eq!(url.passed + url.failed, 891);
    assert!(url.pass_rate > 0.9, "url pass rate {}", url.pass_rate);
    // rust-url keeps `|` in Windows drive letters; the WHATWG parser turns it into `:`.
    let drive = url
        .failures()
        .find(|(id, _)| id.contains("\"file:///w|/m\""))
        .expect("known rust-url difference is reported");
    assert!(drive.1.contains("file:///w:/m"), "{}", drive.1);
    let format = run(fixtures::FORGE_FORMAT, "format-validate", &options);
    assert_eq!(format.passed + format.failed, 764);
    assert!(
        format.pass_rate > 0.99,
        "format pass rate {}",
        format.pass_rate
    );
    for report in [&json, &csv, &html, &url, &format] {
        assert_eq!(report.suite_hash.len(), 64);
        assert!(report.tool_secs > 0.0);
    }
}

#[test]
fn a_hostile_tool_fails_only_the_cases_it_breaks() {
    let options = ForgeOptions {
        budget: CaseBudget {
            deadline: Duration::from_millis(300),
            memory_bytes: 64 << 20,
            ..CaseBudget::default()
        },
        ..ForgeOptions::default()
    };
    let started = Instant::now();
    let report = run(fixtures::HOSTILE_TOOL, "json-parse", &options);
    let elapsed = started.elapsed();
    assert_eq!(report.cases.len(), 318, "every case ran");
    let reason = |id: &str| match &report.cases.iter().find(|c| c.id == id).expect(id).verdict {
        Verdict::Fail { reason } => reason.clone(),
        other => panic!("{id}: {other:?}"),
    };
    // Each misbehaviour is named, and fails only its case.
    let hang = reason("y_structure_lonely_true.json");
    assert!(
        hang.starts_with("crashed:") && hang.contains("deadline"),
        "{hang}"
    );
    let panic = reason("y_structure_lonely_false.json");
    assert!(
        panic.starts_with("crashed:") && panic.contains("panic"),
        "{panic}"
    );
    let memory = reason("y_structure_lonely_null.json");
    assert!(
        memory.starts_with("crashed:") && memory.contains("memory"),
        "{memory}"
    );
    assert!(reason("y_array_empty.json").starts_with("refused, should accept"));
    // Its refusals of n_ cases that hold none of the trigger words are correct.
    let clean_n = report
        .cases
        .iter()
        .filter(|c| c.id.starts_with("n_"))
        .filter(|c| {
            let task = tasks::find("json-parse").expect("task");
            let input = &task
                .cases()
                .iter()
                .find(|k| k.id == c.id)
                .expect("case")
                .input;
            !["true", "false", "null"]
                .iter()
                .any(|w| input.windows(w.len()).any(|x| x == w.as_bytes()))
        })
        .collect::<Vec<_>>();
    assert!(clean_n.len() > 150);
    assert!(clean_n.iter().all(|c| c.verdict == Verdict::Pass));
    assert!(
        report.pass_rate > 0.5 && report.pass_rate < 0.7,
        "{}",
        report.pass_rate
    );
    // Hanging cases cost their deadline, not more.
    let hangs = report
        .cases
        .iter()
        .filter(|c| matches!(&c.verdict, Verdict::Fail { reason } if reason.contains("deadline")))
        .count();
    assert!(hangs >= 4, "{hangs} hangs");
    assert!(
        elapsed < Duration::from_millis(300) * (hangs as u32 + 20),
        "{elapsed:?}"
    );
}

#[test]
fn tools_are_checked_before_any_case_runs() {
    let runtime = runtime();
    // A research skill is not a tool.
    let err = match hyper_forge::load_tool(&runtime, &read(fixtures::TRIVIAL)) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a research skill loaded as a tool"),
    };
    assert!(err.contains("tool"), "{err}");
    // Garbage is refused with a reason.
    let err = match hyper_forge::load_tool(&runtime, b"not a component") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("garbage loaded"),
    };
    assert!(err.starts_with("the tool cannot be loaded"), "{err}");
    // A tool for another task is refused unless asked.
    let csv = hyper_forge::load_tool(&runtime, &read(fixtures::FORGE_CSV)).expect("load");
    let task = &tasks::find("json-parse").expect("task");
    let err = hyper_forge::test_tool(&csv, task, &ForgeOptions::default())
        .expect_err("wrong task refused")
        .to_string();
    assert!(err.contains("`csv-parse`, not `json-parse`"), "{err}");
    let any = ForgeOptions {
        any_task: true,
        filter: Some("y_object".into()),
        ..ForgeOptions::default()
    };
    let report = hyper_forge::test_tool(&csv, task, &any).expect("any task");
    assert!(!report.cases.is_empty() && report.cases.iter().all(|c| c.id.contains("y_object")));
    assert!(tasks::find("yaml-parse").is_err());
}

#[test]
fn the_board_ranks_by_pass_rate_then_time() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut journal =
        hyper_journal::Journal::open(home.path().join("journal.db")).expect("journal");
    let task = &tasks::find("json-parse").expect("task");
    let fast = ForgeOptions {
        budget: CaseBudget {
            deadline: Duration::from_millis(200),
            memory_bytes: 64 << 20,
            ..CaseBudget::default()
        },
        ..ForgeOptions::default()
    };
    let hostile = run(fixtures::HOSTILE_TOOL, "json-parse", &fast);
    let first = hyper_forge::journal_report(&mut journal, task, &hostile, Duration::from_secs(1))
        .expect("journal");
    assert_eq!(first.status, hyper_journal::Status::Keep);
    let good = run(fixtures::FORGE_JSON, "json-parse", &ForgeOptions::default());
    let second = hyper_forge::journal_report(&mut journal, task, &good, Duration::from_secs(1))
        .expect("journal");
    assert_eq!(second.status, hyper_journal::Status::Keep);
    // The hostile tool again: below the leader now, and says which.
    let third = hyper_forge::journal_report(&mut journal, task, &hostile, Duration::from_secs(1))
        .expect("journal");
    assert_eq!(third.status, hyper_journal::Status::Discard);
    assert!(
        third.reason.as_deref().unwrap_or("").contains("forge-json"),
        "{:?}",
        third.reason
    );
    let board = hyper_forge::board(&journal, task).expect("board");
    assert_eq!(board.len(), 2, "one row per tool");
    assert_eq!(board[0].skill_name, "forge-json@0.1.0");
    assert_eq!(board[0].val, Some(1.0));
    assert_eq!(board[1].skill_name, "hostile-tool@0.1.0");
    // A tie on pass rate goes to the faster tool.
    let mut slower = good.clone();
    slower.tool_hash = "0".repeat(64);
    slower.tool_name = "forge-json-slow".into();
    slower.tool_secs = good.tool_secs * 10.0 + 1.0;
    let tied = hyper_forge::journal_report(&mut journal, task, &slower, Duration::from_secs(1))
        .expect("journal");
    assert_eq!(tied.status, hyper_journal::Status::Discard);
    let board = hyper_forge::board(&journal, task).expect("board");
    assert_eq!(board[0].skill_name, "forge-json@0.1.0");
    assert_eq!(board[1].skill_name, "forge-json-slow@0.1.0");
}
