//! `hyper`: the command line. A thin layer over hyper-research, hyper-runtime and
//! hyper-journal; everything it does, tests drive through those crates directly.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use hyper_journal::{Journal, Record, Status};
use hyper_research::{domain, Domain, Event, LoopOptions, ResearchLoop, Summary};
use hyper_runtime::{Evaluator, ImportVerdict, Runtime, RuntimeConfig, Skill};
use indicatif::{ProgressBar, ProgressStyle};

// Everything the CLI prints goes through these: guest text (parameter names, choice values,
// failure reasons, log lines, metric names) can carry terminal control sequences, and
// escaping at the one place where text reaches the terminal covers every path to it. The CLI
// itself prints no control characters (JSON output has them escaped by serde already).
macro_rules! println {
    () => { ::std::println!() };
    ($($t:tt)*) => { ::std::println!("{}", hyper_runtime::escape_control(&format!($($t)*))) };
}
macro_rules! eprintln {
    () => { ::std::eprintln!() };
    ($($t:tt)*) => { ::std::eprintln!("{}", hyper_runtime::escape_control(&format!($($t)*))) };
}
macro_rules! print {
    ($($t:tt)*) => { ::std::print!("{}", hyper_runtime::escape_control(&format!($($t)*))) };
}
macro_rules! eprint {
    ($($t:tt)*) => { ::std::eprint!("{}", hyper_runtime::escape_control(&format!($($t)*))) };
}

mod cause;
mod forge;
mod node;
mod replay;
mod scaffold;
mod skill;
mod trial;
mod visible;

#[derive(Parser)]
#[command(
    name = "hyper",
    version,
    about = "Run sandboxed WebAssembly research skills, score them honestly, keep what works.",
    long_about = "hyper runs research skills (WebAssembly components) in a sandbox, scores every \
                  experiment with the domain's own evaluator, and journals the results.\n\n\
                  Start with:  hyper run search --experiments 20"
)]
struct Cli {
    /// Where hyper keeps its journal, domains and compile cache.
    #[arg(long, global = true, env = "HYPER_HOME", value_name = "DIR")]
    home: Option<PathBuf>,

    /// More log output (-v: info, -vv: debug, including guest logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the research loop on a domain: baseline, then mutations, each scored by the evaluator.
    Run(RunArgs),
    /// Run one experiment with parameters you choose (the rest from the skill's defaults),
    /// scored on the validation split; shows the guest's log, keeps the artifact if asked,
    /// and journals nothing unless --journal.
    Try(trial::TryArgs),
    /// List the journal's experiments for a domain.
    Results {
        domain: String,
        /// Show only the last N experiments.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// A markdown report of a domain's journal: the best configuration and its lineage, each
    /// parameter's effect, what did not work, validation vs test; with --out, also an SVG
    /// plot of the metric over experiments beside it.
    Report {
        domain: String,
        /// Write the report to this file (and the plot beside it, same name with .svg)
        /// instead of printing the markdown.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Export a domain's journal.
    Export {
        domain: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Tsv)]
        format: ExportFormat,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// List installed domains: built-in ones and causes, with their evaluator pins.
    Domains {
        #[arg(long)]
        json: bool,
    },
    /// Work with skills: install, list, pack, publish, inspect...
    #[command(subcommand)]
    Skill(SkillCommand),
    /// Causes: start, build, install or remove a community-defined research domain.
    #[command(subcommand)]
    Domain(cause::DomainCommand),
    /// The skill forge: test tool skills on conformance suites (json, csv, url, html, formats).
    #[command(subcommand)]
    Forge(forge::ForgeCommand),
    /// Run a node: research the given domains and share results with peers (libp2p).
    Node(node::NodeArgs),
    /// Peers connected to the running node.
    Peers {
        #[arg(long)]
        json: bool,
    },
    /// A domain's shared leaderboard (from the running node, or the last one it saved): the
    /// results this node counts as verified, each with its status and its author's standing.
    Leaderboard {
        domain: String,
        /// Also list unverified, disputed and refuted results.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Re-run one result (an experiment id of this journal, or `<author>/<id>` from the
    /// swarm's board) with the same skill, evaluator, data, parameters and seed, and say
    /// whether it agrees, with both figures. With a node running, the node's attestation is
    /// published. Exit status: 0 agrees, 2 disagrees (refuted), 3 cannot be replayed here
    /// (another skill, evaluator, data or platform), 1 any other error.
    Replay {
        /// `<experiment id>` or `<author peer id>/<experiment id>`.
        target: String,
        /// The domain (default: found in the journal, else `search`).
        #[arg(long)]
        domain: Option<String>,
        /// Do not publish an attestation even when a node is running.
        #[arg(long)]
        no_attest: bool,
        #[arg(long)]
        json: bool,
    },
    /// Publish an idea for other nodes' loops to try: parameters to fix and/or a skill.
    Hypothesize {
        /// The domain, e.g. `search`.
        domain: String,
        /// A parameter to fix, `name=value` (repeatable; values are JSON, else text).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// A skill to try, `name@version` (shown to people by `hyper hypotheses`; loops act on
        /// the parameters).
        #[arg(long)]
        skill: Option<String>,
        /// Why it might work, for whoever reads it.
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        json: bool,
    },
    /// Open hypotheses and other nodes' fresh claims in a domain (from the running node).
    Hypotheses {
        domain: String,
        #[arg(long)]
        json: bool,
    },
    /// Serve the read-only web dashboard: leaderboards with verification status, a live
    /// feed, plots, peers, lineage. Served by the running node when there is one; else
    /// offline from the saved boards until Ctrl-C.
    Dashboard {
        /// Address to serve on (loopback by default; port 0 picks one).
        #[arg(long, default_value = visible::DEFAULT_DASHBOARD)]
        addr: String,
        #[arg(long)]
        json: bool,
    },
    /// The network's state as one JSON document (snapshot v2; schema:
    /// host/archive/snapshot.schema.json).
    Snapshot {
        /// Write it to FILE instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Push the archive to a git remote: a branch per agent and domain
    /// (`agents/<peer>/<domain>`: run-NNNN.json/.md, best.json, JOURNAL.md) and the latest
    /// snapshot on branch `snapshot`. Incremental; safe to rerun after an interruption.
    Archive {
        /// Any git remote libgit2 reaches without credentials (a path or file:// URL).
        #[arg(long)]
        remote: String,
        #[arg(long)]
        json: bool,
    },
    /// The running node: identity, addresses, peers, counters.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Show this node's identity (the ed25519 key that signs packages).
    Identity {
        #[arg(long)]
        json: bool,
    },
    /// Manage the publishers whose packages install without --allow-unknown-publisher.
    #[command(subcommand)]
    Trust(skill::TrustCommand),
}

#[derive(Args)]
struct RunArgs {
    /// The domain, e.g. `search`.
    domain: String,
    /// A skill: a component file (.wasm) or an installed skill (`name[@version]`,
    /// `sha256:<prefix>`); defaults to the domain's official skill.
    #[arg(long, value_name = "PATH")]
    skill: Option<PathBuf>,
    /// Number of experiments, the baseline included.
    #[arg(long, short = 'n', conflicts_with = "time")]
    experiments: Option<u32>,
    /// Run for this long instead (e.g. `90s`, `10m`, `2h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    time: Option<Duration>,
    /// Seed of the proposer and of every experiment.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Link a skill file's `wasi:sockets` imports with every socket operation denied (for
    /// language runtimes that import them regardless). Installed skills get this when their
    /// manifest declares it and you accepted it at install.
    #[arg(long)]
    allow_inert_sockets: bool,
    /// Start from the skill's defaults even if the journal has a best for this skill.
    #[arg(long)]
    fresh: bool,
    /// Repeat the baseline this many times with other seeds to measure the noise floor a new
    /// best must clear (and then hold on a confirmation run); 0 turns both off.
    #[arg(long, default_value_t = 2)]
    noise_runs: u32,
    /// How to choose new parameters: `mixed` (hill-climbing with random jumps), `novelty`
    /// (the same, but at most half the proposals near the current best), `tpe` (a
    /// Tree-structured Parzen Estimator fitted on this skill's results in the journal),
    /// `gp` (Bayesian optimisation: each parameter varied alone once, then a Gaussian
    /// process and expected improvement) or
    /// `llm` (ask an OpenAI-compatible chat endpoint, see --llm-url; the API key comes from
    /// $HYPER_LLM_API_KEY).
    #[arg(long, value_enum, default_value_t = ProposerArg::Mixed)]
    proposer: ProposerArg,
    /// Base URL of the chat endpoint for `--proposer llm`, e.g. http://127.0.0.1:8080/v1.
    #[arg(long)]
    llm_url: Option<String>,
    /// Model name sent to the chat endpoint.
    #[arg(long, default_value = "gpt-4o-mini")]
    llm_model: String,
    /// Fix a parameter for the whole loop (repeatable): the baseline and every proposal run
    /// with it, e.g. `--set stemmer=porter --set k1=1.5`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Print the summary as JSON (no progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum ProposerArg {
    Mixed,
    Novelty,
    Tpe,
    Gp,
    Llm,
}

impl ProposerArg {
    pub(crate) fn kind(
        self,
        llm_url: Option<&str>,
        llm_model: &str,
    ) -> Result<hyper_research::ProposerKind> {
        use hyper_research::ProposerKind;
        Ok(match self {
            ProposerArg::Mixed => ProposerKind::Mixed,
            ProposerArg::Novelty => ProposerKind::Novelty,
            ProposerArg::Tpe => ProposerKind::Tpe,
            ProposerArg::Gp => ProposerKind::Gp,
            ProposerArg::Llm => ProposerKind::Llm(hyper_research::llm::LlmConfig {
                url: llm_url
                    .context("--proposer llm needs --llm-url (an OpenAI-compatible endpoint)")?
                    .to_string(),
                model: llm_model.to_string(),
                api_key: std::env::var("HYPER_LLM_API_KEY").ok(),
                timeout: Duration::from_secs(60),
            }),
        })
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// autoresearch's results.tsv columns.
    Tsv,
    /// One JSON object per line, every field.
    Jsonl,
}

#[derive(Subcommand)]
enum SkillCommand {
    /// Check, show and install a skill package (every check runs before anything is written).
    Install(skill::InstallArgs),
    /// List installed skills.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show an installed skill: `name`, `name@version` or `sha256:<prefix>`.
    Info {
        skill: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove an installed skill (files other packages share stay).
    Remove {
        skill: String,
        #[arg(long)]
        json: bool,
    },
    /// Re-check installed skills' hashes and signatures (all of them if none is named).
    Verify {
        skill: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Pack and sign a skill folder (hyper-skill.toml + built component) into a .hskill.
    Pack {
        /// The skill folder or its hyper-skill.toml.
        source: PathBuf,
        /// Output file (default `<name>-<version>.hskill`).
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Add a .hskill to an index (a folder; serve it over HTTP as it is).
    Publish {
        file: PathBuf,
        /// The index folder (default `$HYPER_HOME/index`).
        #[arg(long, env = "HYPER_INDEX", value_name = "DIR")]
        index: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Scaffold a skill folder that builds and runs out of the box.
    New {
        /// The skill's name (a-z, 0-9, -).
        name: String,
        #[arg(long, value_enum, default_value_t = scaffold::Lang::Rust)]
        lang: scaffold::Lang,
        /// The domain it researches.
        #[arg(long, default_value = "search")]
        domain: String,
        /// A forge task instead (a tool skill, e.g. `json-parse`; `hyper forge tasks` lists them).
        #[arg(long, conflicts_with = "domain")]
        task: Option<String>,
        /// Where to create it (default: ./<name>).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Build the skill in a folder (hyper-skill.toml says the language) into a component.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Show a component's world, exports and imports, and what the sandbox would grant or refuse.
    Inspect {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`hyper skill list | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; restores the default
    // disposition of SIGPIPE, which Rust's runtime sets to ignore.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    // A server is not a filter: a node or a dashboard outlives whoever read its first lines,
    // and it writes to sockets that peers and browsers may close at any moment (tokio writes
    // without MSG_NOSIGNAL). Either would kill it with SIGPIPE; ignored, they are errors
    // that the code already handles.
    #[cfg(unix)]
    if matches!(cli.command, Command::Node(_) | Command::Dashboard { .. }) {
        // SAFETY: still before any thread exists (as above).
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
    }
    let filter = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hyper: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn home_dir(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(home) = flag {
        return Ok(home);
    }
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => Ok(PathBuf::from(h).join(".hyper")),
        _ => bail!("no home directory: pass --home DIR or set HYPER_HOME"),
    }
}

/// Makes sure the built-in domains are unpacked under `home`.
pub(crate) fn install_builtin(home: &Path) -> Result<()> {
    for d in hyper_guests::DOMAINS {
        domain::install_embedded(home, d.name, d.files).with_context(|| {
            format!(
                "installing the built-in `{}` domain under {}",
                d.name,
                home.display()
            )
        })?;
    }
    Ok(())
}

pub(crate) fn runtime(home: &Path) -> Result<Runtime> {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(home.join("cache").join("components")),
        ..RuntimeConfig::default()
    })
}

pub(crate) fn open_journal(home: &Path) -> Result<Journal> {
    let path = home.join("journal.db");
    Journal::open(&path).with_context(|| format!("opening the journal {}", path.display()))
}

fn read_component(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn run(cli: Cli) -> Result<()> {
    let home = home_dir(cli.home)?;
    match cli.command {
        Command::Run(args) => cmd_run(&home, args),
        Command::Try(args) => trial::run(&home, args),
        Command::Report { domain, out } => cmd_report(&home, &domain, out.as_deref()),
        Command::Results {
            domain,
            limit,
            json,
        } => cmd_results(&home, &domain, limit, json),
        Command::Export {
            domain,
            format,
            output,
        } => cmd_export(&home, &domain, format, output),
        Command::Domains { json } => cause::list(&home, json),
        Command::Domain(command) => cause::run(&home, command),
        Command::Skill(SkillCommand::Inspect { file, json }) => cmd_inspect(&home, &file, json),
        Command::Skill(SkillCommand::Install(args)) => {
            skill::install(&home, &runtime(&home)?, args)
        }
        Command::Skill(SkillCommand::List { json }) => skill::list(&home, json),
        Command::Skill(SkillCommand::Info { skill, json }) => skill::info(&home, &skill, json),
        Command::Skill(SkillCommand::Remove { skill, json }) => skill::remove(&home, &skill, json),
        Command::Skill(SkillCommand::Verify { skill, json }) => {
            skill::verify(&home, skill.as_deref(), json)
        }
        Command::Skill(SkillCommand::Pack {
            source,
            output,
            json,
        }) => skill::pack(&home, &runtime(&home)?, &source, output, json),
        Command::Skill(SkillCommand::Publish { file, index, json }) => {
            skill::publish(&home, &file, index, json)
        }
        Command::Skill(SkillCommand::New {
            name,
            lang,
            domain,
            task,
            dir,
            json,
        }) => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let purpose = match &task {
                Some(t) => scaffold::Purpose::Task(t),
                None => scaffold::Purpose::Domain(&domain),
            };
            scaffold::new_skill(&name, lang, purpose, &dir)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "dir": dir, "name": name, "lang": format!("{lang:?}").to_lowercase(), "domain": domain })
                );
            } else {
                println!(
                    "created {} ({:?}); next: hyper skill build {}",
                    dir.display(),
                    lang,
                    scaffold::shell_path(&dir)
                );
            }
            Ok(())
        }
        Command::Skill(SkillCommand::Build { dir, json }) => {
            let started = std::time::Instant::now();
            let component = scaffold::build(&dir)?;
            if json {
                let size = std::fs::metadata(&component).map(|m| m.len()).unwrap_or(0);
                println!(
                    "{}",
                    serde_json::json!({ "component": component, "bytes": size, "seconds": started.elapsed().as_secs_f64() })
                );
            } else if let Some(next) = scaffold::next_after_build(&dir, &runtime(&home)?) {
                println!("next: {next}");
            }
            Ok(())
        }
        Command::Identity { json } => skill::identity(&home, json),
        Command::Node(args) => node::run_node(&home, args),
        Command::Peers { json } => node::peers(&home, json),
        Command::Leaderboard { domain, all, json } => node::leaderboard(&home, &domain, all, json),
        Command::Replay {
            target,
            domain,
            no_attest,
            json,
        } => replay::replay(&home, &target, domain.as_deref(), !no_attest, json),
        Command::Status { json } => node::status(&home, json),
        Command::Dashboard { addr, json } => visible::dashboard(&home, &addr, json),
        Command::Snapshot { out } => visible::snapshot(&home, out.as_deref()),
        Command::Archive { remote, json } => visible::archive(&home, &remote, json),
        Command::Hypothesize {
            domain,
            set,
            skill,
            note,
            json,
        } => node::hypothesize(&home, &domain, &set, skill, &note, json),
        Command::Hypotheses { domain, json } => node::hypotheses(&home, &domain, json),
        Command::Trust(command) => skill::trust(&home, command),
        Command::Forge(command) => forge::run(&home, command),
    }
}

/// The skill a command names: a component file, an installed skill (`name`, `name@version`,
/// `sha256:…`) or, with none, the domain's official skill. Returns its display name too.
pub(crate) fn load_skill(
    home: &Path,
    runtime: &Runtime,
    skill: Option<&Path>,
    domain: Option<&Domain>,
    allow_inert_sockets: bool,
) -> Result<(String, Skill)> {
    let (skill_name, skill_bytes, load_options) = match skill {
        Some(p) if p.is_file() || (!p.exists() && p.extension().is_some_and(|e| e == "wasm")) => (
            p.display().to_string(),
            read_component(p)?,
            hyper_runtime::LoadOptions {
                inert_sockets: allow_inert_sockets,
            },
        ),
        Some(p) => {
            let store = hyper_registry::Store::open(home)?;
            let installed = store.find(&p.to_string_lossy())?;
            (
                format!("{}@{}", installed.manifest.name, installed.manifest.version),
                store.component(&installed)?,
                hyper_registry::install::load_options(&installed.manifest),
            )
        }
        None => {
            let domain = domain.context("name a skill: a .wasm file or an installed skill")?;
            let path = domain.default_skill_path().with_context(|| {
                format!(
                    "domain `{}` has no default skill: pass --skill PATH",
                    domain.name()
                )
            })?;
            (
                path.display().to_string(),
                read_component(&path)?,
                hyper_runtime::LoadOptions::default(),
            )
        }
    };
    let skill = Skill::load_with(runtime, &skill_bytes, load_options)
        .map_err(|f| anyhow::anyhow!("skill {skill_name}: {f}"))?;
    Ok((skill_name, skill))
}

pub(crate) fn load_evaluator(runtime: &Runtime, domain: &Domain) -> Result<Evaluator> {
    let evaluator_path = domain.evaluator_path();
    Evaluator::load(runtime, &read_component(&evaluator_path)?)
        .map_err(|f| anyhow::anyhow!("evaluator {}: {f}", evaluator_path.display()))
}

/// `--set NAME=VALUE …` as the table a loop pins (values read as JSON, else as text).
pub(crate) fn fixed_params(set: &[String]) -> Result<toml::Table> {
    let mut table = toml::Table::new();
    for (name, value) in node::parse_settings(set)? {
        let value = match value {
            serde_json::Value::Bool(b) => toml::Value::Boolean(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => toml::Value::Integer(i),
                None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => toml::Value::String(s),
            other => bail!("--set {name}: `{other}` is not a number, a flag or a choice"),
        };
        table.insert(name, value);
    }
    Ok(table)
}

fn cmd_run(home: &Path, args: RunArgs) -> Result<()> {
    install_builtin(home)?;
    let domain = Domain::find(home, &args.domain)?;
    let runtime = runtime(home)?;
    let (_, skill) = load_skill(
        home,
        &runtime,
        args.skill.as_deref(),
        Some(&domain),
        args.allow_inert_sockets,
    )?;
    let evaluator = load_evaluator(&runtime, &domain)?;
    let fixed = fixed_params(&args.set)?;
    let mut journal = open_journal(home)?;
    let experiments = match (args.experiments, args.time) {
        (None, None) => Some(20),
        (n, _) => n,
    };
    if experiments == Some(0) {
        bail!("--experiments must be at least 1");
    }
    let options = LoopOptions {
        experiments,
        time: args.time,
        seed: args.seed,
        resume: !args.fresh,
        noise_runs: args.noise_runs,
        proposer: args
            .proposer
            .kind(args.llm_url.as_deref(), &args.llm_model)?,
        fixed,
        ..LoopOptions::default()
    };
    let show_bar = !args.json && std::io::stderr().is_terminal();
    let bar = if show_bar {
        match experiments {
            Some(n) => ProgressBar::new(u64::from(n)),
            None => ProgressBar::new_spinner(),
        }
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let metric_name = domain.manifest.metric.name.clone();
    let options = LoopOptions {
        // The skill's own progress inside a long experiment (e.g. training steps).
        progress: show_bar.then(|| {
            let bar = bar.clone();
            hyper_research::ProgressHook(std::sync::Arc::new(move |step, total, metrics| {
                let extra: Vec<String> = metrics
                    .iter()
                    .map(|m| format!("{}={:.4}", m.name, m.value))
                    .collect();
                bar.set_message(hyper_runtime::escape_control(&format!(
                    "step {step}/{total} {}",
                    extra.join(" ")
                )));
            }))
        }),
        ..options
    };
    let mut research = ResearchLoop {
        domain,
        skill,
        evaluator,
        journal: &mut journal,
    };
    let summary = research.run(&options, &mut |event| match event {
        Event::Started {
            skill,
            resumed_from,
            ..
        } => {
            let from = match resumed_from {
                Some(r) => format!(
                    ", resuming from best {} = {:.4}",
                    metric_name,
                    r.val.unwrap_or(f64::NAN)
                ),
                None => String::new(),
            };
            let line = format!(
                "skill {} {} ({} parameters){from}",
                skill.name,
                skill.version,
                skill.params.len()
            );
            if show_bar {
                bar.println(hyper_runtime::escape_control(&line));
            } else if !args.json {
                eprintln!("{line}");
            }
        }
        Event::ExperimentStarted { id, .. } => bar.set_message(format!("running {id}")),
        Event::ExperimentFinished { record, best, .. } => {
            bar.inc(1);
            let line = match record.status {
                Status::Crash => format!(
                    "{:<9} crash   {}",
                    short(&record.id),
                    record.reason.as_deref().unwrap_or("")
                ),
                s => format!(
                    "{:<9} {:<8} {}={:.4}  {}",
                    short(&record.id),
                    s.as_str(),
                    metric_name,
                    record.val.unwrap_or(f64::NAN),
                    hyper_journal::describe_params(&record.params)
                ),
            };
            if show_bar {
                bar.println(hyper_runtime::escape_control(&line));
            } else if !args.json {
                eprintln!("{line}");
            }
            if let Some(b) = best {
                bar.set_message(format!(
                    "best {}={:.4}",
                    metric_name,
                    b.val.unwrap_or(f64::NAN)
                ));
            }
        }
    })?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

/// A spinner on stderr for slow steps (hidden when stderr is not a terminal).
pub(crate) fn spinner(message: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.set_message(hyper_runtime::escape_control(message));
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn short(id: &str) -> &str {
    id.rsplit('-').next().unwrap_or(id)
}

fn print_summary(s: &Summary) {
    println!();
    println!(
        "domain      {}   skill {} ({})",
        s.domain,
        s.skill,
        &s.skill_hash[..12.min(s.skill_hash.len())]
    );
    println!(
        "experiments {}   keep {}   discard {}   crash {}   in {:.1}s",
        s.experiments,
        s.kept,
        s.discarded,
        s.crashed,
        s.elapsed_ms as f64 / 1000.0
    );
    println!(
        "explored    {:.0}% of the declared space (cells of each parameter visited)",
        100.0 * s.coverage
    );
    if let Some(floor) = s.noise_floor {
        // A shared floor is measured on other nodes' values of the defaults too.
        let seeds = s.noise + s.noise_shared + u32::from(s.baseline.is_some());
        let theirs = match s.noise_shared {
            0 => String::new(),
            n => format!(", {n} of them by other nodes"),
        };
        println!(
            "noise       floor {floor:.4} (sd of the baseline over {seeds} seeds{theirs})   new bests confirmed {}   not held {}",
            s.confirmed,
            s.unconfirmed
        );
    }
    if let Some(b) = &s.baseline {
        println!(
            "baseline    {} validation {:.4}   test {:.4}",
            s.metric,
            b.val.unwrap_or(f64::NAN),
            b.test.unwrap_or(f64::NAN)
        );
    }
    match &s.best {
        Some(b) => {
            println!(
                "best        {} validation {:.4}   test {:.4}   ({})",
                s.metric,
                b.val.unwrap_or(f64::NAN),
                b.test.unwrap_or(f64::NAN),
                b.id
            );
            println!();
            println!("  {:<16} value", "parameter");
            if let Some(map) = b.params.as_object() {
                for (k, v) in map {
                    println!(
                        "  {:<16} {}",
                        k,
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    );
                }
            }
        }
        None => println!("best        none: every experiment crashed"),
    }
}

fn cmd_report(home: &Path, domain: &str, out: Option<&Path>) -> Result<()> {
    let journal = open_journal(home)?;
    let records = journal.list(domain)?;
    let Some(out) = out else {
        print!(
            "{}",
            hyper_research::report::markdown(domain, &records, None)
        );
        return Ok(());
    };
    let svg_path = out.with_extension("svg");
    let plot = match hyper_research::report::svg(&records) {
        Ok(svg) => {
            std::fs::write(&svg_path, svg)
                .with_context(|| format!("writing {}", svg_path.display()))?;
            svg_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        }
        Err(_) => None,
    };
    let text = hyper_research::report::markdown(domain, &records, plot.as_deref());
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    match plot {
        Some(_) => eprintln!("wrote {} and {}", out.display(), svg_path.display()),
        None => eprintln!("wrote {} (nothing scored to plot)", out.display()),
    }
    Ok(())
}

fn cmd_results(home: &Path, domain: &str, limit: Option<usize>, json: bool) -> Result<()> {
    let journal = open_journal(home)?;
    let mut records = journal.list(domain)?;
    if let Some(n) = limit {
        let skip = records.len().saturating_sub(n);
        records.drain(..skip);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(());
    }
    if records.is_empty() {
        println!("no experiments for `{domain}` yet: try `hyper run {domain}`");
        return Ok(());
    }
    println!(
        "{:<18} {:<8} {:>9} {:>9} {:>8}  params / reason",
        "id", "status", "val", "test", "ms"
    );
    for r in &records {
        print_row(r);
    }
    Ok(())
}

fn print_row(r: &Record) {
    let f = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
    let detail = match (&r.status, &r.reason) {
        (Status::Crash, Some(reason)) => reason.clone(),
        _ => hyper_journal::describe_params(&r.params),
    };
    println!(
        "{:<18} {:<8} {:>9} {:>9} {:>8}  {}",
        r.id,
        r.status.as_str(),
        f(r.val),
        f(r.test),
        r.duration_ms,
        detail
    );
}

fn cmd_export(
    home: &Path,
    domain: &str,
    format: ExportFormat,
    output: Option<PathBuf>,
) -> Result<()> {
    let journal = open_journal(home)?;
    let records = journal.list(domain)?;
    let metric = records
        .first()
        .map(|r| r.metric_name.clone())
        .or_else(|| {
            Domain::find(home, domain)
                .ok()
                .map(|d| d.manifest.metric.name)
        })
        .unwrap_or_else(|| "metric".into());
    let mut buf = Vec::new();
    match format {
        ExportFormat::Tsv => hyper_journal::write_tsv(&records, &metric, &mut buf)?,
        ExportFormat::Jsonl => {
            for r in &records {
                serde_json::to_writer(&mut buf, r)?;
                buf.push(b'\n');
            }
        }
    }
    match output {
        Some(path) => {
            std::fs::write(&path, &buf).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout().write_all(&buf)?,
    }
    Ok(())
}

fn cmd_inspect(home: &Path, file: &Path, json: bool) -> Result<()> {
    let bytes = read_component(file)?;
    let runtime = runtime(home)?;
    let inspection = hyper_runtime::inspect(&runtime, &bytes)
        .map_err(|f| anyhow::anyhow!("{}: {f}", file.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&inspection)?);
        return Ok(());
    }
    println!("file      {}", file.display());
    println!("sha256    {}", inspection.sha256);
    println!("size      {} bytes", inspection.size);
    match (inspection.world, &inspection.api_version) {
        (Some(w), Some(v)) => println!("world     hyper:research/{}@{v}", w.name()),
        _ => println!("world     none (exports no hyper:research interface)"),
    }
    println!("exports");
    for e in &inspection.exports {
        println!("  {e}");
    }
    println!("imports");
    for (name, verdict) in &inspection.imports {
        match verdict {
            ImportVerdict::Granted(why) => println!("  grant   {name:<40} {why}"),
            ImportVerdict::Refused(why) => println!("  REFUSE  {name:<40} {why}"),
        }
    }
    match inspection.refused() {
        Some(name) => {
            println!("verdict   refused: imports `{name}`, which the sandbox does not grant")
        }
        None => println!("verdict   loadable: every import is granted"),
    }
    Ok(())
}
