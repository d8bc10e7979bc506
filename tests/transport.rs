//! What a hostile or broken server can do to a call, over real sockets: redirect it to another
//! host, inflate a gzip body, never end a line, answer a stream with something else. And what
//! the pooled connections promise: they outlive the executor that opened them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llmrail::model::{ChatRequest, Message};
use llmrail::resilience::retry::RetryPolicy;
use llmrail::resilience::CallOptions;
use llmrail::{Client, ClientConfig, ErrorKind, LlmError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "sk-secret-key-123";

/// What a test server answers to one request.
enum Answer {
    Bytes(Vec<u8>),
    /// Response head, then `chunk` again and again until the client goes away.
    Endless {
        head: Vec<u8>,
        chunk: Vec<u8>,
    },
}

/// A one-purpose HTTP/1.1 server: records each request's head and answers it with `answer`.
struct RawServer {
    addr: std::net::SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl RawServer {
    async fn start(answer: impl Fn(&str, u16) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (seen, answer) = (seen.clone(), answer.clone());
                tokio::spawn(async move { serve(sock, addr.port(), &*answer, &seen).await });
            }
        });
        Self { addr, heads }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

async fn serve(
    mut sock: TcpStream,
    port: u16,
    answer: &(dyn Fn(&str, u16) -> Answer + Send + Sync),
    seen: &Mutex<Vec<String>>,
) {
    loop {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        seen.lock().unwrap().push(head.clone());
        match answer(&head, port) {
            Answer::Bytes(b) => {
                if sock.write_all(&b).await.is_err() {
                    return;
                }
            }
            Answer::Endless { head, chunk } => {
                if sock.write_all(&head).await.is_err() {
                    return;
                }
                while sock.write_all(&chunk).await.is_ok() {}
                return;
            }
        }
    }
}

fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn ok_json(provider: &str) -> Vec<u8> {
    let body = if provider == "openai" {
        r#"{"id":"c1","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#
    } else {
        r#"{"id":"msg1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#
    };
    response(
        "200 OK",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

fn client(provider: &str, base: String, extra: ClientConfig) -> Client {
    let model = if provider == "openai" {
        "openai/gpt-4.1"
    } else {
        "anthropic/claude-x"
    };
    Client::new(ClientConfig {
        model: model.into(),
        api_key: Some(KEY.into()),
        base_url: Some(base),
        retry: Some(RetryPolicy {
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        }),
        ..extra
    })
    .unwrap()
}

fn ask() -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user("hi")],
        max_tokens: Some(10),
        ..ChatRequest::default()
    }
}

async fn chat_error(c: &Client) -> LlmError {
    c.chat_with(ask(), CallOptions::default())
        .await
        .unwrap_err()
}

async fn stream_error(c: &Client) -> LlmError {
    let mut s = c.stream(ask()).unwrap();
    loop {
        match s.next().await {
            Some(Err(e)) => return e,
            Some(Ok(_)) => {}
            None => panic!("the stream ended without an error"),
        }
    }
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_and_that_host_sees_no_key() {
    for provider in ["openai", "anthropic"] {
        let foreign = RawServer::start(move |_, _| Answer::Bytes(ok_json(provider))).await;
        let target = format!("{}/stolen?token=abc", foreign.url());
        let origin = RawServer::start(move |_, _| {
            Answer::Bytes(response(
                "307 Temporary Redirect",
                &[("location", &target)],
                b"",
            ))
        })
        .await;
        let c = client(
            provider,
            origin.url(),
            ClientConfig {
                headers: vec![("x-goog-api-key".into(), "g-secret".into())],
                ..ClientConfig::default()
            },
        );
        for e in [chat_error(&c).await, stream_error(&c).await] {
            assert_eq!(e.kind, ErrorKind::InvalidResponse, "{provider}: {e}");
            assert_eq!(e.status, Some(307));
            assert_eq!(e.attempts, 1, "a redirect is not retried");
            let text = e.to_string();
            assert!(
                text.contains(&format!("{}/stolen", foreign.url())),
                "{text}"
            );
            assert!(
                text.contains(&origin.url()) && text.contains("base_url"),
                "{text}"
            );
            assert!(!text.contains("token=abc") && !text.contains(KEY), "{text}");
        }
        assert!(
            foreign.heads().is_empty(),
            "{provider}: {:?}",
            foreign.heads()
        );
        let sent = origin.heads();
        assert_eq!(sent.len(), 2);
        assert!(sent
            .iter()
            .all(|h| h.contains(KEY) && h.contains("g-secret")));
    }
}

#[tokio::test]
async fn a_redirect_on_the_same_server_is_followed() {
    for provider in ["openai", "anthropic"] {
        let srv = RawServer::start(move |head, port| {
            if head.contains("/moved/") {
                Answer::Bytes(ok_json(provider))
            } else {
                let to = format!("http://127.0.0.1:{port}/moved/here");
                Answer::Bytes(response(
                    "308 Permanent Redirect",
                    &[("location", &to)],
                    b"",
                ))
            }
        })
        .await;
        let c = client(provider, srv.url(), ClientConfig::default());
        let r = c.chat(ask()).await.unwrap();
        assert_eq!(r.text(), "hi");
        let heads = srv.heads();
        assert!(heads[1].starts_with("post /moved/here") && heads[1].contains(KEY));
    }
}

/// The process's peak resident memory so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_max_response_bytes_without_being_inflated() {
    const INFLATED: usize = 256 << 20;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..INFLATED >> 20 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = Arc::new(gz.finish().unwrap());
    drop(zeros);
    assert!(bomb.len() < 2 << 20);
    let srv = RawServer::start(move |_, _| {
        let headers = [
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ];
        Answer::Bytes(response("200 OK", &headers, &bomb))
    })
    .await;
    let c = client(
        "openai",
        srv.url(),
        ClientConfig {
            max_response_bytes: Some(1 << 20),
            ..ClientConfig::default()
        },
    );
    let before = peak_rss();
    let e = chat_error(&c).await;
    let grew = peak_rss() - before;
    assert_eq!(e.kind, ErrorKind::InvalidResponse, "{e}");
    assert!(
        e.message.contains("max_response_bytes (1048576 bytes"),
        "{e}"
    );
    assert_eq!(e.attempts, 1);
    assert!(grew < 64 << 20, "peak memory grew by {} MiB", grew >> 20);
}

#[tokio::test]
async fn a_stream_line_that_never_ends_stops_at_max_event_bytes() {
    let srv = RawServer::start(|_, _| Answer::Endless {
        head: b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: ".to_vec(),
        chunk: vec![b'x'; 64 << 10],
    })
    .await;
    let c = client(
        "anthropic",
        srv.url(),
        ClientConfig {
            max_event_bytes: Some(1 << 20),
            ..ClientConfig::default()
        },
    );
    let e = stream_error(&c).await;
    assert_eq!(e.kind, ErrorKind::InvalidResponse, "{e}");
    assert!(e.message.contains("max_event_bytes (1048576 bytes)"), "{e}");
    assert_eq!(srv.heads().len(), 1, "not retried");
}

#[tokio::test]
async fn a_stream_answered_with_json_or_html_says_what_came_back_and_is_not_retried() {
    for (provider, content_type, body) in [
        (
            "openai",
            "application/json",
            r#"{"note":"streaming is off here"}"#,
        ),
        (
            "anthropic",
            "text/html; charset=utf-8",
            "<html>Sign in to the proxy</html>",
        ),
    ] {
        let srv = RawServer::start(move |_, _| {
            Answer::Bytes(response(
                "200 OK",
                &[("content-type", content_type)],
                body.as_bytes(),
            ))
        })
        .await;
        let c = client(provider, srv.url(), ClientConfig::default());
        let e = stream_error(&c).await;
        assert_eq!(e.kind, ErrorKind::InvalidResponse, "{provider}: {e}");
        assert!(e.message.contains(content_type), "{e}");
        assert_eq!(e.body.as_deref(), Some(body));
        assert_eq!(srv.heads().len(), 1, "not retried");
    }
}

#[tokio::test]
async fn a_redirect_loop_on_the_same_server_ends_without_retrying() {
    let srv = RawServer::start(|_, port| {
        let to = format!("http://127.0.0.1:{port}/again");
        Answer::Bytes(response(
            "307 Temporary Redirect",
            &[("location", &to)],
            b"",
        ))
    })
    .await;
    let c = client("openai", srv.url(), ClientConfig::default());
    let e = chat_error(&c).await;
    assert_eq!(e.kind, ErrorKind::InvalidResponse, "{e}");
    assert!(e.message.contains("more than 10 redirects"), "{e}");
    assert_eq!(e.attempts, 1);
    assert_eq!(srv.heads().len(), 11);
}

/// An executor with no timer and no I/O driver of its own, as asyncio is to tokio: work polled
/// there opens sockets and timers on the shared runtime, or not at all.
fn bare<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(fut)
}

/// The pool is process-wide, so a connection opened under one caller's executor must still
/// work after that executor is gone (asyncio.run twice in a row does exactly this).
#[test]
fn a_pooled_connection_outlives_the_executor_that_opened_it() {
    let srv = llmrail::mock::MockServer::start().unwrap();
    let client = Client::new(ClientConfig {
        model: "openai/gpt-4.1-mini".into(),
        api_key: Some("sk-test".into()),
        base_url: Some(format!("{}/v1", srv.url())),
        ..ClientConfig::default()
    })
    .unwrap();
    let ask = || ChatRequest {
        messages: vec![Message::user("hi")],
        ..ChatRequest::default()
    };
    for _ in 0..3 {
        bare(client.chat(ask())).unwrap();
        // hyper hands a finished connection back to the pool on its own task; a call that
        // starts before then opens a second connection (as with any hyper client).
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(srv.connections(), 1);
    assert_eq!(srv.requests().len(), 3);
}
