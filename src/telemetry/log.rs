//! Each call's outcome as one `log` record on the `llmrail` target (in Python, one `logging`
//! record on the `llmrail` logger), its facts as key-values (Python's `extra` fields):
//! provider, model, outcome, http_status, latency_s, attempts, the token counts and cost_usd.
//! Nothing secret is in it: no key, header, URL or message text, only counts and names.
//!
//! INFO for every outcome: a failure already reaches its caller as an exception, and a WARNING
//! would be printed by Python's last-resort handler in every program without logging set up.
//! `log::log_enabled!` first asks the installed logger (in Python, pyo3-log's cached levels, no
//! GIL), so a silenced logger costs a branch.

use std::time::Duration;

use log::Level;

use super::{outcome_index, outcome_label, CallEnd};

/// The Python logger (and `log` target) of the records.
pub const TARGET: &str = "llmrail";

pub(super) fn call_finished(provider: &str, model: &str, end: &CallEnd<'_>, latency: Duration) {
    let level = Level::Info;
    if !log::log_enabled!(target: TARGET, level) {
        return;
    }
    let outcome = outcome_label(outcome_index(end.outcome));
    let usage = end.usage.copied().unwrap_or_default();
    let latency_s = latency.as_secs_f64();
    let http_status = end.http_status.unwrap_or(0);
    let cost_usd = end.cost_usd.unwrap_or(0.0);
    log::log!(
        target: TARGET,
        level,
        provider,
        model,
        outcome,
        http_status,
        latency_s,
        attempts = end.attempts,
        input_tokens = usage.input_tokens,
        output_tokens = usage.output_tokens,
        cache_read_tokens = usage.cache_read_tokens,
        cache_write_tokens = usage.cache_write_tokens,
        cost_usd;
        "{provider}/{model} {outcome} in {:.0} ms, {} attempt(s), {} in + {} out tokens, ${cost_usd:.6}",
        latency_s * 1e3,
        end.attempts,
        usage.input_tokens,
        usage.output_tokens,
    );
}
