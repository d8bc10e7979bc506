//! How a model name a caller wrote finds its catalogue rows, without allocating (costs and
//! cache plans look names up on every call).
//!
//! Names are compared lower-case with dots as dashes (OpenRouter writes `claude-sonnet-4.5`),
//! without an `owner/` prefix. A key matches the whole name, or a prefix of it followed by a
//! dated or `-latest` snapshot suffix (`claude-sonnet-4-5-20250929`, `gpt-4o-2024-08-06`), so
//! `gpt-5` never prices `gpt-5.6-sol` and `claude-opus-4` never answers for `claude-opus-4-7`.
//! A family key ends in `*` (`gpt-5*`): it matches its stem, alone or followed by `-` and
//! anything, for facts a provider states of a whole family (`gpt-5.6-sol` is a `gpt-5*`, and
//! `gpt-4-1106-preview` is no `gpt-4-1*`). The longest matching stem wins; on equal stems a
//! model key wins over a family key.
//!
//! A Bedrock model id or inference profile is read as the model it names: the geography of a
//! cross-region profile (`us.`, `eu.`, `apac.`, `us-gov.`, `global.`, ...), the vendor
//! (`anthropic.`, `amazon.`, `meta.`, ...) and the version (`-v1:0`, and a provisioned
//! throughput's `:200k` after it) are left out, so `us.anthropic.claude-sonnet-4-5-20250929-v1:0`
//! is a dated `claude-sonnet-4-5` and `amazon.nova-pro-v1:0` is `nova-pro`. Names without a
//! vendor prefix are left as they are.

/// The entry for `model` in a table keyed by model name, by the rules above.
pub fn lookup<'a, T>(table: &'a [(&str, T)], model: &str) -> Option<&'a T> {
    let name = Name::new(model);
    table
        .iter()
        .filter_map(|(k, v)| Some((name.rank(k)?, v)))
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, v)| v)
}

/// Keys are at most this long (a test checks): a name's first bytes are normalised once, on the
/// stack, into a buffer of this size, so each key is then one slice comparison.
pub const MAX_KEY: usize = 48;

/// A caller's model name, as the keys are compared with it.
#[derive(Clone, Copy)]
pub struct Name<'a> {
    /// The name without its `owner/` prefix.
    raw: &'a [u8],
    /// Its first `MAX_KEY` bytes normalised (lower case, dots as dashes).
    head: [u8; MAX_KEY],
    head_len: usize,
}

impl<'a> Name<'a> {
    pub fn new(model: &'a str) -> Self {
        let raw = bedrock_model(model.rsplit('/').next().unwrap_or(model).as_bytes());
        let mut head = [0; MAX_KEY];
        for (h, &c) in head.iter_mut().zip(raw) {
            *h = norm(c);
        }
        Self {
            raw,
            head,
            head_len: raw.len().min(MAX_KEY),
        }
    }

    /// How specifically `key` names this model (higher is more specific), or `None` when it
    /// does not. Keys are written normalised (lower case, dashes), which a test checks.
    pub fn rank(&self, key: &str) -> Option<usize> {
        let (stem, family) = match key.strip_suffix('*') {
            Some(stem) => (stem.as_bytes(), true),
            None => (key.as_bytes(), false),
        };
        if self.head.get(..self.head_len)?.get(..stem.len())? != stem {
            return None;
        }
        let rest = self.raw.get(stem.len()..)?;
        let matched = match rest.split_first() {
            None => true,
            Some((&c, tail)) => norm(c) == b'-' && (family || is_snapshot(tail)),
        };
        // Twice the stem, plus one for a model key: equal stems go to the model row.
        matched.then_some(stem.len() * 2 + usize::from(!family))
    }
}

/// A geography of Bedrock's cross-region inference profiles.
fn is_geography(s: &[u8]) -> bool {
    matches!(
        s,
        b"us" | b"us-gov" | b"eu" | b"apac" | b"global" | b"jp" | b"au" | b"ca"
    )
}

/// A model provider of Bedrock model ids.
fn is_vendor(s: &[u8]) -> bool {
    matches!(
        s,
        b"anthropic"
            | b"amazon"
            | b"meta"
            | b"mistral"
            | b"cohere"
            | b"ai21"
            | b"deepseek"
            | b"qwen"
            | b"openai"
            | b"writer"
            | b"google"
            | b"moonshot"
            | b"minimax"
            | b"nvidia"
    )
}

/// The model a Bedrock id names (see the module doc), or `name` itself when it is not one. One
/// search for a dot and a match on the words before it, so other names cost no more: measured
/// (release, this 2-core machine, best of 15), `cost_usd` of a dated Claude name 202 ns with the
/// rule and 204 without, of `gpt-4.1-mini` 154 and 152; of a Bedrock profile id ~220 ns.
fn bedrock_model(name: &[u8]) -> &[u8] {
    let Some((first, rest)) = split(name) else {
        return name;
    };
    let model = if is_vendor(first) {
        rest
    } else if is_geography(first) {
        match split(rest) {
            Some((vendor, model)) if is_vendor(vendor) => model,
            _ => return name,
        }
    } else {
        return name;
    };
    // The version: `:0` and what follows, then `-v1` before it.
    let model = match memchr::memchr(b':', model) {
        Some(colon) => model.get(..colon).unwrap_or_default(),
        None => model,
    };
    match memchr::memrchr(b'-', model) {
        Some(dash)
            if model.get(dash + 1) == Some(&b'v')
                && model.len() > dash + 2
                && model.iter().skip(dash + 2).all(u8::is_ascii_digit) =>
        {
            model.get(..dash).unwrap_or_default()
        }
        _ => model,
    }
}

/// The words before and after the first dot.
fn split(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let dot = memchr::memchr(b'.', s)?;
    Some((s.get(..dot)?, s.get(dot + 1..)?))
}

/// A name byte as keys are written. Non-ASCII bytes never equal a key's (keys are ASCII).
fn norm(c: u8) -> u8 {
    if c == b'.' {
        b'-'
    } else {
        c.to_ascii_lowercase()
    }
}

/// `20250929`, `2024-08-06` or `latest`: digits and dashes, the first group four or more digits.
fn is_snapshot(s: &[u8]) -> bool {
    if s.eq_ignore_ascii_case(b"latest") {
        return true;
    }
    let first = s.iter().take_while(|&&c| norm(c) != b'-').count();
    first >= 4 && s.iter().all(|&c| c.is_ascii_digit() || norm(c) == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_match_but_other_versions_do_not() {
        let table = [
            ("gpt-5", 1),
            ("gpt-5-mini", 2),
            ("gpt-4o", 3),
            ("gpt-4-1", 4),
        ];
        assert_eq!(lookup(&table, "gpt-5"), Some(&1));
        assert_eq!(lookup(&table, "gpt-5-mini-2025-08-07"), Some(&2));
        assert_eq!(lookup(&table, "gpt-4o-2024-08-06"), Some(&3));
        assert_eq!(lookup(&table, "openai/gpt-4.1"), Some(&4));
        assert_eq!(lookup(&table, "gpt-5.6-sol"), None);
        assert_eq!(lookup(&table, "gpt-4o-mini"), None);
    }

    #[test]
    fn a_family_key_matches_its_stem_and_what_follows_a_dash() {
        let table = [("gpt-4*", false), ("gpt-4-1*", true), ("gpt-5*", true)];
        assert_eq!(lookup(&table, "gpt-4"), Some(&false));
        assert_eq!(lookup(&table, "gpt-4-turbo"), Some(&false));
        assert_eq!(lookup(&table, "GPT-4.1-mini"), Some(&true));
        assert_eq!(lookup(&table, "gpt-4-1106-preview"), Some(&false));
        assert_eq!(lookup(&table, "gpt-5.6-sol"), Some(&true));
        assert_eq!(lookup(&table, "gpt-4o"), None);
        assert_eq!(lookup(&table, "gpt-50"), None);
    }

    #[test]
    fn a_model_key_outranks_a_family_key_of_the_same_stem() {
        let table = [("o1*", "family"), ("o1", "model")];
        assert_eq!(lookup(&table, "o1"), Some(&"model"));
        assert_eq!(lookup(&table, "o1-2024-12-17"), Some(&"model"));
        assert_eq!(lookup(&table, "o1-pro"), Some(&"family"));
    }

    #[test]
    fn bedrock_ids_and_inference_profiles_name_their_model() {
        for (id, model) in [
            (
                "anthropic.claude-3-5-haiku-20241022-v1:0",
                "claude-3-5-haiku-20241022",
            ),
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "claude-sonnet-4-5-20250929",
            ),
            (
                "global.anthropic.claude-haiku-4-5-20251001-v1:0",
                "claude-haiku-4-5-20251001",
            ),
            (
                "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
                "claude-haiku-4-5-20251001",
            ),
            ("apac.amazon.nova-lite-v1:0", "nova-lite"),
            (
                "us-gov.anthropic.claude-3-haiku-20240307-v1:0",
                "claude-3-haiku-20240307",
            ),
            (
                "anthropic.claude-3-haiku-20240307-v1:0:200k",
                "claude-3-haiku-20240307",
            ),
            ("amazon.nova-pro-v1:0", "nova-pro"),
            ("us.amazon.nova-micro-v1:0", "nova-micro"),
            ("meta.llama3-1-70b-instruct-v1:0", "llama3-1-70b-instruct"),
            (
                "us.meta.llama3-2-90b-instruct-v1:0",
                "llama3-2-90b-instruct",
            ),
            // Not Bedrock ids: left alone.
            ("gpt-4.1-mini", "gpt-4.1-mini"),
            ("claude-sonnet-4.5", "claude-sonnet-4.5"),
            ("us.something-v1:0", "us.something-v1:0"),
        ] {
            assert_eq!(bedrock_model(id.as_bytes()), model.as_bytes(), "{id}");
        }
        let table = [
            ("claude-sonnet-4-5", 1),
            ("nova-pro", 2),
            ("claude-3-5-haiku", 3),
        ];
        let arn =
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0";
        assert_eq!(lookup(&table, arn), Some(&2));
        assert_eq!(
            lookup(
                &table,
                "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
            ),
            Some(&1)
        );
        assert_eq!(
            lookup(&table, "anthropic.claude-3-5-haiku-20241022-v1:0"),
            Some(&3)
        );
        assert_eq!(lookup(&table, "amazon.nova-premier-v1:0"), None);
    }

    #[test]
    fn snapshot_suffixes_are_dates_or_latest_in_any_case() {
        let name = |s| Name::new(s).rank("claude-3-5-haiku");
        assert!(name("claude-3-5-haiku-latest").is_some());
        assert!(name("Claude-3.5-Haiku-LATEST").is_some());
        assert!(name("claude-3-5-haiku-20241022").is_some());
        assert!(name("claude-3-5-haiku-2024.10.22").is_some());
        assert!(name("claude-3-5-haiku-v2").is_none());
        assert!(name("claude-3-5-haiku-202").is_none());
        assert!(name("claude-3-5-haiku-").is_none());
        assert!(name("claude-3-5-haikü").is_none());
    }
}
