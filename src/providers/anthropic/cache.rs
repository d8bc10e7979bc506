//! `cache_control` on the Anthropic wire: the marker JSON, the TTL order the API enforces, the
//! beta header a 1-hour TTL needs, and the two sections whose shape depends on markers (tools,
//! and the system prompt, which becomes a block list when marked). Where the markers go is
//! decided in `crate::cache`.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};

use crate::cache::CachePlan;
use crate::model::{CacheTtl, ChatRequest, ContentPart, Message, Role};
use crate::providers::tool_fields;

/// Without this beta the API silently keeps 1-hour entries for 5 minutes (it was required when
/// the 1-hour TTL shipped, and is still accepted now that it is documented without it).
pub const EXTENDED_TTL_BETA: &str = "extended-cache-ttl-2025-04-11";

/// `{"type": "ephemeral"}` (5 minutes, the default) or with `"ttl": "1h"`.
pub fn control(ttl: CacheTtl) -> Value {
    match ttl {
        CacheTtl::FiveMinutes => json!({"type": "ephemeral"}),
        CacheTtl::OneHour => json!({"type": "ephemeral", "ttl": "1h"}),
    }
}

/// Puts markers on blocks in prompt order (tools, system, messages), keeping 1-hour entries
/// before 5-minute ones: a 1-hour marker after a 5-minute one is sent as 5 minutes, which the
/// API accepts (the reverse order is a 400).
#[derive(Debug, Default)]
pub struct Marker {
    seen_5m: bool,
    /// Whether any marker went out as 1 hour (the request then needs the beta header).
    pub any_1h: bool,
}

impl Marker {
    /// Mark `block`, unless the caller already marked it (their marker is kept as is).
    pub fn mark(&mut self, block: &mut Value, ttl: CacheTtl) {
        let Some(obj) = block.as_object_mut() else {
            return;
        };
        if obj.contains_key("cache_control") {
            return;
        }
        let ttl = match ttl {
            CacheTtl::OneHour if self.seen_5m => CacheTtl::FiveMinutes,
            t => t,
        };
        match ttl {
            CacheTtl::FiveMinutes => self.seen_5m = true,
            CacheTtl::OneHour => self.any_1h = true,
        }
        obj.insert("cache_control".into(), control(ttl));
    }

    /// Mark the last of `blocks`, if there is one.
    pub fn mark_last(&mut self, blocks: &mut [Value], ttl: CacheTtl) {
        if let Some(last) = blocks.last_mut() {
            self.mark(last, ttl);
        }
    }
}

/// The tool definitions, with the caller's markers and the plan's on the last one.
pub fn tools(req: &ChatRequest, plan: &CachePlan, marker: &mut Marker) -> Value {
    let mut tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            let mut tool = Value::Object(tool_fields(t, "input_schema"));
            if let Some(ttl) = t.cache_control {
                marker.mark(&mut tool, ttl);
            }
            tool
        })
        .collect();
    if let Some(ttl) = plan.tools {
        marker.mark_last(&mut tools, ttl);
    }
    Value::Array(tools)
}

/// The system prompt: a string, or text blocks when a cache breakpoint lands in it.
pub fn system(req: &ChatRequest, plan: &CachePlan, marker: &mut Marker) -> Option<Value> {
    let sys = || req.messages.iter().filter(|m| is_system(m.role));
    let marked = plan.system.is_some()
        || sys().any(|m| {
            m.content
                .iter()
                .any(|p| matches!(p, ContentPart::CacheBreakpoint(_)))
        });
    if !marked {
        let mut parts: Vec<String> = req.system.iter().cloned().collect();
        parts.extend(sys().map(Message::joined_text));
        return (!parts.is_empty()).then(|| Value::String(parts.join("\n\n")));
    }
    let mut blocks: Vec<Value> = req
        .system
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| json!({"type": "text", "text": s}))
        .collect();
    for p in sys().flat_map(|m| &m.content) {
        match p {
            ContentPart::Text(t) if !t.is_empty() => {
                blocks.push(json!({"type": "text", "text": t}))
            }
            ContentPart::CacheBreakpoint(ttl) => marker.mark_last(&mut blocks, *ttl),
            _ => {}
        }
    }
    if let Some(ttl) = plan.system {
        marker.mark_last(&mut blocks, ttl);
    }
    (!blocks.is_empty()).then_some(Value::Array(blocks))
}

fn is_system(role: Role) -> bool {
    matches!(role, Role::System | Role::Developer)
}

/// Add a beta to `anthropic-beta`, keeping any the caller set.
pub fn add_beta(headers: &mut HeaderMap, beta: &'static str) {
    let name = HeaderName::from_static("anthropic-beta");
    let merged = match headers.get(&name).and_then(|v| v.to_str().ok()) {
        Some(existing) if existing.split(',').any(|b| b.trim() == beta) => return,
        Some(existing) if !existing.trim().is_empty() => {
            HeaderValue::from_str(&format!("{existing},{beta}")).ok()
        }
        _ => Some(HeaderValue::from_static(beta)),
    };
    if let Some(v) = merged {
        headers.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hour_after_five_minutes_is_sent_as_five_minutes() {
        let mut m = Marker::default();
        let mut blocks = [
            json!({}),
            json!({}),
            json!({}),
            json!({"cache_control": "x"}),
        ];
        m.mark(&mut blocks[0], CacheTtl::OneHour);
        m.mark(&mut blocks[1], CacheTtl::FiveMinutes);
        m.mark(&mut blocks[2], CacheTtl::OneHour);
        m.mark(&mut blocks[3], CacheTtl::OneHour);
        assert_eq!(blocks[0]["cache_control"]["ttl"], "1h");
        assert_eq!(blocks[2]["cache_control"], json!({"type": "ephemeral"}));
        assert_eq!(blocks[3]["cache_control"], "x");
        assert!(m.any_1h);
    }

    #[test]
    fn betas_are_merged() {
        let mut h = HeaderMap::new();
        add_beta(&mut h, EXTENDED_TTL_BETA);
        add_beta(&mut h, EXTENDED_TTL_BETA);
        assert_eq!(h["anthropic-beta"], EXTENDED_TTL_BETA);
        h.insert(
            "anthropic-beta",
            HeaderValue::from_static("files-api-2025-04-14"),
        );
        add_beta(&mut h, EXTENDED_TTL_BETA);
        assert_eq!(
            h["anthropic-beta"],
            "files-api-2025-04-14,extended-cache-ttl-2025-04-11"
        );
    }
}
