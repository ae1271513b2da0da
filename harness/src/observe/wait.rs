//! Waiting for the kernel without sleeping blind: poll, note when the condition first held, and
//! report the last state seen when it never did.

use std::{
    fmt::Debug,
    future::Future,
    time::{Duration, Instant},
};

use crate::error::{Error, Result};

/// The default time between two probes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(1);

/// The longest description of the last state that a timeout error carries, in characters.
const LAST_STATE_MAX: usize = 4000;

/// A state that satisfied a condition, and when.
///
/// The condition first held within `window` before `at`: after the previous probe began (it saw
/// the condition false) and by the time this probe returned. A timing assertion uses both ends.
#[derive(Debug, Clone)]
pub struct Observed<S> {
    /// The state that satisfied the condition.
    pub value: S,
    /// When the probe that saw it returned.
    pub at: Instant,
    /// Time from the call of `wait_until` to `at`.
    pub elapsed: Duration,
    /// How uncertain `at` is: the condition first held in `(at - window, at]`. When the first
    /// probe already saw it, `window` covers that probe only, and `already` is true.
    pub window: Duration,
    /// Whether the condition held at the first probe.
    pub already: bool,
    /// How many probes ran, this one included.
    pub polls: u32,
}

impl<S> Observed<S> {
    /// The earliest instant at which the condition may first have held.
    pub fn earliest(&self) -> Instant {
        self.at - self.window
    }
}

/// Polls `probe` every [`DEFAULT_INTERVAL`] until `condition` holds of what it returned, for at
/// most `deadline`.
///
/// On timeout the error names `what` and shows the last state probed. An error from the probe
/// ends the wait at once.
///
/// ```no_run
/// # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
/// use std::time::Duration;
/// use netcase::observe::{wait_until, Filter, TcpState};
/// let client = net.host("client")?;
/// let seen = wait_until(
///     "a client socket in TIME_WAIT",
///     Duration::from_secs(5),
///     || client.sockets_matching(Filter::all().state(TcpState::TimeWait)),
///     |table| !table.is_empty(),
/// )
/// .await?;
/// println!("TIME_WAIT after {:?}", seen.elapsed);
/// # Ok(()) }
/// ```
pub async fn wait_until<S, F, Fut, C>(
    what: &str,
    deadline: Duration,
    probe: F,
    condition: C,
) -> Result<Observed<S>>
where
    S: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<S>>,
    C: FnMut(&S) -> bool,
{
    wait_until_every(what, deadline, DEFAULT_INTERVAL, probe, condition).await
}

/// [`wait_until`] with probes `interval` apart (measured from the end of one probe to the start of
/// the next).
pub async fn wait_until_every<S, F, Fut, C>(
    what: &str,
    deadline: Duration,
    interval: Duration,
    mut probe: F,
    mut condition: C,
) -> Result<Observed<S>>
where
    S: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<S>>,
    C: FnMut(&S) -> bool,
{
    let start = Instant::now();
    let end = start + deadline;
    let mut previous_start: Option<Instant> = None;
    let mut polls = 0;
    loop {
        let probe_start = Instant::now();
        let state = probe().await?;
        let at = Instant::now();
        polls += 1;
        if condition(&state) {
            return Ok(Observed {
                value: state,
                at,
                elapsed: at - start,
                window: at - previous_start.unwrap_or(probe_start),
                already: previous_start.is_none(),
                polls,
            });
        }
        if at >= end {
            return Err(Error::Timeout {
                what: what.to_owned(),
                waited: at - start,
                last: clip(format!("{state:?}")),
            });
        }
        previous_start = Some(probe_start);
        tokio::time::sleep(interval.min(end - at)).await;
    }
}

fn clip(mut text: String) -> String {
    if text.len() > LAST_STATE_MAX {
        let mut cut = LAST_STATE_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let more = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!(" ... ({more} more bytes)"));
    }
    text
}

/// Returns `margin` into the monotonic clock's next whole second, for a case whose kernel rule
/// counts whole seconds of it (`ktime_get_seconds()`, as TIME_WAIT reuse before 6.14 does:
/// [`crate::rules::TwReuse::NextSecond`]), so that a round of work that takes less than
/// `1 s - margin` cannot straddle a boundary. The margin covers the kernel's seconds clock, which
/// moves on with the tick that follows the boundary (a jiffy later, more when ticks come late,
/// as under emulation). A wait for the clock, not for the kernel.
pub async fn next_whole_second(margin: Duration) {
    let now = crate::rules::monotonic(Instant::now());
    let past = Duration::from_nanos(u64::from(now.subsec_nanos()));
    let to_next = Duration::from_secs(1) - past + margin;
    tokio::time::sleep(to_next).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_when_the_condition_first_holds() {
        let mut n = 0;
        let seen = wait_until(
            "n to reach 3",
            Duration::from_secs(5),
            || {
                n += 1;
                let v = n;
                async move { Ok(v) }
            },
            |v| *v >= 3,
        )
        .await
        .unwrap();
        assert_eq!((seen.value, seen.polls, seen.already), (3, 3, false));
        assert!(seen.window >= Duration::from_millis(1), "{seen:?}");
    }

    #[tokio::test]
    async fn times_out_with_the_last_state() {
        let err = wait_until(
            "the impossible",
            Duration::from_millis(20),
            || async { Ok("still waiting") },
            |_| false,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("the impossible") && err.contains("still waiting"),
            "{err}"
        );
    }

    #[test]
    fn long_states_are_clipped() {
        let s = clip("é".repeat(3000));
        assert!(s.len() < LAST_STATE_MAX + 40 && s.ends_with("more bytes)"));
    }
}
