//! Where batch jobs are kept: an embedded SQLite file, so a job outlives its process, and the
//! provider's results files beside it. One row a job (everything but its items, as JSON:
//! provider batch ids, which items each carries, their states), one row an item (custom id,
//! body, attempts, where it is), one row a collected provider batch (each of its items' end,
//! and where its answer is). The engine saves after every change, in one transaction that
//! writes the job row and what changed; a process killed at any moment leaves the last saved
//! state, which [`Store::load`] reads back.
//!
//! Written once, read back whole. A 10,000-item job's answers (20 MB) were its CPU: as rows
//! they went through SQLite's write-ahead log and then its checkpoint, each answer twice. Each
//! downloaded results file is now written once, as it came, into `<store>-results/` (synced
//! before the commit that points into it), and an answer is an offset and a length in it. An
//! item's body is written once, when its row is made; its row is not written again when it is
//! submitted (the job row lists its provider batch) nor when that batch ends (the batch's one
//! record holds its items' ends): a row written with attempts k is the item's state after its
//! k-th provider batch, and later batches are read over it. Together, a 10,000-item job's
//! submit and collect went from 30,000 row writes and 40 MB to two rows and one 20 MB file
//! (callgrind: its saves' instructions fell from 492 to 124 million; bench/batch.py). Stores
//! written before kept every state in the items' rows and each answer in a `results` row (or in
//! `items.result`); they read as they did, and go on in this layout.
//!
//! The file says it is ours with SQLite's `application_id`; a file that is not (another
//! program's database, or no database at all) is refused with an error naming it.

mod files;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::state::{Item, Meta, Place, State};
use super::{JobInfo, Stats};
use crate::error::{LlmError, Result};
use files::{At, ResultsFiles, Written};

/// A kept job as `list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSummary {
    pub info: JobInfo,
    pub provider_batch_ids: Vec<String>,
}

/// "llmr" in SQLite's `application_id` header field.
const APPLICATION_ID: i64 = 0x6c6c_6d72;

/// The page size of a new store (see `Store::open`).
const PAGE_SIZE: i64 = 32 * 1024;

/// How long an opener waits for another process's lock on the store before failing.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
    files: ResultsFiles,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Under the user's cache directory: `$XDG_CACHE_HOME`, else `~/.cache` (`~/Library/Caches` on
/// macOS, `%LOCALAPPDATA%` on Windows), then `llmrail/batches.sqlite3`.
pub fn default_store_path() -> Result<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(windows) {
        env("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library").join("Caches"))
    } else {
        env("XDG_CACHE_HOME").or_else(|| env("HOME").map(|h| h.join(".cache")))
    };
    let base = base.ok_or_else(|| {
        LlmError::config("no user cache directory (HOME is not set): pass store= a path for the batch job's state")
    })?;
    Ok(base.join("llmrail").join("batches.sqlite3"))
}

impl Store {
    /// Open (or create) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let not_ours = |why: String| {
            LlmError::config(format!(
                "{} is not an llmrail batch store ({why}); pass store= another path",
                path.display()
            ))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                LlmError::config(format!(
                    "cannot create {} for the batch store: {e}",
                    dir.display()
                ))
            })?;
        }
        let conn = Connection::open(path).map_err(|e| not_ours(e.to_string()))?;
        // Many processes may open one new store at once, and setting it up (WAL mode, the
        // tables) takes a write lock: the others wait for it instead of failing at once with
        // "database is locked" (seen in 1 of 100 processes opening together).
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| not_ours(e.to_string()))?;
        // One statement, so one snapshot: read apart, another opener could create the tables
        // between the two reads, and a new store would look like somebody else's file.
        let (id, tables): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT application_id FROM pragma_application_id),
                        (SELECT count(*) FROM sqlite_master)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| not_ours(e.to_string()))?;
        if id != APPLICATION_ID && (id != 0 || tables != 0) {
            return Err(not_ours(format!("its application_id is {id:#x}")));
        }
        // 32 KiB pages (a new file only; one that exists keeps its own): an item's answer
        // (a few KB) fits in its row's page instead of a chain of overflow pages, so collecting
        // 10,000 answers writes about half the pages it did at SQLite's 4 KiB (measured).
        // WAL: a save is one short append, and a reader in another process is never blocked.
        // Items WITHOUT ROWID (a new file only; the rows are small): one B-tree keyed by
        // (job, idx), not a table and an index beside it, so a save writes and seeks one.
        conn.execute_batch(&format!(
            "PRAGMA page_size = {PAGE_SIZE};
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, meta TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS items (
                 job TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT NOT NULL,
                 body BLOB NOT NULL, attempts INTEGER NOT NULL, place TEXT NOT NULL,
                 result BLOB, PRIMARY KEY (job, idx)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS results (
                 job TEXT NOT NULL, idx INTEGER NOT NULL, body BLOB NOT NULL,
                 PRIMARY KEY (job, idx)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS collected (
                 job TEXT NOT NULL, remote INTEGER NOT NULL, outcomes TEXT NOT NULL,
                 PRIMARY KEY (job, remote));"
        ))
        .map_err(|e| not_ours(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            files: ResultsFiles::beside(path),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write the job row and every item changed since the last save, in one transaction.
    pub(crate) fn save(&self, state: &mut State) -> Result<()> {
        let err = |e: rusqlite::Error| self.error("save to", e);
        let meta = serde_json::to_string(&state.meta)
            .map_err(|e| LlmError::config(format!("batch job state cannot be serialised: {e}")))?;
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT INTO jobs (id, meta) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET meta = ?2",
            params![state.meta.id, meta],
        )
        .map_err(err)?;
        // Written (and synced) before the commit that points into them.
        let files = if state.downloads.is_empty() {
            Written::default()
        } else {
            let job = job_number(&tx, &state.meta.id).map_err(err)?;
            self.files.write(job, &state.downloads)?
        };
        {
            // A new item's row, with its body.
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO items (job, idx, custom_id, body, attempts, place, result)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)
                     ON CONFLICT(job, idx) DO UPDATE SET attempts = ?5, place = ?6",
                )
                .map_err(err)?;
            // A kept item's change: its body is in its row already.
            let mut update = tx
                .prepare_cached(
                    "UPDATE items SET attempts = ?3, place = ?4 WHERE job = ?1 AND idx = ?2",
                )
                .map_err(err)?;
            let mut result = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO results (job, idx, body) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            // The provider batches collected since the last save, by the items they carried.
            let mut by = vec![None; state.items.len()];
            for &n in &state.collected {
                for &i in state.meta.remotes.get(n).map_or(&[][..], |r| &r.items[..]) {
                    if let Some(slot) = by.get_mut(i) {
                        *slot = Some(n);
                    }
                }
            }
            let mut records: HashMap<usize, Vec<(usize, PlaceRow)>> = HashMap::new();
            let unserialisable = |e: serde_json::Error| {
                LlmError::config(format!("batch item state cannot be serialised: {e}"))
            };
            for (i, item) in state.items.iter().enumerate().filter(|(_, it)| it.dirty) {
                // Submitted is the job row's news (its provider batch lists the item): a kept
                // item's row is not touched for it (see `read`).
                if item.stored && matches!(item.place, Place::Submitted { .. }) {
                    continue;
                }
                let body = match &item.place {
                    Place::Done { outcome } => outcome.body(),
                    _ => None,
                };
                let at = body.and_then(|b| files.find(b));
                let idx = i64::try_from(i).unwrap_or(i64::MAX);
                // An answer that is no slice of a results file (an error made here, say) is kept
                // in a row of its own.
                if let (Some(body), None) = (body, at) {
                    result
                        .execute(params![state.meta.id, idx, &body[..]])
                        .map_err(err)?;
                }
                let row = PlaceRow {
                    place: &item.place,
                    at,
                };
                // An end a provider batch just gave goes into the batch's record, one row for
                // all its items, not into each item's row (see `read`).
                let collected = by.get(i).copied().flatten();
                if let (true, Place::Done { .. }, Some(n)) = (item.stored, &item.place, collected) {
                    records.entry(n).or_default().push((i, row));
                    continue;
                }
                let place = serde_json::to_string(&row).map_err(unserialisable)?;
                if item.stored {
                    update.execute(params![state.meta.id, idx, item.attempts, place])
                } else {
                    put.execute(params![
                        state.meta.id,
                        idx,
                        item.custom_id,
                        &item.body[..],
                        item.attempts,
                        place
                    ])
                }
                .map_err(err)?;
            }
            let mut record = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO collected (job, remote, outcomes) VALUES (?1, ?2, ?3)",
                )
                .map_err(err)?;
            for (n, outcomes) in records {
                let outcomes = serde_json::to_string(&outcomes).map_err(unserialisable)?;
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                record
                    .execute(params![state.meta.id, n, outcomes])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        state.downloads.clear();
        state.collected.clear();
        for item in &mut state.items {
            item.stored |= item.dirty;
            item.dirty = false;
        }
        Ok(())
    }

    /// Whether job `id` is kept here.
    pub(crate) fn has(&self, id: &str) -> Result<bool> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.query_row("SELECT 1 FROM jobs WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.error("read", e))
    }

    /// The job `id` as last saved.
    pub(crate) fn load(&self, id: &str) -> Result<State> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        self.read(&conn, id, true)
    }

    /// Every job kept here, oldest first, as its getters would show it (read without the
    /// requests' and answers' bodies, which the numbers do not need).
    pub fn jobs(&self) -> Result<Vec<JobSummary>> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM jobs ORDER BY rowid")
            .and_then(|mut stmt| {
                stmt.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(|e| self.error("read", e))?;
        ids.iter()
            .map(|id| {
                let state = self.read(&conn, id, false)?;
                Ok(JobSummary {
                    info: state.info(),
                    provider_batch_ids: state.meta.remotes.iter().map(|r| r.id.clone()).collect(),
                })
            })
            .collect()
    }

    /// The jobs kept here, counted by status, and their items by state.
    pub fn stats(&self) -> Result<Stats> {
        let mut stats = Stats::default();
        for job in self.jobs()? {
            stats.add(&job.info, job.provider_batch_ids.len());
        }
        Ok(stats)
    }

    /// Job `id`; without `full`, its items' bodies and results are left empty.
    fn read(&self, conn: &Connection, id: &str, full: bool) -> Result<State> {
        let err = |e: rusqlite::Error| self.error("read", e);
        let meta: Option<String> = conn
            .query_row("SELECT meta FROM jobs WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(err)?;
        let Some(meta) = meta else {
            return Err(LlmError::config(format!(
                "no batch job {id:?} in {}; check the id and store=",
                self.path.display()
            )));
        };
        let corrupt = |e: serde_json::Error| {
            LlmError::invalid_response(format!(
                "batch job {id:?} in {} cannot be read: {e}",
                self.path.display()
            ))
        };
        let meta: Meta = serde_json::from_str(&meta).map_err(corrupt)?;
        let job = job_number(conn, id).map_err(err)?;
        let mut stmt = conn
            .prepare_cached(if full {
                "SELECT i.custom_id, i.body, i.attempts, i.place, coalesce(r.body, i.result)
                 FROM items i LEFT JOIN results r ON r.job = i.job AND r.idx = i.idx
                 WHERE i.job = ?1 ORDER BY i.idx"
            } else {
                "SELECT custom_id, x'', attempts, place, NULL FROM items WHERE job = ?1 ORDER BY idx"
            })
            .map_err(err)?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                ))
            })
            .map_err(err)?;
        let mut items = Vec::new();
        // Per item: the attempts its row was written with, and its `results` row.
        let mut written = Vec::new();
        let mut kept = Vec::new();
        let mut files = HashMap::new();
        for row in rows {
            let (custom_id, body, attempts, place, result) = row.map_err(err)?;
            let row: PlaceRead = serde_json::from_str(&place).map_err(corrupt)?;
            // A submitted row (a store written before) does not know the end of its last batch.
            let told = match row.place {
                Place::Submitted { .. } => attempts.saturating_sub(1),
                _ => attempts,
            };
            // The `results` row holds the newest answer kept there: the row's, or a record's.
            let place = self.place(job, id, row, result.clone(), full, &mut files)?;
            written.push(told);
            kept.push(result);
            items.push(Item {
                custom_id,
                body: body.into(),
                attempts,
                place,
                dirty: false,
                stored: true,
            });
        }
        let mut records: HashMap<usize, HashMap<usize, PlaceRead>> = HashMap::new();
        {
            let mut stmt = conn
                .prepare_cached("SELECT remote, outcomes FROM collected WHERE job = ?1")
                .map_err(err)?;
            let rows = stmt
                .query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(err)?;
            for row in rows {
                let (remote, outcomes) = row.map_err(err)?;
                let outcomes: Vec<(usize, PlaceRead)> =
                    serde_json::from_str(&outcomes).map_err(corrupt)?;
                let remote = usize::try_from(remote).unwrap_or(usize::MAX);
                records.insert(remote, outcomes.into_iter().collect());
            }
        }
        // A row written with `attempts` k already says where the item went in its first k
        // provider batches (but the end of the k-th, when it says submitted); what later ones did is the job row's news (submitted) or
        // their `collected` record (each item's end), written in one row a batch, not in the
        // items' rows (stores written before kept it all in the rows, and read the same).
        let mut sent = vec![0u32; items.len()];
        for (n, remote) in meta.remotes.iter().enumerate() {
            let mut record = records.remove(&n).unwrap_or_default();
            for &i in &remote.items {
                let (Some(item), Some(times), Some(&before)) =
                    (items.get_mut(i), sent.get_mut(i), written.get(i))
                else {
                    return Err(corrupt(serde::de::Error::custom(format!(
                        "provider batch {} carries item {i} of {}",
                        remote.id,
                        written.len()
                    ))));
                };
                *times += 1;
                item.attempts = item.attempts.max(*times);
                if *times <= before {
                    continue;
                }
                if !remote.collected {
                    item.place = Place::Submitted { remote: n };
                } else if let Some(row) = record.remove(&i) {
                    let result = kept.get_mut(i).and_then(Option::take);
                    item.place = self.place(job, id, row, result, full, &mut files)?;
                }
            }
        }
        Ok(State::new(meta, items))
    }

    /// An item's place as kept, its answer put back: from a results file (`at`), else from
    /// its `results` row (`result`). Without `full`, answers are left out.
    fn place(
        &self,
        job: i64,
        id: &str,
        row: PlaceRead,
        result: Option<Vec<u8>>,
        full: bool,
        files: &mut HashMap<usize, Bytes>,
    ) -> Result<Place> {
        Ok(match (row.place, row.at) {
            (Place::Done { outcome }, Some(at)) if full => Place::Done {
                outcome: outcome.with_bytes(self.files.read(job, id, at, files)?),
            },
            (Place::Done { outcome }, _) => Place::Done {
                outcome: outcome.with_body(result),
            },
            (other, _) => other,
        })
    }

    fn error(&self, what: &str, e: rusqlite::Error) -> LlmError {
        LlmError::config(format!(
            "cannot {what} the batch store {}: {e}",
            self.path.display()
        ))
    }
}

/// The job's number in this store (its row's), which names its results files: a job id may
/// hold any character, a file name may not.
fn job_number(conn: &Connection, id: &str) -> rusqlite::Result<i64> {
    conn.query_row("SELECT rowid FROM jobs WHERE id = ?1", [id], |r| r.get(0))
}

/// An item's `place` column: where it is, and where its answer is kept when that is in a
/// results file (stores written before have no `at`: their answers are rows of `results`).
#[derive(Serialize)]
struct PlaceRow<'a> {
    #[serde(flatten)]
    place: &'a Place,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<At>,
}

#[derive(Deserialize)]
struct PlaceRead {
    #[serde(flatten)]
    place: Place,
    #[serde(default)]
    at: Option<At>,
}
