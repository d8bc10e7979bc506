//! A fixtures file: rules that pick a scripted [`Reply`] by what the last user message says.
//!
//! ```yaml
//! rules:
//!   - match: {contains: "weather"}        # or {equals: "..."} or {regex: "..."}; none: any
//!     model: support                      # only for mock/support (optional)
//!     reply: {tool_calls: [{name: get_weather, arguments: {city: Paris}}]}
//!   - match: {regex: "(?i)^flaky"}
//!     replies:                            # used in turn; the last one repeats
//!       - {fault: {status: 429, retry_after: 0}}
//!       - {text: "ok now"}
//! default: {text: "I only know about the weather."}
//! ```
//!
//! Rules are read top to bottom and the first that matches answers. The reply vocabulary is the
//! mock server's own (`script.rs`, `fault.rs`, `timing.rs`), in YAML or JSON (JSON is YAML).

use std::sync::atomic::{AtomicUsize, Ordering};

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::render::last_user_text;
use super::script::Reply;
use crate::error::LlmError;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default)]
    pub(crate) rules: Vec<Rule>,
    /// The answer when no rule matches (else the mock echoes).
    #[serde(default)]
    pub(crate) default: Option<Reply>,
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "RawRule")]
pub(crate) struct Rule {
    when: Match,
    model: Option<String>,
    replies: Vec<Reply>,
    /// How many times the rule answered: picks the next of `replies`.
    used: AtomicUsize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default, rename = "match")]
    when: RawMatch,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    reply: Option<Reply>,
    #[serde(default)]
    replies: Option<Vec<Reply>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    equals: Option<String>,
    #[serde(default)]
    contains: Option<String>,
    #[serde(default)]
    regex: Option<String>,
}

#[derive(Debug)]
enum Match {
    Any,
    Equals(String),
    Contains(String),
    Regex(Box<Regex>),
}

impl TryFrom<RawRule> for Rule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, String> {
        let replies = match (raw.reply, raw.replies) {
            (Some(one), None) => vec![one],
            (None, Some(many)) if !many.is_empty() => many,
            (None, Some(_)) => return Err("rule: \"replies\" is empty".into()),
            (None, None) => return Err("rule: needs a \"reply\" or \"replies\"".into()),
            (Some(_), Some(_)) => return Err("rule: \"reply\" or \"replies\", not both".into()),
        };
        let when = match (raw.when.equals, raw.when.contains, raw.when.regex) {
            (None, None, None) => Match::Any,
            (Some(e), None, None) => Match::Equals(e),
            (None, Some(c), None) => Match::Contains(c),
            (None, None, Some(r)) => Regex::new(&r)
                .map(|r| Match::Regex(Box::new(r)))
                .map_err(|e| format!("rule: bad regex {r:?}: {e}"))?,
            _ => return Err("match: one of \"equals\", \"contains\" or \"regex\"".into()),
        };
        Ok(Self {
            when,
            model: raw.model,
            replies,
            used: AtomicUsize::new(0),
        })
    }
}

impl Fixtures {
    /// Parse a YAML (or JSON) file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, LlmError> {
        serde_yaml_ng::from_str(text)
            .map_err(|e| LlmError::config(format!("mock fixtures {origin}: {e}")))
    }

    /// Read and parse a fixtures file.
    pub fn load(path: &str) -> Result<Self, LlmError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LlmError::config(format!("mock fixtures {path}: {e}")))?;
        Self::parse(&text, path)
    }

    /// The reply of the first rule that matches this request, else the file's default.
    pub(crate) fn pick(&self, model: &str, request: &Map<String, Value>) -> Option<Reply> {
        let text = last_user_text(request);
        let rule = self.rules.iter().find(|r| {
            r.model.as_deref().is_none_or(|m| m == model)
                && match &r.when {
                    Match::Any => true,
                    Match::Equals(e) => text.trim() == e.trim(),
                    Match::Contains(c) => text.contains(c.as_str()),
                    Match::Regex(re) => re.is_match(&text),
                }
        });
        match rule {
            Some(rule) => {
                let n = rule.used.fetch_add(1, Ordering::Relaxed);
                let last = rule.replies.len().saturating_sub(1);
                rule.replies.get(n.min(last)).cloned()
            }
            None => self.default.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn asking(text: &str) -> Map<String, Value> {
        let Value::Object(map) = json!({"messages": [{"role": "user", "content": text}]}) else {
            unreachable!()
        };
        map
    }

    const FILE: &str = r#"
rules:
  - match: {equals: "hi"}
    reply: {text: "hello"}
  - match: {contains: "weather"}
    model: support
    reply: {tool_calls: [{name: get_weather, arguments: {city: Paris}}]}
  - match: {regex: "(?i)^flaky"}
    replies:
      - {fault: {status: 429, retry_after: 0}}
      - {text: "ok now"}
default: {text: "no rule"}
"#;

    #[test]
    fn the_first_matching_rule_answers_and_a_sequence_ends_on_its_last_reply() {
        let f = Fixtures::parse(FILE, "test").unwrap();
        let text = |model: &str, asked: &str| f.pick(model, &asking(asked)).unwrap().content();
        assert_eq!(text("a", " hi ").as_deref(), Some("hello"));
        assert_eq!(text("a", "hi there").as_deref(), Some("no rule"));
        assert_eq!(text("a", "weather?").as_deref(), Some("no rule"));
        let call = f.pick("support", &asking("the weather?")).unwrap();
        assert_eq!(call.tool_calls[0].arguments, json!({"city": "Paris"}));
        assert!(f.pick("a", &asking("FLAKY one")).unwrap().fault.is_some());
        assert_eq!(text("a", "flaky two").as_deref(), Some("ok now"));
        assert_eq!(text("a", "flaky three").as_deref(), Some("ok now"));
    }

    #[test]
    fn json_is_accepted_too() {
        let f = Fixtures::parse(r#"{"rules": [{"reply": {"json": {"x": 1}}}]}"#, "j").unwrap();
        assert_eq!(
            f.pick("m", &asking("anything"))
                .unwrap()
                .content()
                .as_deref(),
            Some(r#"{"x":1}"#)
        );
    }

    #[test]
    fn mistakes_name_the_file_and_the_field() {
        let err = |text: &str| Fixtures::parse(text, "f.yaml").unwrap_err().to_string();
        assert!(err("rules: [{reply: {txt: a}}]").contains("txt"));
        assert!(err("rules: [{match: {regex: '('}, reply: {text: a}}]").contains("bad regex"));
        assert!(err("rules: [{match: {contain: a}, reply: {text: a}}]").contains("contain"));
        assert!(err("rules: [{match: {contains: a}}]").contains("\"reply\""));
        assert!(err("rule: []").contains("f.yaml"));
    }
}
