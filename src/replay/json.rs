//! JSON compared as data: equality and hashing that ignore key order and number spelling,
//! dropping fields by path, and the differences between two bodies in words.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::Value;

pub(super) fn json_diff(path: &str, a: &Value, b: &Value, max: usize, out: &mut Vec<String>) {
    if out.len() >= max || json_eq(a, b) {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let p = format!("{path}.{k}");
                match y.get(k) {
                    Some(vb) => json_diff(&p, va, vb, max, out),
                    None if out.len() < max => {
                        out.push(format!("{p}: recorded {}, sent nothing", short(va)));
                    }
                    None => return,
                }
            }
            for (k, vb) in y {
                if !x.contains_key(k) && out.len() < max {
                    out.push(format!("{path}.{k}: recorded nothing, sent {}", short(vb)));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                json_diff(&format!("{path}[{i}]"), va, vb, max, out);
            }
        }
        (Value::Array(x), Value::Array(y)) => out.push(format!(
            "{path}: recorded {} items, sent {}",
            x.len(),
            y.len()
        )),
        _ => out.push(format!("{path}: recorded {}, sent {}", short(a), short(b))),
    }
}

pub(super) fn short(v: &Value) -> String {
    clip(&v.to_string())
}

pub(super) fn clip(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    let head: String = s.chars().take(MAX).collect();
    format!("{head}...")
}

/// JSON equality that ignores key order and treats numbers as numbers (`1 == 1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        _ => a == b,
    }
}

/// A hash consistent with [`json_eq`]: object entries are combined in an order-free way.
pub(super) fn hash_json(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or_default();
            // -0.0 == 0.0 must hash equally.
            let f = if f == 0.0 { 0.0 } else { f };
            (2u8, f.to_bits()).hash(h);
        }
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(a) => {
            (4u8, a.len()).hash(h);
            for x in a {
                hash_json(x, h);
            }
        }
        Value::Object(m) => {
            let mut sum = 0u64;
            for (k, x) in m {
                let mut e = DefaultHasher::new();
                k.hash(&mut e);
                hash_json(x, &mut e);
                sum = sum.wrapping_add(e.finish());
            }
            (5u8, m.len(), sum).hash(h);
        }
    }
}

/// Remove the value at a dotted path (`*` matches every key or index).
pub fn drop_path(v: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match v {
        Value::Object(m) if rest.is_empty() => {
            if first == "*" {
                m.clear();
            } else {
                m.remove(first);
            }
        }
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if first == "*" || k == first {
                    drop_path(child, rest);
                }
            }
        }
        Value::Array(items) => {
            let index = first.parse::<usize>().ok();
            if rest.is_empty() {
                if let Some(i) = index.filter(|i| *i < items.len()) {
                    items.remove(i);
                } else if first == "*" {
                    items.clear();
                }
                return;
            }
            for (i, child) in items.iter_mut().enumerate() {
                if first == "*" || index == Some(i) {
                    drop_path(child, rest);
                }
            }
        }
        _ => {}
    }
}
