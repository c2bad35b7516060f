//! The verifier every node runs: it replays other nodes' results in the sandbox and publishes
//! what it found as signed attestations, spending a bounded share of the node's compute.
//!
//! What to replay comes from the node ([`NodeClient::replay_candidates`]: would-be bests
//! first, then new or disputed identities, then a sample that thins out for identities with a
//! long verified record — BOINC's adaptive replication). How much: a [`ComputeMeter`] counts
//! the wall time of its replays, and a replay starts only while replays have taken at most
//! `share` of the node's uptime — the verifier is a duty cycle: busy at most `share` of the
//! time, whether or not the node also researches (a node whose research has finished keeps
//! checking others at the same pace). The meter also counts this node's own experiments, so
//! the share of compute spent on replays can be reported. A share of 0 turns it off.
//!
//! The skill a result names (by hash) is looked for in the domain's default skill, the local
//! store, and then at peers (by component hash); the evaluator must be the domain's pinned one.
//! A result whose skill, evaluator, data or platform this node cannot match is attested as
//! `unreplayable`: said so, and never counted as agreement or refutation.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use hyper_research::{Domain, ReplayOutcome, Verdict};
use hyper_runtime::{Evaluator, Runtime, Skill};
use tokio::runtime::Handle;

use crate::attest::{now_ms, SignedAttestation};
use crate::node::NodeClient;
use crate::record::SignedResult;

/// Default share of compute spent on replays.
pub const DEFAULT_SHARE: f64 = 0.10;
/// How long a skill is looked for at peers.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a skill that could not be found is not looked for again.
const MISSING_SKILL_RETRY: Duration = Duration::from_secs(120);

/// Wall time spent on this node's own experiments and on replays, shared between the
/// research thread and the verifier.
#[derive(Debug)]
pub struct ComputeMeter {
    started: Instant,
    research_ms: AtomicU64,
    replay_ms: AtomicU64,
    replays: AtomicU64,
    /// Recent replays (when each ended, how long it took), for the sliding window.
    recent: std::sync::Mutex<std::collections::VecDeque<(Instant, u64)>>,
}

/// The window the share is enforced over: an idle verifier does not save up credit for a
/// burst longer than this.
pub const SHARE_WINDOW: Duration = Duration::from_secs(30);

impl Default for ComputeMeter {
    fn default() -> Self {
        ComputeMeter {
            started: Instant::now(),
            research_ms: AtomicU64::new(0),
            replay_ms: AtomicU64::new(0),
            replays: AtomicU64::new(0),
            recent: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }
}

/// What a meter has counted.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ComputeFigures {
    pub research_ms: u64,
    pub replay_ms: u64,
    pub replays: u64,
    /// replay / (research + replay): the share of this node's compute spent on replays.
    pub replay_share: f64,
    /// replay / uptime: the verifier's duty cycle (what `share` bounds).
    pub duty_cycle: f64,
}

impl ComputeMeter {
    /// Counts one of this node's own experiments.
    pub fn add_research(&self, ms: u64) {
        self.research_ms.fetch_add(ms, Ordering::Relaxed);
    }

    fn add_replay(&self, ms: u64) {
        self.replay_ms.fetch_add(ms, Ordering::Relaxed);
        self.replays.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut recent) = self.recent.lock() {
            recent.push_back((Instant::now(), ms));
        }
    }

    fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Whether a replay may start now: the replays of the last [`SHARE_WINDOW`] (or of the
    /// uptime, if shorter), plus one more of their average length, stay within `share` of it.
    /// So the first replay waits until the uptime covers a nominal second at that share, and
    /// an idle verifier cannot save up a burst.
    pub fn may_replay(&self, share: f64) -> bool {
        if share <= 0.0 {
            return false;
        }
        let (spent, count) = (
            self.replay_ms.load(Ordering::Relaxed),
            self.replays.load(Ordering::Relaxed),
        );
        let next = spent.checked_div(count).unwrap_or(1000);
        let window = self.started.elapsed().min(SHARE_WINDOW);
        let Ok(mut recent) = self.recent.lock() else {
            return false;
        };
        while recent
            .front()
            .is_some_and(|(end, _)| end.elapsed() > SHARE_WINDOW)
        {
            recent.pop_front();
        }
        let in_window: u64 = recent.iter().map(|(_, ms)| ms).sum();
        (in_window + next) as f64 <= share * window.as_millis() as f64
    }

    pub fn figures(&self) -> ComputeFigures {
        let replay_ms = self.replay_ms.load(Ordering::Relaxed);
        let research_ms = self.research_ms.load(Ordering::Relaxed);
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        ComputeFigures {
            research_ms,
            replay_ms,
            replays: self.replays.load(Ordering::Relaxed),
            replay_share: ratio(replay_ms, research_ms + replay_ms),
            duty_cycle: ratio(replay_ms, self.uptime_ms().max(replay_ms)),
        }
    }
}

/// One domain as the verifier uses it: loaded once.
struct DomainParts {
    domain: Domain,
    data_hash: String,
    evaluator: Evaluator,
    default_skill: Option<Skill>,
}

/// What a verifier works with, besides its node.
pub struct VerifierSetup {
    /// `$HYPER_HOME`: installed domains and the skill store.
    pub home: PathBuf,
    pub runtime: Runtime,
    /// The node's key: it signs the attestations.
    pub key: SigningKey,
    /// Shared with the research thread, which adds its experiments.
    pub meter: Arc<ComputeMeter>,
    /// Share of the node's time spent replaying (clamped to 0..=1; 0 turns it off).
    pub share: f64,
    pub domains: Vec<String>,
}

pub struct Verifier {
    client: NodeClient,
    handle: Handle,
    setup: VerifierSetup,
    parts: HashMap<String, Result<DomainParts, String>>,
    skills: HashMap<String, Skill>,
    missing: HashMap<String, Instant>,
}

impl Verifier {
    /// `handle` is the runtime the node runs on; the verifier is used from outside it (a
    /// plain thread: wasmtime calls block).
    pub fn new(client: NodeClient, handle: Handle, mut setup: VerifierSetup) -> Self {
        setup.share = setup.share.clamp(0.0, 1.0);
        Verifier {
            client,
            handle,
            setup,
            parts: HashMap::new(),
            skills: HashMap::new(),
            missing: HashMap::new(),
        }
    }

    fn parts(&mut self, domain: &str) -> Result<&DomainParts, String> {
        if !self.parts.contains_key(domain) {
            let loaded = self.load_parts(domain);
            self.parts.insert(domain.to_string(), loaded);
        }
        match self.parts.get(domain) {
            Some(Ok(parts)) => Ok(parts),
            Some(Err(e)) => Err(e.clone()),
            None => Err(format!("`{domain}` is not loaded")),
        }
    }

    fn load_parts(&self, name: &str) -> Result<DomainParts, String> {
        let domain = Domain::find(&self.setup.home, name).map_err(|e| e.to_string())?;
        let data_hash = domain.data_hash().map_err(|e| e.to_string())?;
        let evaluator = std::fs::read(domain.evaluator_path())
            .map_err(|e| format!("reading the evaluator: {e}"))
            .and_then(|b| Evaluator::load(&self.setup.runtime, &b).map_err(|f| f.to_string()))?;
        let default_skill = domain
            .default_skill_path()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| Skill::load(&self.setup.runtime, &b).ok());
        Ok(DomainParts {
            domain,
            data_hash,
            evaluator,
            default_skill,
        })
    }

    /// The skill with this component hash: the domain's default skill, the store, peers.
    fn skill(&mut self, domain: &str, sha256: &str) -> Option<Skill> {
        if let Ok(parts) = self.parts(domain) {
            if let Some(skill) = parts.default_skill.as_ref().filter(|s| s.hash() == sha256) {
                return Some(skill.clone());
            }
        }
        if let Some(skill) = self.skills.get(sha256) {
            return Some(skill.clone());
        }
        if self
            .missing
            .get(sha256)
            .is_some_and(|at| at.elapsed() < MISSING_SKILL_RETRY)
        {
            return None;
        }
        let bytes = hyper_registry::Store::open(&self.setup.home)
            .ok()
            .and_then(|store| store.component_by_hash(sha256))
            .or_else(|| self.fetch_from_peers(sha256));
        let skill = bytes.and_then(|b| Skill::load(&self.setup.runtime, &b).ok());
        match &skill {
            Some(skill) if skill.hash() == sha256 => {
                self.skills.insert(sha256.to_string(), skill.clone());
            }
            _ => {
                self.missing.insert(sha256.to_string(), Instant::now());
                return None;
            }
        }
        skill
    }

    /// A component from a peer's package, checked against the hash it must have.
    fn fetch_from_peers(&self, sha256: &str) -> Option<Vec<u8>> {
        let fetch = self.client.fetch_component(sha256);
        let bytes = self
            .handle
            .block_on(async { tokio::time::timeout(FETCH_TIMEOUT, fetch).await })
            .ok()?
            .ok()?;
        let package = hyper_registry::Package::from_bytes(&bytes).ok()?;
        let actual = {
            use sha2::{Digest, Sha256};
            hex::encode(Sha256::digest(&package.component))
        };
        (actual == sha256).then_some(package.component)
    }

    /// Replays one result here (no attestation is published). The time it reports covers
    /// finding the skill (a flood of results naming skills nobody has spends the verifier's
    /// share, not more) and the replay, not the one-time loading of the domain.
    pub fn replay(&mut self, result: &SignedResult) -> ReplayOutcome {
        let receipt = result.receipt();
        let loaded = self.parts(&receipt.domain).map(|_| ());
        let started = Instant::now();
        let unreplayable = |reason: String| ReplayOutcome {
            verdict: Verdict::Unreplayable,
            reason,
            val: None,
            test: None,
            platform: hyper_research::platform(),
            duration_ms: started.elapsed().as_millis() as u64,
        };
        if let Err(e) = loaded {
            return unreplayable(format!("this node cannot load `{}`: {e}", receipt.domain));
        }
        let Some(skill) = self.skill(&receipt.domain, &receipt.skill_hash) else {
            return unreplayable(format!(
                "skill {} is not in the domain, the store or at any peer asked",
                receipt.skill_hash
            ));
        };
        let Ok(parts) = self.parts(&receipt.domain) else {
            return unreplayable(format!("this node cannot load `{}`", receipt.domain));
        };
        let mut outcome = hyper_research::replay(
            &parts.domain,
            &parts.data_hash,
            &skill,
            &parts.evaluator,
            &receipt,
        );
        outcome.duration_ms = started.elapsed().as_millis() as u64;
        outcome
    }

    /// Replays one result and publishes this node's attestation about it.
    pub fn check(&mut self, result: &SignedResult) -> ReplayOutcome {
        let outcome = self.replay(result);
        self.setup.meter.add_replay(outcome.duration_ms);
        let attestation = SignedAttestation::sign(result, &outcome, &self.setup.key, now_ms());
        if let Err(e) = self.handle.block_on(self.client.attest(attestation)) {
            tracing::warn!("attestation about {} not published: {e}", result.key());
        }
        outcome
    }

    /// Replays the most important unchecked result of any domain, if the compute share
    /// allows. Returns what it replayed.
    pub fn step(&mut self) -> Option<(SignedResult, ReplayOutcome)> {
        if !self.setup.meter.may_replay(self.setup.share) {
            return None;
        }
        for domain in self.setup.domains.clone() {
            let candidates = self
                .handle
                .block_on(self.client.replay_candidates(&domain, 1))
                .unwrap_or_default();
            if let Some(result) = candidates.into_iter().next() {
                let outcome = self.check(&result);
                tracing::info!(
                    "replayed {}: {} ({})",
                    result.key(),
                    outcome.verdict.as_str(),
                    outcome.reason
                );
                return Some((result, outcome));
            }
        }
        None
    }

    /// Runs until `stop` is set, resting `idle` whenever there is nothing to do (or the share
    /// is spent).
    pub fn run(mut self, stop: Arc<AtomicBool>, idle: Duration) {
        // Load (compile) each domain's evaluator and default skill once, up front: a setup
        // cost, not a replay's.
        for domain in self.setup.domains.clone() {
            if let Err(e) = self.parts(&domain) {
                tracing::warn!("the verifier cannot check `{domain}` results: {e}");
            }
        }
        while !stop.load(Ordering::Relaxed) {
            if self.step().is_none() {
                std::thread::sleep(idle);
            }
        }
    }
}
