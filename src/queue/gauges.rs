//! A queue's gauges for a scrape (`llmrail.metrics_text()`): items by state, the oldest queued
//! item's age, items finished in the last minute, and whether submissions are refused; read
//! from the store as `queue.stats()` reads them, labelled by the queue's URL (secrets scrubbed).

use crate::telemetry::{Family, Sample, Samples, Source};

use super::item::State;
use super::{now_ms, Inner};

static ITEMS: Family = Family {
    name: "llmrail_queue_items",
    help: "Items in a durable queue opened by this process, by state.",
    kind: "gauge",
};

static OLDEST: Family = Family {
    name: "llmrail_queue_oldest_queued_seconds",
    help: "Age of the oldest item waiting in the queue (0 when none waits).",
    kind: "gauge",
};

static FINISHED: Family = Family {
    name: "llmrail_queue_finished_last_minute",
    help: "Items that finished (completed or failed) in the last minute.",
    kind: "gauge",
};

static REFUSING: Family = Family {
    name: "llmrail_queue_refusing",
    help: "1 while the queue refuses submissions (above its high watermark), else 0.",
    kind: "gauge",
};

impl Source for Inner {
    fn samples(&self) -> Samples<'_> {
        Box::pin(async move {
            // A store that cannot be read now (Redis down) shows nothing rather than zeros.
            let now = now_ms();
            let Ok(stats) = self.store.stats(now).await else {
                return Vec::new();
            };
            let queue = || vec![("queue", self.url.clone())];
            let mut out: Vec<Sample> = State::ALL
                .iter()
                .zip(stats.counts)
                .map(|(state, n)| Sample {
                    family: &ITEMS,
                    labels: vec![
                        ("queue", self.url.clone()),
                        ("state", state.as_str().to_ascii_lowercase()),
                    ],
                    value: n as f64,
                })
                .collect();
            let oldest = stats
                .oldest_queued_ms
                .map_or(0.0, |t| now.saturating_sub(t) as f64 / 1e3);
            out.push(Sample {
                family: &OLDEST,
                labels: queue(),
                value: oldest,
            });
            out.push(Sample {
                family: &FINISHED,
                labels: queue(),
                value: stats.finished_last_minute as f64,
            });
            out.push(Sample {
                family: &REFUSING,
                labels: queue(),
                value: if stats.refusing { 1.0 } else { 0.0 },
            });
            out
        })
    }
}
