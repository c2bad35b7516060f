//! The dashboard's routes: the page and its assets, JSON reads (paged and bounded: nothing
//! returns a whole board) and the live feed as server-sent events.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::Stream;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::assets;
use crate::views::DomainView;
use crate::Dashboard;

/// Most rows one page of results may ask for.
pub const MAX_PAGE: usize = 200;
/// Longest parent chain followed.
pub const MAX_LINEAGE: usize = 64;

pub fn router(d: Dashboard) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", assets::INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript", assets::APP_JS) }),
        )
        .route(
            "/app.css",
            get(|| async { asset("text/css", assets::APP_CSS) }),
        )
        .route(
            "/vendor/uPlot.js",
            get(|| async { asset("text/javascript", assets::UPLOT_JS) }),
        )
        .route(
            "/vendor/uPlot.css",
            get(|| async { asset("text/css", assets::UPLOT_CSS) }),
        )
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/overview", get(overview))
        .route("/api/domain/{domain}", get(domain))
        .route("/api/domain/{domain}/results", get(results))
        .route("/api/domain/{domain}/result", get(result))
        .route("/api/domain/{domain}/skill/{hash}", get(skill))
        .route("/api/peers", get(peers))
        .route("/api/snapshot", get(snapshot))
        .route("/api/events", get(events))
        .with_state(d)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn not_found(what: String) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": what }))).into_response()
}

/// The domain's view, or the 404 to answer (boxed: a response is large, the view a pointer).
fn view_of(d: &Dashboard, domain: &str) -> Result<std::sync::Arc<DomainView>, Box<Response>> {
    if !d.domains.iter().any(|x| x == domain) {
        return Err(Box::new(not_found(format!(
            "this node does not follow domain `{domain}`"
        ))));
    }
    d.views
        .get(domain)
        .ok_or_else(|| Box::new(not_found(format!("domain `{domain}` is still loading"))))
}

/// One result as the pages list it.
fn row(v: &DomainView, i: usize) -> Value {
    let r = &v.state.results[i];
    let rec = &r.record;
    json!({
        "key": r.key(), "id": rec.id, "author": rec.author, "skill_hash": rec.skill_hash,
        "val": rec.val, "test": rec.test, "status": rec.status, "parent": rec.parent,
        "verification": v.state.status(r), "finished_ms": rec.finished_ms,
        "metric": rec.metric, "params": rec.params,
    })
}

/// The best verified result of each agent, best first (at most 50), and the board's best
/// whatever its status.
fn leaderboard(v: &DomainView) -> Value {
    let top: Vec<Value> = v.leaders.iter().map(|&i| row(v, i)).collect();
    json!({ "verified_per_agent": top })
}

async fn overview(State(d): State<Dashboard>) -> Json<Value> {
    let domains: Vec<Value> = d
        .domains
        .iter()
        .map(|name| match d.views.get(name) {
            Some(v) => {
                let board = leaderboard(&v);
                json!({
                    "domain": name,
                    "results": v.state.results.len(),
                    "verified": v.verified,
                    "attestations": v.state.attestations,
                    "best": board["verified_per_agent"].get(0).cloned(),
                    "leaders": board["verified_per_agent"].as_array().map(|a| a.iter().take(5).cloned().collect::<Vec<_>>()),
                    "diversity": v.state.diversity,
                })
            }
            None => json!({ "domain": name, "loading": true }),
        })
        .collect();
    let peers = d.client.peers().await.map(|p| p.len()).unwrap_or(0);
    Json(json!({ "peer_id": d.client.peer_id.to_base58(), "peers": peers, "domains": domains }))
}

async fn domain(State(d): State<Dashboard>, Path(domain): Path<String>) -> Response {
    let v = match view_of(&d, &domain) {
        Ok(v) => v,
        Err(e) => return *e,
    };
    let skills: Vec<Value> = v
        .by_skill
        .iter()
        .map(|(hash, idx)| json!({ "skill_hash": hash, "results": idx.len() }))
        .collect();
    Json(json!({
        "domain": domain,
        "results": v.state.results.len(),
        "leaderboard": leaderboard(&v),
        "series": v.series,
        "diversity": v.state.diversity,
        "diversity_history": d.views.diversity_history(&domain),
        "skills": skills,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct Paging {
    page: Option<usize>,
    per: Option<usize>,
    author: Option<String>,
}

fn page_of(v: &DomainView, idx: &[usize], p: &Paging) -> Value {
    let per = p.per.unwrap_or(50).clamp(1, MAX_PAGE);
    let page = p.page.unwrap_or(0);
    let author = p.author.as_deref().filter(|a| !a.is_empty());
    let rows: Vec<Value> = match author {
        Some(a) => idx
            .iter()
            .filter(|&&i| v.state.results[i].record.author == a)
            .skip(page.saturating_mul(per))
            .take(per)
            .map(|&i| row(v, i))
            .collect(),
        None => idx
            .iter()
            .skip(page.saturating_mul(per))
            .take(per)
            .map(|&i| row(v, i))
            .collect(),
    };
    json!({ "total": idx.len(), "page": page, "per": per, "rows": rows })
}

async fn results(
    State(d): State<Dashboard>,
    Path(domain): Path<String>,
    Query(p): Query<Paging>,
) -> Response {
    match view_of(&d, &domain) {
        Ok(v) => Json(page_of(&v, &v.newest, &p)).into_response(),
        Err(e) => *e,
    }
}

#[derive(Deserialize)]
struct KeyQuery {
    key: String,
}

/// One experiment: its record and receipt, its replay status (the attestations about it)
/// and its lineage (the parent chain, across nodes).
async fn result(
    State(d): State<Dashboard>,
    Path(domain): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let v = match view_of(&d, &domain) {
        Ok(v) => v,
        Err(e) => return *e,
    };
    let Some(&i) = v.by_key.get(&q.key) else {
        return not_found(format!("no result `{}` on the {domain} board", q.key));
    };
    let r = &v.state.results[i];
    let attestations: Vec<Value> = v
        .attestations
        .get(&q.key)
        .map(|list| {
            list.iter()
                .map(|a| {
                    let a = &a.attestation;
                    json!({ "attester": a.attester, "verdict": a.verdict.as_str(), "val": a.val,
                            "test": a.test, "platform": a.platform, "reason": a.reason,
                            "finished_ms": a.finished_ms })
                })
                .collect()
        })
        .unwrap_or_default();
    Json(json!({
        "result": row(&v, i),
        "receipt": r.receipt(),
        "signature": { "public_key": r.public_key, "signature": r.signature },
        "attestations": attestations,
        "lineage": lineage(&v, i),
    }))
    .into_response()
}

/// The parent chain from a result back to its first ancestor on the board: the parent is an
/// experiment id, looked up for the same author first, then any author (a loop may climb
/// from another node's result).
fn lineage(v: &DomainView, start: usize) -> Vec<Value> {
    let mut chain = Vec::new();
    let mut seen = HashSet::from([start]);
    let mut at = start;
    while chain.len() < MAX_LINEAGE {
        let rec = &v.state.results[at].record;
        let Some(parent) = rec.parent.as_deref() else {
            break;
        };
        let Some(candidates) = v.by_id.get(parent) else {
            break;
        };
        let next = candidates
            .iter()
            .find(|&&c| v.state.results[c].record.author == rec.author)
            .or(candidates.first())
            .copied();
        match next {
            Some(n) if seen.insert(n) => {
                chain.push(row(v, n));
                at = n;
            }
            _ => break,
        }
    }
    chain
}

async fn skill(
    State(d): State<Dashboard>,
    Path((domain, hash)): Path<(String, String)>,
    Query(p): Query<Paging>,
) -> Response {
    let v = match view_of(&d, &domain) {
        Ok(v) => v,
        Err(e) => return *e,
    };
    let Some(idx) = v.by_skill.get(&hash) else {
        return not_found(format!("no result of skill `{hash}` on the {domain} board"));
    };
    let best = idx
        .iter()
        .filter(|&&i| v.state.results[i].record.val.is_some_and(f64::is_finite))
        .min_by(|&&a, &&b| v.state.results[a].rank(&v.state.results[b]))
        .map(|&i| row(&v, i));
    let authors: HashSet<&str> = idx
        .iter()
        .map(|&i| v.state.results[i].record.author.as_str())
        .collect();
    Json(json!({
        "skill_hash": hash,
        "domain": domain,
        "authors": authors.len(),
        "best": best,
        "results": page_of(&v, idx, &p),
    }))
    .into_response()
}

async fn peers(State(d): State<Dashboard>) -> Json<Value> {
    let connected: Vec<String> = d
        .client
        .peers()
        .await
        .unwrap_or_default()
        .iter()
        .map(|p| p.to_base58())
        .collect();
    let mut domains = serde_json::Map::new();
    for name in &d.domains {
        if let Some(v) = d.views.get(name) {
            let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
            for r in &v.state.results {
                *counts.entry(r.record.author.as_str()).or_default() += 1;
            }
            let list: Vec<Value> = v
                .state
                .reputations
                .iter()
                .map(|(id, rep)| json!({ "identity": id, "results": counts.get(id.as_str()).copied().unwrap_or(0),
                                         "standing": rep.standing(), "score": rep.score(), "reputation": rep }))
                .collect();
            domains.insert(name.clone(), json!(list));
        }
    }
    Json(json!({ "me": d.client.peer_id.to_base58(), "connected": connected, "domains": domains }))
}

async fn snapshot(State(d): State<Dashboard>) -> Json<Value> {
    let states: Vec<hyper_archive::BoardState> = d
        .domains
        .iter()
        .filter_map(|name| d.views.get(name).map(|v| v.state.clone()))
        .collect();
    Json(
        hyper_archive::Snapshot::build(&states, &d.generated_by, hyper_swarm::attest::now_ms())
            .to_json(),
    )
}

/// The live feed: every new result, attestation, claim and hypothesis as one `message`
/// event of JSON; a reader that fell behind gets a `lagged` event with how many it missed.
async fn events(State(d): State<Dashboard>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = d.client.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        use tokio::sync::broadcast::error::RecvError;
        let event = match rx.recv().await {
            Ok(e) => Event::default().data(serde_json::to_string(&e).unwrap_or_default()),
            Err(RecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    //! What a page may ask for is bounded whatever a peer put on the board: parent chains
    //! that loop or go on for thousands of hops, and page sizes or numbers far beyond a board.
    use super::*;
    use ed25519_dalek::SigningKey;
    use hyper_archive::BoardState;
    use hyper_swarm::record::{sample, SignedResult};

    fn child(key: &SigningKey, id: &str, parent: Option<String>, ms: u64) -> SignedResult {
        let mut record = sample(key, id, 0.5).record;
        record.parent = parent;
        record.finished_ms = ms;
        SignedResult::sign(record, key)
    }

    fn view(results: Vec<SignedResult>) -> DomainView {
        let state = BoardState {
            domain: "search".into(),
            results,
            statuses: Default::default(),
            reputations: Default::default(),
            attestations: 0,
            diversity: None,
        };
        crate::views::index(state, vec![])
    }

    fn at(v: &DomainView, id: &str) -> usize {
        v.by_id[id][0]
    }

    #[test]
    fn lineage_stops_at_a_cycle_and_at_its_length_bound() {
        let key = SigningKey::from_bytes(&[7; 32]);
        // a → b → c → a: each result names the next as its parent.
        let cycle = view(vec![
            child(&key, "a", Some("b".into()), 1),
            child(&key, "b", Some("c".into()), 2),
            child(&key, "c", Some("a".into()), 3),
        ]);
        let chain = lineage(&cycle, at(&cycle, "a"));
        let ids: Vec<&str> = chain.iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(
            ids,
            ["b", "c"],
            "each ancestor once, then the cycle ends it"
        );
        // A self-parent is a cycle of one.
        let selfish = view(vec![child(&key, "s", Some("s".into()), 1)]);
        assert!(lineage(&selfish, 0).is_empty());
        // 5,000 generations: the page gets the nearest MAX_LINEAGE.
        let long: Vec<SignedResult> = (0..5000)
            .map(|i| {
                child(
                    &key,
                    &format!("g{i}"),
                    (i > 0).then(|| format!("g{}", i - 1)),
                    i,
                )
            })
            .collect();
        let long = view(long);
        let chain = lineage(&long, at(&long, "g4999"));
        assert_eq!(chain.len(), MAX_LINEAGE);
        assert_eq!(chain[0]["id"], "g4998");
        assert_eq!(
            chain[MAX_LINEAGE - 1]["id"],
            format!("g{}", 4998 - (MAX_LINEAGE - 1))
        );
    }

    #[test]
    fn lineage_prefers_the_same_authors_parent_then_any_authors() {
        let (mine, theirs) = (
            SigningKey::from_bytes(&[8; 32]),
            SigningKey::from_bytes(&[9; 32]),
        );
        // Both authors have an experiment "p"; mine names "p" as parent: it is my "p".
        let v = view(vec![
            child(&theirs, "p", None, 1),
            child(&mine, "p", None, 2),
            child(&mine, "x", Some("p".into()), 3),
            child(&theirs, "only-theirs", None, 4),
            child(&mine, "y", Some("only-theirs".into()), 5),
        ]);
        let me = sample(&mine, "p", 0.5).record.author;
        let x = v.by_key[&format!("{me}/x")];
        assert_eq!(lineage(&v, x)[0]["author"], me.as_str());
        let y = v.by_key[&format!("{me}/y")];
        let other = sample(&theirs, "p", 0.5).record.author;
        assert_eq!(lineage(&v, y)[0]["author"], other.as_str(), "across nodes");
    }

    #[test]
    fn a_page_is_at_most_max_page_rows_whatever_is_asked() {
        let key = SigningKey::from_bytes(&[10; 32]);
        let v = view(
            (0..500)
                .map(|i| child(&key, &format!("r{i}"), None, i))
                .collect(),
        );
        let ask = |page, per, author: Option<&str>| {
            page_of(
                &v,
                &v.newest,
                &Paging {
                    page,
                    per,
                    author: author.map(String::from),
                },
            )
        };
        let huge = ask(Some(0), Some(usize::MAX), None);
        assert_eq!(
            (huge["per"].as_u64(), huge["rows"].as_array().map(Vec::len)),
            (Some(MAX_PAGE as u64), Some(MAX_PAGE))
        );
        assert_eq!(
            ask(None, Some(0), None)["rows"].as_array().map(Vec::len),
            Some(1),
            "per 0 is one row"
        );
        assert_eq!(
            ask(Some(usize::MAX), Some(usize::MAX), None)["rows"],
            json!([]),
            "no overflow past the end"
        );
        assert_eq!(
            ask(Some(2), Some(200), None)["rows"]
                .as_array()
                .map(Vec::len),
            Some(100)
        );
        assert_eq!(ask(None, None, Some("nobody"))["rows"], json!([]));
        // Newest first: page 0 starts at the last finished.
        assert_eq!(ask(None, Some(1), None)["rows"][0]["id"], "r499");
    }
}
