//! Gemini image output: a `generateContent` call whose `responseModalities` ask for IMAGE,
//! answered with `inlineData` parts (base64 and a MIME type) beside any text. One image a
//! request; its shape is `imageConfig.aspectRatio` (and `imageSize` where the model takes one).

use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::response::{finish_reason, WirePromptFeedback, WireUsage};
use crate::error::{ErrorKind, LlmError, Result};
use crate::images::{Image, ImageRequest, ImageResponse};
use crate::model::FinishReason;
use crate::providers::{join_url, parse_json, to_bytes, Endpoint};
use crate::wire::HttpRequest;

/// The `generateContent` request for `req`. Options Gemini has no field for are refused here
/// too, for a model the catalogue has no row for.
pub(super) fn build(ep: &Endpoint, req: &ImageRequest, headers: HeaderMap) -> Result<HttpRequest> {
    let model = ep.model.strip_prefix("models/").unwrap_or(&ep.model);
    let foreign = [
        ("quality", req.quality.is_some()),
        ("style", req.style.is_some()),
        ("background", req.background.is_some()),
        ("output_format", req.output_format.is_some()),
        ("output_compression", req.output_compression.is_some()),
        ("response_format", req.response_format.is_some()),
        ("moderation", req.moderation.is_some()),
    ];
    if let Some((name, _)) = foreign.iter().find(|(_, given)| *given) {
        return Err(LlmError::config(format!(
            "gemini/{model} does not take {name}; Gemini image models take prompt, aspect_ratio \
             and (some) size"
        )));
    }
    if req.n.is_some_and(|n| n > 1) {
        return Err(LlmError::config(format!(
            "n={} is not accepted by gemini/{model}: it takes only n=1 (one image per request)",
            req.n.unwrap_or_default()
        )));
    }
    let mut image_config = Map::new();
    if let Some(ratio) = &req.aspect_ratio {
        image_config.insert("aspectRatio".into(), Value::String(ratio.clone()));
    }
    if let Some(size) = &req.size {
        image_config.insert("imageSize".into(), Value::String(size.clone()));
    }
    let mut generation = Map::new();
    generation.insert("responseModalities".into(), json!(["TEXT", "IMAGE"]));
    if !image_config.is_empty() {
        generation.insert("imageConfig".into(), Value::Object(image_config));
    }
    let mut body = Map::new();
    body.insert(
        "contents".into(),
        json!([{"role": "user", "parts": [{"text": req.prompt}]}]),
    );
    body.insert("generationConfig".into(), Value::Object(generation));
    Ok(HttpRequest {
        method: Method::POST,
        url: join_url(
            &ep.base_url,
            &format!("v1beta/models/{model}:generateContent"),
        ),
        headers,
        body: to_bytes(&body, &Map::new())?,
        stream: false,
        timeout: ep.timeout,
        settings: Default::default(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    candidates: Vec<WireCandidate>,
    #[serde(default)]
    prompt_feedback: Option<WirePromptFeedback>,
    #[serde(default)]
    usage_metadata: Option<WireUsage>,
    #[serde(default)]
    model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate {
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    finish_reason: Option<Value>,
}

#[derive(Deserialize)]
struct WireContent {
    #[serde(default)]
    parts: Vec<WirePart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePart {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default)]
    inline_data: Option<WireBlob>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireBlob {
    #[serde(default)]
    mime_type: Option<String>,
    data: String,
}

/// The images (and words) of a `generateContent` answer. An answer the safety filters stopped
/// (a blocked prompt, or a finish reason of SAFETY, IMAGE_SAFETY, ...) with no image is a
/// content-policy refusal.
pub(super) fn parse(body: &[u8]) -> Result<ImageResponse> {
    let wire: WireResponse = parse_json(body, "the generateContent response")?;
    if let Some(reason) = wire.prompt_feedback.and_then(|f| f.block_reason) {
        return Err(refused(
            &format!("promptFeedback.blockReason: {reason}"),
            body,
        ));
    }
    let mut images = Vec::new();
    let mut words = Vec::new();
    let mut finish = None;
    for candidate in wire.candidates {
        if finish.is_none() {
            finish = candidate.finish_reason;
        }
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(blob) = part.inline_data {
                images.push(Image {
                    b64_json: Some(blob.data),
                    mime_type: blob.mime_type,
                    ..Image::default()
                });
            } else if let Some(text) = part.text.filter(|_| part.thought != Some(true)) {
                words.push(text);
            }
        }
    }
    if images.is_empty() {
        if let Some(reason) = finish
            .as_ref()
            .filter(|r| finish_reason(r) == Some(FinishReason::ContentFilter))
        {
            return Err(refused(&format!("finishReason: {reason}"), body));
        }
        return Err(LlmError::invalid_response(
            "the generateContent answer has no image; does this model output images \
             (e.g. gemini-2.5-flash-image)?",
        )
        .with_body(body));
    }
    Ok(ImageResponse {
        images,
        usage: wire.usage_metadata.unwrap_or_default().unify(),
        provider: "gemini".into(),
        model: wire.model_version.unwrap_or_default(),
        text: (!words.is_empty()).then(|| words.concat()),
        ..ImageResponse::default()
    })
}

fn refused(why: &str, body: &[u8]) -> LlmError {
    LlmError::new(
        ErrorKind::ContentPolicy,
        format!("Gemini refused to make the image ({why})"),
    )
    .with_body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> Endpoint {
        Endpoint {
            base_url: "https://generativelanguage.googleapis.com".into(),
            api_key: None,
            model: "gemini-2.5-flash-image".into(),
            headers: HeaderMap::new(),
            timeout: std::time::Duration::from_secs(60),
            aws: None,
        }
    }

    #[test]
    fn the_request_asks_for_image_output_in_the_aspect_ratio_given() -> Result<()> {
        let req = ImageRequest {
            prompt: "a cat".into(),
            aspect_ratio: Some("16:9".into()),
            ..ImageRequest::default()
        };
        let http = build(&ep(), &req, HeaderMap::new())?;
        assert!(http
            .url
            .ends_with("/v1beta/models/gemini-2.5-flash-image:generateContent"));
        let body: Value = serde_json::from_slice(&http.body).unwrap_or_default();
        assert_eq!(
            body["generationConfig"],
            json!({"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "16:9"}})
        );
        assert_eq!(body["contents"][0]["parts"][0]["text"], "a cat");
        Ok(())
    }

    #[test]
    fn openai_options_are_refused_for_any_gemini_model() {
        let req = ImageRequest {
            prompt: "a cat".into(),
            style: Some("vivid".into()),
            ..ImageRequest::default()
        };
        let e = build(&ep(), &req, HeaderMap::new()).err();
        assert!(e.is_some_and(|e| e.message.contains("does not take style")));
    }

    #[test]
    fn inline_data_parts_are_the_images_and_text_parts_the_words() -> Result<()> {
        let body = br#"{"candidates": [{"content": {"role": "model", "parts": [
            {"text": "Here is your cat."},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]},
            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 1290},
            "modelVersion": "gemini-2.5-flash-image"}"#;
        let r = parse(body)?;
        assert_eq!(r.images.len(), 1);
        assert_eq!(r.images[0].mime_type.as_deref(), Some("image/png"));
        assert_eq!(r.text.as_deref(), Some("Here is your cat."));
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (7, 1290));
        Ok(())
    }

    #[test]
    fn a_safety_stop_without_an_image_is_a_content_policy_refusal() {
        let body = br#"{"candidates": [{"content": {}, "finishReason": "IMAGE_SAFETY"}]}"#;
        let e = parse(body).err();
        assert_eq!(e.map(|e| e.kind), Some(ErrorKind::ContentPolicy));
        let blocked = br#"{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}"#;
        assert_eq!(
            parse(blocked).err().map(|e| e.kind),
            Some(ErrorKind::ContentPolicy)
        );
        let words_only = br#"{"candidates": [{"content": {"parts": [{"text": "no"}]}, "finishReason": "STOP"}]}"#;
        assert_eq!(
            parse(words_only).err().map(|e| e.kind),
            Some(ErrorKind::InvalidResponse)
        );
    }
}
