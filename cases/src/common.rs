//! What several behaviours' cases share: where the expectation files are, and the few timing
//! figures and conversions the timer cases state their tolerances with.

use std::{path::PathBuf, time::Duration};

use netcase::{
    Result,
    decode::Segment,
    expect::{Expectation, Vars},
};

/// The path of `fixtures/expect/<name>`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/expect")
        .join(name)
}

/// The expectation file `fixtures/expect/<name>`, `${name}` resolved from `vars` (a host's
/// settings, a map, or `&()` for none).
pub(crate) fn expectation(name: &str, vars: &(impl Vars + ?Sized)) -> Result<Expectation> {
    Ok(Expectation::load(fixture(name), vars)?)
}

/// How late the scheduler may run a timer's softirq, or wake the thread that waits for it, on a
/// loaded two-core machine running the suite in parallel, beyond the timer wheel's own rounding.
pub(crate) const SCHEDULING: Duration = Duration::from_millis(20);

/// How early an observation may seem against the timer that caused it: the clocks are read on
/// different threads, microseconds apart.
pub(crate) const EARLY: Duration = Duration::from_millis(2);

/// A captured segment's time after the timeline's zero (0 if before it).
pub(crate) fn at(s: &Segment) -> Duration {
    Duration::from_nanos(u64::try_from(s.at_ns).unwrap_or(0))
}

/// A duration in milliseconds, for figures.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
