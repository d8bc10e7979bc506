#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::error::ErrorKind;
use crate::replay::cassette::{Chunk, Request, Response};
use http::Method;

const URL: &str = "https://api.openai.com/v1/chat/completions";

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmrail-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn interaction(prompt: &str, status: u16, answer: &str) -> Interaction {
    Interaction {
        request: Request {
            method: "POST".into(),
            uri: URL.into(),
            headers: vec![("authorization".into(), "REDACTED".into())],
            body: Bytes::from(format!(
                r#"{{"messages":[{{"role":"user","content":"{prompt}"}}]}}"#
            )),
        },
        response: Response {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("content-length".into(), "999".into()),
                ("retry-after".into(), "2".into()),
            ],
            body: Bytes::from(format!(r#"{{"answer":"{answer}"}}"#)),
            latency: Some(Duration::from_millis(40)),
            chunks: None,
        },
    }
}

fn write(path: &Path, list: &[Interaction]) {
    cassette::write_atomic(path, &cassette::to_yaml(list).unwrap()).unwrap();
}

fn request(prompt: &str) -> HttpRequest {
    let mut headers = HeaderMap::new();
    let mut auth = HeaderValue::from_static("Bearer sk-live-abcdef123456");
    auth.set_sensitive(true);
    headers.insert("authorization", auth);
    HttpRequest {
        method: Method::POST,
        url: URL.into(),
        headers,
        // Key order and spacing differ from the recording on purpose.
        body: Bytes::from(format!(
            r#"{{ "messages": [ {{"content": "{prompt}", "role": "user"}} ] }}"#
        )),
        stream: false,
        timeout: Duration::from_secs(5),
        settings: Default::default(),
    }
}

fn open(path: &Path, mode: Mode) -> Session {
    let opts = Options {
        mode: Some(mode),
        ..Options::default()
    };
    Session::open(path, opts).unwrap()
}

fn replayed(s: &Session, prompt: &str) -> Result<(u16, String)> {
    let req = request(prompt);
    let secrets = s.options().scrubber.secrets(&req.headers);
    match s.decide(&req, &secrets)? {
        Decision::Replay(resp, _) => {
            assert!(resp.headers.get("content-length").is_none());
            match resp.body {
                // Compact JSON, whatever the layout in the file.
                Body::Full(b) => {
                    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                    Ok((resp.status, v.to_string()))
                }
                Body::Stream(_) => panic!("a buffered request gets a buffered body"),
            }
        }
        Decision::Record => Ok((0, "record".into())),
    }
}

#[test]
fn identical_requests_replay_in_recorded_order() {
    let path = tmp("order.yaml");
    write(
        &path,
        &[
            interaction("hi", 429, "slow down"),
            interaction("hi", 200, "hello"),
        ],
    );
    let s = open(&path, Mode::None);
    assert_eq!(
        replayed(&s, "hi").unwrap(),
        (429, r#"{"answer":"slow down"}"#.into())
    );
    assert_eq!(
        replayed(&s, "hi").unwrap(),
        (200, r#"{"answer":"hello"}"#.into())
    );
    assert_eq!(s.played(), 2);
    let e = replayed(&s, "hi").unwrap_err();
    assert_eq!(e.kind, ErrorKind::CassetteMiss);
    assert!(e.message.contains("already played"), "{}", e.message);
}

#[test]
fn repeats_replay_the_last_match_when_allowed() {
    let path = tmp("repeat.yaml");
    write(
        &path,
        &[interaction("hi", 429, "a"), interaction("hi", 200, "b")],
    );
    let opts = Options {
        mode: Some(Mode::None),
        allow_playback_repeats: true,
        ..Options::default()
    };
    let s = Session::open(&path, opts).unwrap();
    let answers: Vec<u16> = (0..4).map(|_| replayed(&s, "hi").unwrap().0).collect();
    assert_eq!(answers, vec![429, 200, 200, 200]);
}

#[test]
fn a_miss_names_the_request_the_closest_recording_and_the_difference() {
    let path = tmp("miss.yaml");
    write(
        &path,
        &[
            interaction("What is 2+2?", 200, "4"),
            interaction("Name a river", 200, "Nile"),
        ],
    );
    let e = replayed(&open(&path, Mode::None), "What is 3+3?").unwrap_err();
    assert_eq!(e.kind, ErrorKind::CassetteMiss);
    let m = &e.message;
    assert!(m.contains(&format!("POST {URL}")), "{m}");
    assert!(m.contains("miss.yaml"), "{m}");
    assert!(m.contains("#0"), "{m}");
    assert!(
        m.contains(r#"body.messages[0].content: recorded "What is 2+2?", sent "What is 3+3?""#),
        "{m}"
    );
    assert!(!m.contains("abcdef123456"), "{m}");
    let e = replayed(&open(&tmp("absent.yaml"), Mode::None), "hi").unwrap_err();
    assert!(e.message.contains("does not exist"), "{}", e.message);
}

#[test]
fn modes_decide_when_to_record() {
    let path = tmp("modes.yaml");
    // once: no file yet, so everything is recorded.
    assert_eq!(
        replayed(&open(&path, Mode::Once), "hi").unwrap().1,
        "record"
    );
    write(&path, &[interaction("hi", 200, "hello")]);
    // once with a file: replay, and a new request is a miss.
    let s = open(&path, Mode::Once);
    assert_eq!(replayed(&s, "hi").unwrap().0, 200);
    assert!(replayed(&s, "new").is_err());
    // new_episodes: replay what matches, record the rest.
    let s = open(&path, Mode::NewEpisodes);
    assert_eq!(replayed(&s, "hi").unwrap().0, 200);
    assert_eq!(replayed(&s, "new").unwrap().1, "record");
    // all: always the network.
    assert_eq!(replayed(&open(&path, Mode::All), "hi").unwrap().1, "record");
    assert_eq!(Mode::default_for(Some("true")), Mode::None);
    assert_eq!(Mode::default_for(None), Mode::Once);
    assert!(Mode::parse("sometimes").is_err());
}

#[test]
fn saving_appends_new_episodes_and_all_replaces_what_it_matches() {
    let path = tmp("save.yaml");
    write(
        &path,
        &[
            interaction("a", 200, "old a"),
            interaction("b", 200, "old b"),
        ],
    );
    let s = open(&path, Mode::NewEpisodes);
    assert!(!s.save().unwrap(), "nothing recorded, nothing written");
    let s = open(&path, Mode::NewEpisodes);
    s.record(interaction("c", 200, "new c"));
    assert!(s.save().unwrap());
    s.record(interaction("d", 200, "too late"));
    assert_eq!(open(&path, Mode::None).len(), 3);
    let s = open(&path, Mode::All);
    s.record(interaction("a", 200, "new a"));
    s.save().unwrap();
    let s = open(&path, Mode::None);
    assert_eq!(s.len(), 3);
    assert_eq!(replayed(&s, "a").unwrap().1, r#"{"answer":"new a"}"#);
    assert_eq!(replayed(&s, "b").unwrap().1, r#"{"answer":"old b"}"#);
}

#[tokio::test]
async fn streams_replay_the_recorded_chunks_at_the_recorded_pace() {
    let path = tmp("stream.yaml");
    let mut i = interaction("hi", 200, "");
    i.response.body = Bytes::from_static(b"data: 1\n\ndata: 2\n\n");
    i.response.latency = Some(Duration::from_millis(30));
    i.response.chunks = Some(vec![
        Chunk {
            len: 9,
            at: Duration::from_millis(60),
        },
        Chunk {
            len: 9,
            at: Duration::from_millis(120),
        },
    ]);
    write(&path, &[i.clone(), i]);
    for pace in [0.0, 1.0] {
        let opts = Options {
            mode: Some(Mode::None),
            pace,
            ..Options::default()
        };
        let s = Session::open(&path, opts).unwrap();
        let mut req = request("hi");
        req.stream = true;
        let started = tokio::time::Instant::now();
        let Decision::Replay(resp, wait) = s.decide(&req, &[]).unwrap() else {
            panic!("expected a replay")
        };
        assert_eq!(wait.is_some(), pace > 0.0);
        let Body::Stream(mut body) = resp.body else {
            panic!("a streamed request gets a stream")
        };
        let mut chunks = Vec::new();
        while let Some(c) = body.next().await {
            chunks.push((c.unwrap(), started.elapsed()));
        }
        assert_eq!(chunks.len(), 2);
        assert_eq!(&chunks[0].0[..], b"data: 1\n\n");
        if pace > 0.0 {
            assert!(
                chunks[0].1 >= Duration::from_millis(60),
                "{:?}",
                chunks[0].1
            );
            assert!(
                chunks[1].1 >= Duration::from_millis(120),
                "{:?}",
                chunks[1].1
            );
        } else {
            assert!(chunks[1].1 < Duration::from_millis(50));
        }
    }
}

#[tokio::test]
async fn a_huge_pace_waits_long_instead_of_panicking() {
    let path = tmp("huge-pace.yaml");
    let mut i = interaction("hi", 200, "");
    i.response.body = Bytes::from_static(b"data: 1\n\n");
    i.response.latency = Some(Duration::from_secs(86_400));
    i.response.chunks = Some(vec![Chunk {
        len: 9,
        at: Duration::from_secs(86_400),
    }]);
    write(&path, &[i]);
    let opts = Options {
        mode: Some(Mode::None),
        pace: 1e300,
        ..Options::default()
    };
    let s = Session::open(&path, opts).unwrap();
    let mut req = request("hi");
    req.stream = true;
    let Decision::Replay(resp, wait) = s.decide(&req, &[]).unwrap() else {
        panic!("expected a replay")
    };
    assert_eq!(wait, Some(crate::duration::LONGEST));
    let Body::Stream(mut body) = resp.body else {
        panic!("a streamed request gets a stream")
    };
    let next = tokio::time::timeout(Duration::from_millis(50), body.next()).await;
    assert!(next.is_err(), "the chunk waits (practically) forever");
}

#[test]
fn two_sessions_saving_one_cassette_both_keep_what_they_recorded() {
    for mode in [Mode::Once, Mode::NewEpisodes, Mode::All] {
        let path = tmp(&format!("shared-{}.yaml", mode.as_str()));
        if mode != Mode::Once {
            write(&path, &[interaction("old", 200, "old")]);
        }
        // Both load before either saves, as two processes started together do.
        let (first, second) = (open(&path, mode), open(&path, mode));
        first.record(interaction("one", 200, "1"));
        second.record(interaction("two", 200, "2"));
        assert!(first.save().unwrap() && second.save().unwrap());
        let s = open(&path, Mode::None);
        let expected = if mode == Mode::Once { 2 } else { 3 };
        assert_eq!(s.len(), expected, "{mode:?}");
        for prompt in ["one", "two"] {
            assert!(replayed(&s, prompt).is_ok(), "{mode:?} lost {prompt}");
        }
    }
}

#[test]
fn a_save_waits_for_the_lock_another_holder_has() {
    let path = tmp("locked.yaml");
    let s = open(&path, Mode::NewEpisodes);
    s.record(interaction("one", 200, "1"));
    let held = lock::exclusive(&path).unwrap();
    std::thread::scope(|scope| {
        let saving = scope.spawn(|| s.save().unwrap());
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !saving.is_finished() && !path.exists(),
            "saved while locked"
        );
        drop(held);
        assert!(saving.join().unwrap());
    });
    assert_eq!(open(&path, Mode::None).len(), 1);
}

#[test]
fn a_miss_does_not_show_userinfo_an_old_cassette_still_holds() {
    let path = tmp("old-userinfo.yaml");
    let mut old = interaction("a", 200, "x");
    old.request.uri = "https://bob:PW-SECRET-99@api.openai.com/v1/chat/completions".into();
    // Written as an older llmrail did: straight to the file, userinfo and all.
    let text = cassette::to_yaml(&[old]).unwrap();
    let text = text.replace("https://REDACTED@", "https://bob:PW-SECRET-99@");
    std::fs::write(&path, text).unwrap();
    let s = open(&path, Mode::None);
    let Err(e) = replayed(&s, "b") else {
        panic!("a different prompt must miss")
    };
    assert!(e.message.contains("Closest recorded request #0"), "{e}");
    assert!(!e.message.contains("PW-SECRET"), "{e}");
}

#[test]
fn extra_cassettes_answer_too_but_only_the_cassettes_own_file_is_written() {
    let (own, extra, missing) = (tmp("own.yaml"), tmp("extra.yaml"), tmp("absent.yaml"));
    write(&extra, &[interaction("from the extra", 200, "b")]);
    let opts = Options {
        mode: Some(Mode::Once),
        extra_cassettes: vec![extra.clone(), missing.clone()],
        ..Options::default()
    };
    let s = Session::open(&own, opts).unwrap();
    assert_eq!(
        replayed(&s, "from the extra").unwrap(),
        (200, r#"{"answer":"b"}"#.into())
    );
    // Its own file does not exist yet, so mode once may still record what no cassette answers.
    assert_eq!(replayed(&s, "new").unwrap(), (0, "record".into()));
    s.record(interaction("new", 200, "c"));
    assert!(s.save().unwrap());
    let written = cassette::load(&own).unwrap().unwrap();
    assert_eq!(written.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&written[0].response.body).unwrap();
    assert_eq!(body, serde_json::json!({"answer": "c"}));
    assert_eq!(cassette::load(&extra).unwrap().unwrap().len(), 1);
    assert!(!missing.exists());
}
