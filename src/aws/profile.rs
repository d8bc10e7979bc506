//! Named profiles in the AWS shared credentials and config files (INI, parsed by rust-ini), as
//! the AWS CLI reads them: `[name]` in the credentials file, `[profile name]` (or `[default]`)
//! in the config file, keys in the credentials file before those in the config file. Files are
//! read only when the environment does not already answer, and at most once per client.

use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption, Properties};

use super::{Credentials, Env};
use crate::error::{LlmError, Result};

/// Keys of ways to get credentials llmrail does not support, as a profile names them.
const UNSUPPORTED: &[&str] = &[
    "sso_session",
    "sso_start_url",
    "credential_process",
    "role_arn",
    "web_identity_token_file",
];

/// The profile files, read on first use.
pub(super) struct Lazy<'a> {
    env: Env<'a>,
    loaded: Option<Profile>,
}

impl<'a> Lazy<'a> {
    pub(super) fn new(env: Env<'a>) -> Self {
        Self { env, loaded: None }
    }

    pub(super) fn get(&mut self) -> Result<&Profile> {
        if self.loaded.is_none() {
            self.loaded = Some(Profile::load(self.env)?);
        }
        match &self.loaded {
            Some(p) => Ok(p),
            None => Err(LlmError::config("the AWS profile files could not be read")),
        }
    }
}

/// One file: where it is, and its sections if it exists.
struct File {
    path: PathBuf,
    ini: Option<Ini>,
}

impl File {
    fn read(path: PathBuf, what: &str) -> Result<Self> {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self { path, ini: None })
            }
            Err(e) => {
                return Err(LlmError::config(format!(
                    "cannot read the AWS {what} file {}: {e}",
                    path.display()
                )))
            }
        };
        let opts = ParseOption {
            // Secrets are taken as written: `\`, quotes and `;` inside a value are the value's.
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: false,
            // Indented keys belong to a nested block (`s3 =` then `  region = …`), not the profile.
            enabled_preserve_key_leading_whitespace: true,
        };
        let ini = Ini::load_from_str_opt(&text, opts).map_err(|e| {
            LlmError::config(format!(
                "the AWS {what} file {} is not valid INI: line {}, column {}: {}",
                path.display(),
                e.line,
                e.col,
                e.msg
            ))
        })?;
        Ok(Self {
            path,
            ini: Some(ini),
        })
    }

    /// The section whose name, with runs of blanks made one space, is `name`.
    fn section(&self, name: &str) -> Option<&Properties> {
        self.ini.as_ref()?.iter().find_map(|(section, props)| {
            let section = section?.split_whitespace().collect::<Vec<_>>().join(" ");
            (section == name).then_some(props)
        })
    }
}

/// The selected profile and the two files it may live in.
pub(super) struct Profile {
    name: String,
    /// Named by `AWS_PROFILE`: then its absence is an error, not "no profile credentials".
    explicit: bool,
    credentials_file: File,
    config_file: File,
}

impl Profile {
    fn load(env: Env<'_>) -> Result<Self> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let home = get("HOME").or_else(|| get("USERPROFILE"));
        let path = |var: &str, default: &str| -> PathBuf {
            let given = get(var);
            let raw = given.as_deref().unwrap_or(default);
            match (raw.strip_prefix("~/"), &home) {
                (Some(rest), Some(home)) => Path::new(home).join(rest),
                _ => PathBuf::from(raw),
            }
        };
        let explicit = get("AWS_PROFILE");
        Ok(Self {
            name: explicit.as_deref().map_or("default", str::trim).to_string(),
            explicit: explicit.is_some(),
            credentials_file: File::read(
                path("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
                "shared credentials",
            )?,
            config_file: File::read(path("AWS_CONFIG_FILE", "~/.aws/config"), "config")?,
        })
    }

    /// The profile's sections, credentials file first, each with its file's path.
    fn sections(&self) -> Vec<(&Path, &Properties)> {
        let in_credentials = self.credentials_file.section(&self.name);
        let profile = format!("profile {}", self.name);
        let in_config = self.config_file.section(&profile).or_else(|| {
            // `[default]` is the config file's one section without the `profile ` prefix.
            (self.name == "default")
                .then(|| self.config_file.section("default"))
                .flatten()
        });
        [
            in_credentials.map(|s| (self.credentials_file.path.as_path(), s)),
            in_config.map(|s| (self.config_file.path.as_path(), s)),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn where_looked(&self) -> String {
        format!(
            "{} or {}",
            self.credentials_file.path.display(),
            self.config_file.path.display()
        )
    }

    fn missing(&self) -> LlmError {
        LlmError::config(format!(
            "AWS_PROFILE names the profile {:?}, which is in neither {}",
            self.name,
            self.where_looked()
        ))
    }

    /// The profile's static keys; `None` when the default profile has none (or is absent).
    pub(super) fn credentials(&self) -> Result<Option<Credentials>> {
        let sections = self.sections();
        if sections.is_empty() {
            return if self.explicit {
                Err(self.missing())
            } else {
                Ok(None)
            };
        }
        let value = |props: &Properties, key: &str| {
            props
                .get(key)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        for (path, props) in &sections {
            let Some(id) = value(props, "aws_access_key_id") else {
                continue;
            };
            let secret = value(props, "aws_secret_access_key").ok_or_else(|| {
                LlmError::config(format!(
                    "AWS profile {:?} in {} has aws_access_key_id but no aws_secret_access_key",
                    self.name,
                    path.display()
                ))
            })?;
            let source = format!("profile {} in {}", self.name, path.display());
            let token = value(props, "aws_session_token");
            return Ok(Some(Credentials::new(id, secret, token, source)));
        }
        for (path, props) in &sections {
            if let Some(key) = UNSUPPORTED.iter().find(|k| props.contains_key(**k)) {
                return Err(LlmError::config(format!(
                    "AWS profile {name:?} in {} gets its credentials through {key}, which \
                     llmrail does not support; give the profile aws_access_key_id and \
                     aws_secret_access_key, or export them (`aws configure \
                     export-credentials --profile {name} --format env`)",
                    path.display(),
                    name = self.name,
                )));
            }
        }
        if self.explicit {
            return Err(LlmError::config(format!(
                "AWS profile {:?} has no aws_access_key_id in {}",
                self.name,
                self.where_looked()
            )));
        }
        Ok(None)
    }

    /// The profile's `region` (the config file's; the CLI reads it nowhere else).
    pub(super) fn region(&self) -> Result<Option<String>> {
        let sections = self.sections();
        if sections.is_empty() && self.explicit {
            return Err(self.missing());
        }
        let config = self.config_file.path.as_path();
        Ok(sections
            .iter()
            .filter(|(path, _)| *path == config)
            .find_map(|(_, props)| props.get("region"))
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string))
    }
}
