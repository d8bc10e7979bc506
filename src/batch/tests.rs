//! Unit tests of the batch translations and the job's bookkeeping (the lifecycles against the
//! mock server are in tests/batch.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

#[test]
fn a_job_is_split_where_a_provider_batch_would_be_too_large() {
    assert_eq!(split(&[1, 1, 1, 1, 1], 2, 100), vec![0..2, 2..4, 4..5]);
    assert_eq!(split(&[60, 60, 30, 10], 10, 100), vec![0..1, 1..4]);
    // An item larger than the limit alone goes in a batch of its own: the provider judges it.
    assert_eq!(split(&[500, 1], 10, 100), vec![0..1, 1..2]);
    assert!(split(&[], 10, 100).is_empty());
}
