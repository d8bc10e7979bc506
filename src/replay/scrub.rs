//! Secrets never reach a cassette or a log: applied to every interaction before it is written,
//! and to live requests before matching (so they compare equal to what was written).
//!
//! By default, with no configuration: credential headers (and any header a provider marked
//! sensitive), `key=`-style query parameters, `user:password@` in URLs, and every occurrence of
//! those secret values anywhere else (a body echoing the key, say). Users add header, query and
//! JSON field names. [`url`] is the one way a URL is shown or written (cassettes, the development
//! recorder, a client's repr), so a secret in a `base_url` reaches none of them.

use std::borrow::Cow;

use http::HeaderMap;
use serde_json::Value;

use super::interaction::{Chunk, Interaction};

/// What a scrubbed value is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Credential headers of OpenAI, Azure, Anthropic, Gemini and AWS (SigV4 signs through
/// `authorization`; session tokens travel separately), plus cookies.
pub const HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "x-amz-security-token",
    "cookie",
    "set-cookie",
];

/// Query parameters carrying keys (Gemini's `key=`), tokens, Azure SAS (`sig=`) or AWS
/// presigned-URL signatures.
pub const QUERY: &[&str] = &[
    "key",
    "api_key",
    "api-key",
    "apikey",
    "token",
    "access_token",
    "sig",
    "signature",
    "password",
    "client_secret",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

/// Secret values shorter than this are not searched for in bodies (too many false hits).
const MIN_SECRET: usize = 6;

#[derive(Debug, Clone)]
pub struct Scrubber {
    headers: Vec<String>,
    query: Vec<String>,
    fields: Vec<String>,
}

impl Default for Scrubber {
    fn default() -> Self {
        Self::new(&[], &[], &[])
    }
}

impl Scrubber {
    /// The defaults plus the header, query parameter and JSON field names given.
    pub fn new(headers: &[String], query: &[String], fields: &[String]) -> Self {
        let with = |defaults: &[&str], extra: &[String]| {
            let mut all: Vec<String> = defaults.iter().map(|s| s.to_string()).collect();
            all.extend(extra.iter().map(|s| s.to_ascii_lowercase()));
            all
        };
        Self {
            headers: with(HEADERS, headers),
            query: with(QUERY, query),
            fields: fields.to_vec(),
        }
    }

    fn secret_header(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    fn secret_param(&self, name: &str) -> bool {
        self.query.iter().any(|q| q.eq_ignore_ascii_case(name))
    }

    fn is_secret(&self, name: &http::HeaderName, value: &http::HeaderValue) -> bool {
        value.is_sensitive() || self.secret_header(name.as_str())
    }

    /// The secret values a live request carries in its headers, longest first.
    pub fn secrets(&self, headers: &HeaderMap) -> Vec<String> {
        let mut secrets = Vec::new();
        for (name, value) in headers {
            if self.is_secret(name, value) {
                let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
                // "Bearer sk-..." also leaks as the bare key.
                if let Some((_, token)) = text.split_once(' ') {
                    secrets.push(token.trim().to_string());
                }
                // A SigV4 signature or credential scope quoted alone (an AWS signature error
                // quotes what it expected) is the same secret.
                if text.starts_with("AWS4-") {
                    secrets.extend(sigv4_parts(&text));
                }
                secrets.push(text);
            }
        }
        secrets.retain(|s| s.len() >= MIN_SECRET);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets
    }

    /// A live request's headers as recorded: secret values replaced. Returns the secrets too.
    pub fn headers(&self, headers: &HeaderMap) -> (Vec<(String, String)>, Vec<String>) {
        let out = headers
            .iter()
            .map(|(name, value)| {
                let text = if self.is_secret(name, value) {
                    REDACTED.to_string()
                } else {
                    String::from_utf8_lossy(value.as_bytes()).into_owned()
                };
                (name.as_str().to_string(), text)
            })
            .collect();
        (out, self.secrets(headers))
    }

    /// Userinfo and secret query parameter values replaced; the rest of the URI untouched. The
    /// values replaced are added to `secrets`.
    pub fn uri<'a>(&self, uri: &'a str, secrets: &mut Vec<String>) -> Cow<'a, str> {
        match userinfo(uri, secrets) {
            Cow::Borrowed(uri) => self.query(uri, secrets),
            Cow::Owned(uri) => Cow::Owned(self.query(&uri, secrets).into_owned()),
        }
    }

    fn query<'a>(&self, uri: &'a str, secrets: &mut Vec<String>) -> Cow<'a, str> {
        let Some((base, rest)) = uri.split_once('?') else {
            return Cow::Borrowed(uri);
        };
        let (query, fragment) = match rest.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (rest, None),
        };
        let mut changed = false;
        let pairs: Vec<Cow<'_, str>> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) if self.secret_param(name) && value != REDACTED => {
                    changed = true;
                    if value.len() >= MIN_SECRET {
                        secrets.push(value.to_string());
                    }
                    Cow::Owned(format!("{name}={REDACTED}"))
                }
                _ => Cow::Borrowed(pair),
            })
            .collect();
        if !changed {
            return Cow::Borrowed(uri);
        }
        let mut out = format!("{base}?{}", pairs.join("&"));
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        Cow::Owned(out)
    }

    /// Named JSON fields redacted wherever they appear.
    pub fn json(&self, v: &mut Value) {
        if self.fields.is_empty() {
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    if self.fields.iter().any(|f| f == k) {
                        *child = Value::String(REDACTED.into());
                    } else {
                        self.json(child);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|x| self.json(x)),
            _ => {}
        }
    }

    /// Everything in an interaction about to be written; `secrets` are the live request's.
    pub fn interaction(&self, i: &mut Interaction, secrets: &[String]) {
        let mut secrets = secrets.to_vec();
        i.request.uri = self.uri(&i.request.uri, &mut secrets).into_owned();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for (name, value) in &mut i.response.headers {
            if self.secret_header(name) {
                *value = REDACTED.to_string();
            }
        }
        for (_, value) in i.request.headers.iter_mut().chain(&mut i.response.headers) {
            if let Cow::Owned(v) = text(value.as_bytes(), &secrets).0 {
                *value = String::from_utf8_lossy(&v).into_owned();
            }
        }
        i.request.uri = String::from_utf8_lossy(&text(i.request.uri.as_bytes(), &secrets).0).into();
        i.request.body = self.body(&i.request.body, &secrets).into_owned().into();
        let resp = &mut i.response;
        match &mut resp.chunks {
            None => resp.body = self.body(&resp.body, &secrets).into_owned().into(),
            Some(chunks) => {
                // A stream keeps its bytes (chunk lengths refer to them): text replacement only.
                let (body, edits) = text(&resp.body, &secrets);
                if let Cow::Owned(b) = body {
                    *chunks = remap(chunks, &edits);
                    resp.body = b.into();
                }
            }
        }
    }

    /// A body with secrets removed: named JSON fields, then secret values anywhere.
    pub fn body<'a>(&self, body: &'a [u8], secrets: &[String]) -> Cow<'a, [u8]> {
        let (mut out, _) = text(body, secrets);
        if !self.fields.is_empty() {
            if let Ok(mut json) = serde_json::from_slice::<Value>(&out) {
                self.json(&mut json);
                if let Ok(v) = serde_json::to_vec(&json) {
                    out = Cow::Owned(v);
                }
            }
        }
        out
    }
}

/// The signature, the credential scope and its access key id of a SigV4 `Authorization` value
/// (`AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=…,
/// Signature=…`).
fn sigv4_parts(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in value.split([',', ' ']).map(str::trim) {
        if let Some(sig) = part.strip_prefix("Signature=") {
            out.push(sig.to_string());
        } else if let Some(scope) = part.strip_prefix("Credential=") {
            out.push(scope.to_string());
            out.extend(scope.split('/').next().map(str::to_string));
        }
    }
    out
}

/// A URL as it may be shown or written: `user:password@` and the values of the default secret
/// query parameters replaced by [`REDACTED`].
pub fn url(uri: &str) -> Cow<'_, str> {
    DEFAULT.uri(uri, &mut Vec::new())
}

/// The secret values [`url`] hides (userinfo parts, secret query values), to take out of text
/// that quotes the URL, such as an HTTP library's error.
pub fn url_secrets(uri: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    DEFAULT.uri(uri, &mut secrets);
    secrets
}

static DEFAULT: std::sync::LazyLock<Scrubber> = std::sync::LazyLock::new(Scrubber::default);

/// Where the userinfo of `scheme://userinfo@host/...` is, `@` included.
pub(crate) fn userinfo_span(uri: &str) -> Option<std::ops::Range<usize>> {
    let (scheme, rest) = uri.split_once("://")?;
    let is_scheme = scheme.chars().next()?.is_ascii_alphabetic()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !is_scheme {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    let start = scheme.len() + 3;
    Some(start..start + at + 1)
}

/// The userinfo replaced; its parts (user, password) become secrets to scrub elsewhere.
fn userinfo<'a>(uri: &'a str, secrets: &mut Vec<String>) -> Cow<'a, str> {
    let Some(span) = userinfo_span(uri) else {
        return Cow::Borrowed(uri);
    };
    let info = &uri[span.start..span.end - 1];
    if info == REDACTED {
        return Cow::Borrowed(uri);
    }
    let parts = std::iter::once(info).chain(info.split(':'));
    secrets.extend(parts.filter(|p| p.len() >= MIN_SECRET).map(str::to_string));
    Cow::Owned(format!(
        "{}{REDACTED}@{}",
        &uri[..span.start],
        &uri[span.end..]
    ))
}

/// One replacement: at `at` in the input, `old` bytes became `new` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Edit {
    at: usize,
    old: usize,
    new: usize,
}

/// Every occurrence of every secret replaced by [`REDACTED`], with where it happened. Secrets
/// are tried longest first at each position (`headers` sorts them so).
pub fn text<'a>(body: &'a [u8], secrets: &[String]) -> (Cow<'a, [u8]>, Vec<Edit>) {
    let secrets: Vec<&[u8]> = secrets
        .iter()
        .map(String::as_bytes)
        .filter(|s| !s.is_empty() && find(body, s).is_some())
        .collect();
    if secrets.is_empty() {
        return (Cow::Borrowed(body), Vec::new());
    }
    let (mut out, mut edits) = (Vec::with_capacity(body.len()), Vec::new());
    let (mut i, mut copied) = (0, 0);
    while i < body.len() {
        match secrets.iter().find(|s| body[i..].starts_with(s)) {
            Some(s) => {
                out.extend_from_slice(&body[copied..i]);
                out.extend_from_slice(REDACTED.as_bytes());
                edits.push(Edit {
                    at: i,
                    old: s.len(),
                    new: REDACTED.len(),
                });
                i += s.len();
                copied = i;
            }
            None => i += 1,
        }
    }
    out.extend_from_slice(&body[copied..]);
    (Cow::Owned(out), edits)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(p) = hay.get(from..)?.iter().position(|b| *b == first) {
        let at = from + p;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Map a position in the original bytes to the edited ones; a position inside a replaced span
/// moves to the end of its replacement.
fn map_pos(pos: usize, edits: &[Edit]) -> usize {
    // The shift is kept as bytes added and bytes removed, so no signed cast is needed.
    let (mut added, mut removed) = (0usize, 0usize);
    for e in edits {
        if pos >= e.at + e.old {
            added += e.new;
            removed += e.old;
        } else if pos > e.at {
            return (e.at + added).saturating_sub(removed) + e.new;
        }
    }
    (pos + added).saturating_sub(removed)
}

/// Chunk lengths after the body was edited: the boundaries move with the bytes.
fn remap(chunks: &[Chunk], edits: &[Edit]) -> Vec<Chunk> {
    let mut out = Vec::with_capacity(chunks.len());
    let (mut end, mut prev) = (0usize, 0usize);
    for c in chunks {
        end += c.len;
        let new_end = map_pos(end, edits);
        if new_end > prev {
            out.push(Chunk {
                len: new_end - prev,
                at: c.at,
            });
            prev = new_end;
        }
    }
    out
}

#[cfg(test)]
mod tests;
