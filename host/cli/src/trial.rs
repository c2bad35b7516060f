//! `hyper try`: one experiment with parameters chosen by hand (the research crate's
//! [`ResearchLoop::trial`]), its value on the validation split, the guest's log and, when
//! asked, the artifact on disk and the record in the journal.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use hyper_research::{Domain, LoopOptions, ResearchLoop, Trial};
use hyper_runtime::escape_control;

#[derive(Args)]
pub struct TryArgs {
    /// The skill: a component file (.wasm) or an installed skill (`name[@version]`,
    /// `sha256:<prefix>`).
    skill: PathBuf,
    /// The domain (default: the one the skill says it is for).
    #[arg(long)]
    domain: Option<String>,
    /// A parameter's value (repeatable); the others keep the skill's defaults.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Seed of the experiment.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the artifact the skill made into this folder, for inspection.
    #[arg(long, value_name = "DIR")]
    keep_artifact: Option<PathBuf>,
    /// Append the experiment to the journal (it is not kept otherwise).
    #[arg(long)]
    journal: bool,
    /// See `hyper run --allow-inert-sockets`.
    #[arg(long)]
    allow_inert_sockets: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(home: &Path, args: TryArgs) -> Result<()> {
    crate::install_builtin(home)?;
    let runtime = crate::runtime(home)?;
    let (name, skill) = crate::load_skill(
        home,
        &runtime,
        Some(&args.skill),
        None,
        args.allow_inert_sockets,
    )?;
    let domain_name = match &args.domain {
        Some(d) => d.clone(),
        None => {
            skill
                .describe(&hyper_runtime::SandboxPolicy::default())
                .map_err(|f| anyhow::anyhow!("skill {name}: describe() failed: {f}"))?
                .domain
        }
    };
    let domain = Domain::find(home, &domain_name).with_context(|| {
        format!("skill {name} is for domain `{domain_name}`: install it or pass --domain")
    })?;
    let evaluator = crate::load_evaluator(&runtime, &domain)?;
    let metric = domain.manifest.metric.name.clone();
    let mut journal = crate::open_journal(home)?;
    let options = LoopOptions {
        seed: args.seed,
        fixed: crate::fixed_params(&args.set)?,
        ..LoopOptions::default()
    };
    let spinner = crate::spinner(&format!("trying {name} on {domain_name}"));
    let trial = ResearchLoop {
        domain,
        skill,
        evaluator,
        journal: &mut journal,
    }
    .trial(&options, args.journal);
    spinner.finish_and_clear();
    let trial = trial?;
    let kept = match (&args.keep_artifact, &trial.artifact) {
        (Some(dir), Some(a)) => Some(keep(dir, &trial.record.id, a)?),
        _ => None,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&as_json(&trial, &metric, &kept, args.journal))?
        );
    } else {
        print_text(&trial, &metric, &args, &kept);
    }
    match trial.failure() {
        Some(why) => bail!("the experiment failed: {why}"),
        None => Ok(()),
    }
}

/// Writes the artifact as `DIR/<id>.<ext>`, the extension read off its media type
/// (`…+tsv` → `tsv`, `application/json` → `json`; `bin` otherwise).
fn keep(dir: &Path, id: &str, artifact: &hyper_runtime::Artifact) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let essence = artifact.media_type.split(';').next().unwrap_or("").trim();
    let subtype = match essence.rsplit(['+', '/']).next().unwrap_or("") {
        "tab-separated-values" => "tsv",
        "plain" => "txt",
        other => other,
    };
    let ext = if !subtype.is_empty()
        && subtype.len() <= 10
        && subtype.chars().all(|c| c.is_ascii_alphanumeric())
    {
        subtype
    } else {
        "bin"
    };
    let path = dir.join(format!("{id}.{ext}"));
    std::fs::write(&path, &artifact.bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn as_json(
    trial: &Trial,
    metric: &str,
    kept: &Option<PathBuf>,
    journaled: bool,
) -> serde_json::Value {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    serde_json::json!({
        "id": trial.record.id,
        "params": trial.record.params,
        "metric": metric,
        "val": trial.record.val,
        "metrics": trial.record.metrics,
        "failure": trial.failure(),
        "duration_ms": trial.record.duration_ms,
        "logs": trial.report.logs.iter().map(|l| serde_json::json!({ "level": l.level, "message": l.message })).collect::<Vec<_>>(),
        "stdout": text(&trial.report.stdout),
        "stderr": text(&trial.report.stderr),
        "artifact": trial.artifact.as_ref().map(|a| serde_json::json!({
            "media_type": a.media_type, "bytes": a.bytes.len(), "kept": kept,
        })),
        "journaled": journaled,
        "status": trial.record.status.as_str(),
    })
}

fn print_text(trial: &Trial, metric: &str, args: &TryArgs, kept: &Option<PathBuf>) {
    println!(
        "params   {}",
        hyper_journal::describe_params(&trial.record.params)
    );
    match (trial.record.val, trial.failure()) {
        (Some(v), _) => println!(
            "{metric} {v:.4} (validation split, {} ms)",
            trial.record.duration_ms
        ),
        (None, Some(why)) => println!("failed   {}", escape_control(why)),
        (None, None) => {}
    }
    let shown = |bytes: &[u8]| -> Vec<String> {
        let text = String::from_utf8_lossy(bytes);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..]
            .iter()
            .map(|l| escape_control(l))
            .collect()
    };
    if !trial.report.logs.is_empty() {
        println!("guest log:");
        for l in &trial.report.logs {
            println!("  [{}] {}", l.level, escape_control(&l.message));
        }
    }
    for (what, bytes) in [
        ("stdout", &trial.report.stdout),
        ("stderr", &trial.report.stderr),
    ] {
        if !bytes.is_empty() {
            println!("guest {what} (last lines):");
            for line in shown(bytes) {
                println!("  {line}");
            }
        }
    }
    if let Some(a) = &trial.artifact {
        match kept {
            Some(path) => println!(
                "artifact {} ({}, {} bytes)",
                path.display(),
                escape_control(&a.media_type),
                a.bytes.len()
            ),
            None => println!(
                "artifact {} bytes of {} (--keep-artifact DIR writes it)",
                a.bytes.len(),
                escape_control(&a.media_type)
            ),
        }
    }
    if args.journal {
        println!(
            "journaled as {} ({})",
            trial.record.id,
            trial.record.status.as_str()
        );
    } else {
        println!("not journaled (--journal keeps it)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The media type is the guest's text: it picks an extension, never a path.
    #[test]
    fn a_guests_media_type_cannot_name_where_the_artifact_goes() {
        let dir = tempfile::tempdir().expect("tmp");
        let kept = |media_type: &str| {
            let artifact = hyper_runtime::Artifact {
                media_type: media_type.into(),
                bytes: b"x".to_vec(),
            };
            let path = keep(dir.path(), "try-1", &artifact).expect("kept");
            assert_eq!(path.parent(), Some(dir.path()), "{media_type:?}");
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        assert_eq!(
            kept("text/tab-separated-values; profile=trec-run"),
            "try-1.tsv"
        );
        assert_eq!(kept("application/vnd.hyper.search-run+json"), "try-1.json");
        // Whatever the text, the file is DIR/try-1.<1 to 10 letters or digits>.
        for hostile in [
            "../../etc/passwd",
            "a/..",
            "text/../../x",
            "a+/",
            "",
            "text/\u{1b}[31m",
            "text/averyveryverylongsubtype",
            "text/x\0y",
            "/",
            "text/.hidden",
        ] {
            let name = kept(hostile);
            let ext = name.strip_prefix("try-1.").unwrap_or("");
            assert!(
                (1..=10).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric()),
                "{hostile:?} -> {name}"
            );
        }
        for unnamed in ["a/..", "a+/", "", "text/\u{1b}[31m", "text/x\0y", "/"] {
            assert_eq!(kept(unnamed), "try-1.bin", "{unnamed:?}");
        }
    }
}
