//! OpenAI's Images API (`POST /images/generations`): the request with only the options the
//! caller set (the model's row has already refused the ones it does not take), the answer in
//! unified terms, and which refusals are content-policy ones.

use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::images::{Image, ImageRequest, ImageResponse};
use crate::model::Usage;
use crate::providers::{join_url, parse_json, to_bytes, Endpoint};
use crate::wire::HttpRequest;

/// The request body: the model, the prompt, and each option given.
pub(crate) fn build(ep: &Endpoint, req: &ImageRequest, headers: HeaderMap) -> Result<HttpRequest> {
    let mut body = Map::new();
    body.insert("model".into(), Value::String(ep.model.clone()));
    body.insert("prompt".into(), Value::String(req.prompt.clone()));
    if let Some(n) = req.n {
        body.insert("n".into(), json!(n));
    }
    // `aspect_ratio` is Gemini's; the rules refuse it for OpenAI models before this.
    for (name, v) in req.texts().filter(|(name, _)| *name != "aspect_ratio") {
        body.insert(name.into(), Value::String(v.clone()));
    }
    if let Some(c) = req.output_compression {
        body.insert("output_compression".into(), json!(c));
    }
    Ok(HttpRequest {
        method: Method::POST,
        url: join_url(&ep.base_url, "images/generations"),
        headers,
        body: to_bytes(&body, &Map::new())?,
        stream: false,
        timeout: ep.timeout,
        // The client sets its own on the request it sends.
        settings: Default::default(),
    })
}

#[derive(Deserialize)]
struct WireImages {
    #[serde(default)]
    created: Option<u64>,
    #[serde(default)]
    data: Vec<WireImage>,
    #[serde(default)]
    output_format: Option<String>,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    quality: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireImage {
    #[serde(default)]
    b64_json: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    revised_prompt: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

/// An `ImagesResponse` in unified terms.
pub(crate) fn parse(provider: &str, body: &[u8]) -> Result<ImageResponse> {
    let wire: WireImages = parse_json(body, "the images response")?;
    // gpt-image models say the format they made; dall-e makes PNGs.
    let mime = format!("image/{}", wire.output_format.as_deref().unwrap_or("png"));
    let images = wire
        .data
        .into_iter()
        .map(|i| Image {
            mime_type: i.b64_json.is_some().then(|| mime.clone()),
            b64_json: i.b64_json,
            url: i.url,
            revised_prompt: i.revised_prompt,
        })
        .collect();
    let usage = wire.usage.map_or_else(Usage::default, |u| Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        ..Usage::default()
    });
    Ok(ImageResponse {
        images,
        usage,
        provider: provider.to_string(),
        created: wire.created,
        // "auto" says nothing of what was made; the price then comes from what was asked.
        size: wire.size.filter(|s| s != "auto"),
        quality: wire.quality.filter(|q| q != "auto"),
        ..ImageResponse::default()
    })
}

/// Whether an error body is a content-policy refusal: dall-e's `content_policy_violation`,
/// the gpt-image models' `moderation_blocked` (in `error.code`, or as its `type`).
pub(crate) fn refused_by_policy(body: &[u8]) -> bool {
    const CODES: [&str; 2] = ["content_policy_violation", "moderation_blocked"];
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    ["/error/code", "/error/type"]
        .iter()
        .filter_map(|p| v.pointer(p).and_then(Value::as_str))
        .any(|code| CODES.contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Secret;

    fn ep() -> Endpoint {
        Endpoint {
            base_url: "https://api.openai.com/v1".into(),
            api_key: Some(Secret::new("sk-test")),
            model: "gpt-image-1".into(),
            headers: HeaderMap::new(),
            timeout: std::time::Duration::from_secs(60),
            aws: None,
        }
    }

    #[test]
    fn only_the_options_given_are_sent_to_images_generations() -> Result<()> {
        let req = ImageRequest {
            prompt: "a red fox".into(),
            n: Some(2),
            size: Some("1024x1536".into()),
            background: Some("transparent".into()),
            ..ImageRequest::default()
        };
        let http = build(&ep(), &req, HeaderMap::new())?;
        assert_eq!(http.url, "https://api.openai.com/v1/images/generations");
        let body: Value = serde_json::from_slice(&http.body).unwrap_or_default();
        assert_eq!(
            body,
            json!({"model": "gpt-image-1", "prompt": "a red fox", "n": 2,
                   "size": "1024x1536", "background": "transparent"})
        );
        Ok(())
    }

    #[test]
    fn the_spec_example_answer_reads_with_usage_size_and_quality() -> Result<()> {
        // The `ImagesResponse` example of OpenAI's OpenAPI document (x-oaiMeta.example).
        let body = br#"{"created": 1713833628, "data": [{"b64_json": "iVBORw0KGgo="}],
            "background": "transparent", "output_format": "png", "size": "1024x1024",
            "quality": "high", "usage": {"total_tokens": 100, "input_tokens": 50,
            "output_tokens": 50, "input_tokens_details": {"text_tokens": 10, "image_tokens": 40}}}"#;
        let r = parse("openai", body)?;
        assert_eq!(r.images.len(), 1);
        assert_eq!(r.images[0].mime_type.as_deref(), Some("image/png"));
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (50, 50));
        assert_eq!(
            (r.size.as_deref(), r.quality.as_deref()),
            (Some("1024x1024"), Some("high"))
        );
        assert_eq!(r.created, Some(1713833628));
        Ok(())
    }

    #[test]
    fn a_dall_e_url_answer_keeps_its_url_and_revised_prompt() -> Result<()> {
        let body = br#"{"created": 1, "data": [{"url": "https://files.example/img.png",
            "revised_prompt": "A red fox in snow"}]}"#;
        let r = parse("openai", body)?;
        assert_eq!(
            r.images[0].url.as_deref(),
            Some("https://files.example/img.png")
        );
        assert_eq!(
            r.images[0].revised_prompt.as_deref(),
            Some("A red fox in snow")
        );
        assert!(r.images[0].data().is_none());
        Ok(())
    }

    #[test]
    fn policy_refusals_are_told_from_other_bad_requests() {
        assert!(refused_by_policy(
            br#"{"error": {"code": "content_policy_violation", "message": "no", "type": "invalid_request_error"}}"#
        ));
        assert!(refused_by_policy(
            br#"{"error": {"code": "moderation_blocked", "message": "Your request was rejected by the safety system."}}"#
        ));
        assert!(!refused_by_policy(
            br#"{"error": {"code": "invalid_value", "message": "bad size"}}"#
        ));
        assert!(!refused_by_policy(b"not json"));
    }
}
