//! AWS authentication for providers that sign their requests (Bedrock): where the credentials
//! and the region come from, and the SigV4 signature of one request.
//!
//! Ground floor: this module imports nothing of the crate but [`crate::wire`] and
//! [`crate::error`]. The client resolves an [`Aws`] once when it is built (`client/target.rs`)
//! and the pipeline signs every attempt with it right before sending, so a retry after a long
//! wait carries a fresh signature (one is valid for five minutes).
//!
//! The credential chain, first match wins (the order of the AWS SDKs and the CLI):
//! 1. the environment: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, with `AWS_SESSION_TOKEN`
//!    for temporary credentials;
//! 2. the profile `AWS_PROFILE` (default `default`): static keys (`aws_access_key_id`,
//!    `aws_secret_access_key`, `aws_session_token`) in the shared credentials file
//!    (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`, sections `[name]`), then in
//!    the config file (`AWS_CONFIG_FILE`, default `~/.aws/config`, sections `[profile name]`
//!    and `[default]`).
//!
//! The region: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region` in the config file.
//!
//! Not supported (a profile that relies on one is a configuration error that names it): IAM
//! Identity Center / SSO (`sso_session`, `sso_start_url`), `credential_process`, assuming a role
//! (`role_arn`, `source_profile`), web identity tokens (`web_identity_token_file`,
//! `AWS_WEB_IDENTITY_TOKEN_FILE`), and the container and EC2 instance metadata endpoints (ECS,
//! IMDS). Credentials are read once when a client is built, never refreshed: temporary ones
//! outlive a client only as long as their session does.

use crate::error::{LlmError, Result};

pub mod credentials;
pub mod profile;
pub mod sign;

pub use credentials::Credentials;
pub use sign::{sign, Scope};

/// The environment as a lookup function: `std::env::var` in a client, a map in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Where a provider's default base URL puts the region ([`Aws::regional_url`] fills it in).
pub const REGION_SLOT: &str = "{region}";

/// What a provider that speaks AWS was resolved to: its region, and the credentials to sign
/// with (none when it authenticates with a bearer key, or a cassette answers).
#[derive(Clone, Debug, Default)]
pub struct Aws {
    pub region: Option<String>,
    pub credentials: Option<Credentials>,
}

impl Aws {
    /// Read the chain from `env` (and the files it names). `credentials` says whether they are
    /// wanted: a client with a Bedrock API key needs only the region, and must not fail on a
    /// profile it would never use for signing.
    pub fn resolve(env: Env<'_>, credentials: bool) -> Result<Self> {
        let mut files = profile::Lazy::new(env);
        let creds = if credentials {
            match credentials::from_env(env)? {
                Some(c) => Some(c),
                None => files.get()?.credentials()?,
            }
        } else {
            None
        };
        let region = match ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|name| env(name).filter(|v| !v.trim().is_empty()))
        {
            Some(region) => Some(region.trim().to_string()),
            None => files.get()?.region()?,
        };
        Ok(Self {
            region,
            credentials: creds,
        })
    }

    /// `url` with its [`REGION_SLOT`] (a provider's default base URL, such as Bedrock's
    /// `https://bedrock-runtime.{region}.amazonaws.com`) filled in with the region, so the host
    /// requests go to and the region they are signed for are one value. A URL without the slot
    /// (the caller's `base_url=`) is kept as it is.
    pub fn regional_url(&self, url: String, who: &str) -> Result<String> {
        if !url.contains(REGION_SLOT) {
            return Ok(url);
        }
        let region = self.require_region(who)?;
        if !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(LlmError::config(format!(
                "the AWS region {region:?} is not a region name such as us-east-1"
            )));
        }
        Ok(url.replace(REGION_SLOT, region))
    }

    /// The region, or a configuration error naming where it is read from.
    pub fn require_region(&self, who: &str) -> Result<&str> {
        self.region.as_deref().ok_or_else(|| {
            LlmError::config(format!(
                "no AWS region for {who}: set AWS_REGION (or AWS_DEFAULT_REGION), or `region` in \
                 the AWS_PROFILE's section of the AWS config file"
            ))
        })
    }
}

#[cfg(test)]
mod tests;
