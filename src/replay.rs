//! Record and replay at the transport: every provider, retry, stream and batch poll passes
//! through `transport::send`, which asks [`route`] whether to answer from the active cassette or
//! to go to the network (recording what comes back when a cassette or the development recorder
//! wants it).
//!
//! Which way the arrows point: `transport -> replay -> wire`. The transport sits above and calls
//! in; replay speaks only the `wire` types and never sends anything itself, so it is plain data
//! work (match, scrub, read and write files), testable without a socket, and the one door every
//! request passes through stays in `transport`. Inside, the recorded exchange
//! (`interaction.rs`) is the floor that `scrub` and the file format (`cassette`) both stand on.
//!
//! The active cassette is process-global on purpose: a test's clients are created anywhere
//! (fixtures, application code, other threads) and all of them must be recorded. Cassettes nest;
//! the innermost one is used. Parallel test runners (pytest-xdist) use processes, one slot each.

pub mod cassette;
pub mod devlog;
mod interaction;
mod json;
pub mod lock;
pub mod matcher;
mod miss;
mod options;
pub mod scrub;
mod session;
mod tee;

use std::sync::{Arc, PoisonError, RwLock};

pub use options::{Mode, Options};
pub use session::Session;

use crate::error::Result;
use crate::wire::{HttpRequest, HttpResponse};
use session::Decision;
pub(crate) use tee::Recorder;

static ACTIVE: RwLock<Vec<Arc<Session>>> = RwLock::new(Vec::new());

/// Make `session` the cassette every request of this process goes through.
pub fn activate(session: Arc<Session>) {
    ACTIVE
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .push(session);
}

/// Stop using `session` (whether or not it is the innermost one).
pub fn deactivate(session: &Arc<Session>) {
    let mut active = ACTIVE.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(i) = active.iter().rposition(|s| Arc::ptr_eq(s, session)) {
        active.remove(i);
    }
}

/// The cassette in use, if any.
pub fn active() -> Option<Arc<Session>> {
    ACTIVE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .last()
        .cloned()
}

pub fn is_active() -> bool {
    !ACTIVE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .is_empty()
}

/// How long to really wait where a recorded exchange asked for `wait` (a `Retry-After`, a
/// backoff before the next attempt). While the active cassette can only replay, every failure
/// was replayed too, so the wait follows the cassette's pace: none by default, so a recorded
/// 429-then-200 retry replays at once. Otherwise `wait` is unchanged. For the retry layer.
pub fn paced(wait: std::time::Duration) -> std::time::Duration {
    match active() {
        Some(s) if s.replays_only() => s.options().paced(wait),
        _ => wait,
    }
}

pub(crate) enum Route {
    Replayed(HttpResponse),
    /// Send it; record the response with the recorder, if there is one.
    Network(Option<Recorder>),
}

/// Decide what happens to a request about to leave the process.
pub(crate) async fn route(req: &HttpRequest) -> Result<Route> {
    let devlog = devlog::dir_from_env();
    let Some(session) = active() else {
        return Ok(Route::Network(
            devlog.map(|dir| Recorder::new(req, None, Some(dir))),
        ));
    };
    let secrets = session.options().scrubber.secrets(&req.headers);
    match session.decide(req, &secrets)? {
        Decision::Replay(resp, wait) => {
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
            Ok(Route::Replayed(resp))
        }
        Decision::Record => Ok(Route::Network(Some(Recorder::new(
            req,
            Some(session),
            devlog,
        )))),
    }
}
