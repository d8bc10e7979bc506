//! The embedded backend: one sqlite file (`sqlite:///path/to/queue.db`) in WAL mode, shared by
//! the processes of one machine; or, for `memory://`, a private in-memory database (the same
//! code, volatile: it ends with the process).
//!
//! Durability: `synchronous=FULL`, so a submission is acknowledged only once its commit is on
//! disk (WAL's default, NORMAL, may lose the last commits on power loss). Every step of an item's
//! life is one `BEGIN IMMEDIATE` transaction: writers from several processes take turns on the
//! file lock (waiting up to `busy_timeout`) instead of failing.
//!
//! rusqlite is blocking: each step runs on tokio's blocking pool, one connection per store
//! behind a mutex (sqlite serialises writers anyway).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, TransactionBehavior};
use serde_json::Value;

use super::item::{
    Claimed, Delivery, DeliveryState, End, Ended, Item, NewItem, Settle, State, Stats, Submitted,
    Watermarks,
};
use super::record::StoredError;
use super::store::{Settled, Store};
use crate::error::{ErrorKind, LlmError, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    target TEXT NOT NULL,
    request TEXT NOT NULL,
    metadata TEXT,
    priority INTEGER NOT NULL,
    idempotency_key TEXT UNIQUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    ttl_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    lease_until_ms INTEGER,
    lease_token TEXT,
    errors TEXT NOT NULL DEFAULT '[]',
    result TEXT,
    callback_url TEXT
);
CREATE INDEX IF NOT EXISTS items_by_state ON items (state, priority DESC, seq);
CREATE INDEX IF NOT EXISTS items_finished ON items (finished_ms);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Expiries not yet reported (on_event, webhook). Triggers keep it, so every statement that
-- expires, requeues or deletes items updates it in the same step, whichever process runs it.
CREATE TABLE IF NOT EXISTS unreported_expiries (id TEXT PRIMARY KEY);
CREATE TRIGGER IF NOT EXISTS items_expired AFTER UPDATE OF state ON items
    WHEN NEW.state = 'EXPIRED' AND OLD.state != 'EXPIRED'
    BEGIN INSERT OR IGNORE INTO unreported_expiries (id) VALUES (NEW.id); END;
CREATE TRIGGER IF NOT EXISTS items_unexpired AFTER UPDATE OF state ON items
    WHEN OLD.state = 'EXPIRED' AND NEW.state != 'EXPIRED'
    BEGIN DELETE FROM unreported_expiries WHERE id = OLD.id; END;
CREATE TRIGGER IF NOT EXISTS items_deleted AFTER DELETE ON items
    BEGIN DELETE FROM unreported_expiries WHERE id = OLD.id; END;
-- Webhooks of finished items, one per item. The trigger records one in the statement that
-- finishes an item with a callback_url (whichever step and process runs it), so a process that
-- stops right after storing a final state leaves its delivery for another to make. `due_ms` is
-- when a PENDING delivery may be taken: its next retry, or the end of its sender's lease.
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    due_ms INTEGER,
    token TEXT,
    settled_ms INTEGER,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, due_ms);
CREATE TRIGGER IF NOT EXISTS items_finished_with_callback AFTER UPDATE OF state ON items
    WHEN NEW.state IN ('COMPLETED', 'FAILED', 'EXPIRED')
        AND OLD.state NOT IN ('COMPLETED', 'FAILED', 'EXPIRED')
        AND NEW.callback_url IS NOT NULL
    BEGIN INSERT OR REPLACE INTO deliveries (id, delivery_id, state, created_ms, due_ms)
        VALUES (NEW.id, 'whd_' || NEW.id || '_' || COALESCE(NEW.finished_ms, NEW.updated_ms),
                'PENDING', COALESCE(NEW.finished_ms, NEW.updated_ms),
                COALESCE(NEW.finished_ms, NEW.updated_ms)); END;
-- Queued again (retry): the old final state is no longer news.
CREATE TRIGGER IF NOT EXISTS items_reopened AFTER UPDATE OF state ON items
    WHEN OLD.state IN ('COMPLETED', 'FAILED', 'EXPIRED')
        AND NEW.state NOT IN ('COMPLETED', 'FAILED', 'EXPIRED')
    BEGIN DELETE FROM deliveries WHERE id = OLD.id; END;
CREATE TRIGGER IF NOT EXISTS items_deleted_deliveries AFTER DELETE ON items
    BEGIN DELETE FROM deliveries WHERE id = OLD.id; END;
";

const COLUMNS: &str = "id, state, target, request, metadata, priority, idempotency_key, attempts, \
    max_attempts, created_ms, updated_ms, expires_ms, finished_ms, lease_until_ms, errors, result, \
    callback_url";

/// How long a writer waits for another process's transaction before the step fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// How errors name the store (the path; nothing secret in a file name).
    name: Arc<str>,
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`.
    pub fn open(path: &str) -> Result<Self> {
        let name: Arc<str> = Arc::from(format!("sqlite://{path}"));
        let conn = Connection::open(path).map_err(|e| store_error(&name, &e))?;
        let wal: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| store_error(&name, &e))?;
        if !wal.eq_ignore_ascii_case("wal") {
            return Err(LlmError::config(format!(
                "{name}: the file system refused WAL mode (journal_mode is {wal}); put the queue on a local disk"
            )));
        }
        Self::init(conn, name)
    }

    /// A private in-memory database: `memory://`.
    pub fn memory() -> Result<Self> {
        let name: Arc<str> = Arc::from("memory://");
        let conn = Connection::open_in_memory().map_err(|e| store_error(&name, &e))?;
        Self::init(conn, name)
    }

    fn init(conn: Connection, name: Arc<str>) -> Result<Self> {
        let setup = || -> rusqlite::Result<()> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.execute_batch(SCHEMA)
        };
        setup().map_err(|e| store_error(&name, &e))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            name,
        })
    }

    /// Run one step on the blocking pool.
    fn step<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<'static, Result<T>> {
        let (conn, name) = (self.conn.clone(), self.name.clone());
        Box::pin(async move {
            let joined = tokio::task::spawn_blocking(move || {
                // A poisoned lock only means a step panicked; the connection rolled back.
                let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut c)
            })
            .await;
            match joined {
                Ok(out) => out.map_err(|e| store_error(&name, &e)),
                Err(e) => Err(LlmError::new(
                    ErrorKind::Internal,
                    format!("{name}: a queue step did not finish: {e}"),
                )),
            }
        })
    }
}

fn store_error(name: &str, e: &rusqlite::Error) -> LlmError {
    LlmError::new(ErrorKind::Connection, format!("queue store {name}: {e}"))
}

/// Milliseconds and counts as sqlite integers (i64), saturating.
fn int(x: u64) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

fn uint(x: i64) -> u64 {
    u64::try_from(x).unwrap_or(0)
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

fn json_column(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn read_item(r: &Row<'_>) -> rusqlite::Result<Item> {
    let state: String = r.get(1)?;
    let errors: String = r.get(14)?;
    Ok(Item {
        id: r.get(0)?,
        state: State::parse(&state).unwrap_or(State::Failed),
        target: r.get(2)?,
        request: json_column(r.get(3)?).unwrap_or(Value::Null),
        metadata: json_column(r.get(4)?),
        priority: r.get(5)?,
        idempotency_key: r.get(6)?,
        attempts: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
        max_attempts: u32::try_from(r.get::<_, i64>(8)?).unwrap_or(1),
        created_ms: uint(r.get(9)?),
        updated_ms: uint(r.get(10)?),
        expires_ms: uint(r.get(11)?),
        finished_ms: r.get::<_, Option<i64>>(12)?.map(uint),
        lease_until_ms: r.get::<_, Option<i64>>(13)?.map(uint),
        errors: serde_json::from_str(&errors).unwrap_or_default(),
        result: json_column(r.get(15)?),
        callback_url: r.get(16)?,
        webhook: None,
    })
}

/// The item's webhook delivery, if one was recorded.
fn delivery(c: &Connection, id: &str) -> rusqlite::Result<Option<Delivery>> {
    c.query_row(
        "SELECT delivery_id, state, attempts, created_ms, due_ms, settled_ms, last_error \
         FROM deliveries WHERE id = ?1",
        [id],
        |r| {
            Ok(Delivery {
                id: r.get(0)?,
                state: DeliveryState::parse(&r.get::<_, String>(1)?),
                attempts: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                created_ms: uint(r.get(3)?),
                due_ms: r.get::<_, Option<i64>>(4)?.map(uint),
                settled_ms: r.get::<_, Option<i64>>(5)?.map(uint),
                last_error: r.get(6)?,
            })
        },
    )
    .optional()
}

fn with_delivery(c: &Connection, mut item: Item) -> rusqlite::Result<Item> {
    if item.callback_url.is_some() {
        item.webhook = delivery(c, &item.id)?;
    }
    Ok(item)
}

/// Items past their TTL that no worker holds become EXPIRED: those waiting, and those whose
/// worker's lease ran out. Run at the start of every step that reads or takes items, so
/// `status` sees an expiry as soon as it is due, whether or not a worker runs.
fn expire(c: &Connection, now: u64, id: Option<&str>) -> rusqlite::Result<usize> {
    let sql = "UPDATE items SET state = 'EXPIRED', finished_ms = ?1, updated_ms = ?1, \
               lease_until_ms = NULL, lease_token = NULL \
               WHERE expires_ms <= ?1 AND (state = 'QUEUED' \
               OR (state = 'PROCESSING' AND lease_until_ms <= ?1))";
    match id {
        Some(id) => c.execute(&format!("{sql} AND id = ?2"), params![int(now), id]),
        None => c.execute(sql, params![int(now)]),
    }
}

fn depth(c: &Connection) -> rusqlite::Result<u64> {
    c.query_row(
        "SELECT COUNT(*) FROM items WHERE state IN ('QUEUED', 'PROCESSING')",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(uint)
}

fn finished_last_minute(c: &Connection, now: u64) -> rusqlite::Result<u64> {
    c.query_row(
        "SELECT COUNT(*) FROM items WHERE finished_ms > ?1 AND state IN ('COMPLETED', 'FAILED')",
        params![int(now.saturating_sub(60_000))],
        |r| r.get::<_, i64>(0),
    )
    .map(uint)
}

fn refusing(c: &Connection) -> rusqlite::Result<bool> {
    let v: Option<String> = c
        .query_row("SELECT value FROM meta WHERE key = 'refusing'", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(v.as_deref() == Some("1"))
}

fn set_refusing(c: &Connection, on: bool) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO meta (key, value) VALUES ('refusing', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![if on { "1" } else { "0" }],
    )?;
    Ok(())
}

fn append_error(c: &Connection, id: &str, e: &StoredError) -> rusqlite::Result<()> {
    let errors: String =
        c.query_row("SELECT errors FROM items WHERE id = ?1", [id], |r| r.get(0))?;
    let mut list: Vec<StoredError> = serde_json::from_str(&errors).unwrap_or_default();
    list.push(e.clone());
    let text = serde_json::to_string(&list).unwrap_or_else(|_| errors.clone());
    c.execute(
        "UPDATE items SET errors = ?2 WHERE id = ?1",
        params![id, text],
    )?;
    Ok(())
}

fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// `claim`'s work inside the caller's transaction.
fn claim_in(
    c: &Connection,
    blocked: Vec<String>,
    max: usize,
    lease_ms: u64,
    now: u64,
) -> rusqlite::Result<Vec<Claimed>> {
    expire(c, now, None)?;
    // A lease that ran out on the last allowed attempt: the item fails rather than
    // being taken again (a request that kills its worker must not kill them all).
    let lost: Vec<(String, u32)> = {
        let mut st = c.prepare(
            "SELECT id, attempts FROM items WHERE state = 'PROCESSING' \
             AND lease_until_ms <= ?1 AND attempts >= max_attempts",
        )?;
        let rows = st.query_map(params![int(now)], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, attempts) in lost {
        append_error(c, &id, &lost_worker(attempts, now))?;
        c.execute(
            "UPDATE items SET state = 'FAILED', finished_ms = ?2, updated_ms = ?2, \
             lease_until_ms = NULL, lease_token = NULL WHERE id = ?1",
            params![id, int(now)],
        )?;
    }
    let placeholders = vec!["?"; blocked.len()].join(", ");
    let sql = format!(
        "SELECT {COLUMNS} FROM items WHERE (state = 'QUEUED' OR (state = 'PROCESSING' \
         AND lease_until_ms <= ?)) AND target NOT IN ({placeholders}) \
         ORDER BY priority DESC, seq LIMIT ?"
    );
    let mut bound: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(int(now))];
    bound.extend(
        blocked
            .into_iter()
            .map(|t| Box::new(t) as Box<dyn rusqlite::ToSql>),
    );
    bound.push(Box::new(i64::try_from(max).unwrap_or(i64::MAX)));
    let found: Vec<Item> = {
        let mut st = c.prepare(&sql)?;
        let rows = st.query_map(params_from_iter(bound.iter()), read_item)?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let token = token();
    let until = now.saturating_add(lease_ms);
    let mut out = Vec::with_capacity(found.len());
    for mut item in found {
        if item.state == State::Processing {
            let e = lost_worker(item.attempts, now);
            append_error(c, &item.id, &e)?;
            item.errors.push(e);
        }
        c.execute(
            "UPDATE items SET state = 'PROCESSING', attempts = attempts + 1, \
             lease_until_ms = ?2, lease_token = ?3, updated_ms = ?4 WHERE id = ?1",
            params![item.id, int(until), token, int(now)],
        )?;
        item.state = State::Processing;
        item.attempts = item.attempts.saturating_add(1);
        item.lease_until_ms = Some(until);
        item.updated_ms = now;
        out.push(Claimed {
            item,
            token: token.clone(),
        });
    }
    Ok(out)
}

/// Whichever worker finishes first stores its answer: a worker whose lease ran out while it
/// was still working has a good answer too. Any later one finds the item finished and changes
/// nothing.
fn complete_in(c: &Connection, id: &str, result: &str, now: u64) -> rusqlite::Result<bool> {
    let n = c.execute(
        "UPDATE items SET state = 'COMPLETED', result = ?2, finished_ms = ?3, \
         updated_ms = ?3, lease_until_ms = NULL, lease_token = NULL \
         WHERE id = ?1 AND state = 'PROCESSING'",
        params![id, result, int(now)],
    )?;
    Ok(n == 1)
}

/// `fail`'s work inside the caller's transaction.
fn fail_in(
    c: &Connection,
    id: &str,
    token: &str,
    error: &StoredError,
    retry: bool,
    now: u64,
) -> rusqlite::Result<Option<State>> {
    let held: Option<(i64, i64)> = c
        .query_row(
            "SELECT attempts, max_attempts FROM items \
             WHERE id = ?1 AND state = 'PROCESSING' AND lease_token = ?2",
            params![id, token],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((attempts, max_attempts)) = held else {
        return Ok(None);
    };
    append_error(c, id, error)?;
    let state = if retry && attempts < max_attempts {
        c.execute(
            "UPDATE items SET state = 'QUEUED', updated_ms = ?2, lease_until_ms = NULL, \
             lease_token = NULL WHERE id = ?1",
            params![id, int(now)],
        )?;
        State::Queued
    } else {
        c.execute(
            "UPDATE items SET state = 'FAILED', updated_ms = ?2, finished_ms = ?2, \
             lease_until_ms = NULL, lease_token = NULL WHERE id = ?1",
            params![id, int(now)],
        )?;
        State::Failed
    };
    Ok(Some(state))
}

fn release_in(c: &Connection, id: &str, token: &str, now: u64) -> rusqlite::Result<bool> {
    let n = c.execute(
        "UPDATE items SET state = 'QUEUED', attempts = MAX(attempts - 1, 0), \
         updated_ms = ?3, lease_until_ms = NULL, lease_token = NULL \
         WHERE id = ?1 AND state = 'PROCESSING' AND lease_token = ?2",
        params![id, token, int(now)],
    )?;
    Ok(n == 1)
}

impl Store for SqliteStore {
    fn submit_many(
        &self,
        items: Vec<NewItem>,
        marks: Watermarks,
        now: u64,
    ) -> BoxFuture<'_, Result<Vec<Submitted>>> {
        self.step(move |c| {
            // One transaction for the group: one commit (one fsync with synchronous=FULL) for
            // every item, and none of them stored if any statement fails.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            expire(&tx, now, None)?;
            let mut depth = depth(&tx)?;
            let mut refusing = refusing(&tx)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Some(key) = &item.idempotency_key {
                    // Also an earlier item of this group: its insert is visible here.
                    let seen: Option<String> = tx
                        .query_row(
                            "SELECT id FROM items WHERE idempotency_key = ?1",
                            [key],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if let Some(id) = seen {
                        out.push(Submitted::Existing(id));
                        continue;
                    }
                }
                // Hysteresis: refusing starts at the high watermark and lasts until the depth
                // is below the low one, so a queue at the edge does not flap between the two.
                refusing = if refusing {
                    depth >= marks.low
                } else {
                    depth >= marks.high
                };
                if refusing {
                    out.push(Submitted::Full {
                        depth,
                        finished_last_minute: finished_last_minute(&tx, now)?,
                    });
                    continue;
                }
                tx.execute(
                    "INSERT INTO items (id, state, target, request, metadata, priority, \
                     idempotency_key, max_attempts, ttl_ms, created_ms, updated_ms, expires_ms, \
                     callback_url) VALUES (?1, 'QUEUED', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11)",
                    params![
                        item.id,
                        item.target,
                        json_text(&item.request),
                        item.metadata.as_ref().map(json_text),
                        item.priority,
                        item.idempotency_key,
                        item.max_attempts,
                        int(item.ttl_ms),
                        int(now),
                        int(now.saturating_add(item.ttl_ms)),
                        item.callback_url,
                    ],
                )?;
                depth += 1;
                out.push(Submitted::New(item.id));
            }
            set_refusing(&tx, refusing)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn heartbeat(&self, id: String, token: String, until: u64) -> BoxFuture<'_, Result<bool>> {
        self.step(move |c| {
            let n = c.execute(
                "UPDATE items SET lease_until_ms = ?3 \
                 WHERE id = ?1 AND state = 'PROCESSING' AND lease_token = ?2",
                params![id, token, int(until)],
            )?;
            Ok(n == 1)
        })
    }

    fn settle_and_claim(
        &self,
        ended: Vec<Ended>,
        blocked: Vec<String>,
        max: usize,
        lease_ms: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<Settled>> {
        self.step(move |c| {
            // One transaction, so one commit (one fsync with synchronous=FULL) for every item
            // that ended since the last step and the items that replace them.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut after = Vec::with_capacity(ended.len());
            for e in &ended {
                after.push(match &e.end {
                    End::Complete(result) => {
                        complete_in(&tx, &e.id, result, now)?.then_some(State::Completed)
                    }
                    End::Fail { error, retry } => {
                        fail_in(&tx, &e.id, &e.token, error, *retry, now)?
                    }
                    End::Release => release_in(&tx, &e.id, &e.token, now)?.then_some(State::Queued),
                });
            }
            let claimed = if max > 0 {
                claim_in(&tx, blocked, max, lease_ms, now)?
            } else {
                Vec::new()
            };
            tx.commit()?;
            Ok((after, claimed))
        })
    }

    fn get(&self, id: String, now: u64) -> BoxFuture<'_, Result<Option<Item>>> {
        self.step(move |c| {
            expire(c, now, Some(&id))?;
            let item = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM items WHERE id = ?1"),
                    [&id],
                    read_item,
                )
                .optional()?;
            item.map(|it| with_delivery(c, it)).transpose()
        })
    }

    fn take_expired(&self, limit: u32, now: u64) -> BoxFuture<'_, Result<Vec<Item>>> {
        self.step(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            expire(&tx, now, None)?;
            let items: Vec<Item> = {
                let mut st = tx.prepare(&format!(
                    "SELECT {COLUMNS} FROM items WHERE id IN \
                     (SELECT id FROM unreported_expiries LIMIT ?1)"
                ))?;
                let rows = st.query_map(params![limit], read_item)?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for it in &items {
                tx.execute("DELETE FROM unreported_expiries WHERE id = ?1", [&it.id])?;
            }
            tx.commit()?;
            Ok(items)
        })
    }

    fn list(&self, state: Option<State>, limit: u32, now: u64) -> BoxFuture<'_, Result<Vec<Item>>> {
        self.step(move |c| {
            expire(c, now, None)?;
            let sql = format!(
                "SELECT {COLUMNS} FROM items WHERE ?1 IS NULL OR state = ?1 ORDER BY seq LIMIT ?2"
            );
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(params![state.map(State::as_str), limit], read_item)?;
            rows.map(|it| with_delivery(c, it?)).collect()
        })
    }

    fn stats(&self, now: u64) -> BoxFuture<'_, Result<Stats>> {
        self.step(move |c| {
            expire(c, now, None)?;
            let mut stats = Stats::default();
            {
                let mut st = c.prepare("SELECT state, COUNT(*) FROM items GROUP BY state")?;
                let rows =
                    st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
                for row in rows {
                    let (state, n) = row?;
                    if let Some(i) = State::ALL.iter().position(|s| s.as_str() == state) {
                        stats.counts[i] = uint(n);
                    }
                }
            }
            stats.oldest_queued_ms = c
                .query_row(
                    "SELECT MIN(created_ms) FROM items WHERE state = 'QUEUED'",
                    [],
                    |r| r.get::<_, Option<i64>>(0),
                )?
                .map(uint);
            stats.finished_last_minute = finished_last_minute(c, now)?;
            stats.refusing = refusing(c)?;
            let mut st = c.prepare("SELECT state, COUNT(*) FROM deliveries GROUP BY state")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (state, n) = row?;
                match DeliveryState::parse(&state) {
                    DeliveryState::Pending => stats.webhooks_pending = uint(n),
                    DeliveryState::GaveUp => stats.webhooks_failed = uint(n),
                    DeliveryState::Delivered => {}
                }
            }
            Ok(stats)
        })
    }

    fn retry(&self, id: String, now: u64) -> BoxFuture<'_, Result<bool>> {
        self.step(move |c| {
            let n = c.execute(
                "UPDATE items SET state = 'QUEUED', attempts = 0, updated_ms = ?2, \
                 finished_ms = NULL, expires_ms = ?2 + ttl_ms \
                 WHERE id = ?1 AND state IN ('FAILED', 'EXPIRED')",
                params![id, int(now)],
            )?;
            Ok(n == 1)
        })
    }

    fn claim_deliveries(
        &self,
        max: usize,
        lease_ms: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<(Vec<Claimed>, Option<u64>)>> {
        self.step(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Expiries due now have their webhook too.
            expire(&tx, now, None)?;
            let ids: Vec<String> = {
                let mut st = tx.prepare(
                    "SELECT id FROM deliveries WHERE state = 'PENDING' AND due_ms <= ?1 \
                     ORDER BY due_ms, rowid LIMIT ?2",
                )?;
                let rows = st.query_map(
                    params![int(now), i64::try_from(max).unwrap_or(i64::MAX)],
                    |r| r.get(0),
                )?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let token = token();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                tx.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, token = ?2, due_ms = ?3 \
                     WHERE id = ?1",
                    params![id, token, int(now.saturating_add(lease_ms))],
                )?;
                let item = tx
                    .query_row(
                        &format!("SELECT {COLUMNS} FROM items WHERE id = ?1"),
                        [&id],
                        read_item,
                    )
                    .optional()?;
                if let Some(item) = item {
                    out.push(Claimed {
                        item: with_delivery(&tx, item)?,
                        token: token.clone(),
                    });
                }
            }
            let next: Option<i64> = tx.query_row(
                "SELECT MIN(due_ms) FROM deliveries WHERE state = 'PENDING'",
                [],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok((out, next.map(uint)))
        })
    }

    fn settle_delivery(
        &self,
        id: String,
        token: String,
        outcome: Settle,
        now: u64,
    ) -> BoxFuture<'_, Result<bool>> {
        self.step(move |c| {
            let (state, due, error) = match outcome {
                Settle::Delivered => (DeliveryState::Delivered, None, None),
                Settle::Retry { at, error } => (DeliveryState::Pending, Some(int(at)), Some(error)),
                Settle::GiveUp { error } => (DeliveryState::GaveUp, None, Some(error)),
            };
            let settled = (state != DeliveryState::Pending).then_some(int(now));
            let n = c.execute(
                "UPDATE deliveries SET state = ?3, due_ms = ?4, token = NULL, settled_ms = ?5, \
                 last_error = COALESCE(?6, last_error) \
                 WHERE id = ?1 AND token = ?2 AND state = 'PENDING'",
                params![id, token, state.as_str(), due, settled, error],
            )?;
            Ok(n == 1)
        })
    }

    fn purge(&self, states: Vec<State>, now: u64) -> BoxFuture<'_, Result<u64>> {
        self.step(move |c| {
            expire(c, now, None)?;
            let placeholders = vec!["?"; states.len()].join(", ");
            let n = c.execute(
                &format!("DELETE FROM items WHERE state IN ({placeholders})"),
                params_from_iter(states.iter().map(|s| s.as_str())),
            )?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        })
    }
}

/// The error kept for an attempt whose worker stopped (killed, or cut off) before finishing.
fn lost_worker(attempt: u32, now: u64) -> StoredError {
    StoredError::queue(
        ErrorKind::Cancelled,
        format!("attempt {attempt}: the worker processing it stopped before finishing (its lease ran out)"),
        now,
    )
}
