//! The AWS event-stream decoder: frames cut out of the bytes by `providers::event_stream`,
//! checked by aws-smithy-eventstream, fed to Bedrock's stream decoder, as a streamed
//! `bedrock/<model>` call does.

use std::sync::OnceLock;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use llmrail::error::ErrorKind;
use llmrail::model::StreamEvent;
use llmrail::providers;
use llmrail::providers::event_stream::{feed, EventStream};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

use crate::harness::{bytes_near, holds, same_when_split, splits, Input};

/// What a stream decodes to: its events, and the error that ended it, if one did.
type Decoded = (Vec<StreamEvent>, Option<(ErrorKind, String)>);

fn decode(pieces: &[Bytes]) -> Decoded {
    let chunks = futures_util::stream::iter(pieces.iter().cloned().map(Ok));
    let mut frames = EventStream::new(chunks, 1 << 16);
    let mut decoder = providers::lookup("bedrock")
        .expect("a known provider")
        .stream_decoder();
    let mut out = Vec::new();
    loop {
        let next = frames
            .next()
            .now_or_never()
            .expect("in memory, always ready");
        match feed(&mut *decoder, next, &mut out) {
            Ok(false) => {}
            Ok(true) => return (out, None),
            Err(e) => return (out, Some((e.kind, e.message.clone()))),
        }
    }
}

/// The recorded ConverseStream body (tests/data/real-cassettes, pydantic-ai's Nova Micro
/// stream), its `!!binary` base64 decoded.
fn bedrock_streams() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CELL.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/real-cassettes/pydantic-ai/tests/models/cassettes/test_bedrock/",
            "test_bedrock_model_stream.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let b64: String = text
            .split("string: !!binary |")
            .nth(1)
            .unwrap()
            .split("headers:")
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        vec![base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()]
    })
}

fn frame(event: &'static str, payload: Value) -> Vec<u8> {
    let m = Message::new(Bytes::from(payload.to_string()))
        .add_header(Header::new(
            ":event-type",
            HeaderValue::String(event.into()),
        ))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("event".into()),
        ));
    let mut out = Vec::new();
    write_message_to(&m, &mut out).unwrap();
    out
}

/// A generated ConverseStream: text pieces, one tool call's input pieces, usage.
#[derive(Debug, Clone)]
struct Script {
    text: Vec<String>,
    input: Vec<String>,
    input_tokens: u32,
    output_tokens: u32,
}

fn script() -> impl Strategy<Value = Script> {
    (
        vec(any::<String>(), 0..6),
        vec(any::<String>(), 0..4),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(text, input, i, o)| Script {
            text,
            input,
            input_tokens: i,
            output_tokens: o,
        })
}

impl Script {
    fn render(&self) -> Input {
        let mut out = frame("messageStart", json!({"role": "assistant"}));
        for t in &self.text {
            out.extend(frame(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": t}}),
            ));
        }
        out.extend(frame(
            "contentBlockStart",
            json!({"contentBlockIndex": 1,
                   "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "f"}}}),
        ));
        for piece in &self.input {
            out.extend(frame(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": piece}}}),
            ));
        }
        out.extend(frame("messageStop", json!({"stopReason": "tool_use"})));
        out.extend(frame(
            "metadata",
            json!({"usage": {"inputTokens": self.input_tokens,
                             "outputTokens": self.output_tokens}}),
        ));
        Input(out)
    }
}

/// A generated stream, cut anywhere, decodes to exactly the text, input and usage it carries.
fn carries(runner: &mut TestRunner) -> Result<(), String> {
    holds(runner, (script(), splits()), |(s, split)| {
        let (events, error) = decode(&split.pieces(&s.render().0));
        prop_assert_eq!(error, None);
        let (mut text, mut input, mut usage) = (String::new(), String::new(), None);
        for e in events {
            match e {
                StreamEvent::Text(t) => text += &t,
                StreamEvent::ToolCallDelta { arguments, .. } => input += &arguments,
                StreamEvent::Done { usage: u, .. } => usage = Some(u),
                StreamEvent::Thinking(_) => {}
            }
        }
        let want: String = s.text.iter().filter(|t| !t.is_empty()).cloned().collect();
        prop_assert_eq!(text, want);
        prop_assert_eq!(input, s.input.concat());
        let usage = usage.ok_or_else(|| TestCaseError::fail("no Done event"))?;
        prop_assert_eq!(usage.input_tokens, u64::from(s.input_tokens));
        prop_assert_eq!(usage.output_tokens, u64::from(s.output_tokens));
        Ok(())
    })
}

crate::properties! {
    /// Any bytes near a real ConverseStream body, cut anywhere, decode as they do in one piece.
    fn bedrock_stream_bytes_decode_the_same_however_they_are_cut(256) =
        |r| same_when_split(r, bytes_near(bedrock_streams()), decode);
    /// A generated ConverseStream, cut anywhere, decodes to the text, input and usage it carries.
    fn bedrock_generated_stream_decodes_to_what_it_carries(128) = carries;
}
