//! The error for a request a cassette cannot answer: the request, the closest recorded one and
//! what differs, so a test failure says what changed without opening the file.

use std::path::Path;

use super::interaction::Request;
use super::matcher::{Key, Matcher};
use super::options::Mode;
use crate::error::{ErrorKind, LlmError};

/// Which cassette, and how far along it is.
pub(super) struct Where<'a> {
    pub path: &'a Path,
    pub mode: Mode,
    /// Interactions in the file; `None` when there is no file.
    pub loaded: Option<usize>,
    pub played: usize,
}

pub(super) fn error<'a>(
    at: &Where<'_>,
    matcher: &Matcher,
    recorded: impl Iterator<Item = (&'a Key, &'a Request)>,
    key: &Key,
    method: &str,
    uri: &str,
) -> LlmError {
    let mut msg = format!(
        "no recorded response for {method} {uri} in cassette {} (record mode {:?}",
        at.path.display(),
        at.mode.as_str()
    );
    match at.loaded {
        Some(n) => msg.push_str(&format!("; {n} recorded, {} already played)", at.played)),
        None => msg.push_str("; the file does not exist)"),
    }
    let closest = recorded
        .enumerate()
        .map(|(n, (k, r))| (n, r, matcher.differences(k, key, 50)))
        .min_by_key(|(_, _, d)| weight(d));
    if let Some((n, r, diffs)) = closest {
        if diffs.is_empty() {
            msg.push_str(&format!(
                ".\nIt matches recorded request #{n}, which was already played: identical requests \
                 replay once each, in recorded order (allow_playback_repeats=True replays them again)."
            ));
        } else {
            msg.push_str(&format!(
                ".\nClosest recorded request #{n} ({} {}) differs in:",
                r.method,
                // A file written before userinfo was scrubbed may still hold it.
                super::scrub::url(&r.uri)
            ));
            for d in diffs.iter().take(6) {
                msg.push_str("\n  ");
                msg.push_str(d);
            }
        }
    }
    msg.push_str(
        "\nTo record it: record mode \"new_episodes\" (pytest: --llm-record-mode=new_episodes), \
         or delete the cassette and record it again.",
    );
    LlmError::new(ErrorKind::CassetteMiss, msg)
}

/// A different method, host or path weighs more than any number of body differences.
fn weight(diffs: &[String]) -> usize {
    let heavy = ["method:", "host:", "path:", "scheme:", "port:"];
    diffs
        .iter()
        .map(|d| {
            if heavy.iter().any(|h| d.starts_with(h)) {
                1000
            } else {
                1
            }
        })
        .sum()
}
