//! Timer firings a case observed, checked against the ones a rule says, each within both edges
//! of [`Kernel::timer_slack`] for its length: one statement for a series of timeouts (SYN
//! retransmissions, keepalive probes, backed-off RTOs).
//!
//! ```no_run
//! # fn demo(seen: &[std::time::Duration]) -> netcase::Result<()> {
//! use std::time::Duration;
//! use netcase::rules::{TCP_RTO_MAX, TCP_TIMEOUT_INIT, syn_schedule};
//! let rule = syn_schedule(2, 0, TCP_TIMEOUT_INIT, TCP_RTO_MAX);
//! // `seen`: the gaps between captured SYNs, then the last SYN to connect()'s ETIMEDOUT, which a
//! // woken thread observed (so up to 100 ms later than the kernel acted).
//! netcase::kernel()?.assert_timeouts(&rule.timeouts(), seen, Duration::from_millis(100), "SYNs");
//! # Ok(()) }
//! ```

use std::time::Duration;

use super::Kernel;

impl Kernel {
    /// Asserts that each timeout seen lasted what the rule says: `seen[i]` within
    /// [`Kernel::timer_slack`]`(nominal[i])` of `nominal[i]`, both edges, and the last one up to
    /// `late_last` later still (it was observed where a thread woke up, not on the wire). Panics
    /// at the caller with the first that does not, `context` (what was seen, the rule) and every
    /// timeout; also when the two differ in number.
    #[track_caller]
    pub fn assert_timeouts(
        &self,
        nominal: &[Duration],
        seen: &[Duration],
        late_last: Duration,
        context: &str,
    ) {
        assert_eq!(
            seen.len(),
            nominal.len(),
            "{} timeouts seen {seen:?}, the rule has {} {nominal:?}: {context}",
            seen.len(),
            nominal.len()
        );
        for (i, (&got, &want)) in seen.iter().zip(nominal).enumerate() {
            let mut slack = self.timer_slack(want);
            if i + 1 == nominal.len() {
                slack.late += late_last;
            }
            assert!(
                slack.admits(want, got),
                "timeout {} lasted {got:?}; the rule says {}: {context}",
                i + 1,
                slack.describe(want)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::kernel::{Clock, Hz, HzSource, Version};

    fn at_250_hz() -> Kernel {
        Kernel {
            release: "6.18.0".to_owned(),
            version: Version::parse("6.18.0").expect("a version"),
            hz: Hz {
                value: 250,
                source: HzSource::KernelConfig("/proc/config.gz".into()),
            },
            clock: Clock::Real,
            sysctls: BTreeSet::new(),
        }
    }

    #[test]
    fn timeouts_within_their_slack_pass() {
        let ms = Duration::from_millis;
        at_250_hz().assert_timeouts(&[ms(1000), ms(2000)], &[ms(997), ms(2050)], ms(0), "");
        // The last one may be late by its slack and `late_last`.
        at_250_hz().assert_timeouts(&[ms(1000)], &[ms(1150)], ms(100), "");
    }

    #[test]
    #[should_panic(expected = "timeout 2 lasted")]
    fn an_early_timeout_fails() {
        let ms = Duration::from_millis;
        at_250_hz().assert_timeouts(&[ms(1000), ms(2000)], &[ms(1000), ms(1990)], ms(0), "");
    }

    #[test]
    #[should_panic(expected = "the rule has 2")]
    fn a_missing_timeout_fails() {
        let ms = Duration::from_millis;
        at_250_hz().assert_timeouts(&[ms(1000), ms(2000)], &[ms(1000)], ms(0), "");
    }
}
