//! The mock server's reading of requests (routing, authentication, the JSON body, the prompt
//! cache it simulates), over real HTTP: whatever a client sends, it answers with a status.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::Duration;

use llmrail::mock::MockServer;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{TestCaseError, TestRunner};

use crate::harness::{bytes_near, holds, Input};
use crate::seeds;

fn server() -> &'static MockServer {
    static SERVER: OnceLock<MockServer> = OnceLock::new();
    SERVER.get_or_init(|| MockServer::start().expect("the mock server starts"))
}

const PATHS: &[&str] = &[
    "/v1/chat/completions",
    "/v1/messages",
    "/messages/",
    "/v1/models",
];
const AUTH: &[&str] = &[
    "authorization: Bearer sk-test\r\n",
    "x-api-key: sk-ant\r\n",
    "",
];

/// One POST with `body`, read to the end: the status it was answered with.
fn post(path: &str, auth: &str, body: &[u8]) -> Result<u16, TestCaseError> {
    let fail = |what: &str, e: std::io::Error| TestCaseError::fail(format!("{what}: {e}"));
    let mut s = TcpStream::connect(server().addr()).map_err(|e| fail("connect", e))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| fail("set a timeout", e))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{auth}\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(|e| fail("send", e))?;
    s.write_all(body).map_err(|e| fail("send", e))?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)
        .map_err(|e| fail("read the reply", e))?;
    let status = reply
        .strip_prefix(b"HTTP/1.1 ")
        .and_then(|r| std::str::from_utf8(r.get(..3)?).ok())
        .and_then(|code| code.parse().ok());
    status.ok_or_else(|| TestCaseError::fail(format!("no HTTP reply, got {:?}", Input(reply))))
}

fn answers_every_request(runner: &mut TestRunner) -> Result<(), String> {
    let requests = (select(PATHS), select(AUTH), bytes_near(seeds::requests()));
    holds(runner, requests, |(path, auth, body)| {
        let status = post(path, auth, &body.0);
        // Recorded requests would pile up over a long fuzz run.
        server().clear();
        prop_assert!((200..600).contains(&status?));
        Ok(())
    })
}

crate::properties! {
    /// Any body near a real request, on any route, with or without a key, gets an HTTP answer.
    fn mock_server_answers_any_request(48) = answers_every_request;
}
