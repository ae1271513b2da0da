//! What several behaviours' cases share: where the expectation files are, and the few timing
//! figures and conversions the timer cases state their tolerances with.

use std::{path::PathBuf, time::Duration};

use netcase::{
    Host, Result,
    decode::Segment,
    expect::{Expectation, Vars},
    sysctl,
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

pub(crate) use netcase::kernel::SCHEDULING;

/// How long a thread blocked in a socket call (connect(), read()) may take to return once the
/// kernel has failed the connection, on a two-core machine running the whole suite (dozens of
/// capture threads and 1-ms pollers): the kernel's own times come from the capture, but the
/// failure's time is when the call returned to userspace. On the wire the gaps stayed within a
/// millisecond of the wheel-rounded timeout in every run; the return of connect() once came more
/// than the timer allowance late under the full suite run with 64 test threads.
pub(crate) const WAKEUP: Duration = Duration::from_millis(100);

/// A captured segment's time after the timeline's zero (0 if before it).
pub(crate) fn at(s: &Segment) -> Duration {
    Duration::from_nanos(u64::try_from(s.at_ns).unwrap_or(0))
}

/// A duration in milliseconds, for figures.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Makes `host`'s TIME_WAIT sockets ignore resets (`tcp_rfc1337 = 1`), for the cases that count
/// or time TIME_WAIT sockets.
///
/// Without it a veth pair kills a few of them on its own: the peer acknowledges the FIN it got
/// with a pure ACK from its delayed-ACK timer, then sends its own FIN from close() on the other
/// CPU, and veth delivers each on the sending CPU's backlog, so the FIN can overtake the ACK. The
/// late ACK reaches a socket already in TIME_WAIT, which answers it with a duplicate ACK; the
/// peer, closed by then, answers that with a reset whose sequence number is exactly what TIME_WAIT
/// expects, and with `tcp_rfc1337 = 0` (the default) the reset kills it: RFC 1337's "TIME_WAIT
/// assassination". Measured with a standalone loop of 16 connections per round: 3.7% of rounds
/// lost a TIME_WAIT socket on an idle 2-core machine (IPv4; 0.4% IPv6), 20-35% with both cores
/// busy; none with `tcp_rfc1337 = 1`. No counter records the kill: only the peer's `OutRsts`.
/// `time_wait::assassinated` shows the kill on purpose.
pub(crate) async fn keep_time_wait(host: &Host) -> Result<()> {
    host.set(sysctl::TCP_RFC1337, true).await
}
