//! `hyper domain new|build|install|remove` and `hyper domains`: causes, the research domains
//! anyone can write. The checks and the install live in hyper-research (`domain`); this
//! module parses, loads the evaluator in the sandbox for the check, and prints.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use hyper_research::{domain, Domain};
use hyper_runtime::{Direction, Evaluator};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DirectionArg {
    Higher,
    Lower,
}

#[derive(Subcommand)]
pub enum DomainCommand {
    /// Start a cause: manifest, data and held-out folders, an evaluator and a starter skill
    /// (Rust), ready to build, install and run.
    New {
        name: String,
        /// Folder to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The primary metric's name.
        #[arg(long, default_value = "accuracy")]
        metric: String,
        #[arg(long, value_enum, default_value = "higher")]
        direction: DirectionArg,
        #[arg(long)]
        json: bool,
    },
    /// Build a cause folder's evaluator (evaluator/ -> evaluator.wasm) and starter skill.
    Build {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Check a cause folder (manifest, evaluator loaded and asked its metric in the sandbox)
    /// and install it under $HYPER_HOME/domains, pinning its evaluator by SHA-256.
    Install {
        dir: PathBuf,
        /// Replace an installed cause of the same name.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove an installed cause (built-in domains cannot be removed).
    Remove {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

fn builtin_names() -> Vec<&'static str> {
    hyper_guests::DOMAINS.iter().map(|d| d.name).collect()
}

pub fn run(home: &Path, command: DomainCommand) -> Result<()> {
    match command {
        DomainCommand::New {
            name,
            dir,
            metric,
            direction,
            json,
        } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            crate::scaffold::new_domain(
                &name,
                &metric,
                matches!(direction, DirectionArg::Higher),
                &dir,
            )?;
            if json {
                println!("{}", serde_json::json!({"dir": dir, "name": name}));
            } else {
                println!(
                    "created {}; next: hyper domain build {1} && hyper domain install {1}",
                    dir.display(),
                    crate::scaffold::shell_path(&dir)
                );
            }
            Ok(())
        }
        DomainCommand::Build { dir, json } => {
            let built = crate::scaffold::build_domain(&dir)?;
            if json {
                println!("{}", serde_json::json!({ "built": built }));
            }
            Ok(())
        }
        DomainCommand::Install { dir, force, json } => install(home, &dir, force, json),
        DomainCommand::Remove { name, json } => {
            crate::install_builtin(home)?;
            if builtin_names().contains(&name.as_str()) {
                bail!("`{name}` is a built-in domain and cannot be removed");
            }
            let d = Domain::find(home, &name)?;
            std::fs::remove_dir_all(&d.dir)
                .with_context(|| format!("removing {}", d.dir.display()))?;
            if json {
                println!("{}", serde_json::json!({"removed": name}));
            } else {
                println!("removed {name} ({})", d.dir.display());
            }
            Ok(())
        }
    }
}

fn install(home: &Path, dir: &Path, force: bool, json: bool) -> Result<()> {
    crate::install_builtin(home)?;
    let runtime = crate::runtime(home)?;
    let reserved = builtin_names();
    let installed = domain::install_cause(home, dir, &reserved, force, |src| {
        let path = src.evaluator_path();
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let evaluator = Evaluator::load(&runtime, &bytes).map_err(|f| f.to_string())?;
        let info = evaluator
            .describe(&src.evaluator_policy())
            .map_err(|f| format!("describe() failed: {f}"))?;
        let direction = match info.direction {
            Direction::HigherIsBetter => "higher",
            Direction::LowerIsBetter => "lower",
        };
        if info.name != src.manifest.metric.name || direction != src.manifest.metric.direction {
            return Err(format!(
                "it scores `{}` ({direction} is better) but the manifest says `{}` ({} is better)",
                info.name, src.manifest.metric.name, src.manifest.metric.direction
            ));
        }
        if let Some(skill) = src.default_skill_path() {
            let bytes = std::fs::read(&skill).map_err(|e| format!("{}: {e}", skill.display()))?;
            hyper_runtime::Skill::load(&runtime, &bytes)
                .map_err(|f| format!("default skill {}: {f}", skill.display()))?;
        }
        Ok(())
    })?;
    let lock = installed
        .lock()?
        .context("the installed cause has no lock")?;
    if json {
        println!(
            "{}",
            serde_json::json!({"name": installed.name(), "dir": installed.dir, "evaluator_sha256": lock.evaluator_sha256, "source": lock.source})
        );
    } else {
        println!(
            "installed cause {} at {} (evaluator pinned: sha256 {}); next: hyper run {0}",
            installed.name(),
            installed.dir.display(),
            lock.evaluator_sha256
        );
    }
    Ok(())
}

/// `hyper domains`: every installed domain, built-in or cause, with its evaluator pin.
pub fn list(home: &Path, json: bool) -> Result<()> {
    crate::install_builtin(home)?;
    let names = Domain::installed(home)?;
    let mut rows = Vec::new();
    for n in &names {
        let row = match Domain::find(home, n) {
            Ok(d) => {
                let lock = d.lock().ok().flatten();
                serde_json::json!({
                    "name": d.name(),
                    "kind": match &lock { Some(l) if l.is_builtin() => "built-in", Some(_) => "cause", None => "unpinned" },
                    "description": d.manifest.description,
                    "metric": d.manifest.metric.name,
                    "direction": d.manifest.metric.direction,
                    "evaluator_sha256": lock.as_ref().map(|l| l.evaluator_sha256.clone()),
                    "source": lock.map(|l| l.source),
                    "path": d.dir,
                })
            }
            Err(e) => serde_json::json!({"name": n, "kind": "broken", "error": e.to_string()}),
        };
        rows.push(row);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for r in rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        if s("kind") == "broken" {
            println!("{:<18} broken: {}", s("name"), s("error"));
            continue;
        }
        let pin = s("evaluator_sha256");
        println!(
            "{:<18} {:<8} {:<8} {:<6} {:<14} {}",
            s("name"),
            s("kind"),
            s("metric"),
            s("direction"),
            pin.get(..12).unwrap_or("-"),
            s("description")
        );
    }
    Ok(())
}
