//! `Prompts`, `Prompt` and `check_prompts`: conversion only; loading, checking and rendering live
//! in `crate::prompts`. A render returns the keyword arguments `Client.chat` takes.

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pythonize::pythonize;
use serde_json::Value;

use super::errors::to_py;
use super::exit::{self, FsPath};
use super::json;
use crate::error::LlmError;
use crate::prompts::{self, Library, Rendered, Vars};
use crate::resilience::fallback::Retarget;

/// The prompts of one folder, each file checked and compiled once.
#[pyclass(name = "Prompts", frozen, module = "llmrail._core")]
pub struct PyPrompts {
    inner: Arc<Library>,
}

#[pymethods]
impl PyPrompts {
    #[new]
    #[pyo3(signature = (path, *, env=None, reload=false))]
    fn new(py: Python<'_>, path: FsPath, env: Option<String>, reload: bool) -> PyResult<Self> {
        let lib = exit::detach(py, || Library::load(&path.0, env, reload)).map_err(to_py)?;
        for w in lib.warnings() {
            tracing::warn!("{w}");
        }
        Ok(Self {
            inner: Arc::new(lib),
        })
    }

    /// `name` rendered for `model` ("provider/model"): `system`, `messages` and the options the
    /// prompt sets, as keyword arguments of `Client.chat`.
    #[pyo3(signature = (name, variables=None, *, model=None))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        variables: Option<&Bound<'py, PyAny>>,
        model: Option<&str>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let vars = variables_of(variables)?;
        let r = self.inner.render_vars(name, &vars, model).map_err(to_py)?;
        rendered_to_py(py, &r)
    }

    fn __getitem__(&self, name: &str) -> PyResult<PyPrompt> {
        self.inner.get(name).map_err(to_py)?;
        Ok(PyPrompt {
            library: self.inner.clone(),
            name: name.to_string(),
        })
    }

    fn __contains__(&self, name: &str) -> bool {
        self.inner.names().iter().any(|n| n == name)
    }

    fn __len__(&self) -> usize {
        self.inner.names().len()
    }

    /// The prompts' names, sorted.
    fn names(&self) -> Vec<String> {
        self.inner.names()
    }

    /// The environment whose overrides apply (`env=`, else `LLMRAIL_ENV`).
    #[getter]
    fn env(&self) -> Option<&str> {
        self.inner.env()
    }

    /// The load's warnings, "file:line: warning: message".
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner
            .warnings()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "Prompts({:?}, {} prompts)",
            self.inner.dir(),
            self.inner.names().len()
        )
    }
}

/// One prompt of a `Prompts`; with `reload=True` it follows its file's changes.
#[pyclass(name = "Prompt", frozen, module = "llmrail._core")]
pub struct PyPrompt {
    library: Arc<Library>,
    name: String,
}

#[pymethods]
impl PyPrompt {
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn description(&self) -> PyResult<Option<String>> {
        Ok(self
            .library
            .get(&self.name)
            .map_err(to_py)?
            .description
            .clone())
    }

    /// The base `response_schema` (JSON Schema), if the file has one.
    #[getter]
    fn response_schema(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let r = self.library.render_schema(&self.name).map_err(to_py)?;
        r.map(|v| value_to_py(py, &v)).transpose()
    }

    /// The same as `Prompts.render(name, ...)`.
    #[pyo3(signature = (variables=None, *, model=None))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        variables: Option<&Bound<'py, PyAny>>,
        model: Option<&str>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let vars = variables_of(variables)?;
        let r = self
            .library
            .render_vars(&self.name, &vars, model)
            .map_err(to_py)?;
        rendered_to_py(py, &r)
    }

    fn __repr__(&self) -> String {
        format!("Prompt({:?})", self.name)
    }
}

/// Every problem of every prompt file in `path`: (file, line, "error" or "warning", message).
#[pyfunction]
pub fn check_prompts(
    py: Python<'_>,
    path: FsPath,
) -> PyResult<Vec<(String, usize, &'static str, String)>> {
    let found = exit::detach(py, || prompts::check(&path.0)).map_err(to_py)?;
    Ok(found
        .into_iter()
        .map(|p| {
            let level = if p.warning { "warning" } else { "error" };
            (p.file.display().to_string(), p.line, level, p.message)
        })
        .collect())
}

/// The variables as template values, walked straight from Python (a render's main cost was
/// converting them twice, through JSON). The walk takes what `json::to_value` takes the same way
/// (str, bool, int, float, None, dict with str keys, list, tuple, subclasses included); anything
/// else, or anything JSON refuses (NaN, a lone surrogate, an int beyond 64 bits, deep nesting),
/// goes through `json::to_value`, which converts a mapping or names the problem with its path.
fn variables_of(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vars> {
    let Some(o) = obj else {
        return Ok(Vars::default());
    };
    if let Ok(d) = o.cast::<PyDict>() {
        if let Some(pairs) = fast_pairs(d, 1) {
            return Ok(Vars(pairs));
        }
    }
    match json::to_value(o, "variables")? {
        Value::Object(m) => Ok(Vars::from(m)),
        _ => Err(to_py(LlmError::config(
            "variables must be a dict of names to values",
        ))),
    }
}

/// A dict's (name, value) pairs, or `None` to leave it to the JSON walk. Names go straight to
/// template strings: one copy each, none for a short one (minijinja keeps those inline).
fn fast_pairs(
    d: &Bound<'_, PyDict>,
    depth: usize,
) -> Option<Vec<(minijinja::Value, minijinja::Value)>> {
    let mut out = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        let key = k.cast::<PyString>().ok()?.to_str().ok()?;
        out.push((minijinja::Value::from(key), fast(&v, depth)?));
    }
    Some(out)
}

/// One value inside a container at `depth`. The built-in types themselves first, each found by
/// one comparison of its type (what callers pass nearly always); then their subclasses, in
/// `json.rs`'s order of checks.
fn fast(obj: &Bound<'_, PyAny>, depth: usize) -> Option<minijinja::Value> {
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return s.to_str().ok().map(minijinja::Value::from);
    }
    if let Ok(b) = obj.cast_exact::<PyBool>() {
        return Some(minijinja::Value::from(b.is_true()));
    }
    if obj.is_exact_instance_of::<PyInt>() || obj.is_exact_instance_of::<PyFloat>() {
        return number(obj);
    }
    if obj.is_none() {
        return Some(minijinja::Value::from(()));
    }
    if depth + 1 < json::MAX_DEPTH {
        if let Ok(d) = obj.cast_exact::<PyDict>() {
            return fast_pairs(d, depth + 1).map(prompts::small_map);
        }
        if let Ok(l) = obj.cast_exact::<PyList>() {
            let items: Option<Vec<_>> = l.iter().map(|v| fast(&v, depth + 1)).collect();
            return items.map(minijinja::Value::from);
        }
    }
    subclass(obj, depth)
}

/// An int or a float (or a subclass of one); `None` for what JSON refuses (NaN, infinities,
/// an int beyond 64 bits).
fn number(obj: &Bound<'_, PyAny>) -> Option<minijinja::Value> {
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(n) = i.extract::<i64>() {
            return Some(minijinja::Value::from(n));
        }
        return i.extract::<u64>().ok().map(minijinja::Value::from);
    }
    let f = obj.cast::<PyFloat>().ok()?.value();
    f.is_finite().then(|| minijinja::Value::from(f))
}

/// `fast` for what is not a built-in type itself (a tuple, a subclass of str, int, dict, ...),
/// or is nested too deep (left to the JSON walk, which names the problem).
fn subclass(obj: &Bound<'_, PyAny>, depth: usize) -> Option<minijinja::Value> {
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_str().ok().map(minijinja::Value::from);
    }
    if obj.is_instance_of::<PyBool>() {
        return obj.is_truthy().ok().map(minijinja::Value::from);
    }
    if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>() {
        return number(obj);
    }
    if depth + 1 >= json::MAX_DEPTH {
        return None;
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return fast_pairs(d, depth + 1).map(prompts::small_map);
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let items: Option<Vec<_>> = l.iter().map(|v| fast(&v, depth + 1)).collect();
        return items.map(minijinja::Value::from);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let items: Option<Vec<_>> = t.iter().map(|v| fast(&v, depth + 1)).collect();
        return items.map(minijinja::Value::from);
    }
    None
}

fn value_to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    Ok(pythonize(py, v)?.unbind())
}

fn rendered_to_py<'py>(py: Python<'py>, r: &Rendered) -> PyResult<Bound<'py, PyDict>> {
    // Interned keys: a render builds these dicts every time, the key strings only once.
    let out = PyDict::new(py);
    if let Some(s) = &r.system {
        out.set_item(intern!(py, "system"), s)?;
    }
    let messages = PyList::empty(py);
    for (role, content) in &r.messages {
        let m = PyDict::new(py);
        m.set_item(intern!(py, "role"), role)?;
        m.set_item(intern!(py, "content"), content)?;
        messages.append(m)?;
    }
    out.set_item(intern!(py, "messages"), messages)?;
    if let Some(n) = r.max_tokens {
        out.set_item(intern!(py, "max_tokens"), n)?;
    }
    if let Some(t) = r.temperature {
        out.set_item(intern!(py, "temperature"), t)?;
    }
    if let Some(c) = &r.prompt_cache {
        out.set_item(intern!(py, "prompt_cache"), value_to_py(py, c)?)?;
    }
    Ok(out)
}

/// The messages, the options, and how to render again for each fallback.
pub(crate) type Prompted<'py> = (Py<PyAny>, Option<Bound<'py, PyDict>>, Option<Retarget>);

/// `chat(prompt=..., variables=...)`: the messages, and the options with what the prompt sets for
/// the client's provider and model (an option the caller passed wins). Exactly one of `messages`
/// and `prompt` is given.
pub(crate) fn prompted<'py>(
    py: Python<'py>,
    target: &str,
    messages: Option<Py<PyAny>>,
    prompt: Option<PyRef<'py, PyPrompt>>,
    variables: Option<&Bound<'py, PyAny>>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Prompted<'py>> {
    let prompt = match (messages, prompt) {
        (Some(m), None) if variables.is_none() => return Ok((m, options.cloned(), None)),
        (Some(_), None) => return Err(to_py(LlmError::config("variables= goes with prompt="))),
        (Some(_), Some(_)) => {
            return Err(to_py(LlmError::config(
                "pass messages or prompt=, not both",
            )))
        }
        (None, None) => return Err(to_py(LlmError::config("messages (or prompt=) is required"))),
        (None, Some(p)) => p,
    };
    let vars = variables_of(variables)?;
    let r = prompt
        .library
        .render_vars(&prompt.name, &vars, Some(target))
        .map_err(to_py)?;
    let given = |k: &str| options.is_some_and(|o| o.contains(k).unwrap_or(false));
    let kept = prompts::Kept {
        system: given("system"),
        max_tokens: given("max_tokens"),
        temperature: given("temperature"),
    };
    let again = prompts::retarget(prompt.library.clone(), prompt.name.clone(), vars, kept);
    let rendered = rendered_to_py(py, &r)?;
    let messages = rendered.get_item("messages")?.map(Bound::unbind);
    rendered.del_item("messages")?;
    if let Some(given) = options {
        rendered.update(given.as_mapping())?;
    }
    let messages =
        messages.ok_or_else(|| to_py(LlmError::config("rendered prompt has no messages")))?;
    Ok((messages, Some(rendered), Some(again)))
}

/// `extract(prompt=...)` without a response model validates against the prompt's
/// `response_schema`.
pub(crate) fn schema_of(
    py: Python<'_>,
    response_model: Option<Py<PyAny>>,
    prompt: Option<&PyPrompt>,
) -> PyResult<Py<PyAny>> {
    if let Some(m) = response_model {
        return Ok(m);
    }
    let schema = match prompt {
        Some(p) => p.library.render_schema(&p.name).map_err(to_py)?,
        None => return Err(to_py(LlmError::config("response_model is required"))),
    };
    match schema {
        Some(s) => value_to_py(py, &s),
        None => Err(to_py(LlmError::config(format!(
            "prompt '{}' has no response_schema: pass response_model",
            prompt.map_or("", |p| p.name.as_str())
        )))),
    }
}
