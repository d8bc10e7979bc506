//! Which wire format a request speaks, and the per-format pieces of a response.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Map, Value};

use super::render::{random_alnum, random_hex, Turn};
use super::{anthropic, bedrock, gemini, ollama, openai};

/// The wire format a request path speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    OpenAi,
    Anthropic,
    /// Ollama's native `/api/chat` (its OpenAI-compatible `/v1` is [`Wire::OpenAi`]).
    Ollama,
    Gemini,
    /// Bedrock Runtime's Converse and ConverseStream (`/model/{id}/converse[-stream]`).
    Bedrock,
}

impl Wire {
    /// Any path ending in `/chat/completions`, `/messages` or `/api/chat`, so every base URL
    /// shape works; Gemini's `/models/{model}:generateContent` and `:streamGenerateContent`;
    /// Bedrock's `/model/{id}/converse` and `/converse-stream`.
    pub(crate) fn route(path: &str) -> Option<Self> {
        let path = path.trim_end_matches('/');
        if gemini::route(path).is_some() {
            Some(Self::Gemini)
        } else if bedrock::route(path).is_some() {
            Some(Self::Bedrock)
        } else if path.ends_with("/chat/completions") {
            Some(Self::OpenAi)
        } else if path.ends_with("/messages") {
            Some(Self::Anthropic)
        } else if path.ends_with("/api/chat") {
            Some(Self::Ollama)
        } else {
            None
        }
    }

    /// Whether `path` is an Azure OpenAI deployment's (`/openai/deployments/<name>/…`).
    pub(crate) fn azure(path: &str) -> bool {
        path.starts_with("/openai/deployments/")
    }

    /// A `GET …/models` (the listing `Client.check()` asks for): the wire is the one whose key
    /// header the request carries, Anthropic's when it sends `x-api-key` or `anthropic-version`,
    /// since both services list at `/v1/models`; Gemini's when it sends `x-goog-api-key`;
    /// Ollama lists at `/api/tags`; Bedrock's control plane at `/foundation-models`.
    pub(crate) fn models(path: &str, headers: &HeaderMap) -> Option<Self> {
        let path = path.trim_end_matches('/');
        if path.ends_with("/api/tags") {
            return Some(Self::Ollama);
        }
        if path.ends_with("/foundation-models") {
            return Some(Self::Bedrock);
        }
        if !path.ends_with("/models") {
            return None;
        }
        let anthropic =
            headers.contains_key("x-api-key") || headers.contains_key("anthropic-version");
        Some(if anthropic {
            Self::Anthropic
        } else if headers.contains_key("x-goog-api-key") || path.ends_with("/v1beta/models") {
            Self::Gemini
        } else {
            Self::OpenAi
        })
    }

    /// The model listing, as each service shapes it (one model).
    pub(crate) fn model_list(self) -> Value {
        match self {
            Self::OpenAi => serde_json::json!({
                "object": "list",
                "data": [{"id": "gpt-4.1-mini", "object": "model", "created": 1744318173, "owned_by": "system"}],
            }),
            Self::Anthropic => serde_json::json!({
                "data": [{
                    "type": "model",
                    "id": "claude-sonnet-4-5-20250929",
                    "display_name": "Claude Sonnet 4.5",
                    "created_at": "2025-09-29T00:00:00Z",
                }],
                "has_more": false,
                "first_id": "claude-sonnet-4-5-20250929",
                "last_id": "claude-sonnet-4-5-20250929",
            }),
            Self::Ollama => serde_json::json!({
                "models": [{"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 2019393189}],
            }),
            Self::Gemini => serde_json::json!({
                "models": [{"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash"}],
            }),
            Self::Bedrock => bedrock::model_list(),
        }
    }

    /// Whether a request to `path` carries a key in the header its service reads.
    pub(crate) fn authorized(self, path: &str, headers: &HeaderMap) -> bool {
        let present = |name: &str, prefix: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix(prefix))
                .is_some_and(|rest| !rest.trim().is_empty())
        };
        match self {
            // Azure takes its key in `api-key`, or an Entra ID token as a Bearer.
            Self::OpenAi if Self::azure(path) || path.starts_with("/openai/") => {
                present("api-key", "") || present("authorization", "Bearer ")
            }
            Self::OpenAi => present("authorization", "Bearer "),
            // The Anthropic SDK sends `x-api-key`; since 2.x (and langchain-anthropic on it)
            // the same key as a Bearer token, which the API accepts as well.
            Self::Anthropic => present("x-api-key", "") || present("authorization", "Bearer "),
            // A local Ollama asks for no key.
            Self::Ollama => true,
            // An OAuth token works as well as a key.
            Self::Gemini => present("x-goog-api-key", "") || present("authorization", "Bearer "),
            // A SigV4 signature, or a Bedrock API key as a Bearer.
            Self::Bedrock => bedrock::authorized(headers),
        }
    }

    /// Ollama sends no request id.
    pub(crate) fn request_id_header(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("x-request-id"),
            // Gemini names its answer with `responseId` in the body; the mock adds this header
            // so a fault's request can be found in its logs like the others'.
            Self::Gemini => Some("x-request-id"),
            Self::Anthropic => Some("request-id"),
            Self::Bedrock => Some("x-amzn-requestid"),
            Self::Ollama => None,
        }
    }

    pub(crate) fn new_request_id(self) -> String {
        match self {
            Self::OpenAi | Self::Gemini => format!("req_{}", random_hex(32)),
            Self::Anthropic => format!("req_011C{}", random_alnum(20)),
            Self::Bedrock => bedrock::new_request_id(),
            Self::Ollama => String::new(),
        }
    }

    /// Whether a request without `"stream"` gets a stream (Ollama streams unless told not to).
    pub(crate) fn streams_by_default(self) -> bool {
        self == Self::Ollama
    }

    /// The content type of a streamed answer.
    pub(crate) fn stream_content_type(self) -> &'static str {
        match self {
            Self::OpenAi | Self::Anthropic | Self::Gemini => "text/event-stream; charset=utf-8",
            Self::Ollama => "application/x-ndjson",
            Self::Bedrock => bedrock::EVENT_STREAM,
        }
    }

    pub(crate) fn error_body(self, status: u16, message: Option<&str>, request_id: &str) -> Value {
        match self {
            Self::OpenAi => openai::error_body(status, message),
            Self::Anthropic => anthropic::error_body(status, message, request_id),
            Self::Ollama => ollama::error_body(status, message, "mock-model"),
            Self::Gemini => gemini::error_body(status, message, None),
            Self::Bedrock => bedrock::error_body(status, message),
        }
    }

    pub(crate) fn complete(self, turn: &Turn) -> Value {
        match self {
            Self::OpenAi => openai::completion(turn),
            Self::Anthropic => anthropic::message(turn),
            Self::Ollama => ollama::chat(turn),
            Self::Gemini => gemini::response(turn),
            Self::Bedrock => bedrock::response(turn),
        }
    }

    /// Every event (SSE event, or JSON line) of a streamed answer, terminator included.
    pub(crate) fn events(self, turn: &Turn, request: &Map<String, Value>) -> Vec<Bytes> {
        match self {
            Self::OpenAi => openai::events(turn, request),
            Self::Anthropic => anthropic::events(turn),
            Self::Ollama => ollama::lines(turn),
            Self::Gemini => gemini::events(turn),
            Self::Bedrock => bedrock::events(turn),
        }
    }

    /// The provider's own report of a failure in the middle of a stream (copied from each
    /// provider's documented or recorded form).
    pub(crate) fn stream_error(self) -> Bytes {
        match self {
            Self::OpenAi => Bytes::from_static(
                b"data: {\"error\":{\"message\":\"The server had an error while processing your request. Sorry about that! (mock)\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n",
            ),
            Self::Anthropic => Bytes::from_static(
                b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
            ),
            Self::Ollama => Bytes::from_static(
                b"{\"error\":\"an error was encountered while running the model: unexpected EOF (mock)\"}\n",
            ),
            // Google's error envelope, as an SSE event of the stream.
            Self::Gemini => Bytes::from_static(
                b"data: {\"error\":{\"code\":500,\"message\":\"An internal error has occurred. (mock)\",\"status\":\"INTERNAL\"}}\n\n",
            ),
            // An exception frame of the event stream.
            Self::Bedrock => bedrock::stream_error(),
        }
    }

    /// An event whose data is cut off mid-JSON.
    pub(crate) fn broken_event(self) -> Bytes {
        match self {
            Self::OpenAi => Bytes::from_static(b"data: {\"id\":\"chatcmpl-broken\",\"choices\":[{\"delta\":\n\n"),
            Self::Anthropic => Bytes::from_static(
                b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\n\n",
            ),
            Self::Ollama => Bytes::from_static(ollama::BROKEN_LINE),
            Self::Gemini => gemini::broken_event(),
            Self::Bedrock => bedrock::broken_event(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_suffix() {
        assert_eq!(Wire::route("/v1/chat/completions"), Some(Wire::OpenAi));
        assert_eq!(
            Wire::route("/openai/deployments/x/chat/completions/"),
            Some(Wire::OpenAi)
        );
        assert_eq!(Wire::route("/v1/messages"), Some(Wire::Anthropic));
        assert_eq!(Wire::route("/api/chat"), Some(Wire::Ollama));
        assert_eq!(Wire::route("/v1/api/chat/"), Some(Wire::Ollama));
        assert_eq!(Wire::route("/v1/models"), None);
        assert_eq!(
            Wire::route("/v1beta/models/gemini-2.5-flash:generateContent"),
            Some(Wire::Gemini)
        );
        assert_eq!(
            Wire::route("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            Some(Wire::Gemini)
        );
        assert_eq!(
            Wire::route("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
            Some(Wire::Bedrock)
        );
        assert_eq!(
            Wire::route("/model/us.amazon.nova-micro-v1%3A0/converse-stream"),
            Some(Wire::Bedrock)
        );
    }

    #[test]
    fn an_azure_deployment_takes_its_key_as_api_key() {
        let mut h = HeaderMap::new();
        h.insert("api-key", http::HeaderValue::from_static("k"));
        assert!(Wire::OpenAi.authorized("/openai/deployments/d/chat/completions", &h));
        assert!(!Wire::OpenAi.authorized("/v1/chat/completions", &h));
    }
}
