//! Per-domain aggregates the pages read: the board as of its last change, sorted newest
//! first, with indexes by key, experiment id and skill, downsampled series and the diversity
//! signal's history. Rebuilt in the background (at most once a second, and only when the
//! board's size changed or every 10 s for statuses), so requests never walk a whole board.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_archive::BoardState;
use hyper_swarm::attest::SignedAttestation;
use hyper_swarm::record::SignedResult;

use crate::Dashboard;

/// Most points of one node's metric series sent to a page.
pub const MAX_SERIES_POINTS: usize = 600;
/// Most diversity samples kept per domain.
pub const MAX_DIVERSITY_SAMPLES: usize = 2000;

pub struct DomainView {
    pub state: BoardState,
    /// Indices into `state.results`, newest first.
    pub newest: Vec<usize>,
    pub by_key: HashMap<String, usize>,
    pub by_id: HashMap<String, Vec<usize>>,
    /// Indices by skill hash, newest first.
    pub by_skill: BTreeMap<String, Vec<usize>>,
    pub attestations: HashMap<String, Vec<SignedAttestation>>,
    pub series: serde_json::Value,
    /// The best verified result of each agent, best first (at most [`MAX_LEADERS`]).
    pub leaders: Vec<usize>,
    pub verified: usize,
    pub built: Instant,
}

/// Most agents on a leaderboard page.
pub const MAX_LEADERS: usize = 50;

#[derive(Default)]
pub struct Views {
    views: Mutex<HashMap<String, Arc<DomainView>>>,
    diversity: Mutex<HashMap<String, Vec<serde_json::Value>>>,
}

impl Views {
    pub fn get(&self, domain: &str) -> Option<Arc<DomainView>> {
        self.views.lock().ok()?.get(domain).cloned()
    }

    pub fn diversity_history(&self, domain: &str) -> Vec<serde_json::Value> {
        self.diversity
            .lock()
            .ok()
            .and_then(|m| m.get(domain).cloned())
            .unwrap_or_default()
    }

    fn record_diversity(&self, domain: &str, d: &hyper_research::Diversity, now_ms: u64) {
        let Ok(mut m) = self.diversity.lock() else {
            return;
        };
        let list = m.entry(domain.to_string()).or_default();
        let sample = serde_json::json!({
            "ms": now_ms, "results": d.results, "coverage": d.coverage,
            "entropy": d.entropy, "concentration": d.concentration, "collapsed": d.collapsed,
        });
        if list.last().map(|s| &s["results"]) != Some(&sample["results"]) {
            list.push(sample);
            if list.len() > MAX_DIVERSITY_SAMPLES {
                list.remove(0);
            }
        }
    }
}

fn now_ms() -> u64 {
    hyper_swarm::attest::now_ms()
}

/// Keeps every domain's view current while the node runs.
pub async fn refresh(d: Dashboard) {
    let mut sizes: HashMap<String, usize> = HashMap::new();
    loop {
        for domain in &d.domains {
            let diversity = d.diversity.lock().ok().and_then(|m| m.get(domain).cloned());
            if let Some(div) = &diversity {
                d.views.record_diversity(domain, div, now_ms());
            }
            let Ok(count) = d.client.count(domain).await else {
                return; // the node stopped
            };
            let stale = d
                .views
                .get(domain)
                .is_none_or(|v| v.built.elapsed() > Duration::from_secs(10));
            if sizes.get(domain) == Some(&count) && !stale {
                continue;
            }
            match build(&d, domain, diversity).await {
                Ok(Some(view)) => {
                    sizes.insert(domain.clone(), count);
                    if let Ok(mut m) = d.views.views.lock() {
                        m.insert(domain.clone(), Arc::new(view));
                    }
                }
                Ok(None) => {}
                Err(_) => return,
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn build(
    d: &Dashboard,
    domain: &str,
    diversity: Option<hyper_research::Diversity>,
) -> anyhow::Result<Option<DomainView>> {
    let Some(state) = BoardState::read(&d.client, domain, diversity).await? else {
        return Ok(None);
    };
    let attestations = d.client.attestations(domain).await?;
    Ok(Some(index(state, attestations)))
}

/// Builds the indexes of a board state (pure: tested without a node).
pub fn index(state: BoardState, attestations: Vec<SignedAttestation>) -> DomainView {
    let results = &state.results;
    let mut newest: Vec<usize> = (0..results.len()).collect();
    newest.sort_by(|&a, &b| {
        let (x, y) = (&results[a], &results[b]);
        (y.record.finished_ms, y.key()).cmp(&(x.record.finished_ms, x.key()))
    });
    let mut by_key = HashMap::new();
    let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_skill: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in &newest {
        by_key.insert(results[i].key(), i);
        by_id
            .entry(results[i].record.id.clone())
            .or_default()
            .push(i);
        by_skill
            .entry(results[i].record.skill_hash.clone())
            .or_default()
            .push(i);
    }
    let mut by_subject: HashMap<String, Vec<SignedAttestation>> = HashMap::new();
    for a in attestations {
        by_subject
            .entry(a.attestation.subject.clone())
            .or_default()
            .push(a);
    }
    let series = series(results, &newest);
    let mut seen = std::collections::HashSet::new();
    let leaders: Vec<usize> = hyper_archive::snapshot::verified_ranked(&state)
        .into_iter()
        .filter(|r| seen.insert(r.record.author.clone()))
        .take(MAX_LEADERS)
        .filter_map(|r| by_key.get(&r.key()).copied())
        .collect();
    let verified = state
        .statuses
        .values()
        .filter(|s| **s == hyper_swarm::trust::Status::Verified)
        .count();
    DomainView {
        leaders,
        verified,
        state,
        newest,
        by_key,
        by_id,
        by_skill,
        attestations: by_subject,
        series,
        built: Instant::now(),
    }
}

/// Metric over experiments per node (each node's k-th experiment, downsampled by taking
/// every n-th point) and the swarm's best so far over time.
fn series(results: &[SignedResult], newest: &[usize]) -> serde_json::Value {
    let mut per_agent: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut best: Vec<(u64, f64)> = Vec::new();
    let mut so_far: Option<f64> = None;
    for &i in newest.iter().rev() {
        let r = &results[i].record;
        let Some(v) = r.val.filter(|v| v.is_finite()) else {
            continue;
        };
        per_agent.entry(r.author.as_str()).or_default().push(v);
        let better = so_far.is_none_or(|b| if r.direction == "lower" { v < b } else { v > b });
        if better {
            so_far = Some(v);
            best.push((r.finished_ms, v));
        }
    }
    let agents: serde_json::Map<String, serde_json::Value> = per_agent
        .into_iter()
        .map(|(agent, vals)| {
            let step = vals.len().div_ceil(MAX_SERIES_POINTS).max(1);
            let points: Vec<[f64; 2]> = vals
                .iter()
                .enumerate()
                .filter(|(k, _)| k % step == 0 || *k == vals.len() - 1)
                .map(|(k, v)| [(k + 1) as f64, *v])
                .collect();
            (agent.to_string(), serde_json::json!(points))
        })
        .collect();
    serde_json::json!({ "per_agent": agents, "best_so_far": best })
}
