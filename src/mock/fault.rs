//! Faults a scripted reply can inject: error statuses, dropped connections, broken bodies.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::timing::Seconds;

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// An HTTP error. `body` replaces the provider-format error body (a JSON string is sent as
    /// raw text, like the HTML page a proxy returns).
    Status {
        status: u16,
        retry_after: Option<f64>,
        body: Option<Value>,
    },
    /// Read the request, then close the connection without a response.
    Reset,
    /// Send this many stream events (or body bytes, when not streaming), then close the
    /// connection without the terminator.
    TruncateAfter(usize),
    /// A 200 whose body (or one of whose stream events) is not valid JSON.
    MalformedJson,
    /// Send this many stream events, then the provider's own in-stream error (OpenAI's
    /// `{"error": …}` chunk, Anthropic's `error` event, Ollama's `{"error": …}` line). Not
    /// streaming: a 500 in the provider's format.
    ErrorAfter(usize),
    /// Send the headers at once, then dribble the body over this many seconds.
    SlowBody(Seconds),
}

impl Fault {
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            retry_after: None,
            body: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusSpec {
    status: u16,
    #[serde(default)]
    retry_after: Option<f64>,
    #[serde(default)]
    body: Option<Value>,
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FaultVisitor)
    }
}

struct FaultVisitor;

const KINDS: &[&str] = &[
    "status",
    "truncate_after",
    "error_after",
    "slow_body",
    "reset",
    "malformed_json",
];

impl<'de> Visitor<'de> for FaultVisitor {
    type Value = Fault;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            r#""reset", "malformed_json", {"status": n, "retry_after"?: s, "body"?: json}, {"truncate_after": n}, {"error_after": n} or {"slow_body": s}"#,
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Fault, E> {
        match v {
            "reset" => Ok(Fault::Reset),
            "malformed_json" => Ok(Fault::MalformedJson),
            other => Err(E::unknown_variant(other, &["reset", "malformed_json"])),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Fault, A::Error> {
        let fields: Map<String, Value> =
            Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        parse_map(fields).map_err(de::Error::custom)
    }
}

fn parse_map(fields: Map<String, Value>) -> Result<Fault, String> {
    let only = |key: &str| -> Result<Value, String> {
        match fields.iter().find(|(k, _)| k.as_str() != key) {
            Some((extra, _)) => Err(format!("fault: {key:?} cannot be combined with {extra:?}")),
            None => Ok(fields.get(key).cloned().unwrap_or(Value::Null)),
        }
    };
    if fields.contains_key("status") {
        let spec: StatusSpec =
            serde_json::from_value(Value::Object(fields)).map_err(|e| format!("fault: {e}"))?;
        if !(200..=599).contains(&spec.status) {
            return Err(format!(
                "fault.status must be between 200 and 599, got {}",
                spec.status
            ));
        }
        if let Some(ra) = spec.retry_after {
            if !(ra.is_finite() && ra >= 0.0) {
                return Err(format!(
                    "fault.retry_after must be a non-negative number, got {ra}"
                ));
            }
        }
        Ok(Fault::Status {
            status: spec.status,
            retry_after: spec.retry_after,
            body: spec.body,
        })
    } else if fields.contains_key("truncate_after") {
        serde_json::from_value(only("truncate_after")?)
            .map(Fault::TruncateAfter)
            .map_err(|e| format!("fault.truncate_after: {e}"))
    } else if fields.contains_key("error_after") {
        serde_json::from_value(only("error_after")?)
            .map(Fault::ErrorAfter)
            .map_err(|e| format!("fault.error_after: {e}"))
    } else if fields.contains_key("slow_body") {
        serde_json::from_value(only("slow_body")?)
            .map(Fault::SlowBody)
            .map_err(|e| format!("fault.slow_body: {e}"))
    } else {
        let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        Err(format!(
            "fault: unknown form {keys:?}, expected one of {KINDS:?}"
        ))
    }
}

/// The Retry-After header value: whole seconds as an integer, like the real APIs send.
pub(crate) fn retry_after_header(secs: f64) -> String {
    if secs.fract() == 0.0 {
        format!("{secs:.0}")
    } else {
        format!("{secs}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Fault, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn forms_parse() {
        assert_eq!(parse(json!("reset")).unwrap(), Fault::Reset);
        assert_eq!(
            parse(json!("malformed_json")).unwrap(),
            Fault::MalformedJson
        );
        assert_eq!(
            parse(json!({"truncate_after": 3})).unwrap(),
            Fault::TruncateAfter(3)
        );
        assert_eq!(
            parse(json!({"status": 429, "retry_after": 2})).unwrap(),
            Fault::Status {
                status: 429,
                retry_after: Some(2.0),
                body: None
            }
        );
        assert_eq!(
            parse(json!({"error_after": 2})).unwrap(),
            Fault::ErrorAfter(2)
        );
        assert!(matches!(
            parse(json!({"slow_body": 0.5})).unwrap(),
            Fault::SlowBody(_)
        ));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse(json!("boom")).unwrap_err().contains("boom"));
        assert!(parse(json!({"status": 429, "retry_afer": 1}))
            .unwrap_err()
            .contains("retry_afer"));
        assert!(parse(json!({"status": 42}))
            .unwrap_err()
            .contains("between 200 and 599"));
        assert!(parse(json!({"truncate_after": 1, "status_": 2}))
            .unwrap_err()
            .contains("status_"));
        assert!(parse(json!({"truncate": 1}))
            .unwrap_err()
            .contains("truncate"));
    }

    #[test]
    fn retry_after_is_an_integer_when_whole() {
        assert_eq!(retry_after_header(2.0), "2");
        assert_eq!(retry_after_header(0.5), "0.5");
    }
}
