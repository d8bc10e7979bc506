//! Providers the caller registers at run time (`register_provider("together", base_url=…,
//! wire="openai")`): a name, a home, a key variable and default headers over one of the built-in
//! wires, which does all the translating.
//!
//! The registry is process-wide, like the built-in providers: a client built afterwards in any
//! thread sees the name. A registration lives for the process (a client holds its provider by
//! `'static` reference, as it does a built-in one); registering a name again replaces it for the
//! clients built from then on. Registrations are a handful at start-up, so what they keep is a
//! few hundred bytes each. Checking the caller's input is the client layer's
//! (`crate::client::register_provider`); this module stores and translates.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use http::HeaderMap;

use super::{Endpoint, Provider, StreamDecoder};
use crate::cache::CachePlan;
use crate::error::{LlmError, Result};
use crate::model::{ChatRequest, ChatResponse};
use crate::wire::HttpRequest;

/// One registered provider.
pub struct Registered {
    name: &'static str,
    base_url: &'static str,
    key_env: &'static [&'static str],
    /// Sent with every request unless the client's `headers=` name the same header.
    headers: HeaderMap,
    wire: &'static dyn Provider,
}

impl Registered {
    /// `wire` is the built-in provider whose protocol the service speaks.
    pub fn new(
        name: &str,
        base_url: &str,
        key_env: Option<&str>,
        headers: HeaderMap,
        wire: &'static dyn Provider,
    ) -> Self {
        let key_env: &'static [&'static str] = match key_env {
            Some(var) => Box::leak(vec![leak(var)].into_boxed_slice()),
            None => &[],
        };
        Self {
            name: leak(name),
            base_url: leak(base_url),
            key_env,
            headers,
            wire,
        }
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

static REGISTRY: RwLock<Option<HashMap<&'static str, &'static Registered>>> = RwLock::new(None);

/// Make `provider` the one its name means from now on.
pub fn insert(provider: Registered) {
    let provider: &'static Registered = Box::leak(Box::new(provider));
    // A panic elsewhere while holding the lock leaves the map whole (inserts are one call).
    let mut map = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    map.get_or_insert_with(HashMap::new)
        .insert(provider.name, provider);
}

/// The registered provider named `name`.
pub fn get(name: &str) -> Option<&'static dyn Provider> {
    let map = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    let found: &'static Registered = map.as_ref()?.get(name)?;
    Some(found)
}

impl Provider for Registered {
    fn name(&self) -> &'static str {
        self.name
    }
    fn default_base_url(&self) -> &'static str {
        self.base_url
    }
    fn api_key_env(&self) -> &'static [&'static str] {
        self.key_env
    }
    fn base_url_env(&self) -> &'static [&'static str] {
        &[]
    }
    /// A service registered without a key variable takes none (a local or internal server).
    fn key_required(&self) -> bool {
        !self.key_env.is_empty()
    }

    fn build_chat_with_cache(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        stream: bool,
        plan: &CachePlan,
    ) -> Result<HttpRequest> {
        let mut http = self.wire.build_chat_with_cache(ep, req, stream, plan)?;
        // Over the wire's own defaults (`anthropic-version`), under the client's `headers=`.
        for (name, value) in &self.headers {
            if !ep.headers.contains_key(name) {
                http.headers.insert(name.clone(), value.clone());
            }
        }
        Ok(http)
    }
    fn build_models(&self, ep: &Endpoint) -> Option<Result<HttpRequest>> {
        self.wire.build_models(ep)
    }
    fn parse_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        let mut r = self.wire.parse_chat(body)?;
        r.provider = self.name.to_string();
        Ok(r)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        self.wire.stream_decoder()
    }
    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        self.wire.request_id(headers)
    }
    fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError {
        self.wire.parse_error(status, headers, body)
    }
}
