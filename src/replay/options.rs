//! How a cassette is used: the record mode and the matching, scrubbing and pacing options.

use std::path::PathBuf;
use std::time::Duration;

use super::matcher::Matcher;
use super::scrub::Scrubber;
use crate::error::{LlmError, Result};

/// When the network may be used, as in vcrpy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Replay only; a request with no recording is an error.
    None,
    /// Record when the cassette file does not exist yet, else behave as `None`.
    Once,
    /// Replay what matches, record the rest.
    NewEpisodes,
    /// Record everything; replaces the recorded interactions the new ones match.
    All,
}

impl Mode {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "none" => Self::None,
            "once" => Self::Once,
            "new_episodes" => Self::NewEpisodes,
            "all" => Self::All,
            _ => {
                return Err(LlmError::config(format!(
                    "unknown record mode {name:?}: use none, once, new_episodes or all"
                )))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Once => "once",
            Self::NewEpisodes => "new_episodes",
            Self::All => "all",
        }
    }

    /// `none` when the `CI` variable says so (CI must never reach a provider), else `once`.
    pub fn default_for(ci: Option<&str>) -> Self {
        match ci.map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "1" | "yes") => Self::None,
            _ => Self::Once,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `None`: [`Mode::default_for`] the `CI` environment variable.
    pub mode: Option<Mode>,
    pub matcher: Matcher,
    pub scrubber: Scrubber,
    /// Replay an interaction again once every match has been played (the last one repeats).
    pub allow_playback_repeats: bool,
    /// 0 replays at once; 1.0 at the recorded pace (latency and chunk times); 2.0 half as fast.
    pub pace: f64,
    /// More cassettes to replay from, after this one's interactions (pytest-recording's extra
    /// cassettes): read only, never written; a missing one is empty, as there.
    pub extra_cassettes: Vec<PathBuf>,
}

impl Options {
    /// A recorded time at this pace. Saturates instead of overflowing: a huge pace asks for a
    /// very long wait, which the caller's timeout or deadline then bounds.
    pub fn paced(&self, recorded: Duration) -> Duration {
        crate::duration::scaled(recorded, self.pace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_scales_and_saturates_instead_of_overflowing() {
        let at = |pace| Options {
            pace,
            ..Options::default()
        };
        let day = Duration::from_secs(86_400);
        assert_eq!(
            at(2.0).paced(Duration::from_millis(5)),
            Duration::from_millis(10)
        );
        assert_eq!(at(0.0).paced(day), Duration::ZERO);
        assert_eq!(at(1e300).paced(day), crate::duration::LONGEST);
    }
}
