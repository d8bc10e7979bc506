#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use serde_json::json;

fn real(rel: &str) -> Vec<Interaction> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real-cassettes")
        .join(rel);
    load(&path).unwrap().unwrap()
}

pub(crate) fn sample() -> Vec<Interaction> {
    let request = Request {
        method: "POST".into(),
        uri: "https://api.openai.com/v1/chat/completions".into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), "REDACTED".into()),
        ],
        body: Bytes::from_static(
            br#"{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}"#,
        ),
    };
    let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: [DONE]\n\n";
    vec![
        Interaction {
            request: request.clone(),
            response: Response {
                status: 200,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("content-length".into(), "28".into()),
                ],
                body: Bytes::from_static(br#"{"id":"x","choices":["hi"]}"#),
                latency: Some(Duration::from_micros(412_500)),
                chunks: None,
            },
        },
        Interaction {
            request,
            response: Response {
                status: 200,
                headers: vec![("content-type".into(), "text/event-stream".into())],
                body: Bytes::from(sse),
                latency: Some(Duration::from_millis(100)),
                chunks: Some(vec![
                    Chunk {
                        len: 50,
                        at: Duration::from_millis(101),
                    },
                    Chunk {
                        len: sse.len() - 50,
                        at: Duration::from_micros(130_300),
                    },
                ]),
            },
        },
    ]
}

#[test]
fn written_in_vcrpy_layout_with_readable_json() {
    let text = to_yaml(&sample()).unwrap();
    assert!(
        text.starts_with("interactions:\n- request:\n    body: |-\n      {\n"),
        "{text}"
    );
    assert!(text.contains("\"content\": \"hi\""), "{text}");
    assert!(
        text.contains("  response:\n    body:\n      string: |-\n        {\n"),
        "{text}"
    );
    assert!(
        text.contains("status:\n      code: 200\n      message: OK\n"),
        "{text}"
    );
    assert!(text.contains("latency_ms: 412.5\n"), "{text}");
    assert!(text.contains("chunks: 50@101 "), "{text}");
    assert!(text.ends_with("version: 1\n"), "{text}");
    // The prettified body's new length replaces the recorded one.
    let pretty = serde_json::to_string_pretty(&json!({"id": "x", "choices": ["hi"]})).unwrap();
    assert!(text.contains(&format!("- '{}'", pretty.len())), "{text}");
}

#[test]
fn what_is_written_loads_back() {
    let before = sample();
    let after = parse(&to_yaml(&before).unwrap()).unwrap();
    assert_eq!(after.len(), 2);
    // JSON is compared as data (it was pretty-printed); a stream keeps its exact bytes.
    let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).unwrap();
    assert_eq!(json(&after[0].request.body), json(&before[0].request.body));
    assert_eq!(
        json(&after[0].response.body),
        json(&before[0].response.body)
    );
    assert_eq!(after[1].response, before[1].response);
    let sorted = |h: &[(String, String)]| {
        let mut h = h.to_vec();
        h.sort();
        h
    };
    assert_eq!(
        sorted(&after[0].request.headers),
        sorted(&before[0].request.headers)
    );
    assert_eq!(after[0].response.latency, before[0].response.latency);
}

#[test]
fn bodies_that_are_not_utf8_round_trip_as_binary() {
    let mut i = sample().remove(1);
    i.response.body = Bytes::from_static(&[0xff, 0xfe, 0x00, b'a']);
    i.response.chunks = None;
    let text = to_yaml(std::slice::from_ref(&i)).unwrap();
    assert!(text.contains("string: !!binary"), "{text}");
    let back = parse(&text).unwrap();
    assert_eq!(back[0].response.body, i.response.body);
}

#[test]
fn a_zstd_body_kept_as_it_came_loads_decoded_without_its_encoding() {
    // `printf '{"usage":{"prompt_tokens":3}}' | zstd`, as an SDK's answer was recorded before
    // llmrail decoded zstd: a `Client` replaying it must read JSON.
    let zstd: &[u8] = b"\x28\xb5\x2f\xfd\x04\x58\xe9\x00\x00\x7b\x22\x75\x73\x61\x67\x65\x22\x3a\x7b\x22\x70\x72\x6f\x6d\x70\x74\x5f\x74\x6f\x6b\x65\x6e\x73\x22\x3a\x33\x7d\x7d\x83\xf0\x14\x19";
    let mut i = sample().remove(1);
    i.response.body = Bytes::from_static(zstd);
    i.response.chunks = None;
    i.response.headers = vec![
        ("content-type".into(), "application/json".into()),
        ("content-encoding".into(), "zstd".into()),
    ];
    let text = to_yaml(std::slice::from_ref(&i)).unwrap();
    assert!(text.contains("string: !!binary"), "{text}");
    let back = parse(&text).unwrap();
    assert_eq!(back[0].response.body, r#"{"usage":{"prompt_tokens":3}}"#);
    assert_eq!(
        back[0].response.headers,
        vec![("content-type".to_string(), "application/json".to_string())]
    );
}

#[test]
fn pydantic_ai_parsed_bodies_load_as_json() {
    let i = real("pydantic-ai/tests/models/cassettes/test_openai/test_valid_response.yaml");
    assert_eq!(i.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&i[0].response.body).unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "The capital of France is Paris."
    );
    let req: serde_json::Value = serde_json::from_slice(&i[0].request.body).unwrap();
    assert_eq!(req["model"], "gpt-4o");
    assert_eq!(i[0].request.method, "POST");
}

#[test]
fn vcrpy_gzip_binary_bodies_are_decoded() {
    let i = real("llm-anthropic/tests/cassettes/test_anthropic/test_tools.yaml");
    assert_eq!(i.len(), 2);
    let text = std::str::from_utf8(&i[0].response.body).unwrap();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(!i[0]
        .response
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-encoding")));
    assert!(i[0].request.body.starts_with(b"{\"max_tokens\":8192"));
}

#[test]
fn empty_and_broken_files() {
    assert!(parse("").unwrap().is_empty());
    assert!(parse("interactions: []\nversion: 1\n").unwrap().is_empty());
    assert!(parse("interactions:\n- request: {}\n").is_err());
    assert!(parse(": : :").is_err());
}

#[test]
fn writes_are_atomic_and_create_folders() {
    let dir = std::env::temp_dir().join(format!("llmrail-cassette-{}", std::process::id()));
    let path = dir.join("a/b/c.yaml");
    write_atomic(&path, "one").unwrap();
    write_atomic(&path, "two").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
    let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(leftovers, 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn values_yaml_1_1_would_misread_are_quoted_for_vcrpy() {
    let mut list = sample();
    list[0]
        .request
        .headers
        .push(("anthropic-version".into(), "2023-06-01".into()));
    list[0].request.headers.push(("x-flag".into(), "on".into()));
    list[0]
        .request
        .headers
        .push(("x-count".into(), "1_000".into()));
    list[0].request.body = Bytes::from_static(b"- on\n- 2023-06-01\n");
    let text = to_yaml(&list).unwrap();
    assert!(
        text.contains("anthropic-version:\n      - '2023-06-01'\n"),
        "{text}"
    );
    assert!(text.contains("x-flag:\n      - 'on'\n"), "{text}");
    assert!(text.contains("x-count:\n      - '1_000'\n"), "{text}");
    assert!(
        text.contains("- on\n      - 2023-06-01\n"),
        "bodies are untouched: {text}"
    );
    assert!(text.contains("code: 200\n"), "{text}");
    let back = parse(&text).unwrap();
    assert_eq!(back[0].request.body, list[0].request.body);
    assert!(back[0]
        .request
        .headers
        .contains(&("anthropic-version".into(), "2023-06-01".into())));
}

fn one(response_extra: &str, version: &str) -> String {
    format!(
        "interactions:\n- request: {{method: POST, uri: 'http://h/v1/chat/completions'}}\n  response:\n    status: {{code: 200}}\n{response_extra}version: {version}\n"
    )
}

#[test]
fn an_unknown_version_is_refused_naming_the_version_and_the_file() {
    assert!(parse(&one("", "1")).is_ok());
    let dir = std::env::temp_dir().join(format!("llmrail-version-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("future.yaml");
    std::fs::write(&path, one("", "2")).unwrap();
    let e = load(&path).unwrap_err();
    assert!(
        e.message.contains("cassette version 2 is not supported"),
        "{e}"
    );
    assert!(e.message.contains("future.yaml"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn impossible_recorded_times_are_errors_naming_the_field() {
    for bad in ["1e300", "-5", ".nan", ".inf", "86400001", "soon"] {
        let e = parse(&one(&format!("    latency_ms: {bad}\n"), "1")).unwrap_err();
        assert!(
            e.contains("interaction 0") && e.contains("`latency_ms`"),
            "{bad}: {e}"
        );
    }
    for bad in ["10@1e300", "10@-1", "10@NaN", "x@1", "10"] {
        let e = parse(&one(&format!("    chunks: '{bad}'\n"), "1")).unwrap_err();
        assert!(
            e.contains("`chunks` entry") && e.contains(bad),
            "{bad}: {e}"
        );
    }
    let ok = parse(&one(
        "    latency_ms: 86400000\n    chunks: 3@0.5 4@1\n",
        "1",
    ))
    .unwrap();
    assert_eq!(ok[0].response.latency, Some(Duration::from_secs(86_400)));
    assert_eq!(ok[0].response.chunks.as_ref().map(Vec::len), Some(2));
}
