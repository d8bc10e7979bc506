//! Python arguments -> owned core values, before any future is built.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pythonize::depythonize;
use serde_json::{Map, Value};

use super::errors::config;
use crate::model::{ChatRequest, Message, Role, ToolChoice, ToolSpec};

/// The keyword arguments every chat-shaped call accepts, still as Python objects.
pub struct RequestArgs {
    pub messages: Py<PyAny>,
    pub system: Option<String>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Option<Py<PyAny>>,
    pub tools: Option<Py<PyAny>>,
    pub tool_choice: Option<Py<PyAny>>,
    pub extra_body: Option<Py<PyAny>>,
    /// "5m", "1h", "auto", "off"; `None` keeps the client's setting.
    pub prompt_cache: Option<String>,
}

impl RequestArgs {
    pub fn into_request(self, py: Python<'_>) -> PyResult<ChatRequest> {
        Ok(ChatRequest {
            messages: messages(self.messages.bind(py))?,
            system: self.system,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            stop: match self.stop {
                None => Vec::new(),
                Some(s) => stop(s.bind(py))?,
            },
            tools: match self.tools {
                None => Vec::new(),
                Some(t) => parse::<Vec<ToolSpec>>(t.bind(py), "tools")?,
            },
            tool_choice: match self.tool_choice {
                None => None,
                Some(c) => Some(parse::<ToolChoice>(c.bind(py), "tool_choice")?),
            },
            extra_body: match self.extra_body {
                None => Map::new(),
                Some(b) => parse::<Map<String, Value>>(b.bind(py), "extra_body")?,
            },
            prompt_cache: super::cache::policy(self.prompt_cache.as_deref())?,
        })
    }
}

/// A string is one user message; otherwise a list of OpenAI-shaped message dicts.
pub fn messages(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Message>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(vec![Message::user(s.to_str()?)]);
    }
    if !obj.is_instance_of::<PyList>() && !obj.hasattr("__iter__")? {
        return Err(config(
            "messages must be a string or a list of {\"role\": ..., \"content\": ...} dicts",
        ));
    }
    let list: Vec<Bound<'_, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
    if list.is_empty() {
        return Err(config("messages is empty: give at least one message"));
    }
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            if let Some(plain) = plain_text_message(m)? {
                return Ok(plain);
            }
            depythonize::<Message>(m).map_err(|e| {
                config(format!("messages[{i}] is not a valid message ({e}); expected a dict like {{\"role\": \"user\", \"content\": \"hi\"}}"))
            })
        })
        .collect()
}

/// `{"role": ..., "content": "text"}`, by far the most common message, read directly: the
/// general path (serde through pythonize) costs several µs per message. Anything else, an
/// unknown role included, takes the general path, which also words the errors.
fn plain_text_message(m: &Bound<'_, PyAny>) -> PyResult<Option<Message>> {
    let Ok(dict) = m.cast::<PyDict>() else {
        return Ok(None);
    };
    if dict.len() != 2 {
        return Ok(None);
    }
    let py = m.py();
    let (Some(role), Some(content)) = (
        dict.get_item(intern!(py, "role"))?,
        dict.get_item(intern!(py, "content"))?,
    ) else {
        return Ok(None);
    };
    let (Ok(role), Ok(content)) = (role.cast::<PyString>(), content.cast::<PyString>()) else {
        return Ok(None);
    };
    let role = match role.to_str()? {
        "system" => Role::System,
        "developer" => Role::Developer,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => return Ok(None),
    };
    Ok(Some(Message::text(role, content.to_str()?)))
}

fn stop(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(vec![s.to_str()?.to_string()]);
    }
    parse(obj, "stop")
}

pub fn parse<T: serde::de::DeserializeOwned>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    depythonize::<T>(obj).map_err(|e| config(format!("{what} is not valid: {e}")))
}
