//! Partial JSON: the most complete value a prefix of an answer already commits to, so a stream
//! can show `{"winner": "Essay A", "justification": "Becau"}` while the rest is on its way.
//!
//! A prefix is closed in the cheapest way that parses: finish the open string and close the open
//! containers. When that fails (a half-written number, literal or key), it falls back to the last
//! point where a value had ended and closes from there, dropping the unfinished member.

use serde_json::Value;

/// The value `text` (a prefix of a JSON answer, possibly after prose) already shows, if any.
pub fn partial(text: &str) -> Option<Value> {
    let start = text.find(['{', '['])?;
    let body = &text[start..];
    let scan = Scan::run(body);
    if scan.closed {
        return serde_json::from_str(&body[..scan.end]).ok();
    }
    let mut candidate = String::with_capacity(body.len() + scan.stack.len() + 1);
    candidate.push_str(body);
    if scan.in_string {
        if candidate.ends_with('\\') {
            candidate.pop();
        }
        candidate.push('"');
    }
    candidate.extend(scan.stack.iter().rev());
    if let Ok(v) = serde_json::from_str(&candidate) {
        return Some(v);
    }
    let mut candidate = body[..scan.safe]
        .trim_end()
        .trim_end_matches(',')
        .to_string();
    candidate.extend(scan.stack.iter().rev());
    serde_json::from_str(&candidate).ok()
}

struct Scan {
    /// Closing brackets still owed, innermost last.
    stack: Vec<char>,
    /// Inside the innermost object, a `:` was seen since its last `,`: a string is a value.
    expect_value: bool,
    in_string: bool,
    /// The top-level value closed at `end`.
    closed: bool,
    end: usize,
    /// The last prefix length after which only closers are needed. Every push and pop marks a
    /// new one, so the closers it needs are those of the final `stack`: kept as a copy per
    /// mark, they cost time quadratic in the depth (a server's 100,000 `[` took minutes).
    safe: usize,
}

impl Scan {
    fn run(body: &str) -> Self {
        let mut s = Self {
            stack: Vec::new(),
            expect_value: false,
            in_string: false,
            closed: false,
            end: 0,
            safe: 0,
        };
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            if s.in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        s.in_string = false;
                        // A string that is an array element or a member's value is complete; a
                        // key is not: it still needs its value.
                        if s.stack.last() == Some(&']') || s.expect_value {
                            s.mark_safe(i + 1);
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => s.in_string = true,
                '{' => {
                    s.stack.push('}');
                    s.expect_value = false;
                    s.mark_safe(i + 1);
                }
                '[' => {
                    s.stack.push(']');
                    s.mark_safe(i + 1);
                }
                '}' | ']' => {
                    s.stack.pop();
                    // The closed container was the parent's value (or an array element).
                    s.expect_value = true;
                    if s.stack.is_empty() {
                        s.closed = true;
                        s.end = i + 1;
                        return s;
                    }
                    s.mark_safe(i + 1);
                }
                ',' => {
                    s.expect_value = false;
                    s.mark_safe(i);
                }
                ':' => s.expect_value = true,
                _ => {}
            }
        }
        s
    }

    fn mark_safe(&mut self, at: usize) {
        self.safe = at;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn prefixes_grow_into_the_value() {
        let full = r#"{"winner": "Essay A", "scores": [1, 2.5], "note": {"ok": true}}"#;
        let mut last = json!({});
        for n in 1..=full.len() {
            if let Some(v) = partial(&full[..n]) {
                assert!(v.is_object(), "prefix {n}: {v}");
                last = v;
            }
        }
        assert_eq!(last, serde_json::from_str::<Value>(full).unwrap());
    }

    #[test]
    fn open_strings_are_shown_and_unfinished_members_dropped() {
        assert_eq!(
            partial(r#"{"winner": "Ess"#).unwrap(),
            json!({"winner": "Ess"})
        );
        assert_eq!(partial(r#"{"a": 1, "conf"#).unwrap(), json!({"a": 1}));
        assert_eq!(partial(r#"{"a": 1, "b": 2."#).unwrap(), json!({"a": 1}));
        assert_eq!(partial(r#"{"a": tr"#).unwrap(), json!({}));
        assert!(partial("Thinking... ").is_none());
    }

    #[test]
    fn a_prefix_nested_100_000_deep_is_read_in_linear_time() {
        let deep = "[".repeat(100_000);
        let started = std::time::Instant::now();
        // Deeper than serde_json's limit: nothing to show, and no stack overflow either.
        assert!(partial(&deep).is_none());
        assert!(partial(&format!("{{\"a\": {deep}")).is_none());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
