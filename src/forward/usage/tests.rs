//! Usage read from real recorded answers (`tests/data/real-cassettes`, vcrpy cassettes of
//! pydantic-ai and llm-anthropic against the providers' own services), whole and streamed.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use futures_util::StreamExt;

use super::*;
use crate::replay::cassette;

/// The response bodies of a real cassette.
fn bodies(rel: &str) -> Vec<Bytes> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real-cassettes")
        .join(rel);
    let tape = cassette::load(&path).unwrap().unwrap();
    tape.into_iter().map(|i| i.response.body).collect()
}

fn meter(protocol: Protocol, model: &str) -> Meter {
    Meter {
        protocol,
        model: model.into(),
        slot: Arc::default(),
        total: Arc::default(),
    }
}

/// Hand `body` on in awkward pieces (lines split across chunks) and return what came out.
fn stream_through(m: &Meter, body: &Bytes, piece: usize) -> Vec<u8> {
    stream_encoded(m, body, piece, None)
}

/// The same, for a body sent in `encoding`.
fn stream_encoded(m: &Meter, body: &Bytes, piece: usize, encoding: Option<&str>) -> Vec<u8> {
    let chunks: Vec<Result<Bytes>> = body
        .chunks(piece)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let watched = m
        .clone()
        .watch(Box::pin(futures_util::stream::iter(chunks)), encoding);
    crate::runtime::block_on(async move {
        watched
            .fold(Vec::new(), |mut all, c| async move {
                all.extend_from_slice(&c.unwrap());
                all
            })
            .await
    })
    .unwrap()
}

#[test]
fn an_openai_chat_stream_s_final_usage_is_read_and_the_bytes_pass_unchanged() {
    let rel = "pydantic-ai/tests/models/cassettes/test_openai/test_run_stream_sync_streams_real_model.yaml";
    let body = &bodies(rel)[0];
    let m = meter(Protocol::OpenAi, "gpt-4o-mini");
    assert_eq!(&stream_through(&m, body, 7)[..], &body[..]);
    let spend = m.slot.get().copied().unwrap();
    assert_eq!(
        (spend.usage.input_tokens, spend.usage.output_tokens),
        (53, 15)
    );
    // gpt-4o-mini: $0.15 in, $0.60 out per million.
    let cost = spend.cost_usd.unwrap();
    assert!(
        (cost - (53.0 * 0.15 + 15.0 * 0.60) / 1e6).abs() < 1e-12,
        "{cost}"
    );
    assert_eq!(*m.total.lock().unwrap(), spend);
}

#[test]
fn a_gzip_stream_is_metered_as_the_plain_one_and_passes_still_compressed() {
    use std::io::Write;
    let rel = "pydantic-ai/tests/models/cassettes/test_openai/test_run_stream_sync_streams_real_model.yaml";
    let body = &bodies(rel)[0];
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(body).unwrap();
    let packed = Bytes::from(w.finish().unwrap());
    let m = meter(Protocol::OpenAi, "gpt-4o-mini");
    assert_eq!(
        &stream_encoded(&m, &packed, 7, Some("gzip"))[..],
        &packed[..]
    );
    let plain = meter(Protocol::OpenAi, "gpt-4o-mini");
    stream_through(&plain, body, 7);
    assert_eq!(m.slot.get(), plain.slot.get());
    assert!(m.slot.get().is_some());
    // An encoding not decoded here is handed on, unread; so is a body not in its encoding.
    for (encoding, bytes) in [("br", &packed), ("gzip", body)] {
        let unread = meter(Protocol::OpenAi, "gpt-4o-mini");
        assert_eq!(
            &stream_encoded(&unread, bytes, 7, Some(encoding))[..],
            &bytes[..]
        );
        assert!(unread.slot.get().is_none(), "{encoding}");
    }
}

#[test]
fn anthropic_s_usage_is_message_start_s_updated_by_message_delta() {
    let rel = "llm-anthropic/tests/cassettes/test_anthropic/test_prompt.yaml";
    let body = &bodies(rel)[0];
    let m = meter(Protocol::Anthropic, "claude-sonnet-4-5-20250929");
    stream_through(&m, body, 5);
    let spend = m.slot.get().copied().unwrap();
    assert_eq!(
        (spend.usage.input_tokens, spend.usage.output_tokens),
        (17, 10)
    );
    assert!(spend.cost_usd.is_some());
}

#[test]
fn openai_responses_are_read_whole_and_from_response_completed() {
    let dir = "pydantic-ai/tests/models/cassettes/test_openai_responses";
    let whole = &bodies(&format!(
        "{dir}/test_openai_responses_model_simple_response.yaml"
    ))[0];
    let m = meter(Protocol::OpenAi, "gpt-4o");
    let spend = m.read(whole).unwrap();
    assert_eq!(
        (spend.usage.input_tokens, spend.usage.output_tokens),
        (14, 8)
    );
    let streamed = &bodies(&format!("{dir}/test_openai_responses_stream.yaml"))[0];
    let s = meter(Protocol::OpenAi, "gpt-4o");
    stream_through(&s, streamed, 64);
    let spend = s.slot.get().copied().unwrap();
    assert!(
        spend.usage.input_tokens > 0 && spend.usage.output_tokens > 0,
        "{spend:?}"
    );
}

#[test]
fn a_client_s_total_adds_its_answers_and_counts_the_unpriced_ones() {
    let total: Arc<Mutex<Spend>> = Arc::default();
    let body = br#"{"usage":{"prompt_tokens":1000000,"completion_tokens":0}}"#;
    for model in ["gpt-4.1", "gpt-4.1", "my-local-model"] {
        let m = Meter {
            total: total.clone(),
            ..meter(Protocol::OpenAi, model)
        };
        m.read(body).unwrap();
    }
    let t = *total.lock().unwrap();
    assert_eq!(
        (t.requests, t.usage.input_tokens, t.unpriced),
        (3, 3_000_000, 1)
    );
    assert!((t.cost_usd.unwrap() - 4.0).abs() < 1e-9, "{t:?}");
}

#[test]
fn an_answer_without_usage_has_no_spend() {
    let m = meter(Protocol::OpenAi, "gpt-4.1");
    assert!(m.read(br#"{"choices":[]}"#).is_none());
    assert!(m.read(b"not json").is_none());
    stream_through(
        &m,
        &Bytes::from_static(b"data: {\"usage\":null}\n\ndata: [DONE]\n\n"),
        3,
    );
    assert!(m.slot.get().is_none());
}

/// The whole answer read as it was before `whole_usage` read it from its last `"usage"` on.
fn read_in_full(body: &[u8]) -> Option<Usage> {
    let answer: Answer = serde_json::from_slice(body).ok()?;
    Some(answer.usage?.unify(Protocol::OpenAi))
}

#[test]
fn a_whole_answer_s_usage_is_the_top_level_one_wherever_else_usage_is_named() {
    let read = |body: &str| whole_usage(body.as_bytes()).map(|u| u.unify(Protocol::OpenAi));
    let cases = [
        // a deeper "usage" after the top-level one; "usage" as a value; in the text, escaped
        r#"{"usage":{"prompt_tokens":7},"metadata":{"usage":{"prompt_tokens":1}}}"#,
        r#"{"usage":{"prompt_tokens":7},"kind":"usage"}"#,
        r#"{"choices":[{"text":"\"usage\":{\"prompt_tokens\":1}}"}],"usage":{"prompt_tokens":7}} "#,
        r#" {"usage":{"prompt_tokens":7},"choices":[{"usage":{"prompt_tokens":1}}]}"#,
        r#"{"usage":{"prompt_tokens":7},"usage_note":{"usage":1}}"#,
    ];
    for body in cases {
        assert_eq!(read(body).unwrap().input_tokens, 7, "{body}");
        assert_eq!(read(body), read_in_full(body.as_bytes()), "{body}");
    }
    for body in [
        r#"{"choices":[{"usage":{"prompt_tokens":1}}]}"#,
        r#"{"usage":null}"#,
        r#"["usage"]"#,
        r#""usage""#,
    ] {
        assert!(read(body).is_none(), "{body}");
    }
}

#[test]
fn every_recorded_answer_s_usage_reads_as_the_whole_answer_read_gives_it() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real-cassettes"),
        &mut files,
    );
    let mut with_usage = 0;
    for file in &files {
        let Ok(Some(tape)) = cassette::load(file) else {
            continue;
        };
        for body in tape.into_iter().map(|i| i.response.body) {
            let fast = whole_usage(&body).map(|u| u.unify(Protocol::OpenAi));
            assert_eq!(fast, read_in_full(&body), "{}", file.display());
            with_usage += usize::from(fast.is_some());
        }
    }
    assert!(
        with_usage > 10,
        "{with_usage} recorded answers with a usage"
    );
}
