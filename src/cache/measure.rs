//! One pass over a request: a rough token count and a content hash for every piece the cache
//! rules care about (each tool, the system prompt, each message), and the caller's own markers.
//! Planning runs on every call, so this avoids allocation and reads each byte at most twice.

use std::io;

use crate::model::{CacheTtl, ChatRequest, ContentPart, ImageSource, Message, Role};

pub use super::hash::Fx;

/// What an image costs in the prefix. Anthropic charges about width x height / 750 tokens and
/// downsizes past ~1.15 megapixels, so ~1,600 is the most one image costs. Overestimating only
/// risks a breakpoint the API ignores; underestimating would skip a cacheable prefix.
pub const IMAGE_TOKENS: u64 = 1_600;
/// Role markers and separators around each message.
const MESSAGE_OVERHEAD: u64 = 3;
/// Base64 images are hashed by length and both ends: hashing a megabyte per call would cost
/// more than the whole rest of planning, and an edited image almost never keeps both ends.
const IMAGE_SAMPLE: usize = 4_096;

/// How much to hash: rendering a plan needs no hashes, an OpenAI cache key those of the
/// static prefix (tools, system), the cache-break check every message's too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hashes {
    None,
    Static,
    All,
}

/// An [`Fx`] that can be switched off, so one measuring pass serves every [`Hashes`] level.
#[derive(Default)]
struct MaybeFx {
    fx: Fx,
    on: bool,
}

impl MaybeFx {
    fn new(on: bool) -> Self {
        Self {
            fx: Fx::default(),
            on,
        }
    }
    fn word(&mut self, w: u64) {
        if self.on {
            self.fx.word(w);
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        if self.on {
            self.fx.bytes(b);
        }
    }
    fn finish(self) -> u64 {
        self.fx.finish()
    }
}

/// A `Write` sink that hashes and counts what serde writes, so JSON is measured unallocated.
#[derive(Default)]
struct Sink {
    hash: MaybeFx,
    len: usize,
}

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hash.bytes(buf);
        self.len += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// (hash, token estimate) of a value as JSON.
fn json<T: serde::Serialize>(v: &T, hash: bool) -> (u64, u64) {
    let mut sink = Sink {
        hash: MaybeFx::new(hash),
        len: 0,
    };
    // Writing to a sink that never fails cannot fail for our own serialisable types.
    let _ = serde_json::to_writer(&mut sink, v);
    (sink.hash.finish(), (sink.len as u64).div_ceil(4))
}

/// About four characters per token for ASCII (English, code, JSON); about one per character
/// otherwise (CJK and accented words split finely). A fast lower-bound-ish estimate, not a
/// tokenizer: it only decides whether a prefix clears the model's minimum.
pub fn text_tokens(s: &str) -> u64 {
    if s.is_ascii() {
        return (s.len() as u64).div_ceil(4);
    }
    let (mut ascii, mut other) = (0u64, 0u64);
    for b in s.bytes() {
        ascii += u64::from(b < 0x80);
        other += u64::from(b >= 0xC0);
    }
    ascii.div_ceil(4) + other
}

/// Where a caller's marker sits, in prompt order: (section, index, part). Sections: 0 tools,
/// 1 system, 2 messages. A marker after part `p` of message `i` is `(2, i, p)`.
pub type Pos = (u8, usize, usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub pos: Pos,
    pub ttl: CacheTtl,
}

/// One piece of the prompt: its hash and estimated tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Piece {
    pub hash: u64,
    pub tokens: u64,
}

/// Every measure planning needs, from one pass.
#[derive(Debug, Default)]
pub struct Measured {
    pub tools: Vec<Piece>,
    pub system: Piece,
    pub has_system: bool,
    /// One per message; system messages measure zero tokens here (they count in `system`).
    pub messages: Vec<Piece>,
    pub marks: Vec<Mark>,
}

impl Measured {
    pub fn of(req: &ChatRequest, hashes: Hashes) -> Self {
        let statics = hashes >= Hashes::Static;
        let mut out = Measured {
            tools: Vec::with_capacity(req.tools.len()),
            messages: Vec::with_capacity(req.messages.len()),
            ..Default::default()
        };
        for (i, tool) in req.tools.iter().enumerate() {
            let (hash, tokens) = json(tool, statics);
            out.tools.push(Piece { hash, tokens });
            if let Some(ttl) = tool.cache_control {
                out.marks.push(Mark {
                    pos: (0, i, 0),
                    ttl,
                });
            }
        }
        let mut system = MaybeFx::new(statics);
        let mut system_tokens = 0;
        if let Some(s) = req.system.as_deref().filter(|s| !s.is_empty()) {
            system.bytes(s.as_bytes());
            system_tokens += text_tokens(s);
            out.has_system = true;
        }
        for (i, m) in req.messages.iter().enumerate() {
            let hashed = hashes == Hashes::All || (statics && is_system(m.role));
            let piece = message(m, i, &mut out.marks, hashed);
            if is_system(m.role) {
                system.word(piece.hash);
                system_tokens += piece.tokens;
                out.has_system |= piece.tokens > 0;
                out.messages.push(Piece {
                    hash: piece.hash,
                    tokens: 0,
                });
            } else {
                out.messages.push(piece);
            }
        }
        out.system = Piece {
            hash: system.finish(),
            tokens: system_tokens,
        };
        out
    }
}

pub fn is_system(role: Role) -> bool {
    matches!(role, Role::System | Role::Developer)
}

fn message(m: &Message, i: usize, marks: &mut Vec<Mark>, hashed: bool) -> Piece {
    let mut h = MaybeFx::new(hashed);
    let mut tokens = MESSAGE_OVERHEAD;
    let section = if is_system(m.role) { 1 } else { 2 };
    h.word(m.role as u64);
    for (j, part) in m.content.iter().enumerate() {
        match part {
            ContentPart::Text(t) => {
                h.bytes(t.as_bytes());
                tokens += text_tokens(t);
            }
            ContentPart::Image(ImageSource::Url(u)) => {
                h.bytes(u.as_bytes());
                tokens += IMAGE_TOKENS;
            }
            ContentPart::Image(ImageSource::Base64 { media_type, data }) => {
                h.bytes(media_type.as_bytes());
                let d = data.as_bytes();
                if d.len() <= 2 * IMAGE_SAMPLE {
                    h.bytes(d);
                } else {
                    h.word(d.len() as u64);
                    h.bytes(&d[..IMAGE_SAMPLE]);
                    h.bytes(&d[d.len() - IMAGE_SAMPLE..]);
                }
                tokens += IMAGE_TOKENS;
            }
            ContentPart::CacheBreakpoint(ttl) => {
                marks.push(Mark {
                    pos: (section, i, j),
                    ttl: *ttl,
                });
                h.word(*ttl as u64 + 1);
            }
        }
    }
    for call in &m.tool_calls {
        h.bytes(call.id.as_bytes());
        h.bytes(call.name.as_bytes());
        let (args, args_tokens) = json(&call.arguments, hashed);
        h.word(args);
        tokens += text_tokens(&call.name) + args_tokens;
    }
    if let Some(id) = &m.tool_call_id {
        h.bytes(id.as_bytes());
    }
    if let Some(name) = &m.name {
        h.bytes(name.as_bytes());
    }
    Piece {
        hash: h.finish(),
        tokens,
    }
}

/// The system prompt as the Anthropic wire sends it in string form: the `system` argument,
/// then every system or developer message, joined by blank lines. Used to point at the
/// character that changed when the cache breaks.
pub fn system_text(req: &ChatRequest) -> String {
    let mut parts: Vec<String> = req.system.iter().cloned().collect();
    for m in req.messages.iter().filter(|m| is_system(m.role)) {
        parts.push(m.joined_text());
    }
    parts.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_are_rough_but_sane() {
        assert_eq!(text_tokens(""), 0);
        assert_eq!(text_tokens("abcd"), 1);
        assert_eq!(text_tokens(&"word ".repeat(800)), 1000);
        // Three CJK characters: about one token each.
        assert_eq!(text_tokens("日本語"), 3);
    }
}
