//! AWS Bedrock Runtime: `Converse` and `ConverseStream` (`POST /model/{modelId}/converse`,
//! `/converse-stream`), one wire for every model Bedrock serves (Claude, Nova, Llama, ...).
//!
//! Authentication is either a Bedrock API key, sent as `Authorization: Bearer` (rendered here,
//! like any key header), or SigV4 with the AWS credential chain, which is not translation: the
//! pipeline signs each attempt for [`Provider::aws_service`]. The base URL is regional
//! (`https://bedrock-runtime.{region}.amazonaws.com`): the client fills the slot once, when it is
//! built, with the region the AWS chain gives (`crate::aws::Aws::regional_url`), the same region
//! the requests are signed for.
//!
//! The request is built in [`request`], answers and errors read in [`response`] and [`error`],
//! stream events (decoded from event-stream frames by `providers::event_stream`) in [`stream`].

mod error;
mod request;
mod response;
mod stream;

use http::{HeaderMap, HeaderName, Method};

use super::{join_url, json_headers, secret_header, Endpoint, Framing, Provider, StreamDecoder};
use crate::cache::CachePlan;
use crate::error::{LlmError, Result};
use crate::model::ChatRequest;
use crate::model::ChatResponse;
use crate::wire::HttpRequest;

use error::exception as stream_exception;

pub struct Bedrock;

/// A model id or ARN as one URI path segment, as botocore encodes a `{modelId}` label:
/// everything but letters, digits and `-._~` is percent-encoded (`v1:0` is `v1%3A0`, an ARN's
/// slashes are `%2F`), so the path and its SigV4 canonical form agree.
pub(crate) fn path_segment(id: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(id.len().saturating_add(8));
    for &b in id.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// JSON headers, with the Bedrock API key (if one is set) as a bearer token.
fn headers(ep: &Endpoint) -> Result<HeaderMap> {
    let mut headers = json_headers(ep);
    if let Some(key) = &ep.api_key {
        secret_header(
            &mut headers,
            HeaderName::from_static("authorization"),
            &format!("Bearer {}", key.expose()),
        )?;
    }
    Ok(headers)
}

impl Provider for Bedrock {
    fn name(&self) -> &'static str {
        "bedrock"
    }
    fn default_base_url(&self) -> &'static str {
        // The slot is `crate::aws::REGION_SLOT`.
        "https://bedrock-runtime.{region}.amazonaws.com"
    }
    fn api_key_env(&self) -> &'static [&'static str] {
        &["AWS_BEARER_TOKEN_BEDROCK"]
    }
    fn base_url_env(&self) -> &'static [&'static str] {
        // The AWS SDKs' service-specific endpoint override, then the general one.
        &["AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"]
    }
    /// Without an API key, requests are SigV4-signed with the AWS credential chain.
    fn key_required(&self) -> bool {
        false
    }
    fn aws_service(&self) -> Option<&'static str> {
        Some("bedrock")
    }
    /// `check()` lists the foundation models: an operation of Bedrock's control plane
    /// (`bedrock.{region}`, signed for the same `bedrock` service), not of bedrock-runtime. A
    /// base URL of the caller's choosing (a proxy, the mock server) is asked as it is.
    fn build_models(&self, ep: &Endpoint) -> Option<Result<HttpRequest>> {
        let base = match ep.base_url.strip_prefix("https://bedrock-runtime.") {
            Some(rest) => format!("https://bedrock.{rest}"),
            None => ep.base_url.clone(),
        };
        Some(headers(ep).map(|h| super::get(ep, join_url(&base, "foundation-models"), h)))
    }

    fn build_chat_with_cache(
        &self,
        ep: &Endpoint,
        req: &ChatRequest,
        stream: bool,
        plan: &CachePlan,
    ) -> Result<HttpRequest> {
        let body = request::body(req, &ep.model, plan)?;
        let action = if stream {
            "converse-stream"
        } else {
            "converse"
        };
        let path = format!("model/{}/{action}", path_segment(&ep.model));
        Ok(HttpRequest {
            method: Method::POST,
            url: join_url(&ep.base_url, &path),
            headers: headers(ep)?,
            body,
            stream,
            timeout: ep.timeout,
            // The client sets its own on the request it sends.
            settings: Default::default(),
        })
    }

    fn parse_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        response::parse(body)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(stream::Decoder::default())
    }

    fn stream_framing(&self) -> Framing {
        Framing::EventStream
    }

    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError {
        error::parse(status, self.request_id(headers), headers, body)
    }
}

#[cfg(test)]
mod tests;
