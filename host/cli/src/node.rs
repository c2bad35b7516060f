//! `hyper node` (a long-running peer that researches and shares), and `hyper peers`,
//! `hyper leaderboard`, `hyper status`, which talk to it over a Unix socket in `$HYPER_HOME`
//! (one JSON request line, one JSON reply line).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Args;
use hyper_registry::Identity;
use hyper_research::{Domain, Event, LoopOptions, ResearchLoop};
use hyper_runtime::{Evaluator, Skill};
use hyper_swarm::node::{Leaderboard, NodeClient, NodeConfig, SharedSkill};
use hyper_swarm::peers::SwarmPeers;
use hyper_swarm::record::SignedResult;
use hyper_swarm::verifier::{ComputeMeter, Verifier, VerifierSetup};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// `$HYPER_HOME/node.toml`: the node's standing configuration; flags override it (and add
/// bootstrap peers to its list).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub listen: Option<Vec<String>>,
    pub bootstrap: Option<Vec<String>>,
    pub domains: Option<Vec<String>>,
    pub mdns: Option<bool>,
    /// Seconds between anti-entropy rounds with every connected peer.
    pub anti_entropy_secs: Option<u64>,
    /// Share of this node's compute spent replaying others' results (0 turns it off).
    pub verify_share: Option<f64>,
    /// Distinct trusted attesters needed to verify a result on their word.
    pub quorum: Option<usize>,
    /// Address of the web dashboard (`hyper node --dashboard`).
    pub dashboard: Option<String>,
    /// Git remote of the archive (`hyper node --archive`).
    pub archive: Option<String>,
}

impl NodeFile {
    pub fn load(home: &Path) -> Result<Self> {
        let path = home.join("node.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("{}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NodeFile::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

const DEFAULT_LISTEN: [&str; 2] = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"];

#[derive(Args)]
pub struct NodeArgs {
    /// Domains to research and share (comma-separated; default from node.toml, else `search`).
    #[arg(long, value_delimiter = ',')]
    pub domains: Vec<String>,
    /// Addresses to listen on (multiaddr; repeatable; default from `$HYPER_HOME/node.toml`,
    /// else any port on all interfaces over TCP and QUIC).
    #[arg(long)]
    pub listen: Vec<String>,
    /// Peers to connect to at start (multiaddr with /p2p/<peer id>; repeatable; added to
    /// node.toml's `bootstrap`).
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
    /// Every this many experiments, climb from the swarm's best result for the same skill when
    /// it beats this node's (0: never).
    #[arg(long, default_value_t = 5)]
    pub adopt_every: u32,
    /// How each loop chooses new parameters: `gp` (Bayesian optimisation: one Gaussian
    /// process fitted on this node's results and those of the swarm it may learn from —
    /// verified ones, and those of authors with verified work or that you trust — after a
    /// one-parameter-at-a-time screening the nodes share out; other nodes' claims in flight
    /// enter the model at its own prediction, so nodes spread out), `tpe` (a Parzen
    /// estimator on the same results), `mixed` or `novelty` (hill-climbing from the best).
    #[arg(long, value_enum, default_value_t = crate::ProposerArg::Gp)]
    pub proposer: crate::ProposerArg,
    /// Always run the defaults here first. By default a loop takes another node's result of
    /// the same defaults (same skill, evaluator and data, from a node it may learn from) as
    /// its baseline, and of nodes that start together only the first runs them: use this
    /// where this machine's values differ from its peers' (another GPU, other libraries).
    #[arg(long)]
    pub own_baseline: bool,
    /// Share of this node's compute spent replaying other nodes' results to check them
    /// (0 turns the verifier off; default from node.toml's `verify_share`, else 0.10).
    #[arg(long)]
    pub verify_share: Option<f64>,
    /// Distinct trusted attesters (this node, `hyper trust` entries and peers whose
    /// attestations matched this node's replays) needed to verify a result on their word
    /// (default from node.toml's `quorum`, else 1).
    #[arg(long)]
    pub quorum: Option<usize>,
    /// Serve the read-only web dashboard on this address (e.g. 127.0.0.1:8420; port 0 picks
    /// one; default from node.toml's `dashboard`, else none).
    #[arg(long)]
    pub dashboard: Option<String>,
    /// Push the archive (a branch per agent and domain, and the snapshot) to this git remote
    /// on a schedule (default from node.toml's `archive`, else none).
    #[arg(long)]
    pub archive: Option<String>,
    /// How often to push the archive (e.g. 1h, 15m).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub archive_every: Duration,
}

fn socket_path(home: &Path) -> PathBuf {
    home.join("node.sock")
}

/// What `hyper status` says about one domain's research.
#[derive(Clone, Debug, serde::Serialize)]
struct DomainHealth {
    /// `running`, `restarting` (after a panic), `failed` or `done`.
    state: &'static str,
    restarts: u32,
    last_error: Option<String>,
}

type Health = Arc<Mutex<std::collections::BTreeMap<String, DomainHealth>>>;

/// Panics of one domain's loop tolerated before the domain is marked failed.
const MAX_RESTARTS: u32 = 3;

fn set_health(health: &Health, domain: &str, state: &'static str, error: Option<String>) {
    if let Ok(mut map) = health.lock() {
        let entry = map.entry(domain.to_string()).or_insert(DomainHealth {
            state,
            restarts: 0,
            last_error: None,
        });
        if state == "restarting" {
            entry.restarts += 1;
        }
        entry.state = state;
        if error.is_some() {
            entry.last_error = error;
        }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs the research loops on a plain thread (wasmtime calls block) and hands every finished
/// experiment to the node. A panic in one domain's loop is caught and reported: the domain
/// restarts (resuming from its journal) up to [`MAX_RESTARTS`] times, then is marked failed;
/// `hyper status` shows which.
fn research(
    home: PathBuf,
    args: &NodeArgs,
    results: mpsc::Sender<SignedResult>,
    mut peers: SwarmPeers,
    health: Health,
    meter: Arc<ComputeMeter>,
) -> Result<()> {
    let identity = Identity::load_or_create(&home)?;
    let runtime = crate::runtime(&home)?;
    let mut journal = crate::open_journal(&home)?;
    let mut round = 0u32;
    while args.rounds.is_none_or(|r| round < r) {
        for name in &args.domains {
            let failed = health
                .lock()
                .map(|m| m.get(name).is_some_and(|h| h.state == "failed"))
                .unwrap_or(false);
            if failed {
                continue;
            }
            set_health(&health, name, "running", None);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                research_domain(
                    &home,
                    name,
                    args,
                    round,
                    &runtime,
                    &mut journal,
                    &mut peers,
                    &results,
                    &identity,
                    &meter,
                )
            }));
            match outcome {
                Ok(Ok(())) => set_health(&health, name, "done", None),
                Ok(Err(e)) => {
                    eprintln!("research on `{name}` failed: {e:#}");
                    set_health(&health, name, "failed", Some(format!("{e:#}")));
                }
                Err(payload) => {
                    let text = format!("panicked: {}", panic_text(&*payload));
                    eprintln!("research on `{name}` {text}");
                    let restarts = health
                        .lock()
                        .map(|m| m.get(name).map_or(0, |h| h.restarts))
                        .unwrap_or(MAX_RESTARTS);
                    let state = if restarts < MAX_RESTARTS {
                        "restarting"
                    } else {
                        "failed"
                    };
                    set_health(&health, name, state, Some(text));
                }
            }
        }
        let all_failed = health
            .lock()
            .map(|m| m.values().all(|h| h.state == "failed"))
            .unwrap_or(true);
        if all_failed {
            break;
        }
        round += 1;
    }
    Ok(())
}

/// One round of one domain's loop.
#[allow(clippy::too_many_arguments)]
fn research_domain(
    home: &Path,
    name: &str,
    args: &NodeArgs,
    round: u32,
    runtime: &hyper_runtime::Runtime,
    journal: &mut hyper_journal::Journal,
    peers: &mut SwarmPeers,
    results: &mpsc::Sender<SignedResult>,
    identity: &Identity,
    meter: &ComputeMeter,
) -> Result<()> {
    // A fault to inject in tests of this very catch (no other way to make the loop panic).
    if std::env::var("HYPER_FAULT_INJECT").is_ok_and(|v| v == "research-panic") {
        panic!("injected fault (HYPER_FAULT_INJECT=research-panic)");
    }
    {
        {
            let domain = Domain::find(home, name)?;
            let skill_path = domain
                .default_skill_path()
                .with_context(|| format!("domain `{name}` has no default skill"))?;
            let skill = Skill::load(runtime, &std::fs::read(&skill_path)?)
                .map_err(|f| anyhow::anyhow!("skill: {f}"))?;
            let evaluator = Evaluator::load(runtime, &std::fs::read(domain.evaluator_path())?)
                .map_err(|f| anyhow::anyhow!("evaluator: {f}"))?;
            let options = LoopOptions {
                experiments: Some(args.experiments),
                time: None,
                seed: args.seed.wrapping_add(u64::from(round)),
                resume: true,
                adopt_every: args.adopt_every,
                proposer: args.proposer.kind(None, "")?,
                share_baseline: !args.own_baseline,
                ..LoopOptions::default()
            };
            ResearchLoop {
                domain,
                skill,
                evaluator,
                journal,
            }
            .run_with(&options, peers, &mut |event| {
                if let Event::ExperimentFinished { record, .. } = event {
                    meter.add_research(record.duration_ms);
                    let _ = results.blocking_send(hyper_swarm::record::from_journal(
                        record,
                        identity.signing_key(),
                    ));
                }
            })?;
        }
    }
    Ok(())
}

/// Where `hyper skill publish` puts packages for the node to serve.
pub fn shared_dir(home: &Path) -> PathBuf {
    home.join("shared")
}

/// Serves one package file to the swarm.
async fn share_file(client: &NodeClient, file: &Path) -> Result<serde_json::Value> {
    let bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("reading {}", file.display()))?;
    let package = hyper_registry::Package::from_bytes(&bytes)?;
    let (name, version, hash, component) = (
        package.manifest.name.clone(),
        package.manifest.version.clone(),
        package.hash(),
        package.manifest.component.sha256.clone(),
    );
    client
        .share_skill(SharedSkill {
            name: name.clone(),
            version: version.clone(),
            package_hash: hash.clone(),
            component_sha256: component,
            bytes: std::sync::Arc::new(bytes),
        })
        .await?;
    Ok(serde_json::json!({ "name": name, "version": version, "hash": hash }))
}

/// Serves every package in the shared folder (a broken file is skipped with a warning).
async fn share_folder(client: &NodeClient, home: &Path) {
    let Ok(entries) = std::fs::read_dir(shared_dir(home)) else {
        return;
    };
    for entry in entries.flatten() {
        if let Err(e) = share_file(client, &entry.path()).await {
            tracing::warn!("not sharing {}: {e:#}", entry.path().display());
        }
    }
}

/// What the control socket's handlers share.
#[derive(Clone)]
struct Control {
    client: NodeClient,
    home: PathBuf,
    health: Health,
    /// The diversity signal each domain's loop last measured.
    diversity: hyper_swarm::peers::DiversityBoard,
    meter: Arc<ComputeMeter>,
    domains: Vec<String>,
    /// Where this node serves its dashboard, once it does.
    dashboard: Arc<tokio::sync::Mutex<Option<std::net::SocketAddr>>>,
}

async fn serve_control(control: Control, listener: tokio::net::UnixListener) {
    while let Ok((stream, _)) = listener.accept().await {
        let control = control.clone();
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
                Ok(request) => answer(&control, &request)
                    .await
                    .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
                Err(e) => serde_json::json!({ "error": format!("bad request: {e}") }),
            };
            let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
        });
    }
}

async fn answer(control: &Control, request: &serde_json::Value) -> Result<serde_json::Value> {
    let (client, home, health) = (&control.client, control.home.as_path(), &control.health);
    let domain = request["domain"].as_str().unwrap_or("search");
    match request["cmd"].as_str() {
        Some("result") => {
            let key = request["key"].as_str().context("result needs a key")?;
            Ok(serde_json::json!({ "result": client.result(domain, key).await? }))
        }
        Some("attest") => {
            let attestation: hyper_swarm::attest::SignedAttestation =
                serde_json::from_value(request["attestation"].clone())
                    .context("attest needs an attestation")?;
            attestation
                .verify()
                .map_err(|e| anyhow::anyhow!("the attestation does not verify: {e}"))?;
            client.attest(attestation).await?;
            Ok(serde_json::json!({ "published": true }))
        }
        Some("fetch-component") => {
            let sha = request["sha256"].as_str().unwrap_or("");
            // It names a file below: checked first.
            if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
                bail!("`{sha}` is not a SHA-256");
            }
            let bytes = client.fetch_component(sha).await?;
            let dir = home.join("downloads");
            std::fs::create_dir_all(&dir)?;
            let file = dir.join(format!("component-{sha}.hskill"));
            let part = dir.join(format!("component-{sha}.hskill.part"));
            tokio::fs::write(&part, &bytes).await?;
            tokio::fs::rename(&part, &file).await?;
            Ok(serde_json::json!({ "file": file, "bytes": bytes.len() }))
        }
        Some("share-skill") => {
            let file = request["file"]
                .as_str()
                .context("share-skill needs a file")?;
            share_file(client, Path::new(file)).await
        }
        Some("fetch-skill") => {
            let (Some(name), Some(version)) =
                (request["name"].as_str(), request["version"].as_str())
            else {
                bail!("fetch-skill needs a name and a version");
            };
            // They name a file below: checked first. The installer checks the package.
            if !hyper_registry::manifest::valid_name(name)
                || version.is_empty()
                || version.len() > 64
                || !version
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
            {
                bail!("`{name}@{version}` is not a valid skill name and version");
            }
            let bytes = client.fetch_skill(name, version).await?;
            let dir = home.join("downloads");
            std::fs::create_dir_all(&dir)?;
            let file = dir.join(format!("{name}@{version}.hskill"));
            let part = dir.join(format!("{name}@{version}.hskill.part"));
            tokio::fs::write(&part, &bytes).await?;
            tokio::fs::rename(&part, &file).await?;
            Ok(serde_json::json!({ "file": file, "bytes": bytes.len() }))
        }
        Some("hypothesize") => {
            let id = request["id"].as_str().context("hypothesize needs an id")?;
            let note = request["note"].as_str().unwrap_or("");
            let skill = request["skill"].as_str().map(String::from);
            let params = request["params"].clone();
            client.hypothesize(domain, id, params, skill, note).await?;
            Ok(serde_json::json!({ "id": id, "author": client.peer_id.to_base58() }))
        }
        Some("hypotheses") => Ok(serde_json::json!({
            "hypotheses": client.hypotheses(domain).await?,
            "claims": client.claims(domain).await?,
        })),
        Some("peers") => Ok(
            serde_json::json!({ "peers": client.peers().await?.iter().map(|p| p.to_base58()).collect::<Vec<_>>() }),
        ),
        Some("leaderboard") => match client
            .leaderboard(domain, request["all"].as_bool().unwrap_or(false))
            .await?
        {
            Some(board) => {
                let mut board = serde_json::to_value(board)?;
                board["diversity"] = diversity_of(control, domain);
                Ok(board)
            }
            None => bail!("this node does not follow domain `{domain}`"),
        },
        Some("status") => Ok(serde_json::json!({
            "peer_id": client.peer_id.to_base58(),
            "listen": client.listen_addrs().await?.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "peers": client.peers().await?.len(),
            "stats": client.stats().await?,
            "research": health.lock().map(|m| serde_json::to_value(&*m).unwrap_or_default()).unwrap_or_default(),
            "verification": verification(control).await?,
            "diversity": control.diversity.lock().map(|m| serde_json::to_value(&*m).unwrap_or_default()).unwrap_or_default(),
        })),
        Some("dashboard") => {
            let addr = request["addr"]
                .as_str()
                .unwrap_or(crate::visible::DEFAULT_DASHBOARD);
            let local = start_dashboard(control, addr).await?;
            Ok(serde_json::json!({ "url": format!("http://{local}/") }))
        }
        Some("snapshot") => {
            Ok(
                crate::visible::snapshot_of(client, &control.domains, &control.diversity)
                    .await?
                    .to_json(),
            )
        }
        Some("archive") => {
            let remote = request["remote"]
                .as_str()
                .context("archive needs a remote")?;
            let report = crate::visible::archive_to(
                client,
                home,
                &control.domains,
                &control.diversity,
                remote,
            )
            .await?;
            Ok(serde_json::json!({ "report": report }))
        }
        other => bail!("unknown command {other:?}"),
    }
}

/// Serves the dashboard on `addr` unless it is served already (then: where it is).
async fn start_dashboard(control: &Control, addr: &str) -> Result<std::net::SocketAddr> {
    let mut serving = control.dashboard.lock().await;
    if let Some(local) = *serving {
        return Ok(local);
    }
    let addr: std::net::SocketAddr = addr
        .parse()
        .with_context(|| format!("`{addr}` is not an address (e.g. 127.0.0.1:8420)"))?;
    let board = hyper_dashboard::Dashboard::new(
        control.client.clone(),
        control.domains.clone(),
        control.diversity.clone(),
    );
    let local = hyper_dashboard::serve(board, addr).await?;
    *serving = Some(local);
    Ok(local)
}

/// The diversity signal this node's loop last measured for a domain (null before its first
/// proposal, or when it researches nothing there).
fn diversity_of(control: &Control, domain: &str) -> serde_json::Value {
    control
        .diversity
        .lock()
        .ok()
        .and_then(|m| m.get(domain).map(serde_json::to_value))
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// One line of the diversity signal for people.
fn diversity_line(d: &serde_json::Value) -> String {
    if d.is_null() {
        return "not measured yet (no proposal on this node)".into();
    }
    format!(
        "{} results, coverage {:.2}, entropy {:.2}, near the leader {:.0}% of recent proposals{}; {} dead end(s) ({} results)",
        d["results"],
        d["coverage"].as_f64().unwrap_or(0.0),
        d["entropy"].as_f64().unwrap_or(0.0),
        d["concentration"].as_f64().unwrap_or(0.0) * 100.0,
        if d["collapsed"].as_bool().unwrap_or(false) {
            format!(
                " — COLLAPSED (≥ {:.0}%): exploring",
                d["collapse_at"].as_f64().unwrap_or(0.0) * 100.0
            )
        } else {
            String::new()
        },
        d["dead_ends"].as_array().map_or(0, Vec::len),
        d["dead_end_results"],
    )
}

/// `hyper status`'s verification part: the verifier's compute share, and per domain the
/// results by status and the identities by standing.
async fn verification(control: &Control) -> Result<serde_json::Value> {
    let mut domains = serde_json::Map::new();
    for domain in &control.domains {
        if let Some(report) = control.client.trust(domain).await? {
            domains.insert(domain.clone(), serde_json::to_value(report)?);
        }
    }
    Ok(serde_json::json!({
        "compute": control.meter.figures(),
        "domains": domains,
    }))
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

pub fn run_node(home: &Path, mut args: NodeArgs) -> Result<()> {
    crate::install_builtin(home)?;
    let file = NodeFile::load(home)?;
    if args.domains.is_empty() {
        args.domains = file
            .domains
            .clone()
            .unwrap_or_else(|| vec!["search".into()]);
    }
    if args.listen.is_empty() {
        args.listen = file
            .listen
            .clone()
            .unwrap_or_else(|| DEFAULT_LISTEN.iter().map(|s| s.to_string()).collect());
    }
    let mut bootstrap = file.bootstrap.clone().unwrap_or_default();
    bootstrap.append(&mut args.bootstrap);
    args.bootstrap = bootstrap;
    args.mdns |= file.mdns.unwrap_or(false);
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
        anti_entropy: Duration::from_secs(file.anti_entropy_secs.unwrap_or(5).max(1)),
        trusted: trusted_peers(home)?,
        quorum: args.quorum.or(file.quorum).unwrap_or(1).max(1),
    };
    let share = args
        .verify_share
        .or(file.verify_share)
        .unwrap_or(hyper_swarm::verifier::DEFAULT_SHARE);
    if !(0.0..=1.0).contains(&share) {
        bail!("--verify-share must be between 0 and 1, got {share}");
    }
    let meter = Arc::new(ComputeMeter::default());
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client =
            hyper_swarm::node::start(identity.signing_key().to_bytes(), config, boards).await?;
        // The control socket first: once a reader sees the address, `hyper status` answers.
        let socket = socket_path(home);
        let _ = std::fs::remove_file(&socket);
        let listener = tokio::net::UnixListener::bind(&socket)
            .with_context(|| format!("control socket {}", socket.display()))?;
        for addr in client.listen_addrs().await? {
            announce(&format!("listening on {addr}/p2p/{}", client.peer_id));
        }
        let health: Health = Health::default();
        let diversity = hyper_swarm::peers::DiversityBoard::default();
        let control = Control {
            client: client.clone(),
            home: home.to_path_buf(),
            health: health.clone(),
            diversity: diversity.clone(),
            meter: meter.clone(),
            domains: args.domains.clone(),
            dashboard: Arc::default(),
        };
        if let Some(addr) = args.dashboard.clone().or(file.dashboard.clone()) {
            let local = start_dashboard(&control, &addr).await?;
            announce(&format!("dashboard: http://{local}/"));
        }
        let archive_remote = args.archive.clone().or(file.archive.clone());
        tokio::spawn(serve_control(control, listener));
        // Everything this node committed is on its board, even what a kill -9 kept from the
        // last saved snapshot (records are signed deterministically, so this re-adds the same
        // bytes and announces only what the board lacked).
        let journal = crate::open_journal(home)?;
        for domain in &args.domains {
            for record in journal.list(domain)? {
                let signed = hyper_swarm::record::from_journal(&record, identity.signing_key());
                if let Err(e) = client.publish(signed).await {
                    tracing::warn!("re-sharing {}: {e}", record.id);
                }
            }
        }
        drop(journal);
        share_folder(&client, home).await;

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
            let mut peers = SwarmPeers::new(client.clone(), tokio::runtime::Handle::current());
            peers.diversity = diversity.clone();
            let health = health.clone();
            let meter = meter.clone();
            Some(std::thread::spawn(move || {
                research(home, &args, tx, peers, health, meter)
            }))
        };
        let stop_verifier = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if share > 0.0 {
            let verifier = Verifier::new(
                client.clone(),
                tokio::runtime::Handle::current(),
                VerifierSetup {
                    home: home.to_path_buf(),
                    runtime: crate::runtime(home)?,
                    key: identity.signing_key().clone(),
                    meter: meter.clone(),
                    share,
                    domains: args.domains.clone(),
                },
            );
            let stop = stop_verifier.clone();
            std::thread::spawn(move || verifier.run(stop, Duration::from_millis(500)));
        }
        let mut save = tokio::time::interval(Duration::from_secs(5));
        let mut archive_tick = tokio::time::interval(args.archive_every.max(Duration::from_secs(10)));
        archive_tick.tick().await; // the first push waits one period: the boards fill first
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
                _ = archive_tick.tick(), if archive_remote.is_some() => {
                    let remote = archive_remote.as_deref().unwrap_or_default();
                    match crate::visible::archive_to(&client, home, &args.domains, &diversity, remote).await {
                        Ok(r) => tracing::info!("archived to {remote}: {} new run(s), {} branch(es) pushed", r.new_runs, r.pushed.len()),
                        Err(e) => tracing::warn!("archiving to {remote}: {e:#}"),
                    }
                }
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        stop_verifier.store(true, std::sync::atomic::Ordering::Relaxed);
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

/// Prints one line of the node's startup to stdout. A node outlives whoever read its first
/// lines (`hyper node | head -1`, a supervisor that reads the address and closes the pipe), so
/// a closed stdout is not an error here: `println!` would panic on it and take the node down.
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The PeerIds of the publishers this user trusts (`hyper trust add`): their attestations
/// count outright.
pub fn trusted_peers(home: &Path) -> Result<std::collections::HashSet<String>> {
    let list = hyper_registry::keys::TrustList::load(home)?;
    Ok(list
        .publishers
        .iter()
        .filter_map(|p| hyper_swarm::record::peer_id_of_hex(&p.key))
        .collect())
}

/// Sends one request to the running node (for other commands' modules).
pub fn ask_node(home: &Path, request: serde_json::Value) -> Result<serde_json::Value> {
    ask(home, request)
}

pub fn ask_node_with_timeout(
    home: &Path,
    request: serde_json::Value,
    timeout: Duration,
) -> Result<serde_json::Value> {
    ask_with_timeout(home, request, timeout)
}

/// Sends one request to the running node.
fn ask(home: &Path, request: serde_json::Value) -> Result<serde_json::Value> {
    ask_with_timeout(home, request, Duration::from_secs(30))
}

fn ask_with_timeout(
    home: &Path,
    request: serde_json::Value,
    timeout: Duration,
) -> Result<serde_json::Value> {
    use std::io::{BufRead, BufReader};
    let socket = socket_path(home);
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).with_context(|| {
        format!(
            "no node is running for {} (start one with `hyper node`)",
            home.display()
        )
    })?;
    stream.set_read_timeout(Some(timeout))?;
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
        let compute = &reply["verification"]["compute"];
        println!(
            "verifier  {} replays, {:.1}% of compute ({} ms of {} ms research)",
            compute["replays"],
            compute["replay_share"].as_f64().unwrap_or(0.0) * 100.0,
            compute["replay_ms"],
            compute["research_ms"]
        );
        if let Some(domains) = reply["verification"]["domains"].as_object() {
            for (domain, report) in domains {
                let counts = &report["counts"];
                println!(
                    "trust     {domain}: {} verified, {} unverified, {} disputed, {} refuted; {} attestations",
                    counts["verified"], counts["unverified"], counts["disputed"], counts["refuted"], report["attestations"]
                );
                for (who, rep) in report["reputations"].as_object().into_iter().flatten() {
                    if rep["refuted"].as_u64().unwrap_or(0)
                        + rep["false_attestations"].as_u64().unwrap_or(0)
                        > 0
                    {
                        println!(
                            "  refuted {who}: {} refuted, {} false attestations",
                            rep["refuted"], rep["false_attestations"]
                        );
                    }
                }
            }
        }
        for (domain, d) in reply["diversity"].as_object().into_iter().flatten() {
            println!("diversity {domain}: {}", diversity_line(d));
        }
        if let Some(research) = reply["research"].as_object() {
            for (domain, h) in research {
                let error = h["last_error"]
                    .as_str()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                println!(
                    "research  {domain}: {} (restarts {}){error}",
                    h["state"].as_str().unwrap_or("?"),
                    h["restarts"]
                );
            }
        }
    }
    Ok(())
}

/// The running node's board, or (no node running) the last one it saved — judged by what
/// this node's own saved attestations establish.
pub fn leaderboard(home: &Path, domain: &str, all: bool, json: bool) -> Result<()> {
    let board: serde_json::Value = match ask(
        home,
        serde_json::json!({ "cmd": "leaderboard", "domain": domain, "all": all }),
    ) {
        Ok(reply) => reply,
        Err(e) if !socket_path(home).exists() => {
            let board = saved_board(home, domain)?
                .with_context(|| format!("{e:#}; and no saved board for `{domain}`"))?;
            let identity = Identity::load_or_create(home)?;
            let config = hyper_swarm::trust::TrustConfig {
                me: hyper_swarm::record::peer_id_of(&identity.public_key()),
                trusted: trusted_peers(home)?,
                quorum: NodeFile::load(home)?.quorum.unwrap_or(1).max(1),
            };
            let view = board.trust_view(&config);
            serde_json::to_value(Leaderboard::of(&board, &view, all))?
        }
        Err(e) => return Err(e),
    };
    if json {
        println!("{board}");
        return Ok(());
    }
    println!(
        "{domain}: {} results, {} verified by this node's count, {} attestations{}",
        board["results"],
        board["verified"],
        board["attestations"],
        if all {
            ""
        } else {
            " (verified results only; --all for every result)"
        }
    );
    if board.get("diversity").is_some() {
        println!("  diversity: {}", diversity_line(&board["diversity"]));
    }
    println!(
        "  {:<54} {:<10} {:<8} best of the author",
        "author", "status", "verified"
    );
    for r in board["best_per_peer"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let rec = &r["record"];
        println!(
            "  {:<54} {:<10} {:<8} {} {:.4}  test {:.4}  {}",
            rec["author"].as_str().unwrap_or(""),
            r["status"].as_str().unwrap_or(""),
            r["reputation"]["verified"],
            rec["metric"].as_str().unwrap_or(""),
            rec["val"].as_f64().unwrap_or(f64::NAN),
            rec["test"].as_f64().unwrap_or(f64::NAN),
            hyper_journal::describe_params(&rec["params"])
        );
    }
    Ok(())
}

/// The last board the node saved for a domain, if any.
fn saved_board(home: &Path, domain: &str) -> Result<Option<hyper_swarm::board::Board>> {
    let journal = crate::open_journal(home)?;
    let Some((_, snapshot)) = journal.boards()?.into_iter().find(|(d, _)| d == domain) else {
        return Ok(None);
    };
    hyper_swarm::board::Board::from_snapshot(domain, 0, &snapshot)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("the saved {domain} board: {e}"))
}

/// One result by `<author>/<id>`: from the running node's board, else the last saved one.
pub fn board_result(home: &Path, domain: &str, key: &str) -> Result<Option<SignedResult>> {
    if node_running(home) {
        let reply = ask(
            home,
            serde_json::json!({ "cmd": "result", "domain": domain, "key": key }),
        );
        return match reply {
            Ok(reply) if reply["result"].is_null() => Ok(None),
            Ok(reply) => Ok(Some(serde_json::from_value(reply["result"].clone())?)),
            // A domain the node does not follow.
            Err(_) => Ok(None),
        };
    }
    Ok(saved_board(home, domain)?.and_then(|b| b.get(key)))
}

/// Hands an attestation this node signed to the running node to publish.
pub fn publish_attestation(
    home: &Path,
    attestation: &hyper_swarm::attest::SignedAttestation,
) -> Result<()> {
    ask(
        home,
        serde_json::json!({ "cmd": "attest", "attestation": attestation }),
    )
    .map(|_| ())
}

/// Asks the running node for a package whose component has this SHA-256; returns the
/// downloaded file (unchecked: the caller checks the component's hash).
pub fn fetch_component(home: &Path, sha256: &str) -> Result<PathBuf> {
    let reply = ask_with_timeout(
        home,
        serde_json::json!({ "cmd": "fetch-component", "sha256": sha256 }),
        Duration::from_secs(90),
    )?;
    reply["file"]
        .as_str()
        .map(PathBuf::from)
        .context("the node did not say where it put the package")
}

/// Parses `name=value` pairs; a value is JSON if it parses as JSON, otherwise text.
pub(crate) fn parse_settings(set: &[String]) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut params = serde_json::Map::new();
    for pair in set {
        let Some((name, value)) = pair.split_once('=') else {
            bail!("`{pair}` is not NAME=VALUE");
        };
        if name.is_empty() {
            bail!("`{pair}` has no parameter name");
        }
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        params.insert(name.to_string(), value);
    }
    Ok(params)
}

pub fn hypothesize(
    home: &Path,
    domain: &str,
    set: &[String],
    skill: Option<String>,
    note: &str,
    json: bool,
) -> Result<()> {
    let params = parse_settings(set)?;
    if params.is_empty() && skill.is_none() {
        bail!("a hypothesis needs at least one --set NAME=VALUE or a --skill");
    }
    let id = format!(
        "h{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let reply = ask(
        home,
        serde_json::json!({ "cmd": "hypothesize", "domain": domain, "id": id, "params": params, "skill": skill, "note": note }),
    )?;
    if json {
        println!("{reply}");
    } else {
        println!(
            "published hypothesis {}/{id} on {domain}",
            reply["author"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

pub fn hypotheses(home: &Path, domain: &str, json: bool) -> Result<()> {
    let reply = ask(
        home,
        serde_json::json!({ "cmd": "hypotheses", "domain": domain }),
    )?;
    if json {
        println!("{reply}");
        return Ok(());
    }
    let list = reply["hypotheses"].as_array().cloned().unwrap_or_default();
    println!(
        "{} open hypothes{}",
        list.len(),
        if list.len() == 1 { "is" } else { "es" }
    );
    for h in list {
        println!(
            "  {}  {} {} {}",
            h["key"].as_str().unwrap_or(""),
            hyper_journal::describe_params(&h["params"]),
            h["skill"].as_str().unwrap_or(""),
            h["note"].as_str().unwrap_or("")
        );
    }
    let claims = reply["claims"].as_array().cloned().unwrap_or_default();
    println!("{} fresh claim(s) by other nodes", claims.len());
    for c in claims {
        println!(
            "  {}  {}",
            c["author"].as_str().unwrap_or(""),
            hyper_journal::describe_params(&c["params"])
        );
    }
    Ok(())
}

/// Whether a node is running for this home (its control socket answers).
pub fn node_running(home: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket_path(home)).is_ok()
}

/// Asks the running node to serve a package file to the swarm.
pub fn share_skill(home: &Path, file: &Path) -> Result<serde_json::Value> {
    ask(
        home,
        serde_json::json!({ "cmd": "share-skill", "file": file }),
    )
}

/// Asks the running node to find `name@version` in the swarm and download it; returns the
/// downloaded file (not yet checked: the caller installs it with every check).
pub fn fetch_skill(home: &Path, name: &str, version: &str) -> Result<PathBuf> {
    let reply = ask_with_timeout(
        home,
        serde_json::json!({ "cmd": "fetch-skill", "name": name, "version": version }),
        Duration::from_secs(180),
    )?;
    reply["file"]
        .as_str()
        .map(PathBuf::from)
        .context("the node did not say where it put the package")
}
