//! Seeds: real recorded provider traffic (tests/data/real-cassettes), loaded once per process.
//! Mutating real bytes reaches the corners a decoder meets in production far sooner than noise.

use std::sync::OnceLock;

use crate::cassette::{self, Interaction};

const OPENAI_STREAMS: &[&str] = &[
    "pydantic-ai/tests/cassettes/test_dbos/test_dbos_model_stream_direct.yaml",
    "pydantic-ai/tests/models/cassettes/test_openai/test_run_stream_sync_streams_real_model.yaml",
    "pydantic-ai/tests/models/cassettes/test_openrouter/test_openrouter_streaming_reasoning.yaml",
];

const ANTHROPIC_STREAMS: &[&str] = &[
    "pydantic-ai/tests/models/cassettes/test_anthropic/test_anthropic_model_thinking_part_stream.yaml",
    "llm-anthropic/tests/cassettes/test_anthropic/test_prompt.yaml",
    "llm-anthropic/tests/cassettes/test_anthropic/test_tools.yaml",
    "llm-anthropic/tests/cassettes/test_anthropic/test_schema_prompt.yaml",
];

const OPENAI_BODIES: &[&str] = &[
    "pydantic-ai/tests/models/cassettes/test_openai/test_valid_response.yaml",
    "pydantic-ai/tests/models/cassettes/test_openai/test_openai_native_output.yaml",
    "pydantic-ai/tests/models/cassettes/test_openai/test_openai_tool_output.yaml",
    "pydantic-ai/tests/models/cassettes/test_openai/test_openai_o1_mini_system_role[developer].yaml",
    "pydantic-ai/tests/cassettes/test_model_name_suggestions/test_model_name_suggestion[openai-chat].yaml",
    "pydantic-ai/tests/models/cassettes/test_openai_prompt_cache/test_openai_chat_prompt_cache_e2e.yaml",
    "pydantic-ai/tests/models/cassettes/test_openrouter/test_openrouter_tool_calling.yaml",
    "pydantic-ai/tests/models/cassettes/test_openrouter/test_openrouter_errors_raised.yaml",
    "pydantic-ai/tests/models/cassettes/test_ollama/test_ollama_cloud_tool_output.yaml",
];

const ANTHROPIC_BODIES: &[&str] = &[
    "pydantic-ai/tests/models/cassettes/test_anthropic/test_anthropic_model_instructions.yaml",
    "pydantic-ai/tests/models/cassettes/test_anthropic/test_anthropic_tool_output.yaml",
    "pydantic-ai/tests/models/cassettes/test_anthropic/test_anthropic_cache_real_api.yaml",
    "pydantic-ai/tests/models/anthropic/cassettes/test_output/test_strict_true_tool_native_output.yaml",
    "pydantic-ai/tests/cassettes/test_model_name_suggestions/test_model_name_suggestion[anthropic].yaml",
];

const GEMINI_STREAMS: &[&str] =
    &["pydantic-ai/tests/models/cassettes/test_google/test_google_model_stream.yaml"];

const GEMINI_BODIES: &[&str] = &[
    "pydantic-ai/tests/models/cassettes/test_google/test_google_model.yaml",
    "pydantic-ai/tests/models/cassettes/test_google/test_google_tool_output.yaml",
    "pydantic-ai/tests/models/cassettes/test_google/test_google_native_output.yaml",
    "pydantic-ai/tests/cassettes/test_model_name_suggestions/test_model_name_suggestion[google].yaml",
];

const BEDROCK_BODIES: &[&str] = &[
    "pydantic-ai/tests/models/cassettes/test_bedrock/test_bedrock_model.yaml",
    "pydantic-ai/tests/models/cassettes/test_bedrock/test_bedrock_model_structured_output.yaml",
    "pydantic-ai/tests/models/cassettes/test_bedrock/test_bedrock_error.yaml",
];

fn interactions(files: &[&str]) -> Vec<Interaction> {
    files.iter().flat_map(|f| cassette::load(f)).collect()
}

/// Response bodies of the recordings in `files`.
fn bodies(cell: &'static OnceLock<Vec<Vec<u8>>>, files: &[&str]) -> &'static [Vec<u8>] {
    cell.get_or_init(|| interactions(files).into_iter().map(|i| i.body).collect())
}

/// OpenAI Chat Completions SSE bodies (OpenAI and OpenRouter).
pub fn openai_streams() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    bodies(&CELL, OPENAI_STREAMS)
}

/// Anthropic Messages SSE bodies.
pub fn anthropic_streams() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    bodies(&CELL, ANTHROPIC_STREAMS)
}

/// Gemini `streamGenerateContent?alt=sse` bodies.
pub fn gemini_streams() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    bodies(&CELL, GEMINI_STREAMS)
}

/// Gemini buffered responses: an answer with thinking tokens, function calls, JSON output, a
/// 404 error body.
pub fn gemini_bodies() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    bodies(&CELL, GEMINI_BODIES)
}

/// Bedrock Converse answers: text, tool use, a 400 error body.
pub fn bedrock_bodies() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    bodies(&CELL, BEDROCK_BODIES)
}

/// OpenAI-shaped buffered responses: answers, tool calls, and 400/404/429 error bodies.
pub fn openai_bodies() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    bodies(&CELL, OPENAI_BODIES)
}

/// Anthropic buffered responses: answers, tool use, cache usage, a 404 error body.
pub fn anthropic_bodies() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    bodies(&CELL, ANTHROPIC_BODIES)
}

/// Request bodies both wire formats were really sent, streamed and not.
pub fn requests() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CELL.get_or_init(|| {
        let files = [
            OPENAI_STREAMS,
            ANTHROPIC_STREAMS,
            OPENAI_BODIES,
            ANTHROPIC_BODIES,
        ];
        interactions(&files.concat())
            .into_iter()
            .map(|i| i.request_body)
            .filter(|b| !b.is_empty())
            .collect()
    })
}
/// The text of every recorded cassette file (vcrpy and pydantic-ai layouts).
pub fn cassette_files() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CELL.get_or_init(|| {
        let files = [
            OPENAI_STREAMS,
            ANTHROPIC_STREAMS,
            OPENAI_BODIES,
            ANTHROPIC_BODIES,
        ];
        files
            .concat()
            .iter()
            .map(|f| std::fs::read(cassette::root().join(f)).expect("a recorded cassette"))
            .collect()
    })
}

/// A cassette in llmrail's own layout (latency and chunk timings), written by its writer.
pub fn own_cassette() -> Vec<u8> {
    use bytes::Bytes;
    use llmrail::replay::cassette::{to_yaml, Chunk, Interaction, Request, Response};
    use std::time::Duration;

    let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: [DONE]\n\n";
    let interaction = Interaction {
        request: Request {
            method: "POST".into(),
            uri: "https://api.openai.com/v1/chat/completions".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from_static(br#"{"model":"gpt-4o","stream":true,"messages":[]}"#),
        },
        response: Response {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: Bytes::from(sse),
            latency: Some(Duration::from_micros(412_500)),
            chunks: Some(vec![
                Chunk {
                    len: 50,
                    at: Duration::from_millis(101),
                },
                Chunk {
                    len: sse.len() - 50,
                    at: Duration::from_millis(130),
                },
            ]),
        },
    };
    to_yaml(&[interaction])
        .expect("a cassette writes")
        .into_bytes()
}
