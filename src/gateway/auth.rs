//! Who is calling: the gateway key from `Authorization: Bearer` or `x-api-key` (the headers the
//! official OpenAI and Anthropic SDKs send their key in), matched against the configured keys.
//!
//! Keys are kept only as SHA-256 digests, made when the server starts, so a heap dump or a
//! debug print holds no key. A presented key is hashed once and compared with every stored
//! digest in constant time (`subtle`), all of them every time, so the response time says nothing
//! about how close a guess came or which entry it matched.
//!
//! A key's own rate limit and budget are kept in the config's Redis when it names one, so
//! several gateway processes behind a load balancer count one limit and one spend per key.

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::budget::Budget;
use super::config::KeyConfig;
use crate::error::{ErrorKind, LlmError, Result};
use crate::resilience::ratelimit::{Limiter, RedisStore, Store};
use crate::resilience::redis::Conn;

/// One configured key, as the server holds it.
pub struct Caller {
    pub name: String,
    digest: [u8; 32],
    /// Virtual models this key may call; `None`: every one.
    allowed: Option<Vec<String>>,
    limiter: Option<Arc<Limiter>>,
    pub budget: Option<Arc<Budget>>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// Refused unless this key may call `model`.
    pub fn may_call(&self, model: &str) -> Result<()> {
        match &self.allowed {
            Some(list) if !list.iter().any(|m| m == model) => Err(LlmError::new(
                ErrorKind::PermissionDenied,
                format!("the key {:?} may not call the model {model:?}", self.name),
            )),
            _ => Ok(()),
        }
    }

    /// Count one request against the key's own rate limit; over it, a `RateLimit` error with
    /// the wait in `retry_after`.
    pub async fn admit(&self) -> Result<()> {
        if let Some(limiter) = &self.limiter {
            let (ticket, _) = limiter.acquire(0, None).await.map_err(|mut e| {
                e.message = format!("the key {:?} is over its rate limit", self.name);
                e
            })?;
            limiter.settle(ticket, 0).await;
        }
        Ok(())
    }

    /// Refused once the key has spent its budget for the period (`budget.rs`).
    pub async fn within_budget(&self) -> Result<()> {
        match &self.budget {
            Some(budget) => budget.check().await,
            None => Ok(()),
        }
    }

    /// Add a call's cost to the key's budget (nothing when it has none, or the cost is unknown).
    pub async fn charge(&self, usd: Option<f64>) {
        if let (Some(budget), Some(usd)) = (&self.budget, usd) {
            budget.charge(usd).await;
        }
    }
}

/// Every configured key. Empty: the gateway is open (no key asked for).
#[derive(Debug, Default)]
pub struct Keys {
    callers: Vec<Caller>,
}

fn digest(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

impl Keys {
    /// Hash `keys`; with `shared` (the config's `redis_url`), each key's rate limit and budget
    /// are kept in that Redis, shared by every gateway naming it.
    pub fn new(keys: &[KeyConfig], shared: Option<Arc<Conn>>) -> Self {
        let store = shared
            .clone()
            .map(|c| Arc::new(RedisStore::new(c)) as Arc<dyn Store>);
        let callers = keys
            .iter()
            .map(|k| Caller {
                name: k.name.clone(),
                digest: digest(k.key.as_bytes()),
                allowed: k.models.clone(),
                limiter: k.rate_limit.clone().map(|cfg| {
                    Limiter::new(
                        cfg,
                        format!("llmrail-gateway-key:{}", k.name),
                        store.clone(),
                    )
                }),
                budget: k.budget.map(|b| Budget::new(b, &k.name, shared.clone())),
            })
            .collect();
        Self { callers }
    }

    /// Each key's budget by the key's name.
    pub fn budgets(&self) -> HashMap<String, Arc<Budget>> {
        self.callers
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.budget.clone()?)))
            .collect()
    }

    /// No key configured: every request is let in.
    pub fn open(&self) -> bool {
        self.callers.is_empty()
    }

    /// The caller whose key the request carries; `Ok(None)` when the gateway is open.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Option<&Caller>> {
        if self.open() {
            return Ok(None);
        }
        let Some(presented) = presented(headers) else {
            return Err(LlmError::new(
                ErrorKind::Authentication,
                "no gateway key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`",
            ));
        };
        let wanted = digest(presented);
        // Every entry is compared, and the match chosen without a branch on secret data.
        let mut found = 0u32;
        let mut any = subtle::Choice::from(0);
        for (i, c) in self.callers.iter().enumerate() {
            let same = c.digest.ct_eq(&wanted);
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            found.conditional_assign(&index, same);
            any |= same;
        }
        if bool::from(any) {
            let index = usize::try_from(found).unwrap_or(usize::MAX);
            if let Some(c) = self.callers.get(index) {
                return Ok(Some(c));
            }
        }
        Err(LlmError::new(
            ErrorKind::Authentication,
            "the gateway key is not valid",
        ))
    }
}

/// The key the request carries: `Authorization: Bearer <key>`, else `x-api-key`.
fn presented(headers: &HeaderMap) -> Option<&[u8]> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .and_then(|v| {
            let (scheme, rest) = v.split_at_checked(7)?;
            scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
        });
    bearer
        .or_else(|| headers.get("x-api-key").map(|v| v.as_bytes()))
        .map(<[u8]>::trim_ascii)
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::resilience::ratelimit::RateLimitConfig;

    fn keys() -> Keys {
        Keys::new(
            &[
                KeyConfig {
                    name: "team-a".into(),
                    key: "a-key-of-sixteen-chars".into(),
                    models: Some(vec!["fast".into()]),
                    rate_limit: Some(RateLimitConfig {
                        rpm: Some(2),
                        wait: false,
                        ..RateLimitConfig::default()
                    }),
                    budget: None,
                },
                KeyConfig {
                    name: "team-b".into(),
                    key: "b-key-of-sixteen-chars".into(),
                    models: None,
                    rate_limit: None,
                    budget: None,
                },
            ],
            None,
        )
    }

    fn with(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        h
    }

    #[test]
    fn a_key_is_found_from_either_header_the_sdks_send() {
        let k = keys();
        let a = k
            .identify(&with("authorization", "Bearer a-key-of-sixteen-chars"))
            .unwrap();
        assert_eq!(a.unwrap().name, "team-a");
        let b = k
            .identify(&with("x-api-key", "b-key-of-sixteen-chars"))
            .unwrap();
        assert_eq!(b.unwrap().name, "team-b");
    }

    #[test]
    fn a_missing_or_wrong_key_is_an_authentication_error_that_does_not_echo_it() {
        let k = keys();
        let e = k.identify(&HeaderMap::new()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
        let e = k
            .identify(&with("authorization", "Bearer a-key-of-sixteen-charX"))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert!(!e.message.contains("sixteen"), "{}", e.message);
    }

    #[test]
    fn keys_are_held_as_digests_not_as_text() {
        let shown = format!("{:?}", keys());
        assert!(!shown.contains("sixteen"), "{shown}");
        assert_eq!(
            keys().callers[0].digest,
            <[u8; 32]>::from(Sha256::digest(b"a-key-of-sixteen-chars"))
        );
    }

    #[test]
    fn a_key_may_call_only_its_models() {
        let k = keys();
        let a = &k.callers[0];
        assert!(a.may_call("fast").is_ok());
        assert_eq!(
            a.may_call("smart").unwrap_err().kind,
            ErrorKind::PermissionDenied
        );
        assert!(k.callers[1].may_call("smart").is_ok());
    }

    #[tokio::test]
    async fn a_key_over_its_rate_limit_is_refused_with_the_wait() {
        let k = keys();
        let a = &k.callers[0];
        a.admit().await.unwrap();
        a.admit().await.unwrap();
        let e = a.admit().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert!(e.retry_after.is_some());
        assert!(e.message.contains("team-a"));
    }

    #[test]
    fn without_keys_the_gateway_is_open() {
        assert!(Keys::default()
            .identify(&HeaderMap::new())
            .unwrap()
            .is_none());
    }
}
