//! Durations in scripted replies: plain seconds, and latency drawn from a distribution.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// The longest delay a script may ask for; anything longer is a typo, not a test.
const MAX_SECONDS: f64 = 3600.0;

/// A non-negative, finite number of seconds (at most an hour).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Seconds(Duration);

impl Seconds {
    pub fn new(secs: f64) -> Result<Self, String> {
        if !(0.0..=MAX_SECONDS).contains(&secs) {
            return Err(format!(
                "seconds must be between 0 and {MAX_SECONDS}, got {secs}"
            ));
        }
        Duration::try_from_secs_f64(secs)
            .map(Self)
            .map_err(|e| format!("bad seconds {secs}: {e}"))
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Seconds::new(f64::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// Delay before the response headers: fixed, uniform, or log-normal (long-tailed, like real APIs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    Fixed(Seconds),
    Uniform(Seconds, Seconds),
    LogNormal { median: Seconds, sigma: f64 },
}

impl Latency {
    /// One delay drawn from the distribution, capped at [`MAX_SECONDS`].
    pub fn sample(&self) -> Duration {
        let mut rng = rand::rng();
        let secs = match *self {
            Self::Fixed(s) => return s.duration(),
            Self::Uniform(lo, hi) => {
                let (lo, hi) = (lo.duration().as_secs_f64(), hi.duration().as_secs_f64());
                lo + (hi - lo) * rng.random::<f64>()
            }
            Self::LogNormal { median, sigma } => {
                // Box-Muller: two uniforms in (0, 1] give one standard normal draw.
                let u1 = 1.0 - rng.random::<f64>();
                let u2 = rng.random::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                median.duration().as_secs_f64() * (sigma * z).exp()
            }
        };
        Duration::try_from_secs_f64(secs.clamp(0.0, MAX_SECONDS)).unwrap_or_default()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogNormalSpec {
    median: Seconds,
    sigma: f64,
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LatencyVisitor)
    }
}

struct LatencyVisitor;

impl LatencyVisitor {
    fn fixed<E: de::Error>(secs: f64) -> Result<Latency, E> {
        Seconds::new(secs).map(Latency::Fixed).map_err(E::custom)
    }
}

impl<'de> Visitor<'de> for LatencyVisitor {
    type Value = Latency;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"seconds, {"uniform": [lo, hi]} or {"lognormal": {"median": s, "sigma": x}}"#)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Latency, E> {
        Self::fixed(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Latency, E> {
        Self::fixed(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Latency, E> {
        Self::fixed(v as f64)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Latency, A::Error> {
        let key: String = map.next_key()?.ok_or_else(|| {
            de::Error::custom("latency: expected a \"uniform\" or \"lognormal\" key")
        })?;
        let latency = match key.as_str() {
            "uniform" => {
                let [lo, hi]: [Seconds; 2] = map.next_value()?;
                if lo.duration() > hi.duration() {
                    return Err(de::Error::custom("latency.uniform: lo must not exceed hi"));
                }
                Latency::Uniform(lo, hi)
            }
            "lognormal" => {
                let spec: LogNormalSpec = map.next_value()?;
                if !(0.0..=10.0).contains(&spec.sigma) {
                    return Err(de::Error::custom(
                        "latency.lognormal.sigma must be between 0 and 10",
                    ));
                }
                Latency::LogNormal {
                    median: spec.median,
                    sigma: spec.sigma,
                }
            }
            other => return Err(de::Error::unknown_field(other, &["uniform", "lognormal"])),
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "latency: unexpected second key {extra:?}"
            )));
        }
        Ok(latency)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<Latency, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn forms_parse() {
        assert_eq!(
            parse(json!(0.5)).unwrap().sample(),
            Duration::from_millis(500)
        );
        assert_eq!(parse(json!(2)).unwrap().sample(), Duration::from_secs(2));
        let u = parse(json!({"uniform": [0.1, 0.2]})).unwrap();
        for _ in 0..100 {
            let d = u.sample().as_secs_f64();
            assert!((0.1..=0.2).contains(&d), "{d}");
        }
        let l = parse(json!({"lognormal": {"median": 0.2, "sigma": 0.5}})).unwrap();
        let mut draws: Vec<f64> = (0..2001).map(|_| l.sample().as_secs_f64()).collect();
        draws.sort_by(f64::total_cmp);
        let median = draws[1000];
        assert!((0.15..0.27).contains(&median), "median {median}");
    }

    #[test]
    fn bad_values_are_named() {
        assert!(parse(json!(-1)).unwrap_err().contains("between 0"));
        assert!(parse(json!({"uniform": [2, 1]}))
            .unwrap_err()
            .contains("lo must not exceed hi"));
        assert!(parse(json!({"gauss": 1})).unwrap_err().contains("gauss"));
        assert!(
            parse(json!({"lognormal": {"median": 1, "sigma": 1, "mu": 0}}))
                .unwrap_err()
                .contains("mu")
        );
        assert!(parse(json!("slow")).is_err());
    }
}
