//! Ollama's native `/api/chat` against real traffic and its official spec: every recorded
//! `/api/chat` exchange (tests/data/real-traces, raw HTTP traces, see SOURCE.md there) decodes
//! into the right text, finish reason and usage with the bytes arriving in pieces of every size,
//! and the request bodies llmrail builds validate against `ChatRequest` of
//! tests/data/specs/ollama/openapi.official.yaml.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use http::HeaderMap;
use jsonschema::Validator;
use llmrail::error::ErrorKind;
use llmrail::model::{
    ChatRequest, ContentPart, FinishReason, ImageSource, Message, Role, StreamEvent, ToolCall,
    ToolSpec, Usage,
};
use llmrail::providers::json_lines::{feed, JsonLines};
use llmrail::providers::{self, Endpoint, Framing, Provider};
use serde_json::{json, Value};

const TRACES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/real-traces/langchaingo/llms/ollama/"
);

fn ollama() -> &'static dyn Provider {
    providers::lookup("ollama").expect("ollama is a provider")
}

// ---- httprr traces -------------------------------------------------------------------------------

/// One recorded exchange: the request's path and JSON body, the response's status,
/// content type and (de-chunked) body.
struct Exchange {
    path: String,
    request: Value,
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("separator present")
}

/// "httprr trace v1": per exchange a line `<request bytes> <response bytes>`, then both raw.
fn trace(name: &str) -> Vec<Exchange> {
    let raw = std::fs::read(format!("{TRACES}{name}")).unwrap();
    let mut rest = raw
        .strip_prefix(b"httprr trace v1\n".as_slice())
        .expect("an httprr v1 trace");
    let mut out = Vec::new();
    while !rest.is_empty() {
        let eol = find(rest, b"\n");
        let sizes = std::str::from_utf8(&rest[..eol]).unwrap();
        let (req_len, resp_len) = sizes.split_once(' ').unwrap();
        let (req_len, resp_len): (usize, usize) =
            (req_len.parse().unwrap(), resp_len.parse().unwrap());
        rest = &rest[eol + 1..];
        let (req, after) = rest.split_at(req_len);
        let (resp, after) = after.split_at(resp_len);
        rest = after;
        let req_head_end = find(req, b"\r\n\r\n");
        let request_line = std::str::from_utf8(&req[..find(req, b"\r\n")]).unwrap();
        let url = request_line.split(' ').nth(1).unwrap();
        let path = url.split_once("11434").unwrap().1.to_string();
        let request = serde_json::from_slice(&req[req_head_end + 4..]).unwrap();
        let head_end = find(resp, b"\r\n\r\n");
        let head = std::str::from_utf8(&resp[..head_end]).unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let header = |name: &str| {
            head.lines()
                .filter_map(|l| l.split_once(": "))
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        let body = &resp[head_end + 4..];
        let body = match header("transfer-encoding").as_deref() {
            Some("chunked") => dechunk(body),
            _ => body.to_vec(),
        };
        out.push(Exchange {
            path,
            request,
            status,
            content_type: header("content-type").unwrap_or_default(),
            body,
        });
    }
    out
}

/// An HTTP/1.1 chunked body put back together.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = find(body, b"\r\n");
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[eol + 2 + size + 2..];
    }
}

// ---- decoding ------------------------------------------------------------------------------------

/// `body` through the JSON-lines splitter and Ollama's decoder, as a streamed call reads it,
/// the bytes arriving in pieces of `piece` bytes.
fn decode(body: &[u8], piece: usize) -> llmrail::error::Result<Vec<StreamEvent>> {
    let pieces: Vec<llmrail::error::Result<Bytes>> = body
        .chunks(piece)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut lines = JsonLines::new(futures_util::stream::iter(pieces), 1 << 20);
    let mut decoder = ollama().stream_decoder();
    let mut out = Vec::new();
    loop {
        // Pieces in memory are always ready.
        let next = lines.next().now_or_never().expect("ready");
        if feed(&mut *decoder, next, &mut out)? {
            return Ok(out);
        }
    }
}

#[derive(Debug, PartialEq)]
struct Streamed {
    text: String,
    thinking: String,
    calls: Vec<ToolCall>,
    finish: Option<FinishReason>,
    usage: Usage,
    model: String,
}

fn assemble(events: &[StreamEvent]) -> Streamed {
    let (last, rest) = events.split_last().expect("events");
    let (mut text, mut thinking, mut calls) = (String::new(), String::new(), Vec::new());
    for e in rest {
        match e {
            StreamEvent::Text(t) => text.push_str(t),
            StreamEvent::Thinking(t) => thinking.push_str(t),
            StreamEvent::ToolCallDelta {
                id,
                name,
                arguments,
                ..
            } => calls.push(ToolCall::from_text(
                id.clone().unwrap(),
                name.clone().unwrap(),
                arguments.clone(),
            )),
            StreamEvent::Done { .. } => panic!("Done before the end"),
        }
    }
    let StreamEvent::Done {
        finish_reason,
        usage,
        model,
        ..
    } = last.clone()
    else {
        panic!("the last event is not Done: {last:?}");
    };
    Streamed {
        text,
        thinking,
        calls,
        finish: finish_reason,
        usage,
        model,
    }
}

/// Decode a recorded stream whole and in a few piece sizes; the same stream cut before its
/// last line is a cut connection.
fn stream(x: &Exchange) -> Streamed {
    assert_eq!(x.status, 200);
    assert_eq!(x.content_type, Framing::JsonLines.content_type());
    let whole = decode(&x.body, x.body.len()).unwrap();
    for piece in [1, 2, 3, 7, 64, 4096] {
        assert_eq!(decode(&x.body, piece).unwrap(), whole, "pieces of {piece}");
    }
    let body = x.body.strip_suffix(b"\n").unwrap();
    let cut = &body[..=body.iter().rposition(|b| *b == b'\n').unwrap()];
    let e = decode(cut, cut.len()).expect_err("a stream without its done line must fail");
    assert_eq!(e.kind, ErrorKind::Connection);
    assemble(&whole)
}

fn usage(input_tokens: u64, output_tokens: u64) -> Usage {
    Usage {
        input_tokens,
        output_tokens,
        ..Default::default()
    }
}

fn chat_exchanges(name: &str) -> Vec<Exchange> {
    trace(name)
        .into_iter()
        .filter(|x| x.path == "/api/chat")
        .collect()
}

const LONG_ANSWER_START: &str =
    "Okay, this is a surprisingly tricky question! Here's how we can figure out the number";

#[test]
fn every_recorded_chat_decodes_in_pieces_of_every_size() {
    let mut seen = 0;
    for name in [
        "testdata/TestGenerateContent.httprr",
        "testdata/TestWithFormat.httprr",
        "testdata/TestWithKeepAlive.httprr",
        "testdata/TestWithPullModel.httprr",
        "testdata/TestWithStreaming.httprr",
        "internal/ollamaclient/testdata/TestClient_GenerateChat.httprr",
        "internal/ollamaclient/testdata/TestClient_GenerateChatWithThink.httprr",
    ] {
        for x in chat_exchanges(name) {
            let s = stream(&x);
            // Pieces of every size: all of them for a short body; for a long one every size up
            // to three lines' worth, then a spread up to the whole.
            let whole = decode(&x.body, x.body.len()).unwrap();
            let sizes = (1..=x.body.len().min(400)).chain((401..x.body.len()).step_by(211));
            for piece in sizes {
                assert_eq!(
                    decode(&x.body, piece).unwrap(),
                    whole,
                    "{name}: pieces of {piece}"
                );
            }
            assert_eq!(s.model, "gemma3:1b", "{name}");
            assert!(
                s.usage.input_tokens > 0 && s.usage.output_tokens > 0,
                "{name}"
            );
            assert!(!s.text.is_empty() && s.calls.is_empty(), "{name}");
            seen += 1;
        }
    }
    assert_eq!(seen, 7, "a trace went missing");
}

#[test]
fn a_long_streamed_answer() {
    for (name, output, chars, end) in [
        (
            "testdata/TestGenerateContent.httprr",
            203,
            677,
            "depending on the specific route.\n\n",
        ),
        (
            "testdata/TestWithStreaming.httprr",
            203,
            677,
            "depending on the specific route.\n\n",
        ),
        (
            "testdata/TestWithKeepAlive.httprr",
            205,
            688,
            "depending on the specific route being used.\n\n",
        ),
    ] {
        let [x] = &chat_exchanges(name)[..] else {
            panic!()
        };
        let s = stream(x);
        assert!(s.text.starts_with(LONG_ANSWER_START), "{name}");
        assert!(s.text.ends_with(end), "{name}: {:?}", s.text);
        assert_eq!(s.text.chars().count(), chars, "{name}");
        assert_eq!(s.finish, Some(FinishReason::Stop));
        assert_eq!(s.usage, usage(18, output));
    }
}

#[test]
fn a_json_format_answer() {
    let [x] = &chat_exchanges("testdata/TestWithFormat.httprr")[..] else {
        panic!()
    };
    assert_eq!(x.request["format"], json!("json"));
    let s = stream(x);
    let answer: Value = serde_json::from_str(&s.text).unwrap();
    assert_eq!(answer, json!({"answer": "600"}));
    assert_eq!(s.finish, Some(FinishReason::Stop));
    assert_eq!(s.usage, usage(25, 9));
}

#[test]
fn a_short_answer_with_multibyte_characters() {
    let [x] = &chat_exchanges("testdata/TestWithPullModel.httprr")[..] else {
        panic!()
    };
    let s = stream(x);
    assert_eq!(s.text, "Hello there! How can I help you today? 😊");
    assert_eq!(s.finish, Some(FinishReason::Stop));
    assert_eq!(s.usage, usage(11, 12));
}

/// `num_predict: 50` reached: done_reason "length", eval_count 50.
#[test]
fn an_answer_cut_at_num_predict_finishes_with_length() {
    let [x] = &chat_exchanges("internal/ollamaclient/testdata/TestClient_GenerateChat.httprr")[..]
    else {
        panic!()
    };
    assert_eq!(x.request["options"]["num_predict"], json!(50));
    let s = stream(x);
    assert!(s
        .text
        .starts_with("Hello there! I’m doing well, thanks for asking."));
    assert!(s
        .text
        .ends_with("ready to help you with whatever you need. 😊 "));
    assert_eq!(s.finish, Some(FinishReason::Length));
    assert_eq!(s.usage, usage(15, 50));
}

/// langchaingo put `think` inside `options`, where Ollama ignores it: no thinking came back,
/// and none is made up.
#[test]
fn think_misplaced_in_options_yields_no_thinking() {
    let [x] = &chat_exchanges(
        "internal/ollamaclient/testdata/TestClient_GenerateChatWithThink.httprr",
    )[..] else {
        panic!()
    };
    let s = stream(x);
    assert!(s.thinking.is_empty());
    assert!(s.text.starts_with("2 + 2 = 4\n\n**Reasoning:**"));
    assert_eq!(s.finish, Some(FinishReason::Stop));
    assert_eq!(s.usage, usage(20, 55));
}

// ---- requests against the official spec ----------------------------------------------------------

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/specs/ollama/openapi.official.yaml"
        );
        let spec: Value = serde_yaml_ng::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/components/schemas/ChatRequest",
            "components": spec["components"],
        });
        jsonschema::draft202012::new(&schema).expect("the spec compiles")
    })
}

fn build(req: &ChatRequest, stream: bool) -> Value {
    let ep = Endpoint {
        base_url: "http://localhost:11434".into(),
        api_key: None,
        model: "gemma3:1b".into(),
        headers: HeaderMap::new(),
        timeout: Duration::from_secs(30),
        aws: None,
    };
    let http = ollama().build_chat(&ep, req, stream).unwrap();
    assert_eq!(http.url, "http://localhost:11434/api/chat");
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    let errors: Vec<String> = validator()
        .iter_errors(&body)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{body}\n{errors:#?}");
    body
}

fn extra(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// The recorded requests, rebuilt by llmrail from the same arguments, say the same things.
#[test]
fn the_recorded_requests_are_what_llmrail_sends_for_the_same_call() {
    let [x] = &chat_exchanges("testdata/TestWithKeepAlive.httprr")[..] else {
        panic!()
    };
    let req = ChatRequest {
        messages: vec![Message::user("How many feet are in a nautical mile?")],
        temperature: Some(0.0),
        extra_body: extra(json!({"keep_alive": "1m"})),
        ..Default::default()
    };
    let body = build(&req, true);
    for key in ["model", "messages", "keep_alive"] {
        assert_eq!(body[key], x.request[key], "{key}");
    }
    // 0.0 and 0 are the same JSON number.
    assert_eq!(body["options"]["temperature"].as_f64(), Some(0.0));
    assert_eq!(x.request["options"]["temperature"].as_f64(), Some(0.0));
    let [x] = &chat_exchanges("testdata/TestWithFormat.httprr")[..] else {
        panic!()
    };
    let req = ChatRequest {
        messages: vec![Message::user(
            "How many feet are in a nautical mile? Respond with JSON containing the answer.",
        )],
        temperature: Some(0.0),
        extra_body: extra(json!({"format": "json"})),
        ..Default::default()
    };
    let body = build(&req, false);
    for key in ["model", "messages", "format"] {
        assert_eq!(body[key], x.request[key], "{key}");
    }
    assert_eq!(body["stream"], json!(false));
}

#[test]
fn every_kind_of_request_validates_against_the_official_spec() {
    let tool: ToolSpec = serde_json::from_value(json!({"type": "function", "function": {
        "name": "get_weather", "description": "Current weather for a city.", "strict": true,
        "parameters": {"type": "object", "required": ["city"],
                       "properties": {"city": {"type": "string"}}}}}))
    .unwrap();
    let call = ToolCall::from_value(
        "call_0".into(),
        "get_weather".into(),
        json!({"city": "Oslo"}),
    );
    let mut assistant = Message::text(Role::Assistant, "");
    assistant.tool_calls = vec![call];
    let mut result = Message::text(Role::Tool, "{\"temp\": 3}");
    result.tool_call_id = Some("call_0".into());
    let mut picture = Message::user("What is this?");
    picture
        .content
        .push(ContentPart::Image(ImageSource::Base64 {
            media_type: "image/png".into(),
            data: "iVBORw0KGgo=".into(),
        }));
    let req = ChatRequest {
        system: Some("Be brief.".into()),
        messages: vec![
            picture,
            Message::user("Weather in Oslo?"),
            assistant,
            result,
        ],
        tools: vec![tool],
        max_tokens: Some(100),
        temperature: Some(0.2),
        top_p: Some(0.9),
        stop: vec!["END".into()],
        extra_body: extra(json!({
            "keep_alive": 300, "think": "high",
            "format": {"type": "object", "properties": {"temp": {"type": "number"}}},
            "options": {"num_ctx": 8192, "seed": 42},
        })),
        ..Default::default()
    };
    for stream in [false, true] {
        let body = build(&req, stream);
        assert_eq!(
            body["messages"][3]["tool_calls"][0]["function"]["arguments"],
            json!({"city": "Oslo"})
        );
        assert_eq!(body["messages"][4]["role"], json!("tool"));
        assert_eq!(body["options"]["num_ctx"], json!(8192));
    }
    build(
        &ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        },
        true,
    );
}
