//! The run store: an embedded SQLite file (rusqlite with its bundled SQLite, no server)
//! holding every recorded run's figures, labels and SLO verdicts, read back as one
//! metric's series for the change-point detector.
//!
//! The schema's version is SQLite's `user_version`; [`MIGRATIONS`] bring an older file
//! forward in one transaction, and a file of a newer version is refused rather than
//! guessed at. Writers use WAL with a busy timeout, so two runs that finish at once both
//! land; a run is keyed by a hash of its summary, so adding it twice is a no-op.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::metrics::LatencyStats;
use crate::summary::Summary;

/// Schema migrations, in order: the file's `user_version` is how many were applied.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    scenario TEXT NOT NULL,
    started_at TEXT NOT NULL,
    status TEXT NOT NULL,
    duration_s REAL NOT NULL,
    target TEXT NOT NULL,
    folder TEXT,
    added_at TEXT NOT NULL
);
CREATE INDEX runs_by_scenario ON runs (scenario, started_at);
CREATE TABLE labels (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE figures (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (run_id, scope, metric)
);
CREATE TABLE slos (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    metric TEXT NOT NULL,
    threshold TEXT NOT NULL,
    observed REAL,
    unit TEXT NOT NULL,
    pass INTEGER NOT NULL
);
"#];

/// The schema version this build writes and reads.
pub const SCHEMA: i64 = MIGRATIONS.len() as i64;

/// The scope of the whole run's figures (endpoints are stored by their names).
pub const ALL: &str = "all";

/// What can go wrong with a store, for the caller to act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: schema version {found}, newer than the {SCHEMA} this loadctl reads; use a newer loadctl, or another --db")]
    Newer { path: String, found: i64 },
    #[error("{path}: {source}")]
    Sql {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A recorded run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub scenario: String,
    pub started_at: String,
    pub status: String,
    pub duration_s: f64,
    pub target: String,
    /// The run's folder as given when it was added (its report may still be there).
    pub folder: Option<String>,
}

/// Whether `add` stored the run or already had it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New(i64),
    Already(i64),
}

pub struct Store {
    conn: Connection,
    path: String,
}

/// FNV-1a over the summary's JSON: the run's identity (stable across builds, unlike std's
/// hasher).
fn key_of(s: &Summary) -> String {
    let text = serde_json::to_string(s).unwrap_or_default();
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{}@{}#{h:016x}", s.scenario, s.started_at)
}

fn latency(out: &mut Vec<(String, f64)>, prefix: &str, l: &LatencyStats) {
    for (k, v) in [
        ("p50", l.p50),
        ("p90", l.p90),
        ("p95", l.p95),
        ("p99", l.p99),
        ("p999", l.p999),
        ("max", l.max),
        ("mean", l.mean),
    ] {
        out.push((format!("{prefix}{k}"), v));
    }
}

/// Every figure of a summary, as `(scope, metric, value)`.
pub fn figures_of(s: &Summary) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    let mut scope = |name: &str, figs: Vec<(String, f64)>| {
        out.extend(figs.into_iter().map(|(m, v)| (name.to_string(), m, v)));
    };
    let mut all = Vec::new();
    latency(&mut all, "", &s.latency_ms);
    latency(&mut all, "service_", &s.service_latency_ms);
    let t = &s.totals;
    all.extend([
        ("rps".into(), t.rps),
        ("error_rate".into(), t.error_rate),
        ("availability".into(), t.availability),
        ("requests".into(), t.requests as f64),
        ("errors".into(), t.errors as f64),
        ("dropped".into(), t.dropped as f64),
        ("send_lag_p99".into(), s.generator.send_lag_p99_ms),
    ]);
    for (phase, l) in &s.phases_ms {
        all.push((format!("{phase}.p50"), l.p50));
        all.push((format!("{phase}.p99"), l.p99));
    }
    scope(ALL, all);
    for e in &s.endpoints {
        let mut f = Vec::new();
        latency(&mut f, "", &e.latency_ms);
        latency(&mut f, "service_", &e.service_latency_ms);
        f.extend([
            ("rps".into(), e.rps),
            ("error_rate".into(), e.error_rate),
            ("availability".into(), e.availability),
            ("requests".into(), e.requests as f64),
            ("errors".into(), e.errors as f64),
        ]);
        for (phase, l) in &e.phases_ms {
            f.push((format!("{phase}.p50"), l.p50));
            f.push((format!("{phase}.p99"), l.p99));
        }
        scope(&e.name, f);
    }
    out.retain(|(_, _, v)| v.is_finite());
    out
}

impl Store {
    /// Opens (creating if need be) the store at `path`, migrated to [`SCHEMA`].
    pub fn open(path: &Path) -> Result<Store> {
        let name = path.display().to_string();
        let sql = |source| StoreError::Sql {
            path: name.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(sql)?;
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sql)?;
        conn.execute_batch("PRAGMA foreign_keys = ON")
            .map_err(sql)?;
        let mut store = Store { conn, path: name };
        store.migrate()?;
        Ok(store)
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    /// Applies the migrations this file lacks, all in one transaction.
    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| StoreError::Sql {
                path: self.path.clone(),
                source: e,
            })?;
        let found: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| StoreError::Sql {
                path: self.path.clone(),
                source: e,
            })?;
        if found > SCHEMA {
            return Err(StoreError::Newer {
                path: self.path.clone(),
                found,
            });
        }
        for m in &MIGRATIONS[found as usize..] {
            tx.execute_batch(m).map_err(|e| StoreError::Sql {
                path: self.path.clone(),
                source: e,
            })?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA}"))
            .and_then(|()| tx.commit())
            .map_err(|e| StoreError::Sql {
                path: self.path.clone(),
                source: e,
            })
    }

    /// Records `s` (from `folder`, when it came from one) with `labels`.
    pub fn add(
        &mut self,
        s: &Summary,
        folder: Option<&Path>,
        labels: &[(String, String)],
    ) -> Result<Added> {
        let key = key_of(s);
        let path = self.path.clone();
        let sql = move |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&sql)?;
        let known: Option<i64> = tx
            .query_row("SELECT id FROM runs WHERE key = ?1", [&key], |r| r.get(0))
            .optional()
            .map_err(&sql)?;
        if let Some(id) = known {
            return Ok(Added::Already(id));
        }
        let status = serde_json::to_value(s.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        tx.execute(
            "INSERT INTO runs (key, scenario, started_at, status, duration_s, target, folder, added_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, datetime('now'))",
            params![key, s.scenario, s.started_at, status, s.duration_s, s.target, folder.map(|f| f.display().to_string())],
        )
        .map_err(&sql)?;
        let id = tx.last_insert_rowid();
        for (k, v) in labels {
            tx.execute(
                "INSERT OR REPLACE INTO labels (run_id, key, value) VALUES (?1, ?2, ?3)",
                params![id, k, v],
            )
            .map_err(&sql)?;
        }
        for (scope, metric, value) in figures_of(s) {
            tx.execute(
                "INSERT OR REPLACE INTO figures (run_id, scope, metric, value) VALUES (?1, ?2, ?3, ?4)",
                params![id, scope, metric, value],
            )
            .map_err(&sql)?;
        }
        for r in &s.slo {
            tx.execute(
                "INSERT INTO slos (run_id, name, metric, threshold, observed, unit, pass) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, r.name, r.metric, r.threshold, r.observed, r.unit, r.pass],
            )
            .map_err(&sql)?;
        }
        tx.commit().map_err(&sql)?;
        Ok(Added::New(id))
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
        Ok(RunRow {
            id: r.get(0)?,
            scenario: r.get(1)?,
            started_at: r.get(2)?,
            status: r.get(3)?,
            duration_s: r.get(4)?,
            target: r.get(5)?,
            folder: r.get(6)?,
        })
    }

    /// The runs (of `scenario`, when given), oldest first; the newest `last` when given.
    pub fn runs(&self, scenario: Option<&str>, last: Option<usize>) -> Result<Vec<RunRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, scenario, started_at, status, duration_s, target, folder FROM runs
                 WHERE ?1 IS NULL OR scenario = ?1 ORDER BY started_at DESC, id DESC LIMIT ?2",
            )
            .map_err(|e| self.sql(e))?;
        let limit = last.map_or(-1, |n| n as i64);
        let mut rows: Vec<RunRow> = st
            .query_map(params![scenario, limit], Self::row)
            .and_then(|it| it.collect())
            .map_err(|e| self.sql(e))?;
        rows.reverse();
        Ok(rows)
    }

    /// One figure of each run in `runs`: `None` where a run lacks it.
    pub fn values(&self, runs: &[RunRow], scope: &str, metric: &str) -> Result<Vec<Option<f64>>> {
        let mut st = self
            .conn
            .prepare("SELECT value FROM figures WHERE run_id = ?1 AND scope = ?2 AND metric = ?3")
            .map_err(|e| self.sql(e))?;
        runs.iter()
            .map(|r| {
                st.query_row(params![r.id, scope, metric], |row| row.get(0))
                    .optional()
                    .map_err(|e| self.sql(e))
            })
            .collect()
    }

    /// A run's labels, figures and SLO verdicts.
    pub fn details(&self, id: i64) -> Result<Option<Details>> {
        let run = self
            .conn
            .query_row(
                "SELECT id, scenario, started_at, status, duration_s, target, folder FROM runs WHERE id = ?1",
                [id],
                Self::row,
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let Some(run) = run else { return Ok(None) };
        let q = |sql: &str| -> Result<Vec<SloRow>> {
            let mut st = self.conn.prepare(sql).map_err(|e| self.sql(e))?;
            st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .and_then(|it| it.collect())
                .map_err(|e| self.sql(e))
        };
        Ok(Some(Details {
            run,
            labels: q("SELECT key, value, NULL, 0 FROM labels WHERE run_id = ?1 ORDER BY key")?
                .into_iter()
                .map(|(k, v, ..)| (k, v))
                .collect(),
            figures: q("SELECT scope, metric, value, 0 FROM figures WHERE run_id = ?1 ORDER BY scope, metric")?
                .into_iter()
                .map(|(s, m, v, _)| (s, m, v.unwrap_or(f64::NAN)))
                .collect(),
            slos: q("SELECT name, threshold, observed, pass FROM slos WHERE run_id = ?1")?,
        }))
    }

    /// The labels of a run.
    pub fn labels(&self, id: i64) -> Result<Vec<(String, String)>> {
        Ok(self.details(id)?.map(|d| d.labels).unwrap_or_default())
    }

    /// Keeps the newest `keep` runs of each scenario; returns how many were removed.
    pub fn prune(&mut self, keep: usize) -> Result<usize> {
        let n = self
            .conn
            .execute(
                "DELETE FROM runs WHERE id IN (SELECT id FROM (
                   SELECT id, ROW_NUMBER() OVER (PARTITION BY scenario ORDER BY started_at DESC, id DESC) AS k FROM runs
                 ) WHERE k > ?1)",
                [keep as i64],
            )
            .map_err(|e| self.sql(e))?;
        Ok(n)
    }
}

/// `(name, threshold, observed, pass)`, and the rows read the same way.
pub type SloRow = (String, String, Option<f64>, bool);

/// One run as `history show` prints it.
#[derive(Debug, Clone)]
pub struct Details {
    pub run: RunRow,
    pub labels: Vec<(String, String)>,
    /// `(scope, metric, value)`.
    pub figures: Vec<(String, String, f64)>,
    pub slos: Vec<SloRow>,
}
