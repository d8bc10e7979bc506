//! The streamed decoders: sse-stream's parser feeding the OpenAI and Anthropic stream decoders
//! through `providers::sse::feed`, as a streamed call does.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use llmrail::error::ErrorKind;
use llmrail::model::StreamEvent;
use llmrail::providers;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::json;
use sse_stream::SseByteStream;

use crate::harness::{bytes_near, holds, same_when_split, splits, Input};
use crate::seeds;

/// What a stream decodes to: its events, and the error that ended it, if one did.
pub type Decoded = (Vec<StreamEvent>, Option<(ErrorKind, String)>);

/// The body `pieces`, in order, through the SSE parser and `provider`'s stream decoder.
pub fn decode(provider: &str, pieces: &[Bytes]) -> Decoded {
    let chunks = futures_util::stream::iter(pieces.iter().cloned().map(Ok::<_, Infallible>));
    let mut sse = SseByteStream::new(chunks);
    let mut decoder = providers::lookup(provider)
        .expect("a known provider")
        .stream_decoder();
    let mut out = Vec::new();
    loop {
        // Pieces in memory are always ready: the parser never waits.
        let next = sse
            .next()
            .now_or_never()
            .expect("an in-memory stream is ready");
        match providers::sse::feed(&mut *decoder, next, &mut out) {
            Ok(false) => {}
            Ok(true) => return (out, None),
            Err(e) => return (out, Some((e.kind, e.message.clone()))),
        }
    }
}

/// A valid stream to generate: text deltas, one tool call's argument pieces, usage, and the
/// line ending and keep-alive comments a proxy may use.
#[derive(Debug, Clone)]
pub struct Script {
    text: Vec<String>,
    arguments: Vec<String>,
    input_tokens: u32,
    output_tokens: u32,
    crlf: bool,
    keep_alive: bool,
}

fn script() -> impl Strategy<Value = Script> {
    (
        vec(any::<String>(), 0..6),
        vec(any::<String>(), 0..4),
        any::<u32>(),
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(text, arguments, i, o, crlf, keep_alive)| Script {
            text,
            arguments,
            input_tokens: i,
            output_tokens: o,
            crlf,
            keep_alive,
        })
}

impl Script {
    /// SSE blocks (`event:` name, JSON data) in the wire format, with CRLF or LF line ends.
    fn render(&self, blocks: Vec<(Option<&str>, String)>) -> Input {
        let nl = if self.crlf { "\r\n" } else { "\n" };
        let mut out = String::new();
        for (name, data) in blocks {
            if self.keep_alive {
                out += &format!(": ping{nl}{nl}");
            }
            if let Some(name) = name {
                out += &format!("event: {name}{nl}");
            }
            out += &format!("data: {data}{nl}{nl}");
        }
        Input(out.into_bytes())
    }

    /// The shape of the recorded OpenAI streams (see seeds::openai_streams).
    fn openai(&self) -> Input {
        let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                   "model": "gpt-4o", "choices": [{"index": 0, "delta": delta,
                   "logprobs": null, "finish_reason": finish}]})
            .to_string()
        };
        let mut blocks = vec![(
            None,
            chunk(json!({"role": "assistant", "content": ""}), json!(null)),
        )];
        blocks.extend(
            self.text
                .iter()
                .map(|t| (None, chunk(json!({"content": t}), json!(null)))),
        );
        for (n, a) in self.arguments.iter().enumerate() {
            let call = if n == 0 {
                json!({"index": 0, "id": "call_1", "type": "function",
                       "function": {"name": "lookup", "arguments": a}})
            } else {
                json!({"index": 0, "function": {"arguments": a}})
            };
            blocks.push((None, chunk(json!({"tool_calls": [call]}), json!(null))));
        }
        blocks.push((None, chunk(json!({}), json!("stop"))));
        let usage = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o", "choices": [], "usage": {"prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens, "total_tokens": 0}});
        blocks.push((None, usage.to_string()));
        blocks.push((None, "[DONE]".into()));
        self.render(blocks)
    }

    /// The shape of the recorded Anthropic streams.
    fn anthropic(&self) -> Input {
        let mut blocks = vec![(
            Some("message_start"),
            json!({"type": "message_start",
            "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5", "stop_reason": null, "usage": {
            "input_tokens": self.input_tokens, "output_tokens": 1}}})
            .to_string(),
        )];
        let mut block = |event: &'static str, v: serde_json::Value| {
            blocks.push((Some(event), v.to_string()));
        };
        block(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        );
        for t in &self.text {
            block(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": t}}),
            );
        }
        block(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        );
        if !self.arguments.is_empty() {
            block(
                "content_block_start",
                json!({"type": "content_block_start", "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "lookup",
                "input": {}}}),
            );
            for a in &self.arguments {
                block(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": a}}),
                );
            }
            block(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 1}),
            );
        }
        block(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason":
            "end_turn", "stop_sequence": null}, "usage": {"output_tokens": self.output_tokens}}),
        );
        block("message_stop", json!({"type": "message_stop"}));
        self.render(blocks)
    }
}

/// A generated stream, cut anywhere, decodes to exactly the text and arguments it carries.
fn carries(
    runner: &mut TestRunner,
    provider: &'static str,
    render: fn(&Script) -> Input,
) -> Result<(), String> {
    holds(runner, (script(), splits()), |(s, split)| {
        let (events, error) = decode(provider, &split.pieces(&render(s).0));
        prop_assert_eq!(error, None);
        let (mut text, mut arguments, mut usage) = (String::new(), String::new(), None);
        for e in events {
            match e {
                StreamEvent::Text(t) => text += &t,
                StreamEvent::ToolCallDelta { arguments: a, .. } => arguments += &a,
                StreamEvent::Done { usage: u, .. } => usage = Some(u),
                StreamEvent::Thinking(_) => {}
            }
        }
        prop_assert_eq!(text, s.text.concat());
        prop_assert_eq!(arguments, s.arguments.concat());
        let usage = usage.ok_or_else(|| TestCaseError::fail("no Done event"))?;
        prop_assert_eq!(usage.input_tokens, u64::from(s.input_tokens));
        prop_assert_eq!(usage.output_tokens, u64::from(s.output_tokens));
        Ok(())
    })
}

crate::properties! {
    /// Any bytes near a real OpenAI stream, cut anywhere, decode as they do in one piece.
    fn openai_stream_bytes_decode_the_same_however_they_are_cut(256) =
        |r| same_when_split(r, bytes_near(seeds::openai_streams()), |p| decode("openai", p));
    /// Any bytes near a real Anthropic stream, cut anywhere, decode as they do in one piece.
    fn anthropic_stream_bytes_decode_the_same_however_they_are_cut(256) =
        |r| same_when_split(r, bytes_near(seeds::anthropic_streams()), |p| decode("anthropic", p));
    /// Any bytes near a real Gemini stream, cut anywhere, decode as they do in one piece.
    fn gemini_stream_bytes_decode_the_same_however_they_are_cut(256) =
        |r| same_when_split(r, bytes_near(seeds::gemini_streams()), |p| decode("gemini", p));
    /// A generated OpenAI stream, cut anywhere, decodes to the text and arguments it carries.
    fn openai_generated_stream_decodes_to_what_it_carries(128) =
        |r| carries(r, "openai", Script::openai);
    /// A generated Anthropic stream, cut anywhere, decodes to the text and arguments it carries.
    fn anthropic_generated_stream_decodes_to_what_it_carries(128) =
        |r| carries(r, "anthropic", Script::anthropic);
}
