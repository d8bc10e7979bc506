//! Gauges that layers above offer for a scrape without this module knowing them: a client's
//! breakers, a queue's depth. Each registers a [`Source`] once (as a `Weak`, so a dropped
//! client or queue simply stops being read); a scrape asks every live one for its samples.

use std::future::Future;
use std::pin::Pin;
use std::sync::{LazyLock, Mutex, Weak};

/// A metric family a source's samples belong to (name, help text, Prometheus type).
#[derive(Debug, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    /// `gauge` or `counter`.
    pub kind: &'static str,
}

/// One value of a family at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub family: &'static Family,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// Samples boxed, so that sources of any type sit in one list.
pub type Samples<'a> = Pin<Box<dyn Future<Output = Vec<Sample>> + Send + 'a>>;

/// Something with gauges to show (a breaker state, a queue depth), read at each scrape.
pub trait Source: Send + Sync {
    fn samples(&self) -> Samples<'_>;
}

struct Registered {
    sources: Vec<Weak<dyn Source>>,
    /// Live sources after the last sweep: the next sweep waits until the list has doubled,
    /// so registering stays constant-time for a service that builds a client per request.
    swept_at: usize,
}

static SOURCES: LazyLock<Mutex<Registered>> = LazyLock::new(|| {
    Mutex::new(Registered {
        sources: Vec::new(),
        swept_at: 0,
    })
});

/// Offer `source`'s samples to every scrape while it lives.
pub fn add_source(source: Weak<dyn Source>) {
    let mut r = SOURCES.lock().unwrap_or_else(|p| p.into_inner());
    if r.sources.len() >= r.swept_at.saturating_mul(2).max(64) {
        r.sources.retain(|s| s.strong_count() > 0);
        r.swept_at = r.sources.len();
    }
    r.sources.push(source);
}

/// The live sources, dead ones dropped from the list.
pub(super) fn live() -> Vec<std::sync::Arc<dyn Source>> {
    let mut r = SOURCES.lock().unwrap_or_else(|p| p.into_inner());
    r.sources.retain(|s| s.strong_count() > 0);
    r.swept_at = r.sources.len();
    r.sources.iter().filter_map(Weak::upgrade).collect()
}
