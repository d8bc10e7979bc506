#![allow(clippy::panic)]

use super::*;
use crate::error::ErrorKind;

fn req() -> ImageRequest {
    ImageRequest {
        prompt: "a lighthouse at dusk".into(),
        ..ImageRequest::default()
    }
}

fn refused(model: &str, req: &ImageRequest) -> String {
    match check(
        model.split('/').next().unwrap_or(""),
        model.rsplit('/').next().unwrap_or(model),
        req,
    ) {
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Configuration);
            e.message.clone()
        }
        Ok(()) => panic!("{model} took {req:?}"),
    }
}

#[test]
fn gpt_image_models_refuse_response_format_naming_what_they_take() {
    let r = ImageRequest {
        response_format: Some("url".into()),
        ..req()
    };
    let msg = refused("openai/gpt-image-1", &r);
    assert!(
        msg.contains("openai/gpt-image-1 does not take response_format"),
        "{msg}"
    );
    assert!(msg.contains("background"), "{msg}");
}

#[test]
fn dall_e_3_takes_one_image_at_a_time_and_a_style() {
    let two = ImageRequest {
        n: Some(2),
        ..req()
    };
    let msg = refused("openai/dall-e-3", &two);
    assert!(msg.contains("n=2") && msg.contains("only n=1"), "{msg}");
    let styled = ImageRequest {
        style: Some("natural".into()),
        size: Some("1792x1024".into()),
        quality: Some("hd".into()),
        ..req()
    };
    assert!(check("openai", "dall-e-3", &styled).is_ok());
    let msg = refused(
        "openai/gpt-image-1",
        &ImageRequest {
            style: Some("vivid".into()),
            ..req()
        },
    );
    assert!(msg.contains("does not take style"), "{msg}");
}

#[test]
fn a_value_the_model_does_not_accept_is_named_with_the_allowed_ones() {
    let r = ImageRequest {
        size: Some("1792x1024".into()),
        ..req()
    };
    let msg = refused("openai/gpt-image-1", &r);
    assert!(msg.contains("size=\"1792x1024\""), "{msg}");
    assert!(msg.contains("1024x1024, 1536x1024, 1024x1536"), "{msg}");
}

#[test]
fn compression_needs_jpeg_or_webp_and_transparency_needs_no_jpeg() {
    let r = ImageRequest {
        output_compression: Some(50),
        ..req()
    };
    assert!(refused("openai/gpt-image-1", &r).contains("output_format"));
    let ok = ImageRequest {
        output_compression: Some(50),
        output_format: Some("webp".into()),
        ..req()
    };
    assert!(check("openai", "gpt-image-1", &ok).is_ok());
    let r = ImageRequest {
        background: Some("transparent".into()),
        output_format: Some("jpeg".into()),
        ..req()
    };
    assert!(refused("openai/gpt-image-1", &r).contains("transparent"));
}

#[test]
fn gemini_image_models_take_an_aspect_ratio_and_no_openai_options() {
    let r = ImageRequest {
        aspect_ratio: Some("16:9".into()),
        ..req()
    };
    assert!(check("gemini", "gemini-2.5-flash-image", &r).is_ok());
    let r = ImageRequest {
        quality: Some("hd".into()),
        ..req()
    };
    assert!(refused("gemini/gemini-2.5-flash-image", &r).contains("does not take quality"));
}

#[test]
fn a_model_without_a_row_is_sent_what_was_given_but_never_an_empty_prompt() {
    let r = ImageRequest {
        style: Some("whatever".into()),
        ..req()
    };
    assert!(check("openai", "gpt-image-9", &r).is_ok());
    let empty = ImageRequest::default();
    assert!(refused("openai/gpt-image-1", &empty).contains("needs a prompt"));
}

#[test]
fn cost_is_the_price_per_image_at_the_answered_quality_and_size() {
    let answered = ImageResponse {
        images: vec![Image::default(), Image::default()],
        quality: Some("low".into()),
        size: Some("1024x1536".into()),
        ..ImageResponse::default()
    };
    let asked = ImageRequest {
        n: Some(2),
        ..req()
    };
    let priced = answered.priced("gpt-image-1", &asked);
    assert_eq!(priced.cost_usd, Some(0.032));
    // dall-e-3 says nothing of quality: the default (standard) and the asked size price it.
    let one = ImageResponse {
        images: vec![Image::default()],
        ..ImageResponse::default()
    };
    let wide = ImageRequest {
        size: Some("1792x1024".into()),
        ..req()
    };
    assert_eq!(one.clone().priced("dall-e-3", &wide).cost_usd, Some(0.08));
    assert_eq!(one.priced("gpt-image-9", &wide).cost_usd, None);
}

#[test]
fn data_decodes_the_base64_and_says_so_when_it_is_not() {
    let image = Image {
        b64_json: Some("iVBORw0KGgo=".into()),
        ..Image::default()
    };
    let bytes = image.data().and_then(Result::ok).unwrap_or_default();
    assert_eq!(bytes, b"\x89PNG\r\n\x1a\n");
    let bad = Image {
        b64_json: Some("***".into()),
        ..Image::default()
    };
    assert!(matches!(bad.data(), Some(Err(_))));
    assert!(Image::default().data().is_none());
}
