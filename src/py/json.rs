//! Python objects -> `serde_json::Value`, refusing what JSON cannot hold, as `json.dumps` does.
//!
//! Every dict or list a caller hands over (`messages`, `tools`, `tool_choice`, `stop`,
//! `extra_body`, a schema, a mock reply) comes through here before serde sees it. pythonize
//! recursed without a limit, so a dict that contains itself, or one nested 100,000 deep, ran the
//! thread out of stack and killed the process. Here nesting stops at [`MAX_DEPTH`]; a
//! circular reference is told apart from plain depth only then, from the chain of containers
//! the error collects on its way out, so a value that converts pays one counter per
//! container and nothing else. NaN and infinities (which `serde_json` would send as `null`),
//! lone surrogates (which UTF-8 cannot encode) and integers beyond 64 bits are refused with
//! the path to them, e.g. `extra_body["a"]["b"]`.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMapping,
    PySequence, PySet, PyString, PyTuple,
};
use serde_json::{Map, Number, Value};

use super::errors::config;

/// Containers inside containers, the outermost counting as 1. Real payloads (a JSON Schema,
/// a nested tool argument) stay far below; servers parse with limits of their own
/// (`serde_json`'s is 128) and the request body adds a few levels above a tool's schema
/// (`tools[0].function.parameters`), so a value this deep still parses at the other end.
pub const MAX_DEPTH: usize = 100;

/// `obj` as JSON; `what` names the argument in errors ("extra_body", "messages[2]").
pub fn to_value(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    walk(obj, 0).map_err(|f| (*f).into_err(what, obj.py()))
}

/// `obj` as a serde type, through [`to_value`]; serde's own complaints are prefixed with
/// `what`.
pub fn parse<T: serde::de::DeserializeOwned>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    let value = to_value(obj, what)?;
    serde_json::from_value(value).map_err(|e| config(format!("{what} is not valid: {e}")))
}

/// A message for the text of a `UnicodeEncodeError` raised on a Python string.
pub fn bad_text(what: &str, e: &PyErr, py: Python<'_>) -> PyErr {
    let err = config(format!(
        "{what} cannot be sent as UTF-8 ({e}): it holds a lone surrogate, usually from bytes \
         decoded with errors=\"surrogateescape\"; decode them properly or with errors=\"replace\"",
        e = e.value(py)
    ));
    err.set_cause(py, Some(e.clone_ref(py)));
    err
}

enum Problem {
    TooDeep,
    NotFinite(f64),
    BigInt,
    Text(PyErr),
    KeyText(PyErr),
    KeyType(String),
    Bytes,
    Unsupported(String),
    Python(PyErr),
}

enum Step {
    Key(String),
    Index(usize),
}

/// Why a value failed and where: the containers from the failing one out to the root, each
/// with the step taken inside it.
struct Failure<'py> {
    problem: Problem,
    /// For `TooDeep`: the container that was one level too many.
    at: Option<Bound<'py, PyAny>>,
    trail: Vec<(Bound<'py, PyAny>, Step)>,
}

type Walked<'py> = Result<Value, Box<Failure<'py>>>;

fn fail<'py>(problem: Problem) -> Box<Failure<'py>> {
    Box::new(Failure {
        problem,
        at: None,
        trail: Vec::new(),
    })
}

impl From<PyErr> for Box<Failure<'_>> {
    fn from(e: PyErr) -> Self {
        fail(Problem::Python(e))
    }
}

fn walk<'py>(obj: &Bound<'py, PyAny>, depth: usize) -> Walked<'py> {
    // Cheapest checks first: exact types of the common JSON shapes.
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return match s.to_str() {
            Ok(s) => Ok(Value::String(s.to_owned())),
            Err(e) => Err(fail(Problem::Text(e))),
        };
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.is_truthy()?));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        return int(i);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let f = f.value();
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| fail(Problem::NotFinite(f)));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let depth = enter(obj, depth)?;
        let mut map = Map::new();
        for (k, v) in d.iter() {
            member(obj, &mut map, &k, &v, depth)?;
        }
        return Ok(Value::Object(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let depth = enter(obj, depth)?;
        return items(obj, l.iter(), l.len(), depth);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let depth = enter(obj, depth)?;
        return items(obj, t.iter(), t.len(), depth);
    }
    // The rest goes through isinstance checks against the collections.abc classes.
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        return Err(fail(Problem::Bytes));
    }
    if let Ok(m) = obj.cast::<PyMapping>() {
        let depth = enter(obj, depth)?;
        let mut map = Map::new();
        for pair in m.items()?.iter() {
            let (k, v): (Bound<'py, PyAny>, Bound<'py, PyAny>) = pair.extract()?;
            member(obj, &mut map, &k, &v, depth)?;
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PySet>() || obj.is_instance_of::<PyFrozenSet>() {
        let depth = enter(obj, depth)?;
        let all: Vec<Bound<'py, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
        let n = all.len();
        return items(obj, all.into_iter(), n, depth);
    }
    if let Ok(seq) = obj.cast::<PySequence>() {
        let depth = enter(obj, depth)?;
        let all: Vec<Bound<'py, PyAny>> = seq.try_iter()?.collect::<PyResult<_>>()?;
        let n = all.len();
        return items(obj, all.into_iter(), n, depth);
    }
    let name = obj
        .get_type()
        .qualname()
        .map_or_else(|_| "object".to_string(), |n| n.to_string());
    Err(fail(Problem::Unsupported(name)))
}

/// One more level of nesting, or the error when it is one too many.
fn enter<'py>(obj: &Bound<'py, PyAny>, depth: usize) -> Result<usize, Box<Failure<'py>>> {
    if depth >= MAX_DEPTH {
        let mut f = fail(Problem::TooDeep);
        f.at = Some(obj.clone());
        return Err(f);
    }
    Ok(depth + 1)
}

fn int<'py>(i: &Bound<'py, PyInt>) -> Walked<'py> {
    if let Ok(n) = i.extract::<i64>() {
        return Ok(Value::from(n));
    }
    match i.extract::<u64>() {
        Ok(n) => Ok(Value::from(n)),
        Err(_) => Err(fail(Problem::BigInt)),
    }
}

fn member<'py>(
    container: &Bound<'py, PyAny>,
    map: &mut Map<String, Value>,
    k: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    depth: usize,
) -> Result<(), Box<Failure<'py>>> {
    let Ok(key) = k.cast::<PyString>() else {
        let shown = k.repr().map(|r| r.to_string()).unwrap_or_default();
        return Err(fail(Problem::KeyType(shown)));
    };
    let key = match key.to_str() {
        Ok(key) => key,
        Err(e) => return Err(fail(Problem::KeyText(e))),
    };
    match walk(v, depth) {
        Ok(value) => {
            map.insert(key.to_owned(), value);
            Ok(())
        }
        Err(mut f) => {
            f.trail.push((container.clone(), Step::Key(key.to_owned())));
            Err(f)
        }
    }
}

fn items<'py>(
    container: &Bound<'py, PyAny>,
    iter: impl Iterator<Item = Bound<'py, PyAny>>,
    len: usize,
    depth: usize,
) -> Walked<'py> {
    let mut out = Vec::with_capacity(len);
    for (i, item) in iter.enumerate() {
        match walk(&item, depth) {
            Ok(v) => out.push(v),
            Err(mut f) => {
                f.trail.push((container.clone(), Step::Index(i)));
                return Err(f);
            }
        }
    }
    Ok(Value::Array(out))
}

impl Failure<'_> {
    fn into_err(mut self, what: &str, py: Python<'_>) -> PyErr {
        self.trail.reverse();
        let path = |n: usize| format!("{what}{}", short_path(&self.trail[..n]));
        let here = path(self.trail.len());
        match self.problem {
            Problem::TooDeep => match self.cycle() {
                Some((first, again)) => config(format!(
                    "{} is {} again: a circular reference, which JSON cannot hold (json.dumps \
                     refuses it too); pass a copy without the cycle",
                    path(again),
                    path(first)
                )),
                None => config(format!(
                    "{here} nests deeper than {MAX_DEPTH} levels of dicts and lists; no real \
                     request needs that many, so flatten it"
                )),
            },
            Problem::NotFinite(f) => config(format!(
                "{here} is {}, which JSON cannot hold (it would be sent as null); use a finite \
                 number or None",
                py_float(f)
            )),
            Problem::BigInt => config(format!(
                "{here} is an integer beyond 64 bits, which JSON parsers do not read exactly; \
                 send it as a string"
            )),
            Problem::Text(e) => bad_text(&here, &e, py),
            Problem::KeyText(e) => bad_text(&format!("a key in {here}"), &e, py),
            Problem::KeyType(k) => config(format!(
                "{here} has the key {k}: JSON keys are strings, so convert it with str()"
            )),
            Problem::Bytes => config(format!(
                "{here} is bytes, which JSON cannot hold: decode them, or base64 them into a str"
            )),
            Problem::Unsupported(t) => {
                let a = if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                config(format!(
                    "{here} is {a} {t}, not JSON: use dicts, lists, str, int, float, bool and None"
                ))
            }
            // The caller's own Mapping or Sequence raised: their exception, unchanged.
            Problem::Python(e) => e,
        }
    }

    /// `(i, j)`, i < j, when the container reached after `j` steps is the very object reached
    /// after `i` steps: the first repeat on the way down.
    fn cycle(&self) -> Option<(usize, usize)> {
        let chain: Vec<&Bound<'_, PyAny>> = self
            .trail
            .iter()
            .map(|(c, _)| c)
            .chain(self.at.as_ref())
            .collect();
        (1..chain.len()).find_map(|j| (0..j).find(|&i| chain[i].is(chain[j])).map(|i| (i, j)))
    }
}

/// A float that is not finite as Python prints it.
pub fn py_float(f: f64) -> &'static str {
    match f {
        f if f.is_nan() => "nan",
        f if f > 0.0 => "inf",
        _ => "-inf",
    }
}

/// `["a"][0]["b"]`, shortened to its first four and last two steps when longer.
fn short_path(steps: &[(Bound<'_, PyAny>, Step)]) -> String {
    let show = |s: &Step| match s {
        Step::Index(i) => format!("[{i}]"),
        Step::Key(k) if k.chars().count() > 40 => {
            let cut: String = k.chars().take(37).collect();
            format!("[{:?}...]", cut)
        }
        Step::Key(k) => format!("[{k:?}]"),
    };
    if steps.len() <= 8 {
        return steps.iter().map(|(_, s)| show(s)).collect();
    }
    let head: String = steps[..4].iter().map(|(_, s)| show(s)).collect();
    let tail: String = steps[steps.len() - 2..]
        .iter()
        .map(|(_, s)| show(s))
        .collect();
    format!("{head}...{tail}")
}
