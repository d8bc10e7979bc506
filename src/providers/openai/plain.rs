//! The body of a plain chat request (text messages, no tools, nothing in `extra_body`) written
//! straight from the request's fields, byte for byte what the `Value` tree of `openai.rs`
//! serialises to (its keys in the same sorted order): the tree's allocations, one per key and
//! per string, and its drop were ~5k instructions of a call's ~90k (callgrind, 256 in flight).
//! Every other request builds the tree.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::model::{ChatRequest, ContentPart, Message, Role};

/// What the body carries besides the request's own fields.
pub(super) struct Extras<'a> {
    pub model: &'a str,
    /// `max_tokens`, or `max_completion_tokens` for api.openai.com and Azure.
    pub max_key: &'static str,
    pub stream: bool,
    pub prompt_cache_key: Option<&'a str>,
}

/// The body as JSON, or `None` when `req` is not plain (the caller builds the tree).
pub(super) fn body(req: &ChatRequest, extras: &Extras<'_>) -> Option<serde_json::Result<Vec<u8>>> {
    let plain = req.extra_body.is_empty()
        && req.tools.is_empty()
        && req.tool_choice.is_none()
        && req.messages.iter().all(|m| text_of(m).is_some());
    plain.then(|| serde_json::to_vec(&Body { req, extras }))
}

/// The one text a plain message sends (`""` for none), or `None` if it is not plain.
fn text_of(m: &Message) -> Option<&str> {
    if !m.tool_calls.is_empty() || m.tool_call_id.is_some() || m.name.is_some() {
        return None;
    }
    let mut sent = m
        .content
        .iter()
        .filter(|p| !matches!(p, ContentPart::CacheBreakpoint(_)));
    match (sent.next(), sent.next()) {
        (None, _) => Some(""),
        (Some(ContentPart::Text(t)), None) => Some(t),
        _ => None,
    }
}

struct Body<'a> {
    req: &'a ChatRequest,
    extras: &'a Extras<'a>,
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (req, x) = (self.req, self.extras);
        let mut map = s.serialize_map(None)?;
        // In the tree's order: its map sorts its keys.
        if let Some(n) = req.max_tokens {
            map.serialize_entry(x.max_key, &n)?;
        }
        map.serialize_entry("messages", &Messages(req))?;
        map.serialize_entry("model", x.model)?;
        if let Some(key) = x.prompt_cache_key {
            map.serialize_entry("prompt_cache_key", key)?;
        }
        if !req.stop.is_empty() {
            map.serialize_entry("stop", &req.stop)?;
        }
        if x.stream {
            map.serialize_entry("stream", &true)?;
            map.serialize_entry("stream_options", &IncludeUsage)?;
        }
        if let Some(t) = req.temperature {
            map.serialize_entry("temperature", &t)?;
        }
        if let Some(p) = req.top_p {
            map.serialize_entry("top_p", &p)?;
        }
        map.end()
    }
}

struct Messages<'a>(&'a ChatRequest);

impl Serialize for Messages<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let req = self.0;
        let mut seq = s.serialize_seq(None)?;
        if let Some(system) = &req.system {
            seq.serialize_element(&Text(system, Role::System))?;
        }
        for m in &req.messages {
            seq.serialize_element(&Text(text_of(m).unwrap_or_default(), m.role))?;
        }
        seq.end()
    }
}

struct Text<'a>(&'a str, Role);

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("content", self.0)?;
        map.serialize_entry("role", &self.1)?;
        map.end()
    }
}

struct IncludeUsage;

impl Serialize for IncludeUsage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("include_usage", &true)?;
        map.end()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{CacheTtl, ToolCall};

    fn extras(stream: bool, key: Option<&'static str>) -> Extras<'static> {
        Extras {
            model: "gpt-4.1-mini",
            max_key: "max_tokens",
            stream,
            prompt_cache_key: key,
        }
    }

    /// The plain body, checked byte for byte against the tree's.
    fn same_as_tree(req: &ChatRequest, x: &Extras<'_>) -> String {
        let plain = body(req, x).unwrap().unwrap();
        let tree = super::super::to_bytes(&super::super::tree(req, x), &req.extra_body).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&plain),
            String::from_utf8_lossy(&tree)
        );
        String::from_utf8(plain).unwrap()
    }

    #[test]
    fn a_plain_request_is_written_as_its_tree_would_be() {
        let mut req = ChatRequest {
            messages: vec![Message::user("Explain \"pooling\"\n, é ✓")],
            max_tokens: Some(600),
            ..Default::default()
        };
        let got = same_as_tree(&req, &extras(false, None));
        assert_eq!(
            got,
            r#"{"max_tokens":600,"messages":[{"content":"Explain \"pooling\"\n, é ✓","role":"user"}],"model":"gpt-4.1-mini"}"#
        );
        req.system = Some("be brief".into());
        req.messages.push(Message::text(Role::Assistant, "ok"));
        req.messages.push(Message {
            content: vec![
                ContentPart::Text("again".into()),
                ContentPart::CacheBreakpoint(CacheTtl::FiveMinutes),
            ],
            ..Message::user("")
        });
        req.messages.push(Message {
            content: vec![],
            ..Message::user("")
        });
        req.temperature = Some(0.7);
        req.top_p = Some(1.0);
        req.stop = vec!["END".into(), "STOP".into()];
        same_as_tree(&req, &extras(true, Some("key-1")));
        req.temperature = Some(f64::NAN);
        req.max_tokens = None;
        same_as_tree(
            &req,
            &Extras {
                max_key: "max_completion_tokens",
                ..extras(false, None)
            },
        );
    }

    #[test]
    fn a_request_with_tools_images_or_extra_fields_builds_the_tree() {
        let base = ChatRequest {
            messages: vec![Message::user("hi")],
            ..Default::default()
        };
        let x = extras(false, None);
        let mut extra = base.clone();
        extra.extra_body.insert("seed".into(), json!(1));
        let mut image = base.clone();
        image.messages[0]
            .content
            .push(ContentPart::Image(crate::model::ImageSource::Url(
                "https://example.com/a.png".into(),
            )));
        let mut call = base.clone();
        call.messages.push(Message {
            tool_calls: vec![ToolCall::from_text("c1".into(), "f".into(), "{}".into())],
            ..Message::text(Role::Assistant, "")
        });
        let mut named = base.clone();
        named.messages[0].name = Some("ann".into());
        for req in [extra, image, call, named] {
            assert!(body(&req, &x).is_none());
        }
    }
}
