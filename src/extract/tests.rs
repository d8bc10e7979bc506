//! The loop against the mock server over real HTTP.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use crate::client::ClientConfig;
use crate::mock::MockServer;
use serde_json::json;

fn essay() -> Spec {
    Spec {
        schema: Schema::compiled(&json!({"type": "object", "title": "Judgement",
            "properties": {
                "winner": {"enum": ["Essay A", "Essay B"]},
                "justification": {"type": "string", "minLength": 50, "maxLength": 500},
                "confidence": {"type": "number", "minimum": 1.0, "maximum": 5.0}},
            "required": ["winner", "justification", "confidence"]}))
        .unwrap(),
        name: "Judgement".into(),
        mode: None,
        max_retries: 3,
        token_budget: None,
    }
}

fn good() -> Value {
    json!({"winner": "Essay B", "confidence": 4.0,
           "justification": "Essay B states a clear thesis and supports it with evidence throughout."})
}

fn client(srv: &MockServer, provider: &str) -> Client {
    let (model, base) = match provider {
        "openai" => ("openai/gpt-4.1-mini", format!("{}/v1", srv.url())),
        _ => ("anthropic/claude-sonnet-4-5", srv.url()),
    };
    Client::new(ClientConfig {
        model: model.into(),
        base_url: Some(base),
        api_key: Some("sk-test".into()),
        ..Default::default()
    })
    .unwrap()
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user("Which essay is better?")],
        ..Default::default()
    }
}

#[tokio::test]
async fn an_invalid_answer_is_reasked_with_its_errors() {
    for provider in ["openai", "anthropic"] {
        let srv = MockServer::start().unwrap();
        let usage = json!({"input_tokens": 100, "output_tokens": 20});
        let mut bad = good();
        bad["confidence"] = json!(7.5);
        if provider == "openai" {
            srv.push_json(json!({"text": format!("```json\n{bad}\n```"), "usage": usage}))
                .unwrap();
            srv.push_json(json!({"text": good().to_string(), "usage": usage}))
                .unwrap();
        } else {
            srv.push_json(json!({"tool_calls": [{"name": "Judgement", "arguments": bad, "id": "toolu_1"}], "usage": usage})).unwrap();
            srv.push_json(
                json!({"tool_calls": [{"name": "Judgement", "arguments": good()}], "usage": usage}),
            )
            .unwrap();
        }
        let c = client(&srv, provider);
        let out = run(&c, request(), &essay(), CallOptions::default(), &SchemaOnly)
            .await
            .unwrap();
        assert_eq!(out.value, good());
        assert_eq!(out.attempts.len(), 2);
        assert_eq!((out.usage.input_tokens, out.usage.output_tokens), (200, 40));
        assert!(out.cost_usd.is_some_and(|c| c > 0.0));
        assert_eq!(out.attempts[0].errors.len(), 1);
        assert!(out.attempts[0].errors[0]
            .starts_with("confidence: 7.5 is greater than the maximum of 5"));
        let sent = srv.requests();
        let follow_up = &sent[1].body["messages"];
        let last = follow_up.as_array().unwrap().last().unwrap();
        let expected =
            "That answer is not valid:\n- confidence: 7.5 is greater than the maximum of 5.0\n";
        if provider == "openai" {
            assert_eq!(out.mode, Mode::JsonSchema);
            assert_eq!(last["role"], "user");
            assert!(
                last["content"].as_str().unwrap().starts_with(expected),
                "{last}"
            );
            assert_eq!(follow_up[1]["role"], "assistant");
        } else {
            assert_eq!(out.mode, Mode::Tool);
            let result = &last["content"][0];
            assert_eq!(
                (result["type"].as_str(), result["tool_use_id"].as_str()),
                (Some("tool_result"), Some("toolu_1"))
            );
            assert_eq!(
                sent[1].body["tool_choice"],
                json!({"type": "tool", "name": "Judgement"})
            );
        }
    }
}

#[tokio::test]
async fn max_retries_and_the_token_budget_stop_with_every_attempt() {
    let srv = MockServer::start().unwrap();
    let usage = json!({"input_tokens": 100, "output_tokens": 20});
    srv.push_json(json!({"text": "{\"winner\": \"Essay C\"}", "usage": usage, "times": 10}))
        .unwrap();
    let c = client(&srv, "openai");
    let spec = Spec {
        max_retries: 2,
        ..essay()
    };
    let Err(Failure::Llm(e)) = run(&c, request(), &spec, CallOptions::default(), &SchemaOnly).await
    else {
        panic!("expected a failure");
    };
    assert_eq!((e.kind, e.attempts), (ErrorKind::Extraction, 3));
    let report = e.extraction.clone().unwrap();
    assert_eq!(report.attempts.len(), 3);
    assert_eq!((report.input_tokens, report.output_tokens), (300, 60));
    assert!(report.attempts[0]
        .errors
        .iter()
        .any(|m| m.starts_with("winner: ")));
    assert!(report.attempts[0]
        .errors
        .iter()
        .any(|m| m.contains("\"confidence\" is a required property")));
    assert_eq!(srv.requests().len(), 3);

    let budget = Spec {
        token_budget: Some(150),
        ..essay()
    };
    let Err(Failure::Llm(e)) =
        run(&c, request(), &budget, CallOptions::default(), &SchemaOnly).await
    else {
        panic!("expected a failure");
    };
    assert!(e.message.contains("token budget (150)"), "{}", e.message);
    assert_eq!(e.attempts, 2);
}

#[tokio::test]
async fn truncation_and_prose_are_told_apart() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"text": "{\"winner\": \"Essay B\", \"justif", "finish_reason": "length"}))
        .unwrap();
    srv.push_json(json!({"text": format!("Here is my verdict: {}. Hope it helps!", good())}))
        .unwrap();
    let c = client(&srv, "openai");
    let out = run(&c, request(), &essay(), CallOptions::default(), &SchemaOnly)
        .await
        .unwrap();
    assert!(out.attempts[0].errors[0].contains("cut off at max_tokens"));
    assert_eq!(out.value, good());
}

struct Picky;

impl Check for Picky {
    type Output = (u32, Value);
    type Abort = String;
    fn check(&self, attempt: u32, value: Value) -> Result<(u32, Value), Verdict<String>> {
        match value["winner"].as_str() {
            Some("Essay A") => Err(Verdict::Invalid(vec![format!(
                "winner: not A (attempt {attempt})"
            )])),
            Some(_) if attempt > 5 => Err(Verdict::Abort("boom".into())),
            _ => Ok((attempt, value)),
        }
    }
}

#[tokio::test]
async fn the_callers_check_sees_the_attempt_and_can_reask_or_abort() {
    let srv = MockServer::start().unwrap();
    let mut a = good();
    a["winner"] = json!("Essay A");
    srv.push_json(json!({"json": a})).unwrap();
    srv.push_json(json!({"json": good()})).unwrap();
    let c = client(&srv, "openai");
    let out = run(&c, request(), &essay(), CallOptions::default(), &Picky)
        .await
        .unwrap();
    assert_eq!(out.value, (2, good()));
    assert_eq!(
        out.attempts[0].errors,
        vec!["winner: not A (attempt 1)".to_string()]
    );
}

#[tokio::test]
async fn a_stream_sends_growing_partials_then_the_value() {
    let srv = MockServer::start().unwrap();
    let text = good().to_string();
    let chunks: Vec<String> = text
        .as_bytes()
        .chunks(9)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    srv.push_json(json!({"chunks": chunks})).unwrap();
    let c = client(&srv, "openai");
    let mut s = ExtractStream::start(
        c,
        request(),
        essay(),
        CallOptions::default(),
        Arc::new(SchemaOnly),
    )
    .unwrap();
    let mut partials = Vec::new();
    let done = loop {
        match s.next().await.unwrap() {
            stream::Item::Partial(v) => partials.push(v),
            stream::Item::Done(d) => break d,
        }
    };
    assert!(partials.len() > 3, "{partials:?}");
    assert!(partials
        .iter()
        .any(|p| p
            .get("justification")
            .is_some_and(|j| j.as_str().unwrap().len() < 20)));
    assert_eq!(done.unwrap().value, good());
    assert!(s.next().await.is_none());
}

#[tokio::test]
async fn a_traced_extraction_keeps_each_attempt_with_its_requests_and_errors() {
    let srv = MockServer::start().unwrap();
    let usage = json!({"input_tokens": 100, "output_tokens": 20});
    srv.push_json(json!({"text": "{\"winner\": \"Essay C\"}", "usage": usage}))
        .unwrap();
    srv.push_json(json!({"fault": {"status": 503}})).unwrap();
    srv.push_json(json!({"text": good().to_string(), "usage": usage}))
        .unwrap();
    let c = client(&srv, "openai");
    let (out, traced) =
        run_traced(&c, request(), &essay(), CallOptions::default(), &SchemaOnly).await;
    assert_eq!(out.unwrap().attempts.len(), 2);
    let [first, second] = &traced[..] else {
        panic!("{traced:?}");
    };
    let statuses = |t: &TracedAttempt| t.log.iter().map(|r| r.status).collect::<Vec<_>>();
    assert_eq!(statuses(first), [Some(200)]);
    assert_eq!(statuses(second), [Some(503), Some(200)]);
    let bad = first.answer.as_ref().unwrap();
    assert!(
        bad.errors.iter().any(|m| m.starts_with("winner: ")),
        "{bad:?}"
    );
    assert!(second.answer.as_ref().unwrap().errors.is_empty());
    assert!(first.started <= second.started && second.duration > Duration::ZERO);
    assert!(first
        .response_id
        .as_deref()
        .is_some_and(|id| id.starts_with("chatcmpl-")));
}

#[tokio::test]
async fn a_traced_extraction_whose_call_fails_keeps_that_attempt_with_its_error() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"fault": {"status": 400}})).unwrap();
    let c = client(&srv, "openai");
    let (out, traced) =
        run_traced(&c, request(), &essay(), CallOptions::default(), &SchemaOnly).await;
    assert!(matches!(out, Err(Failure::Llm(e)) if e.kind == ErrorKind::BadRequest));
    let [only] = &traced[..] else {
        panic!("{traced:?}");
    };
    assert_eq!(
        (only.error, only.answer.is_none()),
        (Some(ErrorKind::BadRequest), true)
    );
    assert_eq!(only.log.len(), 1);
}

#[tokio::test]
async fn a_traced_stream_keeps_each_attempt_with_its_requests_once_its_outcome_is_read() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"chunks": ["{\"winner\": ", "\"Essay C\"}"]}))
        .unwrap();
    srv.push_json(json!({"fault": {"status": 503}})).unwrap();
    srv.push_json(json!({"chunks": [good().to_string()]}))
        .unwrap();
    let c = client(&srv, "openai");
    let mut s = ExtractStream::start_traced(
        c,
        request(),
        essay(),
        CallOptions::default(),
        Arc::new(SchemaOnly),
    )
    .unwrap();
    let done = loop {
        assert!(s.take_trace().is_none(), "kept before the outcome");
        match s.next().await.unwrap() {
            stream::Item::Partial(_) => {}
            stream::Item::Done(d) => break d,
        }
    };
    assert_eq!(done.unwrap().value, good());
    let traced = s.take_trace().unwrap();
    let [first, second] = &traced[..] else {
        panic!("{traced:?}");
    };
    let statuses = |t: &TracedAttempt| t.log.iter().map(|r| r.status).collect::<Vec<_>>();
    assert_eq!(statuses(first), [Some(200)]);
    assert_eq!(statuses(second), [Some(503), Some(200)]);
    assert!(first.answer.as_ref().unwrap().errors[0].starts_with("winner: "));
    assert!(second.answer.as_ref().unwrap().errors.is_empty());
}

#[tokio::test]
async fn an_untraced_stream_keeps_no_attempts() {
    let srv = MockServer::start().unwrap();
    srv.push_json(json!({"chunks": [good().to_string()]}))
        .unwrap();
    let c = client(&srv, "openai");
    let mut s = ExtractStream::<Value, LlmError>::start(
        c,
        request(),
        essay(),
        CallOptions::default(),
        Arc::new(SchemaOnly),
    )
    .unwrap();
    while let Some(stream::Item::Partial(_)) = s.next().await {}
    assert!(s.take_trace().is_none());
}
