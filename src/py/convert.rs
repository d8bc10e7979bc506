//! Python arguments -> owned core values, before any future is built.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde_json::{Map, Value};

use super::errors::config;
pub use super::json::parse;
use super::json::{bad_text, to_value};
use crate::model::PromptCache;
use crate::model::{ChatRequest, Message, Role, ToolChoice, ToolSpec};

/// A chat-shaped call's messages and request options, still as Python objects.
pub struct RequestArgs {
    pub messages: Py<PyAny>,
    pub options: RequestOptions,
}

/// The options that shape the request itself (read from `**options` by `options.rs`).
pub struct RequestOptions {
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
        let o = self.options;
        let req = ChatRequest {
            messages: messages(self.messages.bind(py))?,
            system: o.system,
            max_tokens: o.max_tokens,
            temperature: finite(o.temperature, "temperature")?,
            top_p: finite(o.top_p, "top_p")?,
            stop: match o.stop {
                None => Vec::new(),
                Some(s) => stop(s.bind(py))?,
            },
            tools: match o.tools {
                None => Vec::new(),
                Some(t) => parse::<Vec<ToolSpec>>(t.bind(py), "tools")?,
            },
            tool_choice: match o.tool_choice {
                None => None,
                Some(c) => Some(parse::<ToolChoice>(c.bind(py), "tool_choice")?),
            },
            extra_body: match o.extra_body {
                None => Map::new(),
                Some(b) => extra_body(b.bind(py))?,
            },
            prompt_cache: prompt_cache(o.prompt_cache.as_deref())?,
        };
        crate::model::check_extra_body(&req).map_err(super::errors::to_py)?;
        Ok(req)
    }
}

/// A string is one user message; otherwise a list of OpenAI-shaped message dicts.
pub fn messages(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Message>> {
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_str().map_err(|e| bad_text("messages", &e, obj.py()))?;
        return Ok(vec![Message::user(text)]);
    }
    // A list, the usual case, is read in place: collecting a generic iterator asks Python for
    // its length hint (`operator.length_hint`), ~1.1k instructions of a ~90k-instruction call.
    // (Exactly a list: a subclass may have its own `__iter__`.)
    if let Ok(list) = obj.cast_exact::<PyList>() {
        if list.is_empty() {
            return Err(empty());
        }
        return list
            .iter()
            .enumerate()
            .map(|(i, m)| message(i, &m))
            .collect();
    }
    if !obj.hasattr("__iter__")? {
        return Err(config(
            "messages must be a string or a list of {\"role\": ..., \"content\": ...} dicts",
        ));
    }
    let list: Vec<Bound<'_, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
    if list.is_empty() {
        return Err(empty());
    }
    list.iter()
        .enumerate()
        .map(|(i, m)| message(i, m))
        .collect()
}

fn empty() -> PyErr {
    config("messages is empty: give at least one message")
}

fn message(i: usize, m: &Bound<'_, PyAny>) -> PyResult<Message> {
    if let Some(plain) = plain_text_message(m)? {
        return Ok(plain);
    }
    let value = to_value(m, &format!("messages[{i}]"))?;
    serde_json::from_value::<Message>(value).map_err(|e| {
        config(format!("messages[{i}] is not a valid message ({e}); expected a dict like {{\"role\": \"user\", \"content\": \"hi\"}}"))
    })
}

/// `{"role": ..., "content": "text"}`, by far the most common message, read directly: the
/// general path (a JSON value, then serde) costs several µs per message. Anything else, an
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
    // A string UTF-8 cannot hold (a lone surrogate) takes the general path, which names it.
    let (Ok(role), Ok(content)) = (role.to_str(), content.to_str()) else {
        return Ok(None);
    };
    let role = match role {
        "system" => Role::System,
        "developer" => Role::Developer,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => return Ok(None),
    };
    Ok(Some(Message::text(role, content)))
}

/// `"5m" | "1h" | "auto" | "off"` as a policy; `None` stays `None`.
pub fn prompt_cache(value: Option<&str>) -> PyResult<Option<PromptCache>> {
    value
        .map(PromptCache::parse)
        .transpose()
        .map_err(super::errors::to_py)
}

fn stop(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_str().map_err(|e| bad_text("stop", &e, obj.py()))?;
        return Ok(vec![text.to_string()]);
    }
    parse(obj, "stop")
}

/// `serde_json` writes NaN and infinities as `null`: the server would see no value at all.
fn finite(x: Option<f64>, what: &str) -> PyResult<Option<f64>> {
    match x {
        Some(f) if !f.is_finite() => Err(config(format!(
            "{what} is {}; give a finite number (or None for the provider's default)",
            super::json::py_float(f)
        ))),
        _ => Ok(x),
    }
}

/// The caller's extra body fields (checked against the arguments once the request is built).
fn extra_body(obj: &Bound<'_, PyAny>) -> PyResult<Map<String, Value>> {
    let Value::Object(map) = to_value(obj, "extra_body")? else {
        return Err(config(
            "extra_body must be a dict of extra request body fields",
        ));
    };
    Ok(map)
}
