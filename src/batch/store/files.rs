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
            write_file(&path, parts).map_err(|e| failed(&path, e))?;
            let mut start = 0;
            for part in parts {
                written.parts.push(Part {
                    remote: *remote,
                    start,
                    addr: part.as_ptr() as usize,
                    len: part.len(),
                });
                start += part.len();
            }
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

/// Write `parts` one after the other into a new file at `path`, synced.
///
/// On Linux without the page cache (`O_DIRECT`), through one reused aligned block: the file is
/// synced anyway and read again only by a resumed job, and a buffered write had the kernel
/// take a page of new memory for each 4 KB of it (on this kind of VM ~2-10 µs each): for a
/// 10,000-item job's 25 MB, 10-60 ms of the process's CPU (half of it, at worst), against
/// ~7 ms (a Python probe of the two ways). Where the file system refuses it (tmpfs, say), the
/// file is written the usual way.
fn write_file(path: &Path, parts: &[Bytes]) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    match write_direct(path, parts) {
        // EINVAL (tmpfs, FUSE, an alignment the device will not take) or EOPNOTSUPP.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
            ) => {}
        done => return done,
    }
    let mut file = std::fs::File::create(path)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_data()
}

/// Block size and alignment of a direct write: a multiple of any device's logical block.
#[cfg(target_os = "linux")]
const ALIGN: usize = 4096;
#[cfg(target_os = "linux")]
const BLOCK: usize = 256 * ALIGN;

/// [`write_file`] with `O_DIRECT`: `InvalidInput` or `Unsupported` where it is not supported.
#[cfg(target_os = "linux")]
fn write_direct(path: &Path, parts: &[Bytes]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    let mut space = vec![0u8; BLOCK + ALIGN];
    let at = space.as_ptr().align_offset(ALIGN).min(ALIGN);
    let block = space
        .get_mut(at..at + BLOCK)
        .ok_or(std::io::ErrorKind::InvalidInput)?;
    let (mut filled, mut total) = (0, 0);
    for part in parts {
        let mut rest = &part[..];
        while !rest.is_empty() {
            let n = rest.len().min(BLOCK - filled);
            block[filled..filled + n].copy_from_slice(&rest[..n]);
            (filled, rest, total) = (filled + n, &rest[n..], total + n);
            if filled == BLOCK {
                file.write_all(block)?;
                filled = 0;
            }
        }
    }
    if filled > 0 {
        // The last block padded to the alignment, and the file cut back to its length.
        let padded = filled.next_multiple_of(ALIGN);
        block[filled..padded].fill(0);
        file.write_all(&block[..padded])?;
        file.set_len(total as u64)?;
    }
    file.sync_data()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_results_file_holds_its_parts_whatever_their_sizes() {
        let dir = std::env::temp_dir().join(format!("llmrail-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let byte = |n: usize| u8::try_from(n % 251).unwrap();
        let part =
            |len: usize, from: usize| Bytes::from((from..from + len).map(byte).collect::<Vec<_>>());
        // Empty, shorter than a block's alignment, across blocks, and a block's size exactly.
        for sizes in [
            vec![],
            vec![0],
            vec![1],
            vec![4095, 2],
            vec![BLOCK_FOR_TEST, 3, 5000],
            vec![BLOCK_FOR_TEST],
        ] {
            let mut parts = Vec::new();
            let mut from = 0;
            for len in &sizes {
                parts.push(part(*len, from));
                from += len;
            }
            write_file(&path, &parts).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), parts.concat(), "{sizes:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    const BLOCK_FOR_TEST: usize = BLOCK;
    #[cfg(not(target_os = "linux"))]
    const BLOCK_FOR_TEST: usize = 1 << 20;
}
