//! Saving a cassette is a read-merge-write under an exclusive lock, so two processes recording
//! into one cassette (pytest-xdist workers, two test runs) both keep what they recorded; without
//! it the last to close would silently overwrite the other.
//!
//! The lock is a separate file: the cassette itself is replaced by an atomic rename, and a lock
//! on a file that is renamed over guards nothing. It lives in the temp folder, named after the
//! cassette folder's real path, so users' cassette folders hold only cassettes, and it is left
//! in place: deleting it would let a process that opened the old one and one that created a new
//! one both hold "the" lock. One lock per folder: saves take milliseconds.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{LlmError, Result};

/// A save holds the lock for milliseconds; this long means the holder is stuck, and an error
/// saying so is better than a test run that hangs.
const PATIENCE: Duration = Duration::from_secs(60);

/// Held while a cassette is read and rewritten; dropping it (closing the file) unlocks.
#[derive(Debug)]
pub struct Guard {
    _file: File,
}

/// Take the lock of the folder `cassette` is in, waiting for another process to finish saving.
pub fn exclusive(cassette: &Path) -> Result<Guard> {
    let fail = |what: &Path, e: std::io::Error| {
        LlmError::config(format!(
            "cannot lock {} to save cassette {}: {e}",
            what.display(),
            cassette.display()
        ))
    };
    let dir = match cassette.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let real = dir.canonicalize().map_err(|e| fail(dir, e))?;
    let path = lock_path(&real);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| fail(&path, e))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Guard { _file: file }),
            Err(TryLockError::Error(e)) => return Err(fail(&path, e)),
            Err(TryLockError::WouldBlock) if started.elapsed() >= PATIENCE => {
                return Err(LlmError::config(format!(
                    "cannot save cassette {}: another process has held its lock {} for {} s; if none is saving, delete that file",
                    cassette.display(),
                    path.display(),
                    PATIENCE.as_secs()
                )))
            }
            Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// `<temp>/llmrail-cassettes-<hash of the folder>.lock`. FNV-1a, not std's hasher: every
/// process (whatever Rust built it) must arrive at the same name.
fn lock_path(real_dir: &Path) -> PathBuf {
    let hash = real_dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    std::env::temp_dir().join(format!("llmrail-cassettes-{hash:016x}.lock"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_lock_per_real_folder() {
        let a = lock_path(Path::new("/srv/tests/cassettes"));
        assert_eq!(a, lock_path(Path::new("/srv/tests/cassettes")));
        assert_ne!(a, lock_path(Path::new("/srv/tests/cassettes2")));
        assert!(a.starts_with(std::env::temp_dir()));
    }
}
