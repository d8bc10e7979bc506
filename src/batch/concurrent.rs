//! Concurrent mode: a job for a provider without a batch API (OpenRouter, Ollama, Gemini for
//! now, a registered provider) runs as real-time calls through the client's pipeline, so its
//! retries, rate limits, breakers and fallbacks hold for every item. At most `concurrency`
//! calls are in flight; progress is reported as each call ends.

use std::sync::{Mutex, PoisonError};

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::state::State;
use super::JobInfo;
use crate::client::Client;
use crate::error::Result;
use crate::resilience::CallOptions;

pub(super) async fn run(
    client: &Client,
    state: &Mutex<State>,
    concurrency: usize,
    on_progress: &mut (impl FnMut(&JobInfo) -> Result<()> + Send),
) -> Result<()> {
    let lock = || state.lock().unwrap_or_else(PoisonError::into_inner);
    lock().restart_calls();
    let mut running = FuturesUnordered::new();
    let call = |i: usize, req| {
        let client = client.clone();
        async move { (i, client.chat_with(req, CallOptions::default()).await) }
    };
    loop {
        while running.len() < concurrency {
            let next = lock().take_next();
            match next {
                Some((i, req)) => running.push(call(i, req)),
                None => break,
            }
        }
        let Some((i, result)) = running.next().await else {
            break;
        };
        let info = {
            let mut s = lock();
            s.finish_call(i, result);
            s.info()
        };
        on_progress(&info)?;
    }
    lock().end_calls();
    Ok(())
}
