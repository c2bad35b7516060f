//! `hyper forge`: list the skill-forge tasks, test a tool skill on a task's conformance suite,
//! show a task's leaderboard. The work is in hyper-forge; this only parses and prints.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Subcommand)]
pub enum ForgeCommand {
    /// List the tasks, their suites and what a tool gets and returns.
    Tasks {
        #[arg(long)]
        json: bool,
    },
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

pub fn run(home: &Path, command: ForgeCommand) -> Result<()> {
    match command {
        ForgeCommand::Tasks { json } => tasks(json),
        ForgeCommand::Test {
            tool,
            task,
            case_secs,
            case_memory,
            filter,
            show,
            any_task,
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
            test(
                home,
                &tool,
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

fn tasks(json: bool) -> Result<()> {
    if json {
        let list: Vec<_> = hyper_forge::TASKS
            .iter()
            .map(|t| {
                let cases = t.cases().map(|c| c.len()).unwrap_or(0);
                serde_json::json!({"task": t.name, "suite": t.suite, "cases": cases, "protocol": t.protocol})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for t in hyper_forge::TASKS {
        let official = hyper_guests::FORGE_TOOLS
            .iter()
            .find(|(_, task, _)| *task == t.name)
            .map_or("-", |(name, _, _)| *name);
        println!("{}  (official tool: {official})", t.name);
        println!("  suite:    {}", t.suite);
        println!("  protocol: {}", t.protocol);
    }
    Ok(())
}

/// A file, an installed skill, or an official tool.
fn tool_bytes(home: &Path, tool: &str) -> Result<(String, Vec<u8>)> {
    let path = PathBuf::from(tool);
    if path.is_file() {
        return Ok((
            path.display().to_string(),
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        ));
    }
    if let Some((name, _, bytes)) = hyper_guests::FORGE_TOOLS
        .iter()
        .find(|(n, _, _)| *n == tool)
    {
        return Ok((format!("{name} (official)"), bytes.to_vec()));
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
    ))
}

#[allow(clippy::too_many_arguments)]
fn test(
    home: &Path,
    tool: &str,
    task: &str,
    budget: hyper_forge::CaseBudget,
    filter: Option<String>,
    show: usize,
    any_task: bool,
    record: bool,
    json: bool,
) -> Result<()> {
    let task = hyper_forge::tasks::find(task)?;
    let (label, bytes) = tool_bytes(home, tool)?;
    let runtime = crate::runtime(home)?;
    let loaded = hyper_forge::load_tool(&runtime, &bytes).with_context(|| label.clone())?;
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
    let task = hyper_forge::tasks::find(task)?;
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
