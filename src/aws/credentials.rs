//! AWS credentials: an access key id, its secret and an optional session token. Only the key
//! id may be shown (it is in every signed request's `Authorization` header); the secret and the
//! token never appear in a `Debug`, a log or an error.

use crate::error::{LlmError, Result};

/// A static or temporary AWS credential, and where it was read from (for messages).
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: Hidden,
    session_token: Option<Hidden>,
    source: String,
}

/// A secret value: its `Debug` is a placeholder, so it cannot leak through a derived one.
#[derive(Clone)]
struct Hidden(String);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    /// `source` says where they came from ("environment", "profile dev in /home/u/.aws/…").
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: Hidden(secret_access_key.into()),
            session_token: session_token.filter(|t| !t.is_empty()).map(Hidden),
            source: source.into(),
        }
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn has_session_token(&self) -> bool {
        self.session_token.is_some()
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The secret and the token: what an error or a cassette must never contain.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.secret_access_key.0.as_str())
            .chain(self.session_token.as_ref().map(|t| t.0.as_str()))
    }

    /// The identity aws-sigv4 signs with. Built per signature: a few small copies beside the
    /// four HMACs a signature costs.
    pub(super) fn identity(&self) -> aws_smithy_runtime_api::client::identity::Identity {
        aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key.0,
            self.session_token.as_ref().map(|t| t.0.clone()),
            None,
            "llmrail",
        )
        .into()
    }
}

/// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`); one without the other
/// is an error, not a silent fall-through to a profile that would sign as someone else.
pub(super) fn from_env(env: super::Env<'_>) -> Result<Option<Credentials>> {
    let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Ok(Some(Credentials::new(
            id.trim(),
            secret.trim(),
            get("AWS_SESSION_TOKEN").map(|t| t.trim().to_string()),
            "environment",
        ))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(LlmError::config(
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither",
        )),
        (None, Some(_)) => Err(LlmError::config(
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or neither",
        )),
    }
}
