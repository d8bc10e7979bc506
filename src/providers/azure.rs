//! Azure OpenAI: OpenAI's Chat Completions wire (translated by [`super::openai`]) at a
//! deployment of the caller's resource, `{endpoint}/openai/deployments/{deployment}/chat/
//! completions?api-version=…`, with the key in an `api-key` header.
//!
//! The model part of `azure/<deployment>` is the deployment's name, which the caller chose in
//! Azure; the model behind it is the one the response names, so cost and catalogue facts follow
//! the reply, not the deployment's name.

use http::HeaderMap;

use super::openai::OpenAi;
use super::{join_url, Endpoint, Provider, StreamDecoder};
use crate::cache::CachePlan;
use crate::error::{LlmError, Result};
use crate::model::{ChatRequest, ChatResponse};
use crate::wire::HttpRequest;

/// Azure OpenAI. Every call goes through [`OpenAi::AZURE`]; this adds where a deployment lives.
pub struct Azure;

const WIRE: &OpenAi = &OpenAi::AZURE;

/// The variable the official SDK's `AzureOpenAI` reads when `api_version` is not given.
pub const API_VERSION_ENV: &str = "OPENAI_API_VERSION";

impl Provider for Azure {
    fn name(&self) -> &'static str {
        WIRE.name()
    }
    /// None: each Azure resource has its own endpoint.
    fn default_base_url(&self) -> &'static str {
        WIRE.default_base_url()
    }
    fn api_key_env(&self) -> &'static [&'static str] {
        WIRE.api_key_env()
    }
    fn base_url_env(&self) -> &'static [&'static str] {
        WIRE.base_url_env()
    }
    fn every_base_url_is_own_service(&self) -> bool {
        true
    }

    fn model_base_url(
        &self,
        base_url: String,
        model: &str,
        api_version: Option<String>,
    ) -> Result<String> {
        if base_url.is_empty() {
            return Err(LlmError::config(
                "no endpoint for azure: pass base_url=\"https://<resource>.openai.azure.com\" or \
                 set AZURE_OPENAI_ENDPOINT",
            ));
        }
        // The official SDK has no default either: a version picked for the caller would change
        // what the service accepts without them knowing.
        let version = api_version.ok_or_else(|| {
            LlmError::config(format!(
                "no API version for azure: pass api_version=\"2024-10-21\" (or the version your \
                 deployment uses) or set {API_VERSION_ENV}"
            ))
        })?;
        // Both go into the URL unencoded: only what Azure allows in them is accepted.
        if !plain(model) {
            return Err(LlmError::config(format!(
                "{model:?} is not an Azure deployment name (letters, digits, '-', '_' and '.')"
            )));
        }
        if !plain(&version) {
            return Err(LlmError::config(format!(
                "api_version {version:?} is not an API version such as \"2024-10-21\""
            )));
        }
        // The endpoint is the resource's root; a query or fragment on it has no meaning here.
        let root = base_url.split(['?', '#']).next().unwrap_or_default();
        Ok(format!(
            "{}/openai/deployments/{model}?api-version={version}",
            root.trim_end_matches('/')
        ))
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
    /// The resource's listing, `{endpoint}/openai/models?api-version=…`: a deployment has none.
    fn build_models(&self, ep: &Endpoint) -> Option<Result<HttpRequest>> {
        let deployment = format!("/openai/deployments/{}", ep.model);
        let url = join_url(&ep.base_url.replacen(&deployment, "/openai", 1), "models");
        Some(WIRE.list_models(ep, url))
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

fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::model::{Message, Role};

    fn endpoint(base: &str) -> Endpoint {
        Endpoint {
            base_url: Azure
                .model_base_url(base.into(), "prod-gpt4o", Some("2024-10-21".into()))
                .unwrap(),
            api_key: Some(super::super::Secret::new("azure-key-123456")),
            model: "prod-gpt4o".into(),
            headers: HeaderMap::new(),
            timeout: std::time::Duration::from_secs(5),
            aws: None,
        }
    }

    #[test]
    fn a_deployment_is_called_at_its_own_path_with_the_api_version() {
        let ep = endpoint("https://res.openai.azure.com/");
        let req = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            max_tokens: Some(5),
            ..Default::default()
        };
        let http = Azure.build_chat(&ep, &req, false).unwrap();
        assert_eq!(
            http.url,
            "https://res.openai.azure.com/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(http.headers["api-key"], "azure-key-123456");
        assert!(http.headers["api-key"].is_sensitive());
        assert!(http.headers.get("authorization").is_none());
        let body: serde_json::Value = serde_json::from_slice(&http.body).unwrap();
        assert_eq!(body["max_completion_tokens"], 5);
        assert_eq!(body["messages"][0]["content"], "hi");
    }

    #[test]
    fn a_missing_endpoint_or_version_or_an_odd_name_is_a_configuration_error() {
        let v = || Some("2024-10-21".to_string());
        let cases = [
            Azure.model_base_url(String::new(), "d", v()),
            Azure.model_base_url("https://r".into(), "d", None),
            Azure.model_base_url("https://r".into(), "d/../x", v()),
            Azure.model_base_url("https://r".into(), "d", Some("1&x=2".into())),
        ];
        let wanted = [
            "AZURE_OPENAI_ENDPOINT",
            "OPENAI_API_VERSION",
            "deployment name",
            "api_version",
        ];
        for (case, word) in cases.into_iter().zip(wanted) {
            assert!(
                case.as_ref().is_err_and(|e| e.message.contains(word)),
                "{case:?} should name {word}"
            );
        }
    }

    #[test]
    fn replies_are_named_azure() {
        let body = br#"{"model":"gpt-4o-2024-08-06","choices":[{"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#;
        let r = Azure.parse_chat(body).unwrap();
        assert_eq!(r.provider, "azure");
        assert_eq!(r.model, "gpt-4o-2024-08-06");
    }
}
