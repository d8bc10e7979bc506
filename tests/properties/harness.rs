//! The property harness: inputs a server could send, the pieces a network could cut them into,
//! and one runner used both by `cargo test` (a fixed number of cases per property) and by
//! `make fuzz` (fresh seeds until a time budget is spent, counting the inputs tried).
//!
//! Adding a decoder is a few lines in a module of its own: pick seeds (real recorded bytes),
//! then declare its properties with [`properties!`] using [`same_when_split`] (a streamed
//! decoder: any bytes, cut anywhere, decode as in one piece), [`never_panics`] (a decoder of a
//! whole buffer) or [`holds`] (anything else).

use std::cell::Cell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// One property: its test's name and how to check it with a runner.
pub struct Property {
    pub name: &'static str,
    pub run: fn(&mut TestRunner) -> Result<(), String>,
}

/// Declares a module's properties once: each becomes a `#[test]` checked at `cases` cases (the
/// `cargo test` budget), and the module's `ALL` list is what `make fuzz` runs for longer.
#[macro_export]
macro_rules! properties {
    ($($(#[$doc:meta])* fn $name:ident($cases:expr) = $run:expr;)*) => {
        pub const ALL: &[$crate::harness::Property] = &[$($crate::harness::Property {
            name: concat!(module_path!(), "::", stringify!($name)),
            run: $run,
        }),*];
        $(
            $(#[$doc])*
            #[test]
            fn $name() {
                $crate::harness::check($run, $cases);
            }
        )*
    };
}

// ---- inputs ------------------------------------------------------------------------------------

/// Bytes, shown as a byte-string literal so a failure can be pasted into a regression test.
#[derive(Clone, PartialEq)]
pub struct Input(pub Vec<u8>);

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

/// Byte sequences that break parsers: line ends, field names, JSON punctuation, numbers too big
/// for their type, a BOM, stray and cut UTF-8.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"\r\r",
    b":",
    b": ",
    b"data:",
    b"data: ",
    b"event: ",
    b"id: ",
    b"retry: 99999999999999999999",
    b"[DONE]",
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"null",
    b"true",
    b"-",
    b".",
    b"e",
    b"0",
    b"1e300",
    b"-1",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999",
    b"-0.0",
    b"\xEF\xBB\xBF",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xf4\x8f\xbf\xbf",
    b"\0",
    b" ",
    b"\t",
    b"```",
    b"```json\n",
];

/// Numbers that overflow whatever reads them, put in place of the digits of a real number.
const NUMBERS: &[&[u8]] = &[
    b"18446744073709551615",
    b"18446744073709551616",
    b"9223372036854775807",
    b"4294967296",
    b"99999999999999999999",
    b"1e300",
    b"-1",
    b"0",
    b"-9223372036854775808",
    b"1.5",
    b"NaN",
];

/// One edit of a real sample.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flip one bit.
    Flip(Index, u8),
    Insert(Index, &'static [u8]),
    Delete(Index, u8),
    /// Copy a span to another place.
    Repeat(Index, u8, Index),
    /// Replace the n-th number with an extreme one.
    Number(Index, &'static [u8]),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<Index>(), select(TOKENS)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        3 => (any::<Index>(), 1u8..32).prop_map(|(i, n)| Mutation::Delete(i, n)),
        3 => (any::<Index>(), 1u8..64, any::<Index>()).prop_map(|(i, n, j)| Mutation::Repeat(i, n, j)),
        3 => (any::<Index>(), select(NUMBERS)).prop_map(|(i, t)| Mutation::Number(i, t)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

impl Mutation {
    fn apply(&self, b: &mut Vec<u8>) {
        // `index(len + 1)`: a position anywhere, including the end, for any length.
        let at = |i: &Index, b: &Vec<u8>| i.index(b.len() + 1);
        match self {
            Mutation::Flip(i, bit) => {
                if !b.is_empty() {
                    let i = i.index(b.len());
                    b[i] ^= 1 << bit;
                }
            }
            Mutation::Insert(i, t) => {
                let i = at(i, b);
                b.splice(i..i, t.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = at(i, b);
                let end = (i + *n as usize).min(b.len());
                b.drain(i..end);
            }
            Mutation::Repeat(i, n, j) => {
                let i = at(i, b);
                let span = b[i..(i + *n as usize).min(b.len())].to_vec();
                let j = at(j, b);
                b.splice(j..j, span);
            }
            Mutation::Number(i, t) => {
                let runs = number_runs(b);
                if !runs.is_empty() {
                    let (start, end) = runs[i.index(runs.len())];
                    b.splice(start..end, t.iter().copied());
                }
            }
            Mutation::Truncate(i) => {
                let i = at(i, b);
                b.truncate(i);
            }
        }
    }
}

/// Where the numbers are: a digit, then digits, `.`, exponents and signs (`412.5`, `1e-3`).
fn number_runs(b: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && matches!(b[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    runs
}

/// Bytes a server could send: mostly a real sample with a few edits (bugs hide near valid
/// input), sometimes the sample itself, sometimes noise from the format's own alphabet or none.
pub fn bytes_near(seeds: &'static [Vec<u8>]) -> impl Strategy<Value = Input> {
    assert!(!seeds.is_empty(), "a decoder's properties need seeds");
    prop_oneof![
        6 => (select(seeds), vec(mutation(), 1..6)).prop_map(|(seed, edits)| {
            let mut b = seed;
            for m in &edits {
                m.apply(&mut b);
            }
            Input(b)
        }),
        1 => select(seeds).prop_map(Input),
        1 => vec(select(TOKENS), 0..48).prop_map(|t| Input(t.concat())),
        1 => vec(any::<u8>(), 0..256).prop_map(Input),
    ]
}

/// Where a network cuts a body into pieces.
#[derive(Debug, Clone)]
pub enum Split {
    At(Vec<Index>),
    EveryByte,
}

pub fn splits() -> impl Strategy<Value = Split> {
    prop_oneof![
        6 => vec(any::<Index>(), 1..12).prop_map(Split::At),
        1 => Just(Split::EveryByte),
    ]
}

impl Split {
    pub fn pieces(&self, b: &[u8]) -> Vec<Bytes> {
        let mut cuts: Vec<usize> = match self {
            Split::At(at) => at.iter().map(|i| i.index(b.len() + 1)).collect(),
            Split::EveryByte => (0..=b.len()).collect(),
        };
        cuts.extend([0, b.len()]);
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2)
            .map(|w| Bytes::copy_from_slice(&b[w[0]..w[1]]))
            .collect()
    }
}

// ---- properties --------------------------------------------------------------------------------

thread_local! {
    /// Inputs tried by the current run before its first failure (shrinking is not counted).
    static TRIED: Cell<u64> = const { Cell::new(0) };
    static FAILED: Cell<bool> = const { Cell::new(false) };
}

/// `property` holds for every input `inputs` generates; a panic counts as a failure, reported
/// with the (shrunk) input.
pub fn holds<S>(
    runner: &mut TestRunner,
    inputs: S,
    property: impl Fn(&S::Value) -> Result<(), TestCaseError>,
) -> Result<(), String>
where
    S: Strategy,
    S::Value: fmt::Debug,
{
    let verdict = runner.run(&inputs, |value| {
        let verdict = match catch_unwind(AssertUnwindSafe(|| property(&value))) {
            Ok(v) => v,
            Err(payload) => Err(TestCaseError::fail(format!(
                "panicked: {}",
                panic_message(payload.as_ref())
            ))),
        };
        if !FAILED.get() {
            TRIED.set(TRIED.get() + 1);
            FAILED.set(verdict.is_err());
        }
        verdict
    });
    verdict.map_err(|e| match e {
        TestError::Fail(why, input) => format!("{why}\n  minimal input: {input:?}"),
        TestError::Abort(why) => format!("aborted: {why}"),
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<not a string>".into())
}

/// A streamed decoder: `inputs` cut anywhere decode exactly as in one piece (and never panic).
pub fn same_when_split<O: PartialEq + fmt::Debug>(
    runner: &mut TestRunner,
    inputs: impl Strategy<Value = Input>,
    decode: impl Fn(&[Bytes]) -> O,
) -> Result<(), String> {
    holds(runner, (inputs, splits()), |(input, split)| {
        let whole = decode(&[Bytes::copy_from_slice(&input.0)]);
        let cut = decode(&split.pieces(&input.0));
        prop_assert_eq!(whole, cut);
        Ok(())
    })
}

/// A decoder of a whole buffer: any bytes near the seeds decode or fail, never panic.
pub fn never_panics<O>(
    runner: &mut TestRunner,
    seeds: &'static [Vec<u8>],
    decode: impl Fn(&[u8]) -> O,
) -> Result<(), String> {
    holds(runner, bytes_near(seeds), |input| {
        let _ = decode(&input.0);
        Ok(())
    })
}

// ---- runners -----------------------------------------------------------------------------------

fn config(cases: u32) -> Config {
    Config {
        cases,
        // A failure found here becomes a named regression test, not a file proptest replays.
        failure_persistence: None,
        ..Config::default()
    }
}

/// The `cargo test` run of one property: `cases` cases, or `PROPTEST_CASES` when set.
pub fn check(run: fn(&mut TestRunner) -> Result<(), String>, cases: u32) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    if let Err(failure) = run(&mut TestRunner::new(config(cases))) {
        panic!("{failure}");
    }
}

/// Cases per fresh-seeded batch of a fuzz run: small enough to stop close to the deadline.
const BATCH: u32 = 64;

/// Run every property whose name contains `only` for an equal share of `budget`, each in batches with fresh random seeds,
/// printing per property and in total the inputs tried and the result. Returns the failures.
pub fn fuzz(all: &[&[Property]], only: &str, budget: Duration) -> Vec<String> {
    let props: Vec<&Property> = all
        .iter()
        .flat_map(|m| m.iter())
        .filter(|p| p.name.contains(only))
        .collect();
    assert!(!props.is_empty(), "no property's name contains {only:?}");
    let share = budget / u32::try_from(props.len()).unwrap_or(u32::MAX);
    let (mut total, mut failures) = (0u64, Vec::new());
    println!(
        "fuzzing {} properties for {budget:?} ({share:?} each)",
        props.len()
    );
    for p in &props {
        let name = p.name.trim_start_matches("properties::");
        let (start, mut tried) = (Instant::now(), 0u64);
        let mut result = Ok(());
        while start.elapsed() < share {
            TRIED.set(0);
            FAILED.set(false);
            result = (p.run)(&mut TestRunner::new(config(BATCH)));
            tried += TRIED.get();
            if result.is_err() {
                break;
            }
        }
        total += tried;
        match result {
            Ok(()) => println!("{name:<70} {tried:>10} inputs  ok"),
            Err(why) => {
                println!("{name:<70} {tried:>10} inputs  FAILED\n  {why}");
                failures.push(format!("{name}: {why}"));
            }
        }
    }
    println!(
        "total: {total} inputs in {budget:?}; {} of {} properties failed",
        failures.len(),
        props.len()
    );
    failures
}
