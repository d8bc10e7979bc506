//! A chat call's processing mode: `direct` (never queued), `queue` (always), or `auto`: answered
//! directly while the provider is healthy, queued when its breaker is open or the call ends in
//! an outage, so the caller gets a queue id instead of an error.

use super::{Queue, Submission};
use crate::client::Client;
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::{ChatRequest, ChatResponse};
use crate::resilience::{CallOptions, CallReport};

/// `processing=` of a chat call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Processing {
    #[default]
    Direct,
    Queue,
    Auto,
}

impl Processing {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "direct" => Ok(Self::Direct),
            "queue" => Ok(Self::Queue),
            "auto" => Ok(Self::Auto),
            _ => Err(LlmError::config(format!(
                "processing must be \"direct\", \"queue\" or \"auto\", got {s:?}"
            ))),
        }
    }
}

/// A call's answer, or where it waits.
#[derive(Debug)]
pub enum Answer {
    /// Boxed: a response is ten times the size of a queue id.
    Direct(Box<ChatResponse>, CallReport),
    /// The queue id.
    Queued(String),
}

/// The failures that mean the provider is down rather than the request wrong: worth keeping
/// the request for later.
pub fn outage(e: &LlmError) -> bool {
    matches!(
        e.kind,
        ErrorKind::Overloaded
            | ErrorKind::Server
            | ErrorKind::Timeout
            | ErrorKind::Connection
            | ErrorKind::CircuitOpen
    )
}

impl Queue {
    /// Run `req` on `client` as `mode` says. A queued request targets the client's
    /// "provider/model", and this process's workers use `client` itself for it.
    pub async fn chat(
        &self,
        client: &Client,
        req: ChatRequest,
        opts: CallOptions,
        mode: Processing,
    ) -> Result<Answer> {
        let target = format!("{}/{}", client.provider(), client.model());
        match mode {
            Processing::Direct => {
                let (r, report) = client.chat_with(req, opts).await?;
                Ok(Answer::Direct(Box::new(r), report))
            }
            Processing::Queue => {
                self.use_client(&target, client.clone());
                let sub = Submission {
                    target,
                    ..Submission::default()
                };
                Ok(Answer::Queued(self.submit(&req, sub).await?))
            }
            Processing::Auto => {
                // Kept for the queue: the call consumes its request.
                let kept = req.clone();
                match client.chat_with(req, opts).await {
                    Ok((r, report)) => Ok(Answer::Direct(Box::new(r), report)),
                    Err(e) if outage(&e) => {
                        self.use_client(&target, client.clone());
                        let sub = Submission {
                            target,
                            ..Submission::default()
                        };
                        match self.submit(&kept, sub).await {
                            Ok(id) => Ok(Answer::Queued(id)),
                            Err(mut full) => {
                                full.message = format!(
                                    "{} (the call failed with {}: {}, and could not be queued)",
                                    full.message,
                                    e.kind.name(),
                                    e.message
                                );
                                Err(full)
                            }
                        }
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}
