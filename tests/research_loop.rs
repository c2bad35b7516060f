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
        let options = LoopOptions {
            experiments: Some(20),
            seed: 2,
            noise_runs: 0,
            proposer,
            ..LoopOptions::default()
        };
        run_loop_with(domain, skill, evaluator, &mut journal, &options).expect("loop")
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

/// A local stand-in for an OpenAI-compatible endpoint (the one thing that cannot run here):
/// answers each `POST /v1/chat/completions` with the next of `answers` as the message content
/// and keeps every request body.
fn chat_server(answers: Vec<String>) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (stream, content) in listener.incoming().zip(answers) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let (mut line, mut length, mut chunked) = (String::new(), 0usize, false);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("request line");
            loop {
                line.clear();
                reader.read_line(&mut line).expect("header");
                if line.trim().is_empty() {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().expect("length");
                }
                chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            while chunked {
                line.clear();
                reader.read_line(&mut line).expect("chunk size");
                let size = usize::from_str_radix(line.trim(), 16).expect("hex size");
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).expect("chunk");
                body.extend_from_slice(&chunk[..size]);
                chunked = size > 0;
            }
            log.lock()
                .expect("log")
                .push(format!("{request_line}{}", String::from_utf8_lossy(&body)));
            let reply = serde_json::json!({
                "id": "x", "object": "chat.completion", "model": "test-model",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn an_llm_proposer_is_asked_with_the_history_and_its_bad_answers_fall_back() {
    let (url, seen) = chat_server(vec![
        // A fenced JSON object: taken.
        "```json\n{\"k1\": 1.7, \"b\": 0.4}\n```".into(),
        // Out of the declared range: refused, the hill-climber answers.
        "{\"k1\": 99}".into(),
        // Not JSON at all: refused too.
        "I would try a larger k1.".into(),
    ]);
    let (_t, home) = temp_home();
    let domain = search_domain(&home);
    let (skill, evaluator, mut journal) = parts(&home, fixtures::SEARCH_BM25);
    let summary = ResearchLoop {
        domain,
        skill,
        evaluator,
        journal: &mut journal,
    }
    .run(
        &LoopOptions {
            experiments: Some(4),
            seed: 1,
            noise_runs: 0,
            proposer: hyper_research::ProposerKind::Llm(hyper_research::llm::LlmConfig {
                url,
                model: "test-model".into(),
                api_key: Some("secret".into()),
                timeout: std::time::Duration::from_secs(10),
            }),
            ..LoopOptions::default()
        },
        &mut |_| {},
    )
    .expect("loop");
    assert_eq!((summary.experiments, summary.crashed), (4, 0));
    let rows = journal.list("search").expect("rows");
    assert_eq!(rows[1].params["k1"], 1.7);
    assert_eq!(rows[1].params["b"], 0.4);
    assert_eq!(
        rows[1].params["stemmer"], rows[0].params["stemmer"],
        "unnamed values come from the best"
    );
    for r in &rows[2..] {
        let k1 = r.params["k1"].as_f64().expect("k1");
        assert!(
            (0.1..=3.0).contains(&k1),
            "the fallback stays in bounds: {k1}"
        );
    }
    let requests = seen.lock().expect("log").clone();
    assert_eq!(requests.len(), 3);
    assert!(
        requests[0].starts_with("POST /v1/chat/completions"),
        "{}",
        requests[0]
    );
    let body = |r: &str| -> serde_json::Value {
        serde_json::from_str(r.split_once('\n').map(|(_, b)| b).unwrap_or("")).expect("a JSON body")
    };
    let first = body(&requests[0]);
    assert_eq!(first["model"], "test-model");
    let question = first["messages"][1]["content"]
        .as_str()
        .expect("user message");
    assert!(
        question.contains("\"k1\"") && question.contains("term-frequency saturation"),
        "{question}"
    );
    // The second question carries the history: the baseline and the first proposal, scored.
    let second = body(&requests[1]);
    let context: serde_json::Value = serde_json::from_str(
        second["messages"][1]["content"]
            .as_str()
            .expect("user message"),
    )
    .expect("json");
    let history = context["history_newest_first"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["params"]["k1"], 1.7);
    assert_eq!(history[0]["metric"].as_f64(), rows[1].val);
    assert!(!summary
        .best
        .expect("best")
        .params
        .to_string()
        .contains("99"));
}
