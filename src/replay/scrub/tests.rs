#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::replay::interaction::{Request, Response};
use bytes::Bytes;
use http::HeaderValue;
use std::collections::HashMap;
use std::time::Duration;

const KEY: &str = "sk-live-0123456789abcdef";

fn sensitive(v: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(v).unwrap();
    v.set_sensitive(true);
    v
}

#[test]
fn credential_headers_are_redacted_without_configuration() {
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {KEY}")).unwrap(),
    );
    h.insert(
        "x-goog-api-key",
        HeaderValue::from_static("AIzaSy-goog-secret"),
    );
    h.insert(
        "x-amz-security-token",
        HeaderValue::from_static("FwoGZXIvYXdzE-token"),
    );
    h.insert("x-custom-auth", sensitive("custom-secret-value"));
    h.insert(
        "x-team-token",
        HeaderValue::from_static("team-secret-value"),
    );
    h.insert("content-type", HeaderValue::from_static("application/json"));
    let s = Scrubber::new(&["X-Team-Token".into()], &[], &[]);
    let (headers, secrets) = s.headers(&h);
    for (name, value) in &headers {
        let expected = if name == "content-type" {
            "application/json"
        } else {
            REDACTED
        };
        assert_eq!(value, expected, "{name}");
    }
    assert!(
        secrets.contains(&KEY.to_string()),
        "the bare key is a secret too"
    );
    assert!(secrets.contains(&"custom-secret-value".to_string()));
    assert!(
        secrets.windows(2).all(|w| w[0].len() >= w[1].len()),
        "longest first"
    );
}

#[test]
fn key_query_parameters_are_redacted() {
    let s = Scrubber::default();
    let mut secrets = Vec::new();
    let uri = "https://g.example/v1/models/x:generate?alt=sse&key=AIzaSyKEY123&X-Amz-Signature=abcdef12#f";
    assert_eq!(
        s.uri(uri, &mut secrets),
        "https://g.example/v1/models/x:generate?alt=sse&key=REDACTED&X-Amz-Signature=REDACTED#f"
    );
    assert_eq!(secrets, vec!["AIzaSyKEY123", "abcdef12"]);
    assert_eq!(s.uri("https://h/x?a=1", &mut secrets), "https://h/x?a=1");
}

#[test]
fn named_json_fields_are_redacted_at_any_depth() {
    let s = Scrubber::new(&[], &[], &["user".into(), "api_key".into()]);
    let body = br#"{"user":"alice","metadata":{"api_key":"k","keep":1},"list":[{"user":"bob"}]}"#;
    let out: serde_json::Value = serde_json::from_slice(&s.body(body, &[])).unwrap();
    assert_eq!(
        out,
        serde_json::json!({"user": REDACTED, "metadata": {"api_key": REDACTED, "keep": 1}, "list": [{"user": REDACTED}]})
    );
}

#[test]
fn secret_values_are_removed_everywhere_and_stream_chunks_follow() {
    let s = Scrubber::default();
    let secrets = vec![KEY.to_string()];
    let body = format!("data: bad key {KEY}\n\ndata: [DONE]\n\n");
    // The key straddles the first chunk boundary.
    let first = "data: bad key sk-live".len();
    let mut i = Interaction {
        request: Request {
            method: "POST".into(),
            uri: format!("https://h/x?token={KEY}"),
            headers: vec![("x-echo".into(), KEY.into())],
            body: Bytes::from(format!("{{\"note\":\"{KEY}\"}}")),
        },
        response: Response {
            status: 401,
            headers: vec![("set-cookie".into(), "session=abc".into())],
            body: Bytes::from(body.clone()),
            latency: None,
            chunks: Some(vec![
                Chunk {
                    len: first,
                    at: Duration::from_millis(1),
                },
                Chunk {
                    len: body.len() - first,
                    at: Duration::from_millis(2),
                },
            ]),
        },
    };
    s.interaction(&mut i, &secrets);
    let all = format!("{i:?}");
    assert!(!all.contains("0123456789abcdef"), "{all}");
    assert!(!all.contains("session=abc"), "{all}");
    let text = String::from_utf8(i.response.body.to_vec()).unwrap();
    assert_eq!(text, "data: bad key REDACTED\n\ndata: [DONE]\n\n");
    let chunks = i.response.chunks.unwrap();
    assert_eq!(chunks.iter().map(|c| c.len).sum::<usize>(), text.len());
    assert_eq!(chunks[0].len, "data: bad key REDACTED".len());
}

#[test]
fn text_replacement_reports_edits() {
    let (out, edits) = text(b"aXXXXXXbXXXXXX", &["XXXXXX".to_string()]);
    assert_eq!(&*out, b"aREDACTEDbREDACTED");
    assert_eq!(edits.len(), 2);
    assert_eq!(map_pos(1, &edits), 1);
    assert_eq!(map_pos(7, &edits), 9);
    assert_eq!(
        map_pos(3, &edits),
        9,
        "inside a secret moves to the end of its replacement"
    );
    assert!(matches!(
        text(b"nothing", &["XXXXXX".to_string()]).0,
        Cow::Borrowed(_)
    ));
}

#[test]
fn userinfo_in_a_url_is_redacted_and_its_parts_become_secrets() {
    let mut secrets = Vec::new();
    let s = Scrubber::default();
    let out = s.uri(
        "http://alice:hunter2-SECRET@host:8/v1/chat?api-version=1",
        &mut secrets,
    );
    assert_eq!(out, "http://REDACTED@host:8/v1/chat?api-version=1");
    assert!(secrets.contains(&"hunter2-SECRET".to_string()));
    // Already redacted, an `@` after the authority, or no scheme: nothing to do.
    for same in [
        "http://REDACTED@host/v1",
        "http://host/v1/users/@me?x=a@b",
        "/path?next=http://u:p@h",
    ] {
        assert_eq!(s.uri(same, &mut Vec::new()), same);
    }
}

#[test]
fn urls_shown_or_written_hide_userinfo_and_secret_query_values() {
    assert_eq!(
        url("https://u:pw@res.openai.azure.com/openai/v1?api-version=2024-10-21&sig=abc&token=t"),
        "https://REDACTED@res.openai.azure.com/openai/v1?api-version=2024-10-21&sig=REDACTED&token=REDACTED"
    );
    assert_eq!(url("http://127.0.0.1:9/v1"), "http://127.0.0.1:9/v1");
}

const SIGV4: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261206/us-east-1/\
bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

#[test]
fn a_sigv4_authorization_is_redacted_and_its_signature_and_key_id_are_secrets_alone() {
    let mut h = HeaderMap::new();
    // As aws::sign leaves them: the credential headers sensitive, the date not.
    h.insert("authorization", sensitive(SIGV4));
    h.insert(
        "x-amz-security-token",
        sensitive("IQoJb3JpZ2luX2VjEJr-session"),
    );
    h.insert("x-amz-date", HeaderValue::from_static("20261206T141500Z"));
    let s = Scrubber::default();
    let (headers, secrets) = s.headers(&h);
    let shown: HashMap<_, _> = headers.into_iter().collect();
    assert_eq!(shown["authorization"], REDACTED);
    assert_eq!(shown["x-amz-security-token"], REDACTED);
    assert_eq!(shown["x-amz-date"], "20261206T141500Z");
    for part in [
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "AKIAIOSFODNN7EXAMPLE/20261206/us-east-1/bedrock/aws4_request",
        "AKIAIOSFODNN7EXAMPLE",
        "IQoJb3JpZ2luX2VjEJr-session",
    ] {
        assert!(secrets.iter().any(|s| s == part), "{part} is not a secret");
    }
    // An AWS signature error quotes what it expected; the cassette keeps none of it.
    let body = br#"{"message":"The request signature we calculated does not match the signature you provided. Credential=AKIAIOSFODNN7EXAMPLE/20261206/us-east-1/bedrock/aws4_request x-amz-security-token:IQoJb3JpZ2luX2VjEJr-session Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"}"#;
    let out = String::from_utf8(s.body(body, &secrets).into_owned()).unwrap();
    for leak in [
        "AKIAIOSFODNN7EXAMPLE",
        "IQoJb3JpZ2luX2VjEJr",
        "5d672d79c15b",
    ] {
        assert!(!out.contains(leak), "{out}");
    }
}

#[test]
fn presigned_aws_query_parameters_are_redacted() {
    let s = Scrubber::default();
    let mut secrets = Vec::new();
    let uri = "https://b.example/model/m/converse?X-Amz-Algorithm=AWS4-HMAC-SHA256\
&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fbedrock%2Faws4_request\
&X-Amz-Date=20150830T123600Z&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE\
&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d";
    let out = s.uri(uri, &mut secrets);
    assert_eq!(
        out,
        "https://b.example/model/m/converse?X-Amz-Algorithm=AWS4-HMAC-SHA256\
&X-Amz-Credential=REDACTED&X-Amz-Date=20150830T123600Z&X-Amz-Security-Token=REDACTED\
&X-Amz-Signature=REDACTED"
    );
    assert_eq!(secrets.len(), 3);
}
