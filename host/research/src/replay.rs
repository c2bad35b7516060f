//! Replaying a result: running the same skill (by hash) on the same parameters, seed and data,
//! scoring it with the same evaluator (by hash), and comparing with what its author reported,
//! under the domain's `[replay]` rule. This is how a node checks a stranger's result instead
//! of believing its signature.
//!
//! A replay has three outcomes, and only two of them are verdicts: it *agrees*, it
//! *disagrees* (the result is refuted), or it *cannot be replayed here* (the receipt names a
//! skill, evaluator, data or domain version this node does not have, or a platform the rule
//! says must match): that is neither agreement nor refutation.

use std::time::Instant;

use hyper_runtime::{Artifact, Evaluator, ExperimentSpec, Failure, FailureKind, Metric, Skill};
use hyper_runtime::{RunReport, Split};
use serde::{Deserialize, Serialize};

use crate::domain::{AgreeRule, Domain, PlatformRule};
use crate::params::Space;

/// Everything a replay needs, as a result record carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: String,
    pub domain: String,
    pub domain_version: String,
    pub skill_hash: String,
    pub evaluator_hash: String,
    pub data_hash: String,
    pub params: serde_json::Value,
    pub seed: u64,
    pub parent: Option<String>,
    pub platform: String,
    /// What the author reported on the validation and test splits.
    pub val: Option<f64>,
    pub test: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Agree,
    Disagree,
    /// Not replayable here; never counted as agreement or refutation.
    Unreplayable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Agree => "agree",
            Verdict::Disagree => "disagree",
            Verdict::Unreplayable => "unreplayable",
        }
    }
}

/// What a replay found.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayOutcome {
    pub verdict: Verdict,
    /// Why, in words (shown to people; names both figures when it ran).
    pub reason: String,
    /// The replay's own figures (None when it did not run or crashed).
    pub val: Option<f64>,
    pub test: Option<f64>,
    /// The platform the replay ran on.
    pub platform: String,
    /// Wall time spent, milliseconds (what the verifier's compute share counts).
    pub duration_ms: u64,
}

/// The platform of a run: this machine plus the devices the call used.
pub fn run_platform(report: &RunReport) -> String {
    let mut platform = crate::platform();
    if let Some(device) = report.tensor_device {
        platform.push_str(&format!(" tensors={device}"));
    }
    if let Some(adapter) = &report.gpu_adapter {
        platform.push_str(&format!(" gpu={adapter}"));
    }
    platform
}

/// What `platform = "same"` compares: the architecture and OS, the tensor device and the GPU
/// (not the CPU count or the runtime version, which do not change results by themselves).
pub fn platform_class(platform: &str) -> String {
    let mut words = platform.split_whitespace();
    let mut class = vec![words.next().unwrap_or("").to_string()];
    for word in words {
        if word.starts_with("tensors=") || word.starts_with("gpu=") {
            class.push(word.to_string());
        }
    }
    // A GPU adapter name may hold spaces: keep everything after `gpu=`.
    if let Some(at) = platform.find(" gpu=") {
        class.retain(|w| !w.starts_with("gpu="));
        class.push(platform[at + 1..].to_string());
    }
    class.join(" ")
}

/// Scores an artifact on both splits; the first metric must be the domain's, finite.
pub(crate) fn score(
    domain: &Domain,
    evaluator: &Evaluator,
    artifact: &Artifact,
) -> Result<(f64, f64, serde_json::Value), Failure> {
    let policy = domain.evaluator_policy();
    let val = evaluator.score(&policy, artifact, Split::Validation)?;
    let test = evaluator.score(&policy, artifact, Split::Test)?;
    let primary = |ms: &[Metric]| -> Result<f64, Failure> {
        match ms.first() {
            Some(m) if m.name == domain.manifest.metric.name && m.value.is_finite() => Ok(m.value),
            Some(m) => Err(Failure::new(
                FailureKind::BadArtifact,
                format!(
                    "evaluator returned `{}` = {} first, expected a finite `{}`",
                    m.name, m.value, domain.manifest.metric.name
                ),
            )),
            None => Err(Failure::new(
                FailureKind::BadArtifact,
                "evaluator returned no metric",
            )),
        }
    };
    Ok((
        primary(&val)?,
        primary(&test)?,
        serde_json::json!({ "validation": metrics_json(&val), "test": metrics_json(&test) }),
    ))
}

pub(crate) fn metrics_json(metrics: &[Metric]) -> serde_json::Value {
    metrics
        .iter()
        .map(|m| (m.name.clone(), serde_json::json!(m.value)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn figure(x: Option<f64>) -> String {
    x.map(|v| format!("{v}"))
        .unwrap_or_else(|| "nothing".into())
}

/// Checks what can be checked without running: the receipt must name this domain, its
/// version, these components and this data. `None` when it may run.
fn precheck(
    domain: &Domain,
    data_hash: &str,
    skill: &Skill,
    evaluator: &Evaluator,
    receipt: &Receipt,
) -> Option<String> {
    let rule = &domain.manifest.replay;
    if receipt.domain != domain.name() {
        return Some(format!(
            "the result is for domain `{}`, not `{}`",
            receipt.domain,
            domain.name()
        ));
    }
    if receipt.domain_version != domain.version() {
        return Some(format!(
            "the result was scored on version `{}` of `{}`; this node has version `{}`",
            receipt.domain_version,
            domain.name(),
            domain.version()
        ));
    }
    if receipt.skill_hash != skill.hash() {
        return Some(format!(
            "this node does not have skill {}",
            receipt.skill_hash
        ));
    }
    if receipt.evaluator_hash != evaluator.hash() {
        return Some(format!(
            "the result was scored by evaluator {}; this node's is {}",
            receipt.evaluator_hash,
            evaluator.hash()
        ));
    }
    if receipt.data_hash != data_hash {
        return Some(format!(
            "the result ran on data {}; this node's data is {}",
            if receipt.data_hash.is_empty() {
                "not named in its receipt"
            } else {
                &receipt.data_hash
            },
            data_hash
        ));
    }
    let theirs = platform_class(&receipt.platform);
    let ours = platform_class(&crate::platform());
    let arch = |c: &str| c.split(' ').next().unwrap_or("").to_string();
    if rule.platform == PlatformRule::Same && arch(&theirs) != arch(&ours) {
        return Some(format!(
            "another platform: the result ran on `{}`, this node is `{}` and `{}` requires the same",
            arch(&theirs),
            arch(&ours),
            domain.name()
        ));
    }
    None
}

/// Whether two figures agree under the domain's rule.
fn agrees(domain: &Domain, theirs: Option<f64>, ours: Option<f64>) -> bool {
    match (theirs, ours) {
        (None, None) => true,
        (Some(a), Some(b)) => match domain.manifest.replay.agree {
            AgreeRule::Exact => a.to_bits() == b.to_bits(),
            AgreeRule::Tolerance => {
                (a - b).abs() <= domain.manifest.replay.tolerance.unwrap_or(0.0)
            }
        },
        _ => false,
    }
}

/// Replays one result. `data_hash` is [`Domain::data_hash`] (computed once by the caller:
/// hashing a domain's data costs milliseconds per replay otherwise). The skill and the
/// evaluator must be loaded by the caller from the hashes the receipt names; a mismatch is
/// reported as not replayable, never as a refutation.
pub fn replay(
    domain: &Domain,
    data_hash: &str,
    skill: &Skill,
    evaluator: &Evaluator,
    receipt: &Receipt,
) -> ReplayOutcome {
    let started = Instant::now();
    let outcome = |verdict, reason: String, val, test, platform: String| ReplayOutcome {
        verdict,
        reason,
        val,
        test,
        platform,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    if let Some(why) = precheck(domain, data_hash, skill, evaluator, receipt) {
        return outcome(Verdict::Unreplayable, why, None, None, crate::platform());
    }
    let policy = domain.skill_policy();
    let space = skill
        .describe(&policy)
        .map_err(|f| format!("the skill's describe() failed: {f}"))
        .and_then(|info| Space::new(info.params))
        .and_then(|mut space| space.pin(&domain.manifest.fixed).map(|_| space));
    let space = match space {
        Ok(space) => space,
        Err(e) => {
            return outcome(
                Verdict::Unreplayable,
                format!("the skill cannot run here: {e}"),
                None,
                None,
                crate::platform(),
            )
        }
    };
    // Parameters outside the skill's declared space (or differing from what the domain
    // pins) cannot have come from this skill: the result is refuted.
    let Some(assignment) = space
        .from_json(&receipt.params)
        .filter(|a| Space::to_json(&space.fix(a.clone())) == Space::to_json(a))
    else {
        return outcome(
            Verdict::Disagree,
            "its parameters are not a point of the skill's declared space (or change what the domain pins)".into(),
            None,
            None,
            crate::platform(),
        );
    };
    let spec = ExperimentSpec {
        id: receipt.id.clone(),
        domain: domain.name().to_string(),
        params: space.to_wit(&assignment),
        seed: receipt.seed,
        parent: receipt.parent.clone(),
    };
    let (artifact, report) = skill.run(&policy, &spec, None);
    let platform = run_platform(&report);
    let rule = &domain.manifest.replay;
    if rule.platform == PlatformRule::Same
        && platform_class(&platform) != platform_class(&receipt.platform)
    {
        return outcome(
            Verdict::Unreplayable,
            format!(
                "another platform: the result ran on `{}`, the replay on `{}`, and `{}` requires the same",
                platform_class(&receipt.platform),
                platform_class(&platform),
                domain.name()
            ),
            None,
            None,
            platform,
        );
    }
    let (val, test, crashed) = match artifact.and_then(|a| score(domain, evaluator, &a)) {
        Ok((val, test, _)) => (Some(val), Some(test), None),
        Err(failure) => (None, None, Some(failure.to_string())),
    };
    let agree = agrees(domain, receipt.val, val) && agrees(domain, receipt.test, test);
    let how = match rule.agree {
        AgreeRule::Exact => "exactly".to_string(),
        AgreeRule::Tolerance => format!("within {}", rule.tolerance.unwrap_or(0.0)),
    };
    let reason = match (&crashed, agree) {
        (Some(why), _) if receipt.val.is_some() => format!(
            "the replay failed ({why}) where the result reports {} {}",
            domain.manifest.metric.name,
            figure(receipt.val)
        ),
        (_, true) => format!(
            "the replay reproduces it {how}: {} {} / test {} (reported {} / {})",
            domain.manifest.metric.name,
            figure(val),
            figure(test),
            figure(receipt.val),
            figure(receipt.test)
        ),
        (_, false) => format!(
            "the replay gives {} {} / test {}, the result reports {} / {} (must agree {how})",
            domain.manifest.metric.name,
            figure(val),
            figure(test),
            figure(receipt.val),
            figure(receipt.test)
        ),
    };
    let verdict = if agree {
        Verdict::Agree
    } else {
        Verdict::Disagree
    };
    outcome(verdict, reason, val, test, platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_class_keeps_arch_devices_and_gpu_names_with_spaces() {
        assert_eq!(
            platform_class("x86_64-linux cpus=2 wasmtime=48.0.8 tensors=cpu"),
            "x86_64-linux tensors=cpu"
        );
        assert_eq!(
            platform_class("x86_64-linux cpus=16 wasmtime=48.0.8 gpu=NVIDIA H200 (Vulkan)"),
            "x86_64-linux gpu=NVIDIA H200 (Vulkan)"
        );
        assert_eq!(
            platform_class("x86_64-linux cpus=2 wasmtime=48.0.8"),
            platform_class("x86_64-linux cpus=64 wasmtime=48.0.8")
        );
    }
}
