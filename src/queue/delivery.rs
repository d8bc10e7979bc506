//! Durable webhook delivery. The step that stores an item's final state also records its
//! webhook as PENDING (sqlite: a trigger in the same statement; Redis: the same script), so
//! nothing between the two can lose it. A deliverer then takes due deliveries from the store
//! under a lease, POSTs them, and records the outcome:
//!
//! - answered 2xx: DELIVERED;
//! - not: PENDING again, due after a backoff (1 s, doubling to 10 min, with jitter), until
//!   `webhook_attempts` POSTs have been made or the delivery is older than `webhook_max_age`:
//!   then GAVE_UP, with its last error (`status()`, `stats()` and `queue show` show both);
//! - the sender died mid-way: its lease runs out and any process's deliverer takes it again.
//!
//! At-least-once: a receiver may see a delivery twice (its sender died after the POST and
//! before recording it), always with the same `x-llmrail-delivery` id.
//!
//! Who delivers: every process running workers keeps a deliverer (it also takes what crashed
//! processes left); any other process that finishes or first sees an expired item with a
//! callback runs one until nothing is pending. Only a queue opened with the `webhook_secret`
//! can sign, so only such a process delivers.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinSet;

use super::item::{Claimed, Settle};
use super::{millis, now_ms, webhook, Inner, Queue};

/// How long a sender holds a delivery: more than one POST's timeout, so a slow receiver is
/// not sent the same delivery by a second process meanwhile.
const LEASE: Duration = Duration::from_secs(30);
/// POSTs one process has in flight at most.
const IN_FLIGHT: usize = 16;
/// How often an idle deliverer looks for deliveries other processes left (or that came due).
const IDLE_POLL: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// The wait after the `attempts`-th failed POST: 1 s doubling, at most 10 min, and up to a
/// tenth more at random so many failing deliveries to one receiver do not retry in step.
pub(super) fn backoff(attempts: u32) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let base = doubled.min(MAX_BACKOFF);
    base.saturating_add(crate::duration::scaled(base, rand::random::<f64>() / 10.0))
}

impl Queue {
    /// Make sure this process delivers what is due: wake its deliverer, or start one that
    /// runs until nothing is pending.
    pub(super) fn kick_deliveries(&self) {
        if self.inner.cfg.webhook_secret.is_none() {
            return;
        }
        self.inner.kicks.fetch_add(1, Ordering::SeqCst);
        self.inner.deliver_now.notify_waiters();
        if !self.inner.delivering.swap(true, Ordering::SeqCst) {
            match crate::runtime::handle() {
                Ok(h) => {
                    h.spawn(deliver(Arc::downgrade(&self.inner), false));
                }
                Err(_) => self.inner.delivering.store(false, Ordering::SeqCst),
            }
        }
    }

    /// One delivery attempt and its record.
    async fn deliver_one(self, claimed: Claimed) {
        let Claimed { item, token } = claimed;
        let Some(d) = item.webhook.clone() else {
            return;
        };
        let cfg = &self.inner.cfg;
        let now = now_ms();
        let too_old = now.saturating_sub(d.created_ms) > millis(cfg.webhook_max_age);
        let outcome = match (&cfg.webhook_secret, &item.callback_url) {
            _ if too_old => Settle::GiveUp {
                error: format!(
                    "not delivered within webhook_max_age ({} s)",
                    cfg.webhook_max_age.as_secs_f64()
                ),
            },
            (Some(secret), Some(url)) => {
                let sent = match webhook::payload(&item, &d.id) {
                    Some(body) => webhook::send(url, secret, &d.id, body).await,
                    None => Err(crate::error::LlmError::config(
                        "the item is no longer finished",
                    )),
                };
                match sent {
                    Ok(()) => Settle::Delivered,
                    Err(e) => {
                        // The callback URL may carry a token of the receiver's: shown scrubbed.
                        let error = format!("{}: {}", e.kind.name(), e.message)
                            .replace(url.as_str(), &crate::replay::scrub::url(url));
                        tracing::warn!(item = %item.id, attempt = d.attempts, error = %error, "queue webhook delivery failed");
                        if d.attempts >= cfg.webhook_attempts {
                            Settle::GiveUp { error }
                        } else {
                            let wait = millis(backoff(d.attempts));
                            Settle::Retry {
                                at: now_ms().saturating_add(wait),
                                error,
                            }
                        }
                    }
                }
            }
            // Taken by a process that cannot sign (its deliverer starts only with a secret, so
            // this is a process sharing the store with a different setup): leave it a while
            // for one that can.
            _ => Settle::Retry {
                at: now.saturating_add(millis(IDLE_POLL) * 10),
                error: "this process has no webhook_secret to sign with".into(),
            },
        };
        if let Err(e) = self
            .inner
            .store
            .settle_delivery(item.id.clone(), token, outcome, now_ms())
            .await
        {
            // Its lease runs out and it is sent again: at-least-once.
            tracing::warn!(item = %item.id, error = %e, "queue could not record a webhook delivery");
        }
    }
}

/// Take and send due deliveries. `keep`: until dropped (a worker's); otherwise until nothing
/// is pending, in flight or newly asked for. Holds the queue only weakly between rounds, so an
/// on-demand deliverer does not keep a dropped queue alive.
pub(super) async fn deliver(queue: Weak<Inner>, keep: bool) {
    // A worker's deliverer stands for the on-demand one while it runs (no second one starts).
    let _standing = keep.then(|| Standing::new(&queue));
    let mut in_flight = JoinSet::new();
    loop {
        let Some(inner) = queue.upgrade() else {
            return;
        };
        let q = Queue { inner };
        let kicks = q.inner.kicks.load(Ordering::SeqCst);
        // Registered before the claim, so a kick between the two is not missed.
        let woken = q.inner.deliver_now.notified();
        while in_flight.try_join_next().is_some() {}
        let free = IN_FLIGHT.saturating_sub(in_flight.len());
        if free == 0 {
            in_flight.join_next().await;
            continue;
        }
        let next = match q
            .inner
            .store
            .claim_deliveries(free, millis(LEASE), now_ms())
            .await
        {
            Ok((claimed, next)) => {
                if !claimed.is_empty() {
                    for run in by_receiver(claimed) {
                        let q = q.clone();
                        in_flight.spawn(async move {
                            for c in run {
                                q.clone().deliver_one(c).await;
                            }
                        });
                    }
                    continue;
                }
                next
            }
            Err(e) => {
                // What the store holds is safe: a worker's deliverer takes it later.
                tracing::warn!(queue = %q.inner.url, error = %e, "queue deliverer cannot reach its store");
                if !keep && in_flight.is_empty() && stop(&q, kicks) {
                    return;
                }
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
        };
        if !keep && next.is_none() && in_flight.is_empty() && stop(&q, kicks) {
            return;
        }
        let now = now_ms();
        let wait = next.map_or(IDLE_POLL, |t| {
            Duration::from_millis(t.saturating_sub(now)).min(IDLE_POLL)
        });
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(wait) => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
}

/// The claimed deliveries grouped by receiver, each group in the order they came due: one
/// receiver gets its webhooks one after another, in the order its items ended; different
/// receivers are sent to at once.
fn by_receiver(claimed: Vec<Claimed>) -> Vec<Vec<Claimed>> {
    let mut runs: Vec<Vec<Claimed>> = Vec::new();
    for c in claimed {
        match runs.iter_mut().find(|r| {
            r.first()
                .is_some_and(|f| f.item.callback_url == c.item.callback_url)
        }) {
            Some(run) => run.push(c),
            None => runs.push(vec![c]),
        }
    }
    runs
}

/// Marks this process as delivering for as long as a worker's deliverer runs.
struct Standing(Weak<Inner>);

impl Standing {
    fn new(queue: &Weak<Inner>) -> Self {
        if let Some(inner) = queue.upgrade() {
            inner.delivering.store(true, Ordering::SeqCst);
        }
        Self(queue.clone())
    }
}

impl Drop for Standing {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner.delivering.store(false, Ordering::SeqCst);
        }
    }
}

/// Whether an on-demand deliverer may end: no kick came since `kicks` (or another deliverer
/// took over). A kick that found this one still running started none.
fn stop(q: &Queue, kicks: u64) -> bool {
    q.inner.delivering.store(false, Ordering::SeqCst);
    q.inner.kicks.load(Ordering::SeqCst) == kicks || q.inner.delivering.swap(true, Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_a_second_up_to_ten_minutes_with_a_little_jitter() {
        for (attempts, base) in [(1, 1), (2, 2), (3, 4), (10, 512), (11, 600), (40, 600)] {
            let w = backoff(attempts);
            let base = Duration::from_secs(base);
            assert!(w >= base && w <= base + base / 10, "{attempts}: {w:?}");
        }
    }
}
