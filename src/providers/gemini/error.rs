//! Gemini's error envelope (`{"error": {"code", "message", "status", "details": [...]}}`).
//!
//! The details are google.rpc messages: `RetryInfo.retryDelay` ("35s") says when to try again,
//! as Retry-After does elsewhere; a `QuotaFailure` naming a per-day quota means no retry today
//! can succeed, so its wait is until the quota resets (midnight Pacific time, as Google
//! documents), which is past any retry policy's `max_delay`: the call fails at once and
//! fallbacks take over. `ErrorInfo.reason` API_KEY_INVALID comes with status 400; it is an
//! authentication failure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use serde_json::Value;

use crate::error::{ErrorKind, LlmError};
use crate::providers::quota::unix_time;
use crate::providers::status_error;

pub(super) fn parse(
    status: u16,
    request_id: Option<String>,
    headers: &HeaderMap,
    body: &[u8],
) -> LlmError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {status} from gemini"));
    let mut e = status_error(status, message, request_id, headers, body);
    let details = err
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let of_type = |suffix: &'static str| {
        details.iter().filter(move |d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with(suffix))
        })
    };
    if of_type("google.rpc.ErrorInfo")
        .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
    {
        e.kind = ErrorKind::Authentication;
    }
    if e.retry_after.is_none() {
        e.retry_after = of_type("google.rpc.RetryInfo")
            .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
            .and_then(proto_duration);
    }
    let per_day = of_type("google.rpc.QuotaFailure")
        .filter_map(|d| d.get("violations").and_then(Value::as_array))
        .flatten()
        .filter_map(|v| v.get("quotaId").and_then(Value::as_str))
        .any(|id| id.to_ascii_lowercase().contains("perday"));
    if status == 429 && per_day {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok());
        e.retry_after = now
            .and_then(|now| Some((now, pacific_midnight_after(now)?)))
            .and_then(|(now, reset)| u64::try_from(reset.checked_sub(now)?).ok())
            .map(Duration::from_secs)
            .or(Some(crate::duration::LONGEST));
        e.message = format!(
            "{} (a per-day quota: not retried before it resets at midnight Pacific time)",
            e.message
        );
    }
    e
}

/// A protobuf `Duration` in JSON: seconds with an `s` ("35s", "1.5s").
fn proto_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    crate::duration::from_secs(secs)
}

/// The next midnight in America/Los_Angeles after the Unix time `now`, as a Unix time. US
/// daylight time runs from the second Sunday of March, 02:00 local, to the first Sunday of
/// November, 02:00 local; a change never falls between a time and its next midnight's day
/// boundary in a way that matters, as it happens at 02:00, after midnight.
fn pacific_midnight_after(now: i64) -> Option<i64> {
    const DAY: i64 = 86_400;
    let newest = now.checked_div(31_556_952)?.checked_add(1971)?.min(9999);
    let year = (1970..=newest)
        .rev()
        .find(|&y| unix_time(y, 1, 1, 0, 0, 0).is_some_and(|t| t <= now))?;
    let nth_sunday = |month: i64, n: usize, hour: i64| {
        (1..=31)
            .filter_map(|d| unix_time(year, month, d, hour, 0, 0))
            // 1970-01-01 was a Thursday: day 0 is weekday 4, Sunday is 0.
            .filter(|t| t.div_euclid(DAY).checked_add(4).map(|d| d.rem_euclid(7)) == Some(0))
            .nth(n.saturating_sub(1))
    };
    let dst_start = nth_sunday(3, 2, 10)?;
    let dst_end = nth_sunday(11, 1, 9)?;
    let offset = if (dst_start..dst_end).contains(&now) {
        7 * 3600
    } else {
        8 * 3600
    };
    let local_day = now.checked_sub(offset)?.div_euclid(DAY);
    local_day
        .checked_add(1)?
        .checked_mul(DAY)?
        .checked_add(offset)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn proto_durations_read_as_seconds() {
        assert_eq!(proto_duration("35s"), Some(Duration::from_secs(35)));
        assert_eq!(proto_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(proto_duration("35"), None);
        assert_eq!(proto_duration("-1s"), None);
    }

    #[test]
    fn pacific_midnight_follows_daylight_time() {
        // 2026-07-01 12:00 UTC is 05:00 PDT: the next midnight is 2026-07-02 07:00 UTC.
        let summer = unix_time(2026, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(
            pacific_midnight_after(summer),
            unix_time(2026, 7, 2, 7, 0, 0)
        );
        // 2026-12-06 03:00 UTC is 19:00 PST on the 5th: midnight is 2026-12-06 08:00 UTC.
        let winter = unix_time(2026, 12, 6, 3, 0, 0).unwrap();
        assert_eq!(
            pacific_midnight_after(winter),
            unix_time(2026, 12, 6, 8, 0, 0)
        );
    }
}
