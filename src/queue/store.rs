//! The one trait every backend implements. Each method is one atomic step of an item's life
//! (a transaction in sqlite, a script in Redis), so processes sharing a store never see half
//! a transition; the rules shared by every backend (ids, the retry-after hint, the processor)
//! live above it in `queue.rs` and `worker.rs`.

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::item::{Claimed, Item, NewItem, Settle, State, Stats, Submitted, Watermarks};
use super::record::StoredError;
use crate::error::Result;

/// `now` arguments are milliseconds since the Unix epoch (the caller's clock: one place reads
/// it, so tests can move it).
pub trait Store: Send + Sync {
    /// Store `item` unless its idempotency key was seen or the watermarks refuse it. Returns
    /// only once the item is durable (committed).
    fn submit(
        &self,
        item: NewItem,
        marks: Watermarks,
        now: u64,
    ) -> BoxFuture<'_, Result<Submitted>>;

    /// Take up to `max` items (highest priority, then oldest) whose target is not in
    /// `blocked`: queued ones, or processing ones whose lease ran out (their worker died).
    /// Items past their TTL become EXPIRED instead of being taken. One step however many: a
    /// worker with several free slots fills them in one round trip.
    fn claim(
        &self,
        blocked: Vec<String>,
        max: usize,
        lease_ms: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<Vec<Claimed>>>;

    /// Extend the lease; false if this worker no longer holds it.
    fn heartbeat(&self, id: String, token: String, until: u64) -> BoxFuture<'_, Result<bool>>;

    /// Store the result of a PROCESSING item; false (and nothing changes) if it is already
    /// finished: the second completion of an item is ignored.
    fn complete(&self, id: String, result: Value, now: u64) -> BoxFuture<'_, Result<bool>>;

    /// Record a failed attempt: back to QUEUED if `retry` and attempts are left, else FAILED.
    /// Ignored unless this worker (`token`) still holds the item. Returns the state after.
    fn fail(
        &self,
        id: String,
        token: String,
        error: StoredError,
        retry: bool,
        now: u64,
    ) -> BoxFuture<'_, Result<Option<State>>>;

    /// Put a taken item back without counting the attempt (its target's breaker opened before
    /// the request was sent).
    fn release(&self, id: String, token: String, now: u64) -> BoxFuture<'_, Result<bool>>;

    /// The item, EXPIRED if its TTL has passed while it waited.
    fn get(&self, id: String, now: u64) -> BoxFuture<'_, Result<Option<Item>>>;

    /// Expire what is due, then hand over up to `limit` EXPIRED items whose expiry nobody has
    /// reported yet, marking them reported in the same step: each expiry is handed to one
    /// caller once, however many processes and readers see the item.
    fn take_expired(&self, limit: u32, now: u64) -> BoxFuture<'_, Result<Vec<Item>>>;

    /// Items in `state` (all when `None`), oldest first.
    fn list(&self, state: Option<State>, limit: u32, now: u64) -> BoxFuture<'_, Result<Vec<Item>>>;

    fn stats(&self, now: u64) -> BoxFuture<'_, Result<Stats>>;

    /// A FAILED or EXPIRED item queued again, with its attempts and TTL anew (its errors are
    /// kept); false for an item in another state or none.
    fn retry(&self, id: String, now: u64) -> BoxFuture<'_, Result<bool>>;

    /// Take up to `max` due webhook deliveries (PENDING, their retry time or the last
    /// sender's lease passed), each counted as an attempt and leased until `now + lease_ms`
    /// under one token; and when the next pending one is due (`None`: nothing is pending).
    /// The items come with their `webhook`.
    fn claim_deliveries(
        &self,
        max: usize,
        lease_ms: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<(Vec<Claimed>, Option<u64>)>>;

    /// Record how a delivery attempt ended; ignored (false) unless `token` still holds it.
    fn settle_delivery(
        &self,
        id: String,
        token: String,
        outcome: Settle,
        now: u64,
    ) -> BoxFuture<'_, Result<bool>>;

    /// Delete every item in `states` (items past their TTL count as EXPIRED); how many went.
    fn purge(&self, states: Vec<State>, now: u64) -> BoxFuture<'_, Result<u64>>;
}
