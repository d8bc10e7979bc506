//! A request as either endpoint received it, in the library's unified terms ([`Incoming`]), and
//! the request each target gets from it ([`Incoming::for_target`]): the fields the endpoint's
//! wire has and the library does not model go only to a target of the same wire (an OpenAI
//! `seed` to OpenAI-compatible servers, an Anthropic `top_k` to Anthropic), and structured output
//! is put to each target the way the library's extraction puts it (`crate::extract::shape`).

use serde_json::{Map, Value};

use crate::error::{LlmError, Result};
use crate::extract::{shape, Mode, Schema};
use crate::model::ChatRequest;

/// Which wire a request arrived in, and which a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
    /// Gemini, Ollama's native API, Bedrock: neither endpoint's extra fields fit them.
    Other,
}

impl Wire {
    /// The wire of a provider as `Client::provider()` names it.
    pub fn of(provider: &str) -> Self {
        match provider {
            "anthropic" => Self::Anthropic,
            "gemini" | "google" | "ollama" | "bedrock" => Self::Other,
            // OpenAI, OpenRouter, Azure, the in-process mock and registered OpenAI-compatible
            // services.
            _ => Self::OpenAi,
        }
    }
}

/// Structured output the caller asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// A JSON Schema the answer must follow; `raw` is OpenAI's `response_format` as sent, passed
    /// unchanged to OpenAI-compatible targets.
    JsonSchema {
        name: String,
        schema: Value,
        raw: Option<Value>,
    },
    /// Any JSON object (OpenAI's `json_object`).
    JsonObject,
}

impl Format {
    /// OpenAI's `response_format`; `None` for `{"type": "text"}`.
    pub fn from_openai(rf: Value) -> Result<Option<Self>> {
        let bad = || {
            LlmError::config(
                "response_format must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or \
                 {\"type\": \"json_schema\", \"json_schema\": {\"name\": ..., \"schema\": {...}}}",
            )
        };
        match rf.get("type").and_then(Value::as_str) {
            Some("text") => Ok(None),
            Some("json_object") => Ok(Some(Self::JsonObject)),
            Some("json_schema") => {
                let spec = rf.get("json_schema").ok_or_else(bad)?;
                let schema = spec
                    .get("schema")
                    .filter(|s| s.is_object())
                    .ok_or_else(bad)?;
                let name = spec
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("response");
                Ok(Some(Self::JsonSchema {
                    name: name.to_string(),
                    schema: schema.clone(),
                    raw: Some(rf.clone()),
                }))
            }
            _ => Err(bad()),
        }
    }

    /// Anthropic's `output_config.format` (`{"type": "json_schema", "schema": {...}}`).
    pub fn from_anthropic(format: &Value) -> Result<Self> {
        match (
            format.get("type").and_then(Value::as_str),
            format.get("schema"),
        ) {
            (Some("json_schema"), Some(schema)) if schema.is_object() => Ok(Self::JsonSchema {
                name: "response".into(),
                schema: schema.clone(),
                raw: None,
            }),
            _ => Err(LlmError::config(
                "output_config.format must be {\"type\": \"json_schema\", \"schema\": {...}}",
            )),
        }
    }
}

/// One chat request as an endpoint received it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub wire: Wire,
    /// The name the caller sent as `model`: a virtual model, or "provider/model".
    pub model: String,
    /// The request in unified terms, with no extra fields and no structured output yet.
    pub request: ChatRequest,
    /// The fields of the endpoint's wire the library does not model.
    pub extras: Map<String, Value>,
    pub format: Option<Format>,
    pub stream: bool,
    /// OpenAI's `stream_options.include_usage`: usage in a chunk of its own at the end.
    pub include_usage: bool,
}

impl Incoming {
    /// The request for a target of `provider`.
    pub fn for_target(&self, provider: &str) -> Result<ChatRequest> {
        let mut req = self.request.clone();
        let wire = Wire::of(provider);
        if wire == self.wire {
            req.extra_body = self.extras.clone();
        }
        match &self.format {
            None => {}
            Some(Format::JsonSchema { raw: Some(raw), .. }) if wire == Wire::OpenAi => {
                req.extra_body.insert("response_format".into(), raw.clone());
            }
            Some(Format::JsonSchema { name, schema, .. }) => {
                let compiled = Schema::compiled(schema)?;
                shape(&mut req, Mode::JsonSchema, provider, name, &compiled);
            }
            Some(Format::JsonObject) => {
                let any = Schema::compiled(&serde_json::json!({"type": "object"}))?;
                shape(&mut req, Mode::Json, provider, "response", &any);
            }
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn incoming(wire: Wire, format: Option<Format>) -> Incoming {
        let mut extras = Map::new();
        extras.insert("seed".into(), json!(7));
        Incoming {
            wire,
            model: "fast".into(),
            request: ChatRequest::default(),
            extras,
            format,
            stream: false,
            include_usage: false,
        }
    }

    #[test]
    fn extra_fields_go_only_to_a_target_of_the_same_wire() {
        let inc = incoming(Wire::OpenAi, None);
        assert_eq!(inc.for_target("openrouter").unwrap().extra_body["seed"], 7);
        assert!(inc.for_target("anthropic").unwrap().extra_body.is_empty());
        let inc = incoming(Wire::Anthropic, None);
        assert!(inc.for_target("openai").unwrap().extra_body.is_empty());
        assert_eq!(inc.for_target("anthropic").unwrap().extra_body["seed"], 7);
    }

    #[test]
    fn a_json_schema_response_format_reaches_openai_as_sent_and_anthropic_as_output_config() {
        let rf = json!({"type": "json_schema", "json_schema": {"name": "city", "strict": true,
            "schema": {"type": "object", "properties": {"name": {"type": "string"}},
                       "required": ["name"], "additionalProperties": false}}});
        let format = Format::from_openai(rf.clone()).unwrap();
        let inc = incoming(Wire::OpenAi, format);
        assert_eq!(
            inc.for_target("openai").unwrap().extra_body["response_format"],
            rf
        );
        let a = inc.for_target("anthropic").unwrap();
        assert_eq!(
            a.extra_body["output_config"]["format"]["type"],
            "json_schema"
        );
        assert_eq!(
            a.extra_body["output_config"]["format"]["schema"]["required"],
            json!(["name"])
        );
        assert!(!a.extra_body.contains_key("response_format"));
    }

    #[test]
    fn json_object_becomes_an_instruction_for_anthropic() {
        let inc = incoming(Wire::OpenAi, Some(Format::JsonObject));
        let a = inc.for_target("anthropic").unwrap();
        assert!(a.system.unwrap().contains("JSON"));
        let o = inc.for_target("openai").unwrap();
        assert_eq!(o.extra_body["response_format"]["type"], "json_object");
    }

    #[test]
    fn anthropics_output_config_reaches_openai_as_a_response_format() {
        let format = Format::from_anthropic(&json!({"type": "json_schema",
            "schema": {"type": "object"}}))
        .unwrap();
        let inc = incoming(Wire::Anthropic, Some(format));
        let o = inc.for_target("openai").unwrap();
        assert_eq!(o.extra_body["response_format"]["type"], "json_schema");
    }

    #[test]
    fn a_text_response_format_asks_for_nothing_and_a_bad_one_is_refused() {
        assert_eq!(Format::from_openai(json!({"type": "text"})).unwrap(), None);
        assert!(Format::from_openai(json!({"type": "xml"})).is_err());
        assert!(Format::from_openai(json!({"type": "json_schema"})).is_err());
    }
}
