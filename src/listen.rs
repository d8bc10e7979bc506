//! The HTTP/1.1 server set-up the gateway and the mock server share (hyper on the shared
//! runtime): take a bound socket, accept connections, serve each with its own service, and stop.
//! Stopping closes the listener, lets each connection finish the request it is serving (streams
//! included) within a grace period and then close, cuts whatever is still running when the
//! grace period passes, and then says the port is released.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How connections are served and stopped.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long a connection may take to send a request's head; `None`: as long as it likes.
    pub header_timeout: Option<Duration>,
    /// After a stop, how long connections may take to finish what they are serving before they
    /// are cut; zero: cut at once.
    pub grace: Duration,
    /// Names the server in the warning about connections cut at the end of the grace period.
    pub label: &'static str,
}

/// A listening socket and its connections; stopped by [`Listening::stop`] or on drop.
pub struct Listening {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    /// Disconnects once every connection is done (or cut) and the port is released.
    closed: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Listening {
    /// Serve `listener` (bound, blocking or not) on the shared runtime; each accepted
    /// connection is served by a service `connection()` makes for it.
    pub fn start<S, B>(
        listener: std::net::TcpListener,
        options: Options,
        connection: impl Fn() -> S + Send + 'static,
    ) -> crate::error::Result<Self>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let handle = crate::runtime::handle()?;
        let io = |what: &str, e: std::io::Error| {
            crate::error::LlmError::new(
                crate::error::ErrorKind::Internal,
                format!("{}: cannot {what} the socket: {e}", options.label),
            )
        };
        listener
            .set_nonblocking(true)
            .map_err(|e| io("configure", e))?;
        let addr = listener.local_addr().map_err(|e| io("read", e))?;
        let listener = {
            let _entered = handle.enter();
            TcpListener::from_std(listener).map_err(|e| io("register", e))?
        };
        let (stop, stop_rx) = watch::channel(false);
        let (closed_tx, closed_rx) = std::sync::mpsc::channel();
        handle.spawn(accept_loop(
            listener, options, connection, stop_rx, closed_tx,
        ));
        Ok(Self {
            addr,
            stop,
            closed: Mutex::new(Some(closed_rx)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting; connections finish within the grace period. Outside a runtime this
    /// waits until the port is released, or until `wait` passes; inside one it only signals,
    /// since blocking a runtime thread on the accept task could stall it.
    pub fn stop(&self, wait: Duration) {
        self.stop.send_replace(true);
        let waiter = self
            .closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rx) = waiter {
            if tokio::runtime::Handle::try_current().is_err() {
                let _ = rx.recv_timeout(wait);
            }
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Resolves once `rx` says stop (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    // The borrow `wait_for` returns is not Send; drop it here, not across the caller's await.
    let _ = rx.wait_for(|s| *s).await;
}

/// Accept until told to stop, then wait for the connections (up to the grace period) and cut
/// the rest. Dropping `_closed` at the end tells a waiting `stop` that all is done.
async fn accept_loop<S, B>(
    listener: TcpListener,
    options: Options,
    connection: impl Fn() -> S + Send + 'static,
    mut stop: watch::Receiver<bool>,
    _closed: std::sync::mpsc::Sender<()>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let open = Arc::new(AtomicUsize::new(0));
    let (kill, kill_rx) = watch::channel(false);
    let mut builder = http1::Builder::new();
    if let Some(timeout) = options.header_timeout {
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(timeout);
    }
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    open.fetch_add(1, Ordering::AcqRel);
                    let conn = serve(stream, &builder, connection(), stop.clone(), kill_rx.clone());
                    let open = open.clone();
                    tokio::spawn(async move {
                        conn.await;
                        open.fetch_sub(1, Ordering::AcqRel);
                    });
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
    drop(listener);
    let deadline = tokio::time::Instant::now() + options.grace;
    // Polled: a stop waits at most a few ms longer than its last connection.
    while open.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = open.load(Ordering::Acquire);
    if left > 0 {
        if !options.grace.is_zero() {
            tracing::warn!(target: "llmrail::listen", connections = left,
                "{}: the shutdown deadline passed, cutting the connections left", options.label);
        }
        kill.send_replace(true);
        while open.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// One connection: served until it ends; on a stop, it finishes the request in hand and
/// closes; on a kill, it is dropped where it stands.
fn serve<S, B>(
    stream: TcpStream,
    builder: &http1::Builder,
    service: S,
    mut stop: watch::Receiver<bool>,
    mut kill: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static
where
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let _ = stream.set_nodelay(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    async move {
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stopped(&mut stop) => conn.as_mut().graceful_shutdown(),
        }
        tokio::select! {
            _ = conn => {}
            _ = stopped(&mut kill) => {}
        }
    }
}
