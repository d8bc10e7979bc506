//! Reading the OpenAI input shape: content as a string or a list of parts (text, image URLs and
//! `data:` URLs, cache markers), assistant `tool_calls` with JSON-string arguments, and the
//! three shapes of tool specs and tool choices users write.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::*;

pub(super) fn content_parts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ContentPart>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Content {
        Text(String),
        Parts(Vec<Part>),
    }
    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Part {
        Text {
            text: String,
            #[serde(default)]
            cache_control: Option<CacheControl>,
        },
        ImageUrl {
            image_url: ImageUrl,
            #[serde(default)]
            cache_control: Option<CacheControl>,
        },
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ImageUrl {
        Object { url: String },
        Plain(String),
    }
    let parsed: Option<Content> = Option::deserialize(d)?;
    Ok(match parsed {
        None => Vec::new(),
        Some(Content::Text(t)) => vec![ContentPart::Text(t)],
        Some(Content::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                let marker = match p {
                    Part::Text {
                        text,
                        cache_control,
                    } => {
                        out.push(ContentPart::Text(text));
                        cache_control
                    }
                    Part::ImageUrl {
                        image_url,
                        cache_control,
                    } => {
                        let url = match image_url {
                            ImageUrl::Object { url } | ImageUrl::Plain(url) => url,
                        };
                        out.push(ContentPart::Image(image_source(url)));
                        cache_control
                    }
                };
                if let Some(marker) = marker {
                    out.push(ContentPart::CacheBreakpoint(
                        marker.ttl().map_err(serde::de::Error::custom)?,
                    ));
                }
            }
            out
        }
    })
}

/// `data:image/png;base64,AAAA` becomes inline bytes; anything else stays a URL.
pub fn image_source(url: String) -> ImageSource {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((meta, data)) = rest.split_once(',') {
            if let Some(media_type) = meta.strip_suffix(";base64") {
                return ImageSource::Base64 {
                    media_type: media_type.to_string(),
                    data: data.to_string(),
                };
            }
        }
    }
    ImageSource::Url(url)
}

pub(super) fn openai_tool_calls<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ToolCall>, D::Error> {
    #[derive(Deserialize)]
    struct Wire {
        id: String,
        function: Function,
    }
    #[derive(Deserialize)]
    struct Function {
        name: String,
        #[serde(default)]
        arguments: Value,
    }
    let wire: Option<Vec<Wire>> = Option::deserialize(d)?;
    wire.unwrap_or_default()
        .into_iter()
        .map(|w| {
            // OpenAI sends arguments as a JSON string; users also hand us dicts. A string goes
            // back as the model wrote it even when it is not JSON (LangChain echoes invalid
            // calls, as ChatOpenAI does, so the model sees its slip); another value that is not
            // an object is the caller's mistake.
            let text = w.function.arguments.is_string();
            let call = ToolCall::from_value(w.id, w.function.name, w.function.arguments);
            if call.arguments.is_none() && !text {
                return Err(serde::de::Error::custom(format!(
                    "tool call {:?}: arguments must be a dict or the JSON text the model sent, got {}",
                    call.name, call.raw_arguments
                )));
            }
            Ok(call)
        })
        .collect()
}

impl<'de> Deserialize<'de> for ToolSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Flat {
            name: String,
            #[serde(default)]
            description: Option<String>,
            #[serde(default, alias = "input_schema")]
            parameters: Option<Value>,
            #[serde(default)]
            strict: Option<bool>,
            #[serde(default)]
            cache_control: Option<CacheControl>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            OpenAi {
                function: Flat,
                // LiteLLM puts a tool's marker beside "function".
                #[serde(default)]
                cache_control: Option<CacheControl>,
            },
            Flat(Flat),
        }
        let flat = match Shape::deserialize(d)? {
            Shape::OpenAi {
                mut function,
                cache_control,
            } => {
                function.cache_control = function.cache_control.or(cache_control);
                function
            }
            Shape::Flat(f) => f,
        };
        Ok(ToolSpec {
            name: flat.name,
            description: flat.description,
            parameters: flat
                .parameters
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
            strict: flat.strict,
            cache_control: flat
                .cache_control
                .map(|c| c.ttl())
                .transpose()
                .map_err(serde::de::Error::custom)?,
        })
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let named = |v: &Value| -> Option<String> {
            v.pointer("/function/name")
                .or_else(|| v.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match &v {
            Value::String(s) => match s.as_str() {
                "auto" => Ok(Self::Auto),
                "none" => Ok(Self::None),
                "required" | "any" => Ok(Self::Required),
                name => Ok(Self::Tool(name.to_string())),
            },
            Value::Object(_) => match v.get("type").and_then(Value::as_str) {
                Some("auto") => Ok(Self::Auto),
                Some("none") => Ok(Self::None),
                Some("any") | Some("required") => Ok(Self::Required),
                _ => named(&v).map(Self::Tool).ok_or_else(|| {
                    serde::de::Error::custom("tool_choice must be \"auto\", \"none\", \"required\", a tool name, or {\"type\": \"function\", \"function\": {\"name\": ...}}")
                }),
            },
            _ => Err(serde::de::Error::custom("tool_choice must be a string or a dict")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_messages_deserialise() -> Result<(), serde_json::Error> {
        let m: Vec<Message> = serde_json::from_value(json!([
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}
        ]))?;
        assert_eq!(m[0].content.len(), 3);
        assert_eq!(
            m[0].content[1],
            ContentPart::Image(ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "AAAA".into()
            })
        );
        assert_eq!(m[1].tool_calls[0].arguments_or_empty(), json!({"a": 1}));
        assert_eq!(m[1].tool_calls[0].raw_arguments, "{\"a\": 1}");
        assert_eq!(m[2].tool_call_id.as_deref(), Some("call_1"));
        Ok(())
    }

    #[test]
    fn an_assistant_tool_call_keeps_the_models_text_even_when_it_is_not_json(
    ) -> Result<(), serde_json::Error> {
        let m: Message = serde_json::from_value(json!({"role": "assistant", "tool_calls": [
            {"id": "c1", "function": {"name": "f", "arguments": "{\"a\": tru"}}]}))?;
        assert_eq!(m.tool_calls[0].arguments, None);
        assert_eq!(m.tool_calls[0].raw_arguments, "{\"a\": tru");
        let refused =
            serde_json::from_value::<Message>(json!({"role": "assistant", "tool_calls": [
            {"id": "c1", "function": {"name": "f", "arguments": [1, 2]}}]}));
        assert!(refused.is_err());
        Ok(())
    }

    #[test]
    fn tool_specs_accept_three_shapes() -> Result<(), serde_json::Error> {
        let t: Vec<ToolSpec> = serde_json::from_value(json!([
            {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
            {"name": "b", "description": "d"},
            {"name": "c", "input_schema": {"type": "object", "properties": {"x": {}}}}
        ]))?;
        assert_eq!(t[0].name, "a");
        assert_eq!(t[1].parameters["type"], "object");
        assert!(t[2].parameters["properties"].get("x").is_some());
        Ok(())
    }

    #[test]
    fn tool_choice_shapes() -> Result<(), serde_json::Error> {
        let c: ToolChoice =
            serde_json::from_value(json!({"type": "function", "function": {"name": "f"}}))?;
        assert_eq!(c, ToolChoice::Tool("f".into()));
        let c: ToolChoice = serde_json::from_value(json!("required"))?;
        assert_eq!(c, ToolChoice::Required);
        Ok(())
    }
}
