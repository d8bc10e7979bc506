//! The one options contract of `chat`, `chat_sync`, `stream` and the three `extract` methods:
//! their keyword arguments arrive as `**options` and are read here, in one pass over the dict,
//! into [`ChatOptions`] or [`ExtractOptions`] (owned values the call can move into its future).
//!
//! The stub types them as `Unpack[ChatOptions]` / `Unpack[ExtractOptions]` (TypedDicts in
//! `python/llmrail/_options.py`), so mypy and editors still check every name; this is the
//! runtime check. An unknown name is the `TypeError` Python raises for any unexpected keyword,
//! naming the closest valid one. A bad value raises what it raised when each option was its own
//! parameter, at the same moment: scalars read by [`Arg`] are a `ConfigurationError` naming the
//! option; `temperature`, `top_p`, `retry` and `include_raw` keep pyo3's conversion error with
//! its "while processing" note; `deadline` and the JSON-shaped options are checked when the call
//! starts (an async call's first `await`), with the messages.
//!
//! What `**options` costs: pyo3 calls a method that takes `**kwargs` through METH_VARARGS, so
//! CPython packs the call into a tuple and a dict and pyo3 copies the keywords into a dict of
//! its own, where named parameters went through METH_FASTCALL with nothing built. Measured on
//! `client.chat(msgs, ...).close()` (argument handling alone, best of 15 x 10,000): +0.04 µs
//! with no option, +0.2 µs with one, +0.3 µs with three, against about 110 µs of CPU for a whole
//! call to a local server: within that benchmark's noise. Reading the dict adds no allocation.

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::arg::{Arg, Scalar};
use super::convert::{RequestArgs, RequestOptions};
use super::resilience::{positive_seconds, PyRetry};
use crate::resilience::fallback::Retarget;
use crate::resilience::CallOptions;

/// The options of `chat`, `chat_sync` and `stream`, in `ChatOptions`' order (the stub's).
const CHAT: &[&str] = &[
    "system",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "tools",
    "tool_choice",
    "extra_body",
    "retry",
    "deadline",
    "prompt_cache",
];

/// The options of `extract`, `extract_sync` and `extract_stream`: the chat options but `tools`
/// and `tool_choice` (extraction sets its own), then extraction's own.
const EXTRACT: &[&str] = &[
    "system",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "extra_body",
    "retry",
    "deadline",
    "prompt_cache",
    "mode",
    "max_retries",
    "token_budget",
    "validation_context",
    "include_raw",
];

/// What a chat-shaped call was given besides its messages.
pub struct ChatOptions {
    pub request: RequestOptions,
    pub overrides: Overrides,
}

/// The chat options of an extraction, and extraction's own.
pub struct ExtractOptions {
    pub chat: ChatOptions,
    pub mode: String,
    pub max_retries: u32,
    pub token_budget: Option<u64>,
    pub validation_context: Option<Py<PyAny>>,
    pub include_raw: bool,
}

/// Per-call overrides of the client's retry policy and deadline.
pub struct Overrides {
    retry: Option<Py<PyRetry>>,
    /// Read by [`Overrides::resolve`], when the call starts.
    deadline: Option<Arg<f64>>,
    /// A prompt template's request for each fallback target (its provider's variant).
    retarget: Option<Retarget>,
}

impl Overrides {
    /// Whether the call overrides nothing of its client's policy.
    pub fn is_empty(&self) -> bool {
        self.retry.is_none() && self.deadline.is_none() && self.retarget.is_none()
    }

    /// The call was rendered from a prompt template: each fallback renders its own variant.
    pub fn retargeted(self, retarget: Option<Retarget>) -> Self {
        Self { retarget, ..self }
    }

    pub fn resolve(self) -> PyResult<CallOptions> {
        Ok(CallOptions {
            retry: self.retry.map(|r| r.get().policy.clone()),
            deadline: positive_seconds("deadline", self.deadline)?,
            record: false,
            retarget: self.retarget,
        })
    }
}

impl ChatOptions {
    /// `options` as `method` ("Client.chat()") takes them.
    pub fn read(options: Option<&Bound<'_, PyDict>>, method: &str) -> PyResult<Self> {
        let given = Given::read(options, Method::Chat, method)?;
        let natives = Natives::read(&given)?;
        given.chat(natives)
    }

    /// One request of a batch, as `method` takes it: `chat()`'s options, next to its
    /// `messages` and `custom_id`, which the caller reads (the dict is read as it is, not
    /// copied to take them out).
    pub fn read_batch_request(options: &Bound<'_, PyDict>, method: &str) -> PyResult<Self> {
        let given = Given::read(Some(options), Method::BatchRequest, method)?;
        let natives = Natives::read(&given)?;
        given.chat(natives)
    }

    /// The request's part, with its messages, and the per-call overrides.
    pub fn with_messages(self, messages: Py<PyAny>) -> (RequestArgs, Overrides) {
        let args = RequestArgs {
            messages,
            options: self.request,
        };
        (args, self.overrides)
    }
}

impl ExtractOptions {
    /// `options` as `method` ("Client.extract()") takes them.
    pub fn read(options: Option<&Bound<'_, PyDict>>, method: &str) -> PyResult<Self> {
        let mut given = Given::read(options, Method::Extract, method)?;
        // `include_raw` came before the other parameters pyo3 converted itself.
        let include_raw = match given.include_raw.take() {
            None => false,
            Some(v) => noted(v.py(), v.extract::<bool>(), "include_raw")?,
        };
        let natives = Natives::read(&given)?;
        let validation_context = given
            .validation_context
            .take()
            .filter(|v| !v.is_none())
            .map(Bound::unbind);
        let (mode, max_retries, token_budget) = (
            given.mode.take(),
            given.max_retries.take(),
            given.token_budget.take(),
        );
        let chat = given.chat(natives)?;
        Ok(Self {
            chat,
            mode: match mode {
                None => "auto".to_string(),
                Some(v) => v.extract::<Arg<String>>()?.get("mode")?,
            },
            max_retries: match max_retries {
                None => 3,
                Some(v) => v.extract::<Arg<u32>>()?.get("max_retries")?,
            },
            token_budget: scalar(token_budget, "token_budget")?,
            validation_context,
            include_raw,
        })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Chat,
    Extract,
    /// `chat()`'s options in a batch request's dict, beside its `messages` and `custom_id`.
    BatchRequest,
}

/// The options as passed, each still a Python object (`None` when not passed). Filled by one
/// pass over the dict, with no allocation: the values are converted after it, in the order the
/// parameters were converted when each was its own, so the same bad value raises first.
#[derive(Default)]
struct Given<'py> {
    system: Option<Bound<'py, PyAny>>,
    max_tokens: Option<Bound<'py, PyAny>>,
    temperature: Option<Bound<'py, PyAny>>,
    top_p: Option<Bound<'py, PyAny>>,
    stop: Option<Bound<'py, PyAny>>,
    tools: Option<Bound<'py, PyAny>>,
    tool_choice: Option<Bound<'py, PyAny>>,
    extra_body: Option<Bound<'py, PyAny>>,
    retry: Option<Bound<'py, PyAny>>,
    deadline: Option<Bound<'py, PyAny>>,
    prompt_cache: Option<Bound<'py, PyAny>>,
    mode: Option<Bound<'py, PyAny>>,
    max_retries: Option<Bound<'py, PyAny>>,
    token_budget: Option<Bound<'py, PyAny>>,
    validation_context: Option<Bound<'py, PyAny>>,
    include_raw: Option<Bound<'py, PyAny>>,
}

impl<'py> Given<'py> {
    fn read(options: Option<&Bound<'py, PyDict>>, kind: Method, method: &str) -> PyResult<Self> {
        let mut g = Self::default();
        let Some(options) = options else {
            return Ok(g);
        };
        let extract = kind == Method::Extract;
        let batch = kind == Method::BatchRequest;
        for (key, value) in options.iter() {
            // Python itself refuses a keyword that is not a str before the call gets here.
            let name = key.cast::<PyString>()?.to_str()?;
            let slot = match name {
                "messages" | "custom_id" if batch => continue,
                "system" => &mut g.system,
                "max_tokens" => &mut g.max_tokens,
                "temperature" => &mut g.temperature,
                "top_p" => &mut g.top_p,
                "stop" => &mut g.stop,
                "tools" if !extract => &mut g.tools,
                "tool_choice" if !extract => &mut g.tool_choice,
                "extra_body" => &mut g.extra_body,
                "retry" => &mut g.retry,
                "deadline" => &mut g.deadline,
                "prompt_cache" => &mut g.prompt_cache,
                "mode" if extract => &mut g.mode,
                "max_retries" if extract => &mut g.max_retries,
                "token_budget" if extract => &mut g.token_budget,
                "validation_context" if extract => &mut g.validation_context,
                "include_raw" if extract => &mut g.include_raw,
                _ => {
                    let valid = if extract { EXTRACT } else { CHAT };
                    return Err(unknown(method, name, valid));
                }
            };
            *slot = Some(value);
        }
        Ok(g)
    }

    fn chat(self, natives: Natives) -> PyResult<ChatOptions> {
        let py_object =
            |v: Option<Bound<'py, PyAny>>| v.filter(|v| !v.is_none()).map(Bound::unbind);
        Ok(ChatOptions {
            request: RequestOptions {
                system: scalar(self.system, "system")?,
                max_tokens: scalar(self.max_tokens, "max_tokens")?,
                prompt_cache: scalar(self.prompt_cache, "prompt_cache")?,
                temperature: natives.temperature,
                top_p: natives.top_p,
                stop: py_object(self.stop),
                tools: py_object(self.tools),
                tool_choice: py_object(self.tool_choice),
                extra_body: py_object(self.extra_body),
            },
            overrides: Overrides {
                retry: natives.retry,
                deadline: match self.deadline.filter(|v| !v.is_none()) {
                    None => None,
                    Some(v) => Some(v.extract::<Arg<f64>>()?),
                },
                retarget: None,
            },
        })
    }
}

/// The options pyo3 converted itself, raising its own errors (a `TypeError` for a str
/// temperature, with a note naming the option): read first, as pyo3 read them before the body.
struct Natives {
    temperature: Option<f64>,
    top_p: Option<f64>,
    retry: Option<Py<PyRetry>>,
}

impl Natives {
    fn read(g: &Given<'_>) -> PyResult<Self> {
        Ok(Self {
            temperature: native(g.temperature.as_ref(), "temperature", |v| v.extract())?,
            top_p: native(g.top_p.as_ref(), "top_p", |v| v.extract())?,
            retry: native(g.retry.as_ref(), "retry", |v| {
                v.extract().map_err(PyErr::from)
            })?,
        })
    }
}

/// An optional option read by [`Arg`]: a bad value is a `ConfigurationError` naming it.
fn scalar<T: Scalar>(value: Option<Bound<'_, PyAny>>, name: &str) -> PyResult<Option<T>> {
    match value.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => v.extract::<Arg<T>>()?.get(name).map(Some),
    }
}

/// An optional option converted the way pyo3 converts a parameter.
fn native<'py, T, E: Into<PyErr>>(
    value: Option<&Bound<'py, PyAny>>,
    name: &str,
    extract: impl FnOnce(&Bound<'py, PyAny>) -> Result<T, E>,
) -> PyResult<Option<T>> {
    match value.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => noted(v.py(), extract(v), name).map(Some),
    }
}

/// pyo3's error for a parameter it could not convert: the conversion's own exception, with a
/// note "while processing 'name'" (`pyo3::impl_::extract_argument::argument_extraction_error`,
/// which is not public API).
fn noted<T, E: Into<PyErr>>(py: Python<'_>, result: Result<T, E>, name: &str) -> PyResult<T> {
    result.map_err(|e| {
        let e: PyErr = e.into();
        // Python 3.10 has no add_note: the error goes without it, as pyo3's does.
        let _ = e.value(py).call_method1(
            intern!(py, "add_note"),
            (format!("while processing '{name}'"),),
        );
        e
    })
}

/// The `TypeError` of an unexpected keyword, worded as Python's own (3.13 and later also
/// suggest the closest name).
#[cold]
fn unknown(method: &str, name: &str, valid: &[&str]) -> PyErr {
    let mut message = format!("{method} got an unexpected keyword argument '{name}'");
    if let Some(close) = closest(name, valid) {
        message.push_str(&format!(". Did you mean '{close}'?"));
    }
    PyTypeError::new_err(message)
}

/// The valid name nearest to `name` (edits, a swap of two neighbours counting as one), if it is
/// near enough to be a typo: two edits, or a third of the valid name's length.
fn closest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    valid
        .iter()
        .map(|v| (strsim::damerau_levenshtein(&lower, v), *v))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_matched_to_the_option_it_misspells() {
        assert_eq!(closest("max_token", CHAT), Some("max_tokens"));
        assert_eq!(closest("temprature", CHAT), Some("temperature"));
        assert_eq!(closest("tempreature", CHAT), Some("temperature"));
        assert_eq!(closest("Max_Tokens", CHAT), Some("max_tokens"));
        assert_eq!(closest("max_retry", EXTRACT), Some("max_retries"));
        assert_eq!(
            closest("validation_contxt", EXTRACT),
            Some("validation_context")
        );
    }

    #[test]
    fn a_name_far_from_every_option_gets_no_suggestion() {
        assert_eq!(closest("timeout", CHAT), None);
        assert_eq!(closest("seed", CHAT), None);
        assert_eq!(closest("n", CHAT), None);
        assert_eq!(closest("response_format", EXTRACT), None);
    }

    #[test]
    fn only_the_methods_own_options_are_suggested() {
        assert_eq!(closest("mode", CHAT), None);
        assert_eq!(closest("tool", EXTRACT), None);
        assert_eq!(closest("tool", CHAT), Some("tools"));
    }
}
