//! Load for bench/gateway.py: one OpenAI chat request, sent at a fixed arrival rate (open loop)
//! or by a fixed number of callers as fast as answers come (closed loop, saturation).
//!
//!   loadgen --url http://127.0.0.1:PORT/v1/chat/completions --model gpt-4o-mini
//!           --mode open   --rate 500 --seconds 10 [--warmup-seconds 2]
//!           --mode closed --concurrency 64 --seconds 10 [--warmup-seconds 2]
//!           [--threads 1] [--key sk-...]
//!
//! Prints one JSON line: calls, errors, latency percentiles (µs), calls/s, and the generator's
//! own CPU per call. The client is the reference client's (reqwest, pooled keep-alive), so the
//! generator costs ~40 µs of CPU per call and is not what limits a run.
//!
//! Open loop: a plain thread paces the sends with `std::thread::sleep` (tens of µs of slack;
//! tokio's timer has 1 ms granularity, which would send 2,000 req/s as bursts of two) and hands
//! each one to the runtime. A request's latency runs from the moment it is handed over, so a
//! slow answer never delays the next send (no coordinated omission); how late the pacer was
//! against the schedule is reported as `lag_p99_us`, and a generator that cannot keep the rate
//! shows there.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Opts {
    url: String,
    model: String,
    key: String,
    mode: String,
    rate: f64,
    concurrency: usize,
    seconds: f64,
    warmup: f64,
    threads: usize,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        url: String::new(),
        model: "gpt-4o-mini".into(),
        key: "sk-mock".into(),
        mode: "open".into(),
        rate: 500.0,
        concurrency: 64,
        seconds: 10.0,
        warmup: 2.0,
        threads: 1,
    };
    let a: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < a.len() {
        let v = a[i + 1].clone();
        let num = |v: &str| v.parse::<f64>().map_err(|e| format!("{}: {e}", a[i]));
        match a[i].as_str() {
            "--url" => o.url = v,
            "--model" => o.model = v,
            "--key" => o.key = v,
            "--mode" => o.mode = v,
            "--rate" => o.rate = num(&v)?,
            "--concurrency" => o.concurrency = num(&v)? as usize,
            "--seconds" => o.seconds = num(&v)?,
            "--warmup-seconds" => o.warmup = num(&v)?,
            "--threads" => o.threads = num(&v)? as usize,
            other => return Err(format!("unknown option {other}")),
        }
        i += 2;
    }
    let host = o.url.trim_start_matches("http://").split(['/', ':']).next().unwrap_or("");
    if !(host == "localhost" || host.starts_with("127.")) {
        return Err(format!("refusing non-loopback target {host:?}"));
    }
    Ok(o)
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// What every request sends; the body is made once.
struct Shot {
    client: reqwest::Client,
    url: String,
    auth: String,
    body: Vec<u8>,
}

impl Shot {
    /// One call, read to the end; an error unless a 200 whose body names a choice.
    async fn fire(&self) -> Result<(), String> {
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("authorization", &self.auth)
            .body(self.body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("status {status}: {}", String::from_utf8_lossy(&bytes)));
        }
        if !bytes.windows(9).any(|w| w == b"\"choices\"") {
            return Err("a 200 without choices".into());
        }
        Ok(())
    }
}

#[derive(Default)]
struct Tally {
    lat_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: runtime: {e}");
            std::process::exit(2);
        }
    };
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: client: {e}");
            std::process::exit(2);
        }
    };
    let body = serde_json::json!({
        "model": o.model,
        "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
    });
    let shot = Arc::new(Shot {
        client,
        url: o.url.clone(),
        auth: format!("Bearer {}", o.key),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    });
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (start, wall, cpu, lag) = if o.mode == "open" {
        open_loop(&rt, &o, &shot, &tally)
    } else {
        closed_loop(&rt, &o, &shot, &tally)
    };
    let mut t = match tally.lock() {
        Ok(mut t) => std::mem::take(&mut *t),
        Err(_) => std::process::exit(2),
    };
    let _ = start;
    t.lat_us.sort_unstable();
    let calls = t.lat_us.len() as u64;
    let out = serde_json::json!({
        "mode": o.mode,
        "rate": o.rate,
        "concurrency": o.concurrency,
        "calls": calls,
        "errors": t.errors,
        "first_error": t.first_error,
        "calls_per_s": calls as f64 / wall,
        "p50_us": pct(&t.lat_us, 50.0),
        "p90_us": pct(&t.lat_us, 90.0),
        "p99_us": pct(&t.lat_us, 99.0),
        "p999_us": pct(&t.lat_us, 99.9),
        "max_us": t.lat_us.last().copied().unwrap_or(0),
        "lag_p99_us": lag,
        "cpu_us_per_call": if calls > 0 { cpu / (calls + t.errors) as f64 * 1e6 } else { 0.0 },
    });
    println!("{out}");
}

/// Sends at `o.rate` for warm-up plus `o.seconds`, and records the calls sent after the warm-up.
/// Returns (start, timed wall seconds, CPU seconds over the timed part, pacer lag p99 in µs).
fn open_loop(
    rt: &tokio::runtime::Runtime,
    o: &Opts,
    shot: &Arc<Shot>,
    tally: &Arc<Mutex<Tally>>,
) -> (Instant, f64, f64, u64) {
    let period = Duration::from_secs_f64(1.0 / o.rate);
    let warm_n = (o.warmup * o.rate) as u64;
    let total = warm_n + (o.seconds * o.rate) as u64;
    let in_flight = Arc::new(AtomicU64::new(0));
    let mut lags = Vec::with_capacity(total as usize);
    let start = Instant::now();
    let mut cpu0 = cpu_seconds();
    let mut timed_from = start;
    for i in 0..total {
        let due = start + period * i as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let sent = Instant::now();
        if i == warm_n {
            cpu0 = cpu_seconds();
            timed_from = sent;
        }
        let timed = i >= warm_n;
        if timed {
            lags.push(sent.saturating_duration_since(due).as_micros() as u64);
        }
        let (shot, tally, in_flight) = (shot.clone(), tally.clone(), in_flight.clone());
        in_flight.fetch_add(1, Ordering::Relaxed);
        rt.spawn(async move {
            let r = shot.fire().await;
            let took = sent.elapsed().as_micros() as u64;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            if timed {
                record(&tally, r, took);
            }
        });
    }
    let sent_all = Instant::now();
    // The answers still on the way: up to the client's own timeout.
    while in_flight.load(Ordering::Relaxed) > 0 && sent_all.elapsed() < Duration::from_secs(35) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let wall = sent_all.duration_since(timed_from).as_secs_f64();
    lags.sort_unstable();
    (start, wall.max(1e-9), cpu_seconds() - cpu0, pct(&lags, 99.0))
}

/// `o.concurrency` callers, each sending its next request when its answer is in, for warm-up
/// plus `o.seconds`; the calls completed after the warm-up count.
fn closed_loop(
    rt: &tokio::runtime::Runtime,
    o: &Opts,
    shot: &Arc<Shot>,
    tally: &Arc<Mutex<Tally>>,
) -> (Instant, f64, f64, u64) {
    let start = Instant::now();
    let timed_from = start + Duration::from_secs_f64(o.warmup);
    let end = timed_from + Duration::from_secs_f64(o.seconds);
    let cpu = Arc::new(Mutex::new(None::<f64>));
    rt.block_on(async {
        let mut tasks = Vec::with_capacity(o.concurrency);
        for _ in 0..o.concurrency {
            let (shot, tally, cpu) = (shot.clone(), tally.clone(), cpu.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    if sent >= timed_from {
                        if let Ok(mut c) = cpu.lock() {
                            c.get_or_insert_with(cpu_seconds);
                        }
                    }
                    let r = shot.fire().await;
                    if sent >= timed_from && Instant::now() <= end {
                        record(&tally, r, sent.elapsed().as_micros() as u64);
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let cpu0 = cpu.lock().ok().and_then(|c| *c).unwrap_or_else(cpu_seconds);
    (start, o.seconds, cpu_seconds() - cpu0, 0)
}

fn record(tally: &Mutex<Tally>, r: Result<(), String>, took_us: u64) {
    if let Ok(mut t) = tally.lock() {
        match r {
            Ok(()) => t.lat_us.push(took_us),
            Err(e) => {
                t.errors += 1;
                t.first_error.get_or_insert(e);
            }
        }
    }
}
