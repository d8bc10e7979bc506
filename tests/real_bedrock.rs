//! Real recorded Bedrock traffic decoded through llmrail's Bedrock provider, checked against the
//! values read from the recordings: pydantic-ai's Converse and ConverseStream cassettes
//! (tests/data/real-cassettes; the stream is real event-stream frames, fed in pieces of every
//! size) and langchaingo's raw HTTP traces (tests/data/real-traces), whose answers are errors.
//!
//! Not Converse, so not decoded as Converse: langchaingo's traces call `InvokeModel` (each
//! model's native body), and pydantic-ai's `test_anthropic_cache_bedrock_real_api.yaml` calls
//! InvokeModel with an Anthropic Messages body. What of them is Bedrock's own is checked: the
//! error envelope (`X-Amzn-Errortype` + `message`, the same for every Bedrock operation), and
//! the catalogue pricing a Claude answer under its Bedrock inference-profile id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/cassette.rs"]
mod cassette;

use std::path::PathBuf;

use base64::Engine;
use bytes::Bytes;
use cassette::{load, Interaction};
use futures_util::{FutureExt, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue};
use llmrail::error::{ErrorKind, Result};
use llmrail::model::{FinishReason, StreamEvent, Usage};
use llmrail::providers::event_stream::{feed, EventStream};
use llmrail::providers::{self, Framing, Provider};
use serde_json::{json, Value};

const BEDROCK: &str = "pydantic-ai/tests/models/cassettes/test_bedrock/";

fn bedrock() -> &'static dyn Provider {
    providers::lookup("bedrock").expect("bedrock is known")
}

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Default::default()
    }
}

fn file(name: &str) -> Vec<Interaction> {
    load(&format!("{BEDROCK}{name}"))
}

#[test]
fn a_plain_converse_answer() {
    let [i] = &file("test_bedrock_model.yaml")[..] else {
        panic!("one interaction")
    };
    assert!(i
        .uri
        .ends_with("/model/us.amazon.nova-micro-v1%3A0/converse"));
    let r = bedrock().parse_chat(&i.body).unwrap();
    assert_eq!(
        r.text(),
        "Hello! How can I assist you today? Whether you have questions, need information, or \
         just want to chat, I'm here to help."
    );
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    assert_eq!(r.usage, usage(7, 30));
    assert_eq!(r.provider, "bedrock");
}

#[test]
fn a_tool_call_its_result_and_the_final_tool_call() {
    let answers: Vec<_> = file("test_bedrock_model_structured_output.yaml")
        .iter()
        .map(|i| {
            assert_eq!(i.status, 200);
            bedrock().parse_chat(&i.body).unwrap()
        })
        .collect();
    let [first, second, third] = &answers[..] else {
        panic!("three interactions")
    };
    let call = first.tool_calls()[0];
    assert_eq!(call.id, "tooluse_Mj06ft-ITJik1Otgpkc1uA");
    assert_eq!(call.name, "temperature");
    assert_eq!(
        Value::Object(call.arguments.clone().unwrap()),
        json!({"city": "London", "date": "2022-01-01"})
    );
    assert_eq!(first.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(first.usage, usage(571, 22));

    assert!(second
        .text()
        .ends_with("The temperature in London on 1st January 2022 was 30°C."));
    assert!(second.tool_calls().is_empty());
    assert_eq!(second.finish_reason, Some(FinishReason::Stop));
    assert_eq!(second.usage, usage(627, 67));

    let call = third.tool_calls()[0];
    assert_eq!(call.name, "final_result");
    assert_eq!(
        Value::Object(call.arguments.clone().unwrap()),
        json!({"city": "London", "date": "2022-01-01", "temperature": "30°C"})
    );
    assert_eq!(third.finish_reason, Some(FinishReason::ToolCalls));
}

/// The tool result botocore sent back is what llmrail sends for the same conversation.
#[test]
fn the_tool_result_turn_is_sent_as_botocore_sent_it() {
    let recorded = &file("test_bedrock_model_structured_output.yaml")[1];
    let sent: Value = serde_json::from_slice(&recorded.request_body).unwrap();
    let req = llmrail::model::ChatRequest {
        messages: serde_json::from_value(json!([
            {"role": "user", "content": "What was the temperature in London 1st January 2022?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "tooluse_Mj06ft-ITJik1Otgpkc1uA",
                "type": "function", "function": {"name": "temperature",
                "arguments": "{\"date\": \"2022-01-01\", \"city\": \"London\"}"}}]},
            {"role": "tool", "tool_call_id": "tooluse_Mj06ft-ITJik1Otgpkc1uA", "content": "30°C"},
        ]))
        .unwrap(),
        ..Default::default()
    };
    let ep = providers::Endpoint {
        base_url: "https://bedrock-runtime.us-east-1.amazonaws.com".into(),
        api_key: None,
        model: "us.amazon.nova-micro-v1:0".into(),
        headers: HeaderMap::new(),
        timeout: std::time::Duration::from_secs(30),
        aws: None,
    };
    let http = bedrock().build_chat(&ep, &req, false).unwrap();
    assert_eq!(http.url, recorded.uri);
    let ours: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(ours["messages"][0], sent["messages"][0]);
    assert_eq!(ours["messages"][1], sent["messages"][1]);
    // botocore adds `"status": "success"`; llmrail's tool messages carry no failure flag, so
    // it leaves the status out (success is the default).
    let mut want = sent["messages"][2].clone();
    want["content"][0]["toolResult"]
        .as_object_mut()
        .unwrap()
        .remove("status");
    assert_eq!(ours["messages"][2], want);
}

#[test]
fn an_unknown_model_is_a_bad_request_with_bedrocks_message() {
    let [i] = &file("test_bedrock_error.yaml")[..] else {
        panic!("one interaction")
    };
    let e = bedrock().parse_error(i.status, &i.headers, &i.body);
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert_eq!(e.status, Some(400));
    assert!(
        e.message
            .contains("The provided model identifier is invalid."),
        "{}",
        e.message
    );
}

/// The recorded ConverseStream body: `!!binary` base64 of the frames (the loader hands the text
/// over as it is, since the body is not gzip).
fn stream_body() -> Vec<u8> {
    let [i] = &file("test_bedrock_model_stream.yaml")[..] else {
        panic!("one interaction")
    };
    let content_type = i.headers.get("content-type").unwrap();
    assert_eq!(content_type, Framing::EventStream.content_type());
    let b64: String = std::str::from_utf8(&i.body)
        .unwrap()
        .split_whitespace()
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

fn decode(body: &[u8], size: usize) -> Result<Vec<StreamEvent>> {
    let pieces: Vec<Result<Bytes>> = body
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut frames = EventStream::new(futures_util::stream::iter(pieces), 1 << 20);
    let mut decoder = bedrock().stream_decoder();
    let mut out = Vec::new();
    loop {
        let next = frames.next().now_or_never().unwrap();
        if feed(&mut *decoder, next, &mut out)? {
            return Ok(out);
        }
    }
}

#[test]
fn the_recorded_stream_decodes_the_same_in_pieces_of_every_size() {
    let body = stream_body();
    let whole = decode(&body, body.len()).unwrap();
    let text: String = whole
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        text,
        "The capital of France is Paris. Paris is not only the capital city but also the most \
         populous city in France, and it is a major center for culture, commerce, fashion, and \
         international diplomacy. Known for its historical landmarks, such as the Eiffel Tower, \
         the Louvre Museum, and Notre-Dame Cathedral, Paris is often referred to as \"The City \
         of Light\" or \"The City of Love.\""
    );
    let Some(StreamEvent::Done {
        finish_reason,
        usage: u,
        ..
    }) = whole.last()
    else {
        panic!("ends with Done")
    };
    assert_eq!(*finish_reason, Some(FinishReason::Stop));
    assert_eq!(*u, usage(13, 82));
    for size in 1..body.len() {
        assert_eq!(
            decode(&body, size).unwrap(),
            whole,
            "pieces of {size} bytes"
        );
    }
    // Cut anywhere before its end, the stream is reported cut, never taken as whole.
    for end in (0..body.len()).step_by(97) {
        let e = decode(&body[..end], 64).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Connection, "cut at {end}");
    }
}

#[test]
fn a_recorded_nova_answer_costs_what_novas_prices_say() {
    let [i] = &file("test_bedrock_model.yaml")[..] else {
        panic!("one interaction")
    };
    let mut r = bedrock().parse_chat(&i.body).unwrap();
    // As the pipeline does: the answer names no model, the request's is filled in.
    r.model = "us.amazon.nova-micro-v1:0".into();
    let want = (7.0 * 0.035 + 30.0 * 0.14) / 1e6;
    assert!((r.cost_usd().unwrap() - want).abs() < 1e-15);
}

/// pydantic-ai's Claude-on-Bedrock cache test calls InvokeModel, whose body is an Anthropic
/// Messages answer: read by the Anthropic translation, its cache reads and writes are priced
/// under the Bedrock inference-profile id as Claude Haiku 4.5.
#[test]
fn a_claude_answer_on_bedrock_is_priced_under_its_inference_profile() {
    let recorded = load("pydantic-ai/tests/models/cassettes/test_anthropic/test_anthropic_cache_bedrock_real_api.yaml");
    assert_eq!(recorded.len(), 2);
    let anthropic = providers::lookup("anthropic").unwrap();
    for i in &recorded {
        let profile = i
            .uri
            .split("/model/")
            .nth(1)
            .and_then(|rest| rest.strip_suffix("/invoke"))
            .unwrap();
        assert_eq!(profile, "eu.anthropic.claude-haiku-4-5-20251001-v1:0");
        let r = anthropic.parse_chat(&i.body).unwrap();
        assert_eq!(r.usage.cache_read_tokens, 9511);
        let cost = llmrail::model::cost_usd(profile, &r.usage).unwrap();
        assert_eq!(
            Some(cost),
            llmrail::model::cost_usd("claude-haiku-4-5", &r.usage)
        );
    }
    let second = anthropic.parse_chat(&recorded[1].body).unwrap();
    assert_eq!(second.usage.cache_write_tokens, 1956);
    assert_eq!(second.usage.input_tokens, 3 + 9511 + 1956);
}

// ---- langchaingo: InvokeModel calls answered with Bedrock's error envelope -------------------------

/// One exchange of an httprr trace: the request line, the status, the headers, the body.
struct Exchange {
    request_line: String,
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn trace(name: &str) -> Vec<Exchange> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real-traces/langchaingo/llms/bedrock/testdata")
        .join(name);
    let data = std::fs::read(&path).unwrap();
    let mut rest = data
        .strip_prefix(b"httprr trace v1\n".as_slice())
        .expect("an httprr trace");
    let mut out = Vec::new();
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        let sizes = std::str::from_utf8(&rest[..nl]).unwrap();
        let (a, b) = sizes.split_once(' ').unwrap();
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        let req = &rest[nl + 1..nl + 1 + a];
        let resp = &rest[nl + 1 + a..nl + 1 + a + b];
        rest = &rest[nl + 1 + a + b..];
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&resp[..split]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let mut headers = HeaderMap::new();
        for line in lines {
            let (k, v) = line.split_once(": ").unwrap();
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let request_line = std::str::from_utf8(req).unwrap().lines().next().unwrap();
        out.push(Exchange {
            request_line: request_line.to_string(),
            status,
            headers,
            body: resp[split + 4..].to_vec(),
        });
    }
    out
}

#[test]
fn every_recorded_access_denied_is_a_permission_error_with_its_request_id() {
    let mut seen = 0;
    for name in [
        "TestAmazonNova.httprr",
        "TestAmazonOutput.httprr",
        "TestBedrockAnthropicToolCalling.httprr",
    ] {
        for x in trace(name) {
            // InvokeModel, not Converse: only the error envelope is shared.
            assert!(
                x.request_line.contains("/invoke HTTP/1.1"),
                "{}",
                x.request_line
            );
            assert_eq!(x.status, 403);
            let e = bedrock().parse_error(x.status, &x.headers, &x.body);
            assert_eq!(e.kind, ErrorKind::PermissionDenied, "{name}");
            assert_eq!(
                e.message,
                "AccessDeniedException: You don't have access to the model with the specified \
                 model ID."
            );
            let id = x.headers.get("x-amzn-requestid").unwrap().to_str().unwrap();
            assert_eq!(e.request_id.as_deref(), Some(id));
            seen += 1;
        }
    }
    assert_eq!(seen, 4);
}

// ---- through a Client, over real HTTP --------------------------------------------------------------

mod over_http {
    //! The recorded answers served over 127.0.0.1 by a minimal HTTP/1.1 server (the mock
    //! server's Bedrock wire is built apart from the translation), so a `Client` for
    //! `bedrock/...` runs its whole path: the URL, the bearer key, the content-type check, the
    //! event-stream framing of a streamed body written in small pieces, the model the answer
    //! does not name, cost, the request id, and a throttling error retried.
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use llmrail::model::{ChatRequest, FinishReason, Message, StreamEvent};
    use llmrail::resilience::retry::RetryPolicy;
    use llmrail::{Client, ClientConfig, ErrorKind};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const KEY: &str = "bedrock-api-key-0123456789";
    const MODEL: &str = "us.amazon.nova-micro-v1:0";

    struct Server {
        url: String,
        /// Each request's head, lower-cased.
        heads: Arc<Mutex<Vec<String>>>,
    }

    /// Answers by path: the recorded Converse body, the recorded ConverseStream frames (in
    /// 100-byte writes), or a ThrottlingException for the first `throttle` requests.
    async fn start(throttle: usize) -> Server {
        let converse = super::file("test_bedrock_model.yaml").remove(0).body;
        let frames = super::stream_body();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (converse, frames, seen) = (converse.clone(), frames.clone(), seen.clone());
                tokio::spawn(async move {
                    loop {
                        let mut buf = Vec::new();
                        let end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        while buf.len() < end + length {
                            let mut chunk = [0u8; 4096];
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let n = {
                            let mut s = seen.lock().unwrap();
                            s.push(head.clone());
                            s.len()
                        };
                        let (status, kind, extra, body) = if n <= throttle {
                            (
                                "429 Too Many Requests",
                                "application/json",
                                "x-amzn-errortype: ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/\r\nretry-after: 0\r\n",
                                br#"{"message":"Too many requests, please wait before trying again."}"#.to_vec(),
                            )
                        } else if head
                            .starts_with("post /model/us.amazon.nova-micro-v1%3a0/converse-stream ")
                        {
                            (
                                "200 OK",
                                "application/vnd.amazon.eventstream",
                                "",
                                frames.clone(),
                            )
                        } else {
                            ("200 OK", "application/json", "", converse.clone())
                        };
                        let response_head = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nx-amzn-requestid: req-{n}\r\n{extra}\r\n",
                            body.len()
                        );
                        if sock.write_all(response_head.as_bytes()).await.is_err() {
                            return;
                        }
                        for piece in body.chunks(100) {
                            if sock.write_all(piece).await.is_err() {
                                return;
                            }
                            let _ = sock.flush().await;
                        }
                    }
                });
            }
        });
        Server { url, heads }
    }

    fn client(srv: &Server, retry: RetryPolicy) -> Client {
        Client::new(ClientConfig {
            model: format!("bedrock/{MODEL}"),
            api_key: Some(KEY.into()),
            base_url: Some(srv.url.clone()),
            retry: Some(retry),
            ..Default::default()
        })
        .unwrap()
    }

    fn ask() -> ChatRequest {
        ChatRequest {
            messages: vec![Message::user("Hello!")],
            system: Some("You are a chatbot.".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_chat_goes_to_converse_with_the_bearer_key_and_is_priced() {
        let srv = start(0).await;
        let r = client(&srv, RetryPolicy::never())
            .chat(ask())
            .await
            .unwrap();
        assert!(r.text().starts_with("Hello! How can I assist you today?"));
        assert_eq!(r.provider, "bedrock");
        assert_eq!(r.model, MODEL);
        assert_eq!(r.request_id.as_deref(), Some("req-1"));
        assert!(r.cost_usd().unwrap() > 0.0);
        let head = &srv.heads.lock().unwrap()[0];
        assert!(
            head.starts_with("post /model/us.amazon.nova-micro-v1%3a0/converse http/1.1"),
            "{head}"
        );
        assert!(
            head.contains(&format!("authorization: bearer {KEY}")),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_stream_arrives_in_pieces_and_ends_with_usage_and_the_model() {
        let srv = start(0).await;
        let mut stream = client(&srv, RetryPolicy::never()).stream(ask()).unwrap();
        let (mut text, mut done) = (String::new(), None);
        while let Some(e) = stream.next().await {
            match e.unwrap() {
                StreamEvent::Text(t) => text.push_str(&t),
                d @ StreamEvent::Done { .. } => done = Some(d),
                _ => {}
            }
        }
        assert!(
            text.starts_with("The capital of France is Paris."),
            "{text}"
        );
        let Some(StreamEvent::Done {
            finish_reason,
            usage,
            model,
            ..
        }) = done
        else {
            panic!("no Done")
        };
        assert_eq!(finish_reason, Some(FinishReason::Stop));
        assert_eq!((usage.input_tokens, usage.output_tokens), (13, 82));
        assert_eq!(model, MODEL);
    }

    /// The issue's chain: bedrock → gemini → anthropic → openai, each failing but the last;
    /// every provider gets the same request in its own wire, and the answer names who gave it.
    #[tokio::test]
    async fn a_fallback_chain_across_four_providers_translates_the_request_for_each() {
        use llmrail::mock::{Fault, MockServer, Reply};
        use llmrail::resilience::fallback::FallbackConfig;

        let bedrock = start(usize::MAX).await;
        let mock = MockServer::start().unwrap();
        mock.push(Reply::fault(Fault::status(500)));
        mock.push(Reply::fault(Fault::status(500)));
        mock.push(Reply::text("Paris."));
        let fallback = |model: &str, base_url: String| FallbackConfig {
            model: model.into(),
            api_key: Some("key".into()),
            base_url: Some(base_url),
        };
        let c = Client::new(ClientConfig {
            model: format!("bedrock/{MODEL}"),
            api_key: Some(KEY.into()),
            base_url: Some(bedrock.url.clone()),
            retry: Some(RetryPolicy::never()),
            fallbacks: vec![
                fallback("gemini/gemini-2.5-flash", mock.url()),
                fallback("anthropic/claude-sonnet-4-5", mock.url()),
                fallback("openai/gpt-4.1-mini", format!("{}/v1", mock.url())),
            ],
            ..Default::default()
        })
        .unwrap();
        let r = c.chat(ask()).await.unwrap();
        assert_eq!(
            (r.text().as_str(), r.provider.as_str()),
            ("Paris.", "openai")
        );
        assert_eq!(bedrock.heads.lock().unwrap().len(), 1);
        let sent = mock.requests();
        let paths: Vec<&str> = sent.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/v1beta/models/gemini-2.5-flash:generateContent",
                "/v1/messages",
                "/v1/chat/completions"
            ]
        );
        assert_eq!(sent[0].body["contents"][0]["parts"][0]["text"], "Hello!");
        assert_eq!(sent[1].body["messages"][0]["content"], "Hello!");
        assert_eq!(sent[2].body["messages"][1]["content"], "Hello!");
    }

    #[tokio::test]
    async fn throttling_is_a_rate_limit_error_that_is_retried() {
        let srv = start(1).await;
        let retry = RetryPolicy {
            initial_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let r = client(&srv, retry).chat(ask()).await.unwrap();
        assert_eq!(r.request_id.as_deref(), Some("req-2"));
        let srv = start(usize::MAX).await;
        let e = client(&srv, RetryPolicy::never())
            .chat(ask())
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert_eq!(e.status, Some(429));
        assert_eq!(e.retry_after, Some(Duration::ZERO));
        assert!(e.message.contains("ThrottlingException"), "{}", e.message);
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
    }
}
