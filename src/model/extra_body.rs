//! What `extra_body` may not say: the body fields llmrail writes from the call's arguments.
//!
//! `extra_body` is merged last, so before this check `extra_body={"model": ...}` silently sent
//! another model than the client's, and `{"messages": [...]}` replaced the conversation the
//! caller had also passed. The fields that make the request what it is (model, conversation,
//! tools, length, streaming) are refused outright. The sampling knobs (`temperature`, `top_p`,
//! `stop`) may still come through `extra_body`, as they always could, but not together with
//! their own argument, where one would silently win over the other.

use super::ChatRequest;
use crate::error::{LlmError, Result};

/// Body keys (OpenAI's and Anthropic's names) and the argument that sets each one instead.
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
];

/// `Ok` unless `req.extra_body` sets a field llmrail writes from an argument.
pub fn check_extra_body(req: &ChatRequest) -> Result<()> {
    let extra = &req.extra_body;
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
    let knobs = [
        ("temperature", "temperature", req.temperature.is_some()),
        ("top_p", "top_p", req.top_p.is_some()),
        ("stop", "stop", !req.stop.is_empty()),
        ("stop_sequences", "stop", !req.stop.is_empty()),
    ];
    for (key, argument, given) in knobs {
        if given && extra.contains_key(key) {
            return Err(LlmError::config(format!(
                "extra_body sets {key:?} and the {argument} argument is given too: one would \
                 silently replace the other; give only the {argument} argument"
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
    use serde_json::{json, Value};

    fn req(v: Value) -> ChatRequest {
        match v {
            Value::Object(extra_body) => ChatRequest {
                extra_body,
                ..ChatRequest::default()
            },
            _ => ChatRequest::default(),
        }
    }

    #[test]
    fn fields_without_an_argument_pass() {
        let r = req(json!({"seed": 1, "top_k": 5, "metadata": {"user_id": "u"}, "temperature": 0}));
        assert!(check_extra_body(&r).is_ok());
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
            let e = check_extra_body(&req(json!({ key: 1 }))).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Configuration);
            assert!(e.message.contains(&format!("{key:?}")), "{}", e.message);
            assert!(e.message.contains(argument), "{}", e.message);
        }
    }

    #[test]
    fn a_sampling_knob_is_refused_only_beside_its_own_argument() {
        let mut r = req(json!({"temperature": 0.5, "stop_sequences": ["x"]}));
        assert!(check_extra_body(&r).is_ok());
        r.temperature = Some(0.2);
        let e = check_extra_body(&r).unwrap_err();
        assert!(
            e.message.contains("\"temperature\"") && e.message.contains("temperature argument")
        );
        r.temperature = None;
        r.stop = vec!["END".into()];
        assert!(check_extra_body(&r)
            .unwrap_err()
            .message
            .contains("stop argument"));
    }
}
