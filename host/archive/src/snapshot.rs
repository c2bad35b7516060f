//! `hyper snapshot`: the network's state as one JSON document, with the fields of
//! Hyperspace's snapshot v2 (`version`, `timestamp`, `generatedBy`, `summary`,
//! `leaderboards` with `top10` and `globalBest` per domain, `experimentCounts`,
//! `disclaimer`) plus hyper's own: each entry's verification status, test-split metric and
//! noise floor, and per domain the verification counts and the explored-space coverage.
//! `snapshot.schema.json` (next to this crate's manifest) is its JSON Schema.
//!
//! Leaderboards rank only what this node counts as **verified** (a signature is not the
//! truth); the counts cover every result on the board.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::state::BoardState;
use hyper_swarm::record::SignedResult;
use hyper_swarm::trust::Status;

pub const SNAPSHOT_VERSION: u32 = 2;
/// The schema, embedded so that a running binary can hand it out.
pub const SCHEMA: &str = include_str!("../snapshot.schema.json");

const DISCLAIMER: &str = "Results are reported by independent, untrusted nodes. Leaderboards \
rank only results this node counts as verified (replayed by it or by attesters it trusts); \
validation metrics come from the authors' runs, test-split metrics are held out from the loop. \
Nothing here is investment, medical or any other advice.";

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub version: u32,
    pub timestamp: String,
    pub generated_by: String,
    pub summary: Summary,
    pub leaderboards: BTreeMap<String, DomainBoard>,
    pub experiment_counts: BTreeMap<String, Counts>,
    pub disclaimer: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub domains: usize,
    pub experiments: usize,
    pub verified: usize,
    pub agents: usize,
    pub attestations: usize,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainBoard {
    pub metric: Option<String>,
    pub direction: Option<String>,
    /// The best verified result of each of the ten best agents, best first.
    pub top10: Vec<Entry>,
    pub global_best: Option<Entry>,
    /// Share of the declared space this node's loop saw explored (None: it researches
    /// nothing here).
    pub coverage: Option<f64>,
    pub diversity: Option<hyper_research::Diversity>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub rank: usize,
    pub agent: String,
    pub experiment_id: String,
    pub key: String,
    pub skill_hash: String,
    pub value: f64,
    pub test_value: Option<f64>,
    pub verification: Status,
    pub noise_floor: Option<f64>,
    pub params: serde_json::Value,
    pub platform: String,
    pub finished_at: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub total: usize,
    /// Results per verification status.
    pub by_verification: BTreeMap<String, usize>,
    /// Results per experiment status (baseline, keep, discard, crash…).
    pub by_status: BTreeMap<String, usize>,
    pub by_agent: BTreeMap<String, usize>,
}

fn rfc3339(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

fn entry(state: &BoardState, rank: usize, r: &SignedResult) -> Option<Entry> {
    let rec = &r.record;
    Some(Entry {
        rank,
        agent: rec.author.clone(),
        experiment_id: rec.id.clone(),
        key: r.key(),
        skill_hash: rec.skill_hash.clone(),
        value: rec.val.filter(|v| v.is_finite())?,
        test_value: rec.test.filter(|v| v.is_finite()),
        verification: state.status(r),
        noise_floor: state.noise_floor(&rec.author, &rec.skill_hash),
        params: rec.params.clone(),
        platform: rec.platform.clone(),
        finished_at: rfc3339(rec.finished_ms),
    })
}

/// The verified, scored results of a board, best first.
pub fn verified_ranked(state: &BoardState) -> Vec<&SignedResult> {
    let mut ranked: Vec<&SignedResult> = state
        .results
        .iter()
        .filter(|r| r.record.val.is_some_and(f64::is_finite))
        .filter(|r| state.status(r) == Status::Verified)
        .collect();
    ranked.sort_by(|a, b| a.rank(b));
    ranked
}

fn board(state: &BoardState) -> DomainBoard {
    let ranked = verified_ranked(state);
    let mut seen = BTreeSet::new();
    let best_per_agent: Vec<&SignedResult> = ranked
        .iter()
        .copied()
        .filter(|r| seen.insert(r.record.author.clone()))
        .take(10)
        .collect();
    let first = state.results.first().map(|r| &r.record);
    DomainBoard {
        metric: first.map(|r| r.metric.clone()),
        direction: first.map(|r| r.direction.clone()),
        top10: best_per_agent
            .iter()
            .enumerate()
            .filter_map(|(i, r)| entry(state, i + 1, r))
            .collect(),
        global_best: ranked.first().and_then(|r| entry(state, 1, r)),
        coverage: state.diversity.as_ref().map(|d| d.coverage),
        diversity: state.diversity.clone(),
    }
}

fn counts(state: &BoardState) -> Counts {
    let mut c = Counts {
        total: state.results.len(),
        by_verification: Status::counts(state.results.iter().map(|r| state.status(r))),
        by_status: BTreeMap::new(),
        by_agent: BTreeMap::new(),
    };
    for r in &state.results {
        *c.by_status.entry(r.record.status.clone()).or_default() += 1;
        *c.by_agent.entry(r.record.author.clone()).or_default() += 1;
    }
    c
}

impl Snapshot {
    /// The snapshot of `states` as of `now_ms`, generated by `generated_by` (e.g.
    /// `hyper 0.1.0 (12D3…)`).
    pub fn build(states: &[BoardState], generated_by: &str, now_ms: u64) -> Snapshot {
        let experiment_counts: BTreeMap<String, Counts> = states
            .iter()
            .map(|s| (s.domain.clone(), counts(s)))
            .collect();
        let agents: BTreeSet<&str> = states
            .iter()
            .flat_map(|s| s.results.iter().map(|r| r.record.author.as_str()))
            .collect();
        Snapshot {
            version: SNAPSHOT_VERSION,
            timestamp: rfc3339(now_ms),
            generated_by: generated_by.to_string(),
            summary: Summary {
                domains: states.len(),
                experiments: experiment_counts.values().map(|c| c.total).sum(),
                verified: experiment_counts
                    .values()
                    .map(|c| c.by_verification.get("verified").copied().unwrap_or(0))
                    .sum(),
                agents: agents.len(),
                attestations: states.iter().map(|s| s.attestations).sum(),
            },
            leaderboards: states
                .iter()
                .map(|s| (s.domain.clone(), board(s)))
                .collect(),
            experiment_counts,
            disclaimer: DISCLAIMER.to_string(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
