//! Gemini batch mode's file input, for a create too big to go inline (ai.google.dev/gemini-api/
//! docs/batch-api, "Input file"; the Files API's resumable upload, ai.google.dev/gemini-api/
//! docs/files). The requests go up as JSON lines `{"key": custom_id, "request": <the
//! generateContent body>}`: `POST upload/v1beta/files` with `X-Goog-Upload-Protocol: resumable`
//! and `X-Goog-Upload-Command: start` answers the upload's URL in `X-Goog-Upload-URL`; the
//! bytes go there in one `upload, finalize`, answered with the `File` (`files/{id}`). The batch
//! is then created with `inputConfig.fileName`, and once done its `output.responsesFile` names a
//! JSONL file of answers (`{"key", "response"}` or `{"key", "error"}` a line, in input order),
//! read at `download/v1beta/{file}:download?alt=media` and joined on each line's `key`.
//! Translation only: the engine (`job.rs`) sends.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::{outcome, request};
use crate::batch::outcome::Outcome;
use crate::error::{LlmError, Result};
use crate::providers::{join_url, parse_json, Endpoint};
use crate::wire::HttpRequest;

/// The guide's limit for inline requests ("keep the total request size under 20MB"); a larger
/// create goes through a file.
pub(crate) const INLINE_LIMIT: usize = 20 * 1_000_000;

/// Overrides [`INLINE_LIMIT`] (bytes): tests set a small value rather than build 20 MB bodies.
pub(crate) const INLINE_LIMIT_ENV: &str = "LLMRAIL_GEMINI_BATCH_INLINE_BYTES";

/// The inline limit in force: [`INLINE_LIMIT_ENV`] when set to a number, else the guide's.
pub(crate) fn inline_limit() -> usize {
    std::env::var(INLINE_LIMIT_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(INLINE_LIMIT)
}

/// What the uploaded file is declared as.
const MIME: &str = "application/jsonl";

/// The input file: `{"key": custom_id, "request": body}` a line, each body as it was built.
pub(crate) fn input_file(items: &[(&str, &Bytes)]) -> Result<Bytes> {
    let size: usize = items.iter().map(|(id, b)| id.len() + b.len() + 24).sum();
    let mut out = BytesMut::with_capacity(size);
    for (id, body) in items {
        out.put_slice(b"{\"key\":");
        let id = serde_json::to_vec(id)
            .map_err(|e| LlmError::config(format!("custom_id cannot be serialised: {e}")))?;
        out.put_slice(&id);
        out.put_slice(b",\"request\":");
        out.put_slice(body);
        out.put_slice(b"}\n");
    }
    Ok(out.freeze())
}

fn header(headers: &mut HeaderMap, name: &'static str, value: &str) -> Result<()> {
    let value = HeaderValue::from_str(value)
        .map_err(|_| LlmError::config(format!("{value:?} cannot be a header value")))?;
    headers.insert(HeaderName::from_static(name), value);
    Ok(())
}

/// The start of a resumable upload of `len` bytes named `name`; the answer's
/// `X-Goog-Upload-URL` header is where the bytes go.
pub(crate) fn upload_start(
    ep: &Endpoint,
    headers: &HeaderMap,
    name: &str,
    len: usize,
) -> Result<HttpRequest> {
    let mut headers = headers.clone();
    header(&mut headers, "x-goog-upload-protocol", "resumable")?;
    header(&mut headers, "x-goog-upload-command", "start")?;
    header(
        &mut headers,
        "x-goog-upload-header-content-length",
        &len.to_string(),
    )?;
    header(&mut headers, "x-goog-upload-header-content-type", MIME)?;
    let body = serde_json::json!({"file": {"displayName": name}});
    Ok(request(
        ep,
        &headers,
        Method::POST,
        "upload/v1beta/files",
        Bytes::from(body.to_string()),
    ))
}

/// Where the upload's bytes go, from the start's answer.
pub(crate) fn upload_url(headers: &HeaderMap) -> Result<String> {
    headers
        .get("x-goog-upload-url")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            LlmError::invalid_response(
                "the Files API started an upload without naming its URL (X-Goog-Upload-URL)",
            )
        })
}

/// The bytes of `file`, in one `upload, finalize` to `url`. The key goes along only when `url`
/// is on the configured base URL's origin: the upload's URL is the capability there (Google's
/// carries an `upload_id`), and a key is sent only where the caller said.
pub(crate) fn upload(
    ep: &Endpoint,
    headers: &HeaderMap,
    url: &str,
    file: Bytes,
) -> Result<HttpRequest> {
    let mut headers = headers.clone();
    if origin(url) != origin(&ep.base_url) {
        headers.remove("x-goog-api-key");
        headers.remove(http::header::AUTHORIZATION);
    }
    header(&mut headers, "x-goog-upload-command", "upload, finalize")?;
    header(&mut headers, "x-goog-upload-offset", "0")?;
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(MIME));
    Ok(HttpRequest {
        method: Method::POST,
        url: url.to_string(),
        headers,
        body: file,
        stream: false,
        timeout: ep.timeout,
        settings: Default::default(),
    })
}

/// `scheme://host:port` of a URL, lower-cased; `None` for what is not one.
fn origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str()?.to_ascii_lowercase(),
        u.port_or_known_default()?
    ))
}

#[derive(Deserialize)]
struct WireUploaded {
    file: WireFile,
}

#[derive(Deserialize)]
struct WireFile {
    name: String,
}

/// The uploaded file's resource name (`files/{id}`), from the finalize's answer.
pub(crate) fn parse_uploaded(body: &[u8]) -> Result<String> {
    Ok(parse_json::<WireUploaded>(body, "the uploaded file")?
        .file
        .name)
}

/// The responses file's content: `download/v1beta/{file}:download?alt=media`.
pub(crate) fn download(ep: &Endpoint, headers: &HeaderMap, file: &str) -> HttpRequest {
    let file = file.trim_start_matches('/');
    HttpRequest {
        method: Method::GET,
        url: join_url(
            &ep.base_url,
            &format!("download/v1beta/{file}:download?alt=media"),
        ),
        headers: headers.clone(),
        body: Bytes::new(),
        stream: false,
        timeout: ep.timeout,
        settings: Default::default(),
    }
}

/// One line of the responses file; the answer is kept as it came (a slice of the file).
#[derive(Deserialize)]
struct WireLine<'a> {
    #[serde(default)]
    key: Option<String>,
    #[serde(default, borrow)]
    response: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<Value>,
}

/// The responses file: one outcome per line, joined on its `key`, else on its position among
/// `ids` (the provider batch's custom ids in input order). A line with neither an answer nor an
/// error is left out (the engine decides what became of its item from the batch's state).
pub(crate) fn parse_results(body: &Bytes, ids: &[String]) -> Result<Vec<(String, Outcome)>> {
    let mut out = Vec::with_capacity(ids.len());
    let lines = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    for (n, line) in lines.enumerate() {
        let w: WireLine = parse_json(line, "a line of the batch's responses file")?;
        let Some(key) = w.key.or_else(|| ids.get(n).cloned()) else {
            return Err(LlmError::invalid_response(format!(
                "the batch's responses file has {} lines for {} requests, some with no key",
                n + 1,
                ids.len()
            ))
            .with_body(line));
        };
        if let Some(outcome) = outcome(body, w.response, w.error) {
            out.push((key, outcome));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ep(base: &str) -> Endpoint {
        Endpoint {
            base_url: base.into(),
            api_key: None,
            model: "gemini-2.5-flash".into(),
            headers: HeaderMap::new(),
            timeout: std::time::Duration::from_secs(5),
            aws: None,
        }
    }

    fn keyed() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-key", HeaderValue::from_static("k"));
        h
    }

    #[test]
    fn the_input_file_is_one_keyed_request_a_line_with_each_body_as_built() {
        let (a, b) = (Bytes::from_static(b"{\"x\":1}"), Bytes::from_static(b"{}"));
        let file = input_file(&[("a", &a), ("q\"", &b)]).unwrap();
        assert_eq!(
            &file[..],
            b"{\"key\":\"a\",\"request\":{\"x\":1}}\n{\"key\":\"q\\\"\",\"request\":{}}\n"
        );
    }

    #[test]
    fn the_upload_starts_resumable_and_declares_the_files_size_and_type() {
        let req = upload_start(&ep("http://h:1"), &keyed(), "llmrail-t", 42).unwrap();
        assert_eq!(req.url, "http://h:1/upload/v1beta/files");
        assert_eq!(req.headers["x-goog-upload-protocol"], "resumable");
        assert_eq!(req.headers["x-goog-upload-command"], "start");
        assert_eq!(req.headers["x-goog-upload-header-content-length"], "42");
        assert_eq!(req.headers["x-goog-upload-header-content-type"], MIME);
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["file"]["displayName"], "llmrail-t");
    }

    #[test]
    fn the_key_goes_with_the_bytes_only_to_the_base_urls_own_origin() {
        let ep = ep("https://generativelanguage.googleapis.com");
        let same = "https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id=x";
        let req = upload(&ep, &keyed(), same, Bytes::from_static(b"l\n")).unwrap();
        assert_eq!(req.url, same);
        assert!(req.headers.contains_key("x-goog-api-key"));
        assert_eq!(req.headers["x-goog-upload-command"], "upload, finalize");
        assert_eq!(req.headers["x-goog-upload-offset"], "0");
        let other = "https://uploads.example.com/upload?upload_id=x";
        let req = upload(&ep, &keyed(), other, Bytes::new()).unwrap();
        assert!(!req.headers.contains_key("x-goog-api-key"));
    }

    #[test]
    fn an_upload_start_without_a_url_is_an_invalid_response() {
        assert!(upload_url(&HeaderMap::new()).is_err());
        let mut h = HeaderMap::new();
        h.insert("x-goog-upload-url", HeaderValue::from_static("http://u/1"));
        assert_eq!(upload_url(&h).unwrap(), "http://u/1");
    }

    #[test]
    fn the_responses_file_is_read_from_the_download_path() {
        let req = download(&ep("http://h:1/"), &keyed(), "files/batch-abc");
        assert_eq!(
            req.url,
            "http://h:1/download/v1beta/files/batch-abc:download?alt=media"
        );
    }

    #[test]
    fn response_lines_are_joined_on_their_key_and_errors_get_an_http_status() {
        let body = Bytes::from_static(
            b"{\"key\":\"b\",\"error\":{\"code\":14,\"message\":\"busy\"}}\n\
              {\"key\":\"a\",\"response\":{\"candidates\":[]}}\n\n",
        );
        let ids = vec!["a".to_string(), "b".to_string()];
        let out = parse_results(&body, &ids).unwrap();
        assert_eq!(out[0].0, "b");
        assert!(matches!(&out[0].1, Outcome::Errored { status: 503, .. }));
        assert!(out[0].1.retryable());
        assert_eq!(out[1].0, "a");
        assert!(
            matches!(&out[1].1, Outcome::Succeeded { body, .. } if &body[..] == br#"{"candidates":[]}"#)
        );
    }

    #[test]
    fn lines_without_keys_are_joined_by_position() {
        let body = Bytes::from_static(b"{\"response\":{}}\n{\"response\":{}}\n");
        let ids = vec!["x".to_string(), "y".to_string()];
        let keys: Vec<String> = parse_results(&body, &ids)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["x", "y"]);
        assert!(parse_results(&body, &ids[..1]).is_err());
    }
}
