//! The mock provider server over real HTTP: both wire formats, streams, faults, bookkeeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use llmrail::mock::{Fault, MockServer, Reply};
use serde_json::{json, Value};

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

fn openai(srv: &MockServer, body: Value) -> reqwest::RequestBuilder {
    http()
        .post(format!("{}/v1/chat/completions", srv.url()))
        .bearer_auth("sk-test")
        .json(&body)
}

fn anthropic(srv: &MockServer, body: Value) -> reqwest::RequestBuilder {
    http()
        .post(format!("{}/v1/messages", srv.url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
}

fn chat(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "stream": stream,
           "messages": [{"role": "user", "content": "What is the capital of France?"}]})
}

fn claude(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
           "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi there"}]}]})
}

/// `(event name, data)` pairs of an SSE body.
fn sse(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = None;
            let mut data = String::new();
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (name, data)
        })
        .collect()
}

fn datas(text: &str) -> Vec<Value> {
    sse(text)
        .into_iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(&d).unwrap())
        .collect()
}

/// Well under the scripted latencies below, so the count comes from noticing the hang-up, not
/// from a late write failing.
async fn wait_for_disconnects(srv: &MockServer, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while srv.disconnects() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(srv.disconnects(), n);
}

#[tokio::test]
async fn openai_completion_looks_real() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "The capital of France is Paris.",
                         "usage": {"input_tokens": 14, "output_tokens": 7, "cache_read_tokens": 4}}))
        .unwrap();
    let resp = openai(&srv, chat(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert!(body["system_fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("fp_"));
    assert_eq!(body["model"], "gpt-4o-mini");
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["message"]["content"],
        "The capital of France is Paris."
    );
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 14);
    assert_eq!(body["usage"]["completion_tokens"], 7);
    assert_eq!(body["usage"]["total_tokens"], 21);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
}

#[tokio::test]
async fn openai_stream_with_and_without_usage() {
    let srv = MockServer::start().unwrap();
    srv.push(Reply::text("The capital of the UK is London.").with_times(2));
    let mut req = chat(true);
    req["stream_options"] = json!({"include_usage": true});
    let resp = openai(&srv, req).send().await.unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let chunks = datas(&text);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let joined: String = chunks
        .iter()
        .filter_map(|c| {
            c["choices"].get(0)?["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(joined, "The capital of the UK is London.");
    assert!(chunks.len() > 5, "split into word chunks");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"]["prompt_tokens"].as_u64().unwrap() >= 1);
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));

    let text = openai(&srv, chat(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let chunks = datas(&text);
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no usage unless asked"
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn openai_tool_calls_plain_and_streamed() {
    let srv = MockServer::start().unwrap();
    let reply = json!({"tool_calls": [{"name": "get_capital", "arguments": {"country": "UK"}},
                                      {"name": "now", "id": "call_fixed"}], "times": 2});
    srv.push_json(reply).unwrap();
    let body: Value = openai(&srv, chat(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let msg = &body["choices"][0]["message"];
    assert_eq!(msg["content"], Value::Null);
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert!(msg["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("call_"));
    assert_eq!(msg["tool_calls"][0]["type"], "function");
    assert_eq!(msg["tool_calls"][0]["function"]["name"], "get_capital");
    assert_eq!(
        msg["tool_calls"][0]["function"]["arguments"],
        r#"{"country":"UK"}"#
    );
    assert_eq!(msg["tool_calls"][1]["id"], "call_fixed");

    let text = openai(&srv, chat(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut args = ["".to_string(), "".to_string()];
    let mut names = Vec::new();
    for c in datas(&text) {
        let Some(calls) = c["choices"][0]["delta"]["tool_calls"].as_array() else {
            continue;
        };
        for call in calls {
            let i = usize::try_from(call["index"].as_u64().unwrap()).unwrap();
            if let Some(n) = call["function"]["name"].as_str() {
                names.push(n.to_string());
            }
            args[i].push_str(call["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(names, ["get_capital", "now"]);
    assert_eq!(
        serde_json::from_str::<Value>(&args[0]).unwrap(),
        json!({"country": "UK"})
    );
    assert_eq!(args[1], "{}");
}

#[tokio::test]
async fn anthropic_message_looks_real() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "Hello!", "finish_reason": "length",
                         "usage": {"input_tokens": 100, "output_tokens": 3,
                                   "cache_read_tokens": 60, "cache_write_tokens": 30}}))
        .unwrap();
    let resp = anthropic(&srv, claude(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    let body: Value = resp.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["content"], json!([{"type": "text", "text": "Hello!"}]));
    assert_eq!(body["stop_reason"], "max_tokens");
    assert_eq!(body["stop_sequence"], Value::Null);
    let usage = &body["usage"];
    assert_eq!(
        usage["input_tokens"], 10,
        "Anthropic excludes cache reads and writes"
    );
    assert_eq!(usage["cache_read_input_tokens"], 60);
    assert_eq!(usage["cache_creation_input_tokens"], 30);
    assert_eq!(usage["output_tokens"], 3);
}

#[tokio::test]
async fn anthropic_stream_text_and_tool_use() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "Let me check.", "chunks": ["Let", " me", " check."],
                         "tool_calls": [{"name": "weather", "arguments": {"city": "Paris", "unit": "C"}}]}))
        .unwrap();
    let resp = anthropic(&srv, claude(true)).send().await.unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let events = sse(&resp.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
    let data: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for ((name, _), d) in events.iter().zip(&data) {
        assert_eq!(
            d["type"],
            name.as_deref().unwrap(),
            "event name matches data type"
        );
    }
    assert!(data[0]["message"]["id"]
        .as_str()
        .unwrap()
        .starts_with("msg_"));
    assert!(data[0]["message"]["usage"]["input_tokens"]
        .as_u64()
        .is_some());
    let text: String = data
        .iter()
        .filter_map(|d| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Let me check.");
    let tool_start = data
        .iter()
        .find(|d| d["content_block"]["type"] == "tool_use")
        .unwrap();
    assert_eq!(tool_start["index"], 1);
    assert!(tool_start["content_block"]["id"]
        .as_str()
        .unwrap()
        .starts_with("toolu_"));
    let partial: String = data
        .iter()
        .filter_map(|d| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&partial).unwrap(),
        json!({"city": "Paris", "unit": "C"})
    );
    let delta = &data[data.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn echo_default_json_and_times() {
    let srv = MockServer::start().unwrap();
    let body: Value = openai(&srv, chat(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "mock reply to: What is the capital of France?"
    );
    let body: Value = anthropic(&srv, claude(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["content"][0]["text"], "mock reply to: Hi there");

    srv.push_json(json!({"json": {"name": "Ada", "age": 36}, "times": 2}))
        .unwrap();
    srv.push(Reply::text("third"));
    assert_eq!(srv.pending(), 3);
    for _ in 0..2 {
        let body: Value = openai(&srv, chat(false))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let content = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(content).unwrap(),
            json!({"name": "Ada", "age": 36})
        );
    }
    assert_eq!(srv.pending(), 1);
    srv.set_default(Some(Reply::text("default")));
    let b: Value = openai(&srv, chat(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        b["choices"][0]["message"]["content"], "third",
        "the queue comes before the default"
    );
    let b: Value = openai(&srv, chat(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b["choices"][0]["message"]["content"], "default");
    assert_eq!(srv.pending(), 0);
}

#[tokio::test]
async fn missing_key_is_401_and_keeps_the_script() {
    let srv = MockServer::start().unwrap();
    srv.push(Reply::text("kept"));
    let resp = http()
        .post(format!("{}/v1/chat/completions", srv.url()))
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("API key"));
    assert!(body["error"].get("param").is_some() && body["error"].get("code").is_some());

    let resp = http()
        .post(format!("{}/v1/messages", srv.url()))
        .header("x-api-key", "")
        .json(&claude(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let request_id = resp.headers()["request-id"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
    assert_eq!(body["request_id"], request_id.as_str());
    assert_eq!(srv.pending(), 1);
    assert_eq!(
        srv.requests().len(),
        2,
        "rejected requests are still recorded"
    );
}

#[tokio::test]
async fn status_faults_in_each_format() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"fault": {"status": 429, "retry_after": 2}}))
        .unwrap();
    srv.push_json(json!({"fault": {"status": 529}})).unwrap();
    srv.push_json(json!({"fault": {"status": 502, "body": "<html>Bad Gateway</html>"}}))
        .unwrap();
    srv.push_json(json!({"fault": {"status": 400, "body": {"custom": true}}}))
        .unwrap();

    let resp = openai(&srv, chat(false)).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");

    let resp = anthropic(&srv, claude(true)).send().await.unwrap();
    assert_eq!(resp.status(), 529);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert!(body["request_id"].as_str().unwrap().starts_with("req_"));

    let resp = anthropic(&srv, claude(false)).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["content-type"], "text/html");
    assert_eq!(resp.text().await.unwrap(), "<html>Bad Gateway</html>");

    let resp = openai(&srv, chat(false)).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"custom": true}));
}

#[tokio::test]
async fn reset_drops_the_connection_and_the_server_goes_on() {
    let srv = MockServer::start().unwrap();
    srv.push(Reply::fault(Fault::Reset));
    let err = openai(&srv, chat(false)).send().await.unwrap_err();
    assert!(!err.is_status(), "{err:?}");
    let resp = openai(&srv, chat(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(srv.requests().len(), 2);
    assert_eq!(
        srv.disconnects(),
        0,
        "a scripted reset is not a client disconnect"
    );
}

#[tokio::test]
async fn truncated_stream_stops_after_n_events() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "one two three four five six", "fault": {"truncate_after": 3}}))
        .unwrap();
    let resp = openai(&srv, chat(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut got = Vec::new();
    let mut failed = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(b) => got.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body ends with an error, not cleanly");
    let text = String::from_utf8(got).unwrap();
    assert_eq!(sse(&text).len(), 3);
    assert!(!text.contains("[DONE]"));

    srv.push_json(json!({"text": "a complete answer", "fault": {"truncate_after": 10}}))
        .unwrap();
    let resp = anthropic(&srv, claude(false)).send().await.unwrap();
    assert!(
        resp.bytes().await.is_err(),
        "a non-stream body is cut short of its Content-Length"
    );
}

#[tokio::test]
async fn malformed_json_bodies() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"fault": "malformed_json", "times": 2}))
        .unwrap();
    let resp = openai(&srv, chat(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with('{'));
    assert!(serde_json::from_str::<Value>(&text).is_err());

    let text = anthropic(&srv, claude(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let bad = sse(&text)
        .into_iter()
        .filter(|(_, d)| serde_json::from_str::<Value>(d).is_err())
        .count();
    assert_eq!(bad, 1);
}

#[tokio::test]
async fn slow_body_latency_and_chunk_delay() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "slow", "fault": {"slow_body": 0.5}}))
        .unwrap();
    let t0 = Instant::now();
    let resp = openai(&srv, chat(false)).send().await.unwrap();
    let headers_at = t0.elapsed();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "slow");
    assert!(headers_at < Duration::from_millis(300), "{headers_at:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t0.elapsed()
    );

    srv.push_json(json!({"latency": 0.3})).unwrap();
    let t0 = Instant::now();
    let body: Value = anthropic(&srv, claude(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        body["content"][0]["text"], "mock reply to: Hi there",
        "latency-only replies echo"
    );

    srv.push_json(json!({"latency": {"uniform": [0.05, 0.1]}, "chunks": ["a", "b", "c", "d"], "chunk_delay": 0.1}))
        .unwrap();
    let t0 = Instant::now();
    let resp = openai(&srv, chat(true)).send().await.unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(50));
    let text = resp.text().await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "8 events, 7 gaps: {:?}",
        t0.elapsed()
    );
    assert_eq!(datas(&text).len(), 6);
}

#[tokio::test]
async fn requests_are_recorded() {
    let srv = MockServer::start().unwrap();
    openai(&srv, chat(false))
        .header("X-Custom", "Yes")
        .send()
        .await
        .unwrap();
    http()
        .post(format!("{}/v1/messages?beta=true", srv.url()))
        .header("x-api-key", "k")
        .body("not json")
        .send()
        .await
        .unwrap();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].header("x-custom"), Some("Yes"));
    assert_eq!(reqs[0].header("Authorization"), Some("Bearer sk-test"));
    assert!(reqs[0].headers.iter().all(|(k, _)| *k == k.to_lowercase()));
    assert_eq!(reqs[0].body, chat(false));
    assert_eq!(reqs[1].query.as_deref(), Some("beta=true"));
    assert_eq!(reqs[1].body, json!("not json"));
    srv.clear();
    assert!(srv.requests().is_empty());
}

#[tokio::test]
async fn client_dropping_mid_latency_is_a_disconnect() {
    let srv = MockServer::start().unwrap();
    openai(&srv, chat(false))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    openai(&srv, chat(true))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(srv.disconnects(), 0, "completed responses do not count");

    srv.push_json(json!({"latency": 5})).unwrap();
    let err = openai(&srv, chat(false))
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    wait_for_disconnects(&srv, 1).await;
}

#[tokio::test]
async fn client_dropping_mid_stream_is_a_disconnect() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"chunks": ["a", "b", "c", "d", "e", "f"], "chunk_delay": 3}))
        .unwrap();
    let resp = anthropic(&srv, claude(true)).send().await.unwrap();
    let mut stream = resp.bytes_stream();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    wait_for_disconnects(&srv, 1).await;
}

#[tokio::test]
async fn bad_scripts_and_unknown_paths() {
    let srv = MockServer::start().unwrap();
    let err = srv
        .push_json(json!({"text": "x", "fault": {"status": 429, "retry_afer": 1}}))
        .unwrap_err();
    assert_eq!(err.kind, llmrail::ErrorKind::Configuration);
    assert!(err.message.contains("retry_afer"), "{}", err.message);
    assert_eq!(srv.pending(), 0);
    let resp = http()
        .post(format!("{}/v1/embeddings", srv.url()))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = http()
        .get(format!("{}/v1/chat/completions", srv.url()))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

/// Starting, serving and shutting down from a thread with no tokio runtime (as Python does).
#[test]
fn works_without_a_runtime_and_shuts_down() {
    let srv = MockServer::start().unwrap();
    srv.push(Reply::text("plain thread"));
    let body = serde_json::to_string(&chat(false)).unwrap();
    let mut sock = std::net::TcpStream::connect(srv.addr()).unwrap();
    write!(
        sock,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    sock.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("plain thread"));

    let addr = srv.addr();
    let idle = std::net::TcpStream::connect(addr).unwrap();
    srv.shutdown();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is released"
    );
    let mut idle = idle;
    idle.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(
        idle.read(&mut buf).unwrap_or(0),
        0,
        "open connections are closed"
    );
    drop(srv);
}
