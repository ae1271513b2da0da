//! More of a [`SynSchedule`]: the one a host's settings give, its timeouts, the schedule in words
//! (for notes, behaviours and messages: a reader compares kernels by these lines), and as an
//! expectation over a capture.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! let client = net.host("client")?;
//! let rule = client.syn_schedule(None).await?; // tcp_syn_retries, no TCP_SYNCNT
//! // With tcp_syn_retries=2 and no linear timeouts: "3 SYNs at 0, 1, 3 s, ETIMEDOUT at 7 s".
//! println!("{rule}");
//! let expected = rule.expectation("client", "server", netcase::kernel()?);
//! # Ok(()) }
//! ```

use std::{fmt, time::Duration};

use super::{SynSchedule, TCP_TIMEOUT_INIT, syn_schedule};
use crate::{
    Kernel,
    decode::Flags,
    error::Result,
    expect::{Expectation, Line},
    kernel::SCHEDULING,
    network::{Host, sysctl},
};

impl Host {
    /// The schedule a connect() from this host follows when no SYN is answered, from its
    /// settings: `syncnt` (the socket's `TCP_SYNCNT`) or else `net.ipv4.tcp_syn_retries`,
    /// `tcp_syn_linear_timeouts` (0 on a kernel without it), `tcp_rto_max_ms` ([`super::TCP_RTO_MAX`]
    /// on a kernel without it), and [`TCP_TIMEOUT_INIT`].
    pub async fn syn_schedule(&self, syncnt: Option<u8>) -> Result<SynSchedule> {
        let retries = match syncnt {
            Some(n) => n,
            None => self.get(sysctl::TCP_SYN_RETRIES).await?,
        };
        let linear = self.get(sysctl::TCP_SYN_LINEAR_TIMEOUTS).await?;
        let rto_max = self.get(sysctl::TCP_RTO_MAX_MS).await?;
        Ok(syn_schedule(
            retries.into(),
            linear.into(),
            TCP_TIMEOUT_INIT,
            Duration::from_millis(rto_max.into()),
        ))
    }
}

impl SynSchedule {
    /// Each timeout of the retransmission timer: the gaps between SYNs, then the last SYN to
    /// ETIMEDOUT (as many as the SYNs).
    pub fn timeouts(&self) -> Vec<Duration> {
        let last = self.sends.last().copied().unwrap_or_default();
        let mut timeouts = self.gaps();
        timeouts.push(self.gives_up - last);
        timeouts
    }

    /// Its SYNs as an expectation over a capture (times from the first SYN): `from>to S seq 0` at
    /// zero and after each gap, and no further SYN; within the widest edge of
    /// [`Kernel::timer_slack`] of any gap ([`SCHEDULING`] when there is a single SYN).
    pub fn expectation(&self, from: &str, to: &str, kernel: &Kernel) -> Expectation {
        let widest = |gap: Duration| {
            let slack = kernel.timer_slack(gap);
            slack.late.max(slack.early)
        };
        let tolerance = self.gaps().into_iter().map(widest).max();
        let mut line = Line::segment(from, to, Flags::SYN)
            .seq(0)
            .at(Duration::ZERO);
        if self.syns() > 1 {
            line = line.gaps(self.gaps());
        }
        Expectation::new()
            .tolerance(tolerance.unwrap_or(SCHEDULING))
            .line(line)
            .line(Line::forbidden(from, to, Flags::SYN))
    }
}

/// Seconds, shortest form: `0`, `1`, `1.5`.
fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

impl fmt::Display for SynSchedule {
    /// `3 SYNs at 0, 1, 3 s, ETIMEDOUT at 7 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sends: Vec<String> = self.sends.iter().copied().map(secs).collect();
        write!(
            f,
            "{} SYNs at {} s, ETIMEDOUT at {} s",
            self.syns(),
            sends.join(", "),
            secs(self.gives_up)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::TCP_RTO_MAX;

    #[test]
    fn a_syn_schedule_in_words() {
        let rule = syn_schedule(2, 0, TCP_TIMEOUT_INIT, TCP_RTO_MAX);
        assert_eq!(rule.to_string(), "3 SYNs at 0, 1, 3 s, ETIMEDOUT at 7 s");
        let linear = syn_schedule(2, 4, TCP_TIMEOUT_INIT, TCP_RTO_MAX);
        assert_eq!(
            linear.to_string(),
            "6 SYNs at 0, 1, 2, 3, 4, 5 s, ETIMEDOUT at 7 s"
        );
    }

    #[test]
    fn timeouts_end_with_the_one_that_gives_up() {
        let rule = syn_schedule(2, 0, TCP_TIMEOUT_INIT, TCP_RTO_MAX);
        let s = Duration::from_secs;
        assert_eq!(rule.timeouts(), [s(1), s(2), s(4)]);
        assert_eq!(rule.timeouts().len(), rule.syns());
    }

    #[test]
    fn the_expectation_lists_the_syns_then_forbids_more() {
        let kernel = crate::kernel().expect("the running kernel");
        let one = syn_schedule(0, 0, TCP_TIMEOUT_INIT, TCP_RTO_MAX);
        assert_eq!(one.expectation("client", "server", kernel).lines().len(), 2);
        let three = syn_schedule(2, 0, TCP_TIMEOUT_INIT, TCP_RTO_MAX);
        let lines = three
            .expectation("client", "server", kernel)
            .lines()
            .to_vec();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].to_string().contains("client>server S"),
            "{}",
            lines[0]
        );
    }
}
