//! The skill forge: tasks scored on third-party conformance suites (JSON, CSV, URL, HTML
//! character references, JSON Schema formats), and the evaluator that runs a tool skill on
//! every case inside the sandbox.
//!
//! Why the evaluator is host code, not a wasm component like the other domains' evaluators:
//! it has to *call the tool* once per case with a per-case budget, and one component cannot
//! instantiate another under the host's limits. It never trusts the tool: the tool only
//! returns outputs; this crate compares them with the suite's expectations and counts.
//!
//! Each case runs in a fresh instance with its own deadline and memory limit, so a case
//! that hangs, traps or exhausts memory fails that case only.

pub mod tasks;
#[cfg(test)]
mod upstream;

use std::time::{Duration, Instant};

use hyper_journal::{Journal, Record, Status};
use hyper_runtime::{Failure, FailureKind, LoadOptions, Runtime, SandboxPolicy, Tool};
use serde::Serialize;
use serde_json::Value;

pub use tasks::{Case, Compare, Expected, Task};

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error("no forge task `{name}` (tasks: {known})")]
    UnknownTask { name: String, known: String },
    #[error("the tool cannot be loaded: {0}")]
    Tool(String),
    #[error(
        "the tool says it solves `{declared}`, not `{task}` (pass --any-task to test it anyway)"
    )]
    WrongTask { declared: String, task: String },
    #[error("suite data: {0}")]
    Suite(String),
    #[error(
        "task `{name}` changed since it was installed (pinned sha256 {pinned}, now {now}): \
         its pass rates would not compare; reinstall it with --replace to accept the change"
    )]
    Changed {
        name: String,
        pinned: String,
        now: String,
    },
    #[error("journal: {0}")]
    Journal(String),
}

/// The per-case budget. Defaults: 2 s, 256 MiB, 16 MiB of output.
#[derive(Clone, Debug)]
pub struct CaseBudget {
    pub deadline: Duration,
    pub memory_bytes: usize,
    pub max_output_bytes: usize,
}

impl Default for CaseBudget {
    fn default() -> Self {
        CaseBudget {
            deadline: Duration::from_secs(2),
            memory_bytes: 256 << 20,
            max_output_bytes: 16 << 20,
        }
    }
}

impl CaseBudget {
    /// A tool gets nothing but its input: no files, no scratch, no network, clock or env.
    pub fn policy(&self) -> SandboxPolicy {
        SandboxPolicy {
            memory_bytes: self.memory_bytes,
            deadline: self.deadline,
            data_dir: None,
            scratch: false,
            max_output_bytes: self.max_output_bytes,
            stdio_bytes: 64 << 10,
            log_bytes: 64 << 10,
            ..SandboxPolicy::default()
        }
    }
}

/// How one case went.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail {
        reason: String,
    },
    /// An implementation-defined case: what the tool did, not scored.
    Info {
        accepted: bool,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    pub id: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub micros: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ForgeReport {
    pub task: String,
    pub tool_name: String,
    pub tool_version: String,
    pub tool_hash: String,
    /// SHA-256 of the task's cases and expectations: results are comparable when it matches.
    pub suite_hash: String,
    pub passed: usize,
    pub failed: usize,
    /// Implementation-defined cases (JSON `i_`): how many the tool accepted / refused.
    pub info_accepted: usize,
    pub info_refused: usize,
    /// passed / (passed + failed).
    pub pass_rate: f64,
    /// Wall time spent in the tool's calls, summed over cases (the tie-breaker).
    pub tool_secs: f64,
    pub cases: Vec<CaseResult>,
}

impl ForgeReport {
    pub fn failures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.cases.iter().filter_map(|c| match &c.verdict {
            Verdict::Fail { reason } => Some((c.id.as_str(), reason.as_str())),
            _ => None,
        })
    }
}

/// Options for [`test_tool`].
#[derive(Clone, Default)]
pub struct ForgeOptions {
    pub budget: CaseBudget,
    /// Test a tool whose `describe().task` names another task.
    pub any_task: bool,
    /// Only cases whose id contains this text.
    pub filter: Option<String>,
    /// Threads running cases (default: available parallelism).
    pub threads: Option<usize>,
    /// Called after each case with (done, total).
    pub progress: Option<std::sync::Arc<dyn Fn(usize, usize) + Send + Sync>>,
}

/// Compares a tool's answer with the case's expectation.
pub fn judge(expected: &Expected, outcome: &Result<Vec<u8>, Failure>) -> Verdict {
    let fail = |reason: String| Verdict::Fail { reason };
    let refused = matches!(outcome, Err(f) if f.kind == FailureKind::GuestError);
    match (expected, outcome) {
        (Expected::Either, Ok(_)) => Verdict::Info { accepted: true },
        (Expected::Either, Err(_)) if refused => Verdict::Info { accepted: false },
        (_, Err(f)) if !refused => fail(format!("crashed: {}", one_line(&f.reason))),
        (Expected::Reject, Err(_)) => Verdict::Pass,
        (Expected::Reject, Ok(out)) => {
            fail(format!("accepted, should refuse; said {}", preview(out)))
        }
        (_, Err(f)) => fail(format!("refused, should accept: {}", one_line(&f.reason))),
        (Expected::Bytes(want), Ok(out)) => {
            if out == want {
                Verdict::Pass
            } else {
                fail(format!("expected {}, got {}", preview(want), preview(out)))
            }
        }
        (Expected::Output(want) | Expected::Tokens(want), Ok(out)) => {
            match serde_json::from_slice::<Value>(out) {
                Err(e) => fail(format!("output is not JSON ({e}): {}", preview(out))),
                Ok(got) => {
                    let got = match (expected, got.as_array()) {
                        (Expected::Tokens(_), Some(tokens)) => {
                            Value::Array(tasks::merge_characters(tokens))
                        }
                        _ => got,
                    };
                    if &got == want {
                        Verdict::Pass
                    } else {
                        fail(format!("expected {}, got {}", short(want), short(&got)))
                    }
                }
            }
        }
        (Expected::Fields(want), Ok(out)) => match serde_json::from_slice::<Value>(out) {
            Err(e) => fail(format!("output is not JSON ({e}): {}", preview(out))),
            Ok(got) => {
                let wrong: Vec<String> = want
                    .iter()
                    .filter(|(k, v)| got.get(k.as_str()) != Some(*v))
                    .map(|(k, v)| {
                        format!(
                            "{k}: expected {}, got {}",
                            short(v),
                            got.get(k.as_str())
                                .map(short)
                                .unwrap_or_else(|| "nothing".into())
                        )
                    })
                    .collect();
                if wrong.is_empty() {
                    Verdict::Pass
                } else {
                    fail(wrong.join("; "))
                }
            }
        },
    }
}

fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    truncate(line, 200)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}…")
}

fn short(v: &Value) -> String {
    truncate(&v.to_string(), 160)
}

fn preview(bytes: &[u8]) -> String {
    truncate(&String::from_utf8_lossy(bytes), 160)
}

/// Loads a tool component and checks it is one (it exports `hyper:research/tool`).
pub fn load_tool(runtime: &Runtime, bytes: &[u8]) -> Result<Tool, ForgeError> {
    load_tool_with(runtime, bytes, LoadOptions::default())
}

/// [`load_tool`] with optional grants (inert sockets for language runtimes that import them).
pub fn load_tool_with(
    runtime: &Runtime,
    bytes: &[u8],
    options: LoadOptions,
) -> Result<Tool, ForgeError> {
    Tool::load_with(runtime, bytes, options).map_err(|f| ForgeError::Tool(f.reason))
}

/// Runs `tool` on every case of `task` and scores it.
pub fn test_tool(
    tool: &Tool,
    task: &Task,
    options: &ForgeOptions,
) -> Result<ForgeReport, ForgeError> {
    let policy = options.budget.policy();
    let info = tool
        .describe(&policy)
        .map_err(|f| ForgeError::Tool(format!("describe() failed: {}", f.reason)))?;
    if info.task != task.name && !options.any_task {
        return Err(ForgeError::WrongTask {
            declared: info.task,
            task: task.name.to_string(),
        });
    }
    let suite_hash = task.suite_hash().to_string();
    let cases: Vec<&Case> = task
        .cases()
        .iter()
        .filter(|c| options.filter.as_deref().is_none_or(|f| c.id.contains(f)))
        .collect();
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64);
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    // Each worker takes the next case and keeps (index, result); merged in case order after.
    let mut indexed: Vec<(usize, CaseResult)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(case) = cases.get(i) else { break };
                        let start = Instant::now();
                        let (outcome, _report) = tool.call(&policy, &case.input);
                        let micros = start.elapsed().as_micros() as u64;
                        let verdict = judge(&case.expected, &outcome);
                        mine.push((
                            i,
                            CaseResult {
                                id: case.id.clone(),
                                verdict,
                                micros,
                            },
                        ));
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if let Some(progress) = &options.progress {
                            progress(n, cases.len());
                        }
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    indexed.sort_by_key(|(i, _)| *i);
    let cases: Vec<CaseResult> = indexed.into_iter().map(|(_, r)| r).collect();
    let count = |f: &dyn Fn(&Verdict) -> bool| cases.iter().filter(|c| f(&c.verdict)).count();
    let passed = count(&|v| matches!(v, Verdict::Pass));
    let failed = count(&|v| matches!(v, Verdict::Fail { .. }));
    let info_accepted = count(&|v| matches!(v, Verdict::Info { accepted: true }));
    let info_refused = count(&|v| matches!(v, Verdict::Info { accepted: false }));
    let scored = passed + failed;
    Ok(ForgeReport {
        task: task.name.clone(),
        tool_name: info.name,
        tool_version: info.version,
        tool_hash: tool.hash().to_string(),
        suite_hash,
        passed,
        failed,
        info_accepted,
        info_refused,
        pass_rate: if scored == 0 {
            0.0
        } else {
            passed as f64 / scored as f64
        },
        tool_secs: cases.iter().map(|c| c.micros).sum::<u64>() as f64 / 1e6,
        cases,
    })
}

/// The journal domain a task's results are kept under (`hyper results forge-json-parse`).
pub fn journal_domain(task: &str) -> String {
    format!("forge-{task}")
}

fn tool_secs(r: &Record) -> f64 {
    r.metrics
        .get("tool_secs")
        .and_then(Value::as_f64)
        .unwrap_or(f64::INFINITY)
}

/// The task's leaderboard from the journal: each tool's best result on the current suite,
/// higher pass rate first, ties broken by less time.
pub fn board(journal: &Journal, task: &Task) -> Result<Vec<Record>, ForgeError> {
    board_on(journal, task, task.suite_hash()).map_err(|e| ForgeError::Journal(e.to_string()))
}

/// [`board`] for results on the suite with this hash.
fn board_on(
    journal: &Journal,
    task: &Task,
    suite_hash: &str,
) -> Result<Vec<Record>, hyper_journal::JournalError> {
    let mut best: Vec<Record> = Vec::new();
    for r in journal.list(&journal_domain(&task.name))? {
        if r.evaluator_hash != suite_hash || r.val.is_none() {
            continue;
        }
        match best.iter_mut().find(|b| b.skill_hash == r.skill_hash) {
            Some(b) if ranks_above(&r, b) => *b = r,
            Some(_) => {}
            None => best.push(r),
        }
    }
    best.sort_by(|a, b| {
        if ranks_above(a, b) {
            std::cmp::Ordering::Less
        } else if ranks_above(b, a) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    Ok(best)
}

fn ranks_above(a: &Record, b: &Record) -> bool {
    let (pa, pb) = (a.val.unwrap_or(0.0), b.val.unwrap_or(0.0));
    if pa != pb {
        return pa > pb;
    }
    tool_secs(a) < tool_secs(b)
}

/// Journals a report (transactionally, like every record): `keep` when it tops the task's
/// board, otherwise `discard` naming the tool above it.
pub fn journal_report(
    journal: &mut Journal,
    task: &Task,
    report: &ForgeReport,
    duration: Duration,
) -> Result<Record, hyper_journal::JournalError> {
    let leader = board_on(journal, task, &report.suite_hash)?
        .into_iter()
        .next();
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let id = format!(
        "forge-{}-{}",
        &report.tool_hash[..12.min(report.tool_hash.len())],
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let record = Record {
        seq: 0,
        id: id.clone(),
        run_id: id,
        domain: journal_domain(&task.name),
        skill_name: format!("{}@{}", report.tool_name, report.tool_version),
        skill_hash: report.tool_hash.clone(),
        evaluator_hash: report.suite_hash.clone(),
        params: serde_json::json!({}),
        seed: 0,
        parent: None,
        metric_name: "pass_rate".into(),
        direction: "higher".into(),
        // The suites have no held-out half: every case counts, so both columns agree.
        val: Some(report.pass_rate),
        test: Some(report.pass_rate),
        metrics: serde_json::json!({
            "passed": report.passed,
            "failed": report.failed,
            "info_accepted": report.info_accepted,
            "info_refused": report.info_refused,
            "tool_secs": report.tool_secs,
        }),
        status: Status::Keep,
        reason: None,
        duration_ms: duration.as_millis() as u64,
        peak_memory_bytes: 0,
        platform: hyper_research::platform(),
        started_at: now.clone(),
        finished_at: now,
        // The suite is the data: its hash covers the cases and their expectations.
        data_hash: report.suite_hash.clone(),
        domain_version: "1".into(),
    };
    // Keep when it tops the board (or is the leader's own tool again), else say who is above.
    let record = match leader {
        Some(l) if l.skill_hash != record.skill_hash && !ranks_above(&record, &l) => Record {
            status: Status::Discard,
            reason: Some(format!(
                "below {} ({:.4} in {:.3} s)",
                l.skill_name,
                l.val.unwrap_or(0.0),
                tool_secs(&l)
            )),
            ..record
        },
        _ => record,
    };
    let seq = journal.append(&record)?;
    Ok(Record { seq, ..record })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failure(kind: FailureKind, reason: &str) -> Result<Vec<u8>, Failure> {
        Err(Failure {
            kind,
            reason: reason.into(),
            stderr_tail: None,
        })
    }

    #[test]
    fn a_refusal_is_an_error_value_never_a_crash() {
        let refuse = failure(FailureKind::GuestError, "bad json");
        let hang = failure(FailureKind::Deadline, "ran past its deadline of 2s");
        assert_eq!(judge(&Expected::Reject, &refuse), Verdict::Pass);
        // A tool that hangs on an invalid document has not rejected it.
        assert!(
            matches!(judge(&Expected::Reject, &hang), Verdict::Fail { reason } if reason.starts_with("crashed: ran past"))
        );
        assert!(
            matches!(judge(&Expected::Reject, &Ok(b"1".to_vec())), Verdict::Fail { reason } if reason.contains("accepted, should refuse"))
        );
        assert_eq!(
            judge(&Expected::Either, &refuse),
            Verdict::Info { accepted: false }
        );
        assert_eq!(
            judge(&Expected::Either, &Ok(vec![])),
            Verdict::Info { accepted: true }
        );
        // A crash on an implementation-defined case is still a failure.
        assert!(matches!(
            judge(&Expected::Either, &hang),
            Verdict::Fail { .. }
        ));
    }

    #[test]
    fn outputs_compare_as_json_values() {
        let want = Expected::Output(json!({"a": [1, 2.5, "x"]}));
        assert_eq!(
            judge(&want, &Ok(br#"{ "a" : [1, 2.5e0, "\u0078"] }"#.to_vec())),
            Verdict::Pass
        );
        assert!(
            matches!(judge(&want, &Ok(b"{\"a\":[1]}".to_vec())), Verdict::Fail { reason } if reason.starts_with("expected"))
        );
        assert!(
            matches!(judge(&want, &Ok(b"not json".to_vec())), Verdict::Fail { reason } if reason.starts_with("output is not JSON"))
        );
        // URL cases judge only the fields the suite lists.
        let fields = Expected::Fields(
            json!({"href": "http://a/", "port": ""})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let got = br#"{"href":"http://a/","port":"","extra":1}"#.to_vec();
        assert_eq!(judge(&fields, &Ok(got)), Verdict::Pass);
        let wrong = br#"{"href":"http://b/"}"#.to_vec();
        assert!(
            matches!(judge(&fields, &Ok(wrong)), Verdict::Fail { reason } if reason.contains("port: expected \"\", got nothing"))
        );
    }

    #[test]
    fn html_character_tokens_merge_before_comparing() {
        let want = Expected::Tokens(json!([["Character", "a&b"]]));
        let split = br#"[["Character","a"],["Character","&"],["Character","b"]]"#.to_vec();
        assert_eq!(judge(&want, &Ok(split)), Verdict::Pass);
    }
}
