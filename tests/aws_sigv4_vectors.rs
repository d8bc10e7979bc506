//! `llmrail::aws::sign` against AWS's official SigV4 test vectors (tests/data/specs/
//! aws-sigv4-test-suite, see SOURCE.md there): each runnable case is parsed into the
//! `HttpRequest` llmrail sends, signed, and checked on three counts: the canonical request
//! (as aws-sigv4 traces it while signing), the string to sign (the signature in our
//! `Authorization` is the HMAC of the official string to sign under the case's key), and the
//! `Authorization` header itself.
//!
//! Cases that cannot run are listed in [`NOT_RUN`] with why; the test fails if a case is neither
//! run nor listed, so the list stays honest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use llmrail::aws::{sign, Credentials, Scope};
use llmrail::wire::{HttpRequest, Settings};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Cases not run, and why. Query-string (presigned) files are not even copied: llmrail signs in
/// headers only.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "get-header-value-multiline",
        "an obs-folded header value (a newline inside it) is not a valid http::HeaderValue, so \
         no HttpRequest can carry it",
    ),
    (
        "get-space-normalized",
        "the request line has a raw space; as a URL it is `%20`, which every service but S3 \
         signs double-encoded (`%2520`), while the case expects single encoding",
    ),
    (
        "get-space-unnormalized",
        "a raw space in the path (see get-space-normalized), and an unnormalized path",
    ),
    (
        "get-utf8",
        "a raw UTF-8 path: as a URL it is percent-encoded, which non-S3 signing encodes again \
         (`%25E1…`), while the case expects single encoding",
    ),
    (
        "get-relative-unnormalized",
        "expects the path not normalized (S3's rule); llmrail signs as every other service does",
    ),
    (
        "get-relative-relative-unnormalized",
        "expects the path not normalized (S3's rule)",
    ),
    (
        "get-slash-dot-slash-unnormalized",
        "expects the path not normalized (S3's rule)",
    ),
    (
        "get-slash-pointless-dot-unnormalized",
        "expects the path not normalized (S3's rule)",
    ),
    (
        "get-slash-unnormalized",
        "expects the path not normalized (S3's rule)",
    ),
    (
        "get-slashes-unnormalized",
        "expects the path not normalized (S3's rule)",
    ),
    (
        "post-sts-header-after",
        "expects the session token left out of the signature and added after it (a few \
         services' rule); Bedrock, like most services, signs it",
    ),
];

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/specs/aws-sigv4-test-suite/v4")
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.replace("\r\n", "\n").trim_end().to_string())
}

/// One case's inputs.
struct Case {
    method: String,
    path: String,
    host: String,
    headers: Vec<(String, String)>,
    body: String,
    access_key_id: String,
    secret: String,
    token: Option<String>,
    region: String,
    service: String,
    time: SystemTime,
    content_sha256: bool,
}

/// `2015-08-30T12:36:00Z` or `20150830T123600Z` as a time (the days-from-civil algorithm).
fn parse_time(s: &str) -> SystemTime {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let n = |a: usize, b: usize| digits[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(4, 6), n(6, 8));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + n(8, 10) * 3600 + n(10, 12) * 60 + n(12, 14);
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

fn parse_case(dir: &Path) -> Case {
    let request = read(dir, "request.txt").unwrap();
    let (head, body) = request.split_once("\n\n").unwrap_or((&request, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap();
    let method = first.split(' ').next().unwrap().to_string();
    let path = first[method.len() + 1..]
        .trim_end_matches(" HTTP/1.1")
        .to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().unwrap();
            last.1.push('\n');
            last.1.push_str(line);
            continue;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_string(), value.to_string()));
    }
    let host = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone())
        .unwrap();
    // The URL carries the host, as in every request llmrail sends (reqwest writes `Host`).
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case("host"));
    let name = dir.file_name().unwrap().to_str().unwrap();
    let (access_key_id, secret, token, region, service, time, sign_body) =
        match read(dir, "context.json") {
            Some(ctx) => {
                let ctx: serde_json::Value = serde_json::from_str(&ctx).unwrap();
                let creds = &ctx["credentials"];
                let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
                (
                    s(&creds["access_key_id"]),
                    s(&creds["secret_access_key"]),
                    creds["token"].as_str().map(str::to_string),
                    s(&ctx["region"]),
                    s(&ctx["service"]),
                    parse_time(ctx["timestamp"].as_str().unwrap()),
                    ctx["sign_body"].as_bool().unwrap_or(true),
                )
            }
            // The two older cases carry no context: their credentials and time are those the
            // aws-sigv4 crate signs them with in its own tests.
            None if name == "double-encode-path" => (
                "ANOTREAL".into(),
                "notrealrnrELgWzOk3IfjzDKtFBhDby".into(),
                None,
                "us-east-1".into(),
                "service".into(),
                parse_time("20150830T123600Z"),
                false,
            ),
            None => (
                "AKIDEXAMPLE".into(),
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                None,
                "us-east-2".into(),
                "lambda".into(),
                parse_time("20210511T154045Z"),
                false,
            ),
        };
    Case {
        method,
        path,
        host,
        headers,
        body: body.to_string(),
        access_key_id,
        secret,
        token,
        region,
        service,
        time,
        content_sha256: sign_body,
    }
}

/// Collects the `canonical_request` field aws-sigv4 traces while it signs, and every field of
/// every event (what a log at trace level would show).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>, Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a Capture);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let shown = format!("{value:?}");
        if field.name() == "canonical_request" {
            self.0 .0.lock().unwrap().push(shown.clone());
        }
        self.0
             .1
            .lock()
            .unwrap()
            .push(format!("{}={shown}", field.name()));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        event.record(&mut Fields(self));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Sign one case; the canonical request traced, and the request signed.
fn sign_case(case: &Case) -> (String, HttpRequest) {
    let (canonical, req, _) = sign_case_logged(case);
    (canonical, req)
}

/// As [`sign_case`], with every field aws-sigv4 logged while signing.
fn sign_case_logged(case: &Case) -> (String, HttpRequest, Vec<String>) {
    let mut headers = HeaderMap::new();
    for (name, value) in &case.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let mut req = HttpRequest {
        method: Method::from_bytes(case.method.as_bytes()).unwrap(),
        url: format!("https://{}{}", case.host, case.path),
        headers,
        body: Bytes::from(case.body.clone()),
        stream: false,
        timeout: Duration::from_secs(1),
        settings: Settings::default(),
    };
    let creds = Credentials::new(
        &case.access_key_id,
        &case.secret,
        case.token.clone(),
        "test vector",
    );
    let scope = Scope {
        content_sha256: case.content_sha256,
        ..Scope::new(&case.service, &case.region)
    };
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        sign(&mut req, &creds, &scope, case.time).unwrap();
    });
    let traced = capture
        .0
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap_or_default();
    let logged = capture.1.lock().unwrap().clone();
    (traced, req, logged)
}

/// What differs between the case and llmrail's signature of it, if anything.
fn check(dir: &Path) -> Result<(), String> {
    let case = parse_case(dir);
    let (canonical, req) = sign_case(&case);
    let auth = req
        .headers
        .get("authorization")
        .ok_or("no Authorization header")?;
    if !auth.is_sensitive() {
        return Err("Authorization is not marked sensitive".into());
    }
    let auth = auth.to_str().unwrap().to_string();

    if let Some(mut expected) = read(dir, "header-canonical-request.txt") {
        if let Some(token) = &case.token {
            // aws-sigv4 traces the token redacted; the value itself is checked below.
            expected = expected.replace(
                &format!("x-amz-security-token:{token}"),
                &format!(
                    "x-amz-security-token:** redacted (length={}) **",
                    token.len()
                ),
            );
        }
        // double-encode-path's file has another case's date in it (the crate checks only its
        // signature): the date line is checked through the signature instead.
        if dir.ends_with("double-encode-path") {
            expected = expected.replace("20210511T154045Z", "20150830T123600Z");
        }
        if canonical != expected {
            return Err(format!(
                "canonical request differs:\n--- expected\n{expected}\n--- got\n{canonical}"
            ));
        }
    }

    let signature = auth.rsplit("Signature=").next().unwrap_or("").to_string();
    if let Some(sts) = read(dir, "header-string-to-sign.txt") {
        let key = v4::generate_signing_key(&case.secret, case.time, &case.region, &case.service);
        let of_official = v4::calculate_signature(key, sts.as_bytes());
        if of_official != signature {
            return Err(format!(
                "the signature is not that of the official string to sign ({of_official} vs \
                 {signature})"
            ));
        }
    }
    if let Some(expected) = read(dir, "header-signature.txt") {
        if expected.trim() != signature {
            return Err(format!("signature {signature}, expected {expected}"));
        }
    }
    let signed = read(dir, "header-signed-request.txt").ok_or("no signed request")?;
    let expected_auth = signed
        .lines()
        .find_map(|l| l.strip_prefix("Authorization:"))
        .ok_or("no Authorization line in the signed request")?
        .trim();
    if expected_auth != auth {
        return Err(format!(
            "Authorization {auth:?}, expected {expected_auth:?}"
        ));
    }
    if let Some(token) = &case.token {
        let sent = req.headers.get("x-amz-security-token").ok_or("no token")?;
        if sent.to_str().unwrap() != token || !sent.is_sensitive() {
            return Err("X-Amz-Security-Token is not the token, marked sensitive".into());
        }
    }
    Ok(())
}

#[test]
fn every_runnable_official_vector_signs_exactly_as_aws_says() {
    let mut names: Vec<String> = std::fs::read_dir(suite())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut ran = Vec::new();
    let mut failures = Vec::new();
    for name in &names {
        if NOT_RUN.iter().any(|(n, _)| n == name) {
            continue;
        }
        match check(&suite().join(name)) {
            Ok(()) => ran.push(name.clone()),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(ran.len() + NOT_RUN.len(), names.len());
    assert!(ran.len() >= 29, "only {} cases ran", ran.len());
}

#[test]
fn the_cases_listed_as_not_run_exist_in_the_suite() {
    for (name, _) in NOT_RUN {
        assert!(suite().join(name).is_dir(), "{name} is not in the suite");
    }
}

#[test]
fn the_unnormalized_cases_not_run_do_differ_under_non_s3_signing() {
    // They are listed because llmrail's signing gives another canonical request, not because
    // it was not tried: prove it for each path case.
    for (name, _) in NOT_RUN {
        if !name.contains("unnormalized") || name.contains("space") {
            continue;
        }
        assert!(check(&suite().join(name)).is_err(), "{name} passes: run it");
    }
}

#[test]
fn a_bedrock_model_id_is_encoded_twice_in_the_canonical_uri_as_botocore_signs_it() {
    // Bedrock's path carries the model id percent-encoded once (`:` is `%3A`); every AWS
    // service but S3 signs the path encoded once more, so the canonical URI has `%253A`.
    let case = Case {
        method: "POST".into(),
        path: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse".into(),
        host: "bedrock-runtime.us-east-1.amazonaws.com".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: "{}".into(),
        access_key_id: "AKIDEXAMPLE".into(),
        secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        token: None,
        region: "us-east-1".into(),
        service: "bedrock".into(),
        time: parse_time("20150830T123600Z"),
        content_sha256: false,
    };
    let (canonical, req) = sign_case(&case);
    assert_eq!(
        canonical,
        "POST\n\
         /model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n\
         \n\
         content-type:application/json\n\
         host:bedrock-runtime.us-east-1.amazonaws.com\n\
         x-amz-date:20150830T123600Z\n\
         \n\
         content-type;host;x-amz-date\n\
         44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    // botocore 1.43.11's SigV4Auth signs this request (same key, same time) with this header.
    assert_eq!(
        req.headers["authorization"],
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=1e3e5ff96e9eaa6f374cc3e88308f4dd8c58e317eb37fe847a49419ac9af2387"
    );
    assert_eq!(
        req.url,
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
}

#[test]
fn what_the_signer_logs_at_trace_level_holds_no_secret_token_or_signature() {
    let case = Case {
        method: "POST".into(),
        path: "/model/m/converse".into(),
        host: "bedrock-runtime.us-east-1.amazonaws.com".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: "{}".into(),
        access_key_id: "ASIAEXAMPLELOGS".into(),
        secret: "logs-secret-wJalrXUtnFEMI".into(),
        token: Some("logs-session-token-IQoJb3JpZ2lu".into()),
        region: "us-east-1".into(),
        service: "bedrock".into(),
        time: parse_time("20150830T123600Z"),
        content_sha256: false,
    };
    let (_, req, logged) = sign_case_logged(&case);
    assert!(!logged.is_empty(), "aws-sigv4 logged nothing to check");
    let auth = req.headers["authorization"].to_str().unwrap();
    let signature = auth.rsplit("Signature=").next().unwrap();
    let all = logged.join("\n");
    for secret in [
        case.secret.as_str(),
        case.token.as_deref().unwrap(),
        signature,
    ] {
        assert!(!all.contains(secret), "{secret} is logged:\n{all}");
    }
}
