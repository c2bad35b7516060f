//! `hyper replay`: re-run one result — this journal's or a peer's from the board — with the
//! skill and evaluator its receipt names (by hash), and say whether it agrees.

use std::path::Path;

use anyhow::{bail, Context, Result};
use hyper_registry::Identity;
use hyper_research::{Domain, ReplayOutcome, Verdict};
use hyper_runtime::{Evaluator, Skill};
use hyper_swarm::attest::SignedAttestation;
use hyper_swarm::record::SignedResult;

/// Exit status when the replay disagrees (refutes the result); 1 is any error.
const EXIT_DISAGREE: i32 = 2;
/// Exit status when the result cannot be replayed here.
const EXIT_UNREPLAYABLE: i32 = 3;

pub fn replay(
    home: &Path,
    target: &str,
    domain: Option<&str>,
    attest: bool,
    json: bool,
) -> Result<()> {
    crate::install_builtin(home)?;
    let identity = Identity::load_or_create(home)?;
    let result = find_result(home, target, domain, &identity)?;
    let domain = Domain::find(home, &result.record.domain)?;
    let runtime = crate::runtime(home)?;
    let evaluator = Evaluator::load(&runtime, &std::fs::read(domain.evaluator_path())?)
        .map_err(|f| anyhow::anyhow!("evaluator: {f}"))?;
    let outcome = match find_skill(home, &domain, &result.record.skill_hash, &runtime) {
        Some(skill) => hyper_research::replay(
            &domain,
            &domain.data_hash()?,
            &skill,
            &evaluator,
            &result.receipt(),
        ),
        None => ReplayOutcome {
            verdict: Verdict::Unreplayable,
            reason: format!(
                "skill {} is not in the domain, the store or at any peer of a running node",
                result.record.skill_hash
            ),
            val: None,
            test: None,
            platform: hyper_research::platform(),
            duration_ms: 0,
        },
    };
    let own = result.record.author == hyper_swarm::record::peer_id_of(&identity.public_key());
    let published = if attest && !own && crate::node::node_running(home) {
        let now = hyper_swarm::attest::now_ms();
        let attestation = SignedAttestation::sign(&result, &outcome, identity.signing_key(), now);
        crate::node::publish_attestation(home, &attestation)?;
        true
    } else {
        false
    };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "result": result.key(),
                "domain": result.record.domain,
                "verdict": outcome.verdict,
                "reason": outcome.reason,
                "reported": { "val": result.record.val, "test": result.record.test, "platform": result.record.platform },
                "replay": { "val": outcome.val, "test": outcome.test, "platform": outcome.platform, "duration_ms": outcome.duration_ms },
                "attestation_published": published,
            })
        );
    } else {
        let figure = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.6}"));
        let metric = &domain.manifest.metric.name;
        println!("result    {} ({})", result.key(), result.record.domain);
        println!(
            "reported  {metric} {} / test {}   on {}",
            figure(result.record.val),
            figure(result.record.test),
            result.record.platform
        );
        println!(
            "replay    {metric} {} / test {}   on {}   in {:.1}s",
            figure(outcome.val),
            figure(outcome.test),
            outcome.platform,
            outcome.duration_ms as f64 / 1000.0
        );
        let word = match outcome.verdict {
            Verdict::Agree => "AGREES",
            Verdict::Disagree => "DISAGREES (refuted)",
            Verdict::Unreplayable => "CANNOT BE REPLAYED HERE (not a verdict)",
        };
        println!("verdict   {word}: {}", outcome.reason);
        if published {
            println!("published this node's attestation to the swarm");
        }
    }
    match outcome.verdict {
        Verdict::Agree => Ok(()),
        Verdict::Disagree => std::process::exit(EXIT_DISAGREE),
        Verdict::Unreplayable => std::process::exit(EXIT_UNREPLAYABLE),
    }
}

/// `<author>/<id>` from the running node's board (or the last saved one), or `<id>` from this
/// journal (signed with this node's key, as the node shares it).
fn find_result(
    home: &Path,
    target: &str,
    domain: Option<&str>,
    identity: &Identity,
) -> Result<SignedResult> {
    if target.is_empty() || target.len() > 256 || target.chars().any(char::is_control) {
        bail!(
            "`{}` is not an experiment id",
            hyper_runtime::escape_control(target)
        );
    }
    let journal = crate::open_journal(home)?;
    let domains: Vec<String> = match domain {
        Some(d) => vec![d.to_string()],
        None => Domain::installed(home)?,
    };
    if !target.contains('/') {
        for d in &domains {
            if let Some(record) = journal.list(d)?.into_iter().find(|r| r.id == target) {
                return Ok(hyper_swarm::record::from_journal(
                    &record,
                    identity.signing_key(),
                ));
            }
        }
        bail!("no experiment `{target}` in this journal (a peer's result is `<author>/<id>`)");
    }
    let domains = if domain.is_some() {
        domains
    } else {
        // Ask about the domains the node follows first.
        let mut d = domains;
        d.sort_by_key(|x| x != "search");
        d
    };
    for d in &domains {
        if let Some(found) = crate::node::board_result(home, d, target)? {
            return Ok(found);
        }
    }
    bail!(
        "no result `{target}` on the board of {} (is the node running and following that domain?)",
        domain.unwrap_or("any installed domain")
    )
}

/// The skill with this component hash: the domain's default skill, the store, then peers
/// through the running node.
fn find_skill(
    home: &Path,
    domain: &Domain,
    sha256: &str,
    runtime: &hyper_runtime::Runtime,
) -> Option<Skill> {
    let load = |bytes: Vec<u8>| {
        Skill::load(runtime, &bytes)
            .ok()
            .filter(|s| s.hash() == sha256)
    };
    if let Some(skill) = domain
        .default_skill_path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(load)
    {
        return Some(skill);
    }
    if let Some(bytes) = hyper_registry::Store::open(home)
        .ok()
        .and_then(|s| s.component_by_hash(sha256))
    {
        return load(bytes);
    }
    if !crate::node::node_running(home) {
        return None;
    }
    let file = crate::node::fetch_component(home, sha256)
        .context("fetching the skill from peers")
        .map_err(|e| tracing::info!("{e:#}"))
        .ok()?;
    let package = hyper_registry::Package::from_bytes(&std::fs::read(file).ok()?).ok()?;
    load(package.component)
}
