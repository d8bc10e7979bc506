//! `llmrail._core.Cassette`: argument conversion around `crate::replay::Session`.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;

use super::arg::Arg;
use super::errors::{config, to_py};
use super::exit::{self, FsPath};
use crate::replay::matcher::Matcher;
use crate::replay::scrub::Scrubber;
use crate::replay::{self, Mode, Options, Session};

/// A loaded cassette; `activate()` routes every request of the process through it.
#[pyclass(name = "Cassette", frozen, module = "llmrail._core")]
pub struct PyCassette {
    inner: Arc<Session>,
}

#[pymethods]
impl PyCassette {
    #[new]
    #[pyo3(
        signature = (path, *, mode=None, match_on=None, ignore_fields=Vec::new(), ignore_query=Vec::new(), scrub_headers=Vec::new(), scrub_query=Vec::new(), scrub_fields=Vec::new(), allow_playback_repeats=false, pace=Arg::new(0.0), extra_cassettes=Vec::new()),
        text_signature = "(path, *, mode=None, match_on=None, ignore_fields=(), ignore_query=(), scrub_headers=(), scrub_query=(), scrub_fields=(), allow_playback_repeats=False, pace=0.0, extra_cassettes=())"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: FsPath,
        mode: Option<String>,
        match_on: Option<Vec<String>>,
        ignore_fields: Vec<String>,
        ignore_query: Vec<String>,
        scrub_headers: Vec<String>,
        scrub_query: Vec<String>,
        scrub_fields: Vec<String>,
        allow_playback_repeats: bool,
        pace: Arg<f64>,
        extra_cassettes: Vec<FsPath>,
    ) -> PyResult<Self> {
        let pace = pace.get("pace")?;
        if !(pace.is_finite() && pace >= 0.0) {
            return Err(config(format!("pace must be 0 or more, got {pace}")));
        }
        let matcher = match match_on {
            Some(on) => Matcher::new(&on, &ignore_fields, &ignore_query),
            None => Matcher::new(
                &["method".into(), "uri".into(), "body".into()],
                &ignore_fields,
                &ignore_query,
            ),
        }
        .map_err(to_py)?;
        let opts = Options {
            mode: mode
                .as_deref()
                .map(Mode::parse)
                .transpose()
                .map_err(to_py)?,
            matcher,
            scrubber: Scrubber::new(&scrub_headers, &scrub_query, &scrub_fields),
            allow_playback_repeats,
            pace,
            extra_cassettes: extra_cassettes.into_iter().map(PathBuf::from).collect(),
        };
        let session = exit::detach(py, || Session::open(path, opts)).map_err(to_py)?;
        Ok(Self {
            inner: Arc::new(session),
        })
    }

    /// Route every request of this process through this cassette (innermost wins).
    fn activate(&self) {
        replay::activate(self.inner.clone());
    }

    /// Stop routing through it and write what was recorded; says whether the file was written.
    fn deactivate(&self, py: Python<'_>) -> PyResult<bool> {
        replay::deactivate(&self.inner);
        exit::detach(py, || self.inner.save()).map_err(to_py)
    }

    #[getter]
    fn path(&self) -> String {
        self.inner.path().display().to_string()
    }

    /// The record mode in force (the default resolved).
    #[getter]
    fn mode(&self) -> &'static str {
        self.inner.mode().as_str()
    }

    /// Interactions loaded from the file.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Loaded interactions replayed so far.
    #[getter]
    fn play_count(&self) -> usize {
        self.inner.played()
    }

    /// Interactions recorded since the cassette was opened, once the streams still being read
    /// for their end are done. The GIL is released meanwhile: the runtime's worker may need it
    /// (to wake an asyncio task) before it gets to read those ends; held, every such wait ran
    /// to its limit (2.5 s) and recorded nothing.
    #[getter]
    fn record_count(&self, py: Python<'_>) -> usize {
        exit::detach(py, || self.inner.recorded())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Cassette({:?}, mode={:?}, interactions={}, played={}, recorded={})",
            self.path(),
            self.mode(),
            self.inner.len(),
            self.inner.played(),
            self.record_count(py)
        )
    }
}
