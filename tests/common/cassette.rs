//! Loads recorded vcrpy cassettes (tests/data/real-cassettes) into plain responses.
//!
//! Two dialects: pydantic-ai stores JSON bodies decoded under `parsed_body:` (re-serialised here
//! with serde_json) and other bodies under `body: {string: ...}`; stock vcrpy (llm-anthropic)
//! stores `body: {string: ...}` as text, or as `!!binary` base64 of gzip bytes when the response
//! says `Content-Encoding: gzip`.

// Each test binary that includes this reads only the fields it needs.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_yaml_ng::Value;

/// One recorded request/response pair, response side decoded to the bytes the server sent.
pub struct Interaction {
    pub uri: String,
    /// The request body as sent (JSON re-serialised from `parsed_body`, else the raw text).
    pub request_body: Vec<u8>,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/real-cassettes")
}

/// Every interaction of the cassette at `rel` (a path under tests/data/real-cassettes).
pub fn load(rel: &str) -> Vec<Interaction> {
    let path = root().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let list = doc["interactions"]
        .as_sequence()
        .expect("an interactions list");
    list.iter().map(|i| interaction(rel, i)).collect()
}

fn interaction(rel: &str, i: &Value) -> Interaction {
    let resp = &i["response"];
    let headers = headers(&resp["headers"]);
    let body = if let Some(parsed) = resp.get("parsed_body") {
        let json: serde_json::Value =
            serde_json::to_value(parsed).expect("parsed_body is JSON-like");
        serde_json::to_vec(&json).expect("re-serialise parsed_body")
    } else {
        raw_body(&resp["body"]["string"], &headers)
    };
    Interaction {
        uri: i["request"]["uri"]
            .as_str()
            .expect("request.uri")
            .to_string(),
        request_body: request_body(&i["request"]),
        status: resp["status"]["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or_else(|| panic!("{rel}: no status")),
        headers,
        body,
    }
}

fn request_body(req: &Value) -> Vec<u8> {
    if let Some(parsed) = req.get("parsed_body") {
        let json: serde_json::Value =
            serde_json::to_value(parsed).expect("parsed_body is JSON-like");
        return serde_json::to_vec(&json).expect("re-serialise parsed_body");
    }
    match &req["body"] {
        Value::String(s) => s.as_bytes().to_vec(),
        other => other["string"]
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
    }
}

fn raw_body(string: &Value, headers: &HeaderMap) -> Vec<u8> {
    let text = string.as_str().expect("body.string is text");
    let gzip = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        == Some("gzip");
    if !gzip {
        return text.as_bytes().to_vec();
    }
    // Compressed bytes can only have been written as `!!binary` (base64). serde_yaml_ng drops
    // that standard tag and hands over the base64 text itself.
    let b64: String = text.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("!!binary base64");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .expect("gzip body");
    out
}

/// vcrpy writes `name: [value, ...]`; names are matched case-insensitively by HeaderMap.
fn headers(map: &Value) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, vs) in map.as_mapping().into_iter().flatten() {
        let name = HeaderName::from_bytes(k.as_str().expect("header name").as_bytes())
            .expect("valid header name");
        for v in vs.as_sequence().into_iter().flatten() {
            if let Some(s) = v.as_str() {
                out.append(
                    name.clone(),
                    HeaderValue::from_str(s).expect("valid header value"),
                );
            }
        }
    }
    out
}
