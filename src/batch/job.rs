//! The job engine: one job's items and provider batches, and the steps that move them on
//! (create, poll, collect, resubmit), every change written to the store before the next step.
//!
//! A job is a list of items (custom id, request body, attempts, where the item is) and the
//! provider batches made for them. Each [`BatchJob::step`] polls every provider batch still
//! running, collects the results of those that ended (joined on custom id), returns items that
//! failed for a retryable reason to pending while they have attempts left, and submits what is
//! pending. Steps are serialised by a lock held across their awaits; the job's state sits
//! behind a plain mutex never held across one, so getters never wait for the network.
//!
//! Cancel safety: a step dropped mid-way (asyncio cancellation, a timeout) leaves the state as
//! the last completed change wrote it; a provider batch whose create was answered is recorded
//! before anything else is awaited.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;

use super::outcome::{decode, ItemResult, Outcome};
use super::state::{Creating, Item, Meta, Place, Remote, State};
use super::store::Store;
use super::{anthropic, concurrent, gemini, openai, recover, stats};
use super::{custom_ids, now, split, Api, BatchRequest, JobInfo, Mode, Polled, Status};
use crate::client::{Client, ClientConfig};
use crate::error::{ErrorKind, LlmError, Result};
use crate::model::Usage;

/// How a job is submitted.
#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    /// Where the job's state is kept; `None`: not kept (the job cannot be resumed).
    pub store: Option<std::path::PathBuf>,
    /// Concurrent mode: calls in flight at once.
    pub concurrency: Option<usize>,
}

/// How long and how often to wait.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    pub poll_interval: Duration,
    pub timeout: Option<Duration>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            poll_interval: DEFAULT_POLL_INTERVAL,
            timeout: None,
        }
    }
}

/// Providers answer within minutes to hours; a poll every 30 s costs nothing and is what their
/// own guides show.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Calls in flight at once in concurrent mode, unless told otherwise.
const DEFAULT_CONCURRENCY: usize = 32;

/// A batch job; clones share it.
#[derive(Clone)]
pub struct BatchJob {
    client: Client,
    state: Arc<Mutex<State>>,
    /// Held across one step's awaits, so steps (and cancels) never interleave.
    stepping: Arc<tokio::sync::Mutex<()>>,
    store: Option<Arc<Store>>,
    concurrency: usize,
}

impl std::fmt::Debug for BatchJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = self.info();
        f.debug_struct("BatchJob")
            .field("id", &info.id)
            .field("status", &info.status)
            .finish_non_exhaustive()
    }
}

impl BatchJob {
    /// Check and build every request, write the job to the store, and submit it: for a
    /// provider with a batch API, its provider batches are created before this returns; in
    /// concurrent mode the calls run in [`BatchJob::wait`].
    pub async fn submit(
        client: &Client,
        requests: Vec<BatchRequest>,
        opts: SubmitOptions,
    ) -> Result<Self> {
        let id = format!("batchjob_{}", random_hex(24));
        Self::submit_as(client, id, requests, opts).await
    }

    /// [`BatchJob::submit`] under a chosen job id (one a caller can find again in the store
    /// after a restart; see [`BatchJob::find`]).
    pub async fn submit_as(
        client: &Client,
        id: String,
        requests: Vec<BatchRequest>,
        opts: SubmitOptions,
    ) -> Result<Self> {
        let ids = custom_ids(&requests)?;
        let provider = client.provider();
        let api = crate::catalog::batch_api_for(provider, client.model());
        let mode = if api.is_some() {
            Mode::Batch
        } else {
            Mode::Concurrent
        };
        let mut items = Vec::with_capacity(requests.len());
        let mut kept = Vec::new();
        let mut betas: Vec<String> = Vec::new();
        for (id, r) in ids.into_iter().zip(requests) {
            let body = match mode {
                Mode::Batch => {
                    let (body, headers) = client.batch_body(r.request)?;
                    if api == Some(Api::Anthropic) {
                        anthropic::betas(&headers, &mut betas);
                    }
                    body
                }
                Mode::Concurrent => {
                    kept.push(Some(r.request));
                    Bytes::new()
                }
            };
            items.push(Item {
                custom_id: id,
                body,
                attempts: 0,
                place: Place::Pending,
                dirty: true,
                stored: false,
            });
        }
        let meta = Meta {
            id,
            provider: provider.to_string(),
            model: client.model().to_string(),
            base_url: client.base_url(),
            api,
            mode,
            created_at: now(),
            expires_at: None,
            remotes: Vec::new(),
            cancel_requested: false,
            betas,
            creating: None,
        };
        let mut state = State::new(meta, items);
        state.requests = kept;
        // Concurrent jobs are not kept: their calls live in this process.
        let store = match (&opts.store, mode) {
            (Some(path), Mode::Batch) => Some(Arc::new(Store::open(path)?)),
            _ => None,
        };
        let job = Self {
            client: client.clone(),
            state: Arc::new(Mutex::new(state)),
            stepping: Arc::default(),
            store,
            concurrency: opts.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1),
        };
        stats::register(&job.state);
        // The bodies were built without the headers (`Provider::batch_body`): a key that cannot
        // go in one is refused now, before the job is kept, not at its first create.
        if mode == Mode::Batch {
            job.headers()?;
        }
        // Written before anything is submitted: a crash from here on loses nothing.
        job.save()?;
        if mode == Mode::Batch {
            let _step = job.stepping.clone().lock_owned().await;
            job.submit_pending().await?;
        }
        Ok(job)
    }

    /// Continue job `id`, kept in the store at `path` (by another process, say), with
    /// `client`, which must call the job's provider and model.
    pub fn resume_with(client: &Client, id: &str, path: &std::path::Path) -> Result<Self> {
        let store = Arc::new(Store::open(path)?);
        let state = store.load(id)?;
        let (provider, model) = (&state.meta.provider, &state.meta.model);
        if client.provider() != provider || client.model() != model {
            return Err(LlmError::config(format!(
                "batch job {id} runs on {provider}/{model}, not on {}/{}",
                client.provider(),
                client.model()
            )));
        }
        Ok(Self::resumed(client, store, state))
    }

    /// Job `id` from the store at `path`, continued with `client`; `None` when the store has
    /// no such job.
    pub fn find(client: &Client, id: &str, path: &std::path::Path) -> Result<Option<Self>> {
        if !Store::open(path)?.has(id)? {
            return Ok(None);
        }
        Self::resume_with(client, id, path).map(Some)
    }

    fn resumed(client: &Client, store: Arc<Store>, state: State) -> Self {
        let state = Arc::new(Mutex::new(state));
        stats::register(&state);
        Self {
            client: client.clone(),
            state,
            stepping: Arc::default(),
            store: Some(store),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// The ids of the requests, in input order.
    pub fn custom_ids(&self) -> Vec<String> {
        self.lock()
            .items
            .iter()
            .map(|it| it.custom_id.clone())
            .collect()
    }

    /// Load job `id` from the store at `path` and continue it with a client for its model
    /// (`api_key` and `base_url` where the environment's or the recorded ones will not do).
    pub fn resume(
        id: &str,
        path: &std::path::Path,
        api_key: Option<String>,
        base_url: Option<String>,
    ) -> Result<Self> {
        let store = Arc::new(Store::open(path)?);
        let state = store.load(id)?;
        let cfg = Self::client_config(&state.meta, api_key, base_url);
        let client = Client::new(cfg)?;
        Ok(Self::resumed(&client, store, state))
    }

    /// The client a kept job continues with.
    pub(crate) fn client_config(
        meta: &Meta,
        api_key: Option<String>,
        base_url: Option<String>,
    ) -> ClientConfig {
        ClientConfig {
            model: format!("{}/{}", meta.provider, meta.model),
            api_key,
            base_url: base_url.or_else(|| Some(meta.base_url.clone())),
            ..ClientConfig::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn info(&self) -> JobInfo {
        self.lock().info()
    }

    pub fn is_finished(&self) -> bool {
        self.lock().finished()
    }

    /// The ids of the provider batches made so far.
    pub fn provider_batch_ids(&self) -> Vec<String> {
        self.lock()
            .meta
            .remotes
            .iter()
            .map(|r| r.id.clone())
            .collect()
    }

    /// Write what changed to the store (a no-op without one).
    fn save(&self) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut state = self.lock();
        store.save(&mut state)
    }

    /// The provider's headers (its key among them), as its model listing sends them.
    fn headers(&self) -> Result<HeaderMap> {
        let target = self.client.primary();
        let req = target
            .provider()
            .build_models(target.endpoint())
            .ok_or_else(|| LlmError::config("this provider has no batch API"))??;
        Ok(req.headers)
    }

    /// Submit every pending item, in as many provider batches as the provider's limits need.
    async fn submit_pending(&self) -> Result<()> {
        let Some(api) = self.lock().meta.api else {
            return Ok(());
        };
        self.recover(api).await?;
        let (pending, sizes): (Vec<usize>, Vec<usize>) = {
            let state = self.lock();
            if state.meta.cancel_requested {
                return Ok(());
            }
            state
                .items
                .iter()
                .enumerate()
                .filter(|(_, it)| it.place == Place::Pending)
                .map(|(i, it)| (i, it.body.len() + it.custom_id.len() + 64))
                .unzip()
        };
        let (max_items, max_bytes) = api.limits();
        for run in split(&sizes, max_items, max_bytes) {
            let Some(chunk) = pending.get(run) else {
                continue;
            };
            // The intent is saved before the request goes: a process that dies before the
            // answer is saved leaves it, and the next step finds the batch instead of paying
            // for these items twice.
            let token = random_hex(24);
            {
                let mut state = self.lock();
                state.meta.creating = Some(Creating {
                    token: token.clone(),
                    items: chunk.to_vec(),
                    at: now(),
                });
                if let Some(store) = &self.store {
                    store.save(&mut state)?;
                }
            }
            let polled = match self.create(api, chunk, &token).await {
                Ok(polled) => polled,
                Err(e) => {
                    // An answer came back (an error status): no batch was made.
                    if e.status.is_some() {
                        self.lock().meta.creating = None;
                    }
                    return Err(e);
                }
            };
            let mut state = self.lock();
            state.meta.creating = None;
            record(&mut state, chunk, polled);
            if let Some(store) = &self.store {
                store.save(&mut state)?;
            }
        }
        Ok(())
    }

    /// A create was sent whose answer was never saved: look through the provider's recent
    /// batches for the one it made (see `recover.rs`) and keep it as the job's; when none is
    /// found, its items are simply still pending. A failed listing leaves the record, so the
    /// next step looks again rather than creating blind.
    async fn recover(&self, api: Api) -> Result<()> {
        let Some(creating) = self.lock().meta.creating.clone() else {
            return Ok(());
        };
        let mut known: HashSet<String> = self.provider_batch_ids().into_iter().collect();
        if let Some(store) = &self.store {
            for job in store.jobs()? {
                known.extend(job.provider_batch_ids);
            }
        }
        let headers = self.headers()?;
        let target = self.client.primary();
        let ep = target.endpoint();
        let mut listed = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..recover::MAX_PAGES {
            let req = match api {
                Api::Anthropic => anthropic::list(ep, &headers, cursor.as_deref()),
                Api::OpenAi => openai::list(ep, &headers, cursor.as_deref()),
                Api::Gemini => gemini::list(ep, &headers, cursor.as_deref()),
            };
            let body = target.send_raw(req).await?;
            let page = match api {
                Api::Anthropic => anthropic::parse_list(&body)?,
                Api::OpenAi => openai::parse_list(&body)?,
                Api::Gemini => gemini::parse_list(&body)?,
            };
            // Anthropic and OpenAI list newest first; Gemini does not say, so its pages are
            // read to the end (or the cap).
            let older = api != Api::Gemini && recover::past(&creating, &page.batches);
            listed.extend(page.batches);
            match page.next {
                Some(next) if !older => cursor = Some(next),
                _ => break,
            }
        }
        let found = recover::pick(api, &creating, &listed, &known);
        let adopted = {
            let mut state = self.lock();
            state.meta.creating = None;
            let mut adopted = None;
            if let recover::Found::Batch(polled) = found {
                tracing::info!(batch = %polled.id, "found the provider batch an interrupted create made");
                let cancelled = state.meta.cancel_requested;
                // A store from before cancels looked up such creates holds a cancel that ended
                // these items cancelled without this batch: they were sent, so they are its
                // (what it finished before its cancel still comes back).
                let items: Vec<usize> = creating
                    .items
                    .iter()
                    .copied()
                    .filter(|&i| match state.items.get(i).map(|it| &it.place) {
                        Some(Place::Pending) => true,
                        Some(Place::Done {
                            outcome: Outcome::Cancelled,
                        }) => cancelled,
                        _ => false,
                    })
                    .collect();
                if cancelled && !polled.status.is_terminal() {
                    adopted = Some((state.meta.remotes.len(), polled.id.clone()));
                }
                record(&mut state, &items, polled);
            }
            if let Some(store) = &self.store {
                store.save(&mut state)?;
            }
            adopted
        };
        // The job was cancelled before this batch was known: it is cancelled now, not left
        // running (and billed) until it ends.
        if let Some(remote) = adopted {
            self.stop(api, vec![remote]).await?;
        }
        Ok(())
    }

    /// Create one provider batch of these items.
    async fn create(&self, api: Api, chunk: &[usize], token: &str) -> Result<Polled> {
        let target = self.client.primary();
        let ep = target.endpoint();
        let headers = self.headers()?;
        let bodies: Vec<(String, Bytes)> = {
            let state = self.lock();
            chunk
                .iter()
                .filter_map(|&i| state.items.get(i))
                .map(|it| (it.custom_id.clone(), it.body.clone()))
                .collect()
        };
        let items: Vec<(&str, &Bytes)> = bodies.iter().map(|(id, b)| (id.as_str(), b)).collect();
        match api {
            Api::Anthropic => {
                let betas = self.lock().meta.betas.clone();
                let headers = anthropic::with_betas(headers, &betas);
                let body = target
                    .send_raw(anthropic::create(ep, &headers, &items)?)
                    .await?;
                anthropic::parse_batch(&body)
            }
            Api::OpenAi => {
                let file = openai::input_file(&items)?;
                let boundary = format!("llmrail-{}", random_hex(24));
                let up = target
                    .send_raw(openai::upload(ep, &headers, &file, &boundary)?)
                    .await?;
                let file_id = openai::parse_file(&up)?;
                let body = target
                    .send_raw(openai::create(ep, &headers, &file_id, token))
                    .await?;
                openai::parse_batch(&body)
            }
            Api::Gemini => {
                let name = recover::tag(api, token);
                let req = if gemini::inline_len(&name, &items) <= gemini::file::inline_limit() {
                    gemini::create(ep, &headers, &name, &items)?
                } else {
                    // Too big to go inline: the requests go up as a file the batch names.
                    let file = gemini::file::input_file(&items)?;
                    let start = gemini::file::upload_start(ep, &headers, &name, file.len())?;
                    let (answer, _) = target.send_raw_with_headers(start).await?;
                    let url = gemini::file::upload_url(&answer)?;
                    let up = gemini::file::upload(ep, &headers, &url, file)?;
                    let uploaded = gemini::file::parse_uploaded(&target.send_raw(up).await?)?;
                    gemini::create_from_file(ep, &headers, &name, &uploaded)
                };
                gemini::parse_batch(&target.send_raw(req).await?)
            }
        }
    }

    /// One round: poll what runs, collect what ended, requeue retryable failures, submit.
    pub async fn step(&self) -> Result<()> {
        let _step = self.stepping.clone().lock_owned().await;
        let Some(api) = self.lock().meta.api else {
            return Ok(());
        };
        let live: Vec<(usize, String)> = {
            let state = self.lock();
            state
                .meta
                .remotes
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.collected)
                .map(|(n, r)| (n, r.id.clone()))
                .collect()
        };
        let headers = self.headers()?;
        let target = self.client.primary();
        let ep = target.endpoint();
        for (n, id) in live {
            let req = match api {
                Api::Anthropic => anthropic::get(ep, &headers, &id),
                Api::OpenAi => openai::get(ep, &headers, &id),
                Api::Gemini => gemini::get(ep, &headers, &id),
            };
            let body = target.send_raw(req).await?;
            let polled = match api {
                Api::Anthropic => anthropic::parse_batch(&body)?,
                Api::OpenAi => openai::parse_batch(&body)?,
                Api::Gemini => gemini::parse_batch(&body)?,
            };
            {
                let mut state = self.lock();
                if let Some(r) = state.meta.remotes.get_mut(n) {
                    r.status = polled.status;
                    r.counts = polled.counts.or(r.counts);
                    r.output_file.clone_from(&polled.output_file);
                    r.error_file.clone_from(&polled.error_file);
                }
                if let Some(store) = &self.store {
                    store.save(&mut state)?;
                }
            }
            if polled.status.is_terminal() {
                self.collect(api, n, &polled, &headers).await?;
            }
        }
        {
            let mut state = self.lock();
            state.requeue();
            if let Some(store) = &self.store {
                store.save(&mut state)?;
            }
        }
        self.submit_pending().await
    }

    /// Download an ended provider batch's results into its items.
    async fn collect(
        &self,
        api: Api,
        n: usize,
        polled: &Polled,
        headers: &HeaderMap,
    ) -> Result<()> {
        let target = self.client.primary();
        let ep = target.endpoint();
        let mut lines = Vec::new();
        // What was downloaded: the answers are slices of it, and the store keeps it whole.
        let mut files = Vec::new();
        match api {
            Api::Anthropic => {
                let body = target
                    .send_raw(anthropic::results(ep, headers, &polled.id))
                    .await?;
                lines.extend(anthropic::parse_results(&body)?);
                files.push(body);
            }
            Api::OpenAi => {
                // Both files: successes in one, failures in the other; either may be absent.
                for file in [&polled.output_file, &polled.error_file]
                    .into_iter()
                    .flatten()
                {
                    let body = target.send_raw(openai::content(ep, headers, file)).await?;
                    lines.extend(openai::parse_results(&body)?);
                    files.push(body);
                }
            }
            Api::Gemini => {
                // The answers are in the ended operation itself, or in its responses file; in
                // input order either way.
                let ids: Vec<String> = {
                    let state = self.lock();
                    state
                        .meta
                        .remotes
                        .get(n)
                        .map(|r| {
                            r.items
                                .iter()
                                .filter_map(|&i| state.items.get(i))
                                .map(|it| it.custom_id.clone())
                                .collect()
                        })
                        .unwrap_or_default()
                };
                if let Some(file) = &polled.output_file {
                    let body = target
                        .send_raw(gemini::file::download(ep, headers, file))
                        .await?;
                    lines.extend(gemini::file::parse_results(&body, &ids)?);
                    files.push(body);
                } else {
                    let body = target
                        .send_raw(gemini::get(ep, headers, &polled.id))
                        .await?;
                    lines.extend(gemini::parse_results(&body, &ids)?);
                    files.push(body);
                }
            }
        }
        let missing = match polled.status {
            Status::Expired => Outcome::Expired,
            Status::Cancelled => Outcome::Cancelled,
            status => Outcome::Errored {
                status: 500,
                body: Bytes::from(
                    serde_json::json!({"error": {"type": "api_error", "message": format!(
                        "the provider's batch {} ended {} with no result for this request",
                        polled.id, status.as_str()
                    )}})
                    .to_string(),
                ),
            },
        };
        let mut state = self.lock();
        state.apply(n, lines, &missing);
        if let Some(store) = &self.store {
            state.downloads.push((n, files));
            store.save(&mut state)?;
        }
        Ok(())
    }

    /// Wait until every item has its result, polling every `poll_interval` (no wait at all
    /// while a cassette replays) and calling `on_progress` after each poll. A timeout is a
    /// `Timeout` error; the job goes on and can be waited for again. A poll that fails for a
    /// transient reason (a connection, a 5xx, a rate limit) is retried at the next interval.
    pub async fn wait(
        &self,
        opts: WaitOptions,
        mut on_progress: impl FnMut(&JobInfo) -> Result<()> + Send,
    ) -> Result<()> {
        let run = async {
            if self.info().mode == Mode::Concurrent {
                concurrent::run(
                    &self.client,
                    &self.state,
                    self.concurrency,
                    &mut on_progress,
                )
                .await?;
                return Ok(());
            }
            loop {
                if self.is_finished() {
                    return Ok(());
                }
                match self.step().await {
                    Ok(()) => {}
                    Err(e) if transient(&e) => {
                        tracing::debug!(error = %e, "batch poll failed; trying again at the next interval")
                    }
                    Err(e) => return Err(e),
                }
                on_progress(&self.info())?;
                if self.is_finished() {
                    return Ok(());
                }
                tokio::time::sleep(crate::replay::paced(opts.poll_interval)).await;
            }
        };
        match opts.timeout {
            None => run.await,
            Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
                let info = self.info();
                Err(LlmError::new(
                    ErrorKind::Timeout,
                    format!(
                        "batch job {} is still {} after {:.1} s ({} pending); wait again, or \
                         resume it later from its store",
                        info.id,
                        info.status.as_str(),
                        limit.as_secs_f64(),
                        info.counts.pending
                    ),
                ))
            }),
        }
    }

    /// Ask the provider to stop: unsubmitted items end cancelled at once, running provider
    /// batches are cancelled (what they finished still comes back). `wait` then collects.
    /// A create whose answer was never saved is looked up first, so the batch it made is
    /// cancelled too rather than left running (and billed) with no job to collect it; a
    /// failed look-up fails the cancel, which changes nothing and can be asked again.
    pub async fn cancel(&self) -> Result<()> {
        let _step = self.stepping.clone().lock_owned().await;
        let api = self.lock().meta.api;
        if let Some(api) = api {
            self.recover(api).await?;
        }
        let live = {
            let mut state = self.lock();
            state.meta.cancel_requested = true;
            for i in 0..state.items.len() {
                if state.items.get(i).map(|it| &it.place) == Some(&Place::Pending) {
                    state.set(
                        i,
                        Place::Done {
                            outcome: Outcome::Cancelled,
                        },
                    );
                }
            }
            if let Some(store) = &self.store {
                store.save(&mut state)?;
            }
            state
                .meta
                .remotes
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.collected && !r.status.is_terminal())
                .map(|(n, r)| (n, r.id.clone()))
                .collect::<Vec<_>>()
        };
        let Some(api) = api else { return Ok(()) };
        self.stop(api, live).await
    }

    /// Send the cancel of each `(index, id)` provider batch and keep the state it answers.
    async fn stop(&self, api: Api, live: Vec<(usize, String)>) -> Result<()> {
        let headers = self.headers()?;
        let target = self.client.primary();
        let ep = target.endpoint();
        for (n, id) in live {
            let polled = match api {
                Api::Anthropic => anthropic::parse_batch(
                    &target
                        .send_raw(anthropic::cancel(ep, &headers, &id))
                        .await?,
                )?,
                Api::OpenAi => {
                    openai::parse_batch(&target.send_raw(openai::cancel(ep, &headers, &id)).await?)?
                }
                // The cancel answers `{}`; the batch's state is read after it.
                Api::Gemini => {
                    target.send_raw(gemini::cancel(ep, &headers, &id)).await?;
                    gemini::parse_batch(&target.send_raw(gemini::get(ep, &headers, &id)).await?)?
                }
            };
            let mut state = self.lock();
            if let Some(r) = state.meta.remotes.get_mut(n) {
                r.status = polled.status;
                r.counts = polled.counts.or(r.counts);
            }
            if let Some(store) = &self.store {
                store.save(&mut state)?;
            }
        }
        Ok(())
    }

    /// One result per request, in input order; an error while the job is not finished.
    pub fn results(&self) -> Result<Vec<ItemResult>> {
        let mut state = self.lock();
        if !state.finished() {
            let info = state.info();
            return Err(LlmError::config(format!(
                "batch job {} is still {} ({} pending): await job.wait() before reading its results",
                info.id,
                info.status.as_str(),
                info.counts.pending
            )));
        }
        let provider = self.client.primary().provider();
        let batch_priced = state.meta.mode == Mode::Batch;
        let state = &mut *state;
        let (model, local_errors) = (&state.meta.model, &state.local_errors);
        Ok(state
            .items
            .iter_mut()
            .enumerate()
            .map(|(i, item)| {
                let result = match (local_errors.get(&i), &mut item.place) {
                    (Some(e), _) => Err(e.clone()),
                    (None, Place::Done { outcome }) => {
                        decode(provider, model, outcome).map_err(|mut e| {
                            e.attempts = item.attempts;
                            e
                        })
                    }
                    (None, _) => Err(LlmError::new(
                        ErrorKind::Internal,
                        "an unfinished item in a finished job",
                    )),
                };
                ItemResult {
                    custom_id: item.custom_id.clone(),
                    result,
                    attempts: item.attempts,
                    batch_priced,
                }
            })
            .collect())
    }

    /// Usage summed over the items that succeeded, and their cost at the batch discount
    /// (`None` when a model has no price).
    pub fn usage_and_cost(&self) -> Result<(Usage, Option<f64>)> {
        let mut usage = Usage::default();
        let mut cost = Some(0.0);
        for r in self.results()? {
            if let Ok(resp) = &r.result {
                usage.add(&resp.usage);
                let one = if r.batch_priced {
                    crate::model::batch_cost_usd(&resp.provider, &resp.model, &resp.usage)
                } else {
                    resp.cost_usd()
                };
                cost = cost.zip(one).map(|(a, b)| a + b);
            }
        }
        Ok((usage, cost))
    }
}

/// Keep the provider batch `polled` as the job's, carrying `items` (each one attempt more).
fn record(state: &mut State, items: &[usize], polled: Polled) {
    let remote = state.meta.remotes.len();
    state.meta.expires_at = match (state.meta.expires_at, polled.expires_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    state.meta.remotes.push(Remote {
        id: polled.id,
        items: items.to_vec(),
        status: polled.status,
        counts: polled.counts,
        output_file: polled.output_file,
        error_file: polled.error_file,
        collected: false,
    });
    for &i in items {
        if let Some(item) = state.items.get_mut(i) {
            item.attempts += 1;
        }
        state.set(i, Place::Submitted { remote });
    }
}

/// Worth polling again: the provider or the network had a bad moment.
fn transient(e: &LlmError) -> bool {
    matches!(
        e.kind,
        ErrorKind::Connection
            | ErrorKind::Timeout
            | ErrorKind::Server
            | ErrorKind::Overloaded
            | ErrorKind::RateLimit
    )
}

fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}
