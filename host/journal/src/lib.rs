//! # hyper-journal: the experiment journal
//!
//! One SQLite file (WAL mode, `synchronous=FULL`) with one row per experiment. Rows are only
//! ever appended, each in its own committed transaction before the research loop moves on, so
//! a `kill -9` at any point loses nothing that was committed. Triggers refuse UPDATE and
//! DELETE so that the history cannot be rewritten by accident.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("journal record {id}: {what}")]
    Corrupt { id: String, what: String },
    #[error("journal directory: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, JournalError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The first experiment of a lineage: the skill's defaults.
    Baseline,
    /// Beat the best so far; it is the new best.
    Keep,
    /// Scored, but did not beat the best.
    Discard,
    /// The skill or its artifact failed; `reason` says how.
    Crash,
    /// The baseline's parameters again with another seed: measures the metric's noise floor.
    Noise,
    /// A candidate's parameters again with another seed: a new best must hold here too.
    Confirm,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Baseline => "baseline",
            Status::Keep => "keep",
            Status::Discard => "discard",
            Status::Crash => "crash",
            Status::Noise => "noise",
            Status::Confirm => "confirm",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "baseline" => Status::Baseline,
            "keep" => Status::Keep,
            "discard" => Status::Discard,
            "crash" => Status::Crash,
            "noise" => Status::Noise,
            "confirm" => Status::Confirm,
            _ => return None,
        })
    }
}

/// One experiment, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Insertion order (assigned by the journal; 0 before insertion).
    pub seq: i64,
    pub id: String,
    pub run_id: String,
    pub domain: String,
    pub skill_name: String,
    pub skill_hash: String,
    pub evaluator_hash: String,
    /// Parameter values as a JSON object.
    pub params: serde_json::Value,
    pub seed: u64,
    pub parent: Option<String>,
    pub metric_name: String,
    /// `higher` or `lower`.
    pub direction: String,
    /// Primary metric on the validation split (None for crashes).
    pub val: Option<f64>,
    /// Primary metric on the held-out test split (None for crashes).
    pub test: Option<f64>,
    /// Every metric the evaluator returned, per split, as JSON.
    pub metrics: serde_json::Value,
    pub status: Status,
    pub reason: Option<String>,
    pub duration_ms: u64,
    pub peak_memory_bytes: u64,
    pub platform: String,
    pub started_at: String,
    pub finished_at: String,
    /// SHA-256 of the domain's data and held-out files the experiment ran on (empty in
    /// journals written before receipts existed).
    #[serde(default)]
    pub data_hash: String,
    /// The domain's manifest version (empty in journals written before receipts existed).
    #[serde(default)]
    pub domain_version: String,
}

impl Record {
    /// When the experiment finished, in milliseconds since the Unix epoch (0 if
    /// `finished_at` is not RFC 3339: such a record sorts first).
    pub fn finished_ms(&self) -> u64 {
        humantime::parse_rfc3339_weak(&self.finished_at)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

pub struct Journal {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS experiments (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    run_id            TEXT NOT NULL,
    domain            TEXT NOT NULL,
    skill_name        TEXT NOT NULL,
    skill_hash        TEXT NOT NULL,
    evaluator_hash    TEXT NOT NULL,
    params            TEXT NOT NULL,
    seed              INTEGER NOT NULL,
    parent            TEXT,
    metric_name       TEXT NOT NULL,
    direction         TEXT NOT NULL CHECK (direction IN ('higher', 'lower')),
    val               REAL,
    test              REAL,
    metrics           TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('baseline', 'keep', 'discard', 'crash', 'noise', 'confirm')),
    reason            TEXT,
    duration_ms       INTEGER NOT NULL,
    peak_memory_bytes INTEGER NOT NULL,
    platform          TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    finished_at       TEXT NOT NULL,
    data_hash         TEXT NOT NULL DEFAULT '',
    domain_version    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS experiments_domain ON experiments (domain, seq);
CREATE TABLE IF NOT EXISTS board_snapshots (
    domain   TEXT PRIMARY KEY,
    snapshot BLOB NOT NULL,
    saved_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS experiments_append_only_update BEFORE UPDATE ON experiments
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS experiments_append_only_delete BEFORE DELETE ON experiments
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
";

/// Journals written before the `noise` and `confirm` statuses existed have a CHECK that
/// refuses them; SQLite cannot change a CHECK in place, so the table is copied into the new
/// schema in one transaction (all or nothing: a kill -9 midway leaves the old table intact).
fn migrate_status_check(conn: &Connection) -> Result<()> {
    let sql: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'experiments'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if sql.is_none_or(|s| s.contains("'noise'")) {
        return Ok(());
    }
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         DROP TRIGGER IF EXISTS experiments_append_only_update;
         DROP TRIGGER IF EXISTS experiments_append_only_delete;
         DROP INDEX IF EXISTS experiments_domain;
         ALTER TABLE experiments RENAME TO experiments_before_noise;",
    )?;
    // Such journals also predate the receipt columns: copy the columns they have.
    let copied = conn.execute_batch(SCHEMA).and_then(|_| {
        conn.execute_batch(&format!(
            "INSERT INTO experiments ({BEFORE_RECEIPTS}) SELECT {BEFORE_RECEIPTS} FROM experiments_before_noise;
                 DROP TABLE experiments_before_noise;
                 COMMIT;"
        ))
    });
    if let Err(e) = copied {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.into());
    }
    Ok(())
}

/// Journals written before receipts lack the `data_hash` and `domain_version` columns:
/// added in place (SQLite's ADD COLUMN is a single transactional schema change).
fn migrate_receipt_columns(conn: &Connection) -> Result<()> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('experiments')")?;
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    if names.is_empty() {
        return Ok(());
    }
    for column in ["data_hash", "domain_version"] {
        if !names.iter().any(|n| n == column) {
            conn.execute_batch(&format!(
                "ALTER TABLE experiments ADD COLUMN {column} TEXT NOT NULL DEFAULT ''"
            ))?;
        }
    }
    Ok(())
}

/// The columns of journals written before receipts.
const BEFORE_RECEIPTS: &str = "seq, id, run_id, domain, skill_name, skill_hash, evaluator_hash, params, seed, parent, \
    metric_name, direction, val, test, metrics, status, reason, duration_ms, peak_memory_bytes, platform, \
    started_at, finished_at";

const COLUMNS: &str = "seq, id, run_id, domain, skill_name, skill_hash, evaluator_hash, params, seed, parent, \
    metric_name, direction, val, test, metrics, status, reason, duration_ms, peak_memory_bytes, platform, \
    started_at, finished_at, data_hash, domain_version";

impl Journal {
    /// Opens (creating if needed) the journal at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a committed transaction survives power loss too, not only a killed process.
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate_status_check(&conn)?;
        migrate_receipt_columns(&conn)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Journal { conn })
    }

    /// Appends one record in its own transaction; returns its `seq`.
    pub fn append(&mut self, r: &Record) -> Result<i64> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO experiments (id, run_id, domain, skill_name, skill_hash, evaluator_hash, params, seed, parent,
                metric_name, direction, val, test, metrics, status, reason, duration_ms, peak_memory_bytes, platform,
                started_at, finished_at, data_hash, domain_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
            params![
                r.id,
                r.run_id,
                r.domain,
                r.skill_name,
                r.skill_hash,
                r.evaluator_hash,
                r.params.to_string(),
                r.seed as i64, // bit-preserving: SQLite integers are signed 64-bit
                r.parent,
                r.metric_name,
                r.direction,
                r.val,
                r.test,
                r.metrics.to_string(),
                r.status.as_str(),
                r.reason,
                r.duration_ms as i64,
                r.peak_memory_bytes as i64,
                r.platform,
                r.started_at,
                r.finished_at,
                r.data_hash,
                r.domain_version,
            ],
        )?;
        let seq = tx.last_insert_rowid();
        tx.commit()?;
        Ok(seq)
    }

    fn query(&self, sql_tail: &str, args: impl rusqlite::Params) -> Result<Vec<Record>> {
        let sql = format!("SELECT {COLUMNS} FROM experiments {sql_tail}");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(args, |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, i64>(8)?,
                row.get::<_, Option<String>>(9)?,
                row.get::<_, String>(10)?,
                row.get::<_, String>(11)?,
                (
                    row.get::<_, Option<f64>>(12)?,
                    row.get::<_, Option<f64>>(13)?,
                    row.get::<_, String>(14)?,
                ),
                (
                    row.get::<_, String>(15)?,
                    row.get::<_, Option<String>>(16)?,
                    row.get::<_, i64>(17)?,
                    row.get::<_, i64>(18)?,
                ),
                (
                    row.get::<_, String>(19)?,
                    row.get::<_, String>(20)?,
                    row.get::<_, String>(21)?,
                    row.get::<_, String>(22)?,
                    row.get::<_, String>(23)?,
                ),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                seq,
                id,
                run_id,
                domain,
                skill_name,
                skill_hash,
                evaluator_hash,
                params,
                seed,
                parent,
                metric_name,
                direction,
                (val, test, metrics),
                (status, reason, duration_ms, peak),
                (platform, started_at, finished_at, data_hash, domain_version),
            ) = row?;
            let corrupt = |what: String| JournalError::Corrupt {
                id: id.clone(),
                what,
            };
            let params =
                serde_json::from_str(&params).map_err(|e| corrupt(format!("params: {e}")))?;
            let metrics =
                serde_json::from_str(&metrics).map_err(|e| corrupt(format!("metrics: {e}")))?;
            let status =
                Status::parse(&status).ok_or_else(|| corrupt(format!("status `{status}`")))?;
            out.push(Record {
                seq,
                id,
                run_id,
                domain,
                skill_name,
                skill_hash,
                evaluator_hash,
                params,
                seed: seed as u64,
                parent,
                metric_name,
                direction,
                val,
                test,
                metrics,
                status,
                reason,
                duration_ms: duration_ms.max(0) as u64,
                peak_memory_bytes: peak.max(0) as u64,
                platform,
                started_at,
                finished_at,
                data_hash,
                domain_version,
            });
        }
        Ok(out)
    }

    /// Every record of a domain, oldest first.
    pub fn list(&self, domain: &str) -> Result<Vec<Record>> {
        self.query("WHERE domain = ?1 ORDER BY seq", params![domain])
    }

    /// The best scored record of a domain and skill on the validation metric.
    pub fn best(&self, domain: &str, skill_hash: &str) -> Result<Option<Record>> {
        let higher = self
            .conn
            .query_row(
                "SELECT direction FROM experiments WHERE domain = ?1 AND skill_hash = ?2 LIMIT 1",
                params![domain, skill_hash],
                |r| r.get::<_, String>(0),
            )
            .optional()?;
        let Some(direction) = higher else {
            return Ok(None);
        };
        let order = if direction == "lower" { "ASC" } else { "DESC" };
        let mut rows = self.query(
            &format!(
                "WHERE domain = ?1 AND skill_hash = ?2 AND val IS NOT NULL AND status IN ('baseline', 'keep') ORDER BY val {order}, seq ASC LIMIT 1"
            ),
            params![domain, skill_hash],
        )?;
        Ok(rows.pop())
    }

    /// SQLite's own consistency check: `ok` when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))?)
    }

    /// Saves a leaderboard snapshot (the swarm's Loro document) for a domain, replacing the
    /// previous one in one transaction.
    pub fn save_board(&mut self, domain: &str, snapshot: &[u8], saved_at: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO board_snapshots (domain, snapshot, saved_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(domain) DO UPDATE SET snapshot = excluded.snapshot, saved_at = excluded.saved_at",
            params![domain, snapshot, saved_at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every saved leaderboard snapshot, by domain.
    pub fn boards(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT domain, snapshot FROM board_snapshots ORDER BY domain")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// Number of records of a domain.
    pub fn count(&self, domain: &str) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM experiments WHERE domain = ?1",
            params![domain],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }
}

/// Writes records as autoresearch's `results.tsv` (`commit val_bpb memory_gb status
/// description`): the skill hash (12 hex digits) stands in the commit column and the domain's
/// metric in the metric column, whose header carries the metric's name.
pub fn write_tsv(
    records: &[Record],
    metric_name: &str,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    writeln!(out, "commit\t{metric_name}\tmemory_gb\tstatus\tdescription")?;
    for r in records {
        let metric = r
            .val
            .map(|v| format!("{v:.6}"))
            .unwrap_or_else(|| "0.000000".into());
        let status = match r.status {
            Status::Baseline | Status::Keep => "keep",
            // autoresearch's TSV knows keep/discard/crash: repeats are not new configurations.
            Status::Discard | Status::Noise | Status::Confirm => "discard",
            Status::Crash => "crash",
        };
        let mut description = describe_params(&r.params);
        if r.status == Status::Baseline {
            description = format!("baseline {description}");
        }
        if let Some(reason) = &r.reason {
            description.push_str(&format!(" ({reason})"));
        }
        let description = description.replace(['\t', '\n', '\r'], " ");
        let hash: String = r.skill_hash.chars().take(12).collect();
        writeln!(
            out,
            "{hash}\t{metric}\t{:.1}\t{status}\t{description}",
            r.peak_memory_bytes as f64 / 1e9
        )?;
    }
    Ok(())
}

/// `k1=1.2 b=0.75 ...` in key order.
pub fn describe_params(params: &serde_json::Value) -> String {
    match params.as_object() {
        Some(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => params.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, val: Option<f64>, status: Status) -> Record {
        Record {
            seq: 0,
            id: id.into(),
            run_id: "r1".into(),
            domain: "search".into(),
            skill_name: "s".into(),
            skill_hash: "abc".into(),
            evaluator_hash: "def".into(),
            params: serde_json::json!({"k1": 1.2, "stemmer": "none"}),
            seed: u64::MAX,
            parent: None,
            metric_name: "ndcg@10".into(),
            direction: "higher".into(),
            val,
            test: val,
            metrics: serde_json::json!({}),
            status,
            reason: None,
            duration_ms: 5,
            peak_memory_bytes: 1 << 20,
            platform: "x86_64-linux".into(),
            started_at: "t0".into(),
            finished_at: "t1".into(),
            data_hash: "ee".repeat(32),
            domain_version: "1".into(),
        }
    }

    #[test]
    fn append_list_best_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path().join("journal.db")).unwrap();
        j.append(&record("a", Some(0.3), Status::Baseline)).unwrap();
        j.append(&record("b", Some(0.4), Status::Keep)).unwrap();
        j.append(&record("c", None, Status::Crash)).unwrap();
        let all = j.list("search").unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].seed, u64::MAX);
        assert_eq!(j.best("search", "abc").unwrap().unwrap().id, "b");
        assert!(j.best("search", "other").unwrap().is_none());
    }

    #[test]
    fn a_journal_from_before_noise_statuses_is_migrated_without_losing_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        {
            // The schema as sessions 1-2 wrote it.
            let old = SCHEMA.replace(", 'noise', 'confirm'", "");
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&old).unwrap();
            let mut j = Journal { conn };
            j.append(&record("a", Some(0.3), Status::Baseline)).unwrap();
            j.append(&record("b", Some(0.4), Status::Keep)).unwrap();
            assert!(j.append(&record("n", Some(0.31), Status::Noise)).is_err());
        }
        let mut j = Journal::open(&path).unwrap();
        j.append(&record("n", Some(0.31), Status::Noise)).unwrap();
        j.append(&record("c", Some(0.9), Status::Confirm)).unwrap();
        let all = j.list("search").unwrap();
        let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "n", "c"]);
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
        // Repeats never count as the best, and the table is still append-only.
        assert_eq!(j.best("search", "abc").unwrap().unwrap().id, "b");
        assert!(j.conn.execute("DELETE FROM experiments", []).is_err());
        assert_eq!(j.integrity_check().unwrap(), "ok");
        drop(j);
        // Opening again is a no-op.
        assert_eq!(
            Journal::open(&path).unwrap().list("search").unwrap().len(),
            4
        );
    }

    #[test]
    fn rows_cannot_be_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path().join("journal.db")).unwrap();
        j.append(&record("a", Some(0.3), Status::Baseline)).unwrap();
        assert!(j
            .conn
            .execute("UPDATE experiments SET val = 1.0", [])
            .is_err());
        assert!(j.conn.execute("DELETE FROM experiments", []).is_err());
        assert!(
            j.append(&record("a", Some(0.3), Status::Keep)).is_err(),
            "duplicate ids are refused"
        );
    }

    #[test]
    fn tsv_has_autoresearch_columns() {
        let mut out = Vec::new();
        write_tsv(
            &[record("a", Some(0.3), Status::Baseline)],
            "ndcg@10",
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "commit\tndcg@10\tmemory_gb\tstatus\tdescription");
        assert_eq!(
            lines[1],
            "abc\t0.300000\t0.0\tkeep\tbaseline k1=1.2 stemmer=none"
        );
    }
}
