//! The readers of a model's answer: the lenient JSON parser and the partial-JSON parser that a
//! streamed extraction shows as the answer grows.

use std::sync::OnceLock;

use llmrail::extract::parse::lenient;
use llmrail::extract::partial::partial;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestRunner;
use serde_json::Value;

use crate::harness::{holds, never_panics};

/// Answers as models write them: bare, fenced, wrapped in prose, with trailing commas, cut off.
fn answers() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CELL.get_or_init(|| {
        [
            r#"{"winner": "Essay A", "scores": [1, 2.5], "note": {"ok": true}}"#,
            "Here you go:\n```json\n{\"name\": \"Ada\", \"age\": 36,}\n```\nAnything else?",
            r#"Sure! The result is {"a": "x}y", "b": {"c": null}} as requested."#,
            "```\n[{\"city\": \"Paris\"}, {\"city\": \"Lyon\"},]\n```",
            r#"{"winner": "Essay A", "justification": "Becau"#,
            r#"[{"id": 1, "tags": ["a", "b\"c"], "v": -1.5e-3}, {"id": 2}]"#,
            "I cannot help with that.",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
    })
}

/// Strings that trip a scanner: quotes, escapes, brackets and code fences inside values.
fn text() -> impl Strategy<Value = String> {
    let piece = select(
        &[
            "```",
            "```json\n",
            "{",
            "}",
            "[",
            "]",
            "\"",
            "\\",
            ",",
            "\n",
            "é",
            "a",
        ][..],
    );
    prop_oneof![any::<String>(), vec(piece, 0..6).prop_map(|p| p.concat())]
}

/// A JSON object or array, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    let container = |inner: BoxedStrategy<Value>| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            btree_map(text(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    };
    let nested = leaf.prop_recursive(4, 24, 5, move |inner| container(inner.boxed()));
    container(nested.boxed())
}

/// How a model wraps the JSON it was asked for.
#[derive(Debug, Clone, Copy)]
enum Wrap {
    Bare,
    Prose,
    Fenced,
    FencedInProse,
}

fn wrapped() -> impl Strategy<Value = (String, String)> {
    let wrap = select(&[Wrap::Bare, Wrap::Prose, Wrap::Fenced, Wrap::FencedInProse][..]);
    (json(), any::<bool>(), wrap).prop_map(|(v, pretty, wrap)| {
        let json = if pretty {
            serde_json::to_string_pretty(&v)
        } else {
            serde_json::to_string(&v)
        }
        .expect("a Value serialises");
        let text = match wrap {
            Wrap::Bare => json.clone(),
            Wrap::Prose => format!("Sure! Here it is: {json}\nHope that helps."),
            Wrap::Fenced => format!("```json\n{json}\n```"),
            Wrap::FencedInProse => format!("Here you go:\n```json\n{json}\n```\nAnything else?"),
        };
        (json, text)
    })
}

/// The answer's JSON is read back exactly, however it is wrapped; every prefix of the answer
/// is read by the partial parser without a panic, and the whole answer completely.
fn reads_wrapped_json(runner: &mut TestRunner) -> Result<(), String> {
    holds(runner, wrapped(), |(json, text)| {
        let expected: Value = serde_json::from_str(json).expect("serde_json reads its own output");
        prop_assert_eq!(lenient(text).ok(), Some(expected.clone()));
        let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let step = (ends.len() / 128).max(1);
        for &end in ends.iter().step_by(step) {
            let _ = partial(&text[..end]);
        }
        prop_assert_eq!(partial(json), Some(expected));
        Ok(())
    })
}

crate::properties! {
    /// Any text near a real answer is read or refused by the lenient parser, never a panic.
    fn lenient_parser_never_panics(256) =
        |r| never_panics(r, answers(), |b| lenient(&String::from_utf8_lossy(b)));
    /// Any text near a real answer, and every prefix of it, is shown partially or not at all.
    fn partial_parser_never_panics_on_any_prefix(256) = |r| never_panics(r, answers(), |b| {
        let text = String::from_utf8_lossy(b);
        for (end, _) in text.char_indices() {
            let _ = partial(&text[..end]);
        }
        partial(&text)
    });
    /// Any JSON object or array, bare, fenced or in prose, reads back as itself.
    fn wrapped_json_reads_back_as_itself(256) = reads_wrapped_json;
}
