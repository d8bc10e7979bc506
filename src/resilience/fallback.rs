//! Fallbacks: after a final failure that is not the caller's fault, the same request goes to the
//! next model in the list, translated by that model's provider.

use std::sync::Arc;

use crate::error::{ErrorKind, LlmError, Result};
use crate::model::ChatRequest;

/// Makes a call's request again for a fallback target ("provider/model", the request as the
/// primary got it): a prompt template renders that provider's variant (`crate::prompts`).
#[derive(Clone)]
pub struct Retarget(pub Arc<RetargetFn>);

/// (target "provider/model", the primary's request) -> that target's request.
pub type RetargetFn = dyn Fn(&str, &ChatRequest) -> Result<ChatRequest> + Send + Sync;

impl std::fmt::Debug for Retarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Retarget")
    }
}

/// A model to fall back to; key and base URL default from the environment like the primary's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FallbackConfig {
    /// "provider/model".
    pub model: String,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
}

impl FallbackConfig {
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }
}

/// Statuses that mean the request itself is wrong: another model would refuse it too (or the
/// caller has to fix their key or model name).
const CALLER_FAULTS: [u16; 5] = [400, 401, 403, 404, 422];

/// Whether another model may succeed where this failure happened.
pub fn eligible(e: &LlmError) -> bool {
    if e.status.is_some_and(|s| CALLER_FAULTS.contains(&s)) {
        return false;
    }
    !matches!(
        e.kind,
        ErrorKind::Configuration
            | ErrorKind::Cancelled
            | ErrorKind::Internal
            // A replay miss names the request the test sent; a fallback would hide it.
            | ErrorKind::CassetteMiss
            // Another image model's policy refuses what one refused (and a 200 carries it).
            | ErrorKind::ContentPolicy
    )
}

/// The request as sent to a fallback: `extra_body` holds provider-specific fields, so it only
/// goes along to the same provider.
pub fn request_for(req: &ChatRequest, same_provider: bool) -> ChatRequest {
    let mut out = req.clone();
    if !same_provider {
        out.extra_body.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> LlmError {
        let mut e = LlmError::new(ErrorKind::from_status(s), "x");
        e.status = Some(s);
        e
    }

    #[test]
    fn only_failures_that_are_not_the_callers_fall_back() {
        for s in [400, 401, 403, 404, 422] {
            assert!(!eligible(&status(s)), "{s}");
        }
        for s in [408, 409, 413, 429, 500, 503, 529] {
            assert!(eligible(&status(s)), "{s}");
        }
        assert!(eligible(&LlmError::new(ErrorKind::CircuitOpen, "open")));
        assert!(eligible(&LlmError::new(ErrorKind::Connection, "reset")));
        assert!(eligible(&LlmError::invalid_response("junk")));
        assert!(!eligible(&LlmError::config("bad message")));
        assert!(!eligible(&LlmError::new(ErrorKind::Cancelled, "gone")));
    }

    #[test]
    fn extra_body_stays_with_its_provider() {
        let mut req = ChatRequest::default();
        req.extra_body.insert("top_k".into(), 5.into());
        assert!(request_for(&req, false).extra_body.is_empty());
        assert_eq!(request_for(&req, true).extra_body.len(), 1);
    }
}
