//! The listening socket (`crate::listen`, the set-up the mock server shares): HTTP/1.1 with a
//! header-read timeout on every connection, and a graceful stop. Stopping closes the listener,
//! lets each connection finish the request it is serving (streams included) and then close,
//! and cuts whatever is still running when the config's shutdown deadline passes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;

use super::body::Body;
use super::routes::{self, Gateway};
use crate::error::{ErrorKind, LlmError, Result};
use crate::listen::{Listening, Options};

/// A running gateway; stopped by [`Server::stop`] (or on drop, without waiting).
pub struct Server {
    inner: Listening,
}

impl Server {
    /// Bind `host:port` (0: a free port) and serve `gateway` on the shared runtime.
    pub fn start(gateway: Gateway, host: &str, port: u16) -> Result<Self> {
        let listener = std::net::TcpListener::bind((host, port)).map_err(|e| {
            LlmError::new(
                ErrorKind::Configuration,
                format!("llmrail serve: cannot bind {host}:{port}: {e}"),
            )
        })?;
        let options = Options {
            header_timeout: Some(gateway.header_timeout()),
            grace: gateway.shutdown_timeout(),
            label: "llmrail serve",
        };
        let gateway = Arc::new(gateway);
        let inner = Listening::start(listener, options, move || {
            let gateway = gateway.clone();
            service_fn(move |req: Request<Incoming>| {
                let gateway = gateway.clone();
                async move {
                    Ok::<Response<Body>, std::convert::Infallible>(
                        routes::handle(&gateway, req).await,
                    )
                }
            })
        })?;
        let addr = inner.addr();
        tracing::info!(target: "llmrail::gateway", %addr, "llmrail serve: listening");
        Ok(Self { inner })
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr()
    }

    /// `http://host:port`; OpenAI clients use `url() + "/v1"` as base URL, Anthropic's `url()`.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr())
    }

    /// Stop accepting; requests in flight finish (up to the config's shutdown timeout). Outside
    /// a runtime this waits until they have, or until `wait` passes.
    pub fn stop(&self, wait: Duration) {
        tracing::info!(target: "llmrail::gateway", "llmrail serve: stopping, finishing requests in flight");
        self.inner.stop(wait);
        tracing::info!(target: "llmrail::gateway", "llmrail serve: stopped");
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}
