//! The NDJSON stream decoder: the JSON-lines splitter feeding Ollama's stream decoder through
//! `providers::json_lines::feed`, as a streamed `ollama/<model>` call does.

use std::sync::OnceLock;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use llmrail::error::ErrorKind;
use llmrail::model::StreamEvent;
use llmrail::providers;
use llmrail::providers::json_lines::{feed, JsonLines};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::json;

use crate::harness::{bytes_near, holds, same_when_split, splits, Input};

/// What a stream decodes to: its events, and the error that ended it, if one did.
type Decoded = (Vec<StreamEvent>, Option<(ErrorKind, String)>);

fn decode(pieces: &[Bytes]) -> Decoded {
    let chunks = futures_util::stream::iter(pieces.iter().cloned().map(Ok));
    let mut lines = JsonLines::new(chunks, 1 << 16);
    let mut decoder = providers::lookup("ollama")
        .expect("a known provider")
        .stream_decoder();
    let mut out = Vec::new();
    loop {
        let next = lines
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

/// The recorded Ollama streams (tests/data/real-traces): each response is one HTTP chunk, so
/// its body is what lies between the chunk's size line and the `0` chunk.
fn ollama_streams() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CELL.get_or_init(|| {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/real-traces/langchaingo/llms/ollama/"
        );
        [
            "testdata/TestWithFormat.httprr",
            "testdata/TestWithPullModel.httprr",
            "internal/ollamaclient/testdata/TestClient_GenerateChat.httprr",
        ]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(format!("{dir}{name}")).unwrap();
            let last = text
                .rsplit("Content-Type: application/x-ndjson")
                .next()
                .unwrap();
            let body = last.split_once("\r\n\r\n").unwrap().1;
            let body = body.split_once("\r\n").unwrap().1;
            body.split("\r\n0\r\n").next().unwrap().as_bytes().to_vec()
        })
        .collect()
    })
}

/// A generated stream: text pieces, tool calls (arguments an object), usage, CRLF or LF.
#[derive(Debug, Clone)]
struct Script {
    text: Vec<String>,
    calls: Vec<u32>,
    input_tokens: u32,
    output_tokens: u32,
    crlf: bool,
}

fn script() -> impl Strategy<Value = Script> {
    (
        vec(any::<String>(), 0..6),
        vec(any::<u32>(), 0..3),
        any::<u32>(),
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(|(text, calls, i, o, crlf)| Script {
            text,
            calls,
            input_tokens: i,
            output_tokens: o,
            crlf,
        })
}

impl Script {
    fn render(&self) -> Input {
        let nl = if self.crlf { "\r\n" } else { "\n" };
        let mut out = String::new();
        for t in &self.text {
            let line = json!({"model": "llama3.2", "message": {"role": "assistant", "content": t},
                              "done": false});
            out += &format!("{line}{nl}");
        }
        for n in &self.calls {
            let line = json!({"model": "llama3.2", "message": {"role": "assistant", "content": "",
                "tool_calls": [{"function": {"name": "lookup", "arguments": {"n": n}}}]},
                "done": false});
            out += &format!("{line}{nl}");
        }
        let done = json!({"model": "llama3.2", "message": {"role": "assistant", "content": ""},
            "done": true, "done_reason": "stop", "prompt_eval_count": self.input_tokens,
            "eval_count": self.output_tokens});
        out += &format!("{done}{nl}");
        Input(out.into_bytes())
    }
}

/// A generated stream, cut anywhere, decodes to exactly the text, calls and usage it carries.
fn carries(runner: &mut TestRunner) -> Result<(), String> {
    holds(runner, (script(), splits()), |(s, split)| {
        let (events, error) = decode(&split.pieces(&s.render().0));
        prop_assert_eq!(error, None);
        let (mut text, mut calls, mut usage) = (String::new(), Vec::new(), None);
        for e in events {
            match e {
                StreamEvent::Text(t) => text += &t,
                StreamEvent::ToolCallDelta { arguments, .. } => calls.push(arguments),
                StreamEvent::Done { usage: u, .. } => usage = Some(u),
                StreamEvent::Thinking(_) => {}
            }
        }
        prop_assert_eq!(text, s.text.concat());
        let want: Vec<String> = s
            .calls
            .iter()
            .map(|n| json!({"n": n}).to_string())
            .collect();
        prop_assert_eq!(calls, want);
        let usage = usage.ok_or_else(|| TestCaseError::fail("no Done event"))?;
        prop_assert_eq!(usage.input_tokens, u64::from(s.input_tokens));
        prop_assert_eq!(usage.output_tokens, u64::from(s.output_tokens));
        Ok(())
    })
}

crate::properties! {
    /// Any bytes near a real Ollama NDJSON stream, cut anywhere, decode as they do in one piece.
    fn ollama_stream_bytes_decode_the_same_however_they_are_cut(256) =
        |r| same_when_split(r, bytes_near(ollama_streams()), decode);
    /// A generated Ollama stream, cut anywhere, decodes to the text, calls and usage it carries.
    fn ollama_generated_stream_decodes_to_what_it_carries(128) = carries;
}
