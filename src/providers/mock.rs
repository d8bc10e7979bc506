//! `mock/<name>`: the scripted provider answered in process (`crate::mock`'s `inprocess.rs`).
//!
//! It translates exactly as OpenAI Chat Completions does, to the base URL `mock://llmrail/v1`;
//! the transport answers `mock://` URLs without a socket. It needs no key, and the name after
//! `mock/` is the model the request carries, which picks the script that answers.

use http::HeaderMap;

use super::openai::OpenAi;
use super::{Endpoint, Provider, StreamDecoder};
use crate::cache::CachePlan;
use crate::error::{LlmError, Result};
use crate::model::{ChatRequest, ChatResponse};
use crate::wire::HttpRequest;

static WIRE: OpenAi = OpenAi::MOCK;

pub struct Mock;

impl Provider for Mock {
    fn name(&self) -> &'static str {
        WIRE.name()
    }
    fn default_base_url(&self) -> &'static str {
        WIRE.default_base_url()
    }
    fn api_key_env(&self) -> &'static [&'static str] {
        &[]
    }
    fn base_url_env(&self) -> &'static [&'static str] {
        &[]
    }
    fn key_required(&self) -> bool {
        false
    }
    fn build_chat_with_cache(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        stream: bool,
        plan: &CachePlan,
    ) -> Result<HttpRequest> {
        WIRE.build_chat_with_cache(ep, req, stream, plan)
    }
    fn parse_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        WIRE.parse_chat(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        WIRE.stream_decoder()
    }
    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        WIRE.request_id(headers)
    }
    fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError {
        WIRE.parse_error(status, headers, body)
    }
}
