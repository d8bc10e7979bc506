//! `llmrail.BatchStore`: the jobs kept in a store file, listed and counted; conversion around
//! `crate::batch::Store` only. The batch CLI (`python -m llmrail batch ...`) prints what these
//! return.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::batch::{counts_dict, stats_dict, store_path};
use super::errors::to_py;
use super::exit::FsPath;
use crate::batch::{JobSummary, Store};

fn summary_dict<'py>(py: Python<'py>, job: &JobSummary) -> PyResult<Bound<'py, PyDict>> {
    let info = &job.info;
    let d = PyDict::new(py);
    d.set_item("id", &info.id)?;
    d.set_item("provider", &info.provider)?;
    d.set_item("model", &info.model)?;
    d.set_item("status", info.status.as_str())?;
    d.set_item("mode", info.mode.as_str())?;
    d.set_item("counts", counts_dict(py, &info.counts)?)?;
    d.set_item("created_at", info.created_at)?;
    d.set_item("expires_at", info.expires_at)?;
    d.set_item("provider_batch_ids", &job.provider_batch_ids)?;
    Ok(d)
}

/// The batch jobs kept in one store file.
#[pyclass(name = "BatchStore", frozen, module = "llmrail._core")]
pub struct PyBatchStore {
    inner: Store,
}

#[pymethods]
impl PyBatchStore {
    /// Open the store at `path` (default: `llmrail/batches.sqlite3` in the user cache directory).
    #[new]
    #[pyo3(signature = (path=None))]
    fn new(py: Python<'_>, path: Option<FsPath>) -> PyResult<Self> {
        let path = store_path(path.map(PathBuf::from)).map_err(to_py)?;
        let inner = super::exit::detach(py, || Store::open(&path)).map_err(to_py)?;
        Ok(Self { inner })
    }

    #[getter]
    fn path<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // Making a `pathlib.Path` runs Python code below this frame: it passes the exit gate.
        super::exit::callout(|| self.inner.path().into_pyobject(py))
            .ok_or_else(super::exit::ending)?
    }

    /// Every job kept here, oldest first: id, provider, model, status, mode, counts, times and
    /// provider batch ids.
    fn jobs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let jobs = super::exit::detach(py, || self.inner.jobs()).map_err(to_py)?;
        let list = PyList::empty(py);
        for job in &jobs {
            list.append(summary_dict(py, job)?)?;
        }
        Ok(list)
    }

    /// The jobs kept here by status, their items by state, and their provider batches.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = super::exit::detach(py, || self.inner.stats()).map_err(to_py)?;
        stats_dict(py, &stats)
    }

    fn __repr__(&self) -> String {
        format!("BatchStore({:?})", self.inner.path().display().to_string())
    }
}
