//! The results files beside a batch store (`<store>-results/`): each provider batch's downloads
//! written once, as they came, and an answer found again as an offset and a length in them
//! (why: `store.rs`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{LlmError, Result};

/// An answer kept in a results file: the provider batch's index, the offset and the length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct At(usize, usize, usize);

pub(super) struct ResultsFiles {
    dir: PathBuf,
}

impl ResultsFiles {
    /// Beside the store at `store`, as SQLite's own `-wal` is.
    pub(super) fn beside(store: &Path) -> Self {
        let mut dir = store.as_os_str().to_owned();
        dir.push("-results");
        Self {
            dir: PathBuf::from(dir),
        }
    }

    /// Named by the job's number in the store: a job id may hold any character, a file name
    /// may not.
    fn path(&self, job: i64, remote: usize) -> PathBuf {
        self.dir.join(format!("job{job}-batch{remote}"))
    }

    /// Write each provider batch's downloads into one file of its own, synced, and say where
    /// each download starts in it.
    pub(super) fn write(&self, job: i64, downloads: &[(usize, Vec<Bytes>)]) -> Result<Written> {
        let failed = |what: &Path, e: std::io::Error| {
            LlmError::config(format!(
                "cannot write the batch results file {}: {e}",
                what.display()
            ))
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| failed(&self.dir, e))?;
        let mut written = Written::default();
        for (remote, parts) in downloads {
            let path = self.path(job, *remote);
            let mut file = std::fs::File::create(&path).map_err(|e| failed(&path, e))?;
            let mut start = 0;
            for part in parts {
                file.write_all(part).map_err(|e| failed(&path, e))?;
                written.parts.push(Part {
                    remote: *remote,
                    start,
                    addr: part.as_ptr() as usize,
                    len: part.len(),
                });
                start += part.len();
            }
            file.sync_data().map_err(|e| failed(&path, e))?;
        }
        Ok(written)
    }

    /// The bytes `at` points to in job `id`'s files (its number `job`), reading each file once.
    pub(super) fn read(
        &self,
        job: i64,
        id: &str,
        at: At,
        cache: &mut HashMap<usize, Bytes>,
    ) -> Result<Bytes> {
        let At(remote, start, len) = at;
        let file = match cache.entry(remote) {
            std::collections::hash_map::Entry::Occupied(kept) => kept.get().clone(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let path = self.path(job, remote);
                let bytes = std::fs::read(&path).map_err(|e| {
                    LlmError::config(format!(
                        "batch job {id:?}: cannot read its results file {}: {e}",
                        path.display()
                    ))
                })?;
                slot.insert(Bytes::from(bytes)).clone()
            }
        };
        if start.checked_add(len).is_none_or(|end| end > file.len()) {
            return Err(LlmError::invalid_response(format!(
                "batch job {id:?}: its results file for provider batch {remote} is shorter \
                 than the store says ({} bytes)",
                file.len()
            )));
        }
        Ok(file.slice(start..start + len))
    }
}

/// One download as written in a results file.
struct Part {
    remote: usize,
    start: usize,
    /// Where its bytes are in memory, to tell which answers are slices of it.
    addr: usize,
    len: usize,
}

/// The downloads a save wrote.
#[derive(Default)]
pub(super) struct Written {
    parts: Vec<Part>,
}

impl Written {
    /// Where `body` is in the files, when it is a slice of one of their downloads.
    pub(super) fn find(&self, body: &Bytes) -> Option<At> {
        let addr = body.as_ptr() as usize;
        self.parts.iter().find_map(|p| {
            let off = addr.checked_sub(p.addr)?;
            (off + body.len() <= p.len && !body.is_empty()).then_some(At(
                p.remote,
                p.start + off,
                body.len(),
            ))
        })
    }
}
