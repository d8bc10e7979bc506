//! The response header parsers: Retry-After (seconds, milliseconds, HTTP date) and the
//! providers' rate-limit headers (Go durations, RFC 3339 times, counts), alone and as a 429's
//! error is built from them.

use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use llmrail::providers::{self, quota::quota, retry_after};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestRunner;

use crate::harness::{bytes_near, holds, Input};

const NAMES: &[&str] = &[
    "retry-after",
    "retry-after-ms",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
];

/// Values as OpenAI and Anthropic send them.
fn values() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CELL.get_or_init(|| {
        [
            "2",
            "0.5",
            "1500",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Wed, 21 Oct 2037 07:28:00 GMT",
            "1s",
            "6m0s",
            "1h2m3.5s",
            "20ms",
            "59.995s",
            "2026-12-06T10:00:00Z",
            "2026-12-06T10:00:00.123+01:00",
            "499",
            "0",
            "150000",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
    })
}

/// Header maps of known names with values near real ones (bytes a header cannot hold dropped).
fn headers() -> impl Strategy<Value = Vec<(&'static str, Input)>> {
    vec((select(NAMES), bytes_near(values())), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(name, value)| {
                let ok = |b: &u8| *b == b'\t' || (*b >= 0x20 && *b != 0x7f);
                (name, Input(value.0.into_iter().filter(ok).collect()))
            })
            .collect()
    })
}

fn map(pairs: &[(&'static str, Input)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_bytes(&value.0) {
            h.append(HeaderName::from_static(name), v);
        }
    }
    h
}

fn headers_never_panic(runner: &mut TestRunner) -> Result<(), String> {
    holds(runner, headers(), |pairs| {
        let h = map(pairs);
        let _ = retry_after(&h);
        let _ = quota(&h).map(|q| q.reset_hint());
        for p in ["openai", "anthropic"] {
            let provider = providers::lookup(p).expect("a known provider");
            let _ = provider.parse_error(429, &h, b"{}");
        }
        Ok(())
    })
}

crate::properties! {
    /// Any Retry-After and rate-limit header values near real ones parse or are ignored.
    fn retry_after_and_rate_limit_headers_never_panic(256) = headers_never_panic;
}
