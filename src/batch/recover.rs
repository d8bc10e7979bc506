//! Finding a provider batch whose create request was sent but whose answer was never saved (the
//! process died, or the answer was lost on the way): the engine saves a [`Creating`] record
//! before every create, and a job that finds one lists the provider's recent batches and picks
//! the one that create made, so its items are not submitted (and paid for) a second time.
//!
//! What identifies the batch differs by provider:
//! - OpenAI keeps the create's `metadata`, and Gemini its `displayName`: the record's token is
//!   sent there and the batch carrying it is the one. Exact.
//! - Anthropic's create takes nothing but the requests, and its batch object shows no custom id
//!   before it ends. A batch is taken when it is the only one of the workspace created no
//!   earlier than [`SKEW`] before the record was saved, carrying as many requests as the
//!   record's items, and not already any job's batch in this store. Two such batches (another
//!   process of the same workspace creating one of the same size in the same minutes) match
//!   none: the items are submitted again rather than joined to answers that may be another
//!   job's. A batch taken wrongly shows when it is collected: its results' custom ids are not
//!   this batch's items, so those items end with an error worth retrying and go again.
//!
//! Pure matching over listed pages; the engine (`job.rs`) does the listing.

use std::collections::HashSet;

use super::state::Creating;
use super::{Api, Polled};

/// Allowance for the provider's clock being behind this machine's when comparing its
/// `created_at` with the record's time.
pub(super) const SKEW: f64 = 600.0;

/// Pages listed at most (100 batches a page) before giving up the search.
pub(super) const MAX_PAGES: usize = 20;

/// What a look through the listed batches found.
#[derive(Debug, PartialEq)]
pub(super) enum Found {
    /// The batch the recorded create made.
    Batch(Polled),
    /// None (or, for Anthropic, more than one that could be it): create anew.
    Nothing,
}

/// The batch among `listed` that the create `creating` made; `known` are the ids of batches
/// already kept as some job's.
pub(super) fn pick(
    api: Api,
    creating: &Creating,
    listed: &[Polled],
    known: &HashSet<String>,
) -> Found {
    let fresh = |b: &&Polled| !known.contains(&b.id);
    let mut candidates: Vec<&Polled> = match api {
        Api::OpenAi | Api::Gemini => listed
            .iter()
            .filter(fresh)
            .filter(|b| b.tag.as_deref() == Some(tag(api, &creating.token).as_str()))
            .collect(),
        Api::Anthropic => listed
            .iter()
            .filter(fresh)
            .filter(|b| b.created_at.is_some_and(|t| t >= creating.at - SKEW))
            .filter(|b| total(b) == Some(creating.items.len() as u64))
            .collect(),
    };
    candidates.dedup_by(|a, b| a.id == b.id);
    match candidates.as_slice() {
        [one] => Found::Batch((*one).clone()),
        [] => Found::Nothing,
        many => {
            tracing::warn!(
                candidates = ?many.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
                "several provider batches could be the one an interrupted create made; \
                 submitting its items again"
            );
            Found::Nothing
        }
    }
}

/// Whether listing can stop after this page: every batch on it is older than the record
/// (the lists come newest first).
pub(super) fn past(creating: &Creating, page: &[Polled]) -> bool {
    page.iter()
        .all(|b| b.created_at.is_some_and(|t| t < creating.at - SKEW))
}

/// What the create sends for `token`: the OpenAI metadata value as it is, Gemini's display
/// name with a prefix that says whose batch it is.
pub(super) fn tag(api: Api, token: &str) -> String {
    match api {
        Api::Gemini => format!("llmrail-{token}"),
        _ => token.to_string(),
    }
}

fn total(b: &Polled) -> Option<u64> {
    b.counts
        .map(|c| c.pending + c.succeeded + c.errored + c.cancelled + c.expired)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::batch::{Counts, Status};

    fn batch(id: &str, created_at: f64, requests: u64, tag: Option<&str>) -> Polled {
        Polled {
            id: id.into(),
            status: Status::Running,
            counts: Some(Counts {
                pending: requests,
                ..Counts::default()
            }),
            created_at: Some(created_at),
            expires_at: None,
            output_file: None,
            error_file: None,
            tag: tag.map(str::to_string),
        }
    }

    fn creating(items: usize) -> Creating {
        Creating {
            token: "t0k".into(),
            items: (0..items).collect(),
            at: 1_000_000.0,
        }
    }

    #[test]
    fn an_openai_or_gemini_batch_is_found_by_its_token_alone() {
        let listed = [
            batch("a", 1_000_001.0, 3, Some("other")),
            batch("b", 10.0, 7, Some("t0k")),
            batch("c", 1_000_001.0, 3, Some("llmrail-t0k")),
        ];
        let none = HashSet::new();
        let found = pick(Api::OpenAi, &creating(3), &listed, &none);
        assert_eq!(found, Found::Batch(listed[1].clone()));
        let found = pick(Api::Gemini, &creating(3), &listed, &none);
        assert_eq!(found, Found::Batch(listed[2].clone()));
    }

    #[test]
    fn an_anthropic_batch_is_the_one_recent_batch_of_the_same_size_no_job_has() {
        let listed = [
            batch("new-other-size", 1_000_002.0, 4, None),
            batch("ours", 1_000_001.0, 3, None),
            batch("kept", 1_000_001.0, 3, None),
            batch("old", 1_000_000.0 - SKEW - 1.0, 3, None),
        ];
        let known = HashSet::from(["kept".to_string()]);
        let found = pick(Api::Anthropic, &creating(3), &listed, &known);
        assert_eq!(found, Found::Batch(listed[1].clone()));
    }

    #[test]
    fn two_anthropic_batches_that_could_both_be_it_match_neither() {
        let listed = [
            batch("x", 1_000_001.0, 3, None),
            batch("y", 1_000_002.0, 3, None),
        ];
        let found = pick(Api::Anthropic, &creating(3), &listed, &HashSet::new());
        assert_eq!(found, Found::Nothing);
    }

    #[test]
    fn listing_stops_at_a_page_older_than_the_record() {
        let c = creating(1);
        assert!(!past(&c, &[batch("a", 1_000_000.0, 1, None)]));
        assert!(past(&c, &[batch("a", 1_000_000.0 - SKEW - 5.0, 1, None)]));
    }
}
