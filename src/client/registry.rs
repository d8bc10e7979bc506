//! Process-wide state per target: every [`Client`](super::Client) of the process that calls the
//! same target shares one circuit breaker state, one rate-limit bucket and one prompt-cache
//! memory, so a service that builds a client per request still sees its breaker open and its
//! limit hold. In-process sharing works as Redis sharing between processes does: the state is
//! the target's, and each client judges it by its own settings (its breaker thresholds, its
//! `rpm`/`tpm`), so clients never overwrite each other's settings.
//!
//! A target is its provider, base URL, model and API key; the key only as a hash keyed by a
//! random per-process seed ([`TargetId`] has no `Debug`, so it is never printed).
//!
//! Lookups happen when a client is built, never per call: a client keeps what it was given.
//!
//! Memory stays bounded: an entry no client holds is forgotten once it is at rest (a fresh one
//! would behave the same: a closed breaker with nothing left in its window, an empty rate-limit
//! log, a cache memory older than the longest TTL), and beyond [`MAX_UNHELD`] entries no client
//! holds, the least recently built-for ones are forgotten even if not at rest. Sweeps run when
//! a table has doubled since the last one, so their cost per lookup stays constant.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, LazyLock, Mutex};

use crate::cache::CacheMemory;
use crate::providers::Secret;
use crate::resilience::breaker::LocalBreaker;
use crate::resilience::ratelimit::LocalBucket;

/// Entries no client holds, kept beyond those at rest; past this the oldest go.
const MAX_UNHELD: usize = 1024;
/// A table is not swept before it holds this many entries.
const FIRST_SWEEP: usize = 64;

/// Who is called: provider, base URL, model and (a hash of) the API key, or of the AWS access
/// key id a provider that speaks AWS signs with.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct TargetId {
    provider: &'static str,
    base_url: String,
    model: String,
    key: Option<u64>,
    aws_key: Option<u64>,
}

impl TargetId {
    pub(crate) fn new(
        provider: &'static str,
        base_url: &str,
        model: &str,
        key: Option<&Secret>,
        aws_access_key_id: Option<&str>,
    ) -> Self {
        // SipHash under a per-process random seed: equal keys match within the process, and
        // the value says nothing about the key outside it.
        static SEED: LazyLock<RandomState> = LazyLock::new(RandomState::new);
        Self {
            provider,
            // "http://h/v1/" and "http://h/v1" are one service (a forwarded request's base
            // URL is cut from its URL, without the slash).
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            key: key.map(|k| SEED.hash_one(k.expose())),
            aws_key: aws_access_key_id.map(|k| SEED.hash_one(k)),
        }
    }
}

/// A rate-limit bucket: one named by the user (`RateLimit(key=...)`), shared by every client
/// that names it whatever it calls, or by default the target's own.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    Named(String),
    Target(TargetId),
}

/// State that can tell when forgetting it would change nothing.
pub(crate) trait AtRest: Default {
    fn at_rest(&self) -> bool;
}

impl AtRest for LocalBreaker {
    fn at_rest(&self) -> bool {
        LocalBreaker::at_rest(self)
    }
}

impl AtRest for LocalBucket {
    fn at_rest(&self) -> bool {
        LocalBucket::at_rest(self)
    }
}

impl AtRest for CacheMemory {
    fn at_rest(&self) -> bool {
        CacheMemory::at_rest(self)
    }
}

/// One table of shared state.
pub(crate) struct Registry<K, V> {
    table: Mutex<Table<K, V>>,
}

struct Table<K, V> {
    /// Each value with when a client was last built on it (a counter, not a clock).
    entries: HashMap<K, (Arc<V>, u64)>,
    built: u64,
    sweep_at: usize,
}

impl<K: Eq + Hash, V: AtRest> Default for Registry<K, V> {
    fn default() -> Self {
        Self {
            table: Mutex::new(Table {
                entries: HashMap::new(),
                built: 0,
                sweep_at: FIRST_SWEEP,
            }),
        }
    }
}

impl<K: Eq + Hash, V: AtRest> Registry<K, V> {
    /// The state for `key`, made fresh if there is none.
    pub(crate) fn get(&self, key: K) -> Arc<V> {
        // Plain data behind the lock: a panic elsewhere cannot leave it half-updated.
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.built = t.built.wrapping_add(1);
        let built = t.built;
        if let Some((value, last)) = t.entries.get_mut(&key) {
            *last = built;
            return value.clone();
        }
        if t.entries.len() >= t.sweep_at {
            t.sweep();
        }
        let value = Arc::new(V::default());
        t.entries.insert(key, (value.clone(), built));
        value
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.lock().map(|t| t.entries.len()).unwrap_or(0)
    }
}

impl<K: Eq + Hash, V: AtRest> Table<K, V> {
    fn sweep(&mut self) {
        // Under the table's lock nobody can take a new reference, so an entry held by no
        // client (a count of one: the table's) stays unheld while it is judged.
        let unheld = |v: &Arc<V>| Arc::strong_count(v) == 1;
        self.entries.retain(|_, (v, _)| !(unheld(v) && v.at_rest()));
        let mut idle: Vec<u64> = self
            .entries
            .values()
            .filter(|(v, _)| unheld(v))
            .map(|(_, built)| *built)
            .collect();
        if idle.len() > MAX_UNHELD {
            let cut = idle.len() - MAX_UNHELD;
            let (_, oldest_kept, _) = idle.select_nth_unstable(cut);
            let oldest_kept = *oldest_kept;
            self.entries
                .retain(|_, (v, built)| !unheld(v) || *built >= oldest_kept);
        }
        self.sweep_at = self.entries.len().saturating_mul(2).max(FIRST_SWEEP);
    }
}

/// Circuit breaker state per target.
pub(crate) static BREAKERS: LazyLock<Registry<TargetId, LocalBreaker>> =
    LazyLock::new(Registry::default);
/// Rate-limit logs per bucket.
pub(crate) static BUCKETS: LazyLock<Registry<Bucket, LocalBucket>> =
    LazyLock::new(Registry::default);
/// What the last cached requests to each target held.
pub(crate) static CACHES: LazyLock<Registry<TargetId, CacheMemory>> =
    LazyLock::new(Registry::default);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A state whose rest is set by the test.
    #[derive(Default)]
    struct Flag(std::sync::atomic::AtomicBool);

    impl AtRest for Flag {
        fn at_rest(&self) -> bool {
            !self.0.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    fn busy(f: &Flag) {
        f.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn id(key: &str) -> TargetId {
        TargetId::new("openai", "http://h/v1", "m", Some(&Secret::new(key)), None)
    }

    #[test]
    fn the_same_target_gets_the_same_state_and_another_key_its_own() {
        let r: Registry<TargetId, Flag> = Registry::default();
        let a = r.get(id("sk-1"));
        assert!(Arc::ptr_eq(&a, &r.get(id("sk-1"))));
        assert!(!Arc::ptr_eq(&a, &r.get(id("sk-2"))));
        let other_url = TargetId::new(
            "openai",
            "http://other/v1",
            "m",
            Some(&Secret::new("sk-1")),
            None,
        );
        assert!(!Arc::ptr_eq(&a, &r.get(other_url)));
        let no_key = TargetId::new("openai", "http://h/v1", "m", None, None);
        assert!(!Arc::ptr_eq(&a, &r.get(no_key)));
    }

    #[test]
    fn another_aws_access_key_id_is_another_target() {
        let r: Registry<TargetId, Flag> = Registry::default();
        let aws = |key: &str| TargetId::new("bedrock", "https://b", "m", None, Some(key));
        let a = r.get(aws("AKIDONE"));
        assert!(Arc::ptr_eq(&a, &r.get(aws("AKIDONE"))));
        assert!(!Arc::ptr_eq(&a, &r.get(aws("AKIDTWO"))));
        let unsigned = TargetId::new("bedrock", "https://b", "m", None, None);
        assert!(!Arc::ptr_eq(&a, &r.get(unsigned)));
    }

    #[test]
    fn state_nobody_holds_is_forgotten_only_at_rest() {
        let r: Registry<usize, Flag> = Registry::default();
        let held = r.get(0);
        busy(&r.get(1));
        for k in 2..FIRST_SWEEP {
            r.get(k);
        }
        // The next new key sweeps: 0 is held, 1 is not at rest, the rest are forgotten.
        r.get(1000);
        assert_eq!(r.len(), 3);
        assert!(Arc::ptr_eq(&held, &r.get(0)));
        assert!(!r.get(1).at_rest());
    }

    #[test]
    fn unheld_state_beyond_the_cap_is_forgotten_oldest_first() {
        let r: Registry<usize, Flag> = Registry::default();
        for k in 0..3 * MAX_UNHELD {
            busy(&r.get(k));
        }
        assert!(r.len() <= 2 * MAX_UNHELD + 1, "{}", r.len());
        // The most recently built-for entries survive every sweep.
        let last = 3 * MAX_UNHELD - 1;
        assert!(!r.get(last).at_rest());
        assert!(r.get(0).at_rest(), "the first entry was forgotten long ago");
    }

    #[test]
    fn memory_stays_bounded_whatever_the_number_of_targets() {
        let r: Registry<usize, Flag> = Registry::default();
        for k in 0..100_000 {
            r.get(k);
        }
        assert!(r.len() <= 2 * FIRST_SWEEP, "{}", r.len());
    }
}
