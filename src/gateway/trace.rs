//! A request's trace: the caller's W3C trace context (`traceparent`, `tracestate`) read from
//! its headers, and, once the answer is sent (a stream's last event), one [`RequestSpan`]
//! handed to the gateway's span sink: the server span's facts (HTTP method, route, status, times) and the chat call under it
//! (its target and every request it sent). The core makes no spans itself: whoever installed
//! the sink does (`llmrail.serve` hands them to the Python OpenTelemetry SDK the process has
//! configured, off the request path). With no sink, a request reads no header and records
//! nothing.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::HeaderMap;

use crate::client::Client;
use crate::model::Usage;
use crate::resilience::{AttemptRecord, TargetInfo};

/// The caller's span, which the request's server span continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// Bit 0: the caller sampled its span.
    pub flags: u8,
    /// `tracestate` as sent (list members, comma-separated), passed on untouched.
    pub state: Option<String>,
}

/// The caller's trace context, if its `traceparent` is valid (W3C Trace Context, level 1: a
/// version other than `00` is read by its first four fields, as the spec asks; `ff`, all-zero
/// ids and upper-case hex are refused, and a refused header starts a new trace).
pub fn parent(headers: &HeaderMap) -> Option<Parent> {
    let value = headers.get("traceparent")?.to_str().ok()?.trim();
    let b = value.as_bytes();
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let version = hex::<1>(&value[0..2])?[0];
    if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
        return None;
    }
    let trace_id = hex::<16>(&value[3..35])?;
    let span_id = hex::<8>(&value[36..52])?;
    let flags = hex::<1>(&value[53..55])?[0];
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    let state = headers
        .get_all("tracestate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    Some(Parent {
        trace_id,
        span_id,
        flags,
        state: (!state.is_empty()).then_some(state),
    })
}

/// `N` bytes from `2N` lower-case hex digits.
fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digits = s.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = nibble(digits[2 * i])? << 4 | nibble(digits[2 * i + 1])?;
    }
    Some(out)
}

/// One request as its spans tell it, handed to the sink when its answer is ready to send (a
/// stream's when its stream has ended: its spans cover the whole stream).
#[derive(Debug, Clone)]
pub struct RequestSpan {
    pub parent: Option<Parent>,
    pub started: SystemTime,
    pub duration: Duration,
    pub method: String,
    /// The endpoint's path (the gateway's routes have no path parameters).
    pub route: String,
    pub status: u16,
    /// The `Host` the caller sent (`server.address` and `server.port`).
    pub host: Option<String>,
    pub user_agent: Option<String>,
    /// The chat call the request made, if it got that far.
    pub call: Option<CallSpan>,
}

/// The llmrail call under a request's server span.
#[derive(Debug, Clone)]
pub struct CallSpan {
    /// `chat` (or `stream` for a streamed request).
    pub operation: &'static str,
    /// The model the caller named (a virtual model, or "provider/model").
    pub model: String,
    /// The target the call went to first.
    pub target: Option<Arc<TargetInfo>>,
    pub started: SystemTime,
    pub duration: Duration,
    /// Every request it sent, for an answered buffered call (a stream's and a failed call's
    /// report is not kept: empty).
    pub attempts: Vec<AttemptRecord>,
    /// How it failed, as the error's kind name (a stream whose reader went away:
    /// `CancelledError`).
    pub error: Option<&'static str>,
    /// The tokens it used, once its answer (a stream's last event) came.
    pub usage: Option<Usage>,
}

impl CallSpan {
    /// A call to `client` for the caller's `model`, begun at `begun` (the wall clock for the
    /// span, the monotonic clock for its length) and over now; no attempts, no error yet.
    pub(super) fn ended(
        operation: &'static str,
        model: &str,
        client: &Client,
        begun: (SystemTime, Instant),
    ) -> Self {
        Self {
            operation,
            model: model.to_owned(),
            target: Some(Arc::new(client.target_info().clone())),
            started: begun.0,
            duration: begun.1.elapsed(),
            attempts: Vec::new(),
            error: None,
            usage: None,
        }
    }
}

/// A streamed request's span as its answer's head left, handed to the stream's task, which
/// ends it (and the call's) when the stream ends.
pub(super) struct StreamEnd {
    pub span: RequestSpan,
    /// When the request began, for the span's length.
    pub started: Instant,
}

/// Where finished requests go; must return at once (it runs on the request's task).
pub type SpanSink = Arc<dyn Fn(RequestSpan) + Send + Sync>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(traceparent: &str, tracestate: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            HeaderValue::from_str(traceparent).unwrap_or(HeaderValue::from_static("")),
        );
        for s in tracestate {
            h.append(
                "tracestate",
                HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn a_valid_traceparent_gives_its_trace_and_span_ids_and_flags() {
        let p = parent(&headers(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            &["congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"],
        ));
        let p = p.unwrap();
        assert_eq!(p.trace_id[0], 0x4b);
        assert_eq!(p.trace_id[15], 0x36);
        assert_eq!(p.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert_eq!(p.flags, 1);
        assert_eq!(
            p.state.as_deref(),
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        );
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields() {
        let p = parent(&headers(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-the-future-adds",
            &[],
        ));
        assert_eq!(p.map(|p| (p.flags, p.state)), Some((0, None)));
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parent(&headers(bad, &[])), None, "{bad:?}");
        }
        assert_eq!(parent(&HeaderMap::new()), None);
    }
}
