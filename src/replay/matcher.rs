//! Which recorded request answers a live one: vcrpy's `match_on`, with JSON bodies compared as
//! data (key order, whitespace and `1` vs `1.0` do not matter) and volatile fields dropped.
//!
//! Requests are reduced to a [`Key`] once; a hash over the compared fields finds candidates in
//! constant time, so replay cost does not grow with the size of the cassette.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::Value;

use super::json::{clip, hash_json, json_diff, short};
pub use super::json::{drop_path, json_eq};

use crate::error::{LlmError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Method,
    /// Scheme, host, port, path and query together.
    Uri,
    Scheme,
    Host,
    Port,
    Path,
    /// Parameters compared as a set of pairs, in any order.
    Query,
    Body,
}

impl Field {
    pub const NAMES: &'static [&'static str] = &[
        "method", "uri", "scheme", "host", "port", "path", "query", "body",
    ];

    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "method" => Self::Method,
            "uri" | "url" => Self::Uri,
            "scheme" => Self::Scheme,
            "host" => Self::Host,
            "port" => Self::Port,
            "path" => Self::Path,
            "query" => Self::Query,
            "body" => Self::Body,
            _ => {
                return Err(LlmError::config(format!(
                    "cannot match on {name:?}: use {}",
                    Self::NAMES.join(", ")
                )))
            }
        })
    }

    fn covers(self, part: Self) -> bool {
        self == part
            || (self == Self::Uri
                && matches!(
                    part,
                    Self::Scheme | Self::Host | Self::Port | Self::Path | Self::Query
                ))
    }
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub on: Vec<Field>,
    /// Dotted paths into JSON bodies, dropped before comparing (`*` is any key or index).
    pub ignore_fields: Vec<Vec<String>>,
    /// Query parameters that are not compared.
    pub ignore_query: Vec<String>,
}

impl Default for Matcher {
    fn default() -> Self {
        Self {
            on: vec![Field::Method, Field::Uri, Field::Body],
            ignore_fields: Vec::new(),
            ignore_query: Vec::new(),
        }
    }
}

/// A request reduced to what matching compares.
#[derive(Debug, Clone)]
pub struct Key {
    pub method: String,
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Empty,
    Json(Value),
    Text(Vec<u8>),
}

impl Matcher {
    pub fn new(on: &[String], ignore_fields: &[String], ignore_query: &[String]) -> Result<Self> {
        Ok(Self {
            on: on.iter().map(|f| Field::parse(f)).collect::<Result<_>>()?,
            ignore_fields: ignore_fields
                .iter()
                .map(|p| p.split('.').map(str::to_string).collect())
                .collect(),
            ignore_query: ignore_query.to_vec(),
        })
    }

    fn uses(&self, part: Field) -> bool {
        self.on.iter().any(|f| f.covers(part))
    }

    /// `edit` sees a JSON body before comparison (the scrubber uses it to redact the same fields
    /// a recording redacted).
    pub fn key(&self, method: &str, uri: &str, body: &[u8], edit: impl Fn(&mut Value)) -> Key {
        let body = if !self.uses(Field::Body) || body.is_empty() {
            Body::Empty
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(mut json) => {
                    edit(&mut json);
                    for path in &self.ignore_fields {
                        drop_path(&mut json, path);
                    }
                    Body::Json(json)
                }
                Err(_) => Body::Text(body.to_vec()),
            }
        };
        let (scheme, host, port, path, query) = match url::Url::parse(uri) {
            Ok(u) => {
                let mut query: Vec<(String, String)> = u
                    .query_pairs()
                    .filter(|(k, _)| !self.ignore_query.iter().any(|i| i == k))
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                query.sort();
                let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
                let port = u.port_or_known_default();
                (
                    u.scheme().to_string(),
                    host,
                    port,
                    u.path().to_string(),
                    query,
                )
            }
            Err(_) => (
                String::new(),
                String::new(),
                None,
                uri.to_string(),
                Vec::new(),
            ),
        };
        Key {
            method: method.to_ascii_uppercase(),
            scheme,
            host,
            port,
            path,
            query,
            body,
        }
    }

    /// Equal keys hash equally (for the fields compared).
    pub fn hash(&self, k: &Key) -> u64 {
        let mut h = DefaultHasher::new();
        let on = |f| self.uses(f);
        if on(Field::Method) {
            k.method.hash(&mut h);
        }
        if on(Field::Scheme) {
            k.scheme.hash(&mut h);
        }
        if on(Field::Host) {
            k.host.hash(&mut h);
        }
        if on(Field::Port) {
            k.port.hash(&mut h);
        }
        if on(Field::Path) {
            k.path.hash(&mut h);
        }
        if on(Field::Query) {
            k.query.hash(&mut h);
        }
        if on(Field::Body) {
            match &k.body {
                Body::Empty => 0u8.hash(&mut h),
                Body::Json(v) => hash_json(v, &mut h),
                Body::Text(t) => t.hash(&mut h),
            }
        }
        h.finish()
    }

    pub fn matches(&self, a: &Key, b: &Key) -> bool {
        let same = |f: Field, eq: bool| eq || !self.uses(f);
        same(Field::Method, a.method == b.method)
            && same(Field::Scheme, a.scheme == b.scheme)
            && same(Field::Host, a.host == b.host)
            && same(Field::Port, a.port == b.port)
            && same(Field::Path, a.path == b.path)
            && same(Field::Query, a.query == b.query)
            && (!self.uses(Field::Body)
                || match (&a.body, &b.body) {
                    (Body::Json(x), Body::Json(y)) => json_eq(x, y),
                    (x, y) => x == y,
                })
    }

    /// What differs between a recorded request and a sent one, up to `max` lines.
    pub fn differences(&self, recorded: &Key, sent: &Key, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut part = |f: Field, name: &str, a: String, b: String| {
            if self.uses(f) && a != b && out.len() < max {
                out.push(format!("{name}: recorded {a}, sent {b}"));
            }
        };
        part(
            Field::Method,
            "method",
            recorded.method.clone(),
            sent.method.clone(),
        );
        part(
            Field::Scheme,
            "scheme",
            recorded.scheme.clone(),
            sent.scheme.clone(),
        );
        part(
            Field::Host,
            "host",
            recorded.host.clone(),
            sent.host.clone(),
        );
        let port = |p: Option<u16>| p.map_or_else(|| "none".to_string(), |p| p.to_string());
        part(Field::Port, "port", port(recorded.port), port(sent.port));
        part(
            Field::Path,
            "path",
            recorded.path.clone(),
            sent.path.clone(),
        );
        let query = |q: &[(String, String)]| {
            let pairs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{:?}", pairs.join("&"))
        };
        part(
            Field::Query,
            "query",
            query(&recorded.query),
            query(&sent.query),
        );
        if self.uses(Field::Body) && out.len() < max {
            body_differences(&recorded.body, &sent.body, max, &mut out);
        }
        out
    }
}

fn body_differences(a: &Body, b: &Body, max: usize, out: &mut Vec<String>) {
    match (a, b) {
        (Body::Json(a), Body::Json(b)) => json_diff("body", a, b, max, out),
        (a, b) if a != b && out.len() < max => out.push(format!(
            "body: recorded {}, sent {}",
            describe(a),
            describe(b)
        )),
        _ => {}
    }
}

fn describe(b: &Body) -> String {
    match b {
        Body::Empty => "no body".into(),
        Body::Json(v) => short(v),
        Body::Text(t) => format!("{:?}", clip(&String::from_utf8_lossy(t))),
    }
}

#[cfg(test)]
mod tests;
