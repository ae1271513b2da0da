//! A timer schedule measured and checked: the sends a rule times (SYN retransmissions, keepalive
//! probes) picked from a capture with their gaps ([`Sends`]), each timeout asserted within the
//! kernel's slack ([`Sends::assert_timeouts`], [`Kernel::assert_chain`]), and the counters a
//! schedule run to its end moves ([`SynSchedule::counters`], and for keepalive
//! [`super::KeepaliveSchedule::counters`]).
//!
//! ```no_run
//! # use netcase::{Result, Topology, capture::Recorded, case::Case};
//! # async fn demo(case: &Case, net: &Topology, recorded: &Recorded) -> Result<()> {
//! use std::time::{Duration, SystemTime};
//! use netcase::{capture::Zero, decode::Flags, impair::Packets};
//! let (client, kernel) = (net.host("client")?, netcase::kernel()?);
//! let rule = client.syn_schedule(None).await?;
//! // The client's SYNs, timed from when connect() was called; connect() failed 7 s later.
//! let (called, failed) = (SystemTime::now(), Duration::from_secs(7));
//! let syns = recorded.on("client")?.sends(net, Zero::At(called), Packets::with(Flags::SYN));
//! syns.measure(case, "syn"); // syn_sends_ms, syn_gaps_ms
//! // Each gap, then the last SYN to ETIMEDOUT (seen by a woken thread: up to 100 ms later).
//! let gave_up = failed - syns.first();
//! syns.assert_timeouts(kernel, &rule.timeouts(), gave_up, Duration::from_millis(100), &rule);
//! # Ok(()) }
//! ```

use std::{fmt, time::Duration};

use super::{SynSchedule, TCP_TIMEOUT_INIT};
use crate::{
    Kernel,
    capture::{Captured, Zero},
    case::Case,
    decode::Segment,
    impair::Packets,
    network::Topology,
};

/// Segments one host sent that a rule times, in the order captured, with their times.
#[derive(Debug, Clone)]
pub struct Sends {
    /// The segments.
    pub segments: Vec<Segment>,
    /// Each one's time after the capture's zero (zero if before it).
    pub at: Vec<Duration>,
}

impl Captured {
    /// The TCP segments this capture's host sent that `packets` picks ([`Captured::sent`]), with
    /// their times from `zero`.
    pub fn sends(&self, net: &Topology, zero: Zero, packets: Packets) -> Sends {
        Sends::new(self.sent(net, zero, packets))
    }
}

impl Sends {
    /// `segments` with their times from their timeline's zero.
    pub fn new(segments: Vec<Segment>) -> Sends {
        let at = segments
            .iter()
            .map(|s| Duration::from_nanos(u64::try_from(s.at_ns).unwrap_or(0)))
            .collect();
        Sends { segments, at }
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Whether every one is as `f` says.
    pub fn all(&self, f: impl Fn(&Segment) -> bool) -> bool {
        self.segments.iter().all(f)
    }

    /// When the first was sent, after the zero (zero when there is none).
    pub fn first(&self) -> Duration {
        self.at.first().copied().unwrap_or_default()
    }

    /// When each was sent, after the first.
    pub fn from_first(&self) -> Vec<Duration> {
        self.at.iter().map(|&t| t - self.first()).collect()
    }

    /// The gaps between consecutive sends (one fewer than the sends).
    pub fn gaps(&self) -> Vec<Duration> {
        self.at.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// Records [`Sends::from_first`] as the measure `{name}_sends_ms` and [`Sends::gaps`] as
    /// `{name}_gaps_ms` (machine measures: never compared between kernels).
    pub fn measure(&self, case: &Case, name: &str) {
        case.measure(
            &format!("{name}_sends_ms"),
            &in_ms(&self.from_first()),
            "ms",
        );
        case.measure(&format!("{name}_gaps_ms"), &in_ms(&self.gaps()), "ms");
    }

    /// Asserts that the timer which sent these ran as `nominal` says: each gap, then the last
    /// send to `ended` (after the first send: the firing that gave up, sending nothing), each
    /// within both edges of its [`Kernel::timer_slack`] ([`Kernel::assert_timeouts`]), the last
    /// up to `late_last` later still (a thread observed it). Panics at the caller with what was
    /// seen and `rule`.
    #[track_caller]
    pub fn assert_timeouts(
        &self,
        kernel: &Kernel,
        nominal: &[Duration],
        ended: Duration,
        late_last: Duration,
        rule: &dyn fmt::Debug,
    ) {
        let sends = self.from_first();
        let mut seen = self.gaps();
        seen.push(ended.saturating_sub(sends.last().copied().unwrap_or_default()));
        let context = format!("sends {sends:?}, ended at {ended:?}; rule {rule:?}");
        kernel.assert_timeouts(nominal, &seen, late_last, &context);
    }
}

impl fmt::Display for Sends {
    /// `3 at [0ns, 1.011s, 3.027s] from the first`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {:?} from the first",
            self.len(),
            self.from_first()
        )
    }
}

/// Durations in milliseconds, for measures and figures.
pub fn in_ms(durations: &[Duration]) -> Vec<f64> {
    durations.iter().map(|d| d.as_secs_f64() * 1000.0).collect()
}

impl Kernel {
    /// Asserts that the last of a chain of `timers` (each armed as the one before fired) took
    /// effect `seen` after the first was armed: within [`Kernel::chain_slack`] of their sum, and
    /// up to `late_extra` later still (a thread observed it). Panics at the caller with `what`.
    #[track_caller]
    pub fn assert_chain(
        &self,
        timers: &[Duration],
        seen: Duration,
        late_extra: Duration,
        what: &str,
    ) {
        let nominal = timers.iter().sum();
        let mut slack = self.chain_slack(timers.iter().copied());
        slack.late += late_extra;
        let says = slack.describe(nominal);
        assert!(
            slack.admits(nominal, seen),
            "{what} after {seen:?}, not {says}"
        );
    }
}

impl SynSchedule {
    /// The longest timeout of the retransmission timer ([`TCP_TIMEOUT_INIT`] if it has none):
    /// no SYN_SENT socket's timer has more left.
    pub fn longest(&self) -> Duration {
        self.timeouts()
            .into_iter()
            .max()
            .unwrap_or(TCP_TIMEOUT_INIT)
    }

    /// What one connect() that follows this schedule to ETIMEDOUT moves on its host: one active
    /// open that fails, each retransmission counted as a retransmitted segment and a SYN
    /// retransmission, each firing of the timer as a timeout (the last, which gives up, too),
    /// and one abort on timeout. For [`crate::observe::Delta::moved`].
    pub fn counters(&self) -> [(&'static str, i64); 6] {
        let r = self.retransmissions() as i64;
        [
            ("Tcp.ActiveOpens", 1),
            ("Tcp.AttemptFails", 1),
            ("Tcp.RetransSegs", r),
            ("TcpExt.TCPSynRetrans", r),
            ("TcpExt.TCPTimeouts", r + 1),
            ("TcpExt.TCPAbortOnTimeout", 1),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{TCP_RTO_MAX, syn_schedule};

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn a_syn_schedule_counts_its_retransmissions() {
        let rule = syn_schedule(2, 0, TCP_TIMEOUT_INIT, TCP_RTO_MAX);
        assert_eq!(rule.longest(), s(4));
        assert!(rule.counters().contains(&("TcpExt.TCPTimeouts", 3)));
        assert!(rule.counters().contains(&("Tcp.RetransSegs", 2)));
    }

    #[test]
    fn sends_are_timed_from_the_first() {
        let addr = "192.0.2.1:7300".parse().expect("an address");
        let at = |ms: i64| Segment {
            at_ns: ms * 1_000_000,
            from: "client".to_owned(),
            to: "server".to_owned(),
            src: addr,
            dst: addr,
            flags: crate::decode::Flags::SYN,
            seq: 0,
            ack: 0,
            rel_seq: 0,
            rel_ack: 0,
            len: 0,
            window: 0,
            options: crate::decode::Options::default(),
        };
        let sends = Sends::new(vec![at(500), at(1500), at(3500)]);
        let ms = Duration::from_millis;
        assert_eq!(sends.first(), ms(500));
        assert_eq!(sends.from_first(), [ms(0), ms(1000), ms(3000)]);
        assert_eq!(sends.gaps(), [ms(1000), ms(2000)]);
        assert_eq!(in_ms(&sends.gaps()), [1000.0, 2000.0]);
        assert_eq!(sends.to_string(), "3 at [0ns, 1s, 3s] from the first");
    }
}
