//! Redirects: followed on the same origin, refused to any other.
//!
//! Why not follow and strip credentials, as browsers and httpx do? reqwest strips only its own
//! fixed list (`Authorization`, `Cookie`, ...) on a cross-host hop, so Anthropic's `x-api-key`,
//! Azure's `api-key`, Gemini's `x-goog-api-key`, AWS signatures and any secret header a user adds
//! would go along; its redirect policy can only follow or stop, not edit headers. And a
//! stripped request is no use anyway: the other host answers 401 without the key. So a redirect
//! to another scheme, host or port is not followed at all; the call ends with an
//! `InvalidResponse` error (not retried: the next attempt would be redirected the same way)
//! that names where the server pointed and says to set `base_url` there. The official SDKs
//! (httpx strips only `Authorization`) send `x-api-key` to the new host; we send nothing.

use http::{HeaderMap, StatusCode};
use reqwest::redirect::{Attempt, Policy};
use reqwest::{Response, Url};

use crate::error::{LlmError, Result};

/// As many same-origin hops as reqwest's default policy allows.
const MAX_REDIRECTS: usize = 10;

pub(super) fn policy() -> Policy {
    Policy::custom(|attempt: Attempt<'_>| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| same_origin(first, attempt.url()));
        if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The typed error for a redirect the policy stopped; `Ok` for any other answer.
pub(super) fn refuse_stopped(resp: &Response) -> Result<()> {
    refuse(resp.status(), resp.headers(), resp.url())
}

/// For a redirect answer that did not pass reqwest's policy (`direct.rs`): whether the policy
/// would follow it (same origin: then reqwest sends the request again and follows), and if not,
/// the error the call ends in, so the request is not sent a second time to be refused.
pub(super) fn followed(status: StatusCode, headers: &HeaderMap, url: &Url) -> Result<bool> {
    let target = headers
        .get(http::header::LOCATION)
        .and_then(|l| url.join(l.to_str().ok()?).ok());
    if target.is_some_and(|t| same_origin(url, &t)) {
        return Ok(true);
    }
    refuse(status, headers, url).map(|()| false)
}

fn refuse(status: StatusCode, headers: &HeaderMap, url: &Url) -> Result<()> {
    if !status.is_redirection() {
        return Ok(());
    }
    let Some(location) = headers.get(http::header::LOCATION) else {
        // A 304 or a 300 without a target: nothing was followed, the provider decodes it.
        return Ok(());
    };
    let target = location
        .to_str()
        .ok()
        .and_then(|l| url.join(l).ok())
        .map(|u| shown(&u))
        .unwrap_or_else(|| "a location that is not a valid URL".to_string());
    let mut e = LlmError::invalid_response(format!(
        "the server at {} redirected the request ({}) to another host: {target}; llmrail does \
         not follow a redirect to a different host, so that host never sees your API key. If \
         it is the right server, set base_url to it",
        shown(&origin(url)),
        status.as_u16(),
    ));
    e.status = Some(status.as_u16());
    Err(e)
}

fn origin(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_path("");
    u
}

/// A URL as an error may show it: no user, password, query or fragment (any may be a secret).
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn origins_differ_by_scheme_host_or_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(
            &u("https://a.com/v1"),
            &u("https://a.com:443/x")
        ));
        assert!(!same_origin(&u("https://a.com/v1"), &u("http://a.com/v1")));
        assert!(!same_origin(
            &u("https://a.com/v1"),
            &u("https://b.a.com/v1")
        ));
        assert!(!same_origin(
            &u("http://127.0.0.1:1/"),
            &u("http://127.0.0.1:2/")
        ));
    }

    #[test]
    fn a_shown_url_carries_no_userinfo_query_or_fragment() {
        let u = Url::parse("https://me:pw@b.com/v1/chat?key=sk-1#f").unwrap();
        assert_eq!(shown(&u), "https://b.com/v1/chat");
    }
}
