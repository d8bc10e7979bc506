//! The plain Rust peer of `make bench`: tokio + reqwest + serde_json, no Python anywhere.
//!
//!     cargo run --release --example bench_reqwest -- URL seq|conc N [CONCURRENCY] [WARMUP]
//!
//! URL is an OpenAI-style base URL (`http://127.0.0.1:PORT/v1`). Each call POSTs the same body
//! `bench/peers.py` sends, reads the whole answer and parses it into a `serde_json::Value`, taking
//! the reply text out of it. Prints one JSON line: latency percentiles (µs), throughput, errors
//! (and, sequentially, every latency).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Keep in step with `PROMPT`, `MODEL` and `MAX_TOKENS` in `bench/peers.py`.
const PROMPT: &str = "Explain, in about three hundred words, why connection pooling matters.";
const MODEL: &str = "gpt-4.1-mini";
const MAX_TOKENS: u32 = 600;

struct Args {
    url: String,
    concurrent: bool,
    n: usize,
    concurrency: usize,
    warmup: usize,
}

fn parse_args() -> Args {
    let usage = "usage: bench_reqwest URL seq|conc N [CONCURRENCY] [WARMUP]";
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: usize| -> usize {
        argv.get(i).map_or(default, |s| s.parse().expect(usage))
    };
    let concurrent = match argv.get(1).map(String::as_str) {
        Some("seq") => false,
        Some("conc") => true,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let concurrency = if concurrent { num(3, 64) } else { 1 };
    Args {
        url: format!(
            "{}/chat/completions",
            argv.first().expect(usage).trim_end_matches('/')
        ),
        concurrent,
        n: num(2, 2000),
        concurrency,
        warmup: num(4, if concurrent { 2 * concurrency } else { 200 }),
    }
}

/// One call; `Err` carries a short reason.
async fn call(client: &reqwest::Client, url: &str, body: &[u8]) -> Result<usize, String> {
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .bearer_auth("sk-bench")
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("status {}", resp.status()));
    }
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    v["choices"][0]["message"]["content"]
        .as_str()
        .map(str::len)
        .ok_or_else(|| "no content".to_string())
}

/// `total` calls with `workers` in flight; returns each successful call's latency and the errors.
async fn run(
    client: &reqwest::Client,
    url: &str,
    body: &Arc<Vec<u8>>,
    total: usize,
    workers: usize,
) -> (Vec<Duration>, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (client, url, body, next) =
            (client.clone(), url.to_owned(), body.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t0 = Instant::now();
                match call(&client, &url, &body).await {
                    Ok(_) => lat.push(t0.elapsed()),
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("bench_reqwest: {e}");
                        }
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::with_capacity(total);
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.expect("worker panicked");
        all.extend(lat);
        errors += e;
    }
    (all, errors)
}

/// The `percent`-th percentile (nearest rank, rounded half up), in µs.
fn percentile_us(sorted: &[Duration], percent: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) * percent + 50) / 100;
    sorted[i].as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    // The crate builds reqwest without a TLS crypto provider; plain HTTP still needs one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("reqwest client");
    let body = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
    });
    let body = Arc::new(serde_json::to_vec(&body).expect("body"));
    run(&client, &args.url, &body, args.warmup, args.concurrency).await;
    let start = Instant::now();
    let (mut lat, errors) = run(&client, &args.url, &body, args.n, args.concurrency).await;
    let wall = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let out = json!({
        "mode": if args.concurrent { "conc" } else { "seq" },
        "n": args.n,
        "concurrency": args.concurrency,
        "ok": lat.len(),
        "errors": errors,
        "wall_s": wall,
        "calls_per_s": lat.len() as f64 / wall,
        "p50_us": percentile_us(&lat, 50),
        "p95_us": percentile_us(&lat, 95),
        "p99_us": percentile_us(&lat, 99),
        // Every latency (ns) of a sequential run, so that runs taken in turns with other
        // peers can be pooled; a concurrent run's throughput needs no pooling.
        "lat_ns": if args.concurrent {
            Vec::new()
        } else {
            lat.iter().map(|d| u64::try_from(d.as_nanos()).unwrap()).collect()
        },
    });
    println!("{out}");
}
