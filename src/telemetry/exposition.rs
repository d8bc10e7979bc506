//! The Prometheus text exposition (format 0.0.4) of the counters and of every live source's
//! gauges: what `llmrail.metrics_text()` returns and the `prometheus_client` collector parses.
//! Names follow Prometheus' conventions: an `llmrail_` prefix, base units (seconds, USD), and
//! `_total` on counters.

use std::fmt::Write;

use super::counters::{self, Series, DURATION_BUCKETS, TOKEN_TYPES};
use super::sources::{self, Sample};
use super::{outcome_label, OUTCOMES};

/// A family with one line per series: name, type, help, and how to read it.
type Plain = (&'static str, &'static str, &'static str, fn(&Series) -> f64);

/// Every family, in the order written.
pub async fn metrics_text() -> String {
    let series = counters::all();
    let mut out = String::new();
    family(
        &mut out,
        "llmrail_requests_total",
        "counter",
        "Calls finished, by provider, model and outcome (ok, or the error's class name).",
    );
    for s in &series {
        let requests = s.requests();
        for (i, n) in requests.iter().enumerate().take(OUTCOMES) {
            // Every series shows its `ok` line; an error kind only once it has happened.
            if i == 0 || *n > 0 {
                line(
                    &mut out,
                    "llmrail_requests_total",
                    s,
                    &[("outcome", outcome_label(i))],
                    *n as f64,
                );
            }
        }
    }
    family(
        &mut out,
        "llmrail_request_duration_seconds",
        "histogram",
        "Latency of whole calls (every retry, wait and fallback included), in seconds.",
    );
    for s in &series {
        let buckets = s.cumulative_buckets();
        for (bound, n) in DURATION_BUCKETS.iter().zip(buckets) {
            line(
                &mut out,
                "llmrail_request_duration_seconds_bucket",
                s,
                &[("le", &bound.to_string())],
                n as f64,
            );
        }
        let count = buckets.last().copied().unwrap_or(0);
        line(
            &mut out,
            "llmrail_request_duration_seconds_bucket",
            s,
            &[("le", "+Inf")],
            count as f64,
        );
        line(
            &mut out,
            "llmrail_request_duration_seconds_sum",
            s,
            &[],
            s.latency_sum(),
        );
        line(
            &mut out,
            "llmrail_request_duration_seconds_count",
            s,
            &[],
            count as f64,
        );
    }
    family(&mut out, "llmrail_tokens_total", "counter",
        "Tokens used, by type (input counts cached input too; cache_read and cache_write are parts of it).");
    for s in &series {
        for (t, n) in TOKEN_TYPES.iter().zip(s.tokens()) {
            line(
                &mut out,
                "llmrail_tokens_total",
                s,
                &[("type", t)],
                n as f64,
            );
        }
    }
    let plain: [Plain; 5] = [
        ("llmrail_cost_usd_total", "counter",
            "What the calls cost in USD at the catalogue's prices (models without a price add nothing).",
            Series::cost_usd),
        ("llmrail_retries_total", "counter", "Requests sent again after a failed attempt.",
            |s| s.retries() as f64),
        ("llmrail_retry_wait_seconds_total", "counter",
            "Time slept between attempts (backoff and server-requested waits).", Series::retry_wait),
        ("llmrail_rate_limit_wait_seconds_total", "counter",
            "Time calls waited for rate-limit capacity.", Series::rate_limit_wait),
        ("llmrail_requests_in_flight", "gauge", "Calls started and not yet finished (by the primary model).",
            |s| s.in_flight() as f64),
    ];
    for (name, kind, help, read) in plain {
        family(&mut out, name, kind, help);
        for s in &series {
            line(&mut out, name, s, &[], read(s));
        }
    }
    let mut samples: Vec<Sample> = Vec::new();
    for source in sources::live() {
        samples.extend(source.samples().await);
    }
    write_samples(&mut out, samples);
    out
}

/// Samples grouped by family (the format wants a family's lines together), in the order the
/// families first appear; of samples with equal labels (two clients of one breaker) the
/// largest stands, as a series may appear once.
fn write_samples(out: &mut String, mut samples: Vec<Sample>) {
    let mut order: Vec<&'static str> = Vec::new();
    for s in &samples {
        if !order.contains(&s.family.name) {
            order.push(s.family.name);
        }
    }
    samples.sort_by(|a, b| {
        let (ia, ib) = (
            order.iter().position(|n| *n == a.family.name),
            order.iter().position(|n| *n == b.family.name),
        );
        ia.cmp(&ib)
            .then_with(|| a.labels.cmp(&b.labels))
            .then_with(|| b.value.total_cmp(&a.value))
    });
    samples.dedup_by(|later, first| {
        later.family.name == first.family.name && later.labels == first.labels
    });
    let mut current = "";
    for s in &samples {
        if s.family.name != current {
            current = s.family.name;
            family(out, s.family.name, s.family.kind, s.family.help);
        }
        let labels: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        write_line(out, s.family.name, &labels, s.value);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn line(out: &mut String, name: &str, s: &Series, extra: &[(&str, &str)], value: f64) {
    let mut labels = vec![
        ("provider", s.provider.as_str()),
        ("model", s.model.as_str()),
    ];
    labels.extend_from_slice(extra);
    write_line(out, name, &labels, value);
}

fn write_line(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

/// A label value as the format quotes it: backslash, double quote and newline escaped.
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .into()
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        v.to_string()
    }
}
