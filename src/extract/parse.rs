//! Lenient JSON: what models really send back around the object we asked for.
//!
//! Tried in order, cheapest first: the text as is; the inside of a ```json fence; the first
//! balanced `{...}` / `[...]` in the prose; the same with trailing commas removed. An object or
//! array that never closes is reported as truncated, which is a different fix (a shorter answer
//! or more `max_tokens`) than a malformed one.

use serde_json::Value;

/// Why an answer could not be read as JSON; the text goes back to the model in a re-ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    /// The answer stopped in the middle of the JSON value.
    pub truncated: bool,
}

/// The JSON value in a model's answer.
pub fn lenient(text: &str) -> Result<Value, ParseError> {
    let trimmed = text.trim();
    if let Ok(v) = serde_json::from_str(trimmed) {
        return Ok(v);
    }
    let body = unfence(trimmed);
    if body.len() != trimmed.len() {
        if let Ok(v) = serde_json::from_str(body) {
            return Ok(v);
        }
    }
    let Some(start) = body.find(['{', '[']) else {
        return Err(ParseError {
            message: "the answer contains no JSON object".into(),
            truncated: false,
        });
    };
    let Some(end) = balanced_end(&body[start..]) else {
        return Err(ParseError {
            message: "the JSON in the answer is cut off before it ends (truncated)".into(),
            truncated: true,
        });
    };
    let slice = &body[start..start + end];
    let first = match serde_json::from_str(slice) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    serde_json::from_str(&without_trailing_commas(slice)).map_err(|_| ParseError {
        message: format!("the answer is not valid JSON: {first}"),
        truncated: false,
    })
}

/// The inside of the first code fence (```json ... ```), or the text itself without one. An
/// unclosed fence yields everything after its opening line. A fence starts a line (Markdown's
/// rule), which is also what tells it from a ``` inside a JSON string: JSON strings hold no raw
/// line breaks, so one never starts a line.
fn unfence(text: &str) -> &str {
    let Some(open) = fence(text) else {
        return text;
    };
    let after = &text[open + 3..];
    // The info string ("json", "JSON", nothing) runs to the end of the line.
    let body = match after.find('\n') {
        Some(nl) => &after[nl + 1..],
        None => after,
    };
    match fence(body) {
        Some(close) => body[..close].trim(),
        None => body.trim(),
    }
}

/// Where the first ``` that starts a line (after blanks) is.
fn fence(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find("```").map(|i| from + i) {
        let line_start = text[..i].rfind('\n').map_or(0, |nl| nl + 1);
        if text[line_start..i].trim().is_empty() {
            return Some(i);
        }
        from = i + 3;
    }
    None
}

/// Length of the balanced value starting at `text[0]` (`{` or `[`), strings respected; `None`
/// when it does not close.
fn balanced_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `{"a": 1,}` -> `{"a": 1}`, outside strings only.
fn without_trailing_commas(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = bytes[i + 1..].iter().find(|b| !b.is_ascii_whitespace());
            if matches!(next, Some(b'}') | Some(b']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Fit the value to the schema's top-level type: a lone object wrapped in a list is unwrapped
/// for an object schema, and a lone object is wrapped for an array schema.
pub fn fit_shape(value: Value, schema: &Value) -> Value {
    match (schema.get("type").and_then(Value::as_str), value) {
        (Some("object"), Value::Array(mut items)) if items.len() == 1 && items[0].is_object() => {
            items.swap_remove(0)
        }
        (Some("array"), v @ Value::Object(_)) => Value::Array(vec![v]),
        (_, v) => v,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_fenced_and_prose_wrapped_answers_parse() {
        assert_eq!(lenient(r#" {"a": 1} "#).unwrap(), json!({"a": 1}));
        let fenced = "Here you go:\n```json\n{\"a\": [1, 2]}\n```\nAnything else?";
        assert_eq!(lenient(fenced).unwrap(), json!({"a": [1, 2]}));
        let prose = r#"Sure! The result is {"a": "x}y", "b": {"c": null}} as requested."#;
        assert_eq!(
            lenient(prose).unwrap(),
            json!({"a": "x}y", "b": {"c": null}})
        );
    }

    #[test]
    fn trailing_commas_are_forgiven_outside_strings() {
        let v = lenient(r#"{"a": [1, 2,], "b": "x,}",}"#).unwrap();
        assert_eq!(v, json!({"a": [1, 2], "b": "x,}"}));
    }

    #[test]
    fn truncation_is_reported_as_such() {
        let e = lenient(r#"{"winner": "Essay A", "justification": "Becau"#).unwrap_err();
        assert!(e.truncated && e.message.contains("truncated"));
        let e = lenient("I cannot help with that.").unwrap_err();
        assert!(!e.truncated && e.message.contains("no JSON"));
        let e = lenient(r#"{"a": tru}"#).unwrap_err();
        assert!(!e.truncated && e.message.contains("not valid JSON"));
    }

    /// Found by tests/properties (extract::wrapped_json_reads_back_as_itself): a ``` inside a
    /// JSON string was taken for a code fence, and the answer refused or misread.
    #[test]
    fn a_code_fence_inside_a_json_string_is_not_a_fence() {
        let prose = r#"Sure! Here it is: [["```"]]"#;
        assert_eq!(lenient(prose).unwrap(), json!([["```"]]));
        let pretty = "Sure! Here it is: [\n  [\n    \"```\"\n  ],\n  []\n]\nHope that helps.";
        assert_eq!(lenient(pretty).unwrap(), json!([["```"], []]));
        let fenced = "Here:\n```json\n{\"code\": \"```py\\nx = 1\\n```\", \"a\": 1}\n```\nDone.";
        assert_eq!(
            lenient(fenced).unwrap(),
            json!({"code": "```py\nx = 1\n```", "a": 1})
        );
    }

    #[test]
    fn shapes_are_fitted_to_the_schema() {
        let obj = json!({"type": "object"});
        let arr = json!({"type": "array"});
        assert_eq!(fit_shape(json!([{"a": 1}]), &obj), json!({"a": 1}));
        assert_eq!(fit_shape(json!({"a": 1}), &arr), json!([{"a": 1}]));
        assert_eq!(fit_shape(json!([1, 2]), &obj), json!([1, 2]));
    }
}
