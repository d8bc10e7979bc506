//! The mock server speaking Bedrock Runtime over real HTTP: Converse answers, ConverseStream's
//! `application/vnd.amazon.eventstream` frames (decoded here with AWS's own
//! `aws-smithy-eventstream`, checksums verified), tool use in both, errors as AWS sends them,
//! a mid-stream exception frame, and authentication by SigV4 signature or Bedrock API key.
//! Requests are signed by `llmrail::aws::sign` and sent by llmrail's own transport.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use aws_smithy_types::event_stream::{HeaderValue as FrameValue, Message};
use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderValue, Method};
use llmrail::aws::{sign, Credentials, Scope};
use llmrail::mock::MockServer;
use llmrail::wire::{HttpRequest, HttpResponse, Settings};
use serde_json::{json, Value};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1%3A0";

enum Auth {
    SigV4,
    Bearer,
    None,
}

fn request(srv: &MockServer, method: Method, path: &str, body: Value, auth: Auth) -> HttpRequest {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let mut req = HttpRequest {
        method,
        url: format!("{}{path}", srv.url()),
        headers,
        body: if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        },
        stream: path.ends_with("-stream"),
        timeout: Duration::from_secs(10),
        settings: Settings::default(),
    };
    match auth {
        Auth::SigV4 => {
            let creds = Credentials::new("AKIDMOCK", "mock-secret", Some("tok".into()), "test");
            let scope = Scope::new("bedrock", "us-east-1");
            sign(&mut req, &creds, &scope, SystemTime::now()).unwrap();
        }
        Auth::Bearer => {
            req.headers.insert(
                "authorization",
                HeaderValue::from_static("Bearer bedrock-api-key-123"),
            );
        }
        Auth::None => {}
    }
    req
}

fn converse(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": [{"text": text}]}]})
}

async fn send(req: HttpRequest) -> (u16, HeaderMap, Bytes) {
    let resp: HttpResponse = llmrail::transport::send(req).await.unwrap();
    let (status, headers) = (resp.status, resp.headers.clone());
    (status, headers, resp.bytes(1 << 20).await.unwrap())
}

/// Every frame of a body, each decoded (and its prelude and message CRCs checked) by
/// aws-smithy-eventstream; the body must end exactly after the last one.
fn frames(body: &Bytes) -> Vec<Message> {
    let mut buf = body.clone();
    let mut out = Vec::new();
    while buf.has_remaining() {
        out.push(aws_smithy_eventstream::frame::read_message_from(&mut buf).unwrap());
    }
    out
}

fn header<'a>(m: &'a Message, name: &str) -> &'a str {
    let h = m
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .unwrap_or_else(|| panic!("no {name} header"));
    match h.value() {
        FrameValue::String(s) => s.as_str(),
        other => panic!("{name} is {other:?}"),
    }
}

fn payload(m: &Message) -> Value {
    serde_json::from_slice(m.payload()).unwrap()
}

#[tokio::test]
async fn converse_answers_with_the_text_the_stop_reason_and_the_usage() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "Paris.", "usage": {"input_tokens": 12, "output_tokens": 2}}))
        .unwrap();
    let path = format!("/model/{MODEL}/converse");
    let req = request(&srv, Method::POST, &path, converse("Capital?"), Auth::SigV4);
    let (status, headers, body) = send(req).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-amzn-requestid"].len(), 36);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["output"],
        json!({"message": {"role": "assistant", "content": [{"text": "Paris."}]}})
    );
    assert_eq!(body["stopReason"], "end_turn");
    assert_eq!(
        body["usage"],
        json!({"inputTokens": 12, "outputTokens": 2, "totalTokens": 14})
    );
    // The server saw the signature and the model id as sent, `:` encoded.
    let seen = &srv.requests()[0];
    assert_eq!(seen.path, path);
    assert!(seen
        .header("authorization")
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256 Credential=AKIDMOCK/"));
}

#[tokio::test]
async fn converse_stream_sends_checksummed_frames_from_message_start_to_metadata() {
    let srv = MockServer::start().unwrap();
    srv.push_json(
        json!({"text": "The capital is Paris.", "usage": {"input_tokens": 9, "output_tokens": 5}}),
    )
    .unwrap();
    let path = format!("/model/{MODEL}/converse-stream");
    let req = request(
        &srv,
        Method::POST,
        &path,
        converse("Capital?"),
        Auth::Bearer,
    );
    let (status, headers, body) = send(req).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let frames = frames(&body);
    let types: Vec<&str> = frames.iter().map(|f| header(f, ":event-type")).collect();
    assert_eq!(
        types,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    for f in &frames {
        assert_eq!(header(f, ":message-type"), "event");
        assert_eq!(header(f, ":content-type"), "application/json");
        // The padding the real service adds is there, for a decoder to ignore.
        assert!(payload(f)["p"].is_string());
    }
    assert_eq!(payload(&frames[0])["role"], "assistant");
    let text: String = frames[1..5]
        .iter()
        .map(|f| payload(f)["delta"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text, "The capital is Paris.");
    assert_eq!(payload(&frames[5])["contentBlockIndex"], 0);
    assert_eq!(payload(&frames[6])["stopReason"], "end_turn");
    assert_eq!(
        payload(&frames[7])["usage"],
        json!({"inputTokens": 9, "outputTokens": 5, "totalTokens": 14})
    );
}

#[tokio::test]
async fn a_tool_call_is_a_tool_use_block_whole_or_streamed_in_slices() {
    let srv = MockServer::start().unwrap();
    let call = json!({"tool_calls": [{"id": "tooluse_abc123", "name": "get_weather",
                                      "arguments": {"city": "Paris", "unit": "celsius"}}]});
    srv.push_json(call.clone()).unwrap();
    srv.push_json(call).unwrap();

    let path = format!("/model/{MODEL}/converse");
    let req = request(&srv, Method::POST, &path, converse("Weather?"), Auth::SigV4);
    let body: Value = serde_json::from_slice(&send(req).await.2).unwrap();
    assert_eq!(body["stopReason"], "tool_use");
    assert_eq!(
        body["output"]["message"]["content"],
        json!([{"toolUse": {"toolUseId": "tooluse_abc123", "name": "get_weather",
                            "input": {"city": "Paris", "unit": "celsius"}}}])
    );

    let path = format!("/model/{MODEL}/converse-stream");
    let req = request(&srv, Method::POST, &path, converse("Weather?"), Auth::SigV4);
    let frames = frames(&send(req).await.2);
    let start = frames
        .iter()
        .find(|f| header(f, ":event-type") == "contentBlockStart")
        .unwrap();
    assert_eq!(
        payload(start)["start"],
        json!({"toolUse": {"toolUseId": "tooluse_abc123", "name": "get_weather"}})
    );
    let index = payload(start)["contentBlockIndex"].clone();
    let input: String = frames
        .iter()
        .filter(|f| header(f, ":event-type") == "contentBlockDelta")
        .filter(|f| payload(f)["contentBlockIndex"] == index)
        .map(|f| {
            payload(f)["delta"]["toolUse"]["input"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let input: Value = serde_json::from_str(&input).unwrap();
    assert_eq!(input, json!({"city": "Paris", "unit": "celsius"}));
    let stop = frames
        .iter()
        .find(|f| header(f, ":event-type") == "messageStop")
        .unwrap();
    assert_eq!(payload(stop)["stopReason"], "tool_use");
}

#[tokio::test]
async fn errors_come_as_aws_sends_them_a_status_an_error_type_header_and_a_message() {
    let srv = MockServer::start().unwrap();
    for (status, kind) in [
        (429, "ThrottlingException"),
        (503, "ServiceUnavailableException"),
        (400, "ValidationException"),
        (500, "InternalServerException"),
    ] {
        srv.push_json(json!({"fault": {"status": status}})).unwrap();
        let path = format!("/model/{MODEL}/converse");
        let req = request(&srv, Method::POST, &path, converse("hi"), Auth::SigV4);
        let (got, headers, body) = send(req).await;
        assert_eq!(got, status);
        let error_type = headers["x-amzn-errortype"].to_str().unwrap();
        assert!(error_type.starts_with(&format!("{kind}:")), "{error_type}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    }
}

#[tokio::test]
async fn a_call_neither_signed_nor_with_a_key_is_refused_with_403() {
    let srv = MockServer::start().unwrap();
    let path = format!("/model/{MODEL}/converse");
    let req = request(&srv, Method::POST, &path, converse("hi"), Auth::None);
    let (status, headers, body) = send(req).await;
    assert_eq!(status, 403);
    assert!(headers["x-amzn-errortype"]
        .to_str()
        .unwrap()
        .starts_with("UnrecognizedClientException:"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["message"],
        "The security token included in the request is invalid."
    );
}

#[tokio::test]
async fn an_error_mid_stream_is_an_exception_frame_after_the_events_sent() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "one two three four", "fault": {"error_after": 2}}))
        .unwrap();
    let path = format!("/model/{MODEL}/converse-stream");
    let req = request(&srv, Method::POST, &path, converse("hi"), Auth::SigV4);
    let (status, _, body) = send(req).await;
    assert_eq!(status, 200);
    let frames = frames(&body);
    assert_eq!(frames.len(), 3);
    assert_eq!(header(&frames[1], ":event-type"), "contentBlockDelta");
    let last = &frames[2];
    assert_eq!(header(last, ":message-type"), "exception");
    assert_eq!(header(last, ":exception-type"), "internalServerException");
    assert!(payload(last)["message"].is_string());
}

#[tokio::test]
async fn a_malformed_event_is_a_valid_frame_whose_json_is_cut() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "a b", "fault": "malformed_json"}))
        .unwrap();
    let path = format!("/model/{MODEL}/converse-stream");
    let req = request(&srv, Method::POST, &path, converse("hi"), Auth::SigV4);
    let frames = frames(&send(req).await.2);
    assert!(frames
        .iter()
        .any(|f| serde_json::from_slice::<Value>(f.payload()).is_err()));
}

#[tokio::test]
async fn the_foundation_model_listing_answers_a_signed_get() {
    let srv = MockServer::start().unwrap();
    let req = request(
        &srv,
        Method::GET,
        "/foundation-models",
        Value::Null,
        Auth::SigV4,
    );
    let (status, _, body) = send(req).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["modelSummaries"][0]["modelId"],
        "anthropic.claude-3-haiku-20240307-v1:0"
    );
    let req = request(
        &srv,
        Method::GET,
        "/foundation-models",
        Value::Null,
        Auth::None,
    );
    assert_eq!(send(req).await.0, 403);
}
