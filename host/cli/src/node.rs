//! `hyper node` (a long-running peer that researches and shares), and `hyper peers`,
//! `hyper leaderboard`, `hyper status`, which talk to it over a Unix socket in `$HYPER_HOME`
//! (one JSON request line, one JSON reply line).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Args;
use hyper_journal::Record;
use hyper_registry::Identity;
use hyper_research::{Domain, Event, LoopOptions, ResearchLoop};
use hyper_runtime::{Evaluator, Skill};
use hyper_swarm::node::{Leaderboard, NodeClient, NodeConfig};
use hyper_swarm::record::{peer_id_of, ResultRecord, SignedResult, RECORD_VERSION};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

#[derive(Args)]
pub struct NodeArgs {
    /// Domains to research and share (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "search")]
    pub domains: Vec<String>,
    /// Addresses to listen on (multiaddr; repeatable).
    #[arg(long, default_values = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"])]
    pub listen: Vec<String>,
    /// Peers to connect to at start (multiaddr with /p2p/<peer id>; repeatable).
    #[arg(long)]
    pub bootstrap: Vec<String>,
    /// Find peers on the LAN with mDNS.
    #[arg(long)]
    pub mdns: bool,
    /// Experiments per domain per round.
    #[arg(long, default_value_t = 10)]
    pub experiments: u32,
    /// Stop researching after this many rounds (the node keeps serving); default: forever.
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Only relay and keep boards; run no experiments.
    #[arg(long)]
    pub no_research: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn socket_path(home: &Path) -> PathBuf {
    home.join("node.sock")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The signed, shareable form of a journal record.
fn to_result(record: &Record, identity: &Identity) -> SignedResult {
    SignedResult::sign(
        ResultRecord {
            v: RECORD_VERSION,
            id: record.id.clone(),
            domain: record.domain.clone(),
            skill_hash: record.skill_hash.clone(),
            evaluator_hash: record.evaluator_hash.clone(),
            params: record.params.clone(),
            seed: record.seed,
            parent: record.parent.clone(),
            metric: record.metric_name.clone(),
            direction: record.direction.clone(),
            val: record.val,
            test: record.test,
            status: record.status.as_str().to_string(),
            platform: record.platform.chars().take(200).collect(),
            author: peer_id_of(&identity.public_key()),
            finished_ms: now_ms(),
        },
        identity.signing_key(),
    )
}

/// Runs the research loops on a plain thread (wasmtime calls block) and hands every finished
/// experiment to the node.
fn research(home: PathBuf, args: &NodeArgs, results: mpsc::Sender<SignedResult>) -> Result<()> {
    let identity = Identity::load_or_create(&home)?;
    let runtime = crate::runtime(&home)?;
    let mut journal = crate::open_journal(&home)?;
    let mut round = 0u32;
    while args.rounds.is_none_or(|r| round < r) {
        for name in &args.domains {
            let domain = Domain::find(&home, name)?;
            let skill_path = domain
                .default_skill_path()
                .with_context(|| format!("domain `{name}` has no default skill"))?;
            let skill = Skill::load(&runtime, &std::fs::read(&skill_path)?)
                .map_err(|f| anyhow::anyhow!("skill: {f}"))?;
            let evaluator = Evaluator::load(&runtime, &std::fs::read(domain.evaluator_path())?)
                .map_err(|f| anyhow::anyhow!("evaluator: {f}"))?;
            let options = LoopOptions {
                experiments: Some(args.experiments),
                time: None,
                seed: args.seed.wrapping_add(u64::from(round)),
                resume: true,
            };
            ResearchLoop {
                domain,
                skill,
                evaluator,
                journal: &mut journal,
            }
            .run(&options, &mut |event| {
                if let Event::ExperimentFinished { record, .. } = event {
                    let _ = results.blocking_send(to_result(record, &identity));
                }
            })?;
        }
        round += 1;
    }
    Ok(())
}

async fn serve_control(client: NodeClient, listener: tokio::net::UnixListener) {
    while let Ok((stream, _)) = listener.accept().await {
        let client = client.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read.take(64 * 1024))
                .read_line(&mut line)
                .await
                .is_err()
            {
                return;
            }
            let reply = match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(request) => answer(&client, &request)
                    .await
                    .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
                Err(e) => serde_json::json!({ "error": format!("bad request: {e}") }),
            };
            let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
        });
    }
}

async fn answer(client: &NodeClient, request: &serde_json::Value) -> Result<serde_json::Value> {
    match request["cmd"].as_str() {
        Some("peers") => Ok(
            serde_json::json!({ "peers": client.peers().await?.iter().map(|p| p.to_base58()).collect::<Vec<_>>() }),
        ),
        Some("leaderboard") => {
            let domain = request["domain"].as_str().unwrap_or("search");
            match client.leaderboard(domain).await? {
                Some(board) => Ok(serde_json::to_value(board)?),
                None => bail!("this node does not follow domain `{domain}`"),
            }
        }
        Some("status") => Ok(serde_json::json!({
            "peer_id": client.peer_id.to_base58(),
            "listen": client.listen_addrs().await?.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "peers": client.peers().await?.len(),
            "stats": client.stats().await?,
        })),
        other => bail!("unknown command {other:?}"),
    }
}

async fn save_boards(client: &NodeClient, home: &Path, domains: &[String]) -> Result<()> {
    let mut journal = crate::open_journal(home)?;
    let saved_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    for domain in domains {
        if let Some(snapshot) = client.snapshot(domain).await? {
            journal.save_board(domain, &snapshot, &saved_at)?;
        }
    }
    Ok(())
}

pub fn run_node(home: &Path, args: NodeArgs) -> Result<()> {
    crate::install_builtin(home)?;
    for d in &args.domains {
        Domain::find(home, d)?;
    }
    let identity = Identity::load_or_create(home)?;
    let boards: HashMap<String, Vec<u8>> =
        crate::open_journal(home)?.boards()?.into_iter().collect();
    let parse = |list: &[String]| -> Result<Vec<libp2p::Multiaddr>> {
        list.iter()
            .map(|a| {
                a.parse().with_context(|| {
                    format!("`{a}` is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/4001)")
                })
            })
            .collect()
    };
    let config = NodeConfig {
        listen: parse(&args.listen)?,
        bootstrap: parse(&args.bootstrap)?,
        domains: args.domains.clone(),
        mdns: args.mdns,
        anti_entropy: Duration::from_secs(5),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client =
            hyper_swarm::node::start(identity.signing_key().to_bytes(), config, boards).await?;
        for addr in client.listen_addrs().await? {
            println!("listening on {addr}/p2p/{}", client.peer_id);
        }
        std::io::stdout().flush()?;
        let socket = socket_path(home);
        let _ = std::fs::remove_file(&socket);
        let listener = tokio::net::UnixListener::bind(&socket)
            .with_context(|| format!("control socket {}", socket.display()))?;
        tokio::spawn(serve_control(client.clone(), listener));

        let (tx, mut rx) = mpsc::channel::<SignedResult>(1024);
        let research_thread = if args.no_research {
            None
        } else {
            let home = home.to_path_buf();
            let args = NodeArgs {
                domains: args.domains.clone(),
                listen: vec![],
                bootstrap: vec![],
                ..args
            };
            Some(std::thread::spawn(move || research(home, &args, tx)))
        };
        let mut save = tokio::time::interval(Duration::from_secs(5));
        // Once research is done (or when there is none) the node keeps relaying and saving.
        let mut researching = true;
        loop {
            tokio::select! {
                result = rx.recv(), if researching => match result {
                    Some(result) => {
                        if let Err(e) = client.publish(result).await {
                            tracing::warn!("could not share a result: {e}");
                        }
                    }
                    None => researching = false,
                },
                _ = save.tick() => {
                    if let Err(e) = save_boards(&client, home, &args.domains).await {
                        tracing::warn!("saving boards: {e}");
                    }
                }
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        save_boards(&client, home, &args.domains).await?;
        client.shutdown().await;
        let _ = std::fs::remove_file(&socket);
        if let Some(thread) = research_thread {
            if thread.is_finished() {
                if let Ok(Err(e)) = thread.join() {
                    eprintln!("research stopped with an error: {e:#}");
                }
            }
        }
        Ok(())
    })
}

/// Sends one request to the running node.
fn ask(home: &Path, request: serde_json::Value) -> Result<serde_json::Value> {
    use std::io::{BufRead, BufReader};
    let socket = socket_path(home);
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).with_context(|| {
        format!(
            "no node is running for {} (start one with `hyper node`)",
            home.display()
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    writeln!(stream, "{request}")?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    let reply: serde_json::Value = serde_json::from_str(&line).context("the node's reply")?;
    if let Some(e) = reply["error"].as_str() {
        bail!("{e}");
    }
    Ok(reply)
}

pub fn peers(home: &Path, json: bool) -> Result<()> {
    let reply = ask(home, serde_json::json!({ "cmd": "peers" }))?;
    if json {
        println!("{reply}");
    } else {
        let peers = reply["peers"].as_array().cloned().unwrap_or_default();
        println!("{} peer(s)", peers.len());
        for p in peers {
            println!("  {}", p.as_str().unwrap_or(""));
        }
    }
    Ok(())
}

pub fn status(home: &Path, json: bool) -> Result<()> {
    let reply = ask(home, serde_json::json!({ "cmd": "status" }))?;
    if json {
        println!("{reply}");
    } else {
        println!("peer id   {}", reply["peer_id"].as_str().unwrap_or(""));
        for a in reply["listen"].as_array().cloned().unwrap_or_default() {
            println!("listening {}", a.as_str().unwrap_or(""));
        }
        println!("peers     {}", reply["peers"]);
        println!("stats     {}", reply["stats"]);
    }
    Ok(())
}

/// The running node's board, or (no node running) the last one it saved.
pub fn leaderboard(home: &Path, domain: &str, json: bool) -> Result<()> {
    let board: serde_json::Value = match ask(
        home,
        serde_json::json!({ "cmd": "leaderboard", "domain": domain }),
    ) {
        Ok(reply) => reply,
        Err(e) if !socket_path(home).exists() => {
            let journal = crate::open_journal(home)?;
            let Some((_, snapshot)) = journal.boards()?.into_iter().find(|(d, _)| d == domain)
            else {
                bail!("{e:#}; and no saved board for `{domain}`");
            };
            let board = hyper_swarm::board::Board::from_snapshot(domain, 0, &snapshot)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            serde_json::to_value(Leaderboard::of(&board))?
        }
        Err(e) => return Err(e),
    };
    if json {
        println!("{board}");
        return Ok(());
    }
    println!("{domain}: {} results", board["results"]);
    for r in board["best_per_peer"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let rec = &r["record"];
        println!(
            "  {:<54} {} {:.4}  test {:.4}  {}",
            rec["author"].as_str().unwrap_or(""),
            rec["metric"].as_str().unwrap_or(""),
            rec["val"].as_f64().unwrap_or(f64::NAN),
            rec["test"].as_f64().unwrap_or(f64::NAN),
            hyper_journal::describe_params(&rec["params"])
        );
    }
    Ok(())
}
