//! A [`ChatRequest`] as a Converse request body: `system` blocks, `messages` of content blocks
//! (text, images as base64 bytes, `toolUse`, `toolResult`), `toolConfig`, `inferenceConfig`,
//! and `cachePoint` blocks where the prompt-cache plan (or the caller) put breakpoints.
//!
//! A cache point caches everything before it, in the order tools, system, messages; Bedrock
//! takes at most four (the planner keeps to that) and, as Anthropic does, wants 1-hour entries
//! before 5-minute ones, so a 1-hour point after a 5-minute one is sent as 5 minutes.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::cache::CachePlan;
use crate::error::{LlmError, Result};
use crate::model::*;
use crate::providers::to_bytes;

/// The extra_body key whose object is merged into the `inferenceConfig` written here, rather
/// than replacing it.
const INFERENCE_CONFIG: &str = "inferenceConfig";

/// Whether `model` takes a cache point among its tools: AWS's prompt-caching guide lists tools
/// as a checkpoint place for the Claude models only (Nova caches system and messages).
fn caches_tools(model: &str) -> bool {
    model.contains("anthropic.")
}

pub(super) fn body(req: &ChatRequest, model: &str, plan: &CachePlan) -> Result<Bytes> {
    let mut points = Points::default();
    let mut body = Map::new();
    // Prompt order (tools, system, messages): the TTL rule depends on it.
    let tools_plan = CachePlan {
        tools: plan.tools.filter(|_| caches_tools(model)),
        ..Default::default()
    };
    let tools = tool_config(req, &tools_plan, &mut points);
    let system = system(req, plan, &mut points);
    body.insert(
        "messages".into(),
        Value::Array(messages(req, plan, &mut points)?),
    );
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    if let Some(tools) = tools {
        body.insert("toolConfig".into(), tools);
    }
    let mut inference = Map::new();
    if let Some(n) = req.max_tokens {
        inference.insert("maxTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        inference.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        inference.insert("topP".into(), json!(p));
    }
    if !req.stop.is_empty() {
        inference.insert("stopSequences".into(), json!(req.stop));
    }
    let extra_inference = req.extra_body.get(INFERENCE_CONFIG);
    if let Some(Value::Object(extra)) = extra_inference {
        for (k, v) in extra {
            inference.insert(k.clone(), v.clone());
        }
    }
    if !inference.is_empty() {
        body.insert(INFERENCE_CONFIG.into(), Value::Object(inference));
    }
    check_extra_body(req)?;
    match extra_inference {
        Some(Value::Object(_)) => {
            let rest: Map<String, Value> = req
                .extra_body
                .iter()
                .filter(|(k, _)| *k != INFERENCE_CONFIG)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            to_bytes(&body, &rest)
        }
        _ => to_bytes(&body, &req.extra_body),
    }
}

/// Places cache points, keeping 1-hour entries before 5-minute ones.
#[derive(Default)]
struct Points {
    seen_5m: bool,
}

impl Points {
    /// A cache point after the last of `blocks` (none before the first block, none twice).
    fn after(&mut self, blocks: &mut Vec<Value>, ttl: CacheTtl) {
        match blocks.last() {
            None => return,
            Some(last) if last.get("cachePoint").is_some() => return,
            Some(_) => {}
        }
        let ttl = match ttl {
            CacheTtl::OneHour if self.seen_5m => CacheTtl::FiveMinutes,
            t => t,
        };
        blocks.push(json!({ "cachePoint": point(ttl) }));
        self.seen_5m |= ttl == CacheTtl::FiveMinutes;
    }
}

/// `{"type": "default"}`, Bedrock's 5 minutes, or with `"ttl": "1h"`.
fn point(ttl: CacheTtl) -> Value {
    match ttl {
        CacheTtl::FiveMinutes => json!({"type": "default"}),
        CacheTtl::OneHour => json!({"type": "default", "ttl": "1h"}),
    }
}

/// `toolConfig`: each tool as a `toolSpec`, the caller's cache markers and the plan's, and the
/// tool choice. Bedrock has no "none" choice: with it and no tool use in the conversation the
/// tools are left out (the model cannot call what it does not see); a conversation that holds
/// tool use must send its tools, so they go without a choice (the model's own).
fn tool_config(req: &ChatRequest, plan: &CachePlan, points: &mut Points) -> Option<Value> {
    if req.tools.is_empty() {
        return None;
    }
    let used = req
        .messages
        .iter()
        .any(|m| !m.tool_calls.is_empty() || m.role == Role::Tool);
    if req.tool_choice == Some(ToolChoice::None) && !used {
        return None;
    }
    let mut tools = Vec::with_capacity(req.tools.len().saturating_add(1));
    for t in &req.tools {
        let mut spec = Map::new();
        spec.insert("name".into(), Value::String(t.name.clone()));
        if let Some(d) = t.description.as_deref().filter(|d| !d.is_empty()) {
            spec.insert("description".into(), Value::String(d.to_string()));
        }
        spec.insert("inputSchema".into(), json!({ "json": t.parameters }));
        if let Some(strict) = t.strict {
            spec.insert("strict".into(), Value::Bool(strict));
        }
        tools.push(json!({ "toolSpec": spec }));
        if let Some(ttl) = t.cache_control {
            points.after(&mut tools, ttl);
        }
    }
    if let Some(ttl) = plan.tools {
        points.after(&mut tools, ttl);
    }
    let mut config = Map::new();
    config.insert("tools".into(), Value::Array(tools));
    let choice = match &req.tool_choice {
        Some(ToolChoice::Auto) => Some(json!({"auto": {}})),
        Some(ToolChoice::Required) => Some(json!({"any": {}})),
        Some(ToolChoice::Tool(name)) => Some(json!({"tool": {"name": name}})),
        Some(ToolChoice::None) | None => None,
    };
    if let Some(choice) = choice {
        config.insert("toolChoice".into(), choice);
    }
    Some(Value::Object(config))
}

/// `req.system` and every system or developer message as text blocks (Bedrock refuses empty
/// ones), with the caller's markers and the plan's.
fn system(req: &ChatRequest, plan: &CachePlan, points: &mut Points) -> Vec<Value> {
    let mut blocks: Vec<Value> = req
        .system
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| json!({ "text": s }))
        .collect();
    let parts = req
        .messages
        .iter()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
        .flat_map(|m| &m.content);
    for p in parts {
        match p {
            ContentPart::Text(t) if !t.is_empty() => blocks.push(json!({ "text": t })),
            ContentPart::CacheBreakpoint(ttl) => points.after(&mut blocks, *ttl),
            _ => {}
        }
    }
    if let Some(ttl) = plan.system {
        points.after(&mut blocks, ttl);
    }
    blocks
}

/// The conversation: tool results are `toolResult` blocks of a user turn, assistant tool calls
/// `toolUse` blocks, and turns of one role in a row are merged (Bedrock wants them alternating,
/// and the answers to parallel calls together).
fn messages(req: &ChatRequest, plan: &CachePlan, points: &mut Points) -> Result<Vec<Value>> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let mut blocks = Vec::with_capacity(m.content.len().saturating_add(m.tool_calls.len()));
        let role = match m.role {
            Role::System | Role::Developer => continue,
            Role::User | Role::Assistant => {
                for p in &m.content {
                    match p {
                        ContentPart::CacheBreakpoint(ttl) => points.after(&mut blocks, *ttl),
                        p => blocks.extend(part(p)?),
                    }
                }
                for c in &m.tool_calls {
                    blocks.push(json!({"toolUse": {
                        "toolUseId": c.id,
                        "name": c.name,
                        "input": c.arguments_or_empty(),
                    }}));
                }
                if m.role == Role::User {
                    "user"
                } else {
                    "assistant"
                }
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().ok_or_else(|| {
                    LlmError::config(
                        "a message with role \"tool\" needs the \"tool_call_id\" of the call it answers",
                    )
                })?;
                let mut content = Vec::with_capacity(m.content.len());
                for p in &m.content {
                    content.extend(part(p)?);
                }
                blocks.push(json!({"toolResult": {"toolUseId": id, "content": content}}));
                // A marker inside a tool result closes the result block.
                for p in &m.content {
                    if let ContentPart::CacheBreakpoint(ttl) = p {
                        points.after(&mut blocks, *ttl);
                    }
                }
                "user"
            }
        };
        if let Some((_, ttl)) = plan.message.filter(|(k, _)| *k == i) {
            // An empty message has no block of its own: its prefix ends where the last one did.
            if blocks.is_empty() {
                if let Some((_, last)) = out.last_mut() {
                    points.after(last, ttl);
                }
            } else {
                points.after(&mut blocks, ttl);
            }
        }
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, existing)) if *last == role => existing.append(&mut blocks),
            _ => out.push((role, blocks)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect())
}

/// A content part as a Converse block; empty text is dropped (Bedrock refuses it).
fn part(p: &ContentPart) -> Result<Option<Value>> {
    Ok(match p {
        ContentPart::Text(t) if t.is_empty() => None,
        ContentPart::Text(t) => Some(json!({ "text": t })),
        ContentPart::Image(ImageSource::Base64 { media_type, data }) => {
            let format = image_format(media_type).ok_or_else(|| {
                LlmError::config(format!(
                    "Bedrock takes PNG, JPEG, GIF and WebP images; got {media_type:?}"
                ))
            })?;
            Some(json!({"image": {"format": format, "source": {"bytes": data}}}))
        }
        ContentPart::Image(ImageSource::Url(u)) if u.starts_with("s3://") => {
            let ext = u.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
            let format = image_format(&format!("image/{ext}")).ok_or_else(|| {
                LlmError::config(format!(
                    "the image {u:?} needs a .png, .jpg, .gif or .webp name for Bedrock to read it"
                ))
            })?;
            Some(json!({"image": {"format": format, "source": {"s3Location": {"uri": u}}}}))
        }
        ContentPart::Image(ImageSource::Url(_)) => {
            return Err(LlmError::config(
                "Bedrock reads images from their bytes or from s3:// locations, not from web \
                 URLs: pass the image as a data: URL (base64)",
            ))
        }
        ContentPart::CacheBreakpoint(_) => None,
    })
}

/// Bedrock's `ImageFormat` for a media type.
fn image_format(media_type: &str) -> Option<&'static str> {
    let subtype = media_type
        .split(';')
        .next()?
        .trim()
        .strip_prefix("image/")?
        .to_ascii_lowercase();
    Some(match subtype.as_str() {
        "png" => "png",
        "jpeg" | "jpg" => "jpeg",
        "gif" => "gif",
        "webp" => "webp",
        _ => return None,
    })
}
