//! Real recorded Gemini traffic decoded through llmrail's Gemini provider: the pydantic-ai and
//! llm-gemini cassettes (tests/data/real-cassettes) and the raw HTTP traces of Google's Go SDK
//! (tests/data/real-traces), checked against the values read from the recordings.
//!
//! llm-gemini and the Go SDK stream without `alt=sse` (one JSON array sent in pieces, a framing
//! llmrail never asks for); their array elements are the same `GenerateContentResponse` chunks
//! the SSE form carries one per event, so each element is fed to the decoder as one event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/cassette.rs"]
mod cassette;

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures_util::StreamExt;
use http::HeaderMap;
use llmrail::error::{ErrorKind, Result};
use llmrail::model::{ChatResponse, FinishReason, StreamEvent, Usage};
use llmrail::providers::{self, Provider};
use serde_json::{json, Value};
use sse_stream::SseByteStream;

const GOOGLE: &str = "pydantic-ai/tests/models/cassettes/test_google/";
const LLM_GEMINI: &str = "llm-gemini/tests/cassettes/test_gemini/";

fn gemini() -> &'static dyn Provider {
    providers::lookup("gemini").expect("gemini is known")
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Default::default()
    }
}

fn chat(body: &[u8]) -> ChatResponse {
    let r = gemini().parse_chat(body).unwrap();
    assert_eq!(r.provider, "gemini");
    r
}

fn calls(r: &ChatResponse) -> Vec<(String, Value)> {
    r.tool_calls()
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                Value::Object(c.arguments.clone().expect("a JSON object")),
            )
        })
        .collect()
}

/// A streamed answer put back together from its events.
#[derive(Debug, PartialEq)]
struct Streamed {
    text: String,
    thinking: String,
    /// (id, name, arguments) per tool-call index.
    calls: Vec<(String, String, Value)>,
    finish: Option<FinishReason>,
    usage: Usage,
    model: String,
}

fn decode(events: &[String]) -> Result<Vec<StreamEvent>> {
    let mut d = gemini().stream_decoder();
    let mut out = Vec::new();
    for data in events {
        d.event("", data, &mut out)?;
    }
    d.finish(&mut out)?;
    Ok(out)
}

/// Decode events and reassemble them; also checks that the same stream cut before its last
/// event is reported as truncated.
fn streamed(events: &[String]) -> Streamed {
    let out = decode(events).unwrap();
    let cut = decode(&events[..events.len() - 1]).expect_err("a truncated stream must fail");
    assert_eq!(cut.kind, ErrorKind::Connection);
    let Some(StreamEvent::Done {
        finish_reason,
        usage,
        model,
        ..
    }) = out.last().cloned()
    else {
        panic!("the last event is not Done")
    };
    let mut s = Streamed {
        text: String::new(),
        thinking: String::new(),
        calls: Vec::new(),
        finish: finish_reason,
        usage,
        model,
    };
    let mut args: BTreeMap<u32, (String, String, String)> = BTreeMap::new();
    for e in &out[..out.len() - 1] {
        match e {
            StreamEvent::Text(t) => s.text.push_str(t),
            StreamEvent::Thinking(t) => s.thinking.push_str(t),
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                let c = args.entry(*index).or_default();
                c.0.clone_from(id.as_ref().expect("Gemini sends a call whole, id included"));
                c.1.clone_from(name.as_ref().expect("and its name"));
                c.2.push_str(arguments);
            }
            StreamEvent::Done { .. } => panic!("Done before the end"),
        }
    }
    s.calls = args
        .into_values()
        .map(|(id, name, a)| (id, name, serde_json::from_str(&a).expect("arguments JSON")))
        .collect();
    s
}

/// The elements of a streamed JSON array, one event each.
fn array_events(body: &[u8]) -> Vec<String> {
    let chunks: Vec<Value> = serde_json::from_slice(body).expect("a JSON array");
    chunks.iter().map(Value::to_string).collect()
}

/// The `data:` of each SSE event of `body`, the bytes arriving `piece` at a time.
async fn sse(body: &[u8], piece: usize) -> Vec<String> {
    let pieces: Vec<std::result::Result<bytes::Bytes, std::io::Error>> = body
        .chunks(piece)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    SseByteStream::new(futures_util::stream::iter(pieces))
        .map(|e| e.expect("well-formed SSE").data.unwrap_or_default())
        .collect()
        .await
}

// ---- pydantic-ai ---------------------------------------------------------------------------------

#[test]
fn a_plain_answer_with_thinking_tokens_counts_them_as_output() {
    let [i] = &cassette::load(&format!("{GOOGLE}test_google_model.yaml"))[..] else {
        panic!("one interaction")
    };
    let r = chat(&i.body);
    assert_eq!(r.text(), "Hello! How can I help you today?");
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    // candidatesTokenCount 9 + thoughtsTokenCount 34.
    assert_eq!(r.usage, usage(9, 43));
    assert_eq!(r.model, "gemini-2.5-flash");
}

#[test]
fn tool_calls_of_a_two_turn_tool_loop_decode() {
    let turns = cassette::load(&format!("{GOOGLE}test_google_tool_output.yaml"));
    let first = chat(&turns[0].body);
    assert_eq!(calls(&first), [("get_user_country".to_string(), json!({}))]);
    assert_eq!(first.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(first.usage, usage(33, 5));
    let second = chat(&turns[1].body);
    assert_eq!(
        calls(&second),
        [(
            "final_result".to_string(),
            json!({"city": "Mexico City", "country": "Mexico"})
        )]
    );
    assert_eq!(second.usage, usage(47, 8));
    assert_eq!(second.model, "gemini-2.0-flash");
}

#[test]
fn native_structured_output_is_the_text() {
    let i = &cassette::load(&format!("{GOOGLE}test_google_native_output.yaml"))[0];
    let r = chat(&i.body);
    let v: Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(v, json!({"city": "Mexico City", "country": "Mexico"}));
    assert_eq!(r.usage, usage(8, 20));
}

#[tokio::test]
async fn an_sse_stream_decodes_the_same_in_pieces_of_every_size() {
    let i = &cassette::load(&format!("{GOOGLE}test_google_model_stream.yaml"))[0];
    assert!(i.uri.ends_with(":streamGenerateContent?alt=sse"));
    let whole = streamed(&sse(&i.body, i.body.len()).await);
    assert_eq!(
        whole,
        Streamed {
            text: "The capital of France is Paris.\n".into(),
            thinking: String::new(),
            calls: Vec::new(),
            finish: Some(FinishReason::Stop),
            // The last chunk's usage (13 prompt tokens), not the sum of the three chunks'.
            usage: usage(13, 8),
            model: "gemini-2.0-flash-exp".into(),
        }
    );
    for piece in 1..i.body.len() {
        assert_eq!(
            decode(&sse(&i.body, piece).await).unwrap().len(),
            4,
            "{piece}"
        );
        assert_eq!(streamed(&sse(&i.body, piece).await), whole, "{piece}");
    }
}

#[test]
fn an_unknown_model_is_not_found_with_googles_message() {
    let i = &cassette::load(
        "pydantic-ai/tests/cassettes/test_model_name_suggestions/test_model_name_suggestion[google].yaml",
    )[0];
    let e = gemini().parse_error(i.status, &i.headers, &i.body);
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.status, Some(404));
    assert!(e
        .message
        .starts_with("models/gemini-3.6-flahs is not found"));
}

// ---- llm-gemini ----------------------------------------------------------------------------------

#[test]
fn a_thinking_stream_keeps_thoughts_apart_and_takes_the_last_usage() {
    let i = &cassette::load(&format!("{LLM_GEMINI}test_prompt.yaml"))[0];
    let s = streamed(&array_events(&i.body));
    assert_eq!(s.text, "Scoop");
    assert!(s.thinking.starts_with("**Considering the Constraint**"));
    assert_eq!(s.thinking.len(), 275);
    assert_eq!(s.finish, Some(FinishReason::Stop));
    assert_eq!(s.usage, usage(11, 2 + 291));
    assert_eq!(s.model, "gemini-3.6-flash");
}

#[test]
fn a_streamed_tool_loop_carries_the_thought_signature_in_the_call_id() {
    let turns = cassette::load(&format!("{LLM_GEMINI}test_tools.yaml"));
    assert_eq!(turns.len(), 3);
    let first = streamed(&array_events(&turns[0].body));
    let [(id, name, args)] = &first.calls[..] else {
        panic!("one call: {first:?}")
    };
    assert_eq!(
        (name.as_str(), args),
        ("pelican_name_generator", &json!({}))
    );
    // The signature the recording's next request sent back.
    let next: Value = serde_json::from_slice(&turns[1].request_body).unwrap();
    let sent = next["contents"][1]["parts"][0]["thoughtSignature"]
        .as_str()
        .unwrap();
    assert!(id.ends_with(&format!("__thought__{sent}")), "{id}");
    assert_eq!(first.finish, Some(FinishReason::ToolCalls));
    assert_eq!(first.usage, usage(32, 12 + 42));

    let second = streamed(&array_events(&turns[1].body));
    assert_eq!(second.calls.len(), 1);
    assert!(!second.calls[0].0.contains("__thought__"));
    assert_eq!(second.usage, usage(105, 13));

    let third = streamed(&array_events(&turns[2].body));
    assert_eq!(third.text, "How about Charles and Sammy?");
    assert_eq!(third.finish, Some(FinishReason::Stop));
    assert_eq!(third.usage, usage(137, 6));
}

// ---- langchaingo (Google's Go SDK) ---------------------------------------------------------------

/// The (request, response status, response body) exchanges of an httprr trace.
fn trace(name: &str) -> Vec<(String, u16, Vec<u8>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real-traces/langchaingo/llms/googleai/testdata")
        .join(name);
    let data = std::fs::read(&path).unwrap();
    let mut rest = data
        .strip_prefix(b"httprr trace v1\n".as_slice())
        .expect("an httprr trace");
    let mut out = Vec::new();
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        let sizes = std::str::from_utf8(&rest[..nl]).unwrap();
        let (a, b) = sizes.split_once(' ').unwrap();
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        let req = &rest[nl + 1..nl + 1 + a];
        let resp = &rest[nl + 1 + a..nl + 1 + a + b];
        rest = &rest[nl + 1 + a + b..];
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let status_line = std::str::from_utf8(&resp[..split]).unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let request_line = std::str::from_utf8(req).unwrap().lines().next().unwrap();
        out.push((request_line.to_string(), status, resp[split + 4..].to_vec()));
    }
    out
}

#[test]
fn go_sdk_answers_with_integer_enums_decode() {
    for (name, text, u, model) in [
        (
            "TestGoogleAICall.httprr",
            "2 + 2 = 4\n",
            usage(8, 8),
            "gemini-2.0-flash",
        ),
        (
            "TestGoogleAIGenerateContent.httprr",
            "The capital of France is **Paris**.\n",
            usage(7, 9),
            "gemini-2.0-flash",
        ),
        (
            "TestGoogleAIWithJSONMode.httprr",
            "[\"red\", \"green\", \"blue\"]",
            usage(7, 9),
            "gemini-2.0-flash",
        ),
        (
            "TestGoogleAIWithOptions.httprr",
            "1, 2, 3, 4, 5\n",
            usage(7, 14),
            "gemini-1.5-flash",
        ),
    ] {
        let [(_, 200, body)] = &trace(name)[..] else {
            panic!("{name}: one 200 exchange")
        };
        let r = chat(body);
        assert_eq!(r.text(), text, "{name}");
        // finishReason 1 is STOP.
        assert_eq!(r.finish_reason, Some(FinishReason::Stop), "{name}");
        assert_eq!((r.usage, r.model.as_str()), (u, model), "{name}");
    }
    let [(_, 200, body)] = &trace("TestGoogleAIWithTools.httprr")[..] else {
        panic!("one exchange")
    };
    let r = chat(body);
    assert_eq!(
        calls(&r),
        [("getWeather".to_string(), json!({"location": "New York"}))]
    );
    assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(r.usage, usage(27, 5));
}

#[test]
fn go_sdk_streams_decode_with_the_last_usage() {
    for (name, text, u) in [
        (
            "TestGoogleAIGenerateContentWithMultipleMessages.httprr",
            "Your name is Alice.\n",
            usage(17, 6),
        ),
        (
            "TestGoogleAIGenerateContentWithSystemMessage.httprr",
            "Vast and deep it lies,\nCreatures swim in sunlit waves,\nSecrets it holds deep.\n",
            usage(17, 22),
        ),
    ] {
        let [(line, 200, body)] = &trace(name)[..] else {
            panic!("{name}: one exchange")
        };
        assert!(line.contains(":streamGenerateContent"));
        let s = streamed(&array_events(body));
        assert_eq!((s.text.as_str(), s.usage), (text, u), "{name}");
        assert_eq!(s.finish, Some(FinishReason::Stop));
    }
    let [(_, 200, body)] = &trace("TestGoogleAIWithStreaming.httprr")[..] else {
        panic!("one exchange")
    };
    let s = streamed(&array_events(body));
    assert!(s
        .text
        .starts_with("Clementine, a calico with a perpetually grumpy face"));
    assert!(s
        .text
        .ends_with("she wasn't quite as grumpy as she thought she was.\n"));
    assert_eq!(s.usage, usage(8, 578));
}

#[test]
fn a_go_sdk_permission_error_is_typed() {
    let [(_, status, body)] = &trace("TestGoogleAIErrorHandling.httprr")[..] else {
        panic!("one exchange")
    };
    let e = gemini().parse_error(*status, &HeaderMap::new(), body);
    assert_eq!(e.kind, ErrorKind::PermissionDenied);
    assert!(e
        .message
        .starts_with("Method doesn't allow unregistered callers"));
}
