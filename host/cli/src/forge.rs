//! `hyper forge`: list the skill-forge tasks, test a tool skill on a task's conformance suite,
//! show a task's leaderboard, and make, install and remove tasks of one's own. The work is
//! in hyper-forge; this only parses and prints.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Subcommand)]
pub enum ForgeCommand {
    /// List the tasks (built-in and installed), their suites and what a tool gets and returns.
    Tasks {
        #[arg(long)]
        json: bool,
    },
    /// Make, install or remove a task of your own (a folder with hyper-task.toml, cases.jsonl
    /// and SOURCE.md; the format is in domains/forge/README.md).
    #[command(subcommand)]
    Task(TaskCommand),
    /// Run a tool skill on every case of a task, in the sandbox, and print its failures.
    ///
    /// TOOL is a component file, an installed skill (`name`, `name@version`, `sha256:…`) or
    /// an official tool (forge-json, forge-csv, forge-url, forge-html, forge-format).
    Test {
        tool: String,
        /// The task, e.g. json-parse (`hyper forge tasks` lists them).
        #[arg(long)]
        task: String,
        /// Per-case wall-clock budget in seconds.
        #[arg(long, default_value_t = 2.0, value_name = "SECS")]
        case_secs: f64,
        /// Per-case memory limit in MiB.
        #[arg(long, default_value_t = 256, value_name = "MIB")]
        case_memory: usize,
        /// Only cases whose id contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// How many failures to print (all with --json).
        #[arg(long, default_value_t = 50)]
        show: usize,
        /// Test a tool whose describe() names another task.
        #[arg(long)]
        any_task: bool,
        /// Link a tool file's `wasi:sockets` imports with every socket operation denied
        /// (CPython's runtime imports them). Installed tools get this when their manifest
        /// declares it and you accepted it at install.
        #[arg(long)]
        allow_inert_sockets: bool,
        /// Do not record the result in the journal.
        #[arg(long)]
        no_journal: bool,
        #[arg(long)]
        json: bool,
    },
    /// A task's leaderboard: each tool's best pass rate (ties broken by time).
    Board {
        #[arg(long)]
        task: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum TaskCommand {
    /// Start a task folder: a manifest, a few example cases of every kind and a SOURCE.md.
    New {
        /// The task's name (a-z, 0-9, -): what tools name in describe().task.
        name: String,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Check a task folder (every case read and checked) and install a copy, pinned by the
    /// SHA-256 of its cases so pass rates stay comparable.
    Install {
        dir: PathBuf,
        /// Replace an installed task of the same name (results on the old cases stay in the
        /// journal, pinned to the old hash).
        #[arg(long)]
        replace: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove an installed task (built-in tasks cannot be removed; results stay journaled).
    Remove {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(home: &Path, command: ForgeCommand) -> Result<()> {
    match command {
        ForgeCommand::Tasks { json } => tasks(home, json),
        ForgeCommand::Task(command) => task_command(home, command),
        ForgeCommand::Test {
            tool,
            task,
            case_secs,
            case_memory,
            filter,
            show,
            any_task,
            allow_inert_sockets,
            no_journal,
            json,
        } => {
            if !(case_secs > 0.0 && case_secs <= 600.0) {
                anyhow::bail!("--case-secs must be above 0 and at most 600, got {case_secs}");
            }
            if case_memory == 0 || case_memory > 4096 {
                anyhow::bail!("--case-memory must be between 1 and 4096 MiB, got {case_memory}");
            }
            let budget = hyper_forge::CaseBudget {
                deadline: Duration::from_secs_f64(case_secs),
                memory_bytes: case_memory << 20,
                ..hyper_forge::CaseBudget::default()
            };
            let load = hyper_runtime::LoadOptions {
                inert_sockets: allow_inert_sockets,
            };
            test(
                home,
                &tool,
                load,
                &task,
                budget,
                filter,
                show,
                any_task,
                !no_journal,
                json,
            )
        }
        ForgeCommand::Board { task, json } => board(home, &task, json),
    }
}

fn tasks(home: &Path, json: bool) -> Result<()> {
    let all = hyper_forge::tasks::all(home)?;
    if json {
        let list: Vec<_> = all
            .iter()
            .map(|t| match t {
                Ok(t) => serde_json::json!({
                    "task": t.name, "suite": t.suite, "cases": t.cases().len(),
                    "protocol": t.protocol, "compare": t.compare, "license": t.license,
                    "suite_sha256": t.suite_hash(), "built_in": t.is_built_in(),
                }),
                Err(e) => serde_json::json!({"error": e.to_string()}),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for t in &all {
        let t = match t {
            Ok(t) => t,
            Err(e) => {
                println!("(an installed task is unusable: {e})");
                continue;
            }
        };
        let official = hyper_guests::FORGE_TOOLS
            .iter()
            .find(|(_, task, _)| *task == t.name)
            .map_or("-", |(name, _, _)| *name);
        match &t.origin {
            hyper_forge::tasks::Origin::BuiltIn => {
                println!("{}  (built in; official tool: {official})", t.name)
            }
            hyper_forge::tasks::Origin::Installed { dir, .. } => {
                println!("{}  (installed at {})", t.name, dir.display())
            }
        }
        println!("  suite:    {} [{}]", t.suite, t.license);
        println!(
            "  cases:    {}, compared as {:?}, sha256 {}",
            t.cases().len(),
            t.compare,
            &t.suite_hash()[..16]
        );
        println!("  protocol: {}", t.protocol);
    }
    Ok(())
}

const TASK_TEMPLATE: &[(&str, &str)] = &[
    (
        "hyper-task.toml",
        include_str!("../../../sdk/templates/forge-task/hyper-task.toml"),
    ),
    (
        "cases.jsonl",
        include_str!("../../../sdk/templates/forge-task/cases.jsonl"),
    ),
    (
        "SOURCE.md",
        include_str!("../../../sdk/templates/forge-task/SOURCE.md"),
    ),
];

fn task_command(home: &Path, command: TaskCommand) -> Result<()> {
    match command {
        TaskCommand::New { name, dir, json } => {
            if !hyper_forge::tasks::valid_name(&name) {
                anyhow::bail!("task name `{name}` must start with a-z and use only a-z, 0-9 and -");
            }
            if hyper_forge::tasks::built_in_names().contains(&name.as_str()) {
                anyhow::bail!("`{name}` is a built-in task; give yours another name");
            }
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            crate::scaffold::ensure_empty(&dir)?;
            for (file, text) in TASK_TEMPLATE {
                crate::scaffold::write(&dir, file, &text.replace("{{name}}", &name))?;
            }
            if json {
                println!("{}", serde_json::json!({"dir": dir, "name": name}));
            } else {
                println!(
                    "created {}; next: hyper forge task install {}",
                    dir.display(),
                    crate::scaffold::shell_path(&dir)
                );
            }
            Ok(())
        }
        TaskCommand::Install { dir, replace, json } => {
            let task = hyper_forge::tasks::install(home, &dir, replace)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"name": task.name, "cases": task.cases().len(), "suite_sha256": task.suite_hash()})
                );
            } else {
                println!(
                    "installed task {} ({} cases, pinned: sha256 {}); next: hyper skill new {0}-tool --task {0}",
                    task.name,
                    task.cases().len(),
                    task.suite_hash()
                );
            }
            Ok(())
        }
        TaskCommand::Remove { name, json } => {
            let dir = hyper_forge::tasks::remove(home, &name)?;
            if json {
                println!("{}", serde_json::json!({"removed": name}));
            } else {
                println!(
                    "removed task {name} ({}); its results stay in the journal",
                    dir.display()
                );
            }
            Ok(())
        }
    }
}

/// A file (loaded with `file_options`), an installed skill (with what its manifest was
/// granted), or an official tool.
fn tool_bytes(
    home: &Path,
    tool: &str,
    file_options: hyper_runtime::LoadOptions,
) -> Result<(String, Vec<u8>, hyper_runtime::LoadOptions)> {
    let path = PathBuf::from(tool);
    if path.is_file() {
        return Ok((
            path.display().to_string(),
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
            file_options,
        ));
    }
    if let Some((name, _, bytes)) = hyper_guests::FORGE_TOOLS
        .iter()
        .find(|(n, _, _)| *n == tool)
    {
        return Ok((
            format!("{name} (official)"),
            bytes.to_vec(),
            hyper_runtime::LoadOptions::default(),
        ));
    }
    if path.extension().is_some_and(|e| e == "wasm") {
        anyhow::bail!("no such file: {}", path.display());
    }
    let store = hyper_registry::Store::open(home)?;
    let installed = store.find(tool).with_context(|| {
        format!("`{tool}` is not a file, an official tool or an installed skill")
    })?;
    Ok((
        format!("{}@{}", installed.manifest.name, installed.manifest.version),
        store.component(&installed)?,
        hyper_registry::install::load_options(&installed.manifest),
    ))
}

#[allow(clippy::too_many_arguments)]
fn test(
    home: &Path,
    tool: &str,
    file_options: hyper_runtime::LoadOptions,
    task: &str,
    budget: hyper_forge::CaseBudget,
    filter: Option<String>,
    show: usize,
    any_task: bool,
    record: bool,
    json: bool,
) -> Result<()> {
    let task = &hyper_forge::tasks::find_in(home, task)?;
    let (label, bytes, options) = tool_bytes(home, tool, file_options)?;
    let runtime = crate::runtime(home)?;
    let loaded =
        hyper_forge::load_tool_with(&runtime, &bytes, options).with_context(|| label.clone())?;
    let bar = if !json && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} cases",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let progress_bar = bar.clone();
    let options = hyper_forge::ForgeOptions {
        budget,
        any_task,
        filter,
        threads: None,
        progress: Some(std::sync::Arc::new(move |done, total| {
            progress_bar.set_length(total as u64);
            progress_bar.set_position(done as u64);
        })),
    };
    let started = Instant::now();
    let report = hyper_forge::test_tool(&loaded, task, &options)?;
    bar.finish_and_clear();
    let journalled = if record && options.filter.is_none() {
        let mut journal = crate::open_journal(home)?;
        Some(hyper_forge::journal_report(
            &mut journal,
            task,
            &report,
            started.elapsed(),
        )?)
    } else {
        None
    };
    if json {
        let mut value = serde_json::to_value(&report)?;
        if let (Some(obj), Some(r)) = (value.as_object_mut(), &journalled) {
            obj.insert("journal_id".into(), r.id.clone().into());
            obj.insert("status".into(), r.status.as_str().into());
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "{} on {}: {}/{} passed ({:.2}%), {} failed, tool time {:.3} s",
        label,
        task.name,
        report.passed,
        report.passed + report.failed,
        report.pass_rate * 100.0,
        report.failed,
        report.tool_secs
    );
    if report.info_accepted + report.info_refused > 0 {
        println!(
            "implementation-defined cases (not scored): {} accepted, {} refused",
            report.info_accepted, report.info_refused
        );
    }
    let failures: Vec<_> = report.failures().collect();
    for (id, reason) in failures.iter().take(show) {
        println!("FAIL {id}: {reason}");
    }
    if failures.len() > show {
        println!(
            "… {} more failures (--show N, or --json for all)",
            failures.len() - show
        );
    }
    if let Some(r) = journalled {
        match &r.reason {
            Some(reason) => println!("journal: {} ({}: {reason})", r.id, r.status.as_str()),
            None => println!("journal: {} ({}: tops the board)", r.id, r.status.as_str()),
        }
    }
    Ok(())
}

fn board(home: &Path, task: &str, json: bool) -> Result<()> {
    let task = &hyper_forge::tasks::find_in(home, task)?;
    let journal = crate::open_journal(home)?;
    let rows = hyper_forge::board(&journal, task)?;
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|r| serde_json::json!({"tool": r.skill_name, "hash": r.skill_hash, "pass_rate": r.val, "metrics": r.metrics, "at": r.finished_at}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!(
            "no results for {} yet: hyper forge test TOOL --task {}",
            task.name, task.name
        );
    }
    for (i, r) in rows.iter().enumerate() {
        println!(
            "{:>2}. {:<24} {:>8.4}  {:>8.3} s  {}",
            i + 1,
            r.skill_name,
            r.val.unwrap_or(0.0),
            r.metrics
                .get("tool_secs")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0),
            &r.skill_hash[..12.min(r.skill_hash.len())]
        );
    }
    Ok(())
}
