//! The Messages body of a plain request (text turns only: no tools, images, tool turns or
//! cache markers, no extra body fields), serialised straight from the request's strings. The
//! general builder (`anthropic.rs`) makes a tree of `serde_json::Value`s and a map for each
//! object first: for a 10,000-item batch that was a tenth of its instructions (callgrind). The
//! bytes are the same as that builder's, keys in its (the map's alphabetical) order: the test
//! `plain_bodies_are_the_general_builders_bytes` holds the two together.

use serde::Serialize;
use serde_json::Value;

use super::cache::{system, Marker};
use super::DEFAULT_MAX_TOKENS;
use crate::cache::CachePlan;
use crate::model::{ChatRequest, ContentPart, Role};
use crate::providers::Endpoint;

#[derive(Serialize)]
struct Body<'a> {
    max_tokens: u32,
    messages: Vec<Turn<'a>>,
    model: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
}

#[derive(Serialize)]
struct Turn<'a> {
    content: Content<'a>,
    role: &'static str,
}

/// One text block goes as the plain string form, as the general builder sends it.
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Blocks(Vec<Block<'a>>),
}

#[derive(Serialize)]
struct Block<'a> {
    text: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `None` when `req` is not plain (the general builder makes its body).
pub(super) fn body(
    ep: &Endpoint,
    req: &ChatRequest,
    stream: bool,
    plan: &CachePlan,
) -> Option<serde_json::Result<Vec<u8>>> {
    let unmarked = plan.tools.is_none()
        && plan.system.is_none()
        && plan.message.is_none()
        && plan.automatic.is_none();
    let plain = unmarked
        && req.tools.is_empty()
        && req.tool_choice.is_none()
        && req.extra_body.is_empty()
        && req.messages.iter().all(|m| {
            m.role != Role::Tool
                && m.tool_calls.is_empty()
                && m.content.iter().all(|p| matches!(p, ContentPart::Text(_)))
        });
    if !plain {
        return None;
    }
    // Same-role turns merged and system turns left out (they are the system prompt), empty
    // text dropped: as the general builder does.
    let mut turns: Vec<(Role, Vec<&str>)> = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        if matches!(m.role, Role::System | Role::Developer) {
            continue;
        }
        let texts = m.content.iter().filter_map(|p| match p {
            ContentPart::Text(t) if !t.is_empty() => Some(t.as_str()),
            _ => None,
        });
        match turns.last_mut() {
            Some((role, existing)) if *role == m.role => existing.extend(texts),
            _ => turns.push((m.role, texts.collect())),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, texts)| Turn {
            role: if role == Role::Assistant {
                "assistant"
            } else {
                "user"
            },
            content: match texts.as_slice() {
                [one] => Content::Text(one),
                _ => Content::Blocks(
                    texts
                        .iter()
                        .map(|text| Block { text, kind: "text" })
                        .collect(),
                ),
            },
        })
        .collect();
    let body = Body {
        max_tokens: req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        messages,
        model: &ep.model,
        stop_sequences: &req.stop,
        stream,
        system: system(req, plan, &mut Marker::default()),
        temperature: req.temperature,
        top_p: req.top_p,
    };
    Some(serde_json::to_vec(&body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use crate::cache::CachePlan;
    use crate::model::{ChatRequest, ContentPart, Message, Role};
    use crate::providers::Endpoint;

    fn turn(role: Role, texts: &[&str]) -> Message {
        let mut m = Message::user("");
        m.role = role;
        m.content = texts
            .iter()
            .map(|t| ContentPart::Text(t.to_string()))
            .collect();
        m
    }

    #[test]
    fn plain_bodies_are_the_general_builders_bytes() {
        let ep = Endpoint {
            base_url: "http://127.0.0.1:1".into(),
            api_key: None,
            model: "claude-sonnet-4-5".into(),
            headers: Default::default(),
            timeout: std::time::Duration::from_secs(1),
            aws: None,
        };
        let plan = CachePlan::default();
        let (u, a, s, d) = (Role::User, Role::Assistant, Role::System, Role::Developer);
        let conversations: Vec<Vec<Message>> = vec![
            vec![turn(u, &["Classify document 7"])],
            vec![turn(u, &["a", "", "b \"quoted\" \u{e9}\n"])],
            vec![turn(u, &[""]), turn(a, &[])],
            vec![
                turn(s, &["be brief"]),
                turn(u, &["x"]),
                turn(d, &["y"]),
                turn(u, &["z"]),
            ],
            vec![
                turn(u, &["q"]),
                turn(a, &["r"]),
                turn(a, &["s"]),
                turn(u, &["t"]),
            ],
            vec![],
        ];
        for (n, messages) in conversations.into_iter().enumerate() {
            for variant in 0..4 {
                let mut req = ChatRequest {
                    messages: messages.clone(),
                    ..ChatRequest::default()
                };
                if variant % 2 == 1 {
                    req.system = Some("sys".into());
                    req.max_tokens = Some(200);
                    req.temperature = Some(0.7);
                    req.top_p = Some(f64::NAN);
                    req.stop = vec!["END".into(), "".into()];
                }
                let stream = variant >= 2;
                let plain = super::body(&ep, &req, stream, &plan).unwrap().unwrap();
                let (general, _) = super::super::general_body(&ep, &req, stream, &plan).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&plain),
                    String::from_utf8_lossy(&general),
                    "conversation {n}, variant {variant}"
                );
            }
        }
        // Not plain: the general builder's.
        let mut req = ChatRequest {
            messages: vec![turn(u, &["x"])],
            ..ChatRequest::default()
        };
        req.extra_body
            .insert("metadata".into(), json!({"user_id": "u"}));
        assert!(super::body(&ep, &req, false, &plan).is_none());
    }
}
