//! Direct connections: a sync caller, or an asyncio loop's thread, sends over its own sockets,
//! with no tokio worker.
//!
//! Under reqwest a pooled connection is driven by a task on a tokio worker, so a call crosses
//! threads twice (request handed to the worker, answer handed back) and wakes the worker two or
//! three times. A thread that blocks on a call (`runtime::block_on`, every sync method) can
//! instead drive the connection itself: here the request and its connection (hyper's HTTP/1
//! client connection, `hyper::client::conn::http1`) are polled together by the caller, whose
//! socket sits in the caller's own epoll set (`runtime/local.rs`). The answer wakes that one
//! thread; nothing else. An asyncio loop's thread polls its calls the same way, its epoll set
//! watched by the loop (`runtime/local/evented.rs`).
//!
//! A streamed answer (a `ChatStream`'s) comes the same way: its body is read by whoever polls
//! it, which is the stream's consumer (`client/chat_stream.rs` runs the call there), so each
//! chunk wakes the consumer's own thread ([`send_stream`], [`body`]); the connection goes back
//! to the thread's pool when the body ends. A body read on another thread than the one that
//! opened it (an iterator handed between threads) waits in the shared runtime's reactor there.
//!
//! Only the plain cases take this path, and the rest fall back to reqwest with nothing sent:
//! `http://` to an IP address or `localhost` (no DNS lookup in
//! the caller's poll, no TLS), no credentials in the URL, no proxy in the environment (reqwest
//! reads the same variables), on Linux. A forwarded request (an SDK's, `crate::forward`) goes
//! direct when its answer will be whole ([`answered_whole`]), and then as reqwest's passthrough
//! pool sends it: no `user-agent` added, the answer's encoding left for the SDK to decode. A
//! redirect to the same origin is not handed on: the request is sent again through reqwest,
//! which follows it; the server did not act on the request it redirected. One to another host
//! ends the call here with the error reqwest's policy ends it in (`redirect.rs`), the request
//! sent once. A gzip body (this path does not ask for compression) is decoded here as reqwest
//! would, and never sent again, since the server has acted on the request. What the caller sees
//! is otherwise the same: the headers reqwest adds (`user-agent`, `accept`), the whole-call
//! timeout, the connect timeout, the size cap, and the error kinds.
//!
//! The idle connections are the caller thread's (its epoll set watches them) and live in a
//! per-thread pool, up to [`MAX_IDLE`] per origin for [`IDLE_FOR`], like reqwest's.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CONTENT_ENCODING, HOST, LOCATION, USER_AGENT};
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;

use crate::error::{ErrorKind, LlmError, Result};
use crate::runtime::local::{self, Deadline, Registration};
use crate::wire::{encoding, Body, HttpRequest, HttpResponse};

use super::limits;

mod body;
mod held;

use held::Held;

/// Idle connections kept per origin and thread: an event loop's thread may have hundreds of calls
/// in flight, each on a connection of its own, and closing those above the bound only to open
/// them again next round would cost a connect per call (reqwest keeps every one).
const MAX_IDLE: usize = 1024;
/// How long an idle connection is kept (reqwest's pool is built with the same).
const IDLE_FOR: Duration = Duration::from_secs(90);

/// Where a request that may go direct is sent.
#[derive(Clone)]
pub(super) struct Target {
    /// `host:port` as the pool's key.
    key: String,
    /// `Host` header: the host, and the port when the URL names one.
    host: HeaderValue,
    /// The request target: path and query.
    path: http::Uri,
    host_name: String,
    port: u16,
}

/// The target of `req` if it may go direct from this thread, else `None` (reqwest sends it).
pub(super) fn target(req: &HttpRequest, url: &reqwest::Url) -> Option<Target> {
    if !cfg!(target_os = "linux")
        || (req.stream && req.settings.passthrough && !answered_whole(req))
        || url.scheme() != "http"
        || !url.username().is_empty()
        || url.password().is_some()
        || proxied()
        || switched_off()
        || !local::active()
    {
        return None;
    }
    LAST_TARGET.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((_, to)) = last.as_ref().filter(|(text, _)| *text == req.url) {
            return to.clone();
        }
        let to = target_of(url);
        *last = Some((req.url.clone(), to.clone()));
        to
    })
}

thread_local! {
    /// The target of the last URL sent to from this thread: a client sends to one URL over and
    /// over, and building its target (the host formatted, the path parsed) took ~4k of a sync
    /// call's ~88k instructions (callgrind); a clone is two short strings.
    static LAST_TARGET: RefCell<Option<(String, Option<Target>)>> = const { RefCell::new(None) };
}

fn target_of(url: &reqwest::Url) -> Option<Target> {
    let host_name = match url.host()? {
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
        url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => d.to_string(),
        url::Host::Domain(_) => return None,
    };
    let port = url.port_or_known_default()?;
    let shown = url.host_str()?;
    let host = match url.port() {
        Some(p) => HeaderValue::from_str(&format!("{shown}:{p}")).ok()?,
        None => HeaderValue::from_str(shown).ok()?,
    };
    let path = match url.query() {
        Some(q) => http::Uri::try_from(format!("{}?{q}", url.path())).ok()?,
        None => http::Uri::try_from(url.path()).ok()?,
    };
    Some(Target {
        key: format!("{shown}:{port}"),
        host,
        path,
        host_name,
        port,
    })
}

/// Whether a forwarded request (sent as a stream: only its answer says whether it is one) will
/// be answered whole: a JSON POST that neither asks for a stream (`stream` nowhere in its URL
/// or as a key of its body: OpenAI's and Anthropic's `"stream": true`, Gemini's
/// `:streamGenerateContent`, Bedrock's `converse-stream`) nor accepts an event stream. A miss
/// costs only speed (reqwest sends it); should a server stream anyway, the answer is read whole
/// here, bounded as any answer is, and handed on whole. Its read timeout (for the headers, then
/// for each chunk) bounds the whole exchange here: a whole answer's body follows its headers.
fn answered_whole(req: &HttpRequest) -> bool {
    let has = |hay: &[u8], needle: &str| {
        hay.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    req.method == http::Method::POST
        && req.body.first() == Some(&b'{')
        && memchr::memmem::find(&req.body, b"\"stream\"").is_none()
        && !has(req.url.as_bytes(), "stream")
        && req.headers.get_all(ACCEPT).iter().all(|v| {
            !["stream", "ndjson", "jsonl", "json-seq"]
                .iter()
                .any(|t| has(v.as_bytes(), t))
        })
}

/// Environment variable: `0` sends every request through reqwest (an A/B of this path, or a
/// way out should a server disagree with it).
pub const SWITCH_VAR: &str = "LLMRAIL_DIRECT_CONNECTIONS";

fn switched_off() -> bool {
    static OFF: OnceLock<bool> = OnceLock::new();
    *OFF.get_or_init(|| std::env::var(SWITCH_VAR).is_ok_and(|v| v.trim() == "0"))
}

/// Whether the environment names a proxy for `http://` (reqwest's `system-proxy` reads these
/// once, when its client is built; so do we).
fn proxied() -> bool {
    static PROXIED: OnceLock<bool> = OnceLock::new();
    *PROXIED.get_or_init(|| {
        ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
    })
}

/// Whether `encoding` is one reqwest (built with its `gzip` feature) decodes.
fn is_gzip(encoding: &str) -> bool {
    encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip")
}

/// A gzip body unpacked, never past `max` bytes (a small body may unpack to a great deal: only
/// the first `max` + 1 bytes are ever unpacked), with the errors reqwest's decoder would give.
fn gunzip(body: &[u8], max: usize) -> Result<Bytes> {
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| {
            LlmError::invalid_response(format!(
                "the server's gzip answer could not be decoded: {e}"
            ))
        })?;
    if out.len() > max {
        return Err(limits::too_large(max));
    }
    Ok(Bytes::from(out))
}

/// Send `req` over a direct connection to `to`. `Ok(None)`: the answer is one reqwest must
/// handle (see the module comment); send the request again through it.
pub(super) async fn send(req: &HttpRequest, to: Target) -> Result<Option<HttpResponse>> {
    within(req.timeout, std::pin::pin!(exchange(req, to))).await
}

/// Send a streamed request (`req.stream`) over a direct connection to `to`: its answer's body
/// comes as the connection brings it, read by whoever polls it ([`body`]). The request's timeout
/// bounds the wait for the head here, then each wait for a chunk. `Ok(None)`: a redirect,
/// for reqwest to follow (see the module comment).
pub(super) async fn send_stream(req: &HttpRequest, to: Target) -> Result<Option<HttpResponse>> {
    let (conn, response) = within(req.timeout, std::pin::pin!(opened(req, &to))).await?;
    let (head, incoming) = response.into_parts();
    if redirected(req, &head)? {
        return Ok(None);
    }
    #[cfg(test)]
    tests::SENT.with(|n| n.set(n.get() + 1));
    let body = body::DirectBody::new(conn, incoming, to.key, req);
    let mut headers = head.headers;
    // Compressed although this path did not ask (see `exchange`): read whole and decoded, as
    // one chunk; the events then come at the end, and the request is not sent twice.
    let body = if encoding::of(&headers).is_some_and(is_gzip) {
        let max = req.settings.max_response_bytes;
        let packed = limits::collect(body, max).await?;
        headers.remove(CONTENT_ENCODING);
        headers.remove(http::header::CONTENT_LENGTH);
        Body::Full(gunzip(&packed, max)?)
    } else {
        Body::Stream(Box::pin(body))
    };
    Ok(Some(HttpResponse {
        status: head.status.as_u16(),
        headers,
        body,
    }))
}

/// `work`, or a timeout error once `limit` has passed. `work` comes pinned by the caller: an
/// `async fn` keeps an argument it pins again twice in its state, and this one's is the whole
/// exchange (a copy of its ~3 KB at every start, counted by callgrind).
async fn within<T, F: Future<Output = Result<T>>>(
    limit: Duration,
    mut work: Pin<&mut F>,
) -> Result<T> {
    let deadline = Deadline::new(Instant::now() + limit);
    let mut deadline = std::pin::pin!(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(super::timed_out(limit))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Whether the answer is a redirect to hand to reqwest (`Ok(false)`: an answer to read here).
/// A redirect answer was not acted on by the server, so sending the request again is safe;
/// one reqwest would refuse (to another host) is refused here, with nothing sent again.
fn redirected(req: &HttpRequest, head: &http::response::Parts) -> Result<bool> {
    if head.status.is_redirection() && head.headers.contains_key(LOCATION) {
        let url = super::parsed(&req.url)?;
        return super::redirect::followed(head.status, &head.headers, &url);
    }
    Ok(false)
}

type Connection = http1::Connection<Io, Full<Bytes>>;

/// A connection: the handle requests go in by, and the connection itself, which whoever uses
/// it polls (`None` once it has ended).
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: Option<Pin<Box<Connection>>>,
    /// The socket's place in the epoll set (the socket itself is inside `driver`).
    reg: Registration,
}

struct Idle {
    key: String,
    conn: Conn,
    since: Instant,
}

thread_local! {
    static IDLE: RefCell<(u32, Vec<Idle>)> = const { RefCell::new((0, Vec::new())) };
}

/// An idle connection to `key` of this thread that is still open.
fn checkout(key: &str) -> Option<Conn> {
    let pid = crate::runtime::pid();
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        if idle.0 != pid {
            // A forked child: the sockets are the parent's too (and so is their epoll set).
            std::mem::forget(std::mem::take(&mut idle.1));
            idle.0 = pid;
        }
        let now = Instant::now();
        idle.1.retain(|i| now.duration_since(i.since) < IDLE_FOR);
        while let Some(at) = idle.1.iter().rposition(|i| i.key == key) {
            let mut conn = idle.1.swap_remove(at).conn;
            // One poll tells whether the server closed it while it was idle.
            conn.reg.recheck_read();
            let mut cx = Context::from_waker(std::task::Waker::noop());
            if let Some(driver) = conn.driver.as_mut() {
                if driver.as_mut().poll(&mut cx).is_pending() && conn.sender.is_ready() {
                    return Some(conn);
                }
            }
        }
        None
    })
}

/// Whether this thread keeps an idle connection for `to` (open or not: `send` finds out).
pub(super) fn has_idle(to: &Target) -> bool {
    IDLE.with(|idle| idle.borrow().1.iter().any(|i| i.key == to.key))
}

fn checkin(key: String, conn: Conn) {
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        if idle.0 == crate::runtime::pid()
            && idle.1.iter().filter(|i| i.key == key).count() < MAX_IDLE
        {
            idle.1.push(Idle {
                key,
                conn,
                since: Instant::now(),
            });
        }
    });
}

/// The request sent over an idle connection of this thread to `to`, else a new one; the
/// connection and the answer's head (its body still to come over the connection).
async fn opened(
    req: &HttpRequest,
    to: &Target,
) -> Result<(Conn, http::Response<hyper::body::Incoming>)> {
    let request = request(req, to)?;
    Ok(match checkout(&to.key) {
        Some(mut conn) => {
            let sent = drive(&mut conn.driver, conn.sender.try_send_request(request)).await;
            match sent {
                Ok(r) => (conn, r),
                Err(mut e) => match e.take_message() {
                    // Closed before the request went out: a fresh connection, as reqwest does.
                    Some(request) => {
                        let mut conn = connect(req, to).await?;
                        let r = drive(&mut conn.driver, conn.sender.send_request(request))
                            .await
                            .map_err(|e| failed(req, &e))?;
                        (conn, r)
                    }
                    None => return Err(failed(req, e.error())),
                },
            }
        }
        None => {
            let mut conn = connect(req, to).await?;
            let r = drive(&mut conn.driver, conn.sender.send_request(request))
                .await
                .map_err(|e| failed(req, &e))?;
            (conn, r)
        }
    })
}

async fn exchange(req: &HttpRequest, to: Target) -> Result<Option<HttpResponse>> {
    let (mut conn, response) = opened(req, &to).await?;
    let (head, mut body) = response.into_parts();
    if redirected(req, &head)? {
        return Ok(None);
    }
    let max = req.settings.max_response_bytes;
    let declared = head
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(limits::too_large(max));
    }
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    let mut len = 0usize;
    loop {
        let frame = drive(&mut conn.driver, body.frame()).await;
        let Some(frame) = frame else { break };
        let Ok(data) = frame.map_err(|e| failed(req, &e))?.into_data() else {
            continue; // trailers
        };
        len += data.len();
        if len > max {
            return Err(limits::too_large(max));
        }
        match (&mut first, &mut more) {
            (None, _) => first = Some(data),
            (Some(f), None) => {
                let mut all = BytesMut::with_capacity(
                    declared.map_or(2 * f.len(), |n| usize::try_from(n).unwrap_or(max)),
                );
                all.extend_from_slice(f);
                all.extend_from_slice(&data);
                more = Some(all);
            }
            (Some(_), Some(all)) => all.extend_from_slice(&data),
        }
    }
    // The connection goes back to the pool if it is open and ready for the next request: one
    // more poll lets it take in the end of this one.
    let ready = std::future::poll_fn(|cx| {
        if let Some(d) = conn.driver.as_mut() {
            if d.as_mut().poll(cx).is_ready() {
                conn.driver = None;
            }
        }
        Poll::Ready(conn.driver.is_some() && conn.sender.is_ready())
    })
    .await;
    if ready {
        checkin(to.key, conn);
    }
    let mut headers = head.headers;
    let mut body = match (first, more) {
        (_, Some(all)) => all.freeze(),
        (Some(one), None) => one,
        (None, None) => Bytes::new(),
    };
    // A server that compresses although this path did not ask has already acted on the request:
    // it is decoded here as reqwest's decoder would (gzip; the headers that described the
    // compressed body go), never sent twice. Other encodings pass as they came, as under reqwest;
    // a forwarded answer's too, gzip included: its SDK asked for it and decodes it.
    if !req.settings.passthrough && encoding::of(&headers).is_some_and(is_gzip) {
        body = gunzip(&body, max)?;
        headers.remove(CONTENT_ENCODING);
        headers.remove(http::header::CONTENT_LENGTH);
    }
    #[cfg(test)]
    tests::SENT.with(|n| n.set(n.get() + 1));
    Ok(Some(HttpResponse {
        status: head.status.as_u16(),
        headers,
        body: Body::Full(body),
    }))
}

/// The request as hyper sends it, with the headers reqwest would add.
fn request(req: &HttpRequest, to: &Target) -> Result<http::Request<Full<Bytes>>> {
    let mut headers = req.headers.clone();
    // Room first, and one lookup per header: a clone has no room to spare, and growing it at
    // each insert (after a lookup of its own) was ~1.4k of a sync call's ~63k instructions.
    headers.reserve(3);
    headers.entry(HOST).or_insert_with(|| to.host.clone());
    // A forwarded request's headers are its SDK's (reqwest's passthrough pool adds none).
    if !req.settings.passthrough {
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(concat!(
                "llmrail/",
                env!("CARGO_PKG_VERSION")
            )));
    }
    headers
        .entry(ACCEPT)
        .or_insert(HeaderValue::from_static("*/*"));
    let mut out = http::Request::new(Full::new(req.body.clone()));
    *out.method_mut() = req.method.clone();
    *out.uri_mut() = to.path.clone();
    *out.headers_mut() = headers;
    Ok(out)
}

/// Poll `fut` and the connection together until `fut` is done.
async fn drive<F: Future>(driver: &mut Option<Pin<Box<Connection>>>, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Some(d) = driver.as_mut() {
            // Its end (closed, or failed) reaches `fut` as hyper's error or the body's end.
            if d.as_mut().poll(cx).is_ready() {
                *driver = None;
            }
        }
        fut.as_mut().poll(cx)
    })
    .await
}

/// A new connection to `to`, within the client's connect timeout.
async fn connect(req: &HttpRequest, to: &Target) -> Result<Conn> {
    let addrs: Vec<SocketAddr> = match to.host_name.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, to.port)],
        // `localhost`: from /etc/hosts, as getaddrinfo answers reqwest.
        Err(_) => (to.host_name.as_str(), to.port)
            .to_socket_addrs()
            .map_err(|e| not_connected(req, &e))?
            .collect(),
    };
    let limit = req.settings.connect_timeout;
    let deadline = Deadline::new(Instant::now() + limit);
    let mut deadline = std::pin::pin!(deadline);
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        let attempt = open(addr);
        let mut attempt = std::pin::pin!(attempt);
        let opened = std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = attempt.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            deadline.as_mut().poll(cx).map(|()| None)
        })
        .await;
        match opened {
            None => {
                return Err(LlmError::new(
                    ErrorKind::Timeout,
                    format!(
                        "could not connect: error sending request for url ({}): connect timeout after {:.1} s",
                        req.url,
                        limit.as_secs_f64()
                    ),
                ))
            }
            Some(Ok(io)) => {
                let reg = io.reg;
                let (sender, driver) = http1::handshake(io)
                    .await
                    .map_err(|e| failed(req, &e))?;
                return Ok(Conn {
                    sender,
                    driver: Some(Box::pin(driver)),
                    reg,
                });
            }
            Some(Err(e)) => last = e,
        }
    }
    Err(not_connected(req, &last))
}

async fn open(addr: SocketAddr) -> io::Result<Io> {
    let mut sock = mio::net::TcpStream::connect(addr)?;
    let reg = Registration::new(&mut sock).map_err(|e| io::Error::other(e.message.clone()))?;
    let io = Io {
        sock,
        reg,
        away: None,
        held: None,
        maybe_held: false,
    };
    std::future::poll_fn(|cx| {
        if let Some(e) = io.sock.take_error()? {
            return Poll::Ready(Err(e));
        }
        match io.sock.peer_addr() {
            Ok(_) => Poll::Ready(Ok(())),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                io.reg.park(cx, true)?;
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    })
    .await?;
    io.sock.set_nodelay(true)?;
    Ok(io)
}

fn not_connected(req: &HttpRequest, e: &io::Error) -> LlmError {
    LlmError::new(
        ErrorKind::Connection,
        format!(
            "could not connect: error sending request for url ({}): tcp connect error: {e}",
            req.url
        ),
    )
}

/// hyper's error, worded as reqwest words it (its text holds no header).
fn failed(req: &HttpRequest, e: &hyper::Error) -> LlmError {
    failed_at(&req.url, e)
}

fn failed_at(url: &str, e: &hyper::Error) -> LlmError {
    let mut text = format!("error sending request for url ({url}): {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    LlmError::new(ErrorKind::Connection, text)
}

/// A socket in the caller's epoll set.
struct Io {
    sock: mio::net::TcpStream,
    reg: Registration,
    /// Where another thread waits for the socket: a streamed answer's body read from a thread
    /// other than the one whose set watches it (an iterator handed between threads, as a web
    /// framework's thread pool does with a sync generator). A copy of the socket in the shared
    /// runtime's reactor; the home set still reports it, waking no one who still waits.
    away: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
    /// Writes held to the end of the loop thread's batch (`held.rs`); made at the first.
    held: Option<Arc<Held>>,
    /// Some may still be held: the lock is taken only then (~500 instructions a call less).
    maybe_held: bool,
}

impl Drop for Io {
    fn drop(&mut self) {
        if let Some(h) = &self.held {
            h.close();
        }
        self.reg.deregister(&mut self.sock);
    }
}

impl Io {
    /// Keep `bufs` for the end of this thread's batch if it holds writes: true if kept. A
    /// write too big to hold goes out at once, unless some of this batch's are held before it.
    fn try_hold<B: std::ops::Deref<Target = [u8]>>(
        &mut self,
        cx: &Context<'_>,
        bufs: &[B],
    ) -> bool {
        if !local::is_holding() || !self.reg.is_home() {
            return false;
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let fd = self.sock.as_raw_fd();
        let held = self.held.get_or_insert_with(|| Arc::new(Held::new(fd)));
        let mut s = held.state();
        if s.failed.is_some() || (s.bytes.is_empty() && total > held::MAX_HELD) {
            return false;
        }
        if s.keep(bufs, cx.waker()) {
            drop(s);
            local::hold(held.clone());
        }
        self.maybe_held = true;
        true
    }

    /// Send what an earlier batch held and could not send whole, before anything else is
    /// written or read (what the current batch holds waits for its end).
    fn poll_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let held = match &self.held {
                Some(h) if self.maybe_held => {
                    let mut s = h.state();
                    if let Some(e) = s.failed.take() {
                        return Poll::Ready(Err(e));
                    }
                    if s.listed() {
                        return Poll::Ready(Ok(()));
                    }
                    if s.bytes.is_empty() {
                        self.maybe_held = false;
                        return Poll::Ready(Ok(()));
                    }
                    h.clone()
                }
                _ => return Poll::Ready(Ok(())),
            };
            let n =
                std::task::ready!(self.poll_io(cx, true, |sock| sock.write(&held.state().bytes)))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            held.state().bytes.drain(..n);
        }
    }
}

impl Io {
    fn poll_io<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: bool,
        mut op: impl FnMut(&mut mio::net::TcpStream) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        if !self.reg.is_home() {
            return self.poll_away(cx, write, op);
        }
        if !self.reg.ready(write) {
            self.reg.park(cx, write)?;
            return Poll::Pending;
        }
        loop {
            match op(&mut self.sock) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    #[cfg(test)]
                    tests::WOULD_BLOCK.with(|n| n.set(n.get() + 1));
                    self.reg.park(cx, write)?;
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return Poll::Ready(other),
            }
        }
    }
}

impl Io {
    /// [`Io::poll_io`] from a thread whose epoll set does not watch the socket: the shared
    /// runtime's reactor waits for it (inside the runtime's context, as a stream's reads are).
    fn poll_away<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: bool,
        mut op: impl FnMut(&mut mio::net::TcpStream) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        use std::os::fd::AsFd;
        use tokio::io::Interest;
        if self.away.is_none() {
            if tokio::runtime::Handle::try_current().is_err() {
                return Poll::Ready(Err(io::Error::other(
                    "a direct socket polled off its thread, outside the runtime",
                )));
            }
            let copy = self.sock.as_fd().try_clone_to_owned()?;
            let interest = Interest::READABLE | Interest::WRITABLE;
            // SAFETY: the `OwnedFd` is owned by the `AsyncFd` from here on, open and the same
            // descriptor for as long as it lives.
            let away = unsafe { tokio::io::unix::AsyncFd::register_with_interest(copy, interest) }
                .map_err(|e| io::Error::other(e.to_string()))?;
            self.away = Some(away);
        }
        let Some(away) = self.away.as_ref() else {
            return Poll::Pending;
        };
        loop {
            let ready = if write {
                away.poll_write_ready(cx)
            } else {
                away.poll_read_ready(cx)
            };
            let mut guard = match ready {
                Poll::Ready(Ok(g)) => g,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match guard.try_io(|_| loop {
                match op(&mut self.sock) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => return other,
                }
            }) {
                Ok(out) => return Poll::Ready(out),
                Err(_would_block) => continue,
            }
        }
    }
}

impl hyper::rt::Read for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: `read` only writes to the bytes it then reports, and only those are marked
        // filled (tokio's `TcpStream` reads into uninitialised memory the same way).
        let dst = unsafe { &mut *(buf.as_mut() as *mut [MaybeUninit<u8>] as *mut [u8]) };
        let room = dst.len();
        let io = self.get_mut();
        std::task::ready!(io.poll_held(cx))?;
        match io.poll_io(cx, false, |s| s.read(dst)) {
            Poll::Ready(Ok(n)) => {
                // A short read emptied the socket's receive queue: the next read would answer
                // `WouldBlock`, so wait for the epoll set's next edge instead of asking (tokio
                // clears its readiness the same way). hyper reads again after each answer, to
                // see the connection's state: one `recv` per call saved (strace -c, 256 in flight).
                // (Only in the home set: a body read on another thread waits in `poll_away`.)
                if n > 0 && n < room && io.reg.is_home() {
                    io.reg.park(cx, false)?;
                }
                // SAFETY: `n` bytes were just written by `read`.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl hyper::rt::Write for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let io = self.get_mut();
        std::task::ready!(io.poll_held(cx))?;
        if io.try_hold(cx, &[buf]) {
            return Poll::Ready(Ok(buf.len()));
        }
        io.poll_io(cx, true, |s| s.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let io = self.get_mut();
        std::task::ready!(io.poll_held(cx))?;
        if io.try_hold(cx, bufs) {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        io.poll_io(cx, true, |s| s.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let io = self.get_mut();
        std::task::ready!(io.poll_held(cx))?;
        Poll::Ready(io.sock.shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
pub(super) mod tests {
    use std::cell::Cell;
    use std::time::{Duration, Instant};

    use http::{HeaderMap, Method};
    use serde_json::json;

    use crate::error::{ErrorKind, LlmError};
    use crate::mock::MockServer;
    use crate::runtime::local;
    use crate::wire::{Body, HttpRequest, Settings};

    thread_local! {
        /// Answers this thread took over a direct connection.
        pub(in crate::transport) static SENT: Cell<usize> = const { Cell::new(0) };
        /// Socket operations of this thread that answered `WouldBlock`.
        pub(super) static WOULD_BLOCK: Cell<usize> = const { Cell::new(0) };
    }

    fn sent() -> usize {
        SENT.with(Cell::get)
    }

    const CHAT: &[u8] = br#"{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}"#;

    fn chat(url: String) -> HttpRequest {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("authorization", "Bearer sk-test".parse().unwrap());
        HttpRequest {
            method: Method::POST,
            url,
            headers,
            body: bytes::Bytes::from_static(CHAT),
            stream: false,
            timeout: Duration::from_secs(10),
            settings: Settings::default(),
        }
    }

    fn blocking<F: std::future::Future>(fut: F) -> F::Output {
        crate::runtime::block_on(fut).unwrap()
    }

    /// Poll `fut` as an event loop's thread does: its set watched, each poll inside a batch
    /// (`holding`), the set's readiness waited for with `poll(2)` between batches.
    fn on_a_loop_thread<F: std::future::Future>(
        fut: F,
        mut batch_end: impl FnMut(usize),
    ) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let set = local::attach().unwrap();
        let handle = crate::runtime::handle().unwrap();
        let _rt = handle.enter();
        let _active = local::enter();
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        for batch in 0.. {
            let out = local::holding(|| {
                for w in local::ready().unwrap() {
                    w.wake();
                }
                let out = fut.as_mut().poll(&mut cx);
                batch_end(batch);
                out
            });
            if let Poll::Ready(out) = out {
                return out;
            }
            let mut p = libc::pollfd {
                fd: set.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            assert_eq!(unsafe { libc::poll(&mut p, 1, 5000) }, 1, "no answer");
        }
        unreachable!()
    }

    #[test]
    fn a_request_written_in_a_loop_threads_batch_goes_out_at_its_end() {
        let srv = MockServer::start().unwrap();
        for _ in 0..2 {
            srv.push_json(json!({"text": "ok"})).unwrap();
        }
        let url = format!("{}/v1/chat/completions", srv.url());
        for _ in 0..2 {
            let before = srv.received();
            let resp = on_a_loop_thread(super::super::send(chat(url.clone())), |batch| {
                if batch == 0 {
                    // Written, but held: the server has not seen it yet.
                    std::thread::sleep(Duration::from_millis(100));
                    assert_eq!(srv.received(), before);
                }
            })
            .unwrap();
            assert_eq!(resp.status, 200);
            assert_eq!(srv.received(), before + 1);
        }
        assert_eq!(
            srv.connections(),
            1,
            "the second call reused the connection"
        );
    }

    #[test]
    fn a_big_request_in_a_batch_goes_out_whole() {
        let srv = MockServer::start().unwrap();
        for _ in 0..2 {
            srv.push_json(json!({"text": "ok"})).unwrap();
        }
        let url = format!("{}/v1/chat/completions", srv.url());
        let text = "x".repeat(3 * super::held::MAX_HELD);
        let body = json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": text}]});
        for _ in 0..2 {
            let req = HttpRequest {
                body: bytes::Bytes::from(body.to_string()),
                ..chat(url.clone())
            };
            let resp = on_a_loop_thread(super::super::send(req), |_| {}).unwrap();
            assert_eq!(resp.status, 200);
        }
        let got = srv.requests();
        assert_eq!(
            got.last().unwrap().body["messages"][0]["content"],
            text.as_str()
        );
    }

    #[test]
    fn a_sync_call_inside_a_batch_sends_at_once() {
        let srv = MockServer::start().unwrap();
        srv.push_json(json!({"text": "ok"})).unwrap();
        let url = format!("{}/v1/chat/completions", srv.url());
        let resp = local::holding(|| blocking(super::super::send(chat(url)))).unwrap();
        assert_eq!(resp.status, 200);
    }

    #[test]
    fn a_sync_caller_sends_over_its_own_connection_and_keeps_it_for_the_next_call() {
        let srv = MockServer::start().unwrap();
        srv.push_json(json!({"text": "one"})).unwrap();
        srv.push_json(json!({"text": "two"})).unwrap();
        let url = format!("{}/v1/chat/completions?x=1", srv.url());
        let before = sent();
        for want in ["one", "two"] {
            let resp = blocking(super::super::send(chat(url.clone()))).unwrap();
            assert_eq!(resp.status, 200);
            let Body::Full(body) = resp.body else {
                panic!("buffered")
            };
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["choices"][0]["message"]["content"], want);
        }
        assert_eq!(sent() - before, 2);
        assert_eq!(
            srv.connections(),
            1,
            "the second call reused the connection"
        );
        let got = &srv.requests()[0];
        assert_eq!(got.path, "/v1/chat/completions");
        assert_eq!(got.query.as_deref(), Some("x=1"));
        assert!(got.header("user-agent").unwrap().starts_with("llmrail/"));
        assert_eq!(got.header("accept"), Some("*/*"));
        assert_eq!(
            got.header("host"),
            Some(srv.url().trim_start_matches("http://"))
        );
        assert_eq!(
            got.header("content-length"),
            Some(CHAT.len().to_string().as_str())
        );
    }

    #[test]
    fn a_socket_that_would_block_is_not_asked_again_until_the_epoll_set_says_it_is_ready() {
        let srv = MockServer::start().unwrap();
        let url = format!("{}/v1/chat/completions", srv.url());
        for _ in 0..4 {
            srv.push_json(json!({"text": "ok"})).unwrap();
        }
        blocking(super::super::send(chat(url.clone()))).unwrap();
        let before = WOULD_BLOCK.with(Cell::get);
        for _ in 0..3 {
            blocking(super::super::send(chat(url.clone()))).unwrap();
        }
        // Per call on a kept connection: the liveness check when it leaves the pool. hyper
        // polls its reads five more times a call (eight in all before the readiness flags, two
        // before a short read cleared them), each a `recv` answering EAGAIN.
        let per_call = (WOULD_BLOCK.with(Cell::get) - before) as f64 / 3.0;
        assert!(per_call <= 1.0, "{per_call} WouldBlock answers per call");
        assert_eq!(srv.connections(), 1);
    }

    const STREAMED: &[u8] =
        br#"{"model":"gpt-4.1","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

    fn streamed(url: String) -> HttpRequest {
        HttpRequest {
            body: bytes::Bytes::from_static(STREAMED),
            stream: true,
            ..chat(url)
        }
    }

    /// The body's chunks as they come, each read in a wait of its own, as a stream's consumer
    /// reads them (the connection is polled only then).
    fn chunks(body: &mut crate::wire::ByteStream) -> Vec<crate::error::Result<bytes::Bytes>> {
        use futures_util::StreamExt;
        let mut got = Vec::new();
        while let Some(c) = blocking(body.next()) {
            got.push(c);
        }
        got
    }

    fn stream_body(resp: crate::wire::HttpResponse) -> crate::wire::ByteStream {
        match resp.body {
            Body::Stream(s) => s,
            Body::Full(_) => panic!("a streamed answer"),
        }
    }

    #[test]
    fn a_stream_is_read_over_the_callers_own_connection_as_it_comes_and_the_connection_kept() {
        let srv = MockServer::start().unwrap();
        let url = format!("{}/v1/chat/completions", srv.url());
        for _ in 0..2 {
            srv.push_json(json!({"chunks": ["a", "b", "c"], "chunk_delay": 0.02}))
                .unwrap();
        }
        let before = sent();
        for _ in 0..2 {
            let resp = blocking(super::super::send(streamed(url.clone()))).unwrap();
            assert_eq!(resp.status, 200);
            let got = chunks(&mut stream_body(resp));
            let text: String = got
                .iter()
                .map(|c| String::from_utf8_lossy(c.as_ref().unwrap()).into_owned())
                .collect();
            assert!(got.len() >= 3, "{} chunks: {text}", got.len());
            assert!(text.contains("[DONE]"), "{text}");
        }
        assert_eq!(sent() - before, 2, "both on the direct path");
        assert_eq!(
            srv.connections(),
            1,
            "the second stream reused the connection"
        );
    }

    /// `err` is a timeout, and came well before the server's 3 s delay was over.
    fn timed_out_early(err: &LlmError, start: Instant) {
        assert_eq!(err.kind, ErrorKind::Timeout, "{}", err.message);
        let took = start.elapsed();
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn a_stream_whose_next_chunk_is_late_times_out() {
        let srv = MockServer::start().unwrap();
        srv.push_json(json!({"chunks": ["a", "b"], "chunk_delay": 3.0}))
            .unwrap();
        let mut req = streamed(format!("{}/v1/chat/completions", srv.url()));
        req.timeout = Duration::from_millis(300);
        let start = Instant::now();
        let mut body = stream_body(blocking(super::super::send(req)).unwrap());
        let got = chunks(&mut body);
        let err = match got.last() {
            Some(Err(e)) => e,
            _ => panic!("no timeout"),
        };
        timed_out_early(err, start);
    }

    #[test]
    fn a_stream_opened_on_one_thread_can_be_read_on_another() {
        let srv = MockServer::start().unwrap();
        srv.push_json(json!({"chunks": ["a", "b", "c"], "chunk_delay": 0.05}))
            .unwrap();
        let url = format!("{}/v1/chat/completions", srv.url());
        let before = crate::runtime::local::slots_in_use();
        let mut body = stream_body(blocking(super::super::send(streamed(url))).unwrap());
        let got = std::thread::spawn(move || chunks(&mut body))
            .join()
            .unwrap();
        let text: String = got
            .iter()
            .map(|c| String::from_utf8_lossy(c.as_ref().unwrap()).into_owned())
            .collect();
        assert!(text.contains("[DONE]"), "{text}");
        // The socket was closed on the other thread; its slot here is free again.
        assert_eq!(crate::runtime::local::slots_in_use(), before);
    }

    #[test]
    fn a_stream_dropped_midway_closes_its_connection() {
        use futures_util::StreamExt;
        let srv = MockServer::start().unwrap();
        srv.push_json(json!({"chunks": ["a", "b", "c"], "chunk_delay": 0.5}))
            .unwrap();
        srv.push_json(json!({"text": "next"})).unwrap();
        let url = format!("{}/v1/chat/completions", srv.url());
        let mut body = stream_body(blocking(super::super::send(streamed(url.clone()))).unwrap());
        blocking(body.next()).unwrap().unwrap();
        drop(body);
        blocking(super::super::send(chat(url))).unwrap();
        assert_eq!(
            srv.connections(),
            2,
            "the cut stream's connection was not reused"
        );
    }

    #[test]
    fn a_caller_that_does_not_block_sends_through_reqwest() {
        let srv = MockServer::start().unwrap();
        srv.push_json(json!({"text": "one"})).unwrap();
        let url = format!("{}/v1/chat/completions", srv.url());
        let before = sent();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let resp = rt
            .block_on(crate::runtime::run(super::super::send(chat(url))))
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(sent(), before);
    }

    #[test]
    fn a_slow_answer_times_out_on_the_direct_path() {
        let srv = MockServer::start().unwrap();
        srv.push_json(json!({"text": "late", "latency": 3.0}))
            .unwrap();
        let mut req = chat(format!("{}/v1/chat/completions", srv.url()));
        req.timeout = Duration::from_millis(200);
        let start = Instant::now();
        let err = match blocking(super::super::send(req)) {
            Err(e) => e,
            Ok(_) => panic!("answered"),
        };
        timed_out_early(&err, start);
    }

    #[test]
    fn a_refused_connection_is_a_connection_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let req = chat(format!("http://127.0.0.1:{port}/v1/chat/completions"));
        let err = match blocking(super::super::send(req)) {
            Err(e) => e,
            Ok(_) => panic!("answered"),
        };
        assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
        assert!(
            err.message.starts_with("could not connect"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_answer_over_the_size_cap_fails() {
        let srv = MockServer::start().unwrap();
        srv.push_json(json!({"text": "x".repeat(5000)})).unwrap();
        let mut req = chat(format!("{}/v1/chat/completions", srv.url()));
        req.settings.max_response_bytes = 1000;
        let err = match blocking(super::super::send(req)) {
            Err(e) => e,
            Ok(_) => panic!("answered"),
        };
        assert_eq!(err.kind, ErrorKind::InvalidResponse, "{}", err.message);
    }

    #[test]
    fn a_connection_the_server_closed_while_idle_is_replaced() {
        let srv = MockServer::start().unwrap();
        srv.push_json(json!({"text": "one"})).unwrap();
        let url = format!("{}/v1/chat/completions", srv.url());
        blocking(super::super::send(chat(url.clone()))).unwrap();
        let port = srv.addr().port();
        // The same port, a new server: the pooled connection went with the old one.
        srv.shutdown();
        drop(srv);
        // Idle a moment, as a kept connection does: the old server's connection tasks close
        // their sockets on its runtime after `shutdown` returns. (A close that crosses the
        // reuse itself is a failed send for any client: the request may have been taken.)
        std::thread::sleep(Duration::from_millis(200));
        let srv = MockServer::start_on(port).unwrap();
        srv.push_json(json!({"text": "two"})).unwrap();
        let resp = blocking(super::super::send(chat(url))).unwrap();
        assert_eq!(resp.status, 200);
    }

    /// A request as `crate::forward` builds one: the SDK's headers, sent as a stream.
    fn forwarded(url: &str, body: &'static [u8], accept: &str) -> HttpRequest {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("accept", accept.parse().unwrap());
        headers.insert("accept-encoding", "gzip, deflate".parse().unwrap());
        headers.insert("authorization", "Bearer sk-test".parse().unwrap());
        HttpRequest {
            method: Method::POST,
            url: url.into(),
            headers,
            body: bytes::Bytes::from_static(body),
            stream: true,
            timeout: Duration::from_secs(10),
            settings: Settings {
                passthrough: true,
                ..Settings::default()
            },
        }
    }

    #[test]
    fn only_a_forwarded_request_for_a_whole_answer_may_go_direct() {
        let url = "http://127.0.0.1:9/v1/chat/completions";
        assert!(super::answered_whole(&forwarded(
            url,
            CHAT,
            "application/json"
        )));
        let asks: &[u8] = br#"{"model":"gpt-4.1","stream":true,"messages":[]}"#;
        assert!(!super::answered_whole(&forwarded(
            url,
            asks,
            "application/json"
        )));
        let gemini = "http://127.0.0.1:9/v1beta/models/g:streamGenerateContent?alt=sse";
        assert!(!super::answered_whole(&forwarded(gemini, CHAT, "*/*")));
        let sse = "text/event-stream";
        assert!(!super::answered_whole(&forwarded(url, CHAT, sse)));
        let mut get = forwarded(url, CHAT, "application/json");
        get.method = Method::GET;
        assert!(!super::answered_whole(&get));
    }

    #[test]
    fn a_forwarded_request_goes_direct_with_its_own_headers_and_its_answer_undecoded() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(br#"{"ok":true}"#).unwrap();
        let packed = gz.finish().unwrap();
        let answer = packed.clone();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.ends_with(CHAT) {
                let n = sock.read(&mut buf).unwrap();
                assert!(n > 0, "closed before the body");
                seen.extend_from_slice(&buf[..n]);
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
                answer.len()
            );
            sock.write_all(head.as_bytes()).unwrap();
            sock.write_all(&answer).unwrap();
            String::from_utf8_lossy(&seen).to_lowercase()
        });
        let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
        let before = sent();
        let resp = blocking(super::super::send(forwarded(
            &url,
            CHAT,
            "application/json",
        )))
        .unwrap();
        assert_eq!(sent() - before, 1, "answered on the direct path");
        let Body::Full(body) = resp.body else {
            panic!("read whole")
        };
        assert_eq!(&body[..], &packed[..], "the bytes as the server sent them");
        assert_eq!(resp.headers.get("content-encoding").unwrap(), "gzip");
        let request = server.join().unwrap();
        assert!(!request.contains("user-agent"), "{request}");
        assert!(
            request.contains("accept-encoding: gzip, deflate"),
            "{request}"
        );
        assert!(request.contains("accept: application/json"), "{request}");
        assert!(
            request.contains(&format!("host: 127.0.0.1:{port}")),
            "{request}"
        );
    }

    #[test]
    fn a_gzip_answer_is_decoded_and_the_request_sent_once() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut requests = 0;
            listener.set_nonblocking(false).unwrap();
            let (mut sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = sock.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                if seen.ends_with(CHAT) {
                    requests += 1;
                    seen.clear();
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    gz.write_all(br#"{"ok":true}"#).unwrap();
                    let body = gz.finish().unwrap();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    sock.write_all(head.as_bytes()).unwrap();
                    sock.write_all(&body).unwrap();
                }
            }
            requests
        });
        let req = chat(format!("http://127.0.0.1:{port}/v1/chat/completions"));
        let before = sent();
        let resp = blocking(super::super::send(req)).unwrap();
        assert_eq!(sent() - before, 1, "answered on the direct path");
        let Body::Full(body) = resp.body else {
            panic!("buffered")
        };
        assert_eq!(&body[..], br#"{"ok":true}"#);
        assert!(resp.headers.get("content-encoding").is_none());
        assert_eq!(server.join().unwrap(), 1, "the server saw the request once");
    }
}
