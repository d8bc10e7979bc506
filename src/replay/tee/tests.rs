#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::stream;
use http::Method;

use super::*;
use crate::replay::cassette;
use crate::replay::{Mode, Options};

const DONE: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"Paris\"}}]}\n\ndata: [DONE]\n\n";

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmrail-tee-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn session(path: &Path) -> Arc<Session> {
    let opts = Options {
        mode: Some(Mode::Once),
        ..Options::default()
    };
    Arc::new(Session::open(path, opts).unwrap())
}

fn request() -> HttpRequest {
    HttpRequest {
        method: Method::POST,
        url: "https://api.openai.com/v1/chat/completions".into(),
        headers: HeaderMap::new(),
        body: Bytes::from_static(br#"{"stream":true}"#),
        stream: true,
        timeout: Duration::from_secs(5),
        settings: Default::default(),
    }
}

/// Set once the stream (the connection, in real life) is dropped.
struct Closed(Arc<AtomicBool>);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A body whose `head` is there at once, then `after` a wait `tail` (an event, or nothing:
/// only the end of the body), then the end; `closed` says when it was dropped.
fn body(head: &'static str, after: Duration, tail: &'static str) -> (ByteStream, Arc<AtomicBool>) {
    let closed = Arc::new(AtomicBool::new(false));
    let guard = Closed(closed.clone());
    let late = stream::once(async move {
        tokio::time::sleep(after).await;
        tail
    })
    .filter(|t| std::future::ready(!t.is_empty()));
    let chunks = stream::iter([head]).chain(late).map(move |text| {
        let _held = &guard;
        Ok(Bytes::from_static(text.as_bytes()))
    });
    (Box::pin(chunks), closed)
}

/// The stream of a recorded response, read up to its `head`, then dropped.
fn read_head_then_drop(s: &Arc<Session>, body: ByteStream) {
    let resp = HttpResponse {
        status: 200,
        headers: HeaderMap::new(),
        body: Body::Stream(body),
    };
    let Body::Stream(mut tee) = Recorder::new(&request(), Some(s.clone()), None)
        .watch(resp)
        .body
    else {
        panic!("a stream stays a stream");
    };
    let first = crate::runtime::block_on(tee.next()).unwrap();
    assert!(first.unwrap().unwrap().starts_with(b"data: "));
    drop(tee);
}

fn saved_body(s: &Session, path: &Path) -> String {
    assert!(s.save().unwrap());
    let recorded = cassette::load(path).unwrap().unwrap();
    assert_eq!(recorded.len(), 1);
    String::from_utf8(recorded[0].response.body.to_vec()).unwrap()
}

#[test]
fn a_stream_let_go_of_at_its_last_event_is_recorded_once_its_end_arrives() {
    let path = tmp("done-then-end.yaml");
    let s = session(&path);
    let (stream, closed) = body(DONE, Duration::from_millis(300), "");
    let started = Instant::now();
    read_head_then_drop(&s, stream);
    assert_eq!(s.recorded(), 1, "the count waits for the end");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(closed.load(Ordering::SeqCst));
    assert_eq!(saved_body(&s, &path), DONE);
}

#[test]
fn saving_the_cassette_waits_for_a_stream_being_read_for_its_end() {
    let path = tmp("saved-while-draining.yaml");
    let s = session(&path);
    let (stream, _) = body(DONE, Duration::from_millis(300), "");
    read_head_then_drop(&s, stream);
    assert_eq!(saved_body(&s, &path), DONE);
}

#[test]
fn a_compressed_streams_short_trailer_after_the_drop_is_still_its_end() {
    let path = tmp("trailer.yaml");
    let s = session(&path);
    let (stream, _) = body(DONE, Duration::from_millis(100), "\n");
    read_head_then_drop(&s, stream);
    assert_eq!(s.recorded(), 1);
    assert_eq!(saved_body(&s, &path), format!("{DONE}\n"));
}

#[test]
fn a_stream_let_go_of_part_way_closes_at_its_next_event_and_is_not_recorded() {
    let path = tmp("part-way.yaml");
    let s = session(&path);
    // Then the end at once: without the limit on what may follow, this would be recorded.
    let next = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" is the capital of France, and this event is longer than any trailer\"}}]}\n\n";
    let (stream, closed) = body("data: {\"n\":1}\n\n", Duration::from_millis(100), next);
    let started = Instant::now();
    read_head_then_drop(&s, stream);
    while !closed.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not closed at the next event"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(s.recorded(), 0);
    assert!(!s.save().unwrap(), "nothing complete, nothing written");
}

#[test]
fn a_stream_let_go_of_while_the_server_is_silent_closes_after_the_limit_unrecorded() {
    let path = tmp("silent.yaml");
    let s = session(&path);
    let (stream, closed) = body("data: {\"n\":1}\n\n", Duration::from_secs(60), "");
    let started = Instant::now();
    read_head_then_drop(&s, stream);
    assert_eq!(s.recorded(), 0);
    let waited = started.elapsed();
    assert!(
        waited >= DRAIN_LIMIT && waited < DRAIN_LIMIT + Duration::from_secs(1),
        "{waited:?}"
    );
    assert!(closed.load(Ordering::SeqCst));
}

#[test]
fn a_stream_whose_end_has_already_arrived_is_recorded_as_it_is_dropped() {
    let path = tmp("already-ended.yaml");
    let s = session(&path);
    // The end is there as soon as the last event is (hyper's body once it read the last chunk).
    let ended = stream::iter([Ok(Bytes::from_static(DONE.as_bytes()))]);
    let resp = HttpResponse {
        status: 200,
        headers: HeaderMap::new(),
        body: Body::Stream(Box::pin(ended)),
    };
    let Body::Stream(mut tee) = Recorder::new(&request(), Some(s.clone()), None)
        .watch(resp)
        .body
    else {
        panic!("a stream stays a stream");
    };
    let runtime = crate::runtime::handle().unwrap();
    let _entered = runtime.enter();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(
        tee.as_mut().poll_next(&mut cx),
        Poll::Ready(Some(Ok(_)))
    ));
    drop(tee);
    assert_eq!(s.recorded(), 1);
    assert_eq!(saved_body(&s, &path), DONE);
}

#[test]
fn a_stream_that_fails_after_the_drop_is_not_recorded() {
    let path = tmp("failed.yaml");
    let s = session(&path);
    let failing =
        stream::iter([Ok(Bytes::from_static(DONE.as_bytes()))]).chain(stream::once(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(crate::error::LlmError::new(
                crate::error::ErrorKind::Connection,
                "connection reset",
            ))
        }));
    read_head_then_drop(&s, Box::pin(failing));
    assert_eq!(s.recorded(), 0);
}
