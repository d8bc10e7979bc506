//! The JSON of Ollama's chat answers: a whole answer and each streamed line share one shape.

use serde::Deserialize;
use serde_json::Value;

use crate::model::{ToolCall, Usage};

#[derive(Deserialize, Default)]
pub(super) struct Response {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub done_reason: Option<String>,
    #[serde(default)]
    pub prompt_eval_count: Option<u64>,
    #[serde(default)]
    pub eval_count: Option<u64>,
    /// Set instead of the rest when the server failed (mid-stream, under HTTP 200).
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct Message {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
pub(super) struct WireToolCall {
    /// Newer servers name each call; older ones do not.
    #[serde(default)]
    pub id: Option<String>,
    pub function: Function,
}

#[derive(Deserialize)]
pub(super) struct Function {
    pub name: String,
    /// A JSON object (not a string, as in OpenAI's wire).
    #[serde(default)]
    pub arguments: Value,
}

impl WireToolCall {
    /// The unified call: `n` numbers the calls of one answer, for the id an older server does
    /// not send (a tool result must name the call it answers).
    pub fn unify(self, n: usize) -> ToolCall {
        let id = self
            .id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| format!("call_{n}"));
        ToolCall::from_value(id, self.function.name, self.function.arguments)
    }
}

/// `prompt_eval_count` is every prompt token (Ollama reports no cache split).
pub(super) fn usage(prompt: Option<u64>, eval: Option<u64>) -> Usage {
    Usage {
        input_tokens: prompt.unwrap_or(0),
        output_tokens: eval.unwrap_or(0),
        ..Default::default()
    }
}
