//! The AWS chain read from made-up environments and files, and one Bedrock request signed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use super::*;
use crate::error::ErrorKind;
use crate::wire::HttpRequest;

/// A fresh directory for one test's AWS files.
fn dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "llmrail-aws-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An environment whose HOME is `home` (so the default files are `home/.aws/…`).
fn env_in(home: &std::path::Path, vars: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("HOME".into(), home.display().to_string());
    env
}

fn resolve(env: &HashMap<String, String>) -> crate::error::Result<Aws> {
    Aws::resolve(&|k| env.get(k).cloned(), true)
}

fn write(home: &std::path::Path, file: &str, text: &str) -> PathBuf {
    let aws = home.join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    let p = aws.join(file);
    std::fs::write(&p, text).unwrap();
    p
}

const CREDENTIALS: &str = "\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = default/secret+key

[dev]
aws_access_key_id=AKIDDEV
aws_secret_access_key=dev-secret
aws_session_token = dev-token==
";

const CONFIG: &str = "\
[default]
region = eu-west-1

[profile   dev]
region = us-west-2
s3 =
  region = ap-south-1

[profile cfgonly]
aws_access_key_id = AKIDCFG
aws_secret_access_key = cfg-secret
region = ca-central-1

[profile sso]
sso_session = corp
sso_account_id = 123

[profile half]
aws_access_key_id = AKIDHALF
";

#[test]
fn environment_keys_win_over_every_profile() {
    let home = dir();
    write(&home, "credentials", CREDENTIALS);
    let env = env_in(
        &home,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ("AWS_SESSION_TOKEN", "env-token"),
            ("AWS_PROFILE", "dev"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let aws = resolve(&env).unwrap();
    let creds = aws.credentials.unwrap();
    assert_eq!(creds.access_key_id(), "AKIDENV");
    assert!(creds.has_session_token());
    assert_eq!(
        creds.secrets().collect::<Vec<_>>(),
        ["env-secret", "env-token"]
    );
    assert_eq!(aws.region.as_deref(), Some("us-east-1"));
}

#[test]
fn half_the_environment_keys_is_an_error_naming_the_missing_one() {
    let home = dir();
    let env = env_in(&home, &[("AWS_ACCESS_KEY_ID", "AKIDENV")]);
    let e = resolve(&env).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Configuration);
    assert!(
        e.message.contains("AWS_SECRET_ACCESS_KEY is not"),
        "{}",
        e.message
    );
}

#[test]
fn the_default_profile_comes_from_the_credentials_file_and_its_region_from_the_config() {
    let home = dir();
    write(&home, "credentials", CREDENTIALS);
    write(&home, "config", CONFIG);
    let aws = resolve(&env_in(&home, &[])).unwrap();
    let creds = aws.credentials.unwrap();
    assert_eq!(creds.access_key_id(), "AKIDDEFAULT");
    assert_eq!(creds.secrets().next(), Some("default/secret+key"));
    assert!(!creds.has_session_token());
    assert!(creds.source().contains("profile default in"));
    assert_eq!(aws.region.as_deref(), Some("eu-west-1"));
}

#[test]
fn aws_profile_picks_a_named_profile_with_its_token_and_its_own_region() {
    let home = dir();
    write(&home, "credentials", CREDENTIALS);
    write(&home, "config", CONFIG);
    let aws = resolve(&env_in(&home, &[("AWS_PROFILE", "dev")])).unwrap();
    let creds = aws.credentials.unwrap();
    assert_eq!(creds.access_key_id(), "AKIDDEV");
    // `==` at the end of a token is the token's, not a separator.
    assert_eq!(
        creds.secrets().collect::<Vec<_>>(),
        ["dev-secret", "dev-token=="]
    );
    // The nested `s3 =` block's indented region is not the profile's.
    assert_eq!(aws.region.as_deref(), Some("us-west-2"));
}

#[test]
fn keys_in_the_config_file_are_used_when_the_credentials_file_has_none() {
    let home = dir();
    write(&home, "config", CONFIG);
    let aws = resolve(&env_in(&home, &[("AWS_PROFILE", "cfgonly")])).unwrap();
    assert_eq!(aws.credentials.unwrap().access_key_id(), "AKIDCFG");
    assert_eq!(aws.region.as_deref(), Some("ca-central-1"));
}

#[test]
fn the_region_variables_come_before_the_profile_in_their_order() {
    let home = dir();
    write(&home, "config", CONFIG);
    let region = |vars: &[(&str, &str)]| resolve(&env_in(&home, vars)).unwrap().region;
    assert_eq!(region(&[]).as_deref(), Some("eu-west-1"));
    assert_eq!(
        region(&[("AWS_DEFAULT_REGION", "us-east-2")]).as_deref(),
        Some("us-east-2")
    );
    assert_eq!(
        region(&[
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_REGION", "sa-east-1")
        ])
        .as_deref(),
        Some("sa-east-1")
    );
}

#[test]
fn the_file_variables_move_both_files() {
    let elsewhere = dir();
    let creds = elsewhere.join("creds.ini");
    let config = elsewhere.join("conf.ini");
    std::fs::write(
        &creds,
        "[x]\naws_access_key_id=AKIDX\naws_secret_access_key=s\n",
    )
    .unwrap();
    std::fs::write(&config, "[profile x]\nregion=me-south-1\n").unwrap();
    let env = env_in(
        &dir(),
        &[
            ("AWS_PROFILE", "x"),
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
            ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ],
    );
    let aws = resolve(&env).unwrap();
    assert_eq!(aws.credentials.unwrap().access_key_id(), "AKIDX");
    assert_eq!(aws.region.as_deref(), Some("me-south-1"));
}

#[test]
fn a_named_profile_that_does_not_exist_is_an_error_naming_it_and_both_files() {
    let home = dir();
    write(&home, "credentials", CREDENTIALS);
    let env = env_in(&home, &[("AWS_PROFILE", "prod")]);
    let e = resolve(&env).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Configuration);
    assert!(e.message.contains("\"prod\""), "{}", e.message);
    assert!(e.message.contains(".aws/credentials"), "{}", e.message);
    assert!(e.message.contains(".aws/config"), "{}", e.message);
    // Asked only for the region (a bearer key signs nothing), it is the same error.
    let e = Aws::resolve(&|k| env.get(k).cloned(), false).unwrap_err();
    assert!(e.message.contains("\"prod\""), "{}", e.message);
}

#[test]
fn a_profile_with_a_key_id_and_no_secret_names_the_file_the_profile_and_the_missing_key() {
    let home = dir();
    let config = write(&home, "config", CONFIG);
    let e = resolve(&env_in(&home, &[("AWS_PROFILE", "half")])).unwrap_err();
    assert!(e.message.contains("\"half\""), "{}", e.message);
    assert!(
        e.message.contains(&config.display().to_string()),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("no aws_secret_access_key"),
        "{}",
        e.message
    );
}

#[test]
fn an_sso_profile_is_an_error_that_says_sso_is_not_supported() {
    let home = dir();
    write(&home, "config", CONFIG);
    let e = resolve(&env_in(&home, &[("AWS_PROFILE", "sso")])).unwrap_err();
    assert!(e.message.contains("sso_session"), "{}", e.message);
    assert!(e.message.contains("does not support"), "{}", e.message);
    assert!(e.message.contains("export-credentials"), "{}", e.message);
}

#[test]
fn no_files_and_no_variables_is_no_credentials_not_an_error() {
    let aws = resolve(&env_in(&dir(), &[])).unwrap();
    assert!(aws.credentials.is_none());
    assert!(aws.region.is_none());
    let e = aws.require_region("bedrock").unwrap_err();
    assert!(e.message.contains("AWS_REGION"), "{}", e.message);
}

#[test]
fn a_file_that_is_not_ini_is_an_error_naming_it() {
    let home = dir();
    let p = write(&home, "credentials", "[default\naws_access_key_id = x\n");
    let e = resolve(&env_in(&home, &[])).unwrap_err();
    assert!(
        e.message.contains(&p.display().to_string()),
        "{}",
        e.message
    );
    assert!(e.message.contains("not valid INI"), "{}", e.message);
}

#[test]
fn debug_shows_the_key_id_but_never_the_secret_or_the_token() {
    let c = Credentials::new(
        "AKIDSHOWN",
        "s3cr3t-value",
        Some("t0ken-value".into()),
        "env",
    );
    let shown = format!(
        "{c:?} {:?}",
        Aws {
            region: Some("us-east-1".into()),
            credentials: Some(c.clone()),
        }
    );
    assert!(shown.contains("AKIDSHOWN"));
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
    assert!(!shown.contains("t0ken-value"), "{shown}");
}

fn bedrock_request() -> HttpRequest {
    HttpRequest {
        method: http::Method::POST,
        url: "https://bedrock-runtime.us-east-1.amazonaws.com/model/\
              anthropic.claude-3-haiku-20240307-v1%3A0/converse"
            .into(),
        headers: http::HeaderMap::from_iter([(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )]),
        body: bytes::Bytes::from_static(br#"{"messages":[]}"#),
        stream: false,
        timeout: Duration::from_secs(1),
        settings: crate::wire::Settings::default(),
    }
}

#[test]
fn signing_adds_sensitive_date_authorization_and_token_headers_and_keeps_the_url() {
    let mut req = bedrock_request();
    // A stale signature from an earlier attempt is replaced, not doubled.
    req.headers.insert(
        "authorization",
        http::HeaderValue::from_static("AWS4-HMAC-SHA256 stale"),
    );
    let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("tok".into()), "t");
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    sign(&mut req, &creds, &Scope::new("bedrock", "us-east-1"), time).unwrap();
    assert!(
        req.url.ends_with("v1%3A0/converse"),
        "the URL sent is untouched"
    );
    let auth = req
        .headers
        .get_all("authorization")
        .iter()
        .collect::<Vec<_>>();
    assert_eq!(auth.len(), 1);
    let auth = auth[0].to_str().unwrap();
    assert!(
        auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
        ),
        "{auth}"
    );
    assert_eq!(req.headers["x-amz-date"], "20150830T123600Z");
    assert_eq!(req.headers["x-amz-security-token"], "tok");
    for name in ["authorization", "x-amz-security-token"] {
        assert!(req.headers[name].is_sensitive(), "{name} is not sensitive");
    }
    // The date is no secret: a cassette keeps it, and it is never searched for in bodies.
    assert!(!req.headers["x-amz-date"].is_sensitive());
    // Bedrock signs no payload header (S3 does).
    assert!(!req.headers.contains_key("x-amz-content-sha256"));
}

#[test]
fn a_url_without_a_host_is_a_clear_error_not_a_panic() {
    let mut req = bedrock_request();
    req.url = "/model/x/converse".into();
    let creds = Credentials::new("AKID", "secret", None, "t");
    let e = sign(
        &mut req,
        &creds,
        &Scope::new("bedrock", "us-east-1"),
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(e.message.contains("no host"), "{}", e.message);
}
