//! The resilience layers around forwarded requests: the breaker and rate limit of the target a
//! request is for, and retries when asked, on the same process-wide state a `Client` of that
//! provider and model uses (`client/registry.rs`), so an SDK and llmrail's own calls to one
//! model spend one budget and see one breaker.
//!
//! A forwarded request names its target only in its bytes: the provider and base URL by its
//! endpoint (`.../chat/completions`, `.../responses`: OpenAI's protocol; `.../v1/messages`:
//! Anthropic's), the model in the JSON body, the key in its credential header. A request that
//! names no model (a model listing, a file upload) goes out unguarded.
//!
//! An error status stays an answer for the SDK to read: the layers see it as the error a
//! `Client` call would have had (a 429's Retry-After, a 5xx), and the caller gets the last
//! reply unchanged once no retry is left.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Deserialize;

use super::usage::{Meter, Protocol, Spend};
use super::{send, Reply};
use crate::client::registry::{self, Bucket, TargetId};
use crate::error::{ErrorKind, LlmError, Result};
use crate::providers::{self, quota, Secret};
use crate::resilience::breaker::{Breaker, BreakerConfig, Outcome};
use crate::resilience::estimate::DEFAULT_OUTPUT_RESERVE;
use crate::resilience::ratelimit::{Limiter, RateLimitConfig};
use crate::resilience::retry::RetryPolicy;
use crate::resilience::{run_target, Attempt, CallReport, Guards};
use crate::wire::{encoding, Body, HttpRequest, DEFAULT_MAX_RESPONSE_BYTES};

/// Endpoints whose request body names a model, and the provider protocol they belong to.
const ENDPOINTS: &[(&str, Protocol)] = &[
    ("/chat/completions", Protocol::OpenAi),
    ("/responses", Protocol::OpenAi),
    ("/completions", Protocol::OpenAi),
    ("/embeddings", Protocol::OpenAi),
    ("/v1/messages", Protocol::Anthropic),
];

/// A client keeps the guards of at most this many targets; past it, it starts over (the
/// state itself lives on in the registry).
const MAX_TARGETS: usize = 256;

/// The layers one httpx client puts around its requests (each off when `None`).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub breaker: Option<BreakerConfig>,
    pub rate_limit: Option<RateLimitConfig>,
    pub retry: Option<RetryPolicy>,
}

/// Sends forwarded requests through the layers of its [`Policy`]; one per httpx client.
pub struct Forwarder {
    policy: Policy,
    retry: RetryPolicy,
    /// The guards of each target this client has called: built once per target, as a
    /// `Client` builds its own once.
    guards: Mutex<HashMap<TargetId, Guards>>,
    /// The target of the last request, matched by the next one's bytes (see [`Known`]).
    last: Mutex<Option<Arc<Known>>>,
    /// What every answer with a usage report used and cost.
    total: Arc<Mutex<Spend>>,
}

/// What a request says about its target.
pub(crate) struct Target {
    pub(crate) id: TargetId,
    /// "provider/model", as breakers and limits are named.
    pub(crate) name: String,
    pub(crate) protocol: Protocol,
    pub(crate) model: String,
}

/// A target this client sent to, as its requests name it (URL, model, key), with its guards.
/// A client calls one model of one service with one key, mostly: a request naming the same as
/// the last one is matched by comparing those bytes, instead of resolving them again (the
/// provider of the base URL, the key's hash, the guards map), which touched more code and data
/// per call than the rest of the forward's own work.
struct Known {
    url: String,
    model: Arc<str>,
    key: Option<Secret>,
    protocol: Protocol,
    guards: Guards,
}

impl Known {
    fn names(&self, n: &Named<'_>) -> bool {
        self.url == n.url
            && *self.model == *n.model
            && self.key.as_ref().map(Secret::expose) == n.key
    }
}

impl Forwarder {
    pub fn new(policy: Policy) -> Result<Self> {
        if let Some(b) = &policy.breaker {
            b.validate()?;
        }
        if let Some(rl) = &policy.rate_limit {
            rl.validate()?;
        }
        let retry = policy.retry.clone().unwrap_or_else(RetryPolicy::never);
        retry.validate()?;
        Ok(Self {
            policy,
            retry,
            guards: Mutex::new(HashMap::new()),
            last: Mutex::new(None),
            total: Arc::default(),
        })
    }

    /// Whether any layer is on: without one, requests go straight to the transport.
    fn guarded(&self) -> bool {
        self.policy.breaker.as_ref().is_some_and(|b| b.enabled)
            || self.policy.rate_limit.is_some()
            || self.retry.max_attempts > 1
    }

    /// What this client's answers used and cost so far.
    pub fn total(&self) -> Spend {
        *self.total.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Send `req` through the layers of its target (see the module doc); an answer of a known
    /// kind has its usage and cost read on the way (`usage.rs`).
    pub async fn send(&self, req: HttpRequest) -> Result<Reply> {
        let named = named(&req);
        let reserve = named.as_ref().map_or(0, |n| n.reserve);
        let known = named.map(|n| self.known(&n));
        let meter = known.as_deref().map(|k| (k, &self.total));
        if self.retry.max_attempts <= 1 && self.policy.rate_limit.is_none() {
            let breaker = known.as_deref().and_then(|k| k.guards.breaker.as_ref());
            return once(req, breaker, meter).await;
        }
        // Retries need no target.
        let guards = known
            .as_deref()
            .map(|k| &k.guards)
            .cloned()
            .unwrap_or_default();
        // The reply of the last attempt that ended in an error status: handed back as it is.
        let last = Mutex::new(None::<Reply>);
        let last = &last;
        // Only a rate limiter reads the answer's quota headers.
        let limited = guards.limiter.is_some();
        let mut report = CallReport::default();
        // Without retries the one attempt takes the request itself: no copy of its headers.
        let retries = self.retry.max_attempts > 1;
        let mut req = Some(req);
        let out = run_target(&guards, &self.retry, None, reserve, &mut report, |_| {
            let req = if retries { req.clone() } else { req.take() };
            async move {
                match req {
                    Some(req) => attempt(req, last, meter, limited).await,
                    None => Attempt::failed(LlmError::new(
                        ErrorKind::Internal,
                        "a forwarded request was attempted twice without retries",
                    )),
                }
            }
        })
        .await;
        match out {
            Ok(reply) => Ok(reply),
            Err(e) => match last.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(reply) if e.status.is_some() => Ok(reply),
                _ => Err(e),
            },
        }
    }

    /// The target `n` names: the last one when it names the same, else resolved (and kept).
    fn known(&self, n: &Named<'_>) -> Arc<Known> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = last.as_ref().filter(|k| k.names(n)) {
            return k.clone();
        }
        let t = resolve(n);
        let guards = if self.guarded() {
            self.guards_for(&t)
        } else {
            Guards::default()
        };
        let k = Arc::new(Known {
            url: n.url.to_string(),
            model: t.model.into(),
            key: n.key.map(Secret::new),
            protocol: t.protocol,
            guards,
        });
        *last = Some(k.clone());
        k
    }

    fn guards_for(&self, t: &Target) -> Guards {
        let mut map = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = map.get(&t.id) {
            return g.clone();
        }
        if map.len() >= MAX_TARGETS {
            map.clear();
        }
        let breaker = self
            .policy
            .breaker
            .as_ref()
            .filter(|b| b.enabled)
            .map(|cfg| {
                let local = registry::BREAKERS.get(t.id.clone());
                Breaker::sharing(t.name.clone(), cfg.clone(), local, None)
            });
        let limiter = self.policy.rate_limit.as_ref().map(|rl| {
            let (bucket, key) = match &rl.key {
                Some(key) => (Bucket::Named(key.clone()), key.clone()),
                None => (Bucket::Target(t.id.clone()), t.name.clone()),
            };
            Limiter::sharing(rl.clone(), key, registry::BUCKETS.get(bucket), None)
        });
        let g = Guards { breaker, limiter };
        map.insert(t.id.clone(), g.clone());
        g
    }
}

/// Where an answer's spend goes: its target (the model it is priced by) and the client's sum.
type Metering<'a> = Option<(&'a Known, &'a Arc<Mutex<Spend>>)>;

/// One request with no retry and no rate limit (an SDK transport's default): the breaker, when
/// on, around one send, as [`run_target`] would run its one attempt, without the retry loop's
/// and limiter's state.
async fn once(
    req: HttpRequest,
    breaker: Option<&Arc<Breaker>>,
    meter: Metering<'_>,
) -> Result<Reply> {
    let Some(breaker) = breaker else {
        let reply = send(req).await?;
        return Ok(metered(reply, meter));
    };
    let permit = breaker.admit().await.map_err(|mut open| {
        // No request was sent, as `run_target` counts.
        open.attempts = 0;
        open
    })?;
    let out = match send(req).await {
        Ok(reply) if reply.status < 400 => Ok(metered(reply, meter)),
        Ok(reply) => {
            permit
                .record(Outcome::of::<()>(&Err(status_error(&reply))))
                .await;
            return Ok(reply);
        }
        Err(e) => Err(e),
    };
    permit.record(Outcome::of(&out)).await;
    out
}

/// One attempt: an error status becomes the error the layers judge, and its reply is kept;
/// `limited`: a rate limiter is on, which the answer's quota headers tighten.
async fn attempt(
    req: HttpRequest,
    last: &Mutex<Option<Reply>>,
    meter: Metering<'_>,
    limited: bool,
) -> Attempt<Reply> {
    let reply = match send(req).await {
        Ok(r) => r,
        Err(e) => return Attempt::failed(e),
    };
    let quota = limited.then(|| quota::quota(&reply.headers)).flatten();
    let status = Some(reply.status);
    if reply.status < 400 {
        let reply = metered(reply, meter);
        // A whole answer says what it used; a stream's reservation stands.
        let used_tokens = reply.spend.get().map(|s| s.usage.total());
        return Attempt {
            result: Ok(reply),
            quota,
            used_tokens,
            started: false,
            status,
        };
    }
    let e = status_error(&reply);
    *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(reply);
    Attempt {
        result: Err(e),
        quota,
        used_tokens: None,
        started: false,
        status,
    }
}

/// The error a `Client` call would have had for `reply`'s error status.
fn status_error(reply: &Reply) -> LlmError {
    let body = match &reply.body {
        Body::Full(b) => b.clone(),
        Body::Stream(_) => Bytes::new(),
    };
    providers::status_error(
        reply.status,
        format!("the server answered {}", reply.status),
        None,
        &reply.headers,
        &body,
    )
}

/// `reply` with its usage read (a whole body) or watched for (a stream), when it is a success
/// of a known kind.
fn metered(mut reply: Reply, meter: Metering<'_>) -> Reply {
    let Some((known, total)) = meter.filter(|_| (200..300).contains(&reply.status)) else {
        return reply;
    };
    let meter = Meter {
        protocol: known.protocol,
        model: known.model.clone(),
        slot: reply.spend.clone(),
        total: total.clone(),
    };
    reply.body = match reply.body {
        Body::Full(b) => {
            // The SDK gets the bytes as they came; the meter reads their text.
            match encoding::of(&reply.headers) {
                None => meter.read(&b),
                Some(e) => encoding::decode(e, &b, DEFAULT_MAX_RESPONSE_BYTES)
                    .and_then(|plain| meter.read(&plain)),
            };
            Body::Full(b)
        }
        Body::Stream(s) => Body::Stream(meter.watch(s, encoding::of(&reply.headers))),
    };
    reply
}

/// The fields of a request body that say what it is for, borrowed from it.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    max_output_tokens: Option<u64>,
}

/// What a request's bytes say about its target, borrowed from it ([`resolve`] makes it one).
pub(crate) struct Named<'a> {
    /// The URL, less its query: the endpoint's.
    url: &'a str,
    /// Its base URL, before the endpoint's path.
    base: &'a str,
    protocol: Protocol,
    model: Cow<'a, str>,
    /// The key of its credential header.
    key: Option<&'a str>,
    /// Tokens the rate limiter reserves for it.
    pub(crate) reserve: u64,
}

/// What `req` names, when its endpoint is one of [`ENDPOINTS`] and its body names a model.
pub(crate) fn named(req: &HttpRequest) -> Option<Named<'_>> {
    if req.method != http::Method::POST || req.body.first() != Some(&b'{') {
        return None;
    }
    let url = req.url.split(['?', '#']).next().unwrap_or_default();
    let (base, protocol) = ENDPOINTS
        .iter()
        .find_map(|(path, p)| url.strip_suffix(path).map(|base| (base, *p)))?;
    let fields: Fields<'_> = serde_json::from_slice(&req.body).ok()?;
    let model = fields.model?;
    // Anthropic's SDK sends its key as `x-api-key` or (2.x) as a bearer token; the key, not
    // the header, is part of the target.
    let key = ["x-api-key", "authorization"]
        .iter()
        .find_map(|h| req.headers.get(*h))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim())
        .filter(|v| !v.is_empty());
    let output = fields
        .max_tokens
        .or(fields.max_completion_tokens)
        .or(fields.max_output_tokens)
        .unwrap_or(DEFAULT_OUTPUT_RESERVE);
    // About four bytes a token, as `resilience::estimate` counts characters.
    let input = u64::try_from(req.body.len().div_ceil(4)).unwrap_or(u64::MAX);
    Some(Named {
        url,
        base: base.trim_end_matches('/'),
        protocol,
        model,
        key,
        reserve: input.saturating_add(output),
    })
}

/// The target `n` names: its provider is the one whose base URL it calls, else its protocol's.
pub(crate) fn resolve(n: &Named<'_>) -> Target {
    let wire_name = match n.protocol {
        Protocol::OpenAi => "openai",
        Protocol::Anthropic => "anthropic",
    };
    // A service with a provider of its own (OpenRouter speaks OpenAI's protocol) is that
    // provider's target, as a `Client("openrouter/...")` names it.
    let provider = providers::KNOWN
        .iter()
        .filter_map(|name| providers::lookup(name))
        .find(|p| p.default_base_url().trim_end_matches('/') == n.base)
        .map_or(wire_name, |p| p.name());
    let key = n.key.map(Secret::new);
    Target {
        id: TargetId::new(provider, n.base, &n.model, key.as_ref(), None),
        name: format!("{provider}/{}", n.model),
        protocol: n.protocol,
        model: n.model.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::forward::{request, Timeouts};

    const CHAT: &[u8] = br#"{"model":"gpt-4.1","messages":[]}"#;

    fn sdk_request(body: &'static [u8], key: &'static [u8]) -> HttpRequest {
        let headers = [(b"authorization".as_slice(), key)];
        let url = "http://h:1/v1/chat/completions".into();
        let body = Bytes::from_static(body);
        request(
            b"POST",
            url,
            headers.iter().copied(),
            body,
            Timeouts::default(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_request_naming_the_last_target_reuses_it_and_another_key_or_model_is_another() {
        let policy = Policy {
            breaker: Some(BreakerConfig::default()),
            ..Policy::default()
        };
        let fwd = Forwarder::new(policy).unwrap();
        let known = |body, key| fwd.known(&named(&sdk_request(body, key)).unwrap());
        let breaker = |k: &Known| k.guards.breaker.clone().unwrap();
        let first = known(CHAT, b"Bearer sk-one");
        assert!(Arc::ptr_eq(&first, &known(CHAT, b"Bearer sk-one")));
        let other_key = known(CHAT, b"Bearer sk-two");
        assert!(!Arc::ptr_eq(&breaker(&first), &breaker(&other_key)));
        let other_model = known(br#"{"model":"gpt-4.1-mini"}"#, b"Bearer sk-one");
        assert_eq!(&*other_model.model, "gpt-4.1-mini");
        assert!(!Arc::ptr_eq(&breaker(&first), &breaker(&other_model)));
        // The first target again: its guards from the map, the breaker it had.
        let again = known(CHAT, b"Bearer sk-one");
        assert!(Arc::ptr_eq(&breaker(&first), &breaker(&again)));
    }
}
