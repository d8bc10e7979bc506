//! One cassette in use: what was loaded, what has been played, what was recorded since.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::cassette::{self, Interaction};
use super::lock;
use super::matcher::Key;
use super::miss;
use super::options::{Mode, Options};
use super::scrub;
use crate::error::{LlmError, Result};
use crate::wire::{Body, HttpRequest, HttpResponse};

struct Loaded {
    interaction: Interaction,
    key: Key,
    headers: HeaderMap,
}

#[derive(Default)]
struct State {
    plays: Vec<u32>,
    recorded: Vec<Interaction>,
    closed: bool,
    /// Streams let go of before their end was read, still being read for it (`tee.rs`).
    draining: usize,
    /// By when the last of them gives up.
    drained_by: Option<Instant>,
}

pub struct Session {
    path: PathBuf,
    mode: Mode,
    existed: bool,
    opts: Options,
    loaded: Vec<Loaded>,
    index: HashMap<u64, Vec<usize>>,
    state: Mutex<State>,
    /// Signalled when a draining stream is done.
    drained: Condvar,
}

/// A stream of this cassette still being read for its end (`Session::draining`): counted
/// until dropped, so that what reads the recordings waits for it.
pub(crate) struct Draining(Arc<Session>);

impl Drop for Draining {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.draining = state.draining.saturating_sub(1);
        drop(state);
        self.0.drained.notify_all();
    }
}

/// How long past a drain's own limit a reader still waits for it: the drain's task may start
/// late on a busy runtime.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// What the transport does with a request.
pub(crate) enum Decision {
    /// Answer from the cassette, after `wait` when replaying at the recorded pace.
    Replay(HttpResponse, Option<Duration>),
    Record,
}

impl Session {
    /// Load the cassette at `path` (a missing file is an empty cassette).
    pub fn open(path: impl Into<PathBuf>, opts: Options) -> Result<Self> {
        let path = path.into();
        let mode = opts
            .mode
            .unwrap_or_else(|| Mode::default_for(std::env::var("CI").ok().as_deref()));
        let found = cassette::load(&path)?;
        // Whether this cassette "exists" (mode once) is its own file's say: the extras are read only.
        let existed = found.is_some();
        let mut all = found.unwrap_or_default();
        for extra in &opts.extra_cassettes {
            all.extend(cassette::load(extra)?.unwrap_or_default());
        }
        let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut loaded = Vec::new();
        for (n, interaction) in all.into_iter().enumerate() {
            let key = Self::key_of(&opts, &interaction);
            index.entry(opts.matcher.hash(&key)).or_default().push(n);
            let headers = replay_headers(&interaction.response.headers);
            loaded.push(Loaded {
                interaction,
                key,
                headers,
            });
        }
        let state = State {
            plays: vec![0; loaded.len()],
            ..State::default()
        };
        Ok(Self {
            path,
            mode,
            existed,
            opts,
            loaded,
            index,
            state: Mutex::new(state),
            drained: Condvar::new(),
        })
    }

    fn key_of(opts: &Options, i: &Interaction) -> Key {
        let r = &i.request;
        let uri = opts.scrubber.uri(&r.uri, &mut Vec::new());
        opts.matcher
            .key(&r.method, &uri, &r.body, |v| opts.scrubber.json(v))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn mode(&self) -> Mode {
        self.mode
    }
    pub fn options(&self) -> &Options {
        &self.opts
    }
    /// Interactions loaded from the file.
    pub fn len(&self) -> usize {
        self.loaded.len()
    }
    pub fn is_empty(&self) -> bool {
        self.loaded.is_empty()
    }
    /// Loaded interactions replayed at least once.
    pub fn played(&self) -> usize {
        self.lock().plays.iter().filter(|p| **p > 0).count()
    }
    /// Interactions recorded since the cassette was opened, once every stream still being read
    /// for its end is done (this blocks the thread meanwhile: not for a runtime worker).
    pub fn recorded(&self) -> usize {
        self.settled().recorded.len()
    }

    /// Count a stream being read for its end for at most `limit` (see `tee.rs`) until the
    /// returned guard is dropped.
    pub(crate) fn draining(self: &Arc<Self>, limit: Duration) -> Draining {
        let mut state = self.lock();
        state.draining += 1;
        let by = Instant::now() + limit + DRAIN_GRACE;
        state.drained_by = Some(state.drained_by.map_or(by, |b| b.max(by)));
        drop(state);
        Draining(self.clone())
    }

    /// The state once no stream is being drained, or once the last should have given up.
    fn settled(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        while state.draining > 0 {
            let left = state.drained_by.map_or(Duration::ZERO, |by| {
                by.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                break;
            }
            state = self
                .drained
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state
    }

    /// No request can reach the network through this cassette.
    pub fn replays_only(&self) -> bool {
        !self.can_record()
    }

    fn can_record(&self) -> bool {
        match self.mode {
            Mode::None => false,
            Mode::Once => !self.existed,
            Mode::NewEpisodes | Mode::All => true,
        }
    }

    /// Replay `req` from the cassette, or say it may go to the network (to be recorded).
    pub(crate) fn decide(&self, req: &HttpRequest, secrets: &[String]) -> Result<Decision> {
        if self.mode == Mode::All {
            return Ok(Decision::Record);
        }
        let start = tokio::time::Instant::now();
        let s = &self.opts.scrubber;
        let mut secrets = secrets.to_vec();
        let uri = s.uri(&req.url, &mut secrets);
        let body = scrub::text(&req.body, &secrets).0;
        let key = self
            .opts
            .matcher
            .key(req.method.as_str(), &uri, &body, |v| s.json(v));
        if let Some(n) = self.take(&key) {
            let l = &self.loaded[n];
            let wait = l.interaction.response.latency.map(|d| self.opts.paced(d));
            let wait = wait.filter(|_| self.opts.pace > 0.0);
            let resp = self.response(l, req.stream, start);
            return Ok(Decision::Replay(resp, wait));
        }
        if self.can_record() {
            return Ok(Decision::Record);
        }
        Err(self.miss(&key, req.method.as_str(), &uri))
    }

    /// The first unplayed match in recorded order (so a 429 then a 200 replay as a retry).
    fn take(&self, key: &Key) -> Option<usize> {
        let candidates = self.index.get(&self.opts.matcher.hash(key))?;
        let mut state = self.lock();
        let mut last = None;
        for &n in candidates {
            if self.opts.matcher.matches(&self.loaded[n].key, key) {
                if state.plays[n] == 0 {
                    state.plays[n] = 1;
                    return Some(n);
                }
                last = Some(n);
            }
        }
        let n = last.filter(|_| self.opts.allow_playback_repeats)?;
        state.plays[n] += 1;
        Some(n)
    }

    fn response(&self, l: &Loaded, stream: bool, start: tokio::time::Instant) -> HttpResponse {
        let r = &l.interaction.response;
        let body = if stream {
            let pace = self.opts.pace;
            let pieces = split(&r.body, r.chunks.as_deref().unwrap_or_default());
            let pieces: Vec<_> = pieces
                .into_iter()
                .map(|(bytes, at)| (bytes, self.opts.paced(at)))
                .collect();
            Body::Stream(Box::pin(futures_util::stream::iter(pieces).then(
                move |(bytes, at)| async move {
                    if pace > 0.0 {
                        // Past what an Instant holds, `sleep` saturates where `+` would panic.
                        match start.checked_add(at) {
                            Some(when) => tokio::time::sleep_until(when).await,
                            None => tokio::time::sleep(at).await,
                        }
                    }
                    Ok(bytes)
                },
            )))
        } else {
            Body::Full(r.body.clone())
        };
        HttpResponse {
            status: r.status,
            headers: l.headers.clone(),
            body,
        }
    }

    /// Keep an interaction recorded while this cassette was in use (ignored once it was saved).
    pub fn record(&self, interaction: Interaction) {
        let mut state = self.lock();
        if state.closed {
            tracing::warn!(cassette = %self.path.display(), "a response finished after its cassette was closed; not recorded");
            return;
        }
        state.recorded.push(interaction);
    }

    /// Write the cassette if anything was recorded, once every stream still being read for its
    /// end is done (see [`Session::recorded`]); later recordings are ignored. Another
    /// process may have saved into the same file since it was loaded: the recordings are merged
    /// into what is on disk now, under the folder's lock, so neither loses anything.
    pub fn save(&self) -> Result<bool> {
        let recorded = {
            let mut state = self.settled();
            state.closed = true;
            state.recorded.clone()
        };
        if recorded.is_empty() {
            return Ok(false);
        }
        let _held = lock::exclusive(&self.path)?;
        let on_disk = cassette::load(&self.path)?.unwrap_or_default();
        let keys: Vec<Key> = match self.mode {
            Mode::All => recorded
                .iter()
                .map(|i| Self::key_of(&self.opts, i))
                .collect(),
            _ => Vec::new(),
        };
        let replaced = |i: &Interaction| {
            !keys.is_empty() && {
                let key = Self::key_of(&self.opts, i);
                keys.iter().any(|k| self.opts.matcher.matches(&key, k))
            }
        };
        let mut all: Vec<Interaction> = on_disk.into_iter().filter(|i| !replaced(i)).collect();
        all.extend(recorded);
        cassette::write_atomic(&self.path, &cassette::to_yaml(&all)?)?;
        Ok(true)
    }

    fn miss(&self, key: &Key, method: &str, uri: &str) -> LlmError {
        let loaded = self.existed.then_some(self.loaded.len());
        let recorded = self.loaded.iter().map(|l| (&l.key, &l.interaction.request));
        let at = miss::Where {
            path: &self.path,
            mode: self.mode,
            loaded,
            played: self.played(),
        };
        miss::error(&at, &self.opts.matcher, recorded, key, method, uri)
    }
}

/// Headers to hand back on replay: the body is whole. Its `content-encoding` stays only when
/// it is still in that encoding (a forwarded answer in an encoding `wire::encoding` does not
/// decode, recorded as it came, for the SDK to decode): gzip, deflate, br and zstd are decoded
/// when recorded or loaded, and the header dropped there.
fn replay_headers(headers: &[(String, String)]) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (k, v) in headers {
        let skip = ["content-length", "transfer-encoding"];
        if skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            out.append(k, v);
        }
    }
    out
}

/// The recorded chunks (whole body as one when there are none), each with its time.
fn split(body: &Bytes, chunks: &[cassette::Chunk]) -> Vec<(Bytes, Duration)> {
    let mut out = Vec::with_capacity(chunks.len().max(1));
    let mut at = 0;
    let mut last = Duration::ZERO;
    for c in chunks {
        let end = (at + c.len).min(body.len());
        if end > at {
            out.push((body.slice(at..end), c.at));
        }
        at = end;
        last = c.at;
    }
    if at < body.len() {
        out.push((body.slice(at..), last));
    }
    out
}

#[cfg(test)]
mod tests;
