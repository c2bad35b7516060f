//! The dashboard in a real browser, with real data from real nodes: two libp2p nodes on
//! loopback, node A researching the search domain (a real BM25 component, TPE over the
//! swarm's results) and serving the dashboard, node B publishing its own. Headless Debian
//! Chromium, driven by playwright-core (host/dashboard/web/e2e.mjs), renders every page —
//! leaderboard with verification badges, plots, paged results, one experiment with its
//! lineage and replay status, peers, one skill — and must show a result published on node B
//! within 2 s of the page being ready, with no browser console error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use hyper_research::{LoopOptions, ProposerKind, Solo};
use hyper_swarm::peers::SwarmPeers;
use hyper_swarm::record::from_journal;
use hyper_tests::swarm_harness::{fabricate, options, peer, research, tokio_rt, until};

/// A plain HTTP GET (the API is JSON over HTTP/1.1; no client crate needed for a test).
fn get(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

#[test]
fn the_dashboard_shows_real_nodes_data_and_live_results_in_a_real_browser() {
    let rt = tokio_rt();
    let a = peer(&rt, 91, &[]);
    let b = peer(&rt, 92, &[&a]);
    until("connected", 30, || {
        !rt.block_on(b.client.peers()).expect("peers").is_empty()
    });

    // B researches 2 experiments on its own; A researches 4 over the swarm's results.
    let mut b_rows = Vec::new();
    research(&b.home, options(5, 2, 0), &mut Solo, |record| {
        rt.block_on(b.client.publish(from_journal(record, &b.key)))
            .expect("publish");
        b_rows.push(record.clone());
    });
    until("A has B's results", 30, || {
        rt.block_on(a.client.count("search")).expect("count") == 2
    });
    let mut peers_a = SwarmPeers::new(a.client.clone(), rt.handle().clone());
    let diversity = peers_a.diversity.clone();
    let tpe = LoopOptions {
        proposer: ProposerKind::Tpe,
        ..options(6, 4, 0)
    };
    research(&a.home, tpe, &mut peers_a, |record| {
        rt.block_on(a.client.publish(from_journal(record, &a.key)))
            .expect("publish");
    });

    let dashboard =
        hyper_dashboard::Dashboard::new(a.client.clone(), vec!["search".into()], diversity);
    let addr = rt
        .block_on(hyper_dashboard::serve(
            dashboard,
            "127.0.0.1:0".parse().expect("addr"),
        ))
        .expect("serve");
    until("the dashboard's view of the board", 30, || {
        get(addr, "/api/overview")["domains"][0]["results"] == 6
    });
    // The API answers what the pages show: A's own results are verified, B's are not.
    let d = get(addr, "/api/domain/search");
    let leaders = d["leaderboard"]["verified_per_agent"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        leaders.len(),
        1,
        "only A's results are verified on A: {leaders:?}"
    );
    assert_eq!(leaders[0]["author"], a.id());
    let page = get(addr, "/api/domain/search/results?per=4&page=1");
    assert_eq!(
        (
            page["total"].as_u64(),
            page["rows"].as_array().map(Vec::len)
        ),
        (Some(6), Some(2))
    );
    let snapshot = get(addr, "/api/snapshot");
    assert_eq!(snapshot["summary"]["experiments"], 6);
    // Asked for what it cannot give, the server refuses and goes on serving.
    for bad in [
        "/api/domain/search/results?per=99999999999999999999999",
        "/api/domain/search/results?page=-1",
        "/api/domain/search/result",
        "/api/domain/nowhere",
        "/api/domain/search/skill/..%2F..%2Fetc",
    ] {
        assert!(get(addr, bad).get("rows").is_none(), "{bad}");
    }
    assert_eq!(
        get(addr, "/api/domain/search/results?per=1")["rows"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // A stranger's result whose text is markup (an id, a platform and a parameter that would
    // run script if a page inserted them as HTML); the browser must show it as text.
    let hostile_id = r#"<img src=x onerror="window.__pwned=1">"#;
    let mut hostile = fabricate(&b_rows[0], hostile_id, 0.9, 0.01);
    hostile.platform = "<script>window.__pwned=1</script>".into();
    hostile.params["stemmer"] = serde_json::json!("<b onmouseover=window.__pwned=1>x</b>");
    rt.block_on(b.client.publish(from_journal(&hostile, &b.key)))
        .expect("publish");
    until("A has the hostile result", 30, || {
        get(addr, "/api/overview")["domains"][0]["results"] == 7
    });
    let hostile_key = format!("{}/{hostile_id}", b.id());

    let shots = std::env::var("HYPER_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::temp_dir().join(format!("hyper-dashboard-shots-{}", std::process::id()))
        });
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/dashboard/web");
    let mut browser = Command::new("node")
        .current_dir(&web)
        .args([
            "e2e.mjs",
            &format!("http://{addr}/"),
            "search",
            "live-from-b",
        ])
        .arg(&shots)
        .arg(&hostile_key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (scripts/setup.sh installs it and playwright-core)");
    let mut out = BufReader::new(browser.stdout.take().expect("stdout"));
    let mut line = String::new();
    while line.trim() != "READY" {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("read") > 0,
            "the browser script ended before READY"
        );
    }
    // The page is open: B publishes a new result, which reaches A by gossip, then the page.
    let live = fabricate(&b_rows[1], "live-from-b", 1.1, 0.5);
    rt.block_on(b.client.publish(from_journal(&live, &b.key)))
        .expect("publish");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read");
    let status = browser.wait().expect("wait");
    println!("browser figures: {rest}");
    assert!(
        status.success(),
        "the browser checks failed (see stderr): {rest}"
    );
    let figures: serde_json::Value =
        serde_json::from_str(rest.trim().lines().last().unwrap_or("")).expect("figures");
    assert!(
        figures["live_ms"].as_u64().is_some_and(|ms| ms <= 2000),
        "{figures}"
    );
    assert!(figures["lineage_rows"].as_u64().is_some(), "{figures}");
    assert_eq!(figures["script_ran"], false, "{figures}");
    assert_eq!(figures["hostile_markup_elements"], 0, "{figures}");
    for shot in ["overview", "domain", "result", "peers", "live"] {
        assert!(shots.join(format!("{shot}.png")).exists(), "{shot}.png");
    }
    rt.block_on(async {
        a.client.shutdown().await;
        b.client.shutdown().await;
    });
}
