use std::sync::Arc;
use std::time::Duration;

use super::*;

fn ok_end(usage: &Usage) -> CallEnd<'_> {
    CallEnd {
        target: 0,
        outcome: Ok(()),
        http_status: None,
        usage: Some(usage),
        cost_usd: Some(0.25),
        attempts: 3,
        retry_wait: Duration::from_millis(1500),
        rate_limit_wait: Duration::from_millis(250),
    }
}

fn failed(kind: ErrorKind) -> CallEnd<'static> {
    CallEnd {
        target: 0,
        outcome: Err(kind),
        http_status: Some(500),
        usage: None,
        cost_usd: None,
        attempts: 1,
        retry_wait: Duration::ZERO,
        rate_limit_wait: Duration::ZERO,
    }
}

fn usage() -> Usage {
    Usage {
        input_tokens: 100,
        output_tokens: 20,
        cache_read_tokens: 60,
        cache_write_tokens: 5,
        cache_write_1h_tokens: 0,
    }
}

#[test]
fn a_series_counts_outcomes_tokens_cost_retries_and_waits() {
    let s = counters::series("t-counts", "m1");
    let u = usage();
    s.record(&ok_end(&u), Duration::from_millis(30));
    s.record(&failed(ErrorKind::RateLimit), Duration::from_millis(5));
    let requests = s.requests();
    assert_eq!(requests[0], 1);
    assert_eq!(requests[outcome_index(Err(ErrorKind::RateLimit))], 1);
    assert_eq!(
        outcome_label(outcome_index(Err(ErrorKind::RateLimit))),
        "RateLimitError"
    );
    assert_eq!(s.tokens(), [100, 20, 60, 5]);
    assert!((s.cost_usd() - 0.25).abs() < 1e-9);
    assert_eq!(s.retries(), 2);
    assert!((s.retry_wait() - 1.5).abs() < 1e-9);
    assert!((s.rate_limit_wait() - 0.25).abs() < 1e-9);
    // 5 ms falls in the first bucket (<= 10 ms), 30 ms in the third (<= 40 ms).
    let b = s.cumulative_buckets();
    assert_eq!((b[0], b[1], b[2], b[b.len() - 1]), (1, 1, 2, 2));
    assert!((s.latency_sum() - 0.035).abs() < 1e-6);
}

#[test]
fn the_same_provider_and_model_share_one_series() {
    let a = counters::series("t-share", "m");
    let b = counters::series("t-share", "m");
    assert!(Arc::ptr_eq(&a, &b));
    assert!(!Arc::ptr_eq(&a, &counters::series("t-share", "other")));
}

#[tokio::test]
async fn observe_counts_a_call_in_flight_until_it_ends() {
    let rec = Recorder::new([("t-flight", "m")]);
    let series = counters::series("t-flight", "m");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    fn end(_: &Result<(), ()>) -> CallEnd<'static> {
        failed(ErrorKind::Server)
    }
    let call = std::pin::pin!(async { rx.await.map_err(|_| ()) });
    let call = rec.observe(call, end);
    tokio::pin!(call);
    assert!(futures_util::poll!(call.as_mut()).is_pending());
    assert_eq!(series.in_flight(), 1);
    let _ = tx.send(());
    let _ = call.await;
    assert_eq!(series.in_flight(), 0);
    assert_eq!(rec.stats().read(false).errors, vec![("ServerError", 1)]);
}

#[tokio::test]
async fn a_call_dropped_before_its_end_counts_as_cancelled() {
    let rec = Recorder::new([("t-cancel", "m")]);
    fn end(_: &()) -> CallEnd<'static> {
        failed(ErrorKind::Server)
    }
    let pending = std::pin::pin!(std::future::pending::<()>());
    let call = rec.observe(pending, end);
    let _ = tokio::time::timeout(Duration::from_millis(5), call).await;
    let series = counters::series("t-cancel", "m");
    assert_eq!(series.in_flight(), 0);
    assert_eq!(
        series.requests()[outcome_index(Err(ErrorKind::Cancelled))],
        1
    );
}

#[test]
fn stats_give_latency_quantiles_within_one_percent_and_reset_on_request() {
    let stats = ClientStats::default();
    let u = usage();
    for ms in 1..=1000u64 {
        stats.record(&ok_end(&u), Duration::from_millis(ms));
    }
    stats.record(&failed(ErrorKind::Timeout), Duration::from_millis(500));
    let s = stats.read(true);
    assert_eq!(s.requests, 1001);
    assert_eq!(s.errors, vec![("TimeoutError", 1)]);
    assert_eq!((s.input_tokens, s.output_tokens), (100_000, 20_000));
    assert_eq!((s.cache_read_tokens, s.cache_write_tokens), (60_000, 5_000));
    assert!((s.cost_usd - 250.0).abs() < 1e-6);
    let near = |d: Option<Duration>, want: f64| {
        let got = d.map_or(0.0, |d| d.as_secs_f64());
        assert!((got - want).abs() <= want * 0.02, "{got} vs {want}");
    };
    near(s.latency_p50, 0.5);
    near(s.latency_p95, 0.95);
    near(s.latency_p99, 0.99);
    let after = stats.read(false);
    assert_eq!((after.requests, after.latency_p50), (0, None));
    assert!(after.since >= s.since);
}

struct Gauges(f64);

static TEST_FAMILY: Family = Family {
    name: "llmrail_test_gauge",
    help: "A gauge of the tests.",
    kind: "gauge",
};

impl Source for Gauges {
    fn samples(&self) -> Samples<'_> {
        let value = self.0;
        Box::pin(async move {
            vec![Sample {
                family: &TEST_FAMILY,
                labels: vec![("name", "a \"quoted\"\nname".to_string())],
                value,
            }]
        })
    }
}

#[tokio::test]
async fn the_exposition_has_each_family_once_and_sources_only_while_they_live() {
    let s = counters::series("t-text", "gpt \"x\"");
    let u = usage();
    s.record(&ok_end(&u), Duration::from_millis(30));
    let (one, two): (Arc<dyn Source>, Arc<dyn Source>) =
        (Arc::new(Gauges(1.0)), Arc::new(Gauges(2.0)));
    add_source(Arc::downgrade(&one));
    add_source(Arc::downgrade(&two));
    let text = metrics_text().await;
    for family in [
        "llmrail_requests_total counter",
        "llmrail_request_duration_seconds histogram",
        "llmrail_tokens_total counter",
        "llmrail_cost_usd_total counter",
        "llmrail_retries_total counter",
        "llmrail_rate_limit_wait_seconds_total counter",
        "llmrail_requests_in_flight gauge",
        "llmrail_test_gauge gauge",
    ] {
        assert_eq!(
            text.matches(&format!("# TYPE {family}\n")).count(),
            1,
            "{family}"
        );
    }
    assert!(text.contains(
        "llmrail_requests_total{provider=\"t-text\",model=\"gpt \\\"x\\\"\",outcome=\"ok\"} 1\n"
    ));
    assert!(text.contains(
        "llmrail_tokens_total{provider=\"t-text\",model=\"gpt \\\"x\\\"\",type=\"cache_read\"} 60\n"
    ));
    // Two sources with the same labels: one line, the larger value.
    assert!(text.contains("llmrail_test_gauge{name=\"a \\\"quoted\\\"\\nname\"} 2\n"));
    assert_eq!(text.matches("llmrail_test_gauge{").count(), 1);
    drop((one, two));
    assert!(!metrics_text().await.contains("llmrail_test_gauge"));
}
