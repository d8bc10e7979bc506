//! The providers' rate-limit headers: how much quota is left and when it comes back.
//!
//! OpenAI sends `x-ratelimit-{remaining,reset}-{requests,tokens}` with resets as Go durations
//! ("1s", "6m0s", "20ms"); Anthropic sends `anthropic-ratelimit-{requests,tokens,input-tokens,
//! output-tokens}-{remaining,reset}` with resets as RFC 3339 times. Both become a [`Quota`], which
//! the rate limiter uses to tighten itself and the retry layer uses as a wait hint on a 429.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// What the provider says is left of the current rate-limit window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    pub remaining_requests: Option<u64>,
    pub reset_requests: Option<Duration>,
    pub remaining_tokens: Option<u64>,
    pub reset_tokens: Option<Duration>,
}

impl Quota {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// How long until the exhausted part of the quota comes back: the later reset among the
    /// limits at zero, else the later of all resets.
    pub fn reset_hint(&self) -> Option<Duration> {
        let exhausted = [
            (self.remaining_requests, self.reset_requests),
            (self.remaining_tokens, self.reset_tokens),
        ];
        let at_zero = exhausted
            .iter()
            .filter(|(left, _)| *left == Some(0))
            .filter_map(|(_, reset)| *reset)
            .max();
        at_zero.or_else(|| exhausted.iter().filter_map(|(_, reset)| *reset).max())
    }
}

/// Anthropic's token limits (combined, input, output): each one's remaining and reset headers.
const ANTHROPIC_TOKEN_LIMITS: [(&str, &str); 3] = [
    (
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-reset",
    ),
    (
        "anthropic-ratelimit-input-tokens-remaining",
        "anthropic-ratelimit-input-tokens-reset",
    ),
    (
        "anthropic-ratelimit-output-tokens-remaining",
        "anthropic-ratelimit-output-tokens-reset",
    ),
];

/// The quota headers of a response, if it has any.
pub fn quota(headers: &HeaderMap) -> Option<Quota> {
    // Every answer passes here: one pass over its names spares the ten lookups (each parses
    // and hashes a name) when it has no quota header at all, as most proxies' and mocks' have.
    if !headers.keys().any(|k| k.as_str().contains("ratelimit")) {
        return None;
    }
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let number = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok());
    let mut q = Quota {
        remaining_requests: number("x-ratelimit-remaining-requests"),
        reset_requests: text("x-ratelimit-reset-requests").and_then(go_duration),
        remaining_tokens: number("x-ratelimit-remaining-tokens"),
        reset_tokens: text("x-ratelimit-reset-tokens").and_then(go_duration),
    };
    let until = |name: &str| text(name).and_then(rfc3339_from_now);
    if q.remaining_requests.is_none() {
        q.remaining_requests = number("anthropic-ratelimit-requests-remaining");
        q.reset_requests = until("anthropic-ratelimit-requests-reset");
    }
    if q.remaining_tokens.is_none() {
        // Anthropic reports combined, input and output token limits; the smallest one binds.
        for (remaining, reset) in ANTHROPIC_TOKEN_LIMITS {
            if let Some(left) = number(remaining) {
                if q.remaining_tokens.is_none_or(|have| left < have) {
                    q.remaining_tokens = Some(left);
                    q.reset_tokens = until(reset);
                }
            }
        }
    }
    (!q.is_empty()).then_some(q)
}

/// A Go `time.Duration` string as OpenAI prints it: "1s", "6m0s", "1h2m3.5s", "20ms". A huge
/// value ("99999999999999999999h") saturates at [`LONGEST`](crate::duration::LONGEST).
fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0.0_f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..split].parse().ok()?;
        rest = &rest[split..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    crate::duration::from_secs(total)
}

/// Time from now until an RFC 3339 instant ("2025-01-01T00:00:00Z", offsets allowed); zero if
/// it has passed, [`LONGEST`](crate::duration::LONGEST) at most.
fn rfc3339_from_now(s: &str) -> Option<Duration> {
    let when = rfc3339_to_unix(s)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    crate::duration::from_secs((when - now.as_secs_f64()).max(0.0))
}

fn rfc3339_to_unix(s: &str) -> Option<f64> {
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset) = match time.find(['Z', 'z', '+', '-']) {
        Some(i) => (&time[..i], &time[i..]),
        None => return None,
    };
    let mut c = clock.splitn(3, ':');
    let hour: i64 = c.next()?.parse().ok()?;
    let minute: i64 = c.next()?.parse().ok()?;
    let second: f64 = c.next()?.parse().ok()?;
    // 60 is a leap second; the fraction is kept apart so the whole seconds stay integers.
    if !(0.0..61.0).contains(&second) {
        return None;
    }
    let offset_minutes = match offset {
        "Z" | "z" => 0,
        o => {
            let (h, m) = o.get(1..)?.split_once(':')?;
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if !((0..24).contains(&h) && (0..60).contains(&m)) {
                return None;
            }
            let minutes = h.checked_mul(60)?.checked_add(m)?;
            if o.starts_with('-') {
                minutes.checked_neg()?
            } else {
                minutes
            }
        }
    };
    let whole = unix_time(year, month, day, hour, minute, 0)?
        .checked_sub(offset_minutes.checked_mul(60)?)?;
    // An i64 of seconds since 1970 within years 0..=9999 is exact as an f64.
    #[allow(clippy::cast_precision_loss)]
    Some(whole as f64 + second)
}

/// Seconds since 1970-01-01T00:00:00Z of a proleptic Gregorian date and time (Howard Hinnant's
/// days-from-civil algorithm), or `None` outside years 0..=9999 or for a field out of range.
/// Both the HTTP date of a `Retry-After` and Anthropic's RFC 3339 resets come through here.
pub(crate) fn unix_time(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Option<i64> {
    let in_range = (0..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..=60).contains(&second);
    if !in_range {
        return None;
    }
    // Every field was checked above, so nothing below comes near i64's range.
    #[allow(clippy::arithmetic_side_effects)]
    let secs = {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400 + hour * 3600 + minute * 60 + second
    };
    Some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(
            go_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(go_duration("soon"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn huge_go_durations_saturate_instead_of_panicking() {
        let longest = Some(crate::duration::LONGEST);
        assert_eq!(go_duration("99999999999999999999h"), longest);
        assert_eq!(go_duration("1e300s"), None, "not a Go duration");
        assert_eq!(go_duration(&format!("{}s", "9".repeat(400))), longest);
    }

    #[test]
    fn out_of_range_rfc3339_times_are_ignored() {
        for s in [
            "99999999999999999-01-01T00:00:00Z",
            "-9223372036854775808-01-01T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-01-01T00:00:1e300Z",
            "2025-01-01T00:00:00+99999999999999999:00",
            "2025-01-01T00:00:00+",
        ] {
            assert_eq!(rfc3339_to_unix(s), None, "{s}");
        }
        assert_eq!(
            rfc3339_from_now("9999-12-31T23:59:59Z"),
            Some(crate::duration::LONGEST)
        );
    }

    #[test]
    fn huge_reset_headers_on_any_response_give_a_quota_not_a_panic() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-ratelimit-reset-requests",
            HeaderValue::from_static("99999999999999999999h"),
        );
        h.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from_static("99999999999999999999"),
        );
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("0"),
        );
        let q = quota(&h).unwrap_or_default();
        assert_eq!(q.reset_requests, Some(crate::duration::LONGEST));
        assert_eq!(q.remaining_tokens, None, "a count beyond u64 is ignored");
        let mut h = HeaderMap::new();
        h.insert(
            "anthropic-ratelimit-requests-remaining",
            HeaderValue::from_static("0"),
        );
        h.insert(
            "anthropic-ratelimit-requests-reset",
            HeaderValue::from_static("99999-01-01T00:00:00Z"),
        );
        let q = quota(&h).unwrap_or_default();
        assert_eq!((q.remaining_requests, q.reset_requests), (Some(0), None));
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339_to_unix("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(rfc3339_to_unix("1994-11-06T08:49:37Z"), Some(784_111_777.0));
        assert_eq!(
            rfc3339_to_unix("1994-11-06T09:49:37+01:00"),
            Some(784_111_777.0)
        );
        assert_eq!(rfc3339_to_unix("yesterday"), None);
    }

    #[test]
    fn openai_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("0"),
        );
        h.insert(
            "x-ratelimit-reset-requests",
            HeaderValue::from_static("1.5s"),
        );
        h.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from_static("900"),
        );
        h.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("6m0s"));
        let q = quota(&h).unwrap_or_default();
        assert_eq!(q.remaining_requests, Some(0));
        assert_eq!(q.remaining_tokens, Some(900));
        assert_eq!(q.reset_hint(), Some(Duration::from_millis(1500)));
        assert_eq!(quota(&HeaderMap::new()), None);
    }

    #[test]
    fn anthropic_headers_take_the_tightest_token_limit() {
        let mut h = HeaderMap::new();
        h.insert(
            "anthropic-ratelimit-requests-remaining",
            HeaderValue::from_static("7"),
        );
        h.insert(
            "anthropic-ratelimit-tokens-remaining",
            HeaderValue::from_static("5000"),
        );
        h.insert(
            "anthropic-ratelimit-input-tokens-remaining",
            HeaderValue::from_static("300"),
        );
        h.insert(
            "anthropic-ratelimit-input-tokens-reset",
            HeaderValue::from_static("2999-01-01T00:00:00Z"),
        );
        let q = quota(&h).unwrap_or_default();
        assert_eq!(q.remaining_requests, Some(7));
        assert_eq!(q.remaining_tokens, Some(300));
        assert!(q
            .reset_tokens
            .is_some_and(|d| d > Duration::from_secs(86_400)));
    }
}
