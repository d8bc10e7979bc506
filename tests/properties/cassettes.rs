//! The cassette loader: recorded files (vcrpy, pydantic-ai and llmrail's own layout) are text
//! from disk that anyone may have edited, and bodies inside them are a server's bytes.

use std::sync::OnceLock;

use llmrail::replay::cassette::parse;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use crate::harness::{bytes_near, holds};
use crate::seeds;

fn own() -> &'static [Vec<u8>] {
    static CELL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CELL.get_or_init(|| vec![seeds::own_cassette()])
}

fn loads_or_is_refused(runner: &mut TestRunner) -> Result<(), String> {
    // llmrail's own layout is small and has the most fields of its own (latency, chunk
    // timings): it gets most of the time; the big recorded files the rest.
    let files = prop_oneof![
        3 => bytes_near(own()),
        1 => bytes_near(seeds::cassette_files()),
    ];
    holds(runner, files, |b| {
        let _ = parse(&String::from_utf8_lossy(&b.0));
        Ok(())
    })
}

crate::properties! {
    /// Any text near a real cassette loads or is refused with a message, never a panic.
    fn cassette_files_load_or_are_refused_never_panic(64) = loads_or_is_refused;
}
