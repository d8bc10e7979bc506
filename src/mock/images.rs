//! Images from the mock: OpenAI's `/images/generations` and Gemini's image parts, each a small
//! valid PNG made on the fly with the requested size in its IHDR header (a test reads the size
//! back from the bytes). The PNG is 1-bit grayscale with a stripe pattern from the prompt:
//! a 1024x1024 one is about 130 KB before deflate and a few KB after, so it costs nothing
//! to make per request.
//!
//! The mock always makes PNGs: an `output_format` of jpeg or webp is answered as png (and
//! says so), as its bytes are.

use std::io::Write;

use base64::Engine;
use flate2::write::ZlibEncoder;
use serde_json::{json, Map, Value};

use super::render::{random_hex, unix_now};

/// Whether a path is OpenAI's image generation (any base URL shape).
pub(crate) fn is_images(path: &str) -> bool {
    path.trim_end_matches('/').ends_with("/images/generations")
}

/// A PNG of `width` x `height`: signature, IHDR, one zlib IDAT, IEND.
pub(crate) fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let row_bytes = usize::try_from(width.div_ceil(8)).unwrap_or(0);
    let rows = usize::try_from(height).unwrap_or(0);
    let mut raw = Vec::with_capacity(rows.saturating_mul(row_bytes.saturating_add(1)));
    for y in 0..rows {
        raw.push(0); // filter: none
        let shade = if (y / 64) % 2 == 0 { seed } else { !seed };
        raw.extend(std::iter::repeat_n(shade, row_bytes));
    }
    let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let idat = z
        .write_all(&raw)
        .and_then(|()| z.finish())
        .unwrap_or_default();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    // Bit depth 1, grayscale, deflate, adaptive filtering, no interlace.
    ihdr.extend([1, 0, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend(u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32fast::hash(out.get(start..).unwrap_or_default());
    out.extend(crc.to_be_bytes());
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A byte that differs by prompt, so two prompts' images differ.
fn seed(prompt: &str) -> u8 {
    prompt.bytes().fold(0x5a_u8, |a, b| a.rotate_left(3) ^ b)
}

/// `"1536x1024"` as numbers; `auto` (and anything unreadable) is the square default.
fn dimensions(size: Option<&str>) -> (u32, u32) {
    size.and_then(|s| s.split_once('x'))
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .filter(|&(w, h): &(u32, u32)| w > 0 && h > 0 && w <= 4096 && h <= 4096)
        .unwrap_or((1024, 1024))
}

/// The output tokens of one gpt-image image, by quality (the image generation guide's table
/// for a square image: 272, 1056, 4160).
fn image_tokens(quality: &str) -> u64 {
    match quality {
        "low" => 272,
        "high" => 4160,
        _ => 1056,
    }
}

/// An `ImagesResponse` for `request`: `n` images of its size; URLs for a dall-e model that
/// did not ask for base64 (as dall-e answers by default), base64 otherwise.
pub(crate) fn openai(request: &Map<String, Value>) -> Value {
    let text = |k: &str| request.get(k).and_then(Value::as_str);
    let model = text("model").unwrap_or("dall-e-2");
    let prompt = text("prompt").unwrap_or_default();
    let n = request
        .get("n")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 10);
    let size = text("size").filter(|s| *s != "auto").unwrap_or("1024x1024");
    let (w, h) = dimensions(Some(size));
    let dall_e = model.starts_with("dall-e");
    let urls = dall_e && text("response_format") != Some("b64_json");
    let data: Vec<Value> = (0..n)
        .map(|_| {
            let mut image = Map::new();
            if urls {
                let url = format!("https://mock.llmrail.invalid/images/{}.png", random_hex(16));
                image.insert("url".into(), Value::String(url));
            } else {
                image.insert(
                    "b64_json".into(),
                    Value::String(b64(&png(w, h, seed(prompt)))),
                );
            }
            if model.starts_with("dall-e-3") {
                let revised = format!("A detailed picture of {prompt}");
                image.insert("revised_prompt".into(), Value::String(revised));
            }
            Value::Object(image)
        })
        .collect();
    let mut out = json!({"created": unix_now(), "data": data});
    if !dall_e {
        let quality = text("quality").filter(|q| *q != "auto").unwrap_or("medium");
        let input = u64::try_from(prompt.len().div_ceil(4)).unwrap_or(0);
        let output = image_tokens(quality).saturating_mul(n);
        out["size"] = json!(size);
        out["quality"] = json!(quality);
        out["output_format"] = json!("png");
        out["background"] = json!(text("background")
            .filter(|b| *b != "auto")
            .unwrap_or("opaque"));
        out["usage"] = json!({
            "input_tokens": input,
            "output_tokens": output,
            "total_tokens": input.saturating_add(output),
            "input_tokens_details": {"text_tokens": input, "image_tokens": 0},
        });
    }
    out
}

/// The size of a Gemini image at an aspect ratio (the image generation guide's 1K table),
/// doubled for `imageSize` 2K and quadrupled for 4K.
fn gemini_dimensions(ratio: Option<&str>, image_size: Option<&str>) -> (u32, u32) {
    let (w, h) = match ratio.unwrap_or("1:1") {
        "2:3" => (832, 1248),
        "3:2" => (1248, 832),
        "3:4" => (864, 1184),
        "4:3" => (1184, 864),
        "4:5" => (896, 1152),
        "5:4" => (1152, 896),
        "9:16" => (768, 1344),
        "16:9" => (1344, 768),
        "21:9" => (1536, 672),
        _ => (1024, 1024),
    };
    let scale = match image_size {
        Some("2K") => 2,
        Some("4K") => 4,
        _ => 1,
    };
    (w * scale, h * scale)
}

/// Gemini's answer to a request whose `responseModalities` ask for IMAGE gets an `inlineData`
/// PNG part after its text, and the image's 1290 output tokens (the pricing page's count).
pub(crate) fn add_gemini_image(request: &Map<String, Value>, answer: &mut Value) {
    let config = request.get("generationConfig");
    let wants_image = config
        .and_then(|c| c.get("responseModalities"))
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|v| v.as_str() == Some("IMAGE")));
    if !wants_image {
        return;
    }
    let image_config = config.and_then(|c| c.get("imageConfig"));
    let field = |k: &str| image_config.and_then(|c| c.get(k)).and_then(Value::as_str);
    let (w, h) = gemini_dimensions(field("aspectRatio"), field("imageSize"));
    let prompt = request
        .get("contents")
        .and_then(|c| c.pointer("/0/parts/0/text"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let part =
        json!({"inlineData": {"mimeType": "image/png", "data": b64(&png(w, h, seed(prompt)))}});
    if let Some(parts) = answer
        .pointer_mut("/candidates/0/content/parts")
        .and_then(Value::as_array_mut)
    {
        parts.push(part);
    }
    if let Some(Value::Number(out)) = answer.pointer("/usageMetadata/candidatesTokenCount") {
        let total = out.as_u64().unwrap_or(0).saturating_add(1290);
        answer["usageMetadata"]["candidatesTokenCount"] = json!(total);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ihdr_size(png: &[u8]) -> (u32, u32) {
        let be = |r: std::ops::Range<usize>| u32::from_be_bytes(png[r].try_into().unwrap());
        (be(16..20), be(20..24))
    }

    #[test]
    fn the_png_is_valid_and_carries_the_size_asked_for() {
        let bytes = png(1536, 1024, 7);
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&bytes[12..16], b"IHDR");
        assert_eq!(ihdr_size(&bytes), (1536, 1024));
        // The IHDR's CRC covers its type and data.
        let crc = crc32fast::hash(&bytes[12..29]);
        assert_eq!(u32::from_be_bytes(bytes[29..33].try_into().unwrap()), crc);
        // The pixels inflate back to one filter byte and 192 bytes per row.
        let idat_len = u32::from_be_bytes(bytes[33..37].try_into().unwrap()) as usize;
        let idat = &bytes[41..41 + idat_len];
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(idat), &mut raw).unwrap();
        assert_eq!(raw.len(), 1024 * (1 + 1536 / 8));
        assert!(bytes.ends_with(b"IEND\xaeB`\x82"));
        assert!(bytes.len() < 8_000, "{}", bytes.len());
    }

    #[test]
    fn dall_e_answers_urls_unless_asked_for_base64_and_gpt_image_reports_usage() {
        let ask = |v: Value| openai(v.as_object().unwrap());
        let url = ask(json!({"model": "dall-e-3", "prompt": "fox"}));
        assert!(url["data"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://"));
        assert_eq!(
            url["data"][0]["revised_prompt"],
            "A detailed picture of fox"
        );
        let two = ask(
            json!({"model": "gpt-image-1", "prompt": "fox", "n": 2, "size": "1024x1536", "quality": "low"}),
        );
        assert_eq!(two["data"].as_array().unwrap().len(), 2);
        assert_eq!(two["usage"]["output_tokens"], 544);
        let b64 = two["data"][1]["b64_json"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(ihdr_size(&bytes), (1024, 1536));
    }

    #[test]
    fn gemini_gets_an_image_part_only_when_it_asks_for_one() {
        let mut answer = json!({"candidates": [{"content": {"parts": [{"text": "ok"}]}}],
                                "usageMetadata": {"candidatesTokenCount": 2}});
        let plain = json!({"contents": []});
        add_gemini_image(plain.as_object().unwrap(), &mut answer);
        assert_eq!(
            answer["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let asks = json!({"generationConfig": {"responseModalities": ["TEXT", "IMAGE"],
                                               "imageConfig": {"aspectRatio": "16:9"}}});
        add_gemini_image(asks.as_object().unwrap(), &mut answer);
        let data = answer["candidates"][0]["content"]["parts"][1]["inlineData"]["data"]
            .as_str()
            .unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        assert_eq!(ihdr_size(&bytes), (1344, 768));
        assert_eq!(answer["usageMetadata"]["candidatesTokenCount"], 1292);
    }
}
