//! Structured extraction: put a JSON Schema to the model (`mode.rs`), read its answer leniently
//! (`parse.rs`), validate it (`validate.rs`, then the caller's own [`Check`]), and on failure
//! re-ask with the model's answer and the exact errors, up to `max_retries` times. Tokens and cost
//! are summed over every attempt; a token budget stops early. `batch.rs` runs the same loop for
//! many requests at once through provider batch jobs, each round of re-asks a follow-up job.
//!
//! The caller's check is a synchronous hook called once per attempt with the attempt number: the
//! Python binding validates with pydantic there (a short callback under the GIL), so the whole
//! loop, HTTP included, stays in the core and a user's own exception leaves it unchanged
//! ([`Verdict::Abort`]).

pub mod batch;
mod mode;
pub mod parse;
pub mod partial;
pub mod stream;
pub mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::{ErrorKind, ExtractionReport, FailedAttempt, LlmError};
use crate::model::{ChatRequest, ChatResponse, FinishReason, Message, Role, ToolCall, Usage};
use crate::resilience::{self, CallOptions};

pub use mode::{shape, strict_schema, Answer, Mode};
pub use stream::ExtractStream;
pub use validate::Schema;

/// What to extract and how hard to try.
#[derive(Debug, Clone)]
pub struct Spec {
    pub schema: Arc<Schema>,
    /// The tool / schema name shown to the model (`^[A-Za-z0-9_-]{1,64}$`).
    pub name: String,
    /// `None`: [`Mode::auto`] for the client's provider and model.
    pub mode: Option<Mode>,
    /// Re-asks after the first attempt.
    pub max_retries: u32,
    /// No new attempt once the attempts so far used this many tokens (input + output).
    pub token_budget: Option<u64>,
}

/// The caller's verdict on a schema-valid value.
pub enum Verdict<E> {
    /// Re-ask with these errors ("field: problem").
    Invalid(Vec<String>),
    /// Stop and hand this back to the caller as it is.
    Abort(E),
}

/// The caller's own validation after the schema's (pydantic, from Python).
pub trait Check: Send + Sync {
    type Output: Send;
    type Abort: Send;
    fn check(&self, attempt: u32, value: Value) -> Result<Self::Output, Verdict<Self::Abort>>;
}

/// No check beyond the schema: the value as parsed.
pub struct SchemaOnly;

impl Check for SchemaOnly {
    type Output = Value;
    type Abort = LlmError;
    fn check(&self, _: u32, value: Value) -> Result<Value, Verdict<LlmError>> {
        Ok(value)
    }
}

/// Why an extraction did not return a value.
#[derive(Debug)]
pub enum Failure<E> {
    /// Every attempt failed validation (kind `Extraction`), or a call failed.
    Llm(LlmError),
    /// The caller's check raised something that is not a validation error.
    Abort(E),
}

impl<E> From<LlmError> for Failure<E> {
    fn from(e: LlmError) -> Self {
        Self::Llm(e)
    }
}

/// One attempt: what the model said and what was wrong with it (nothing, for the last one of a
/// success).
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub raw: String,
    pub errors: Vec<String>,
    pub usage: Usage,
    pub finish_reason: Option<FinishReason>,
}

/// One attempt as a trace shows it ([`run_traced`]): when it ran, the requests its chat call
/// sent, and its answer with what was wrong with it.
#[derive(Debug, Clone)]
pub struct TracedAttempt {
    /// Wall-clock start (a span's start time).
    pub started: SystemTime,
    pub duration: Duration,
    /// Every request the attempt's chat call sent (retries and fallbacks included).
    pub log: Vec<resilience::AttemptRecord>,
    /// The answer and its errors; `None` when the chat call itself failed.
    pub answer: Option<AttemptRecord>,
    pub response_id: Option<String>,
    /// The model that answered.
    pub model: String,
    /// How the chat call failed, when it did.
    pub error: Option<ErrorKind>,
}

/// A validated value and what it took.
#[derive(Debug, Clone)]
pub struct Extraction<T> {
    pub value: T,
    pub attempts: Vec<AttemptRecord>,
    /// Summed over every attempt.
    pub usage: Usage,
    /// Summed over every attempt; `None` when a model's price is unknown.
    pub cost_usd: Option<f64>,
    pub mode: Mode,
    pub provider: String,
    pub model: String,
}

/// Extract with buffered calls.
pub async fn run<C: Check>(
    client: &Client,
    req: ChatRequest,
    spec: &Spec,
    opts: CallOptions,
    check: &C,
) -> Result<Extraction<C::Output>, Failure<C::Abort>> {
    run_with(client, req, spec, opts, check, None, None).await
}

/// As [`run`], with one [`TracedAttempt`] per attempt, whether it succeeded or not (each chat
/// call keeps its requests' records: `opts.record` is set).
pub async fn run_traced<C: Check>(
    client: &Client,
    req: ChatRequest,
    spec: &Spec,
    mut opts: CallOptions,
    check: &C,
) -> (
    Result<Extraction<C::Output>, Failure<C::Abort>>,
    Vec<TracedAttempt>,
) {
    opts.record = true;
    let mut traced = Vec::new();
    let out = run_with(client, req, spec, opts, check, None, Some(&mut traced)).await;
    (out, traced)
}

/// The loop; with `partials`, each attempt streams and sends the partial values it sees.
async fn run_with<C: Check>(
    client: &Client,
    mut req: ChatRequest,
    spec: &Spec,
    opts: CallOptions,
    check: &C,
    partials: Option<&tokio::sync::mpsc::Sender<stream::Item<C::Output, C::Abort>>>,
    mut trace: Option<&mut Vec<TracedAttempt>>,
) -> Result<Extraction<C::Output>, Failure<C::Abort>> {
    let schema = &spec.schema;
    let mode = spec
        .mode
        .unwrap_or_else(|| Mode::auto(client.provider(), client.model(), &client.base_url()));
    let mut acc = Accounts::default();
    for attempt in 1..=spec.max_retries.saturating_add(1) {
        // `req` is the conversation so far (re-asks add to it); each attempt sends a copy with
        // the schema put in, so the schema is copied once per attempt rather than twice.
        let mut sent = req.clone();
        mode::shape(&mut sent, mode, client.provider(), &spec.name, &spec.schema);
        // The clock is read only for a trace: an untraced extraction pays nothing for it.
        let clock = trace.is_some().then(|| (SystemTime::now(), Instant::now()));
        let timed = || clock.map_or((UNIX_EPOCH, Duration::ZERO), |(s, t0)| (s, t0.elapsed()));
        let mut log = Vec::new();
        let out = match partials {
            // The report comes back with a failure too: its requests belong in the trace.
            None if trace.is_some() => {
                let (out, mut report) = client.chat_reported(sent, opts.clone()).await;
                log = report.log.take().unwrap_or_default();
                out
            }
            None => client.chat_with(sent, opts.clone()).await.map(|r| r.0),
            Some(tx) => {
                let kept = trace.is_some().then_some(&mut log);
                stream::attempt(client, sent, opts.clone(), &spec.name, tx, kept).await
            }
        };
        let resp = match out {
            Ok(r) => r,
            Err(e) => {
                if let Some(traced) = trace.as_deref_mut() {
                    let (started, duration) = timed();
                    traced.push(TracedAttempt {
                        started,
                        duration,
                        log,
                        answer: None,
                        response_id: None,
                        model: String::new(),
                        error: Some(e.kind),
                    });
                }
                return Err(e.into());
            }
        };
        acc.add(&resp);
        let answer = mode::answer(&resp, &spec.name);
        let mut record = AttemptRecord {
            raw: answer.raw(),
            errors: Vec::new(),
            usage: resp.usage,
            finish_reason: resp.finish_reason,
        };
        let verdict = read(&answer, &resp, schema)
            .map_err(Verdict::Invalid)
            .and_then(|value| check.check(attempt, value));
        if let Some(traced) = trace.as_deref_mut() {
            let mut seen = record.clone();
            if let Err(Verdict::Invalid(errors)) = &verdict {
                seen.errors.clone_from(errors);
            }
            let (started, duration) = timed();
            traced.push(TracedAttempt {
                started,
                duration,
                log: std::mem::take(&mut log),
                answer: Some(seen),
                response_id: resp.response_id(),
                model: resp.model.clone(),
                error: None,
            });
        }
        match verdict {
            Ok(value) => {
                acc.records.push(record);
                return Ok(acc.finish(value, mode));
            }
            Err(Verdict::Abort(e)) => return Err(Failure::Abort(e)),
            Err(Verdict::Invalid(errors)) => record.errors = errors,
        }
        reask(&mut req, &answer, &record.errors, &spec.name);
        acc.records.push(record);
        let spent = acc.usage.total();
        if let Some(budget) = spec.token_budget.filter(|b| spent >= *b) {
            return Err(acc.fail(format!(
                "the token budget ({budget}) is spent: {spent} tokens over {attempt} attempt(s)"
            )));
        }
    }
    let n = acc.records.len();
    Err(acc.fail(format!("no valid answer after {n} attempt(s)")))
}

/// The answer as a schema-valid value, or every problem with it.
fn read(answer: &Answer, resp: &ChatResponse, schema: &Schema) -> Result<Value, Vec<String>> {
    let parsed = match answer {
        Answer::Tool {
            arguments: Value::String(s),
            ..
        } => parse::lenient(s),
        Answer::Tool { arguments, .. } => Ok(arguments.clone()),
        Answer::Text(t) => parse::lenient(t),
    };
    let value = parsed.map_err(|e| {
        let cut = resp.finish_reason == Some(FinishReason::Length);
        vec![match (e.truncated || cut, cut) {
            (true, true) => "(root): the answer was cut off at max_tokens (finish_reason=length); answer more briefly".to_string(),
            (true, false) => "(root): the answer was cut off before the JSON ended (truncated)".to_string(),
            _ => format!("(root): {}", e.message),
        }]
    })?;
    let value = parse::fit_shape(value, &schema.value);
    let errors = schema.errors(&value);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

/// The follow-up of a failed attempt: the model's own answer, then the errors.
pub fn reask_text(errors: &[String], tool: Option<&str>) -> String {
    let mut text = String::from("That answer is not valid:\n");
    for e in errors {
        text.push_str("- ");
        text.push_str(e);
        text.push('\n');
    }
    match tool {
        Some(name) => text.push_str(&format!("Call {name} again with corrected arguments.")),
        None => {
            text.push_str("Answer again with one corrected JSON object that follows the schema.")
        }
    }
    text
}

fn reask(req: &mut ChatRequest, answer: &Answer, errors: &[String], name: &str) {
    match answer {
        // A tool call must be answered by a tool result: the errors go there.
        Answer::Tool { id, arguments } if !id.is_empty() => {
            let mut call = Message::text(Role::Assistant, "");
            call.content.clear();
            // Providers want an object here; a raw answer is quoted in the result instead.
            let sent = match arguments {
                Value::Object(_) => arguments.clone(),
                _ => Value::Object(Map::new()),
            };
            call.tool_calls
                .push(ToolCall::from_value(id.clone(), name.to_string(), sent));
            let mut text = reask_text(errors, Some(name));
            if let Value::String(raw) = arguments {
                text = format!("Your arguments were: {raw}\n{text}");
            }
            let mut result = Message::text(Role::Tool, text);
            result.tool_call_id = Some(id.clone());
            req.messages.push(call);
            req.messages.push(result);
        }
        _ => {
            let raw = answer.raw();
            let said = if raw.trim().is_empty() {
                "(an empty answer)".to_string()
            } else {
                raw
            };
            req.messages.push(Message::text(Role::Assistant, said));
            req.messages.push(Message::user(reask_text(errors, None)));
        }
    }
}

/// Usage, cost and records over the attempts so far.
#[derive(Default)]
struct Accounts {
    usage: Usage,
    cost_usd: Option<f64>,
    unpriced: bool,
    records: Vec<AttemptRecord>,
    /// Who answered last (a fallback may have).
    provider: String,
    model: String,
}

impl Accounts {
    fn add(&mut self, resp: &ChatResponse) {
        self.add_priced(resp, resp.cost_usd());
    }

    /// `resp` at this cost (a batch answer's is at the batch price).
    fn add_priced(&mut self, resp: &ChatResponse, cost: Option<f64>) {
        self.usage.add(&resp.usage);
        match cost {
            Some(c) => self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + c),
            None => self.unpriced = true,
        }
        self.provider.clone_from(&resp.provider);
        self.model.clone_from(&resp.model);
    }

    fn cost(&self) -> Option<f64> {
        if self.unpriced {
            None
        } else {
            self.cost_usd
        }
    }

    fn finish<T>(self, value: T, mode: Mode) -> Extraction<T> {
        Extraction {
            value,
            usage: self.usage,
            cost_usd: self.cost(),
            attempts: self.records,
            mode,
            provider: self.provider,
            model: self.model,
        }
    }

    fn fail<E>(self, why: String) -> Failure<E> {
        let mut message = format!("extraction failed: {why}");
        if let Some(errors) = self.records.last().map(|r| &r.errors) {
            message.push_str("; last errors: ");
            message.push_str(&errors.join("; "));
        }
        let mut e = LlmError::new(ErrorKind::Extraction, message);
        if !self.provider.is_empty() {
            e = e.at(&self.provider, &self.model);
        }
        e.attempts = u32::try_from(self.records.len()).unwrap_or(u32::MAX);
        e.extraction = Some(Arc::new(ExtractionReport {
            attempts: self
                .records
                .iter()
                .map(|r| FailedAttempt {
                    raw: r.raw.clone(),
                    errors: r.errors.clone(),
                })
                .collect(),
            input_tokens: self.usage.input_tokens,
            output_tokens: self.usage.output_tokens,
            cost_usd: self.cost(),
        }));
        Failure::Llm(e)
    }
}

#[cfg(test)]
mod tests;
