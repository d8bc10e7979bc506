//! SigV4: one [`HttpRequest`] signed in place by AWS's own signer (`aws-sigv4`), with the
//! settings of every AWS service but S3: the path normalized and encoded a second time for the
//! canonical request (Bedrock's `/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse`
//! is signed as `…v1%253A0…`, as botocore and the AWS SDKs sign it), the session token signed
//! with the rest, the signature in headers.
//!
//! It adds `Authorization`, `X-Amz-Date`, `X-Amz-Security-Token` (with temporary credentials)
//! and `x-amz-content-sha256` (where asked); the credential ones, `Authorization` and the
//! token, are marked sensitive, so every later consumer (logs, cassettes) drops them; the
//! replay scrubber also knows them by name.

use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use http::{HeaderName, HeaderValue};

use super::Credentials;
use crate::error::{LlmError, Result};
use crate::wire::HttpRequest;

/// The headers a signature adds; any already on the request are replaced.
const SIGNING_HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Who the signature is for.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// The signing name of the service (`bedrock`).
    pub service: &'a str,
    pub region: &'a str,
    /// Add (and sign) `x-amz-content-sha256`: S3 wants it; Bedrock and most services do not.
    pub content_sha256: bool,
}

impl<'a> Scope<'a> {
    pub fn new(service: &'a str, region: &'a str) -> Self {
        Self {
            service,
            region,
            content_sha256: false,
        }
    }
}

/// Sign `req` for `scope` as of `time`.
pub fn sign(
    req: &mut HttpRequest,
    creds: &Credentials,
    scope: &Scope<'_>,
    time: SystemTime,
) -> Result<()> {
    for name in SIGNING_HEADERS {
        req.headers.remove(name);
    }
    // aws-sigv4 takes the host for the canonical request from the URL and insists on one.
    let has_host = req
        .url
        .parse::<http::Uri>()
        .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()));
    if !has_host {
        return Err(LlmError::config(format!(
            "cannot SigV4-sign a request whose URL has no host ({:?})",
            crate_url_shown(&req.url)
        )));
    }
    let mut headers = Vec::with_capacity(req.headers.len());
    for (name, value) in &req.headers {
        let value = value.to_str().map_err(|_| {
            LlmError::config(format!(
                "the {name} header is not visible ASCII, so it cannot be SigV4-signed"
            ))
        })?;
        headers.push((name.as_str(), value));
    }
    let identity = creds.identity();
    let mut settings = SigningSettings::default();
    if scope.content_sha256 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| LlmError::config(format!("SigV4 signing parameters: {e}")))?
        .into();
    let signable = SignableRequest::new(
        req.method.as_str(),
        req.url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&req.body),
    )
    .map_err(|e| LlmError::config(format!("cannot SigV4-sign this request: {e}")))?;
    let (instructions, _signature) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| LlmError::config(format!("cannot SigV4-sign this request: {e}")))?
        .into_parts();
    let (added, _query) = instructions.into_parts();
    for header in added {
        let name = HeaderName::from_bytes(header.name().as_bytes())
            .map_err(|e| LlmError::config(format!("SigV4 header name: {e}")))?;
        let mut value = HeaderValue::from_str(header.value())
            .map_err(|_| LlmError::config(format!("the SigV4 {name} header is not ASCII")))?;
        // aws-sigv4 marks only the token; the signature and the key id it names are no less
        // the caller's, and a sensitive value is what every consumer here knows to drop. The
        // date and the payload hash are not secrets (and a cassette keeps them).
        value.set_sensitive(matches!(
            header.name(),
            "authorization" | "x-amz-security-token"
        ));
        req.headers.insert(name, value);
    }
    Ok(())
}

/// The URL as an error may show it: its query (where a presigned URL's secrets are) cut.
fn crate_url_shown(url: &str) -> &str {
    url.split('?').next().unwrap_or("")
}
