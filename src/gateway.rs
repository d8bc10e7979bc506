//! `llmrail serve`: an HTTP gateway that speaks OpenAI's Chat Completions and Anthropic's
//! Messages, so services in any language (and the official SDKs, unchanged) call through the
//! library's pipeline: each virtual model is one [`crate::Client`], built once at start with its
//! fallbacks, retries, rate limits and breakers; with no models configured, every
//! "provider/model" routes directly.
//!
//! - `config.rs`: the YAML file, `${ENV}` references, checks that name the line;
//! - `auth.rs`: gateway keys (hashed, compared in constant time), allow-lists, per-key limits;
//! - `budget.rs`: what each key may spend per day, month or in total;
//! - `request.rs`: a request in unified terms, and what each target gets of it;
//! - `openai_wire.rs`, `anthropic_wire.rs`: the two wires, read and written (whole and SSE);
//! - `errors.rs`: every refusal in the endpoint's own error shape, no secret in it;
//! - `routes/jobs.rs`: async jobs over the durable queue (`/v1/jobs`, `processing: "auto"`);
//! - `routes.rs`: one request, start to end;
//! - `access.rs`: its access-log record, written in place or pushed to a sink;
//! - `server.rs`: the socket, connection limits and the graceful stop; `body.rs`: what it sends;
//! - `trace.rs`: the caller's W3C trace context, and each request's spans for a span sink.
//!
//! ```no_run
//! use llmrail::gateway::{Gateway, GatewayConfig, Server};
//! let cfg = GatewayConfig::parse("inline", "models:\n  fast:\n    model: openai/gpt-4o-mini\n",
//!     |name| std::env::var(name).ok())?;
//! let server = Server::start(Gateway::new(cfg)?, "127.0.0.1", 4000)?;
//! println!("OpenAI clients: {}/v1", server.url());
//! # Ok::<(), llmrail::LlmError>(())
//! ```

mod access;
mod anthropic_wire;
mod auth;
mod body;
mod budget;
mod config;
mod errors;
mod openai_wire;
mod request;
mod routes;
mod server;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_jobs;
mod trace;

pub use access::{AccessRecord, AccessSink, ACCESS_TARGET};
pub use config::{GatewayConfig, KeyConfig, ServerConfig};
pub use routes::Gateway;
pub use server::Server;
pub use trace::{CallSpan, Parent, RequestSpan, SpanSink};
