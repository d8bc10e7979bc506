//! The listening socket and its connections (hyper, HTTP/1.1, as the mock server serves): a
//! header-read timeout on every connection, and a graceful stop. Stopping closes the listener,
//! lets each connection finish the request it is serving (streams included) and then close,
//! and cuts whatever is still running when the shutdown deadline passes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::body::Body;
use super::routes::{self, Gateway};
use crate::error::{ErrorKind, LlmError, Result};

/// A running gateway; stopped by [`Server::stop`] (or on drop, without waiting).
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    /// Disconnects once every connection is done (or cut) and the port is released.
    closed: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Server {
    /// Bind `host:port` (0: a free port) and serve `gateway` on the shared runtime.
    pub fn start(gateway: Gateway, host: &str, port: u16) -> Result<Self> {
        let handle = crate::runtime::handle()?;
        let io = |what: &str, e: std::io::Error| {
            LlmError::new(
                ErrorKind::Configuration,
                format!("llmrail serve: cannot {what} {host}:{port}: {e}"),
            )
        };
        let std_listener = std::net::TcpListener::bind((host, port)).map_err(|e| io("bind", e))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| io("configure", e))?;
        let addr = std_listener.local_addr().map_err(|e| io("read", e))?;
        let listener = {
            let _entered = handle.enter();
            TcpListener::from_std(std_listener).map_err(|e| io("register", e))?
        };
        let (stop, stop_rx) = watch::channel(false);
        let (closed_tx, closed_rx) = std::sync::mpsc::channel();
        handle.spawn(accept_loop(listener, Arc::new(gateway), stop_rx, closed_tx));
        tracing::info!(target: "llmrail::gateway", %addr, "llmrail serve: listening");
        Ok(Self {
            addr,
            stop,
            closed: Mutex::new(Some(closed_rx)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`; OpenAI clients use `url() + "/v1"` as base URL, Anthropic's `url()`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting; requests in flight finish (up to the config's shutdown timeout). Outside
    /// a runtime this waits until they have, or until `wait` passes.
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

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn accept_loop(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    mut stop: watch::Receiver<bool>,
    _closed: std::sync::mpsc::Sender<()>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let (kill, kill_rx) = watch::channel(false);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    open.fetch_add(1, Ordering::AcqRel);
                    let conn = serve(stream, gateway.clone(), stop.clone(), kill_rx.clone());
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
    tracing::info!(target: "llmrail::gateway", "llmrail serve: stopping, finishing requests in flight");
    let deadline = tokio::time::Instant::now() + gateway.shutdown_timeout();
    // Polled: a shutdown waits at most a few ms longer than its last connection.
    while open.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = open.load(Ordering::Acquire);
    if left > 0 {
        tracing::warn!(target: "llmrail::gateway", connections = left,
            "llmrail serve: shutdown deadline passed, cutting the connections left");
        kill.send_replace(true);
        while open.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    tracing::info!(target: "llmrail::gateway", "llmrail serve: stopped");
}

async fn serve(
    stream: TcpStream,
    gateway: Arc<Gateway>,
    mut stop: watch::Receiver<bool>,
    mut kill: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let header_timeout = gateway.header_timeout();
    let service = service_fn(move |req: Request<Incoming>| {
        let gateway = gateway.clone();
        async move {
            Ok::<Response<Body>, std::convert::Infallible>(routes::handle(&gateway, req).await)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
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
