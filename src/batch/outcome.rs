//! What became of one item: kept as the provider's own bytes (an answer's body, an error's
//! status and body) so the store holds it as received, and decoded by the client's provider
//! when the results are asked for, exactly as a real-time answer is.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, LlmError};
use crate::model::ChatResponse;
use crate::providers::Provider;

/// One item's end, as the provider reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Outcome {
    Succeeded {
        /// The answer's body, as the real-time API would have sent it (the store keeps it in a
        /// column of its own: as bytes, not as a JSON string with every quote escaped).
        #[serde(skip)]
        body: Bytes,
        request_id: Option<String>,
        /// The answer, decoded from `body` when its results line was read (Anthropic's), so it
        /// is not read twice; never stored (a job read back from its store decodes `body`).
        #[serde(skip)]
        decoded: Decoded,
    },
    Errored {
        /// The HTTP status the error stands for (Anthropic gives only a type: `status_of`).
        status: u16,
        /// The error body, as the real-time API would have sent it (kept as `Succeeded`'s).
        #[serde(skip)]
        body: Bytes,
    },
    /// The provider's window passed before the item was processed.
    Expired,
    Cancelled,
}

impl Outcome {
    /// The provider's body, where the outcome has one.
    pub(crate) fn body(&self) -> Option<&Bytes> {
        match self {
            Self::Succeeded { body, .. } | Self::Errored { body, .. } => Some(body),
            Self::Expired | Self::Cancelled => None,
        }
    }

    fn body_mut(&mut self) -> Option<&mut Bytes> {
        match self {
            Self::Succeeded { body, .. } | Self::Errored { body, .. } => Some(body),
            Self::Expired | Self::Cancelled => None,
        }
    }

    /// Put back the body the store kept apart.
    pub(crate) fn with_body(self, kept: Option<Vec<u8>>) -> Self {
        match kept {
            Some(kept) => self.with_bytes(Bytes::from(kept)),
            None => self,
        }
    }

    /// Put back the body the store kept apart, as a slice of a file it read.
    pub(crate) fn with_bytes(mut self, kept: Bytes) -> Self {
        if let Some(body) = self.body_mut() {
            *body = kept;
        }
        self
    }

    /// Whether a new provider batch may succeed where this one failed: an overload, a server
    /// error, a timeout or a rate limit, or the window passing. A bad request fails as it is.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            Self::Expired => true,
            Self::Errored { status, .. } => matches!(
                ErrorKind::from_status(*status),
                ErrorKind::Overloaded
                    | ErrorKind::Server
                    | ErrorKind::Timeout
                    | ErrorKind::RateLimit
            ),
            Self::Succeeded { .. } | Self::Cancelled => false,
        }
    }
}

/// An answer already decoded from its outcome's body, or none. Two outcomes are equal whatever
/// they hold here: it is what their bodies decode to.
#[derive(Clone, Default)]
pub(crate) struct Decoded(pub(crate) Option<Arc<ChatResponse>>);

impl PartialEq for Decoded {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Decoded"
        } else {
            "NotDecoded"
        })
    }
}

/// One item's result: the answer or the typed error, and how many provider batches (or
/// calls, in concurrent mode) it took.
#[derive(Debug)]
pub struct ItemResult {
    pub custom_id: String,
    pub result: Result<ChatResponse, LlmError>,
    pub attempts: u32,
    /// Priced at the provider's batch discount (false in concurrent mode).
    pub batch_priced: bool,
}

/// Decode `outcome` with the provider that made the request. An answer decoded with its line
/// is handed over, not copied (a 10,000-item job's answers would be held twice), so a later
/// read decodes its body again.
pub(crate) fn decode(
    provider: &dyn Provider,
    model: &str,
    outcome: &mut Outcome,
) -> Result<ChatResponse, LlmError> {
    let at = |e: LlmError| e.at(provider.name(), model);
    match outcome {
        Outcome::Succeeded {
            body,
            request_id,
            decoded,
        } => {
            let mut r = match decoded.0.take() {
                Some(r) => Arc::try_unwrap(r).unwrap_or_else(|r| ChatResponse::clone(&r)),
                None => provider.parse_chat_shared(body).map_err(at)?,
            };
            r.request_id.clone_from(request_id);
            if r.model.is_empty() {
                r.model = model.to_string();
            }
            Ok(r)
        }
        Outcome::Errored { status, body } => Err(at(provider.parse_error(
            *status,
            &http::HeaderMap::new(),
            body,
        ))),
        Outcome::Expired => Err(at(LlmError::new(
            ErrorKind::Timeout,
            "the provider's batch window passed before this request was processed (expired)",
        ))),
        Outcome::Cancelled => Err(at(LlmError::new(
            ErrorKind::Cancelled,
            "the batch was cancelled before this request was processed",
        ))),
    }
}

/// The HTTP status an Anthropic error type stands for (docs.claude.com/en/api/errors).
pub(crate) fn status_of(error_type: &str) -> u16 {
    match error_type {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}
