//! The facade's unit tests: building a client (model strings, keys, base URLs, headers, limits).

use super::*;
use crate::error::ErrorKind;

fn cfg(model: &str) -> ClientConfig {
    ClientConfig {
        model: model.into(),
        ..Default::default()
    }
}

#[test]
fn model_strings_are_checked() {
    let env = |name: &str| name.ends_with("_API_KEY").then(|| "k".to_string());
    assert!(
        Client::with_env(cfg("gpt-4"), env).is_err_and(|e| e.message.contains("provider/model"))
    );
    assert!(
        Client::with_env(cfg("nope/x"), env).is_err_and(|e| e.message.contains("known providers"))
    );
    let c = Client::with_env(cfg("openrouter/anthropic/claude-3.5"), env);
    assert!(c.is_ok_and(|c| c.model() == "anthropic/claude-3.5"));
}

#[test]
fn a_missing_key_is_a_clear_error_unless_the_server_is_local() {
    let none = |_: &str| None;
    let e = Client::with_env(cfg("openai/gpt-4.1"), none);
    assert!(e.is_err_and(
        |e| e.kind == ErrorKind::Configuration && e.message.contains("OPENAI_API_KEY")
    ));
    let local = ClientConfig {
        base_url: Some("http://127.0.0.1:11434/v1".into()),
        ..cfg("openai/llama3")
    };
    assert!(Client::with_env(local, none).is_ok());
}

#[test]
fn headers_the_transport_owns_are_refused_by_name() {
    let env = |name: &str| name.ends_with("_API_KEY").then(|| "k".to_string());
    for name in ["Content-Length", "host", "Transfer-Encoding", "connection"] {
        let c = ClientConfig {
            headers: vec![(name.into(), "1".into())],
            ..cfg("openai/gpt-4.1")
        };
        assert!(Client::with_env(c, env).is_err_and(
            |e| e.kind == ErrorKind::Configuration && e.message.contains(&format!("{name:?}"))
        ));
    }
    let fine = ClientConfig {
        headers: vec![("X-Title".into(), "app".into())],
        ..cfg("openai/gpt-4.1")
    };
    assert!(Client::with_env(fine, env).is_ok());
}

#[test]
fn size_limits_must_be_positive() {
    let env = |name: &str| name.ends_with("_API_KEY").then(|| "k".to_string());
    let c = ClientConfig {
        max_event_bytes: Some(0),
        ..cfg("openai/gpt-4.1")
    };
    assert!(Client::with_env(c, env).is_err_and(
        |e| e.kind == ErrorKind::Configuration && e.message.contains("max_event_bytes")
    ));
}

#[test]
fn env_supplies_key_and_base_url() {
    let env = |n: &str| match n {
        "ANTHROPIC_API_KEY" => Some("sk-ant-x".to_string()),
        "ANTHROPIC_BASE_URL" => Some("http://127.0.0.1:9".to_string()),
        _ => None,
    };
    let c = Client::with_env(cfg("anthropic/claude-x"), env);
    assert!(c.is_ok_and(
        |c| c.base_url() == "http://127.0.0.1:9" && !format!("{c:?}").contains("sk-ant")
    ));
}

#[test]
fn base_url_and_debug_hide_userinfo_and_secret_query_values() {
    let cfg = ClientConfig {
        base_url: Some(
            "https://bob:PW-SECRET@r.example/openai/v1?api-version=2024-10-21&sig=SIG-SECRET"
                .into(),
        ),
        api_key: Some("k".into()),
        ..cfg("openai/gpt-4.1")
    };
    let c = Client::with_env(cfg, |_| None).unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(
        c.base_url(),
        "https://REDACTED@r.example/openai/v1?api-version=2024-10-21&sig=REDACTED"
    );
    assert!(!format!("{c:?}").contains("SECRET"));
}

#[test]
fn a_bad_base_url_is_named_without_its_secrets() {
    for bad in [
        "ftp://u:PW-SECRET@h/",
        "http://u:PW-SECRET@/v1",
        "http://u:PW-SECRET@h:99999/",
    ] {
        let cfg = ClientConfig {
            base_url: Some(bad.into()),
            ..cfg("openai/gpt-4.1")
        };
        let e = Client::with_env(cfg, |_| None).err();
        assert!(e.is_some_and(|e| e.kind == ErrorKind::Configuration
            && e.message.contains("base_url")
            && !e.message.contains("SECRET")));
    }
}

/// The plan is made once per target and call: a retry renders the primary's plan again, a
/// fallback to another provider gets a plan by that provider's rules.
#[test]
fn every_attempt_on_a_target_renders_its_one_cache_plan() {
    let (primary, backup) = (
        crate::mock::MockServer::start().unwrap_or_else(|e| unreachable!("{e}")),
        crate::mock::MockServer::start().unwrap_or_else(|e| unreachable!("{e}")),
    );
    let fault = serde_json::json!({"fault": {"status": 503}, "times": 2});
    primary
        .push_json(fault)
        .unwrap_or_else(|e| unreachable!("{e}"));
    let cfg = ClientConfig {
        api_key: Some("sk-ant".into()),
        base_url: Some(primary.url()),
        prompt_cache: crate::model::PromptCache::Ttl(crate::model::CacheTtl::FiveMinutes),
        retry: Some(crate::resilience::retry::RetryPolicy {
            max_attempts: 2,
            initial_delay: std::time::Duration::from_millis(1),
            ..Default::default()
        }),
        fallbacks: vec![FallbackConfig {
            model: "openai/gpt-4.1".into(),
            api_key: Some("sk".into()),
            base_url: Some(format!("{}/v1", backup.url())),
        }],
        ..cfg("anthropic/claude-sonnet-4-5")
    };
    let client = Client::with_env(cfg, |_| None).unwrap_or_else(|e| unreachable!("{e}"));
    let req = ChatRequest {
        system: Some("Follow the refund policy in section 4. ".repeat(150)),
        messages: vec![crate::model::Message::user("hi")],
        ..ChatRequest::default()
    };
    let (_, report) = crate::runtime::block_on(client.chat_with(req, CallOptions::default()))
        .unwrap_or_else(|e| unreachable!("{e}"))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!((report.attempts, report.fallback), (3, Some(0)));
    let sent = primary.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body, sent[1].body);
    assert_eq!(
        sent[0].body["system"][0]["cache_control"],
        serde_json::json!({"type": "ephemeral"})
    );
    let key = &backup.requests()[0].body["prompt_cache_key"];
    assert!(
        key.as_str().is_some_and(|k| k.starts_with("llmrail-")),
        "{key}"
    );
}

/// The targets' names, primary first, as the breakers name them.
#[allow(clippy::unwrap_used)]
fn targets(c: &Client) -> Vec<String> {
    let snaps = crate::runtime::block_on(c.health()).unwrap().unwrap();
    snaps.into_iter().map(|s| s.name).collect()
}

#[test]
#[allow(clippy::unwrap_used)]
fn without_a_model_the_environment_names_it_and_its_fallbacks() {
    let env = |n: &str| match n {
        "LLMRAIL_MODEL" => Some("anthropic/claude-sonnet-4-5".to_string()),
        "LLMRAIL_FALLBACKS" => Some(" openai/gpt-4.1 , ,openrouter/x/y".to_string()),
        n if n.ends_with("_API_KEY") => Some("k".to_string()),
        _ => None,
    };
    let c = Client::with_env(ClientConfig::default(), env).unwrap();
    assert_eq!(
        (c.provider(), c.model()),
        ("anthropic", "claude-sonnet-4-5")
    );
    assert_eq!(
        targets(&c),
        [
            "anthropic/claude-sonnet-4-5",
            "openai/gpt-4.1",
            "openrouter/x/y"
        ]
    );

    // Fallbacks given in code win; a model given in code reads neither variable.
    let given = ClientConfig {
        fallbacks: vec![FallbackConfig::new("openai/gpt-4.1-mini")],
        ..Default::default()
    };
    let c = Client::with_env(given, env).unwrap();
    assert_eq!(
        targets(&c),
        ["anthropic/claude-sonnet-4-5", "openai/gpt-4.1-mini"]
    );
    let c = Client::with_env(cfg("openai/gpt-4.1"), env).unwrap();
    assert_eq!(targets(&c), ["openai/gpt-4.1"]);

    let e = Client::with_env(ClientConfig::default(), |_| None).unwrap_err();
    assert!(e.kind == ErrorKind::Configuration && e.message.contains("LLMRAIL_MODEL"));
}

/// Ollama's wire (which the mock serves without asking for a key) under a provider that says
/// it is an AWS service: the pipeline's SigV4 signing, tested over real HTTP to the mock
/// server without the Bedrock translation.
struct SignedOllama;

static SIGNED: SignedOllama = SignedOllama;
const WIRE: crate::providers::ollama::Ollama = crate::providers::ollama::Ollama;

impl crate::providers::Provider for SignedOllama {
    fn name(&self) -> &'static str {
        "signed"
    }
    fn default_base_url(&self) -> &'static str {
        "http://127.0.0.1:9/v1"
    }
    fn api_key_env(&self) -> &'static [&'static str] {
        &["SIGNED_BEARER_TOKEN"]
    }
    fn base_url_env(&self) -> &'static [&'static str] {
        &[]
    }
    fn aws_service(&self) -> Option<&'static str> {
        Some("bedrock")
    }
    fn build_chat_with_cache(
        &self,
        ep: &crate::providers::Endpoint,
        req: &ChatRequest,
        stream: bool,
        plan: &crate::cache::CachePlan,
    ) -> Result<crate::wire::HttpRequest> {
        WIRE.build_chat_with_cache(ep, req, stream, plan)
    }
    fn build_models(
        &self,
        ep: &crate::providers::Endpoint,
    ) -> Option<Result<crate::wire::HttpRequest>> {
        WIRE.build_models(ep)
    }
    fn parse_chat(&self, body: &[u8]) -> Result<ChatResponse> {
        WIRE.parse_chat(body)
    }
    fn stream_decoder(&self) -> Box<dyn crate::providers::StreamDecoder> {
        WIRE.stream_decoder()
    }
    fn stream_framing(&self) -> crate::providers::Framing {
        WIRE.stream_framing()
    }
    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        WIRE.request_id(headers)
    }
    fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> crate::LlmError {
        WIRE.parse_error(status, headers, body)
    }
}

/// A client of [`SignedOllama`] built as `Client::with_env` builds one.
fn signed_client(cfg: ClientConfig, env: impl Fn(&str) -> Option<String>) -> Result<Client> {
    let primary = FallbackConfig {
        model: cfg.model.clone(),
        api_key: cfg.api_key.clone(),
        base_url: cfg.base_url.clone(),
    };
    let target = Target::resolve_for(
        &SIGNED,
        &primary,
        None,
        &HeaderMap::new(),
        std::time::Duration::from_secs(10),
        crate::transport::Settings::default(),
        &env,
    )?;
    let memory = registry::CACHES.get(target.id.clone());
    let pipe = Arc::new(Pipeline::build(&cfg, target, vec![])?);
    Ok(Client {
        images: Arc::new(super::images::Pipelines::new(&cfg, pipe.clone())),
        pipe,
        cache: Arc::new(Tracker::sharing(cfg.prompt_cache, memory)),
    })
}

fn aws_env(name: &str) -> Option<String> {
    match name {
        "AWS_ACCESS_KEY_ID" => Some("AKIDPIPELINE".into()),
        "AWS_SECRET_ACCESS_KEY" => Some("pipeline-secret".into()),
        "AWS_SESSION_TOKEN" => Some("pipeline-token".into()),
        "AWS_REGION" => Some("us-west-2".into()),
        _ => None,
    }
}

#[test]
#[allow(clippy::unwrap_used)]
fn every_attempt_is_signed_as_it_is_sent_so_a_retry_after_a_wait_is_signed_afresh() {
    let server = crate::mock::MockServer::start().unwrap();
    // Retry-After 1.1 s: the retry's X-Amz-Date (seconds) cannot be the first attempt's.
    let fault = serde_json::json!({"fault": {"status": 429, "retry_after": 1.1}});
    server.push_json(fault).unwrap();
    let cfg = ClientConfig {
        base_url: Some(server.url()),
        retry: Some(crate::resilience::retry::RetryPolicy {
            max_attempts: 2,
            ..Default::default()
        }),
        ..cfg("signed/m")
    };
    let client = signed_client(cfg, aws_env).unwrap();
    let req = ChatRequest {
        messages: vec![crate::model::Message::user("hi")],
        ..ChatRequest::default()
    };
    let r = crate::runtime::block_on(client.chat(req)).unwrap().unwrap();
    assert!(!r.text().is_empty());
    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    let header = |i: usize, name: &str| sent[i].header(name).unwrap().to_string();
    for i in 0..2 {
        let auth = header(i, "authorization");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDPIPELINE/")
                && auth.contains("/us-west-2/bedrock/aws4_request")
                && auth.contains("x-amz-security-token"),
            "{auth}"
        );
        assert_eq!(header(i, "x-amz-security-token"), "pipeline-token");
    }
    assert_ne!(header(0, "x-amz-date"), header(1, "x-amz-date"));
    assert_ne!(header(0, "authorization"), header(1, "authorization"));
}

#[test]
#[allow(clippy::unwrap_used)]
fn check_sends_a_signed_request_too() {
    let server = crate::mock::MockServer::start().unwrap();
    let cfg = ClientConfig {
        base_url: Some(server.url()),
        ..cfg("signed/m")
    };
    let client = signed_client(cfg, aws_env).unwrap();
    crate::runtime::block_on(client.check()).unwrap().unwrap();
    let sent = server.requests();
    assert_eq!(sent[0].method, "GET");
    let auth = sent[0].header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDPIPELINE/"),
        "{auth}"
    );
    assert!(sent[0].header("x-amz-date").is_some());
}

#[test]
#[allow(clippy::unwrap_used)]
fn a_bearer_key_is_sent_as_it_is_signs_nothing_and_needs_no_aws_credentials() {
    let server = crate::mock::MockServer::start().unwrap();
    let env = |n: &str| (n == "AWS_REGION").then(|| "eu-central-1".to_string());
    let bearer = ClientConfig {
        api_key: Some("bedrock-api-key".into()),
        base_url: Some(server.url()),
        ..cfg("signed/m")
    };
    let client = signed_client(bearer, env).unwrap();
    let aws = client.pipe.primary().endpoint.aws.clone().unwrap();
    assert_eq!(aws.region.as_deref(), Some("eu-central-1"));
    assert!(aws.credentials.is_none());
    let req = ChatRequest {
        messages: vec![crate::model::Message::user("hi")],
        ..ChatRequest::default()
    };
    crate::runtime::block_on(client.chat(req.clone()))
        .unwrap()
        .unwrap();
    let sent = server.requests();
    assert_eq!(
        sent[0].header("authorization"),
        Some("Bearer bedrock-api-key")
    );
    assert!(sent[0].header("x-amz-date").is_none());

    // And a provider that is no AWS service never gets an AWS header, whatever the environment.
    let openai = ClientConfig {
        api_key: Some("sk".into()),
        base_url: Some(format!("{}/v1", server.url())),
        ..cfg("openai/gpt-4.1")
    };
    let client = Client::with_env(openai, aws_env).unwrap();
    assert!(client.pipe.primary().endpoint.aws.is_none());
    crate::runtime::block_on(client.chat(req)).unwrap().unwrap();
    let sent = server.requests();
    assert_eq!(sent[1].header("authorization"), Some("Bearer sk"));
    assert!(sent[1].header("x-amz-date").is_none());
}

#[test]
fn an_aws_service_without_a_key_or_credentials_names_every_way_to_give_them() {
    let e = signed_client(cfg("signed/m"), |_| None).err();
    assert!(e.is_some_and(|e| e.kind == ErrorKind::Configuration
        && [
            "SIGNED_BEARER_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_PROFILE"
        ]
        .iter()
        .all(|name| e.message.contains(name))));
}

#[test]
fn aws_credentials_without_a_region_fail_when_the_client_is_built() {
    let env = |n: &str| (n != "AWS_REGION").then(|| aws_env(n)).flatten();
    let e = signed_client(cfg("signed/m"), env).err();
    assert!(e
        .is_some_and(|e| e.kind == ErrorKind::Configuration
            && e.message.contains("no AWS region for signed")));
}

#[test]
#[allow(clippy::unwrap_used)]
fn two_clients_signing_with_other_access_keys_are_other_targets() {
    let other = |n: &str| match n {
        "AWS_ACCESS_KEY_ID" => Some("AKIDOTHER".to_string()),
        n => aws_env(n),
    };
    let a = signed_client(cfg("signed/m"), aws_env).unwrap();
    let b = signed_client(cfg("signed/m"), other).unwrap();
    let a2 = signed_client(cfg("signed/m"), aws_env).unwrap();
    assert!(a.pipe.primary().id == a2.pipe.primary().id);
    assert!(a.pipe.primary().id != b.pipe.primary().id);
}

/// A Bedrock target resolved as `Client` resolves one, from `env` alone.
fn bedrock_target(env: impl Fn(&str) -> Option<String>) -> Result<Target> {
    let primary = FallbackConfig {
        model: "bedrock/amazon.nova-micro-v1:0".into(),
        api_key: None,
        base_url: None,
    };
    Target::resolve(
        &primary,
        None,
        &HeaderMap::new(),
        std::time::Duration::from_secs(10),
        crate::transport::Settings::default(),
        &env,
    )
}

#[test]
#[allow(clippy::unwrap_used)]
fn bedrock_calls_the_region_it_signs_for_wherever_the_region_is_set() {
    fn with(vars: Vec<(&'static str, &'static str)>) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }
    let url = |t: Target| t.endpoint.base_url;
    let key = ("AWS_BEARER_TOKEN_BEDROCK", "bedrock-key");
    assert_eq!(
        url(bedrock_target(with(vec![key, ("AWS_DEFAULT_REGION", "eu-west-3")])).unwrap()),
        "https://bedrock-runtime.eu-west-3.amazonaws.com"
    );
    // The profile's region, as the AWS CLI reads it, when the environment names none.
    let dir = std::env::temp_dir().join(format!("llmrail-region-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config");
    std::fs::write(&config, "[profile work]\nregion = ap-southeast-2\n").unwrap();
    let config_path = config.to_string_lossy().to_string();
    let env = move |name: &str| match name {
        "AWS_BEARER_TOKEN_BEDROCK" => Some("bedrock-key".to_string()),
        "AWS_PROFILE" => Some("work".to_string()),
        "AWS_CONFIG_FILE" => Some(config_path.clone()),
        "AWS_SHARED_CREDENTIALS_FILE" => Some("/nonexistent/credentials".to_string()),
        _ => None,
    };
    let signed = bedrock_target(env).unwrap();
    assert_eq!(
        signed.endpoint.base_url,
        "https://bedrock-runtime.ap-southeast-2.amazonaws.com"
    );
    assert_eq!(
        signed.endpoint.aws.and_then(|a| a.region).as_deref(),
        Some("ap-southeast-2")
    );
    let _ = std::fs::remove_dir_all(&dir);
    // No region anywhere: one error that says where a region comes from.
    let e = bedrock_target(with(vec![key])).err().unwrap();
    assert_eq!(e.kind, ErrorKind::Configuration);
    assert!(e.message.contains("AWS_REGION") && e.message.contains("AWS_DEFAULT_REGION"));
    let e = bedrock_target(with(vec![key, ("AWS_REGION", "us-east-1/evil")]))
        .err()
        .unwrap();
    assert!(e.message.contains("not a region name"), "{}", e.message);
}

/// With `record`, the report names every request: its target (the fallback's own server),
/// its HTTP status, the wait before it; and a failed call's report comes back too.
#[test]
fn a_recorded_call_logs_each_attempt_with_its_target_status_and_wait() {
    let (primary, backup) = (
        crate::mock::MockServer::start().unwrap_or_else(|e| unreachable!("{e}")),
        crate::mock::MockServer::start().unwrap_or_else(|e| unreachable!("{e}")),
    );
    let fault = serde_json::json!({"fault": {"status": 529}, "times": 2});
    primary
        .push_json(fault)
        .unwrap_or_else(|e| unreachable!("{e}"));
    let cfg = ClientConfig {
        api_key: Some("sk-ant".into()),
        base_url: Some(primary.url()),
        retry: Some(crate::resilience::retry::RetryPolicy {
            max_attempts: 2,
            initial_delay: std::time::Duration::from_millis(5),
            jitter: crate::resilience::retry::Jitter::None,
            ..Default::default()
        }),
        fallbacks: vec![FallbackConfig {
            model: "openai/gpt-4.1".into(),
            api_key: Some("sk".into()),
            base_url: Some(format!("{}/v1", backup.url())),
        }],
        ..cfg("anthropic/claude-sonnet-4-5")
    };
    let client = Client::with_env(cfg, |_| None).unwrap_or_else(|e| unreachable!("{e}"));
    let req = || ChatRequest {
        messages: vec![crate::model::Message::user("hi")],
        ..ChatRequest::default()
    };
    let record = CallOptions {
        record: true,
        ..CallOptions::default()
    };
    let (out, report) = crate::runtime::block_on(client.chat_reported(req(), record.clone()))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(out.is_ok());
    let log = report.log.unwrap_or_default();
    let seen: Vec<_> = log
        .iter()
        .map(|r| (r.fallback, r.status, r.error.map(|k| k.name())))
        .collect();
    assert_eq!(
        seen,
        vec![
            (None, Some(529), Some("OverloadedError")),
            (None, Some(529), Some("OverloadedError")),
            (Some(0), Some(200), None),
        ]
    );
    assert_eq!(log[1].retry_wait, std::time::Duration::from_millis(5));
    assert_eq!(log[0].retry_wait, std::time::Duration::ZERO);
    let (first, last) = (
        log[0].target.clone().unwrap_or_else(|| unreachable!()),
        log[2].target.clone().unwrap_or_else(|| unreachable!()),
    );
    assert_eq!(
        (first.provider, first.model.as_str()),
        ("anthropic", "claude-sonnet-4-5")
    );
    assert_eq!((last.provider, last.model.as_str()), ("openai", "gpt-4.1"));
    assert_eq!(last.address, "127.0.0.1");
    assert_eq!(
        Some(last.port),
        Some(backup.url().rsplit(':').next().and_then(|p| p.parse().ok()))
    );
    assert!(log[1].started >= log[0].started);

    // Not asked: nothing kept. And a call that fails still brings its report back.
    let (_, plain) = crate::runtime::block_on(client.chat_reported(req(), CallOptions::default()))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert_eq!(plain.log, None);
    let fault = serde_json::json!({"fault": {"status": 400}, "times": 1});
    primary
        .push_json(fault)
        .unwrap_or_else(|e| unreachable!("{e}"));
    let (out, report) = crate::runtime::block_on(client.chat_reported(req(), record))
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(out.is_err());
    let log = report.log.unwrap_or_default();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].status, log[0].fallback), (Some(400), None));
}

/// Each layer that starts a call copies its state (an async fn's future moves into its
/// caller's), so a chat's state stays small: it was 18 KB while the telemetry kept the whole
/// pipeline twice (an async fn's argument) and every layer held the transport's 4.7 KB inline;
/// 5 KB since, and the copies cost ~2.5 % of a call's CPU less at 256 in flight (perf).
#[test]
fn a_chat_calls_state_is_a_few_kilobytes() {
    let env = |name: &str| name.ends_with("_API_KEY").then(|| "k".to_string());
    let c = Client::with_env(cfg("openai/gpt-4.1"), env).unwrap_or_else(|e| unreachable!("{e}"));
    let (req, plan) = c.cache.plan(
        crate::model::ChatRequest::default(),
        c.provider(),
        c.model(),
    );
    let size = std::mem::size_of_val(&c.pipe.chat_reported(req, plan, Default::default()));
    assert!(size < 8 * 1024, "a chat call's state is {size} bytes");
}
