//! Scalar arguments from Python, read so that a bad one is a `ConfigurationError` naming it.
//!
//! pyo3 extracts a typed argument before the method runs and raises what the conversion raised:
//! `OverflowError` for `max_tokens=2**40` or a negative count, `UnicodeEncodeError` for
//! `system="\ud800"`; its argument-error wrapper only rewraps `TypeError`s. An [`Arg<T>`]
//! parameter never fails to extract: it holds the value, or a description of what was passed,
//! and [`Arg::get`] turns the latter into the error with the argument's name. The extraction is
//! the one pyo3 would have done, so a good argument costs nothing more (chat is benchmarked).

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use super::errors::config;

/// An argument as passed: its value, or what it was instead (for the message).
pub struct Arg<T>(Result<T, String>);

impl<T> Arg<T> {
    /// A default value, for `#[pyo3(signature = (x=Arg::new(4)))]`.
    pub const fn new(value: T) -> Self {
        Self(Ok(value))
    }
}

impl<T: Scalar> Arg<T> {
    /// The value, or a `ConfigurationError`: "`name` must be <what>, got <what it was>".
    pub fn get(self, name: &str) -> PyResult<T> {
        self.0
            .map_err(|got| config(format!("{name} must be {}, got {got}", T::EXPECTED)))
    }
}

/// An optional argument's value (`None` when not given or given as `None`).
pub fn opt<T: Scalar>(arg: Option<Arg<T>>, name: &str) -> PyResult<Option<T>> {
    arg.map(|a| a.get(name)).transpose()
}

/// A Rust type read from one Python argument.
pub trait Scalar: Sized {
    /// What the argument must be, for the error message.
    const EXPECTED: &'static str;
    fn read(obj: &Bound<'_, PyAny>) -> PyResult<Self>;
}

impl Scalar for u32 {
    const EXPECTED: &'static str = "a whole number from 0 to 4294967295";
    fn read(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        obj.extract()
    }
}

impl Scalar for u64 {
    const EXPECTED: &'static str = "a whole number from 0 to 18446744073709551615";
    fn read(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        obj.extract()
    }
}

/// A size or count that must be at least 1 (`max_response_bytes`); a bool is not a number here.
impl Scalar for std::num::NonZeroUsize {
    const EXPECTED: &'static str = "a positive whole number";
    fn read(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyBool>() {
            return Err(pyo3::exceptions::PyTypeError::new_err("a bool"));
        }
        obj.extract()
    }
}

impl Scalar for i64 {
    const EXPECTED: &'static str =
        "a whole number from -9223372036854775808 to 9223372036854775807";
    fn read(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        obj.extract()
    }
}

impl Scalar for f64 {
    const EXPECTED: &'static str = "a number";
    fn read(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        obj.extract()
    }
}

impl Scalar for String {
    const EXPECTED: &'static str = "a str of valid Unicode text (no lone surrogates)";
    fn read(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        obj.extract()
    }
}

impl Scalar for Vec<(String, String)> {
    const EXPECTED: &'static str = "a list of (name, value) pairs of str";
    fn read(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        obj.extract()
    }
}

impl<'a, 'py, T: Scalar> FromPyObject<'a, 'py> for Arg<T> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Self(T::read(&obj).map_err(|_| described(&obj))))
    }
}

/// What was passed, for a message: numbers as written, strings by kind only (the argument may
/// be a key), anything else by type.
fn described(obj: &Bound<'_, PyAny>) -> String {
    const SHOWN: usize = 40;
    if let Ok(s) = obj.cast::<PyString>() {
        return if s.to_str().is_err() {
            "a str with a lone surrogate, which UTF-8 cannot encode".to_string()
        } else {
            "a str".to_string()
        };
    }
    let number = obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>();
    if number && !obj.is_instance_of::<PyBool>() {
        // repr of an int past Python's digit limit raises; say so instead.
        return match obj.repr() {
            Ok(r) => {
                let r = r.to_string();
                match r.char_indices().nth(SHOWN) {
                    Some((cut, _)) => format!("{}… ({} digits)", &r[..cut], r.len()),
                    None => r,
                }
            }
            Err(_) => "an int too large to print".to_string(),
        };
    }
    let kind = obj
        .get_type()
        .name()
        .map_or_else(|_| "object".to_string(), |n| n.to_string());
    format!("a {kind}")
}
