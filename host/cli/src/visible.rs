//! `hyper dashboard`, `hyper snapshot` and `hyper archive`: the swarm made visible and
//! durable. Each asks the running node (over its control socket) when there is one; without
//! one, it opens the saved boards in a node that listens nowhere (offline: the boards as
//! last saved, plus this journal's own results).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use hyper_archive::{BoardState, Snapshot};
use hyper_registry::Identity;
use hyper_swarm::node::{NodeClient, NodeConfig};
use hyper_swarm::peers::DiversityBoard;

/// Default dashboard address: loopback only (the dashboard is read-only, but what a node
/// knows of its peers is nobody else's business by default).
pub const DEFAULT_DASHBOARD: &str = "127.0.0.1:8420";

/// Every followed domain's board state.
pub async fn board_states(
    client: &NodeClient,
    domains: &[String],
    diversity: &DiversityBoard,
) -> Result<Vec<BoardState>> {
    let mut states = Vec::new();
    for d in domains {
        let div = diversity.lock().ok().and_then(|m| m.get(d).cloned());
        if let Some(s) = BoardState::read(client, d, div).await? {
            states.push(s);
        }
    }
    Ok(states)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub async fn snapshot_of(
    client: &NodeClient,
    domains: &[String],
    diversity: &DiversityBoard,
) -> Result<Snapshot> {
    let states = board_states(client, domains, diversity).await?;
    let by = format!("hyper {} ({})", env!("CARGO_PKG_VERSION"), client.peer_id);
    Ok(Snapshot::build(&states, &by, now_ms()))
}

/// The archive's local work repository.
pub fn archive_work(home: &Path) -> PathBuf {
    home.join("archive.git")
}

pub async fn archive_to(
    client: &NodeClient,
    home: &Path,
    domains: &[String],
    diversity: &DiversityBoard,
    remote: &str,
) -> Result<hyper_archive::ArchiveReport> {
    let states = board_states(client, domains, diversity).await?;
    let by = format!("hyper {} ({})", env!("CARGO_PKG_VERSION"), client.peer_id);
    let snapshot = Snapshot::build(&states, &by, now_ms());
    let (work, remote) = (archive_work(home), remote.to_string());
    tokio::task::spawn_blocking(move || hyper_archive::archive(&work, &remote, &states, &snapshot))
        .await
        .context("the archive task stopped")?
}

/// A node over the saved boards that listens nowhere and dials nobody.
async fn offline_node(home: &Path) -> Result<(NodeClient, Vec<String>)> {
    let journal = crate::open_journal(home)?;
    let boards: std::collections::HashMap<String, Vec<u8>> =
        journal.boards()?.into_iter().collect();
    let mut domains: Vec<String> = boards.keys().cloned().collect();
    if let Some(listed) = crate::node::NodeFile::load(home)?.domains {
        domains.extend(listed);
    }
    domains.sort();
    domains.dedup();
    if domains.is_empty() {
        domains.push("search".into());
    }
    let identity = Identity::load_or_create(home)?;
    let config = NodeConfig {
        listen: vec![],
        bootstrap: vec![],
        domains: domains.clone(),
        mdns: false,
        trusted: crate::node::trusted_peers(home)?,
        ..NodeConfig::default()
    };
    let client =
        hyper_swarm::node::start(identity.signing_key().to_bytes(), config, boards).await?;
    for domain in &domains {
        for record in journal.list(domain)? {
            let signed = hyper_swarm::record::from_journal(&record, identity.signing_key());
            let _ = client.publish(signed).await;
        }
    }
    Ok((client, domains))
}

fn print_json_or(json: bool, value: &serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}

pub fn dashboard(home: &Path, addr: &str, json: bool) -> Result<()> {
    let addr: SocketAddr = addr
        .parse()
        .with_context(|| format!("`{addr}` is not an address (e.g. {DEFAULT_DASHBOARD})"))?;
    if crate::node::node_running(home) {
        let reply = crate::node::ask_node(
            home,
            serde_json::json!({ "cmd": "dashboard", "addr": addr.to_string() }),
        )?;
        print_json_or(json, &reply, || {
            format!(
                "dashboard: {} (served by the running node)",
                reply["url"].as_str().unwrap_or("")
            )
        });
        return Ok(());
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (client, domains) = offline_node(home).await?;
        let board = hyper_dashboard::Dashboard::new(client.clone(), domains, DiversityBoard::default());
        let local = hyper_dashboard::serve(board, addr).await?;
        let url = format!("http://{local}/");
        print_json_or(json, &serde_json::json!({ "url": url, "offline": true }), || {
            format!("dashboard: {url} (offline: the saved boards; no node is running) — Ctrl-C stops it")
        });
        use std::io::Write;
        std::io::stdout().flush()?;
        tokio::signal::ctrl_c().await?;
        client.shutdown().await;
        Ok(())
    })
}

pub fn snapshot(home: &Path, out: Option<&Path>) -> Result<()> {
    let value = if crate::node::node_running(home) {
        crate::node::ask_node(home, serde_json::json!({ "cmd": "snapshot" }))?
    } else {
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async {
            let (client, domains) = offline_node(home).await?;
            // Give the board a moment to take in the journal's own results.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let s = snapshot_of(&client, &domains, &DiversityBoard::default()).await?;
            client.shutdown().await;
            anyhow::Ok(s.to_json())
        })?
    };
    let text = serde_json::to_string_pretty(&value)?;
    match out {
        Some(path) => {
            let part = path.with_extension("json.part");
            std::fs::write(&part, text.as_bytes())
                .with_context(|| format!("writing {}", part.display()))?;
            std::fs::rename(&part, path)?;
            eprintln!("snapshot written to {}", path.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}

pub fn archive(home: &Path, remote: &str, json: bool) -> Result<()> {
    let report = if crate::node::node_running(home) {
        let reply = crate::node::ask_node_with_timeout(
            home,
            serde_json::json!({ "cmd": "archive", "remote": remote }),
            Duration::from_secs(600),
        )?;
        serde_json::from_value(reply["report"].clone()).unwrap_or_default()
    } else {
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async {
            let (client, domains) = offline_node(home).await?;
            let r = archive_to(&client, home, &domains, &DiversityBoard::default(), remote).await;
            client.shutdown().await;
            r
        })?
    };
    let value = serde_json::to_value(&report)?;
    print_json_or(json, &value, || {
        let mut s = format!(
            "archived to {remote}: {} new run(s); {} branch(es) pushed, {} already up to date",
            report.new_runs,
            report.pushed.len(),
            report.unchanged
        );
        for b in &report.pushed {
            s.push_str(&format!("\n  {b}"));
        }
        s
    });
    Ok(())
}
