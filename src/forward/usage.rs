//! What a forwarded answer used and cost: its token usage read from the known answers (OpenAI's
//! chat completions and responses, Anthropic's messages; whole or streamed), priced by the
//! model catalogue (`model::cost`). The bytes handed on are never altered: a stream is read
//! beside the caller, line by line, as its chunks pass.
//!
//! [`Spend`] is the one number type here, per answer and summed per client, small and plain so
//! that telemetry can take it as it is.

use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use serde::Deserialize;

use crate::error::Result;
use crate::model::{cost_usd, Usage};
use crate::providers::anthropic;
use crate::wire::encoding::Inflater;
use crate::wire::ByteStream;

/// Tokens used and what they cost, over `requests` answers (one, for a single answer).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    pub requests: u64,
    pub usage: Usage,
    /// The priced answers' cost in USD; `None` while no answer had a price.
    pub cost_usd: Option<f64>,
    /// Answers whose model has no price in the catalogue (their tokens still count).
    pub unpriced: u64,
}

impl Spend {
    /// One answer of `model`.
    pub fn of(model: &str, usage: Usage) -> Self {
        let cost = cost_usd(model, &usage);
        Self {
            requests: 1,
            usage,
            cost_usd: cost,
            unpriced: u64::from(cost.is_none()),
        }
    }

    pub fn add(&mut self, other: &Spend) {
        self.requests = self.requests.saturating_add(other.requests);
        self.usage.add(&other.usage);
        self.cost_usd = match (self.cost_usd, other.cost_usd) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.unpriced = self.unpriced.saturating_add(other.unpriced);
    }
}

/// Which answers' usage is read: the protocol of the request's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    OpenAi,
    Anthropic,
}

/// Where one answer's spend goes: its own slot (filled once, when known) and its client's sum.
#[derive(Clone)]
pub struct Meter {
    pub protocol: Protocol,
    /// Shared with the forwarder's target, which names it for every answer.
    pub model: Arc<str>,
    pub slot: Arc<OnceLock<Spend>>,
    pub total: Arc<Mutex<Spend>>,
}

impl Meter {
    fn settle(&self, usage: Usage) {
        let spend = Spend::of(&self.model, usage);
        if self.slot.set(spend).is_ok() {
            self.total
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(&spend);
        }
    }

    /// A whole body: its usage, if it has one.
    pub fn read(&self, body: &[u8]) -> Option<Spend> {
        self.settle(whole_usage(body)?.unify(self.protocol));
        self.slot.get().copied()
    }

    /// A streamed body, handed on unchanged; its usage is settled when the stream ends or is
    /// dropped (an SDK closes it right after the last event it needs). A compressed one
    /// (`content-encoding`) is read decoded; one in an encoding not decoded here is not read.
    pub fn watch(self, inner: ByteStream, encoding: Option<&str>) -> ByteStream {
        let inflater = encoding.map(Inflater::new);
        let meter = match inflater {
            Some(None) => None,
            _ => Some(self),
        };
        Box::pin(Metered {
            inner,
            inflater: inflater.flatten(),
            line: Vec::new(),
            usage: None,
            meter,
        })
    }
}

/// The usage fields of every known answer: OpenAI's chat (`prompt_tokens`...) and responses
/// (`input_tokens`...), Anthropic's (`input_tokens` without the cached ones).
#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    prompt_tokens_details: Option<Details>,
    input_tokens_details: Option<Details>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_creation: Option<CacheCreation>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct Details {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct CacheCreation {
    ephemeral_1h_input_tokens: Option<u64>,
}

impl WireUsage {
    fn unify(self, protocol: Protocol) -> Usage {
        match protocol {
            // OpenAI's input counts include the cached tokens.
            Protocol::OpenAi => Usage {
                input_tokens: self.prompt_tokens.or(self.input_tokens).unwrap_or(0),
                output_tokens: self.completion_tokens.or(self.output_tokens).unwrap_or(0),
                cache_read_tokens: self
                    .prompt_tokens_details
                    .or(self.input_tokens_details)
                    .and_then(|d| d.cached_tokens)
                    .unwrap_or(0),
                ..Usage::default()
            },
            Protocol::Anthropic => anthropic::unified_usage(
                self.input_tokens.unwrap_or(0),
                self.output_tokens.unwrap_or(0),
                self.cache_read_input_tokens.unwrap_or(0),
                self.cache_creation_input_tokens.unwrap_or(0),
                self.cache_creation
                    .and_then(|c| c.ephemeral_1h_input_tokens)
                    .unwrap_or(0),
            ),
        }
    }

    /// A later report in the same stream (Anthropic's message_delta) updates the earlier one.
    fn update(&mut self, newer: WireUsage) {
        macro_rules! newest {
            ($($f:ident),*) => { $(self.$f = newer.$f.or(self.$f);)* };
        }
        newest!(
            prompt_tokens,
            completion_tokens,
            input_tokens,
            output_tokens,
            prompt_tokens_details,
            input_tokens_details,
            cache_read_input_tokens,
            cache_creation_input_tokens,
            cache_creation
        );
    }
}

/// The `usage` at the top of a whole answer. Every known answer has it near its end, after the
/// text, and reading the whole answer is most of the meter's work (its text skipped byte by
/// byte: 18.6k of 21k instructions for a 2.7 KB chat answer, callgrind). So the answer is first
/// read from its last `"usage"` on, as though that key opened the object: only a key at the top
/// closes that object exactly where the answer ends (a deeper one leaves a `}` over, a string
/// value has no `:` after it). Anything else reads the whole answer.
fn whole_usage(body: &[u8]) -> Option<WireUsage> {
    let top_level = body.trim_ascii_start().first() == Some(&b'{');
    if let Some(at) = memchr::memmem::rfind(body, b"\"usage\"").filter(|_| top_level) {
        let mut tail = Vec::with_capacity(body.len() - at + 1);
        tail.push(b'{');
        tail.extend_from_slice(&body[at..]);
        if let Ok(top) = serde_json::from_slice::<Top>(&tail) {
            return top.usage;
        }
    }
    serde_json::from_slice::<Answer>(body).ok()?.usage
}

/// The top of a whole answer, as far as the meter reads it.
#[derive(Deserialize)]
struct Top {
    usage: Option<WireUsage>,
}

/// A whole answer, or one event of a stream: the usage at the top (OpenAI's chat chunks,
/// Anthropic's message_delta) or inside (`response.completed`, `message_start`).
#[derive(Deserialize)]
struct Answer {
    usage: Option<WireUsage>,
    response: Option<Inner>,
    message: Option<Inner>,
}

#[derive(Deserialize)]
struct Inner {
    usage: Option<WireUsage>,
}

impl Answer {
    fn usage(self) -> Option<WireUsage> {
        self.usage
            .or(self.response.and_then(|r| r.usage))
            .or(self.message.and_then(|m| m.usage))
    }
}

/// A stream read beside its caller, one SSE line at a time.
struct Metered {
    inner: ByteStream,
    /// For a compressed stream: its chunks as text.
    inflater: Option<Inflater>,
    /// The line begun by the last chunk, not yet ended.
    line: Vec<u8>,
    usage: Option<WireUsage>,
    /// `None` once settled.
    meter: Option<Meter>,
}

impl Metered {
    fn feed(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(end);
            if self.line.is_empty() {
                self.take_line(head);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.take_line(&line);
            }
            rest = tail.get(1..).unwrap_or_default();
        }
        self.line.extend_from_slice(rest);
    }

    fn take_line(&mut self, line: &[u8]) {
        // Only the few events that carry usage are parsed.
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        if !data.windows(7).any(|w| w == b"\"usage\"") {
            return;
        }
        let Ok(event) = serde_json::from_slice::<Answer>(data) else {
            return;
        };
        if let Some(newer) = event.usage() {
            self.usage
                .get_or_insert_with(WireUsage::default)
                .update(newer);
        }
    }

    fn settle(&mut self) {
        if let (Some(meter), Some(usage)) = (self.meter.take(), self.usage) {
            meter.settle(usage.unify(meter.protocol));
        }
    }
}

impl Stream for Metered {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) if self.meter.is_some() => match self.inflater.as_mut() {
                None => self.feed(chunk),
                Some(inflater) => match inflater.push(chunk) {
                    Some(plain) => self.feed(&plain),
                    // Not in its encoding after all: nothing can be read of it.
                    None => self.meter = None,
                },
            },
            Poll::Ready(None) => {
                let rest = std::mem::take(&mut self.line);
                self.take_line(&rest);
                self.settle();
            }
            _ => {}
        }
        next
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        self.settle();
    }
}

#[cfg(test)]
mod tests;
