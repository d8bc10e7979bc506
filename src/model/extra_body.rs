//! What `extra_body` may not say: the body fields an argument of the call already writes.
//!
//! `extra_body` is merged last, so before this check `extra_body={"model": ...}` silently sent
//! another model than the client's, and `{"messages": [...]}` replaced the conversation the
//! caller had also passed. Each such key is refused, naming the argument that sets it.

use serde_json::{Map, Value};

use crate::error::{LlmError, Result};

/// Body keys (OpenAI's and Anthropic's names) and what sets each one instead.
const RESERVED: &[(&str, &str)] = &[
    ("model", "the Client's model (\"provider/model\")"),
    ("messages", "the messages argument"),
    ("system", "the system argument"),
    ("max_tokens", "the max_tokens argument"),
    ("max_completion_tokens", "the max_tokens argument"),
    (
        "stream",
        "client.stream() (or client.chat() for one answer)",
    ),
    ("tools", "the tools argument"),
    ("tool_choice", "the tool_choice argument"),
    ("temperature", "the temperature argument"),
    ("top_p", "the top_p argument"),
    ("stop", "the stop argument"),
    ("stop_sequences", "the stop argument"),
];

/// `Ok` unless `extra` sets a field llmrail writes from an argument.
pub fn check_extra_body(extra: &Map<String, Value>) -> Result<()> {
    if extra.is_empty() {
        return Ok(());
    }
    for (key, instead) in RESERVED {
        if extra.contains_key(*key) {
            return Err(LlmError::config(format!(
                "extra_body cannot set {key:?}: llmrail writes it from {instead}, and extra_body \
                 would silently replace it; use that instead"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn fields_without_an_argument_pass() {
        let extra = map(json!({"seed": 1, "top_k": 5, "metadata": {"user_id": "u"}}));
        assert!(check_extra_body(&extra).is_ok());
    }

    #[test]
    fn a_field_an_argument_writes_is_refused_with_the_argument_named() {
        for (key, argument) in [
            ("model", "Client's model"),
            ("messages", "messages argument"),
            ("system", "system argument"),
            ("max_tokens", "max_tokens argument"),
            ("stream", "client.stream()"),
            ("tools", "tools argument"),
        ] {
            let extra = map(json!({ key: 1 }));
            let e = check_extra_body(&extra).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Configuration);
            assert!(e.message.contains(&format!("{key:?}")), "{}", e.message);
            assert!(e.message.contains(argument), "{}", e.message);
        }
    }
}
