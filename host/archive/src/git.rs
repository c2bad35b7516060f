//! `hyper archive --remote URL`: the swarm's results as a git history anyone can clone.
//!
//! One branch per agent and domain, `agents/<peer>/<domain>`, holding `run-NNNN.json` (the
//! signed result, byte for byte what was gossiped) and `run-NNNN.md` per experiment,
//! `best.json` (its best verified result, else its best), `JOURNAL.md` (every run with its
//! verification status) and `index.json` (result key → run number); the latest snapshot on
//! branch `snapshot`.
//!
//! Incremental, idempotent and resumable: every run starts from what the *remote* holds
//! (fetched into a local bare repository), numbers only results the branch's `index.json`
//! lacks, and commits only when a branch's tree changes, with the newest result's time as
//! the commit time — so running it again with nothing new pushes nothing, and a run killed
//! at any point (even mid-push: a ref on the remote moves only once its objects are there)
//! is completed by the next one without duplicates.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use git2::{Oid, Repository, Signature, Time};
use serde::{Deserialize, Serialize};

use crate::snapshot::Snapshot;
use crate::state::BoardState;
use hyper_swarm::record::SignedResult;

const REMOTE: &str = "archive";
pub const SNAPSHOT_BRANCH: &str = "snapshot";

/// What one archive run did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ArchiveReport {
    /// Branches that got a new commit (and were pushed).
    pub pushed: Vec<String>,
    /// Branches already up to date on the remote.
    pub unchanged: usize,
    /// Experiments added to the archive by this run.
    pub new_runs: usize,
}

/// The branch of an agent's results in a domain.
pub fn branch_name(agent: &str, domain: &str) -> String {
    format!("agents/{agent}/{domain}")
}

/// Archives `states` (and `snapshot`) to `remote_url`, using `work` (a bare repository,
/// created if missing) as the local copy.
pub fn archive(
    work: &Path,
    remote_url: &str,
    states: &[BoardState],
    snapshot: &Snapshot,
) -> Result<ArchiveReport> {
    let _running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    let repo = open_work(work, remote_url)?;
    let mut remote = repo.find_remote(REMOTE)?;
    remote
        .fetch(
            &[format!("+refs/heads/*:refs/remotes/{REMOTE}/*")],
            None,
            None,
        )
        .with_context(|| format!("fetching from {remote_url}"))?;
    let mut report = ArchiveReport::default();
    let mut refspecs = Vec::new();
    for state in states {
        for (agent, results) in by_agent(state) {
            let branch = branch_name(&agent, &state.domain);
            match agent_commit(&repo, &branch, state, &results)? {
                Some(added) => {
                    report.new_runs += added;
                    refspecs.push(format!("refs/heads/{branch}:refs/heads/{branch}"));
                    report.pushed.push(branch);
                }
                None => report.unchanged += 1,
            }
        }
    }
    if snapshot_commit(&repo, snapshot)? {
        refspecs.push(format!(
            "refs/heads/{SNAPSHOT_BRANCH}:refs/heads/{SNAPSHOT_BRANCH}"
        ));
        report.pushed.push(SNAPSHOT_BRANCH.into());
    } else {
        report.unchanged += 1;
    }
    if !refspecs.is_empty() {
        push_clearing_stale_locks(&mut remote, remote_url, &refspecs)
            .with_context(|| format!("pushing to {remote_url}"))?;
    }
    Ok(report)
}

/// How long a ref lock in a local remote must stay untouched to count as left by a killed
/// push: a live writer holds one for milliseconds.
const STALE_LOCK_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// [`push`], and when a remote on this filesystem refuses a ref because of a lock file that
/// stays untouched for [`STALE_LOCK_AFTER`] (a push into it was killed, say by kill -9: a
/// local remote is written by our own process), removes that lock and pushes again. Only a
/// `.lock` file inside the remote's folder, named by git's refusal, is ever removed.
fn push_clearing_stale_locks(
    remote: &mut git2::Remote,
    remote_url: &str,
    refspecs: &[String],
) -> Result<()> {
    for _ in 0..refspecs.len() + 1 {
        let err = match push(remote, refspecs) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let Some(lock) = refused_lock(&err.to_string(), remote_url) else {
            return Err(err);
        };
        let touched = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let before = touched(&lock);
        std::thread::sleep(STALE_LOCK_AFTER);
        if before.is_some() && touched(&lock) == before {
            let _ = std::fs::remove_file(&lock);
        }
    }
    push(remote, refspecs)
}

/// The lock file a local remote's refusal names, if it lies inside that remote's folder.
fn refused_lock(refusal: &str, remote_url: &str) -> Option<std::path::PathBuf> {
    let (_, rest) = refusal.split_once("failed to lock file '")?;
    let (path, _) = rest.split_once('\'')?;
    let lock = Path::new(path).canonicalize().ok()?;
    let root = Path::new(remote_url.trim_start_matches("file://"))
        .canonicalize()
        .ok()?;
    (lock.starts_with(&root) && lock.extension().is_some_and(|e| e == "lock")).then_some(lock)
}

/// One archive run at a time in this process (the node's schedule and `hyper archive` asked
/// of the node share the work repository).
static RUNNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Lock files a killed run left in the work repository (it is only a cache of the remote;
/// while [`RUNNING`] is held nobody else writes it).
fn remove_stale_locks(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            remove_stale_locks(&path);
        } else if path.extension().is_some_and(|e| e == "lock") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn open_work(work: &Path, remote_url: &str) -> Result<Repository> {
    remove_stale_locks(work);
    let repo = match Repository::open_bare(work) {
        Ok(repo) => repo,
        Err(_) => {
            Repository::init_bare(work).with_context(|| format!("creating {}", work.display()))?
        }
    };
    match repo.find_remote(REMOTE) {
        Ok(r) if r.url() == Some(remote_url) => {}
        Ok(_) => repo.remote_set_url(REMOTE, remote_url)?,
        Err(_) => {
            repo.remote(REMOTE, remote_url)?;
        }
    }
    Ok(repo)
}

/// Pushes every refspec, failing if the remote refused one (say, a branch someone else
/// moved: the next run starts from the remote's tip again).
fn push(remote: &mut git2::Remote, refspecs: &[String]) -> Result<()> {
    let refused = std::cell::RefCell::new(Vec::new());
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.push_update_reference(|name, status| {
        if let Some(why) = status {
            refused.borrow_mut().push(format!("{name}: {why}"));
        }
        Ok(())
    });
    let mut options = git2::PushOptions::new();
    options.remote_callbacks(callbacks);
    remote.push(refspecs, Some(&mut options))?;
    drop(options);
    let refused = refused.into_inner();
    anyhow::ensure!(
        refused.is_empty(),
        "the remote refused {}",
        refused.join("; ")
    );
    Ok(())
}

/// A board's results by author, each author's oldest first (ties by key).
fn by_agent(state: &BoardState) -> BTreeMap<String, Vec<&SignedResult>> {
    let mut by: BTreeMap<String, Vec<&SignedResult>> = BTreeMap::new();
    for r in &state.results {
        by.entry(r.record.author.clone()).or_default().push(r);
    }
    for list in by.values_mut() {
        list.sort_by_key(|r| (r.record.finished_ms, r.key()));
    }
    by
}

/// The remote's tip of a branch, if it has one.
fn remote_tip<'r>(repo: &'r Repository, branch: &str) -> Option<git2::Commit<'r>> {
    repo.find_reference(&format!("refs/remotes/{REMOTE}/{branch}"))
        .ok()?
        .peel_to_commit()
        .ok()
}

/// A blob's text in a tree, if there.
fn read_file(repo: &Repository, tree: Option<&git2::Tree>, name: &str) -> Option<String> {
    let entry = tree?.get_name(name)?;
    let blob = repo.find_blob(entry.id()).ok()?;
    String::from_utf8(blob.content().to_vec()).ok()
}

/// Commits the agent's branch if its tree changes; Some(runs added) when it did.
fn agent_commit(
    repo: &Repository,
    branch: &str,
    state: &BoardState,
    results: &[&SignedResult],
) -> Result<Option<usize>> {
    let tip = remote_tip(repo, branch);
    let base = tip.as_ref().map(|c| c.tree()).transpose()?;
    let mut index: BTreeMap<String, u64> = read_file(repo, base.as_ref(), "index.json")
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut tree = repo.treebuilder(base.as_ref())?;
    let mut next = index.values().copied().max().unwrap_or(0) + 1;
    let mut added = 0;
    for r in results {
        if index.contains_key(&r.key()) {
            continue;
        }
        let n = next;
        next += 1;
        index.insert(r.key(), n);
        let json = serde_json::to_vec_pretty(r)?;
        tree.insert(format!("run-{n:04}.json"), repo.blob(&json)?, 0o100644)?;
        tree.insert(
            format!("run-{n:04}.md"),
            repo.blob(run_md(n, r).as_bytes())?,
            0o100644,
        )?;
        added += 1;
    }
    tree.insert(
        "index.json",
        repo.blob(&serde_json::to_vec_pretty(&index)?)?,
        0o100644,
    )?;
    let best = best_of(state, results);
    tree.insert(
        "best.json",
        repo.blob(&serde_json::to_vec_pretty(&best)?)?,
        0o100644,
    )?;
    let journal = journal_md(state, results, &index);
    tree.insert("JOURNAL.md", repo.blob(journal.as_bytes())?, 0o100644)?;
    let tree = repo.find_tree(tree.write()?)?;
    if base.as_ref().is_some_and(|b| b.id() == tree.id()) {
        return Ok(None);
    }
    let newest = results
        .iter()
        .map(|r| r.record.finished_ms)
        .max()
        .unwrap_or(0);
    let message = format!("{}: {added} new run(s), {} in all", branch, index.len());
    commit(repo, branch, &tree, tip.as_ref(), newest, &message)?;
    Ok(Some(added))
}

fn commit(
    repo: &Repository,
    branch: &str,
    tree: &git2::Tree,
    parent: Option<&git2::Commit>,
    time_ms: u64,
    message: &str,
) -> Result<Oid> {
    // The data's own time, not the clock's: rebuilding the same content gives the same commit.
    let sig = Signature::new(
        "hyper",
        "hyper@localhost",
        &Time::new((time_ms / 1000) as i64, 0),
    )?;
    let parents: Vec<&git2::Commit> = parent.into_iter().collect();
    let oid = repo.commit(None, &sig, &sig, message, tree, &parents)?;
    repo.reference(&format!("refs/heads/{branch}"), oid, true, message)?;
    Ok(oid)
}

/// The snapshot branch gets a commit only when the snapshot changed beyond its timestamp.
fn snapshot_commit(repo: &Repository, snapshot: &Snapshot) -> Result<bool> {
    let tip = remote_tip(repo, SNAPSHOT_BRANCH);
    let base = tip.as_ref().map(|c| c.tree()).transpose()?;
    let json = snapshot.to_json();
    let without_time = |mut v: serde_json::Value| {
        if let Some(o) = v.as_object_mut() {
            o.remove("timestamp");
        }
        v
    };
    let previous: Option<serde_json::Value> =
        read_file(repo, base.as_ref(), "snapshot.json").and_then(|t| serde_json::from_str(&t).ok());
    if previous.map(without_time) == Some(without_time(json.clone())) {
        return Ok(false);
    }
    let mut tree = repo.treebuilder(None)?;
    tree.insert(
        "snapshot.json",
        repo.blob(&serde_json::to_vec_pretty(&json)?)?,
        0o100644,
    )?;
    let tree = repo.find_tree(tree.write()?)?;
    let now = humantime::parse_rfc3339(&snapshot.timestamp)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64);
    commit(repo, SNAPSHOT_BRANCH, &tree, tip.as_ref(), now, "snapshot")?;
    Ok(true)
}

fn fmt_val(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.4}"))
}

fn run_md(n: u64, r: &SignedResult) -> String {
    let rec = &r.record;
    format!(
        "# run {n:04}: `{}`\n\n- author: `{}`\n- domain: `{}` (version {})\n- {}: {} (validation), {} (test)\n- status: {}\n- parent: {}\n- skill: `{}`\n- evaluator: `{}`\n- data: `{}`\n- seed: {}\n- platform: {}\n- finished: {}\n\n## Parameters\n\n```json\n{}\n```\n\nThe signed record is `run-{n:04}.json`; replay it with `hyper replay`.\n",
        rec.id,
        rec.author,
        rec.domain,
        rec.domain_version,
        rec.metric,
        fmt_val(rec.val),
        fmt_val(rec.test),
        rec.status,
        rec.parent.as_deref().map_or_else(|| "none".into(), |p| format!("`{p}`")),
        rec.skill_hash,
        rec.evaluator_hash,
        rec.data_hash,
        rec.seed,
        rec.platform,
        humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(rec.finished_ms)
        ),
        serde_json::to_string_pretty(&rec.params).unwrap_or_default(),
    )
}

/// The agent's best verified result, else its best (with its status, so nobody mistakes it).
fn best_of(state: &BoardState, results: &[&SignedResult]) -> serde_json::Value {
    let mut scored: Vec<&&SignedResult> = results
        .iter()
        .filter(|r| r.record.val.is_some_and(f64::is_finite))
        .collect();
    scored.sort_by(|a, b| a.rank(b));
    let verified = scored
        .iter()
        .find(|r| state.status(r) == hyper_swarm::trust::Status::Verified);
    match verified.or(scored.first()) {
        Some(r) => serde_json::json!({
            "key": r.key(),
            "verification": state.status(r),
            "result": r,
        }),
        None => serde_json::Value::Null,
    }
}

fn journal_md(
    state: &BoardState,
    results: &[&SignedResult],
    index: &BTreeMap<String, u64>,
) -> String {
    let mut out = String::new();
    let first = results.first().map(|r| &r.record);
    out.push_str(&format!(
        "# {} in `{}`\n\n{} experiment(s). Verification is this archiving node's view at the time of the commit.\n\n| run | experiment | status | {} | test | verification | finished |\n|---|---|---|---|---|---|---|\n",
        first.map_or("", |r| r.author.as_str()),
        state.domain,
        results.len(),
        first.map_or("metric", |r| r.metric.as_str()),
    ));
    let mut rows: Vec<(u64, &SignedResult)> = results
        .iter()
        .filter_map(|r| index.get(&r.key()).map(|&n| (n, *r)))
        .collect();
    rows.sort_by_key(|(n, _)| *n);
    let mut seen = HashSet::new();
    for (n, r) in rows {
        if !seen.insert(n) {
            continue;
        }
        let rec = &r.record;
        // Guest-chosen text (ids) is escaped for Markdown tables.
        let id = rec.id.replace('|', "\\|").replace('`', "'");
        out.push_str(&format!(
            "| [{n:04}](run-{n:04}.md) | `{id}` | {} | {} | {} | {} | {} |\n",
            rec.status,
            fmt_val(rec.val),
            fmt_val(rec.test),
            state.status(r).as_str(),
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(rec.finished_ms)
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit on `branch` of `repo` holding one file.
    fn commit(repo: &Repository, branch: &str, text: &str) {
        let blob = repo.blob(text.as_bytes()).expect("blob");
        let mut tree = repo.treebuilder(None).expect("tree");
        tree.insert("f", blob, 0o100644).expect("insert");
        let tree = repo.find_tree(tree.write().expect("write")).expect("tree");
        let sig = git2::Signature::new("t", "t@example.org", &git2::Time::new(0, 0)).expect("sig");
        let reference = format!("refs/heads/{branch}");
        let parent = repo
            .find_reference(&reference)
            .ok()
            .and_then(|r| r.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        repo.commit(Some(&reference), &sig, &sig, text, &tree, &parents)
            .expect("commit");
    }

    /// A push into a local remote killed mid-way leaves `refs/heads/B.lock` there; the next
    /// push waits, sees the lock untouched, removes it and goes through. A lock outside the
    /// remote is never named.
    #[test]
    fn a_stale_ref_lock_in_a_local_remote_is_cleared() {
        let tmp = tempfile::tempdir().expect("tmp");
        let remote_dir = tmp.path().join("remote.git");
        Repository::init_bare(&remote_dir).expect("remote");
        let url = remote_dir.to_str().expect("utf-8");
        let work = open_work(&tmp.path().join("work.git"), url).expect("work");
        let spec = vec!["refs/heads/b:refs/heads/b".to_string()];
        commit(&work, "b", "one");
        let mut remote = work.find_remote(REMOTE).expect("remote");
        push(&mut remote, &spec).expect("first push");
        commit(&work, "b", "two");
        std::fs::write(remote_dir.join("refs/heads/b.lock"), "").expect("plant lock");
        assert!(
            push(&mut remote, &spec).is_err(),
            "the lock blocks a plain push"
        );
        push_clearing_stale_locks(&mut remote, url, &spec).expect("cleared and pushed");
        let tip = Repository::open_bare(&remote_dir)
            .and_then(|r| {
                r.find_reference("refs/heads/b")?
                    .peel_to_commit()
                    .map(|c| c.message().map(String::from))
            })
            .expect("tip");
        assert_eq!(tip.as_deref(), Some("two"));
        let outside = tmp.path().join("x.lock");
        std::fs::write(&outside, "").expect("outside");
        let refusal = format!("failed to lock file '{}' for writing", outside.display());
        assert_eq!(refused_lock(&refusal, url), None);
    }
}
