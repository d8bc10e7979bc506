//! Unit tests of the batch translations and the job's bookkeeping (the lifecycles against the
//! mock server are in tests/batch.rs, the real recordings in tests/real_batches.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;

use super::outcome::Outcome;
use super::*;
use crate::error::ErrorKind;
use crate::model::Message;

#[test]
fn a_job_is_split_where_a_provider_batch_would_be_too_large() {
    assert_eq!(split(&[1, 1, 1, 1, 1], 2, 100), vec![0..2, 2..4, 4..5]);
    assert_eq!(split(&[60, 60, 30, 10], 10, 100), vec![0..1, 1..4]);
    // An item larger than the limit alone goes in a batch of its own: the provider judges it.
    assert_eq!(split(&[500, 1], 10, 100), vec![0..1, 1..2]);
    assert!(split(&[], 10, 100).is_empty());
}

#[test]
fn anthropic_times_are_read_with_their_fraction_and_offset() {
    assert_eq!(
        anthropic::rfc3339("2025-01-12T05:59:14Z"),
        Some(1_736_661_554.0)
    );
    let t = anthropic::rfc3339("2025-01-12T05:59:14.5+00:00").unwrap();
    assert!((t - 1_736_661_554.5).abs() < 1e-6);
    assert_eq!(
        anthropic::rfc3339("2025-01-12T07:59:14+02:00"),
        Some(1_736_661_554.0)
    );
    assert_eq!(anthropic::rfc3339("yesterday"), None);
}

#[test]
fn an_errored_anthropic_item_keeps_its_type_as_the_status_it_stands_for() {
    let lines = Bytes::from_static(
        b"{\"custom_id\":\"a\",\"result\":{\"type\":\"errored\",\"error\":{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\
          {\"custom_id\":\"b\",\"result\":{\"type\":\"expired\"}}\n\
          {\"custom_id\":\"c\",\"result\":{\"type\":\"canceled\"}}\n",
    );
    let mut out = anthropic::parse_results(&lines).unwrap();
    assert!(matches!(&out[0], (id, Outcome::Errored { status: 529, .. }) if id == "a"));
    assert_eq!(out[1].1, Outcome::Expired);
    assert_eq!(out[2].1, Outcome::Cancelled);
    let e = super::outcome::decode(providers_anthropic(), "m", &mut out[0].1).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Overloaded);
    assert_eq!(e.message, "Overloaded");
}

#[test]
fn an_anthropic_answer_read_with_its_line_is_the_answer_its_body_decodes_to() {
    let message = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"plain"},{"type":"text","text":"esc\"aped\n"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":4}}"#;
    let lines = [
        format!(r#"{{"custom_id":"a","result":{{"type":"succeeded","message":{message}}}}}"#),
        // Another "message" key before the result's, and the keys in another order.
        format!(
            r#"{{"note":{{"message":{{"x":1}}}},"custom_id":"b","result":{{"type":"succeeded","message": {message}}}}}"#
        ),
        format!(r#"{{"result":{{"message":{message},"type":"succeeded"}},"custom_id":"c"}}"#),
        // A message that is no Messages answer: read as before, failing when decoded.
        r#"{"custom_id":"d","result":{"type":"succeeded","message":{"content":7}}}"#.to_string(),
    ];
    let file = Bytes::from(lines.join("\n"));
    let mut out = anthropic::parse_results(&file).unwrap();
    let ids: Vec<&str> = out.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    for (id, outcome) in &mut out[..3] {
        let Outcome::Succeeded { body, decoded, .. } = &*outcome else {
            panic!("{id}: {outcome:?}")
        };
        assert_eq!(&body[..], message.as_bytes(), "{id}");
        // Decoded with its line, but where another "message" key came first.
        assert_eq!(decoded.0.is_some(), id != "b", "{id}");
        let again = providers_anthropic().parse_chat_shared(body).unwrap();
        // Handed over the first time, decoded from the body the next.
        for _ in 0..2 {
            let read = super::outcome::decode(providers_anthropic(), "m", outcome).unwrap();
            assert_eq!(read, again, "{id}");
            assert_eq!(read.text(), "plainesc\"aped\n");
        }
    }
    assert!(super::outcome::decode(providers_anthropic(), "m", &mut out[3].1).is_err());
}

fn providers_anthropic() -> &'static dyn crate::providers::Provider {
    crate::providers::lookup("anthropic").unwrap()
}

#[test]
fn openai_error_lines_say_expired_cancelled_or_the_status_of_the_failure() {
    let lines = Bytes::from_static(
        b"{\"custom_id\":\"a\",\"response\":null,\"error\":{\"code\":\"batch_expired\",\"message\":\"x\"}}\n\
          {\"custom_id\":\"b\",\"response\":null,\"error\":{\"code\":\"batch_cancelled\",\"message\":\"x\"}}\n\
          {\"custom_id\":\"c\",\"response\":{\"status_code\":429,\"request_id\":\"r\",\"body\":{\"error\":{\"message\":\"slow down\"}}},\"error\":null}\n",
    );
    let out = openai::parse_results(&lines).unwrap();
    assert_eq!(out[0].1, Outcome::Expired);
    assert_eq!(out[1].1, Outcome::Cancelled);
    assert!(matches!(out[2].1, Outcome::Errored { status: 429, .. }));
    assert!(out[2].1.retryable());
}

#[test]
fn only_overloads_server_errors_timeouts_rate_limits_and_expiry_are_sent_again() {
    let errored = |status| Outcome::Errored {
        status,
        body: Bytes::new(),
    };
    for status in [529, 500, 503, 504, 408, 429] {
        assert!(errored(status).retryable(), "{status}");
    }
    for status in [400, 401, 403, 404, 413, 422] {
        assert!(!errored(status).retryable(), "{status}");
    }
    assert!(Outcome::Expired.retryable());
    assert!(!Outcome::Cancelled.retryable());
}

#[test]
fn custom_ids_default_to_the_index_and_must_be_unique_and_short() {
    let req = |id: Option<&str>| BatchRequest {
        custom_id: id.map(str::to_string),
        request: ChatRequest {
            messages: vec![Message::user("hi")],
            ..ChatRequest::default()
        },
    };
    assert_eq!(
        custom_ids(&[req(None), req(Some("x"))]).unwrap(),
        ["0", "x"]
    );
    assert!(custom_ids(&[])
        .unwrap_err()
        .message
        .contains("at least one"));
    let long = "x".repeat(65);
    assert!(custom_ids(&[req(Some(&long))])
        .unwrap_err()
        .message
        .contains("1 to 64"));
    // "1" given, then index 1 defaulting to "1": a clash all the same.
    let e = custom_ids(&[req(Some("1")), req(None)]).unwrap_err();
    assert!(e.message.contains("same custom_id \"1\""), "{e}");
}

#[test]
fn anthropic_betas_are_gathered_once_and_joined_with_the_create_requests_own() {
    use http::{HeaderMap, HeaderValue};
    let mut item = HeaderMap::new();
    item.insert(
        "anthropic-beta",
        HeaderValue::from_static("extended-cache-ttl-2025-04-11"),
    );
    let mut betas = Vec::new();
    anthropic::betas(&item, &mut betas);
    anthropic::betas(&item, &mut betas);
    anthropic::betas(&HeaderMap::new(), &mut betas);
    assert_eq!(betas, ["extended-cache-ttl-2025-04-11"]);
    let mut create = HeaderMap::new();
    create.insert(
        "anthropic-beta",
        HeaderValue::from_static("files-api-2025-04-14"),
    );
    let create = anthropic::with_betas(create, &betas);
    assert_eq!(
        create["anthropic-beta"],
        "files-api-2025-04-14,extended-cache-ttl-2025-04-11"
    );
    assert!(!anthropic::with_betas(HeaderMap::new(), &[]).contains_key("anthropic-beta"));
}

#[test]
fn a_new_store_has_32_kib_pages_and_an_old_one_keeps_its_own() {
    let dir = std::env::temp_dir().join(format!("llmrail-batch-pages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page_size = |path: &std::path::Path| -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap()
    };
    let new = dir.join("new.sqlite3");
    drop(Store::open(&new).unwrap());
    assert_eq!(page_size(&new), 32 * 1024);
    // A store made before (SQLite's default 4 KiB) opens as it is.
    let old = dir.join("old.sqlite3");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch("PRAGMA page_size = 4096; PRAGMA application_id = 1819045234; CREATE TABLE jobs (id TEXT PRIMARY KEY, meta TEXT NOT NULL);")
        .unwrap();
    drop(Store::open(&old).unwrap());
    assert_eq!(page_size(&old), 4096);
    std::fs::remove_dir_all(&dir).unwrap();
}
