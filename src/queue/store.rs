//! The one trait every backend implements. Each method is one atomic step of an item's life
//! (a transaction in sqlite, a script in Redis), so processes sharing a store never see half
//! a transition; the rules shared by every backend (ids, the retry-after hint, the processor)
//! live above it in `queue.rs` and `worker.rs`.

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
#[cfg(test)]
use serde_json::Value;

#[cfg(test)]
use super::item::End;
use super::item::{Claimed, Ended, Item, NewItem, Settle, State, Stats, Submitted, Watermarks};
#[cfg(test)]
use super::record::StoredError;
use crate::error::Result;

#[cfg(test)]
fn ended(id: String, token: String, end: End) -> Vec<Ended> {
    vec![Ended { id, token, end }]
}

/// What `Store::settle_and_claim` gives back: per ended item, its state after (`None`:
/// ignored), and the items taken.
pub type Settled = (Vec<Option<State>>, Vec<Claimed>);

/// `now` arguments are milliseconds since the Unix epoch (the caller's clock: one place reads
/// it, so tests can move it).
pub trait Store: Send + Sync {
    /// Store each of `items` unless its idempotency key was seen (also earlier in `items`) or
    /// the watermarks refuse it, in order, in one atomic step (one transaction, one script):
    /// one outcome per item, returned only once the step is durable (committed). On an error
    /// no item's submission is confirmed: sqlite rolled the transaction back; for Redis, as
    /// for any remote write whose answer is lost, the script may still have run.
    fn submit_many(
        &self,
        items: Vec<NewItem>,
        marks: Watermarks,
        now: u64,
    ) -> BoxFuture<'_, Result<Vec<Submitted>>>;

    /// `submit_many` of one item.
    fn submit(
        &self,
        item: NewItem,
        marks: Watermarks,
        now: u64,
    ) -> BoxFuture<'_, Result<Submitted>> {
        let step = self.submit_many(vec![item], marks, now);
        Box::pin(async move {
            step.await?.pop().ok_or_else(|| {
                crate::error::LlmError::new(
                    crate::error::ErrorKind::Internal,
                    "the queue store answered a submission with no outcome",
                )
            })
        })
    }

    /// One worker step: store how the items in `ended` ended, then take up to `max` more, in
    /// one atomic step (one commit, one script), so a busy worker pays one round trip per
    /// loop for everything that finished meanwhile and the items that fill the freed slots.
    ///
    /// - `End::Complete` stores the result of a PROCESSING item (or of one whose lease ran out
    ///   and that waits again): the first completion wins, a later one is ignored;
    /// - `End::Fail` records the error: back to QUEUED if `retry` and attempts are left, else
    ///   FAILED; ignored unless `token` still holds the item;
    /// - `End::Release` puts the item back without counting the attempt (same condition);
    /// - taking: highest priority, then oldest, whose target is not in `blocked`: queued
    ///   items, or processing ones whose lease ran out (their worker died). Items past their
    ///   TTL become EXPIRED instead of being taken.
    ///
    /// Returns, per ended item, the state after it (`None`: ignored), and the items taken.
    fn settle_and_claim(
        &self,
        ended: Vec<Ended>,
        blocked: Vec<String>,
        max: usize,
        lease_ms: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<Settled>>;

    /// `settle_and_claim` taking only (the tests' one-step forms follow).
    #[cfg(test)]
    fn claim(
        &self,
        blocked: Vec<String>,
        max: usize,
        lease_ms: u64,
        now: u64,
    ) -> BoxFuture<'_, Result<Vec<Claimed>>> {
        let step = self.settle_and_claim(Vec::new(), blocked, max, lease_ms, now);
        Box::pin(async move { Ok(step.await?.1) })
    }

    #[cfg(test)]
    fn complete(&self, id: String, result: Value, now: u64) -> BoxFuture<'_, Result<bool>> {
        let one = ended(id, String::new(), End::Complete(result.to_string()));
        let step = self.settle_and_claim(one, Vec::new(), 0, 0, now);
        Box::pin(async move { Ok(step.await?.0.first() == Some(&Some(State::Completed))) })
    }

    #[cfg(test)]
    fn fail(
        &self,
        id: String,
        token: String,
        error: StoredError,
        retry: bool,
        now: u64,
    ) -> BoxFuture<'_, Result<Option<State>>> {
        let one = ended(id, token, End::Fail { error, retry });
        let step = self.settle_and_claim(one, Vec::new(), 0, 0, now);
        Box::pin(async move { Ok(step.await?.0.first().copied().flatten()) })
    }

    #[cfg(test)]
    fn release(&self, id: String, token: String, now: u64) -> BoxFuture<'_, Result<bool>> {
        let one = ended(id, token, End::Release);
        let step = self.settle_and_claim(one, Vec::new(), 0, 0, now);
        Box::pin(async move { Ok(step.await?.0.first() == Some(&Some(State::Queued))) })
    }

    /// A stream that yields whenever some process may have queued an item, for idle workers
    /// to claim at once rather than at their next poll; `None` where the store has no such
    /// signal (sqlite: a file has no one to tell, so other processes' items wait for a poll).
    fn wake_ups(&self) -> Option<BoxFuture<'static, Result<BoxStream<'static, ()>>>> {
        None
    }

    /// A stream of the ids other stores' steps finished (COMPLETED, FAILED, EXPIRED), for
    /// this process's `result` waiters to read at once rather than at their next poll; `None`
    /// where the store has no such signal (sqlite).
    fn finished(&self) -> Option<BoxFuture<'static, Result<BoxStream<'static, Vec<String>>>>> {
        None
    }

    /// Extend the lease; false if this worker no longer holds it.
    fn heartbeat(&self, id: String, token: String, until: u64) -> BoxFuture<'_, Result<bool>>;

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
