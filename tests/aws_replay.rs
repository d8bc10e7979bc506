//! A SigV4-signed request recorded through the real transport into a cassette: the file holds
//! no secret, session token, signature or access key id, and the recording replays for a
//! request signed later (another date, another signature): matching ignores the signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use llmrail::aws::{sign, Credentials, Scope};
use llmrail::mock::{MockServer, Reply};
use llmrail::replay::{self, Mode, Options, Session};
use llmrail::wire::{HttpRequest, Settings};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzzSECRETKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD-session";
const KEY_ID: &str = "ASIAQEXAMPLEKEYID77";

/// A Converse-shaped request to `base`, signed as of `time` with temporary credentials.
fn signed(base: &str, time: SystemTime) -> HttpRequest {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let mut req = HttpRequest {
        method: Method::POST,
        url: format!("{base}/api/chat"),
        headers,
        body: Bytes::from_static(
            br#"{"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"hi"}],"stream":false}"#,
        ),
        stream: false,
        timeout: Duration::from_secs(10),
        settings: Settings::default(),
    };
    let creds = Credentials::new(KEY_ID, SECRET, Some(TOKEN.into()), "test");
    sign(&mut req, &creds, &Scope::new("bedrock", "us-east-1"), time).unwrap();
    req
}

async fn with_cassette(path: &std::path::Path, mode: Mode, req: HttpRequest) -> (u16, Bytes) {
    let opts = Options {
        mode: Some(mode),
        ..Options::default()
    };
    let session = Arc::new(Session::open(path, opts).unwrap());
    replay::activate(session.clone());
    let resp = llmrail::transport::send(req).await;
    let out = match resp {
        Ok(resp) => {
            let status = resp.status;
            (status, resp.bytes(1 << 20).await.unwrap())
        }
        Err(e) => {
            replay::deactivate(&session);
            panic!("{e}");
        }
    };
    replay::deactivate(&session);
    session.save().unwrap();
    out
}

#[tokio::test]
async fn a_signed_request_is_recorded_without_its_secrets_and_replays_whatever_its_signature() {
    let dir = std::env::temp_dir().join(format!("llmrail-aws-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("signed.yaml");
    let _ = std::fs::remove_file(&path);

    let srv = MockServer::start().unwrap();
    srv.push(Reply::text("Hello from a signed call."));
    let first = signed(&srv.url(), SystemTime::now());
    let sent_auth = first.headers["authorization"].to_str().unwrap().to_string();
    let signature = sent_auth.rsplit("Signature=").next().unwrap().to_string();
    let (status, recorded) = with_cassette(&path, Mode::Once, first).await;
    assert_eq!(status, 200);
    // The server saw the real signature; only the file is scrubbed.
    assert_eq!(
        srv.requests()[0].header("authorization"),
        Some(sent_auth.as_str())
    );
    assert_eq!(
        srv.requests()[0].header("x-amz-security-token"),
        Some(TOKEN)
    );

    let text = std::fs::read_to_string(&path).unwrap();
    for leak in [
        SECRET,
        TOKEN,
        KEY_ID,
        &signature,
        "AWS4-HMAC-SHA256 Credential",
    ] {
        assert!(!text.contains(leak), "{leak} is in the cassette:\n{text}");
    }
    assert!(text.contains("authorization:\n      - REDACTED"), "{text}");
    assert!(
        text.contains("x-amz-security-token:\n      - REDACTED"),
        "{text}"
    );

    // An hour later (another X-Amz-Date, another signature), with the server gone: replayed.
    srv.shutdown();
    let later = signed(&srv.url(), SystemTime::now() + Duration::from_secs(3600));
    assert_ne!(later.headers["authorization"].to_str().unwrap(), sent_auth);
    let (status, replayed) = with_cassette(&path, Mode::None, later).await;
    assert_eq!(status, 200);
    // The cassette keeps a JSON body as data (pretty-printed): the same answer, not the same bytes.
    let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
    assert_eq!(json(&replayed), json(&recorded));
}
