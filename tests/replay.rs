//! Record and replay through the real client and transport: record against the mock server over
//! HTTP, shut it down, replay offline. The active cassette is process-global, so the tests of
//! this binary take turns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use llmrail::mock::{MockServer, Reply};
use llmrail::model::{ChatRequest, Message, StreamEvent};
use llmrail::replay::{self, cassette, Mode, Options, Session};
use llmrail::{Client, ClientConfig, ErrorKind};
use tokio::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

const KEY: &str = "sk-live-never-in-a-cassette-0123456789";

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmrail-replay-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn client(base_url: &str) -> Client {
    Client::new(ClientConfig {
        model: "openai/gpt-4.1-mini".into(),
        api_key: Some(KEY.into()),
        base_url: Some(base_url.into()),
        ..Default::default()
    })
    .unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        max_tokens: Some(50),
        ..Default::default()
    }
}

/// Run `f` with the cassette at `path` active, then save it.
async fn with_cassette<T, F, Fut>(path: &Path, mode: Mode, f: F) -> (T, Arc<Session>)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let opts = Options {
        mode: Some(mode),
        ..Options::default()
    };
    let session = Arc::new(Session::open(path, opts).unwrap());
    replay::activate(session.clone());
    let out = f().await;
    replay::deactivate(&session);
    session.save().unwrap();
    (out, session)
}

async fn texts(c: &Client, prompt: &str) -> (Vec<String>, Vec<StreamEvent>) {
    let mut stream = c.stream(ask(prompt)).unwrap();
    let mut events = Vec::new();
    while let Some(e) = stream.next().await {
        events.push(e.unwrap());
    }
    let texts = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    (texts, events)
}

#[tokio::test]
async fn recorded_calls_replay_offline() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let path = tmp("offline.yaml");
    let srv = MockServer::start().unwrap();
    let base = format!("{}/v1", srv.url());
    srv.push(Reply::text("Paris."));
    srv.push(Reply {
        chunks: Some(vec!["Hel".into(), "lo ".into(), "world".into()]),
        ..Reply::default()
    });
    let c = client(&base);
    let ((chat, (live, _)), session) = with_cassette(&path, Mode::Once, || async {
        let chat = c.chat(ask("capital?")).await.unwrap();
        (chat, texts(&c, "greet").await)
    })
    .await;
    assert_eq!(session.recorded(), 2);
    assert_eq!(srv.requests().len(), 2);
    srv.shutdown();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(KEY), "the key reached the cassette:\n{text}");
    assert!(text.contains("authorization:\n      - REDACTED"), "{text}");

    let c = client(&base);
    let ((replayed, (again, _)), session) = with_cassette(&path, Mode::None, || async {
        let chat = c.chat(ask("capital?")).await.unwrap();
        (chat, texts(&c, "greet").await)
    })
    .await;
    assert_eq!(replayed.text(), chat.text());
    assert_eq!(replayed.usage, chat.usage);
    assert_eq!(again, live);
    assert_eq!(again, vec!["Hel", "lo ", "world"]);
    assert_eq!((session.played(), session.recorded()), (2, 0));
}

#[tokio::test]
async fn a_recording_of_an_azure_call_keeps_no_key() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let path = tmp("azure.yaml");
    let srv = MockServer::start().unwrap();
    srv.push(Reply::text("Paris."));
    let c = Client::new(ClientConfig {
        model: "azure/prod-gpt4o".into(),
        api_key: Some(KEY.into()),
        base_url: Some(srv.url()),
        api_version: Some("2024-10-21".into()),
        ..Default::default()
    })
    .unwrap();
    let (r, _) = with_cassette(&path, Mode::Once, || c.chat(ask("capital?"))).await;
    assert_eq!(r.unwrap().text(), "Paris.");
    assert_eq!(srv.requests()[0].header("api-key"), Some(KEY));

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(KEY), "the key reached the cassette:\n{text}");
    assert!(text.contains("api-key:\n      - REDACTED"), "{text}");
    assert!(text.contains("api-version=2024-10-21"), "{text}");
}

#[tokio::test]
async fn a_miss_in_none_mode_is_a_cassette_error_that_names_the_difference() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let path = tmp("miss.yaml");
    let srv = MockServer::start().unwrap();
    let base = format!("{}/v1", srv.url());
    let c = client(&base);
    let (first, _) = with_cassette(&path, Mode::Once, || c.chat(ask("What is 2+2?"))).await;
    assert!(first.is_ok());
    let (err, _) = with_cassette(&path, Mode::None, || c.chat(ask("What is 3+3?"))).await;
    let err = err.unwrap_err();
    assert_eq!(err.kind, ErrorKind::CassetteMiss);
    assert!(
        err.message.contains("/v1/chat/completions"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains(r#"recorded "What is 2+2?", sent "What is 3+3?""#),
        "{}",
        err.message
    );
    assert_eq!(
        srv.requests().len(),
        1,
        "none mode never touches the network"
    );
}

#[tokio::test]
async fn an_abandoned_stream_is_not_recorded() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let path = tmp("abandoned.yaml");
    let srv = MockServer::start().unwrap();
    srv.push(Reply {
        chunks: Some((0..100).map(|i| format!("w{i} ")).collect()),
        chunk_delay: Some(llmrail::mock::Seconds::new(0.02).unwrap()),
        ..Reply::default()
    });
    let c = client(&format!("{}/v1", srv.url()));
    let (_, session) = with_cassette(&path, Mode::Once, || async {
        let mut stream = c.stream(ask("long story")).unwrap();
        let first = stream.next().await.unwrap().unwrap();
        assert!(matches!(first, StreamEvent::Text(_)));
        drop(stream);
        tokio::time::sleep(Duration::from_millis(50)).await;
    })
    .await;
    assert_eq!(session.recorded(), 0);
    assert!(
        !path.exists(),
        "nothing was complete, so nothing was written"
    );
}

#[test]
fn real_vcrpy_cassettes_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/real-cassettes");
    let mut n = 0;
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml") {
                let list = cassette::load(&p).unwrap().unwrap();
                assert!(!list.is_empty(), "{}", p.display());
                n += 1;
            }
        }
    }
    assert!(n >= 20, "{n} cassettes");
}

#[tokio::test]
async fn waits_asked_for_by_replayed_answers_follow_the_pace() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let wait = Duration::from_secs(2);
    let cases = [
        (Mode::None, 0.0, Duration::ZERO),
        (Mode::None, 0.5, Duration::from_secs(1)),
        (Mode::NewEpisodes, 0.0, wait),
    ];
    for (mode, pace, expected) in cases {
        let opts = Options {
            mode: Some(mode),
            pace,
            ..Options::default()
        };
        let session = Arc::new(Session::open(tmp("paced.yaml"), opts).unwrap());
        assert_eq!(replay::paced(wait), wait, "no cassette, no change");
        replay::activate(session.clone());
        assert_eq!(replay::paced(wait), expected, "{mode:?} at pace {pace}");
        replay::deactivate(&session);
    }
}

#[tokio::test]
async fn an_azure_style_base_url_keeps_its_query_and_its_secrets_stay_out_of_the_cassette() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let path = tmp("azure.yaml");
    let srv = MockServer::start().unwrap();
    let url = srv
        .url()
        .replace("http://", "http://deploy:PW-SECRET-5150@");
    let base = format!("{url}/openai/v1?api-version=2024-10-21&sig=SAS-SECRET-8080");
    let c = client(&base);
    assert!(!format!("{c:?}").contains("SECRET"), "{c:?}");
    let (chat, _) = with_cassette(&path, Mode::Once, || async {
        c.chat(ask("hi")).await.unwrap()
    })
    .await;
    assert_eq!(chat.text(), "mock reply to: hi");
    let seen = &srv.requests()[0];
    assert_eq!(seen.path, "/openai/v1/chat/completions");
    assert_eq!(
        seen.query.as_deref(),
        Some("api-version=2024-10-21&sig=SAS-SECRET-8080")
    );
    srv.shutdown();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("SECRET"), "{text}");
    assert!(text.contains("uri: http://REDACTED@127.0.0.1:"), "{text}");
    assert!(
        text.contains("/openai/v1/chat/completions?api-version=2024-10-21&sig=REDACTED"),
        "{text}"
    );
    let (again, _) = with_cassette(&path, Mode::None, || async {
        c.chat(ask("hi")).await.unwrap()
    })
    .await;
    assert_eq!(again.text(), chat.text());
}
