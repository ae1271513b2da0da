//! The kernel's TCP timer rules as plain functions, so that a case computes what it expects from
//! the host's settings instead of copying numbers from one run.
//!
//! Each rule cites the kernel code it models (net/ipv4/tcp_timer.c, include/net/tcp.h,
//! kernel/time/timer.c) and takes what differs between kernels as an argument (a sysctl's value,
//! or what a kernel without it behaves as: [`crate::network::sysctl::Sysctl::absent_means`]). Times are
//! nominal; how far from nominal a timer's effect may be observed, on both edges, is
//! [`crate::Kernel::timer_slack`]: up to a jiffy early, up to [`wheel_granularity`] plus
//! scheduling late ([`late_by_at_most`]).

use std::time::Duration;

mod keepalive;
mod measured;
mod syn;

pub use measured::{Sends, in_ms};

/// `TCP_TIMEOUT_INIT` (include/net/tcp.h): the retransmission timeout before any round trip was
/// measured, for a SYN (and a SYN-ACK): 1 s.
pub const TCP_TIMEOUT_INIT: Duration = Duration::from_secs(1);

/// `TCP_RTO_MAX` (include/net/tcp.h): the most a retransmission timeout grows to, 120 s, unless
/// `net.ipv4.tcp_rto_max_ms` (kernels 6.15 and later) lowers it.
pub const TCP_RTO_MAX: Duration = Duration::from_secs(120);

/// `TCP_RTO_MIN` (include/net/tcp.h): the least retransmission timeout of a connection, 200 ms,
/// unless `net.ipv4.tcp_rto_min_us` or a route's `rto_min` changes it.
pub const TCP_RTO_MIN: Duration = Duration::from_millis(200);

/// When the SYNs of one connect() go out while nothing answers, and when connect() fails with
/// ETIMEDOUT: the result of [`syn_schedule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynSchedule {
    /// When each SYN is sent, after the first: the first is at zero, then one per
    /// retransmission.
    pub sends: Vec<Duration>,
    /// When connect() fails with ETIMEDOUT (the retransmission timer's last firing, which sends
    /// nothing), after the first SYN.
    pub gives_up: Duration,
}

impl SynSchedule {
    /// The gaps between consecutive SYNs (one fewer than the SYNs).
    pub fn gaps(&self) -> Vec<Duration> {
        self.sends.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// How many SYNs go out, the first included.
    pub fn syns(&self) -> usize {
        self.sends.len()
    }

    /// How many of them are retransmissions.
    pub fn retransmissions(&self) -> usize {
        self.sends.len().saturating_sub(1)
    }
}

/// The SYN retransmission schedule of a connect() that gets no answer at all (its SYNs silently
/// dropped), as Linux 6.5 and later compute it:
///
/// - `syn_retries` is `net.ipv4.tcp_syn_retries` (or the socket's `TCP_SYNCNT`, which replaces it);
///   `linear_timeouts` is `net.ipv4.tcp_syn_linear_timeouts` (0 on kernels without it: before 6.5
///   every backoff is exponential); `rto_init` is `tcp_timeout_init()`, [`TCP_TIMEOUT_INIT`]
///   unless a BPF program changes it; `rto_max` is [`TCP_RTO_MAX`] or `net.ipv4.tcp_rto_max_ms`.
/// - The retransmission timer first fires `rto_init` after the SYN. Each firing that does not give
///   up resends the SYN and counts it (`icsk_retransmits`, `total_rto`); the timeout then stays
///   as it is while `total_rto <= linear_timeouts` and doubles after that, up to `rto_max`
///   (`tcp_retransmit_timer`). So the first `linear_timeouts + 1` gaps are `rto_init`.
/// - A firing gives up (`tcp_write_timeout`) when the retransmissions so far reach
///   `syn_retries + linear_timeouts`, or when at least one was sent and the time since the first
///   SYN reaches [`model_timeout`]`(syn_retries, rto_init)`: what `syn_retries` exponential
///   backoffs would take. With linear timeouts the time budget is usually what ends it: the
///   linear timeouts add SYNs to the same budget, not time.
///
/// Both limits compare against the nominal time of a firing that the timer wheel never makes
/// early, so a limit met exactly (`1 + 1 + 1 = 3 s` for one retry and linear timeouts) gives up
/// at that firing.
pub fn syn_schedule(
    syn_retries: u32,
    linear_timeouts: u32,
    rto_init: Duration,
    rto_max: Duration,
) -> SynSchedule {
    let max_retransmits = syn_retries.saturating_add(linear_timeouts);
    let budget = model_timeout(syn_retries, rto_init);
    let mut sends = vec![Duration::ZERO];
    let (mut now, mut rto, mut retransmits, mut total_rto) = (Duration::ZERO, rto_init, 0u32, 0u32);
    loop {
        now += rto;
        // tcp_write_timeout, before anything is resent.
        if retransmits >= max_retransmits || (retransmits > 0 && now >= budget) {
            return SynSchedule {
                sends,
                gives_up: now,
            };
        }
        sends.push(now);
        retransmits += 1;
        total_rto += 1;
        if total_rto > linear_timeouts {
            rto = (rto * 2).min(rto_max);
        }
    }
}

/// `tcp_model_timeout()`: how long `boundary` retransmissions take when the timeout starts at
/// `rto_base` and doubles each time, capped at [`TCP_RTO_MAX`]; the time a connection may spend
/// retransmitting before `retransmits_timed_out()` ends it.
///
/// `(2^(boundary+1) - 1) * rto_base` while the doubling stays below `TCP_RTO_MAX`
/// (`boundary <= ilog2(TCP_RTO_MAX / rto_base)`), then `TCP_RTO_MAX` for each further one.
pub fn model_timeout(boundary: u32, rto_base: Duration) -> Duration {
    let base = rto_base.as_millis().max(1) as u64;
    let max = TCP_RTO_MAX.as_millis() as u64;
    let threshold = (max / base).max(1).ilog2();
    let ms = if boundary <= threshold {
        ((2u64 << boundary) - 1) * base
    } else {
        ((2u64 << threshold) - 1) * base + u64::from(boundary - threshold) * max
    };
    Duration::from_millis(ms)
}

/// When an idle connection with keepalive on sends its probes while none is answered, and when
/// it gives up: the result of [`keepalive_schedule`]. Times are after the last segment received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepaliveSchedule {
    /// When each probe is sent.
    pub probes: Vec<Duration>,
    /// When the connection is reset (a RST is sent) and its error becomes ETIMEDOUT.
    pub gives_up: Duration,
}

/// The keepalive schedule of an idle connection whose probes go unanswered
/// (`tcp_keepalive_timer`):
///
/// - `idle` is `TCP_KEEPIDLE` (else `net.ipv4.tcp_keepalive_time`), `interval` is
///   `TCP_KEEPINTVL` (else `tcp_keepalive_intvl`), `count` is `TCP_KEEPCNT` (else
///   `tcp_keepalive_probes`), `user_timeout` is `TCP_USER_TIMEOUT` (zero when unset).
/// - The timer fires `idle` after the last segment received, then every `interval`. At each
///   firing it gives up if a user timeout is set, the time since the last segment received has
///   reached it and at least one probe is out; or, without a user timeout, if `count` probes are
///   out. Otherwise it sends a probe (an ACK at `snd_una - 1`, no data).
/// - Giving up sends a RST (`tcp_send_active_reset`) and sets the socket's error to ETIMEDOUT
///   (`tcp_write_err`).
pub fn keepalive_schedule(
    idle: Duration,
    interval: Duration,
    count: u32,
    user_timeout: Duration,
) -> KeepaliveSchedule {
    let mut probes = Vec::new();
    let mut now = idle;
    loop {
        let out = probes.len() as u32;
        let done = if user_timeout.is_zero() {
            out >= count
        } else {
            now >= user_timeout && out > 0
        };
        if done {
            return KeepaliveSchedule {
                probes,
                gives_up: now,
            };
        }
        probes.push(now);
        now += interval;
    }
}

/// How much later than asked a kernel timer of `timeout` can fire, at `hz` ticks per second: the
/// granularity of the timer-wheel level it lands in (kernel/time/timer.c, `LVL_GRAN`), which
/// `calc_index()` rounds every expiry up to. Level 0 (under 63 jiffies) has 1 jiffy; each level
/// above multiplies by 8 and starts 8 times further: at HZ=250, 4 ms, 32 ms (0.25 s to 2 s),
/// 256 ms (2 s to 16 s), 2.048 s (16 s to 129 s).
pub fn wheel_granularity(timeout: Duration, hz: u32) -> Duration {
    let jiffy_ns = 1_000_000_000u64 / u64::from(hz.max(1));
    let jiffies = (timeout.as_nanos() as u64).div_ceil(jiffy_ns);
    // LVL_START(n) = 63 << (3 * (n - 1)); LVL_GRAN(n) = 8^n jiffies.
    let mut level = 0u32;
    while level < 8 && jiffies >= 63u64 << (3 * level) {
        level += 1;
    }
    Duration::from_nanos(jiffy_ns * 8u64.pow(level))
}

/// When `tcp_tw_reuse` (1, or 2 on loopback) lets connect() take over a TIME_WAIT socket of the
/// same four-tuple, provided the old connection used timestamps (`tcp_twsk_unique`,
/// net/ipv4/tcp_ipv4.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwReuse {
    /// Linux 6.14 and later: once `tcp_clock_ms()` is past the socket's entry into TIME_WAIT
    /// (`tw_entry_stamp`, in milliseconds) plus `net.ipv4.tcp_tw_reuse_delay` (1000 ms by
    /// default): `time_after32(tcp_clock_ms(), tw_entry_stamp + delay)`, strictly after.
    AfterDelay(Duration),
    /// Before 6.14 (6.1 and 6.12 included; no `tcp_tw_reuse_delay`): once the monotonic clock's
    /// whole second (`ktime_get_seconds()`) is past the second in which the socket last stored
    /// the peer's timestamp (`tw_ts_recent_stamp`, set when the peer's FIN that put it in
    /// TIME_WAIT arrived): `time_after32(ktime_get_seconds(), tw_ts_recent_stamp)`. So anywhere
    /// from a moment to one second after entering TIME_WAIT, at the next whole second of
    /// CLOCK_MONOTONIC; not the "1 to 2 s" often quoted, which was the rule before 4.18.
    NextSecond,
}

impl TwReuse {
    /// The rule of a kernel whose host has `tcp_tw_reuse_delay` set to `delay`, or `None` when
    /// the kernel has no such knob.
    pub fn of(delay: Option<Duration>) -> TwReuse {
        delay.map_or(TwReuse::NextSecond, TwReuse::AfterDelay)
    }

    /// The first moment, on the CLOCK_MONOTONIC time line (as [`monotonic`] gives it), at which a
    /// socket that entered TIME_WAIT at `entered` may be taken over.
    pub fn allowed_at(self, entered: Duration) -> Duration {
        match self {
            TwReuse::AfterDelay(delay) => entered + delay,
            TwReuse::NextSecond => Duration::from_secs(entered.as_secs() + 1),
        }
    }

    /// The longest a socket waits for it, from entering TIME_WAIT.
    pub fn longest(self) -> Duration {
        match self {
            TwReuse::AfterDelay(delay) => delay,
            TwReuse::NextSecond => Duration::from_secs(1),
        }
    }

    /// In words, for notes and comparisons.
    pub fn describe(self) -> String {
        match self {
            TwReuse::AfterDelay(delay) => format!(
                "once {} ms in TIME_WAIT (tcp_tw_reuse_delay)",
                delay.as_millis()
            ),
            TwReuse::NextSecond => {
                "at the next whole second of the monotonic clock after the last timestamp received \
                 (this kernel has no tcp_tw_reuse_delay)"
                    .to_owned()
            }
        }
    }
}

/// Where `at` lies on the CLOCK_MONOTONIC time line, the clock of `ktime_get_seconds()` and of
/// std's `Instant` on Linux.
pub fn monotonic(at: std::time::Instant) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let now = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    let since = std::time::Instant::now();
    if at <= since {
        now.saturating_sub(since - at)
    } else {
        now + (at - since)
    }
}

/// The latest a timer of `timeout` is expected to fire, after it was armed, at `hz` ticks per
/// second on this machine: one wheel granularity ([`wheel_granularity`]), one more jiffy for
/// arming within a tick, and `scheduling` for the softirq and the capturing thread on a loaded
/// machine.
pub fn late_by_at_most(timeout: Duration, hz: u32, scheduling: Duration) -> Duration {
    let jiffy = Duration::from_nanos(1_000_000_000u64 / u64::from(hz.max(1)));
    wheel_granularity(timeout, hz) + jiffy + scheduling
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(list: &[u64]) -> Vec<Duration> {
        list.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    fn schedule(retries: u32, linear: u32) -> SynSchedule {
        syn_schedule(retries, linear, TCP_TIMEOUT_INIT, TCP_RTO_MAX)
    }

    #[test]
    fn exponential_syn_backoff_without_linear_timeouts() {
        // The classic rule: 1, 2, 4 ... s apart, and the give-up after one more doubling.
        let s = schedule(3, 0);
        assert_eq!(s.sends, secs(&[0, 1, 3, 7]));
        assert_eq!(s.gives_up, Duration::from_secs(15));
        assert_eq!(schedule(1, 0).sends, secs(&[0, 1]));
        assert_eq!(schedule(1, 0).gives_up, Duration::from_secs(3));
        assert_eq!(schedule(2, 0).gives_up, Duration::from_secs(7));
        // The old default, tcp_syn_retries = 6: 127 s.
        let s = schedule(6, 0);
        assert_eq!(s.sends, secs(&[0, 1, 3, 7, 15, 31, 63]));
        assert_eq!(s.gives_up, Duration::from_secs(127));
    }

    #[test]
    fn linear_timeouts_add_syns_within_the_same_time_budget() {
        // 6.5+ defaults: tcp_syn_retries = 6, tcp_syn_linear_timeouts = 4: 11 SYNs, the first
        // five gaps 1 s, then doubling; given up by count at 131 s (budget 127 s).
        let s = schedule(6, 4);
        assert_eq!(s.sends, secs(&[0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]));
        assert_eq!(s.gives_up, Duration::from_secs(131));
        // One retry, linear: the 3 s budget ends it at the third firing.
        let s = schedule(1, 4);
        assert_eq!(s.sends, secs(&[0, 1, 2]));
        assert_eq!(s.gives_up, Duration::from_secs(3));
        // Two retries, two linear timeouts: count (4) and budget (7 s) both end it at 9 s.
        let s = schedule(2, 2);
        assert_eq!(s.sends, secs(&[0, 1, 2, 3, 5]));
        assert_eq!(s.gives_up, Duration::from_secs(9));
        assert_eq!(s.gaps(), secs(&[1, 1, 1, 2]));
        // Two retries, four linear timeouts: the budget (7 s) ends it before the count (6).
        let s = schedule(2, 4);
        assert_eq!(s.sends, secs(&[0, 1, 2, 3, 4, 5]));
        assert_eq!(s.gives_up, Duration::from_secs(7));
        assert_eq!(s.retransmissions(), 5);
    }

    #[test]
    fn the_timeout_stops_doubling_at_rto_max() {
        let s = syn_schedule(9, 0, TCP_TIMEOUT_INIT, Duration::from_secs(10));
        assert_eq!(s.gaps()[..6], secs(&[1, 2, 4, 8, 10, 10]));
    }

    #[test]
    fn model_timeout_is_linear_past_rto_max() {
        assert_eq!(model_timeout(3, TCP_TIMEOUT_INIT), Duration::from_secs(15));
        assert_eq!(model_timeout(6, TCP_TIMEOUT_INIT), Duration::from_secs(127));
        assert_eq!(model_timeout(7, TCP_TIMEOUT_INIT), Duration::from_secs(247));
        // tcp_retries2 = 15 with TCP_RTO_MIN: the well-known 924.6 s.
        assert_eq!(
            model_timeout(15, TCP_RTO_MIN),
            Duration::from_millis(924_600)
        );
    }

    #[test]
    fn keepalive_gives_up_after_count_probes_or_at_the_user_timeout() {
        let s = keepalive_schedule(
            Duration::from_secs(1),
            Duration::from_secs(1),
            3,
            Duration::ZERO,
        );
        assert_eq!(s.probes, secs(&[1, 2, 3]));
        assert_eq!(s.gives_up, Duration::from_secs(4));
        // TCP_USER_TIMEOUT replaces the count: the first firing at or past it, with a probe out.
        let s = keepalive_schedule(
            Duration::from_secs(1),
            Duration::from_secs(1),
            10,
            Duration::from_millis(2500),
        );
        assert_eq!(s.probes, secs(&[1, 2]));
        assert_eq!(s.gives_up, Duration::from_secs(3));
        // A user timeout shorter than the idle time still lets one probe out.
        let s = keepalive_schedule(
            Duration::from_secs(2),
            Duration::from_secs(1),
            5,
            Duration::from_millis(500),
        );
        assert_eq!((s.probes, s.gives_up), (secs(&[2]), Duration::from_secs(3)));
    }

    #[test]
    fn time_wait_reuse_by_delay_or_at_the_next_second() {
        let entered = Duration::from_millis(41_700);
        let rule = TwReuse::of(Some(Duration::from_millis(500)));
        assert_eq!(rule.allowed_at(entered), Duration::from_millis(42_200));
        let rule = TwReuse::of(None);
        assert_eq!(rule, TwReuse::NextSecond);
        assert_eq!(rule.allowed_at(entered), Duration::from_secs(42));
        assert_eq!(
            rule.allowed_at(Duration::from_millis(41_000)),
            Duration::from_secs(42)
        );
    }

    #[test]
    fn monotonic_follows_instant() {
        let now = std::time::Instant::now();
        let later = now + Duration::from_millis(1500);
        let (a, b) = (monotonic(now), monotonic(later));
        let gap = b - a;
        assert!(
            gap >= Duration::from_millis(1499) && gap <= Duration::from_millis(1501),
            "{gap:?}"
        );
    }

    #[test]
    fn wheel_granularity_by_level_at_hz_250() {
        let g = |ms| wheel_granularity(Duration::from_millis(ms), 250);
        assert_eq!(g(200), Duration::from_millis(4));
        assert_eq!(g(1000), Duration::from_millis(32));
        assert_eq!(g(2000), Duration::from_millis(32));
        assert_eq!(g(4000), Duration::from_millis(256));
        assert_eq!(g(16_000), Duration::from_millis(256));
        assert_eq!(g(32_000), Duration::from_millis(2048));
        assert_eq!(
            late_by_at_most(Duration::from_secs(1), 250, Duration::from_millis(20)),
            Duration::from_millis(56)
        );
    }
}
