//! Property tests of every decoder that reads bytes a server controls: arbitrary bytes cut at
//! arbitrary points never panic, and valid input cut anywhere decodes the same. `cargo test`
//! runs each property at a modest number of cases; `make fuzz` runs them all for FUZZ_SECONDS
//! (the ignored `fuzz_every_property_for_fuzz_seconds` below; FUZZ_ONLY=part-of-a-name picks
//! some) and prints the inputs tried.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/cassette.rs"]
mod cassette;
mod harness;
mod seeds;

mod cassettes;
mod event_stream;
mod extract;
mod headers;
mod json_lines;
mod mock;
mod responses;
mod sse;

use std::time::Duration;

/// Every property, in the order `make fuzz` runs them.
const ALL: &[&[harness::Property]] = &[
    sse::ALL,
    json_lines::ALL,
    event_stream::ALL,
    responses::ALL,
    extract::ALL,
    mock::ALL,
    headers::ALL,
    cassettes::ALL,
];

#[test]
#[ignore = "make fuzz runs it for FUZZ_SECONDS"]
fn fuzz_every_property_for_fuzz_seconds() {
    let seconds = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let only = std::env::var("FUZZ_ONLY").unwrap_or_default();
    let failures = harness::fuzz(ALL, &only, Duration::from_secs(seconds));
    assert!(
        failures.is_empty(),
        "{} properties failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
