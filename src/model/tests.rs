//! The unified types' own behaviour.

use super::*;

fn answered(raw: &str) -> ChatResponse {
    ChatResponse {
        content: Vec::new(),
        finish_reason: None,
        usage: Usage::default(),
        model: String::new(),
        provider: String::new(),
        request_id: None,
        latency: Duration::ZERO,
        raw: bytes::Bytes::from(raw.to_string()),
    }
}

#[test]
fn the_response_id_is_read_from_each_wire_formats_body() {
    let openai = answered(r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[]}"#);
    assert_eq!(openai.response_id().as_deref(), Some("chatcmpl-1"));
    let gemini = answered(r#"{"candidates":[],"responseId":"r-2"}"#);
    assert_eq!(gemini.response_id().as_deref(), Some("r-2"));
    assert_eq!(answered(r#"{"output":{}}"#).response_id(), None);
    assert_eq!(answered("not json").response_id(), None);
}
