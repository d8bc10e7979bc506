//! Forwarded requests against the mock server over real HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::*;
use crate::client::registry::TargetId;
use crate::error::ErrorKind;
use crate::mock::MockServer;
use crate::providers::Secret;

const CHAT: &[u8] = br#"{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}"#;

fn post(url: String, body: &'static [u8], headers: &[(&[u8], &[u8])]) -> HttpRequest {
    let read = Some(Duration::from_secs(10));
    let timeouts = Timeouts {
        connect: Some(Duration::from_secs(5)),
        read,
    };
    request(
        b"POST",
        url,
        headers.iter().copied(),
        Bytes::from_static(body),
        timeouts,
        None,
    )
    .unwrap()
}

fn json_headers() -> Vec<(&'static [u8], &'static [u8])> {
    vec![
        (b"Host", b"example.invalid"),
        (b"Content-Type", b"application/json"),
        (b"Authorization", b"Bearer sk-forwarded-key"),
        (b"X-Stainless-Lang", b"python"),
        (b"Content-Length", b"9999"),
        (b"Accept-Encoding", b"br"),
    ]
}

#[test]
fn a_buffered_answer_comes_back_whole_and_the_request_arrives_as_it_was_built() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "Paris."})).unwrap();
    let url = format!("{}/v1/chat/completions", srv.url());
    let reply = crate::runtime::block_on(send(post(url, CHAT, &json_headers())))
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, 200);
    let Body::Full(body) = reply.body else {
        panic!("a JSON answer is read whole")
    };
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "Paris.");
    let sent = &srv.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(sent.body, serde_json::from_slice::<Value>(CHAT).unwrap());
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-forwarded-key")
    );
    assert_eq!(sent.header("x-stainless-lang"), Some("python"));
    // The host and the body's framing follow from the URL and the body sent ...
    assert_ne!(sent.header("host"), Some("example.invalid"));
    assert_eq!(
        sent.header("content-length"),
        Some(CHAT.len().to_string().as_str())
    );
    // ... every other header is the caller's, and the transport adds none of its own (but
    // reqwest's `accept: */*` for a request with none: httpx always sends one).
    assert_eq!(sent.header("accept-encoding"), Some("br"));
    assert_eq!(sent.header("user-agent"), None);
}

#[test]
fn credential_headers_are_marked_sensitive_so_no_debug_output_shows_them() {
    let req = post("http://127.0.0.1:9/v1".into(), CHAT, &json_headers());
    assert!(req.headers["authorization"].is_sensitive());
    assert!(!format!("{req:?}").contains("sk-forwarded-key"));
}

#[test]
fn an_error_status_is_an_answer_handed_back_with_its_body() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"fault": {"status": 429, "retry_after": 2}}))
        .unwrap();
    let url = format!("{}/v1/chat/completions", srv.url());
    let reply = crate::runtime::block_on(send(post(url, CHAT, &json_headers())))
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, 429);
    assert_eq!(reply.headers["retry-after"], "2");
    assert!(matches!(reply.body, Body::Full(b) if !b.is_empty()));
}

#[test]
fn an_event_stream_is_handed_on_chunk_by_chunk_as_it_arrives() {
    let srv = MockServer::start().unwrap();
    let pieces: Vec<String> = (0..6).map(|i| format!("w{i} ")).collect();
    srv.push_json(json!({"chunks": pieces, "chunk_delay": 0.15}))
        .unwrap();
    let url = format!("{}/v1/chat/completions", srv.url());
    let body = br#"{"model":"gpt-4.1","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    crate::runtime::block_on(async move {
        let started = Instant::now();
        let reply = send(post(url, body, &json_headers())).await.unwrap();
        assert!(matches!(reply.body, Body::Stream(_)));
        let mut chunks = chunks(reply.body);
        let first = chunks.next().await.unwrap().unwrap();
        let first_at = started.elapsed();
        assert!(first.starts_with(b"data: "), "{first:?}");
        let mut all = first.to_vec();
        while let Some(chunk) = chunks.next().await {
            all.extend_from_slice(&chunk.unwrap());
        }
        // Six pieces 150 ms apart: the first came long before the last was sent.
        assert!(started.elapsed() >= Duration::from_millis(700));
        assert!(first_at < Duration::from_millis(500), "{first_at:?}");
        let text = String::from_utf8(all).unwrap();
        assert!(
            text.contains("w5 ") && text.trim_end().ends_with("data: [DONE]"),
            "{text}"
        );
    })
    .unwrap();
}

#[test]
fn a_refused_connection_and_a_silent_server_fail_as_connection_and_timeout() {
    let srv = MockServer::start().unwrap();
    let url = format!("{}/v1/chat/completions", srv.url());
    srv.push_json(json!({"text": "late", "latency": 2.0}))
        .unwrap();
    let timeouts = Timeouts {
        connect: Some(Duration::from_secs(5)),
        read: Some(Duration::from_millis(200)),
    };
    let slow = request(
        b"POST",
        url.clone(),
        json_headers().iter().copied(),
        Bytes::from_static(CHAT),
        timeouts,
        None,
    )
    .unwrap();
    let out = crate::runtime::block_on(send(slow)).unwrap();
    let e = out
        .err()
        .unwrap_or_else(|| panic!("answered before the timeout"));
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    srv.shutdown();
    let refused = post(url, CHAT, &[]);
    let out = crate::runtime::block_on(send(refused)).unwrap();
    let e = out
        .err()
        .unwrap_or_else(|| panic!("answered after shutdown"));
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");
}

#[test]
fn a_malformed_method_or_header_is_a_configuration_error() {
    let bad = |method: &[u8], headers: &[(&[u8], &[u8])]| {
        let t = Timeouts::default();
        request(
            method,
            "http://x/".into(),
            headers.iter().copied(),
            Bytes::new(),
            t,
            None,
        )
        .err()
        .unwrap()
        .kind
    };
    assert_eq!(bad(b"GE T", &[]), ErrorKind::Configuration);
    assert_eq!(
        bad(b"GET", &[(b"bad name", b"v")]),
        ErrorKind::Configuration
    );
    assert_eq!(
        bad(b"GET", &[(b"x", b"line\nbreak")]),
        ErrorKind::Configuration
    );
}

#[test]
fn a_request_with_the_last_one_s_headers_gets_the_same_map_and_any_change_is_seen() {
    let last = LastHeaders::default();
    let build = |headers: &[(&[u8], &[u8])]| {
        let t = Timeouts::default();
        let body = Bytes::new();
        let url = "http://x/".to_string();
        request(b"POST", url, headers.iter().copied(), body, t, Some(&last))
            .unwrap()
            .headers
    };
    let sdk: &[(&[u8], &[u8])] = &[
        (b"Content-Length", b"2"),
        (b"X-Stainless-OS", b"Linux"),
        (b"Authorization", b"Bearer sk-test"),
    ];
    let first = build(sdk);
    // Another body length (a framing header, not sent as given) is still the same headers.
    let again = build(&[(b"Content-Length", b"7"), sdk[1], sdk[2]]);
    assert_eq!(again, first);
    assert!(again["authorization"].is_sensitive());
    assert_eq!(again.get("content-length"), None);
    let other_key = build(&[sdk[1], (b"Authorization", b"Bearer sk-other")]);
    assert_eq!(other_key["authorization"], "Bearer sk-other");
    let one_less = build(&sdk[1..2]);
    assert_eq!(one_less.len(), 1);
    let one_more = build(&[sdk[1], sdk[1]]);
    assert_eq!(one_more.get_all("x-stainless-os").iter().count(), 2);
    // A bad header is an error, however like the last request's the rest is.
    let t = Timeouts::default();
    let bad: &[(&[u8], &[u8])] = &[sdk[1], (b"bad name", b"v")];
    assert!(request(
        b"POST",
        "http://x/".into(),
        bad.iter().copied(),
        Bytes::new(),
        t,
        Some(&last)
    )
    .is_err());
}

mod guard {
    use super::*;
    use crate::forward::guard::{named, resolve, Target};

    fn target(req: &HttpRequest) -> Option<Target> {
        named(req).map(|n| resolve(&n))
    }

    fn sdk_request(
        url: &str,
        body: &'static [u8],
        key: (&'static [u8], &'static [u8]),
    ) -> HttpRequest {
        let headers = [
            (b"content-type".as_slice(), b"application/json".as_slice()),
            key,
        ];
        request(
            b"POST",
            url.into(),
            headers.iter().copied(),
            Bytes::from_static(body),
            Timeouts::default(),
            None,
        )
        .unwrap()
    }

    const BEARER: (&[u8], &[u8]) = (b"authorization", b"Bearer sk-one");

    #[test]
    fn a_chat_request_names_the_provider_base_url_model_and_key_a_client_would() {
        let req = sdk_request("http://h:1/v1/chat/completions", CHAT, BEARER);
        let t = target(&req).unwrap();
        assert_eq!(t.name, "openai/gpt-4.1");
        let client = TargetId::new(
            "openai",
            "http://h:1/v1/",
            "gpt-4.1",
            Some(&Secret::new("sk-one")),
            None,
        );
        assert!(t.id == client);
        let other_key = (b"authorization".as_slice(), b"Bearer sk-two".as_slice());
        let t2 = target(&sdk_request(
            "http://h:1/v1/chat/completions",
            CHAT,
            other_key,
        ))
        .unwrap();
        assert!(t2.id != client);
        // The body's size and the default answer reserve are what the limiter holds back.
        assert_eq!(
            named(&req).unwrap().reserve,
            CHAT.len().div_ceil(4) as u64 + 1024
        );
    }

    #[test]
    fn anthropic_messages_use_the_x_api_key_and_openrouter_is_its_own_provider() {
        let body = br#"{"model":"claude-haiku-4-5","max_tokens":64,"messages":[]}"#;
        let key = (b"x-api-key".as_slice(), b"sk-ant".as_slice());
        let req = sdk_request("http://h:1/v1/messages?beta=true", body, key);
        let t = target(&req).unwrap();
        assert_eq!(t.name, "anthropic/claude-haiku-4-5");
        let client = TargetId::new(
            "anthropic",
            "http://h:1",
            "claude-haiku-4-5",
            Some(&Secret::new("sk-ant")),
            None,
        );
        assert!(t.id == client);
        assert_eq!(
            named(&req).unwrap().reserve,
            body.len().div_ceil(4) as u64 + 64
        );
        let or = target(&sdk_request(
            "https://openrouter.ai/api/v1/responses",
            CHAT,
            BEARER,
        ))
        .unwrap();
        assert_eq!(or.name, "openrouter/gpt-4.1");
    }

    #[test]
    fn a_request_that_names_no_model_goes_unguarded() {
        assert!(target(&sdk_request("http://h/v1/files", CHAT, BEARER)).is_none());
        assert!(target(&sdk_request(
            "http://h/v1/chat/completions",
            b"{\"messages\":[]}",
            BEARER
        ))
        .is_none());
        assert!(target(&sdk_request(
            "http://h/v1/chat/completions",
            b"not json",
            BEARER
        ))
        .is_none());
    }
}
