#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use serde_json::json;

const URL: &str = "https://api.openai.com/v1/chat/completions";

fn key(m: &Matcher, uri: &str, body: &str) -> Key {
    m.key("POST", uri, body.as_bytes(), |_| {})
}

fn same(m: &Matcher, a: &Key, b: &Key) -> bool {
    let eq = m.matches(a, b);
    assert_eq!(eq, m.differences(a, b, 10).is_empty());
    if eq {
        assert_eq!(m.hash(a), m.hash(b), "equal keys must hash equally");
    }
    eq
}

#[test]
fn json_bodies_match_whatever_the_key_order_and_whitespace() {
    let m = Matcher::default();
    let a = key(
        &m,
        URL,
        r#"{"model":"x","messages":[{"role":"user","content":"hi"}],"t":1}"#,
    );
    let b = key(
        &m,
        URL,
        "{\n  \"t\": 1.0,\n  \"messages\": [ {\"content\": \"hi\", \"role\": \"user\"} ],\n  \"model\": \"x\"\n}",
    );
    assert!(same(&m, &a, &b));
    let c = key(
        &m,
        URL,
        r#"{"model":"x","messages":[{"role":"user","content":"ho"}],"t":1}"#,
    );
    assert!(!same(&m, &a, &c));
    assert_eq!(
        m.differences(&a, &c, 10),
        vec![r#"body.messages[0].content: recorded "hi", sent "ho""#]
    );
}

#[test]
fn match_on_chooses_what_is_compared() {
    let on = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        Matcher::new(&names, &[], &[]).unwrap()
    };
    let m = on(&["method", "path"]);
    let a = key(
        &m,
        "http://127.0.0.1:4000/v1/chat/completions",
        r#"{"a":1}"#,
    );
    let b = key(&m, URL, r#"{"a":2}"#);
    assert!(same(&m, &a, &b));
    let m = on(&["method", "uri"]);
    let a = key(&m, "http://h/x?b=2&a=1", "");
    let b = key(&m, "http://h/x?a=1&b=2", "");
    assert!(same(&m, &a, &b), "query order does not matter");
    let c = key(&m, "http://h:81/x?a=1&b=2", "");
    assert_eq!(
        m.differences(&a, &c, 10),
        vec!["port: recorded 80, sent 81"]
    );
    assert!(Matcher::new(&["bdy".to_string()], &[], &[])
        .is_err_and(|e| e.message.contains("method, uri")));
}

#[test]
fn volatile_fields_and_query_parameters_can_be_ignored() {
    let m = Matcher::new(
        &["method".into(), "uri".into(), "body".into()],
        &["metadata.run_id".into(), "messages.*.id".into()],
        &["ts".into()],
    )
    .unwrap();
    let a = key(
        &m,
        "http://h/x?ts=1",
        r#"{"metadata":{"run_id":"a","user":"u"},"messages":[{"id":1,"c":"hi"}]}"#,
    );
    let b = key(
        &m,
        "http://h/x?ts=2",
        r#"{"metadata":{"run_id":"b","user":"u"},"messages":[{"id":2,"c":"hi"}]}"#,
    );
    assert!(same(&m, &a, &b));
    let c = key(
        &m,
        "http://h/x",
        r#"{"metadata":{"user":"v"},"messages":[{"c":"hi"}]}"#,
    );
    assert!(!same(&m, &a, &c));
}

#[test]
fn differences_name_missing_and_extra_fields() {
    let m = Matcher::default();
    let a = key(&m, URL, r#"{"max_tokens":100,"messages":[1,2]}"#);
    let b = key(
        &m,
        "https://api.openai.com/v1/embeddings",
        r#"{"messages":[1],"stream":true}"#,
    );
    let d = m.differences(&a, &b, 10);
    assert_eq!(
        d,
        vec![
            "path: recorded /v1/chat/completions, sent /v1/embeddings",
            "body.max_tokens: recorded 100, sent nothing",
            "body.messages: recorded 2 items, sent 1",
            "body.stream: recorded nothing, sent true",
        ]
    );
    assert_eq!(m.differences(&a, &b, 2).len(), 2);
}

#[test]
fn text_bodies_compare_as_bytes() {
    let m = Matcher::default();
    let a = key(&m, URL, "plain text");
    assert!(same(&m, &a, &key(&m, URL, "plain text")));
    assert!(!same(&m, &a, &key(&m, URL, "other")));
    assert!(!same(&m, &a, &key(&m, URL, "")));
}

#[test]
fn numbers_compare_by_value() {
    assert!(json_eq(&json!(1), &json!(1.0)));
    assert!(!json_eq(&json!(1), &json!(1.5)));
    assert!(json_eq(&json!({"a": [0.0]}), &json!({"a": [-0.0]})));
    let mut v = json!({"a": [{"x": 1, "y": 2}, {"x": 3}], "b": {"c": 1}});
    drop_path(&mut v, &["a".into(), "*".into(), "x".into()]);
    drop_path(&mut v, &["b".into()]);
    assert_eq!(v, json!({"a": [{"y": 2}, {}]}));
}
