//! Both edges of a chain of kernel timers: a timer that, when it fires, arms the next (keepalive
//! probes, then the reset; SYN retransmissions, then ETIMEDOUT), timed from the first's arming to
//! the last's effect.

use std::time::Duration;

use super::{Kernel, SCHEDULING, Slack};
use crate::rules;

impl Kernel {
    /// How far from the sum of `timers` the last one's effect may be seen, when the first was
    /// armed at an event the test timestamps and each of the others was armed as the one before
    /// fired:
    ///
    /// - early: one jiffy, and only once: the first timer is armed between ticks (see
    ///   [`Kernel::timer_slack`]), the others are re-armed as a tick runs their predecessor; under
    ///   emulation also [`super::EMULATION`].
    /// - late: each timer's own lateness ([`rules::late_by_at_most`]: its wheel granularity, a
    ///   jiffy, [`SCHEDULING`]), summed; under emulation also [`super::EMULATION`], once.
    pub fn chain_slack(&self, timers: impl IntoIterator<Item = Duration>) -> Slack {
        let late: Duration = timers
            .into_iter()
            .map(|t| rules::late_by_at_most(t, self.hz.value, SCHEDULING))
            .sum();
        Slack {
            early: self.jiffy() + self.emulation(),
            late: late + self.emulation(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Clock, tests::real_at_250_hz};

    #[test]
    fn a_chain_is_early_once_and_late_per_timer() {
        let mut k = real_at_250_hz();
        let one = Duration::from_secs(1);
        // A 1 s timer at HZ=250: 32 ms of wheel granularity, a jiffy, 20 ms of scheduling.
        let s = k.chain_slack([one, one, one]);
        assert_eq!(s.early, Duration::from_millis(4));
        assert_eq!(s.late, Duration::from_millis(3 * 56));
        assert_eq!(k.chain_slack([one]), k.timer_slack(one));
        k.clock = Clock::Emulated("tcg".to_owned());
        let s = k.chain_slack([one, one]);
        assert_eq!(s.early, Duration::from_millis(4 + 50));
        assert_eq!(s.late, Duration::from_millis(2 * 56 + 50));
    }
}
