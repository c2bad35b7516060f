//! The `hyper` binary as a user runs it: end to end on the search domain, export, inspect,
//! bad input, and kill -9 in the middle of a run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hyper_journal::Journal;

fn hyper(home: &Path, args: &[&str]) -> Output {
    hyper_in(home, None, args)
}

/// `hyper` with HYPER_HOME set, run in `cwd` (a user's working directory) when given.
fn hyper_in<S: AsRef<std::ffi::OsStr>>(home: &Path, cwd: Option<&Path>, args: &[S]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hyper"));
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.args(args)
        .env("HYPER_HOME", home)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run hyper")
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = hyper(home, args);
    assert!(
        out.status.success(),
        "hyper {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

#[test]
fn run_results_and_export_agree_with_the_journal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path();
    let summary: serde_json::Value = serde_json::from_str(&ok(
        home,
        &[
            "run",
            "search",
            "--experiments",
            "20",
            "--seed",
            "4",
            "--json",
        ],
    ))
    .expect("json summary");
    assert_eq!(summary["experiments"], 20);
    let baseline = summary["baseline"]["val"].as_f64().expect("baseline val");
    let best = summary["best"]["val"].as_f64().expect("best val");
    assert!(best >= baseline, "best {best} < baseline {baseline}");
    assert!(
        summary["best"]["test"].as_f64().is_some(),
        "test metric reported"
    );

    let journal = Journal::open(home.join("journal.db")).expect("journal");
    let rows = journal.list("search").expect("rows");
    assert_eq!(rows.len(), 20);

    let results: serde_json::Value =
        serde_json::from_str(&ok(home, &["results", "search", "--json"])).expect("results json");
    assert_eq!(results.as_array().map(|a| a.len()), Some(20));
    let table = ok(home, &["results", "search"]);
    assert_eq!(table.lines().count(), 21, "header + 20 rows");

    let tsv = ok(home, &["export", "search", "--format", "tsv"]);
    let lines: Vec<&str> = tsv.lines().collect();
    assert_eq!(lines[0], "commit\tndcg@10\tmemory_gb\tstatus\tdescription");
    assert_eq!(lines.len(), 21);
    for (line, row) in lines[1..].iter().zip(&rows) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "{line}");
        assert_eq!(cols[0], &row.skill_hash[..12]);
        assert_eq!(cols[1], format!("{:.6}", row.val.expect("val")));
        let status = match row.status {
            hyper_journal::Status::Discard
            | hyper_journal::Status::Noise
            | hyper_journal::Status::Confirm => "discard",
            hyper_journal::Status::Crash => "crash",
            _ => "keep",
        };
        assert_eq!(cols[3], status);
    }
    let out = tmp.path().join("results.tsv");
    ok(
        home,
        &[
            "export",
            "search",
            "--format",
            "tsv",
            "--output",
            out.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(std::fs::read_to_string(out).expect("file"), tsv);

    // The report names the same best experiment, and writes its plot beside it.
    let best_id = summary["best"]["id"].as_str().expect("best id");
    let printed = ok(home, &["report", "search"]);
    assert!(
        printed.contains(&format!("`{best_id}`: ndcg@10 **{best:.4}**")),
        "{printed}"
    );
    let report = tmp.path().join("report.md");
    ok(
        home,
        &[
            "report",
            "search",
            "--out",
            report.to_str().expect("utf-8 path"),
        ],
    );
    let text = std::fs::read_to_string(&report).expect("report");
    assert!(
        text.contains("![ndcg@10 over experiments](report.svg)"),
        "{text}"
    );
    let svg = std::fs::read_to_string(tmp.path().join("report.svg")).expect("plot");
    assert!(
        svg.starts_with("<svg") && svg.matches("<circle").count() >= 20,
        "{svg}"
    );
}

#[test]
fn run_for_a_time_budget() {
    let tmp = tempfile::tempdir().expect("tmp");
    let start = Instant::now();
    let summary: serde_json::Value = serde_json::from_str(&ok(
        tmp.path(),
        &["run", "search", "--time", "2s", "--json"],
    ))
    .expect("json");
    let n = summary["experiments"].as_u64().expect("count");
    assert!(n >= 1, "{summary}");
    // The budget stops new experiments; the one running finishes (a few hundred ms here).
    assert!(start.elapsed() < Duration::from_secs(60));
    let domains = ok(tmp.path(), &["domains"]);
    for name in [
        "search",
        "ml",
        "ml-scitldr",
        "finance",
        "finance-industries",
        "cisi",
        "tldr",
    ] {
        assert!(
            domains
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{domains}"
        );
    }
}

#[test]
fn inspect_shows_world_imports_and_refusals() {
    let tmp = tempfile::tempdir().expect("tmp");
    let text = ok(
        tmp.path(),
        &["skill", "inspect", hyper_guests::fixtures::HOSTILE_SOCKETS],
    );
    assert!(
        text.contains("REFUSE") && text.contains("wasi:sockets/"),
        "{text}"
    );
    assert!(text.contains("verdict   refused"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&ok(
        tmp.path(),
        &[
            "skill",
            "inspect",
            "--json",
            hyper_guests::fixtures::SEARCH_BM25,
        ],
    ))
    .expect("json");
    assert_eq!(json["world"], "research-skill");
    assert_eq!(json["api_version"], "0.1.0");
    assert!(json["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .all(|i| i[1]["verdict"] == "granted"));
}

#[test]
fn bad_input_gets_a_clear_error_not_a_panic() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "nosuch"], "no domain `nosuch`"),
        (
            &["run", "search", "--skill", "/nonexistent.wasm"],
            "reading /nonexistent.wasm",
        ),
        (
            &["run", "search", "--skill", "/etc/hostname"],
            "not a WebAssembly file",
        ),
        (
            &[
                "run",
                "search",
                "--skill",
                hyper_guests::fixtures::HOSTILE_SOCKETS,
            ],
            "refused import `wasi:sockets/",
        ),
        (&["run", "search", "--experiments", "0"], "at least 1"),
        (
            &["node", "--verify-share", "2"],
            "--verify-share must be between 0 and 1",
        ),
        (
            &["node", "--verify-share", "NaN"],
            "--verify-share must be between 0 and 1",
        ),
        (
            &["replay", "nosuch-id"],
            "no experiment `nosuch-id` in this journal",
        ),
        (&["replay", "a\u{1b}[2Jb"], "is not an experiment id"),
        (&["replay", "someone/else"], "no result `someone/else`"),
        (&["run", "search", "--experiments", "many"], "invalid value"),
        (&["run", "search", "--time", "soon"], "invalid value"),
        (
            &["skill", "inspect", "/etc/hostname"],
            "not a WebAssembly file",
        ),
        (&["node", "--listen", "nowhere"], "is not a multiaddr"),
        (
            &["hypothesize", "search", "--set", "k1"],
            "is not NAME=VALUE",
        ),
        (&["peers"], "no node is running"),
        (
            &["forge", "test", "forge-json", "--task", "yaml-parse"],
            "no forge task `yaml-parse`",
        ),
        (
            &["forge", "test", "/etc/hostname", "--task", "json-parse"],
            "the tool cannot be loaded",
        ),
        (
            &[
                "forge",
                "test",
                "forge-json",
                "--task",
                "json-parse",
                "--case-secs",
                "0",
            ],
            "--case-secs must be above 0",
        ),
        (
            &["forge", "board", "--task", "nope"],
            "no forge task `nope`",
        ),
    ];
    for (args, words) in cases {
        let out = hyper(home, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    }
    std::fs::write(home.join("node.toml"), "listen = 4001\n").expect("write");
    let out = hyper(home, &["node", "--no-research"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("node.toml"),
        "{stderr}"
    );
}

fn journal_count(home: &Path) -> u64 {
    if !home.join("journal.db").exists() {
        return 0;
    }
    Journal::open(home.join("journal.db"))
        .and_then(|j| j.count("search"))
        .unwrap_or(0)
}

#[test]
fn kill_dash_nine_loses_no_committed_experiment() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path();
    // Kill at several points: early (during setup or the first experiment) and mid-run.
    let mut committed_before_kill = 0;
    for (i, wait_for_rows) in [0u64, 3, 6].into_iter().enumerate() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hyper"))
            .args([
                "run",
                "search",
                "--experiments",
                "1000",
                "--seed",
                &i.to_string(),
            ])
            .env("HYPER_HOME", home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let start = Instant::now();
        let target = committed_before_kill + wait_for_rows;
        if wait_for_rows == 0 {
            std::thread::sleep(Duration::from_millis(150));
        } else {
            while journal_count(home) < target {
                assert!(start.elapsed() < Duration::from_secs(120), "no progress");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let seen = journal_count(home);
        child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
        child.wait().expect("reap");
        let journal =
            Journal::open(home.join("journal.db")).expect("journal reopens after kill -9");
        assert_eq!(journal.integrity_check().expect("check"), "ok");
        let after = journal.count("search").expect("count");
        assert!(
            after >= seen,
            "lost committed rows: saw {seen}, now {after}"
        );
        committed_before_kill = after;
    }
    assert!(committed_before_kill >= 9);
    // The next run continues from what was committed.
    let out = hyper(home, &["run", "search", "--experiments", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("resuming from best"));
    assert_eq!(journal_count(home), committed_before_kill + 3);
}

/// Packs the official BM25 component as skill `name@version` into `file` (signed by `home`'s
/// key); returns the package hash.
fn pack_bm25(home: &Path, tmp: &Path, name: &str, version: &str, file: &Path) -> String {
    let src = tmp.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).expect("src");
    std::fs::copy(hyper_guests::fixtures::SEARCH_BM25, src.join("skill.wasm")).expect("copy");
    std::fs::write(
        src.join("hyper-skill.toml"),
        format!("name = \"{name}\"\nversion = \"{version}\"\ndescription = \"BM25, packed by a test\"\ndomains = [\"search\"]\ncomponent = \"skill.wasm\"\n"),
    )
    .expect("manifest");
    let packed: serde_json::Value = serde_json::from_str(&ok(
        home,
        &[
            "skill",
            "pack",
            src.to_str().expect("utf-8"),
            "-o",
            file.to_str().expect("utf-8"),
            "--json",
        ],
    ))
    .expect("json");
    packed["hash"].as_str().expect("hash").to_string()
}

#[test]
fn skill_lifecycle_pack_publish_install_run_remove() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let file = tmp.path().join("my.hskill");
    let hash = pack_bm25(&home, tmp.path(), "my-bm25", "0.3.0", &file);
    ok(&home, &["skill", "publish", file.to_str().expect("utf-8")]);

    // No terminal and no --yes: refused, nothing installed.
    let out = hyper(&home, &["skill", "install", "my-bm25"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ok(&home, &["skill", "list"]).contains("no skills installed"));

    let installed: serde_json::Value = serde_json::from_str(&ok(
        &home,
        &["skill", "install", "my-bm25", "--yes", "--json"],
    ))
    .expect("json");
    assert_eq!(installed["installed"]["hash"], hash.as_str());
    let list: serde_json::Value =
        serde_json::from_str(&ok(&home, &["skill", "list", "--json"])).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert!(ok(
        &home,
        &["skill", "info", &format!("sha256:{}", &hash[..10])]
    )
    .contains("my-bm25"));
    assert!(ok(&home, &["skill", "verify"]).starts_with("ok"));
    let summary: serde_json::Value = serde_json::from_str(&ok(
        &home,
        &[
            "run",
            "search",
            "--skill",
            "my-bm25@0.3.0",
            "-n",
            "2",
            "--json",
        ],
    ))
    .expect("json");
    assert_eq!(summary["skill"], "search-bm25");
    assert!(summary["best"]["val"].as_f64().is_some());
    ok(&home, &["skill", "remove", "my-bm25"]);
    assert!(ok(&home, &["skill", "list"]).contains("no skills installed"));

    // Someone else's package: refused unless trusted or explicitly allowed.
    let other = tmp.path().join("other-home");
    let out = hyper(
        &other,
        &["skill", "install", file.to_str().expect("utf-8"), "--yes"],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not trusted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key: serde_json::Value =
        serde_json::from_str(&ok(&home, &["identity", "--json"])).expect("json");
    ok(
        &other,
        &[
            "trust",
            "add",
            key["public_key"].as_str().expect("key"),
            "--name",
            "first home",
        ],
    );
    ok(
        &other,
        &["skill", "install", file.to_str().expect("utf-8"), "--yes"],
    );
}

/// `hyper skill build` (sharing the build script's guest target dir, so std is not rebuilt),
/// then `pack` into `package` and `install --yes`.
fn build_pack_install(home: &Path, dir: &Path, package: &Path) {
    let dir_s = dir.to_str().expect("utf-8");
    let out = Command::new(env!("CARGO_BIN_EXE_hyper"))
        .args(["skill", "build", dir_s])
        .env("HYPER_HOME", home)
        .env("HYPER_GUEST_TARGET_DIR", hyper_guests::GUEST_TARGET_DIR)
        .output()
        .expect("build");
    assert!(
        out.status.success(),
        "build of {dir_s} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let package_s = package.to_str().expect("utf-8");
    ok(home, &["skill", "pack", dir_s, "-o", package_s]);
    ok(home, &["skill", "install", package_s, "--yes"]);
}

/// `hyper skill new` → `build` → `pack` → `install` → `run`, in every supported language.
/// Rust, C and Python templates implement the same ranking, so they must score the same.
#[test]
fn a_skill_in_every_language_from_its_template() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let mut scores = std::collections::BTreeMap::new();
    for lang in ["rust", "c", "python", "js"] {
        let name = format!("demo-{lang}");
        let dir = tmp.path().join(&name);
        let dir_s = dir.to_str().expect("utf-8").to_string();
        ok(
            &home,
            &[
                "skill", "new", &name, "--lang", lang, "--domain", "search", "--dir", &dir_s,
            ],
        );
        build_pack_install(&home, &dir, &tmp.path().join(format!("{name}.hskill")));
        let summary: serde_json::Value = serde_json::from_str(&ok(
            &home,
            &["run", "search", "--skill", &name, "-n", "2", "--json"],
        ))
        .expect("json");
        assert_eq!(summary["skill"], name.as_str(), "{summary}");
        assert_eq!(summary["crashed"], 0, "{lang}: {summary}");
        let val = summary["best"]["val"].as_f64().expect("scored");
        assert!(val > 0.0 && val < 0.1, "{lang}: {val}");
        scores.insert(lang, val);
    }
    assert_eq!(scores["rust"], scores["c"], "{scores:?}");
    assert_eq!(scores["rust"], scores["python"], "{scores:?}");
    let list = ok(&home, &["skill", "list"]);
    assert_eq!(list.lines().count(), 4, "{list}");
}

/// A static file server on loopback for `dir`, for at most `max_requests` requests. `/huge`
/// streams zeros forever (until the client hangs up) to test the download limit.
fn serve_static(dir: std::path::PathBuf, max_requests: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            if path == "huge" {
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\nConnection: close\r\n\r\n",
                );
                let zeros = vec![0u8; 1 << 20];
                while stream.write_all(&zeros).is_ok() {}
                continue;
            }
            let file = (!path.contains(".."))
                .then(|| dir.join(&path))
                .filter(|p| p.is_file());
            match file.and_then(|f| std::fs::read(f).ok()) {
                Some(body) => {
                    let _ = stream.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    );
                    let _ = stream.write_all(&body);
                }
                None => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    base
}

#[test]
fn install_from_an_index_and_a_url_over_http() {
    let tmp = tempfile::tempdir().expect("tmp");
    let publisher = tmp.path().join("publisher");
    let file = tmp.path().join("web.hskill");
    let hash = pack_bm25(&publisher, tmp.path(), "web-bm25", "1.0.0", &file);
    let index_dir = tmp.path().join("index");
    ok(
        &publisher,
        &[
            "skill",
            "publish",
            file.to_str().expect("utf-8"),
            "--index",
            index_dir.to_str().expect("utf-8"),
        ],
    );
    let base = serve_static(index_dir, 16);

    let user = tmp.path().join("user");
    let installed: serde_json::Value = serde_json::from_str(&ok(
        &user,
        &[
            "skill",
            "install",
            "web-bm25@1.0.0",
            "--index",
            &base,
            "--yes",
            "--allow-unknown-publisher",
            "--json",
        ],
    ))
    .expect("json");
    assert_eq!(installed["installed"]["hash"], hash.as_str());
    ok(&user, &["skill", "remove", "web-bm25"]);
    let url = format!("{base}/packages/{hash}.hskill");
    ok(
        &user,
        &[
            "skill",
            "install",
            &url,
            "--yes",
            "--allow-unknown-publisher",
        ],
    );
    assert!(ok(&user, &["skill", "list"]).contains("web-bm25"));

    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "skill",
                "install",
                "no-such-skill",
                "--index",
                &base,
                "--yes",
            ],
            "is not in the index",
        ),
        (
            &[
                "skill",
                "install",
                &format!("{base}/nothing.hskill"),
                "--yes",
            ],
            "HTTP 404",
        ),
        (
            &["skill", "install", &format!("{base}/huge"), "--yes"],
            "more than the limit",
        ),
    ];
    for (args, words) in cases {
        let out = hyper(&user, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(words),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_tool_skill_from_its_template() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let dir = tmp.path().join("echo");
    let dir_s = dir.to_str().expect("utf-8");
    ok(
        &home,
        &[
            "skill",
            "new",
            "json-echo",
            "--task",
            "json-parse",
            "--dir",
            dir_s,
        ],
    );
    build_pack_install(&home, &dir, &tmp.path().join("echo.hskill"));
    let info: serde_json::Value =
        serde_json::from_str(&ok(&home, &["skill", "info", "json-echo", "--json"])).expect("json");
    assert_eq!(info["manifest"]["world"], "tool-skill");
    assert_eq!(info["manifest"]["task"], "json-parse");
    // The forge domain will call it like this.
    let runtime =
        hyper_runtime::Runtime::new(hyper_runtime::RuntimeConfig::default()).expect("runtime");
    let tool = hyper_runtime::Tool::load(
        &runtime,
        &std::fs::read(dir.join("target/json-echo.wasm")).expect("component"),
    )
    .expect("tool");
    let policy = hyper_runtime::SandboxPolicy {
        data_dir: None,
        ..Default::default()
    };
    assert_eq!(tool.describe(&policy).expect("describe").task, "json-parse");
    assert_eq!(
        tool.call(&policy, br#"{"a": [1, 2]}"#).0.expect("call"),
        br#"{"a": [1, 2]}"#
    );
    // The forge runs the installed echo tool on the JSON suite: echoing accepts every y_
    // document with its own value, and wrongly accepts every n_ one.
    let report: serde_json::Value = serde_json::from_str(&ok(
        &home,
        &[
            "forge",
            "test",
            "json-echo",
            "--task",
            "json-parse",
            "--json",
        ],
    ))
    .expect("json");
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(95), Some(188))
    );
    assert_eq!(report["tool_name"], "json-echo");
    let failures = report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .collect::<Vec<_>>();
    assert!(failures
        .iter()
        .all(|c| c["id"].as_str().is_some_and(|id| id.starts_with("n_"))
            && c["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("accepted, should refuse"))));
    // The official tool tops the task's board; the echo tool is below it.
    let text = ok(
        &home,
        &["forge", "test", "forge-json", "--task", "json-parse"],
    );
    assert!(text.contains("283/283 passed (100.00%)"), "{text}");
    assert!(text.contains("5 accepted, 30 refused"), "{text}");
    let board = ok(&home, &["forge", "board", "--task", "json-parse"]);
    let lines: Vec<&str> = board.lines().collect();
    assert!(
        lines[0].contains("forge-json@0.1.0") && lines[0].contains("1.0000"),
        "{board}"
    );
    assert!(
        lines[1].contains("json-echo@0.1.0") && lines[1].contains("0.3357"),
        "{board}"
    );
    // Per-case failures, printed one per line.
    let text = ok(
        &home,
        &[
            "forge",
            "test",
            "forge-url",
            "--task",
            "url-parse",
            "--show",
            "3",
        ],
    );
    assert!(
        text.contains("passed") && text.lines().filter(|l| l.starts_with("FAIL ")).count() == 3,
        "{text}"
    );
    let tasks: serde_json::Value =
        serde_json::from_str(&ok(&home, &["forge", "tasks", "--json"])).expect("json");
    assert_eq!(tasks.as_array().map(Vec::len), Some(5));
}

/// Two `hyper node` processes on loopback: each researches, both boards end up with every
/// result of both, `peers`/`status` answer, and after the nodes stop the saved board remains.
#[test]
fn two_node_processes_share_their_results() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (home_a, home_b) = (tmp.path().join("a"), tmp.path().join("b"));
    // Baseline, two noise runs, two proposals each.
    let research = ["--experiments", "5", "--rounds", "1"];
    let (mut a, addr) = spawn_node(&home_a, &research);
    let (mut b, _) = spawn_node(
        &home_b,
        &[&research[..], &["--bootstrap", addr.as_str()]].concat(),
    );
    // Every result (--all): the verified board waits for each node's replays.
    let board = |home: &Path| -> Option<serde_json::Value> {
        let out = hyper(home, &["leaderboard", "search", "--all", "--json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    };
    let start = Instant::now();
    loop {
        let (x, y) = (board(&home_a), board(&home_b));
        if let (Some(x), Some(y)) = (&x, &y) {
            if x["results"] == 10 && y["results"] == 10 {
                assert_eq!(x["global_best"]["record"], y["global_best"]["record"]);
                assert_eq!(x["best_per_peer"].as_array().map(Vec::len), Some(2));
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "boards did not converge: {x:?} {y:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let peers: serde_json::Value =
        serde_json::from_str(&ok(&home_b, &["peers", "--json"])).expect("json");
    assert_eq!(peers["peers"].as_array().map(Vec::len), Some(1));
    let status: serde_json::Value =
        serde_json::from_str(&ok(&home_a, &["status", "--json"])).expect("json");
    assert!(
        status["stats"]["accepted"].as_u64().unwrap_or(0)
            + status["stats"]["sync_imports"].as_u64().unwrap_or(0)
            > 0
    );
    // The diversity signal of the loop's last proposal (its own two results at least), in
    // `status` and with the leaderboard.
    let d = &status["diversity"]["search"];
    assert!(d["results"].as_u64().unwrap_or(0) >= 2, "{status}");
    assert!(
        (0.0..=1.0).contains(&d["coverage"].as_f64().unwrap_or(-1.0)),
        "{status}"
    );
    let text = ok(&home_a, &["status"]);
    assert!(
        text.contains("diversity search: ") && text.contains("coverage"),
        "{text}"
    );
    let text = ok(&home_a, &["leaderboard", "search", "--all"]);
    assert!(
        text.contains("  diversity: ") && text.contains("near the leader"),
        "{text}"
    );
    // Each node's own journal has only its own experiments.
    assert_eq!(
        Journal::open(home_a.join("journal.db"))
            .and_then(|j| j.count("search"))
            .expect("count"),
        5
    );
    // Stop them (SIGKILL: whatever was saved every 5 s survives) and read the saved board.
    std::thread::sleep(Duration::from_secs(6));
    a.kill().expect("kill a");
    b.kill().expect("kill b");
    let _ = (a.wait(), b.wait());
    let _ = std::fs::remove_file(home_a.join("node.sock"));
    let saved: serde_json::Value =
        serde_json::from_str(&ok(&home_a, &["leaderboard", "search", "--json"])).expect("json");
    assert_eq!(saved["results"], 10);
}

/// With no peers at all, a node researches exactly as `hyper run` does and keeps its board.
#[test]
fn a_node_alone_researches_like_hyper_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path();
    // Listen addresses from the node's config file (TCP and QUIC on loopback).
    std::fs::write(
        home.join("node.toml"),
        "listen = [\"/ip4/127.0.0.1/tcp/0\", \"/ip4/127.0.0.1/udp/0/quic-v1\"]\ndomains = [\"search\"]\n",
    )
    .expect("node.toml");
    let mut node = Command::new(env!("CARGO_BIN_EXE_hyper"))
        .args(["node", "--experiments", "4", "--rounds", "1", "--seed", "4"])
        .env("HYPER_HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        let out = hyper(home, &["leaderboard", "search", "--json"]);
        let board: Option<serde_json::Value> = out
            .status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten();
        if board.as_ref().is_some_and(|b| b["results"] == 4) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{board:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    node.kill().expect("kill");
    let _ = node.wait();
    // The same experiments `hyper run search -n 4 --seed 4` with the node's proposer (gp)
    // would have run, in the journal.
    let rows = Journal::open(home.join("journal.db"))
        .and_then(|j| j.list("search"))
        .expect("rows");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].status, hyper_journal::Status::Baseline);
    let other = tempfile::tempdir().expect("tmp");
    ok(
        other.path(),
        &[
            "run",
            "search",
            "-n",
            "4",
            "--seed",
            "4",
            "--proposer",
            "gp",
        ],
    );
    let solo = Journal::open(other.path().join("journal.db"))
        .and_then(|j| j.list("search"))
        .expect("rows");
    let vals = |rs: &[hyper_journal::Record]| {
        rs.iter()
            .map(|r| (r.params.clone(), r.val))
            .collect::<Vec<_>>()
    };
    assert_eq!(vals(&rows), vals(&solo));
}

/// Spawns `hyper node` on loopback TCP for `home` with extra arguments; returns the child and
/// its first listen address (with /p2p/).
fn spawn_node(home: &Path, extra: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_hyper"))
        .args(["node", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .args(extra)
        .env("HYPER_HOME", home)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn node");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("address line");
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("listening line, got {first:?}"))
        .to_string();
    (child, addr)
}

/// How many results a node's board holds (the running node's, or its saved one).
fn board_count(home: &Path) -> Option<u64> {
    let out = hyper(home, &["leaderboard", "search", "--json"]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice::<serde_json::Value>(&out.stdout).ok()?["results"].as_u64()
}

/// A node killed with -9 mid-research restarts with everything it had committed and its peer
/// gets all of it; then skills travel between the two nodes' homes and hypotheses reach the
/// other node.
#[test]
fn a_killed_node_loses_nothing_and_peers_share_skills_and_hypotheses() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (home_a, home_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let (a, addr_a) = spawn_node(&home_a, &["--no-research"]);
    let (mut b, _) = spawn_node(
        &home_b,
        &[
            "--bootstrap",
            &addr_a,
            "--experiments",
            "40",
            "--rounds",
            "1",
        ],
    );
    // Kill -9 as soon as a few experiments are committed (well before the 5 s board save).
    let start = Instant::now();
    while journal_count(&home_b) < 3 {
        assert!(start.elapsed() < Duration::from_secs(60), "B never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    b.kill().expect("kill -9");
    let _ = b.wait();
    let committed = journal_count(&home_b);
    assert!(committed >= 3);
    let _ = std::fs::remove_file(home_b.join("node.sock"));
    let (b, _) = spawn_node(&home_b, &["--bootstrap", &addr_a, "--no-research"]);
    let count = board_count;
    let start = Instant::now();
    while count(&home_b) != Some(committed) || count(&home_a) != Some(committed) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "after restart: B has {:?}, A has {:?}, committed {committed}",
            count(&home_b),
            count(&home_a)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let lb = |home: &Path| -> serde_json::Value {
        serde_json::from_str(&ok(home, &["leaderboard", "search", "--all", "--json"]))
            .expect("json")
    };
    assert_eq!(
        lb(&home_a)["global_best"]["record"],
        lb(&home_b)["global_best"]["record"]
    );

    // A publishes a skill while its node runs: announced; B installs it from the swarm, and
    // every install check still runs (an unknown publisher is refused without the flag).
    let package = tmp.path().join("shared.hskill");
    let hash = pack_bm25(&home_a, tmp.path(), "shared-bm25", "1.0.0", &package);
    let published: serde_json::Value = serde_json::from_str(&ok(
        &home_a,
        &[
            "skill",
            "publish",
            package.to_str().expect("utf-8"),
            "--json",
        ],
    ))
    .expect("json");
    assert_eq!(published["announced"], true);
    let refused = hyper(
        &home_b,
        &["skill", "install", "shared-bm25@1.0.0", "--swarm", "--yes"],
    );
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("publisher"), "{why}");
    let installed: serde_json::Value = serde_json::from_str(&ok(
        &home_b,
        &[
            "skill",
            "install",
            "shared-bm25@1.0.0",
            "--swarm",
            "--yes",
            "--allow-unknown-publisher",
            "--json",
        ],
    ))
    .expect("json");
    assert_eq!(installed["installed"]["hash"], hash.as_str(), "{installed}");
    // Not in B's index, so a plain install also falls back to the swarm.
    ok(&home_b, &["skill", "remove", "shared-bm25", "--json"]);
    ok(
        &home_b,
        &[
            "skill",
            "install",
            "shared-bm25@1.0.0",
            "--yes",
            "--allow-unknown-publisher",
        ],
    );
    let missing = hyper(&home_b, &["skill", "install", "nobody-has@9.0.0", "--yes"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no peer serves"));

    // A hypothesis from B reaches A.
    ok(
        &home_b,
        &[
            "hypothesize",
            "search",
            "--set",
            "stemmer=s",
            "--note",
            "short queries",
        ],
    );
    let start = Instant::now();
    loop {
        let h: serde_json::Value =
            serde_json::from_str(&ok(&home_a, &["hypotheses", "search", "--json"])).expect("json");
        if let Some(first) = h["hypotheses"].as_array().and_then(|l| l.first()) {
            assert_eq!(first["params"], serde_json::json!({ "stemmer": "s" }));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{h}");
        std::thread::sleep(Duration::from_millis(200));
    }
    for mut node in [a, b] {
        node.kill().expect("kill");
        let _ = node.wait();
    }
}

/// A cause from nothing: `domain new` → `domain build` → `domain install` (evaluator checked
/// in the sandbox, pinned) → `run` → `domains`; then the ways an install or a pin can go
/// wrong, each with a clear error.
#[test]
fn a_cause_from_new_to_run_pinned_by_its_evaluator_hash() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let dir = tmp.path().join("arith");
    let dir_s = dir.to_str().expect("utf-8");
    ok(&home, &["domain", "new", "arith", "--dir", dir_s]);
    let out = Command::new(env!("CARGO_BIN_EXE_hyper"))
        .args(["domain", "build", dir_s])
        .env("HYPER_HOME", &home)
        .env("HYPER_GUEST_TARGET_DIR", hyper_guests::GUEST_TARGET_DIR)
        .output()
        .expect("build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not installed yet.
    let out = hyper(&home, &["run", "arith"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no domain `arith`"));
    let installed: serde_json::Value =
        serde_json::from_str(&ok(&home, &["domain", "install", dir_s, "--json"])).expect("json");
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(
        std::fs::read(dir.join("evaluator.wasm")).expect("evaluator"),
    ));
    assert_eq!(installed["evaluator_sha256"], sha.as_str());
    // Only what the manifest names was copied: no sources, no build outputs.
    let target = home.join("domains/arith");
    assert!(target.join("heldout/answers.tsv").is_file());
    assert!(!target.join("evaluator").exists() && !target.join("target").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&ok(&home, &["run", "arith", "-n", "4", "--json"])).expect("json");
    assert_eq!(summary["crashed"], 0, "{summary}");
    assert_eq!(summary["experiments"], 4, "{summary}");
    let domains: serde_json::Value =
        serde_json::from_str(&ok(&home, &["domains", "--json"])).expect("json");
    let row = domains
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["name"] == "arith")
        .expect("listed")
        .clone();
    assert_eq!(
        (row["kind"].as_str(), row["evaluator_sha256"].as_str()),
        (Some("cause"), Some(sha.as_str()))
    );
    assert!(domains
        .as_array()
        .expect("list")
        .iter()
        .any(|d| d["name"] == "tldr" && d["kind"] == "built-in"));

    let fails = |args: &[&str], words: &str| {
        let out = hyper(&home, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    fails(&["domain", "install", dir_s], "already installed");
    ok(&home, &["domain", "install", dir_s, "--force"]);
    // A changed evaluator is refused until reinstalled.
    let installed_evaluator = target.join("evaluator.wasm");
    let mut bytes = std::fs::read(&installed_evaluator).expect("read");
    bytes.extend_from_slice(b"\0");
    std::fs::write(&installed_evaluator, &bytes).expect("tamper");
    fails(
        &["run", "arith", "-n", "1"],
        "changed since it was installed",
    );
    ok(&home, &["domain", "install", dir_s, "--force"]);
    ok(&home, &["run", "arith", "-n", "1"]);
    // The manifest's metric must be what the evaluator scores.
    let manifest = dir.join("hyper-domain.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replace("name = \"accuracy\"", "name = \"f1\""),
    )
    .expect("write");
    fails(
        &["domain", "install", dir_s, "--force"],
        "it scores `accuracy`",
    );
    // An evaluator that is not one (a research skill) is refused before anything is copied.
    std::fs::write(&manifest, &text).expect("restore");
    std::fs::copy(hyper_guests::fixtures::TRIVIAL, dir.join("evaluator.wasm")).expect("copy");
    fails(
        &["domain", "install", dir_s, "--force"],
        "the evaluator is not usable",
    );
    // Built-in names are taken; built-ins cannot be removed; a cause can.
    std::fs::write(
        &manifest,
        text.replace("name = \"arith\"", "name = \"search\""),
    )
    .expect("write");
    fails(&["domain", "install", dir_s], "is a built-in domain");
    fails(&["domain", "remove", "search"], "cannot be removed");
    fails(
        &[
            "domain",
            "new",
            "Bad Name",
            "--dir",
            tmp.path().join("b").to_str().expect("utf-8"),
        ],
        "must start with a-z",
    );
    fails(
        &["domain", "install", tmp.path().to_str().expect("utf-8")],
        "cannot read",
    );
    ok(&home, &["domain", "remove", "arith"]);
    fails(&["run", "arith"], "no domain `arith`");
}

#[test]
fn a_panic_in_a_nodes_research_thread_is_caught_and_shown_in_status() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path();
    std::fs::write(
        home.join("node.toml"),
        "listen = [\"/ip4/127.0.0.1/tcp/0\"]\ndomains = [\"search\"]\n",
    )
    .expect("node.toml");
    let mut node = Command::new(env!("CARGO_BIN_EXE_hyper"))
        .args(["node", "--experiments", "2", "--seed", "4"])
        .env("HYPER_HOME", home)
        .env("HYPER_FAULT_INJECT", "research-panic")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let status = loop {
        let out = hyper(home, &["status", "--json"]);
        let reply: Option<serde_json::Value> = out
            .status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten();
        if let Some(r) = reply.filter(|r| r["research"]["search"]["state"] == "failed") {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never marked failed"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The node itself stays up and answers; the domain restarted 3 times, then gave up.
    assert_eq!(status["research"]["search"]["restarts"], 3, "{status}");
    let error = status["research"]["search"]["last_error"]
        .as_str()
        .unwrap_or("");
    assert!(error.contains("panicked: injected fault"), "{error}");
    let text = hyper(home, &["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("research  search: failed (restarts 3)"),
        "{text}"
    );
    node.kill().expect("kill");
    let _ = node.wait();
}

/// The issue's attack, as a user would mount it: node B runs one experiment, adds an edited
/// row to its own journal (another parameter set, `ndcg@10` 0.97, status keep) and shares
/// it; honest node A researches bootstrapped to B. A never climbs from the fake, replays
/// it, refutes it, and reaches the same best as the same seed alone; `hyper replay` shows
/// both figures.
#[test]
fn a_row_edited_into_a_journal_is_refuted_by_replay_and_never_adopted() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (home_a, home_b, solo) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("solo"),
    );
    ok(&home_b, &["run", "search", "-n", "1", "--seed", "9"]);
    let mut journal = Journal::open(home_b.join("journal.db")).expect("journal");
    let mut fake = journal.list("search").expect("rows")[0].clone();
    fake.id = format!("{}-edited", fake.id);
    fake.params["k1"] = serde_json::json!(0.4);
    fake.val = Some(0.97);
    fake.test = Some(0.97);
    fake.status = hyper_journal::Status::Keep;
    journal.append(&fake).expect("insert the edited row");
    drop(journal);
    let (mut b, addr_b) = spawn_node(&home_b, &["--no-research"]);
    let b_id = addr_b.rsplit('/').next().expect("peer id").to_string();
    let fake_key = format!("{b_id}/{}", fake.id);
    let (mut a, _) = spawn_node(
        &home_a,
        &[
            "--experiments",
            "15",
            "--rounds",
            "1",
            "--adopt-every",
            "5",
            "--seed",
            "5",
            "--bootstrap",
            addr_b.as_str(),
        ],
    );
    let start = Instant::now();
    let refuted = loop {
        let out = hyper(&home_a, &["leaderboard", "search", "--all", "--json"]);
        let board: Option<serde_json::Value> = out
            .status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten();
        let done = Journal::open(home_a.join("journal.db"))
            .and_then(|j| j.count("search"))
            .unwrap_or(0)
            == 15;
        let b_entry = board.as_ref().and_then(|b| {
            b["best_per_peer"]
                .as_array()?
                .iter()
                .find(|e| e["record"]["author"] == b_id.as_str())
                .cloned()
        });
        if done && b_entry.as_ref().is_some_and(|e| e["status"] == "refuted") {
            break b_entry;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "not refuted in time: {board:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let refuted = refuted.expect("entry");
    assert_eq!(refuted["record"]["id"], fake.id.as_str());
    assert_eq!(refuted["reputation"]["refuted"], 1);
    // The verified board (the default) does not list it.
    let verified: serde_json::Value =
        serde_json::from_str(&ok(&home_a, &["leaderboard", "search", "--json"])).expect("json");
    assert!(verified["best_per_peer"]
        .as_array()
        .expect("entries")
        .iter()
        .all(|e| e["record"]["id"] != fake.id.as_str() && e["status"] == "verified"));
    // `hyper status` counts it.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&home_a, &["status", "--json"])).expect("json");
    assert!(status["verification"]["domains"]["search"]["counts"]["refuted"].as_u64() >= Some(1));
    assert!(status["verification"]["compute"]["replays"].as_u64() >= Some(1));
    // `hyper replay` says why, with both figures, and exits 2.
    let out = hyper(&home_a, &["replay", &fake_key]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("DISAGREES") && text.contains("0.970000"),
        "{text}"
    );
    a.kill().expect("kill a");
    b.kill().expect("kill b");
    let _ = (a.wait(), b.wait());
    // A never climbed from the fake and reached what the same seed reaches alone.
    let rows = Journal::open(home_a.join("journal.db"))
        .and_then(|j| j.list("search"))
        .expect("rows");
    assert!(rows
        .iter()
        .all(|r| r.parent.as_deref() != Some(fake_key.as_str())));
    // The node's proposer (gp) alone: had A learnt from B's results, its history (and so
    // its proposals) would differ.
    ok(
        &solo,
        &[
            "run",
            "search",
            "-n",
            "15",
            "--seed",
            "5",
            "--proposer",
            "gp",
        ],
    );
    let best = |rows: &[hyper_journal::Record]| {
        rows.iter()
            .filter(|r| {
                matches!(
                    r.status,
                    hyper_journal::Status::Keep | hyper_journal::Status::Baseline
                )
            })
            .filter_map(|r| r.val)
            .fold(f64::MIN, f64::max)
    };
    let solo_rows = Journal::open(solo.join("journal.db"))
        .and_then(|j| j.list("search"))
        .expect("rows");
    assert_eq!(best(&rows), best(&solo_rows));
    // One's own result replays to the same bits.
    let own = rows.last().expect("row").id.clone();
    let out = hyper(&home_a, &["replay", &own, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(replay["verdict"], "agree");
    assert_eq!(replay["replay"]["val"], replay["reported"]["val"]);
}

/// `git` as a user would run it on the archive (the machine's git, not libgit2).
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A home with `experiments` search results (seed `seed`) and an empty bare repository
/// beside it to archive to.
fn researched_home_and_remote(tmp: &Path, experiments: u32, seed: u64) -> (PathBuf, PathBuf) {
    let home = tmp.join("home");
    let (n, seed) = (experiments.to_string(), seed.to_string());
    ok(
        &home,
        &["run", "search", "--experiments", &n, "--seed", &seed],
    );
    let remote = tmp.join("archive.git");
    git(
        tmp,
        &["init", "--bare", "-q", remote.to_str().expect("utf-8")],
    );
    (home, remote)
}

#[test]
fn snapshot_and_an_archive_killed_with_dash_nine_complete_without_duplicates() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (home, remote) = researched_home_and_remote(tmp.path(), 4, 3);
    // The snapshot, offline (no node): this journal's results on the saved boards.
    let out = tmp.path().join("snap.json");
    ok(&home, &["snapshot", "--out", out.to_str().expect("utf-8")]);
    let snap: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("snapshot file")).expect("json");
    assert_eq!(snap["version"], 2);
    assert_eq!(snap["summary"]["experiments"], 4, "{snap:#}");
    assert_eq!(
        snap["leaderboards"]["search"]["globalBest"]["verification"],
        "verified"
    );

    let url = remote.to_str().expect("utf-8");
    // Killed at several points (while starting, fetching, committing or pushing) ...
    for delay_ms in [5u64, 40, 80, 120, 160, 240, 320] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hyper"))
            .args(["archive", "--remote", url])
            .env("HYPER_HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
    // ... the next run completes it, and one more finds nothing to do.
    let done: serde_json::Value =
        serde_json::from_str(&ok(&home, &["archive", "--remote", url, "--json"])).expect("json");
    let again: serde_json::Value =
        serde_json::from_str(&ok(&home, &["archive", "--remote", url, "--json"])).expect("json");
    assert_eq!(
        (
            again["new_runs"].as_u64(),
            again["pushed"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0)),
        "{again}"
    );
    let branches = git(&remote, &["branch", "--list"]);
    let agent_branch = branches
        .lines()
        .map(|l| l.trim_start_matches(['*', ' ']).to_string())
        .find(|b| b.starts_with("agents/") && b.ends_with("/search"))
        .unwrap_or_else(|| panic!("no agent branch in {branches} (last run: {done})"));
    let clone = tmp.path().join("clone");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--branch",
            &agent_branch,
            url,
            clone.to_str().expect("utf-8"),
        ],
    );
    let runs: Vec<String> = std::fs::read_dir(&clone)
        .expect("clone")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("run-") && n.ends_with(".json"))
        .collect();
    assert_eq!(runs.len(), 4, "each experiment once: {runs:?}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(clone.join("index.json")).expect("index"))
            .expect("json");
    assert_eq!(index.as_object().map(|o| o.len()), Some(4));
    let journal = std::fs::read_to_string(clone.join("JOURNAL.md")).expect("JOURNAL.md");
    assert!(journal.contains("| [0004](run-0004.md)"), "{journal}");
    assert!(git(&remote, &["branch", "--list", "snapshot"]).contains("snapshot"));
}

/// Kills a spawned node when the test ends, even when an assertion fails first (a node left
/// running would outlive the test and keep its port).
struct NodeProcess(std::process::Child);

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP GET on loopback without a client crate: the dashboard's body, or the error.
fn http_get(url: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("not http")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    let (head, body) = reply.split_once("\r\n\r\n").ok_or("no header end")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.lines().next().unwrap_or("").to_string());
    }
    Ok(body.to_string())
}

/// Polls `check` until it returns Some, for at most `limit`; the last failure explains a timeout.
fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return value,
            Err(last) if start.elapsed() > limit => panic!("{what}: not after {limit:?}: {last}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// A running node serves its dashboard (`--dashboard`, and `hyper dashboard` asks it rather
/// than starting another server), answers `hyper snapshot`, and pushes its archive on the
/// schedule of `--archive-every` without being asked.
#[test]
fn a_node_serves_its_dashboard_its_snapshot_and_pushes_its_archive_on_schedule() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (home, remote) = researched_home_and_remote(tmp.path(), 3, 5);
    let url = remote.to_str().expect("utf-8");
    let (child, _) = spawn_node(
        &home,
        &[
            "--no-research",
            "--dashboard",
            "127.0.0.1:0",
            "--archive",
            url,
            "--archive-every",
            "10s",
        ],
    );
    let _node = NodeProcess(child);
    let started = Instant::now();

    let reply: serde_json::Value = eventually(Duration::from_secs(30), "hyper dashboard", || {
        let out = hyper(&home, &["dashboard", "--json"]);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    });
    assert!(
        reply.get("offline").is_none(),
        "served by the node, not offline: {reply}"
    );
    let dashboard = reply["url"].as_str().expect("url").to_string();
    let overview: serde_json::Value = eventually(
        Duration::from_secs(30),
        "the overview lists 3 results",
        || {
            let body = http_get(&format!("{dashboard}api/overview"))?;
            let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let results = v["domains"][0]["results"].as_u64();
            (results == Some(3))
                .then_some(v.clone())
                .ok_or(format!("{v}"))
        },
    );
    assert_eq!(overview["domains"][0]["domain"], "search", "{overview}");
    // Asked again with another address: the same server (one per node).
    let again: serde_json::Value = serde_json::from_str(&ok(
        &home,
        &["dashboard", "--addr", "127.0.0.1:0", "--json"],
    ))
    .expect("json");
    assert_eq!(again["url"].as_str(), Some(dashboard.as_str()));

    let snap: serde_json::Value =
        serde_json::from_str(&ok(&home, &["snapshot"])).expect("snapshot json");
    assert_eq!(snap["summary"]["experiments"], 3, "{snap:#}");

    // Nobody asked for the archive: the schedule pushes it (first push after one period).
    let branches = eventually(Duration::from_secs(60), "the scheduled archive", || {
        let list = git(&remote, &["branch", "--list"]);
        (list.contains("agents/") && list.contains("snapshot"))
            .then_some(list.clone())
            .ok_or(list)
    });
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "pushed before its period: {branches}"
    );
}

/// The command after `next: ` in what hyper printed, split as a shell would.
fn printed_next(out: &Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.split_once("next: ").map(|(_, n)| n.to_string()))
        .unwrap_or_else(|| panic!("no next step in {text:?}"));
    let words = shlex::split(&line).expect("a shell command");
    assert_eq!(words[0], "hyper", "{line}");
    words[1..].to_vec()
}

/// A new author's first commands, typed as printed: `skill new` in their working directory
/// says what to run next, that build works with the relative path it printed, and the build
/// prints the next step (`hyper try …`), which runs the skill on its domain.
#[test]
fn printed_next_steps_work_as_printed_in_every_language() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    for lang in ["c", "python", "js"] {
        let args: Vec<String> = ["skill", "new", &format!("first-{lang}"), "--lang", lang]
            .map(String::from)
            .to_vec();
        let created = hyper_in(&home, Some(&work), &args);
        assert!(created.status.success(), "{lang}: {created:?}");
        let build = printed_next(&created);
        assert_eq!(build[..2], ["skill", "build"], "{lang}");
        assert!(Path::new(&build[2]).is_relative(), "{build:?}");
        let built = hyper_in(&home, Some(&work), &build);
        assert!(
            built.status.success(),
            "{lang}: {build:?} failed: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        let try_it = printed_next(&built);
        assert_eq!(try_it[0], "try", "{lang}: {try_it:?}");
        let tried = hyper_in(&home, Some(&work), &try_it);
        let text = String::from_utf8_lossy(&tried.stdout);
        assert!(
            tried.status.success() && text.contains("ndcg@10 0."),
            "{lang}: {try_it:?}: {text} {}",
            String::from_utf8_lossy(&tried.stderr)
        );
    }
}

/// A guest that does not compile: the compiler's own error (file, line, message), which
/// tool failed, and the command to run it by hand — not the tail of a trace.
#[test]
fn a_build_failure_shows_the_compilers_first_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let dir = tmp.path().join("broken");
    let dir_s = dir.to_str().expect("utf-8");
    ok(
        &home,
        &["skill", "new", "broken", "--lang", "c", "--dir", dir_s],
    );
    let source = std::fs::read_to_string(dir.join("skill.c")).expect("skill.c");
    let (line, _) = source
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("return x->id - y->id;"))
        .expect("the template's comparison");
    std::fs::write(
        dir.join("skill.c"),
        source.replace("return x->id - y->id;", "return x->id - y->id +;"),
    )
    .expect("write");
    let out = hyper(&home, &["skill", "build", dir_s]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(said.contains("clang failed"), "{said}");
    assert!(
        said.contains(&format!("skill.c:{}:", line + 1))
            && said.contains("error: expected expression"),
        "{said}"
    );
    assert!(said.contains("to run it by hand: cd "), "{said}");
    assert!(said.lines().count() < 10, "short: {said}");
}

/// `hyper try`: one experiment with hand-set parameters, scored on validation, the artifact
/// kept, nothing journaled unless asked; a bad `--set` names what is declared; `hyper run
/// --set` holds a parameter for the whole loop.
#[test]
fn try_runs_one_chosen_point_and_run_set_fixes_it_for_a_loop() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    ok(&home, &["domains"]);
    let skill = home.join("domains/search/skills/search-bm25.wasm");
    let skill_s = skill.to_str().expect("utf-8");
    let art = tmp.path().join("art");
    let tried: serde_json::Value = serde_json::from_str(&ok(
        &home,
        &[
            "try",
            skill_s,
            "--set",
            "k1=2",
            "--set",
            "stemmer=none",
            "--keep-artifact",
            art.to_str().expect("utf-8"),
            "--json",
        ],
    ))
    .expect("json");
    assert_eq!(tried["params"]["k1"], 2.0, "{tried}");
    assert_eq!(tried["params"]["stemmer"], "none");
    assert_eq!(tried["params"]["b"], 0.75, "the rest are the defaults");
    assert!(tried["val"].as_f64().is_some_and(|v| v > 0.0), "{tried}");
    assert_eq!(tried["journaled"], false);
    assert!(
        tried["logs"].as_array().is_some_and(|l| !l.is_empty()),
        "the guest's log"
    );
    let kept = tried["artifact"]["kept"].as_str().expect("kept");
    assert_eq!(
        std::fs::metadata(kept).expect("artifact").len(),
        tried["artifact"]["bytes"].as_u64().expect("bytes")
    );
    assert_eq!(journal_count(&home), 0, "nothing journaled");
    // The same point again, journaled: the same value (same seed), one record.
    let again: serde_json::Value = serde_json::from_str(&ok(
        &home,
        &[
            "try",
            skill_s,
            "--set",
            "k1=2",
            "--set",
            "stemmer=none",
            "--journal",
            "--json",
        ],
    ))
    .expect("json");
    assert_eq!(again["val"], tried["val"]);
    assert_eq!(journal_count(&home), 1);

    for (set, words) in [
        (
            "nope=1",
            "fixes `nope`, which the skill does not declare (it declares: k1",
        ),
        ("k1=99", "float in [0.1, 3]"),
        ("stemmer=klingon", "one of"),
        ("k1=NaN", "float in [0.1, 3]"),
        ("k1=1e400", "float in [0.1, 3]"),
        ("prf_docs=99999999999999999999", "int in"),
        ("prf_docs=-1", "int in"),
        ("stopwords=maybe", "flag"),
        ("=1", "no parameter name"),
        ("k1", "is not NAME=VALUE"),
    ] {
        let out = hyper(&home, &["try", skill_s, "--set", set]);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{set}");
        assert!(said.contains(words), "{set}: {said}");
    }

    ok(
        &home,
        &[
            "run",
            "search",
            "-n",
            "4",
            "--noise-runs",
            "0",
            "--fresh",
            "--set",
            "stemmer=none",
            "--json",
        ],
    );
    let journal = Journal::open(home.join("journal.db")).expect("journal");
    let records = journal.list("search").expect("list");
    assert_eq!(records.len(), 5);
    assert!(
        records.iter().all(|r| r.params["stemmer"] == "none"),
        "{:?}",
        records.iter().map(|r| &r.params).collect::<Vec<_>>()
    );
}

/// `hyper_in` with the shared guest target dir (Rust guests compile std once per run).
fn hyper_in_guest<S: AsRef<std::ffi::OsStr>>(home: &Path, cwd: &Path, args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hyper"))
        .current_dir(cwd)
        .args(args)
        .env("HYPER_HOME", home)
        .env("HYPER_GUEST_TARGET_DIR", hyper_guests::GUEST_TARGET_DIR)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run hyper")
}

fn succeeded(out: Output, what: &[String]) -> Output {
    assert!(
        out.status.success(),
        "{what:?} failed: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Tool templates in C, Python and JavaScript, typed as printed from a working directory:
/// `skill new --task` → the printed build → the printed `forge test`, which scores the echo
/// tool on the JSON suite as the Rust template's (every y_ passes, every n_ is wrongly
/// accepted).
#[test]
fn tool_templates_in_every_language_are_forge_tested() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    for lang in ["c", "python", "js"] {
        let new: Vec<String> = [
            "skill",
            "new",
            &format!("echo-{lang}"),
            "--task",
            "json-parse",
            "--lang",
            lang,
        ]
        .map(String::from)
        .to_vec();
        let created = succeeded(hyper_in(&home, Some(&work), &new), &new);
        let build = printed_next(&created);
        let built = succeeded(hyper_in(&home, Some(&work), &build), &build);
        let test = printed_next(&built);
        assert_eq!(test[..2], ["forge", "test"], "{lang}: {test:?}");
        assert!(Path::new(&test[2]).is_relative(), "{test:?}");
        let tested = succeeded(hyper_in(&home, Some(&work), &test), &test);
        let text = String::from_utf8_lossy(&tested.stdout);
        assert!(
            text.contains("on json-parse: 95/283 passed (33.57%), 188 failed"),
            "{lang}: {text}"
        );
        assert!(text.contains("35 accepted, 0 refused"), "{lang}: {text}");
    }
}

/// `hyper forge task new` → install → a tool for it, every command typed as printed: the
/// template's five example cases, which the echo tool passes but for the one it must refuse.
#[test]
fn a_task_of_ones_own_from_its_template() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let mut next: Vec<String> = ["forge", "task", "new", "mine"].map(String::from).to_vec();
    let mut said = String::new();
    // new -> install -> skill new -> skill build -> forge test
    for step in 0..5 {
        let out = succeeded(hyper_in_guest(&home, &work, &next), &next);
        said = String::from_utf8_lossy(&out.stdout).into_owned();
        if step < 4 {
            next = printed_next(&out);
        }
    }
    assert!(
        said.contains("on mine: 3/4 passed (75.00%), 1 failed"),
        "{said}"
    );
    assert!(
        said.contains("FAIL trailing-comma: accepted, should refuse"),
        "{said}"
    );
    assert!(said.contains("1 accepted, 0 refused"), "{said}");
    let board = ok(&home, &["forge", "board", "--task", "mine"]);
    assert!(
        board.contains("mine-tool@0.1.0") && board.contains("0.7500"),
        "{board}"
    );
}

/// A task made from a public suite hyper does not ship (RFC 4648's test vectors, compared
/// byte for byte), installed and run against a Python tool written for it; pinned by hash:
/// an edited copy is refused until reinstalled; built-in names are reserved; remove works.
#[test]
fn a_task_of_ones_own_from_a_public_suite() {
    let tmp = tempfile::tempdir().expect("tmp");
    let home = tmp.path().join("home");
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/forge-tasks/rfc4648");
    let installed: serde_json::Value = serde_json::from_str(&ok(
        &home,
        &[
            "forge",
            "task",
            "install",
            suite.to_str().expect("utf-8"),
            "--json",
        ],
    ))
    .expect("json");
    assert_eq!(installed["cases"], 28);
    let pinned = installed["suite_sha256"]
        .as_str()
        .expect("hash")
        .to_string();
    let tasks: serde_json::Value =
        serde_json::from_str(&ok(&home, &["forge", "tasks", "--json"])).expect("json");
    assert!(tasks
        .as_array()
        .expect("list")
        .iter()
        .any(|t| t["task"] == "rfc4648-encodings"
            && t["built_in"] == false
            && t["compare"] == "bytes"));

    let dir = tmp.path().join("b64");
    let dir_s = dir.to_str().expect("utf-8");
    ok(
        &home,
        &[
            "skill",
            "new",
            "b64",
            "--task",
            "rfc4648-encodings",
            "--lang",
            "python",
            "--dir",
            dir_s,
        ],
    );
    let app = std::fs::read_to_string(dir.join("app.py")).expect("app.py");
    let app = app
        .replace("MAX_INPUT = 16 << 20", "import base64\nimport json\n\nMAX_INPUT = 16 << 20")
        .replace(
            "        return input\n",
            "        req = json.loads(input)\n        \
             codec = {\"base64\": base64.b64encode, \"base32\": base64.b32encode,\n                 \
             \"base32hex\": base64.b32hexencode, \"base16\": base64.b16encode}\n        \
             if req.get(\"encoding\") not in codec:\n            \
             raise Err(Error_InvalidParams(\"unknown encoding\"))\n        \
             return codec[req[\"encoding\"]](req[\"data\"].encode())\n",
        );
    std::fs::write(dir.join("app.py"), app).expect("write app.py");
    let built = hyper(&home, &["skill", "build", dir_s]);
    let test = printed_next(&built);
    let mut json_test = test.clone();
    json_test.push("--json".into());
    let report: serde_json::Value = serde_json::from_slice(
        &succeeded(
            hyper(
                &home,
                &json_test.iter().map(String::as_str).collect::<Vec<_>>(),
            ),
            &json_test,
        )
        .stdout,
    )
    .expect("json");
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(28), Some(0)),
        "{report}"
    );
    assert_eq!(report["suite_hash"], pinned.as_str());
    // The template's echo tool, on the same task, fails every vector (it returns the request) and shows
    // expected and actual bytes.
    let echo = tmp.path().join("echo");
    let echo_s = echo.to_str().expect("utf-8");
    ok(
        &home,
        &[
            "skill",
            "new",
            "echo",
            "--task",
            "rfc4648-encodings",
            "--lang",
            "c",
            "--dir",
            echo_s,
        ],
    );
    let built = hyper(&home, &["skill", "build", echo_s]);
    let test = printed_next(&built);
    let text = String::from_utf8(
        succeeded(
            hyper(&home, &test.iter().map(String::as_str).collect::<Vec<_>>()),
            &test,
        )
        .stdout,
    )
    .expect("utf-8");
    assert!(text.contains("0/28 passed (0.00%), 28 failed"), "{text}");
    assert!(
        text.contains(
            "FAIL BASE64(\"f\"): expected Zg==, got {\"data\":\"f\",\"encoding\":\"base64\"}"
        ),
        "{text}"
    );
    let board = ok(&home, &["forge", "board", "--task", "rfc4648-encodings"]);
    assert!(
        board
            .lines()
            .next()
            .is_some_and(|l| l.contains("b64@0.1.0") && l.contains("1.0000")),
        "{board}"
    );

    // Pinned: an installed copy edited afterwards is refused, naming both hashes.
    let cases = home.join("forge-tasks/rfc4648-encodings/cases.jsonl");
    let text = std::fs::read_to_string(&cases).expect("cases");
    std::fs::write(&cases, text.replace("\"Zg==\"", "\"Zh==\"")).expect("tamper");
    let out = hyper(&home, &["forge", "board", "--task", "rfc4648-encodings"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && said.contains("changed since it was installed")
            && said.contains(&pinned),
        "{said}"
    );
    // Reinstalling the original is refused without --replace, accepted with it.
    let suite_s = suite.to_str().expect("utf-8");
    let out = hyper(&home, &["forge", "task", "install", suite_s]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--replace"));
    ok(&home, &["forge", "task", "install", suite_s, "--replace"]);
    assert!(ok(&home, &["forge", "board", "--task", "rfc4648-encodings"]).contains("b64@0.1.0"));

    // A built-in name is reserved; a folder without SOURCE.md or with a symlinked cases
    // file is refused; remove takes the task away but not a built-in one.
    let copy = tmp.path().join("copy");
    std::fs::create_dir_all(&copy).expect("copy");
    for f in ["hyper-task.toml", "cases.jsonl"] {
        std::fs::copy(suite.join(f), copy.join(f)).expect("copy file");
    }
    let copy_s = copy.to_str().expect("utf-8");
    let refused = |args: &[&str], words: &str| {
        let out = hyper(&home, args);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && said.contains(words),
            "{args:?}: {said}"
        );
    };
    refused(&["forge", "task", "install", copy_s], "has no SOURCE.md");
    std::fs::write(copy.join("SOURCE.md"), "x").expect("source");
    std::fs::remove_file(copy.join("cases.jsonl")).expect("rm");
    std::os::unix::fs::symlink("/etc/passwd", copy.join("cases.jsonl")).expect("symlink");
    refused(
        &["forge", "task", "install", copy_s],
        "symlinks are not followed",
    );
    let manifest = std::fs::read_to_string(suite.join("hyper-task.toml")).expect("manifest");
    std::fs::write(
        copy.join("hyper-task.toml"),
        manifest.replace("rfc4648-encodings", "json-parse"),
    )
    .expect("manifest");
    std::fs::remove_file(copy.join("cases.jsonl")).expect("rm");
    std::fs::copy(suite.join("cases.jsonl"), copy.join("cases.jsonl")).expect("copy file");
    refused(&["forge", "task", "install", copy_s], "is a built-in task");
    refused(
        &["forge", "task", "remove", "json-parse"],
        "cannot be removed",
    );
    ok(&home, &["forge", "task", "remove", "rfc4648-encodings"]);
    refused(
        &["forge", "test", "forge-json", "--task", "rfc4648-encodings"],
        "no forge task",
    );
}
