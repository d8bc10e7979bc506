//! The breaker state machine, step by step with a fake clock.
use super::*;

fn cfg() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 3,
        min_calls: 10,
        cooldown: Duration::from_secs(1),
        window: Duration::from_secs(10),
        ..BreakerConfig::default()
    }
}

#[test]
fn opens_fails_fast_half_opens_and_closes() {
    let (c, mut m) = (cfg(), Machine::default());
    for t in 0..2 {
        assert_eq!(m.admit(t), Admission::Allowed);
        m.record(t, &c, Outcome::Failure, false);
    }
    assert_eq!(m.state(2), State::Closed);
    m.record(2, &c, Outcome::Failure, false);
    assert_eq!(m.state(3), State::Open);
    assert!(
        matches!(m.admit(3), Admission::Rejected { retry_in: Some(d) } if d == Duration::from_millis(999))
    );
    assert_eq!(m.admit(1002), Admission::Probe);
    assert_eq!(m.admit(1003), Admission::Rejected { retry_in: None });
    m.record(1004, &c, Outcome::Success, true);
    assert_eq!(m.state(1005), State::Closed);
    assert_eq!(m.consecutive, 0);
}

#[test]
fn a_failed_probe_reopens_and_a_cancelled_one_frees_the_slot() {
    let (c, mut m) = (cfg(), Machine::default());
    for t in 0..3 {
        m.record(t, &c, Outcome::Failure, false);
    }
    assert_eq!(m.admit(1500), Admission::Probe);
    m.record(1500, &c, Outcome::Ignored, true);
    assert_eq!(m.admit(1501), Admission::Probe);
    m.record(1600, &c, Outcome::Failure, true);
    assert_eq!(m.state(1601), State::Open);
    assert_eq!(m.state(2600), State::HalfOpen);
}

#[test]
fn the_failure_rate_opens_it_without_a_streak() {
    let (c, mut m) = (cfg(), Machine::default());
    // fail, succeed, fail, succeed ...: never 3 in a row, but half of 10 calls
    for t in 0..10u64 {
        let outcome = if t % 2 == 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        m.record(t, &c, outcome, false);
    }
    assert_eq!(m.state(10), State::Closed, "the 10th call was a success");
    m.record(11, &c, Outcome::Failure, false);
    assert_eq!(m.state(12), State::Open);
}

#[test]
fn old_failures_fade_out_of_the_window() {
    let (c, mut m) = (cfg(), Machine::default());
    for t in 0..9u64 {
        m.record(
            t,
            &c,
            if t % 3 == 0 {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            false,
        );
        m.consecutive = 0;
    }
    // Two windows later the old calls no longer count.
    let later = 25_000;
    m.record(later, &c, Outcome::Failure, false);
    let snap = m.snapshot(later, &c, "x");
    assert!(snap.calls < 2.0, "{snap:?}");
    assert_eq!(snap.state, State::Closed);
}

#[test]
fn caller_errors_count_as_the_provider_answering() {
    let mut bad = LlmError::new(ErrorKind::BadRequest, "bad");
    bad.status = Some(400);
    assert_eq!(Outcome::of::<()>(&Err(bad)), Outcome::Success);
    let mut down = LlmError::new(ErrorKind::Server, "down");
    down.status = Some(503);
    assert_eq!(Outcome::of::<()>(&Err(down)), Outcome::Failure);
    let cancelled = LlmError::new(ErrorKind::Cancelled, "gone");
    assert_eq!(Outcome::of::<()>(&Err(cancelled)), Outcome::Ignored);
}
