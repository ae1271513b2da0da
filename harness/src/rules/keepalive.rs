//! More of a [`KeepaliveSchedule`]: the one a socket's keepalive settings give, its chain of
//! timers and the counters it moves, and the settings a socket that sets none gets from its host
//! (`net.ipv4.tcp_keepalive_time`, `tcp_keepalive_intvl`, `tcp_keepalive_probes`).
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology, socket: &netcase::network::Sock) -> netcase::Result<()> {
//! use std::time::Duration;
//! let client = net.host("client")?;
//! let one = Duration::from_secs(1);
//! client.set_keepalive_defaults(one, one, 2).await?;
//! let ka = netcase::observe::keepalive(socket)?;
//! let rule = ka.schedule();
//! // "idle 1s, interval 1s, count 2, user timeout 0ns: 2 probes at 1, 2 s, RST and ETIMEDOUT at 3 s"
//! println!("{ka}: {rule}");
//! # Ok(()) }
//! ```

use std::{collections::BTreeMap, fmt, time::Duration};

use super::{KeepaliveSchedule, keepalive_schedule};
use crate::{
    error::Result,
    network::{Host, Options, sysctl},
    observe::Keepalive,
};

impl Keepalive {
    /// The schedule these settings give a connection whose probes go unanswered
    /// ([`keepalive_schedule`]).
    pub fn schedule(&self) -> KeepaliveSchedule {
        keepalive_schedule(self.idle, self.interval, self.count, self.user_timeout)
    }

    /// These settings by the names an expectation file uses for them: `keepidle`, `keepintvl`
    /// (seconds, `1`, `1.5`), `keepcnt`, and `probes`, how many probes go out unanswered before
    /// the connection gives up ([`Keepalive::schedule`]: fewer than `keepcnt` when
    /// `TCP_USER_TIMEOUT` ends it first).
    pub fn vars(&self) -> BTreeMap<String, String> {
        let probes = self.schedule().probes.len();
        [
            ("keepidle", secs(self.idle)),
            ("keepintvl", secs(self.interval)),
            ("keepcnt", self.count.to_string()),
            ("probes", probes.to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }
}

/// Seconds, shortest form: `1`, `1.5`.
fn secs(d: Duration) -> String {
    d.as_secs_f64().to_string()
}

impl fmt::Display for Keepalive {
    /// `idle 1s, interval 1s, count 3, user timeout 0ns` (`keepalive off, ...` when off).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = if self.enabled { "" } else { "keepalive off, " };
        write!(
            f,
            "{on}idle {:?}, interval {:?}, count {}, user timeout {:?}",
            self.idle, self.interval, self.count, self.user_timeout
        )
    }
}

impl fmt::Display for KeepaliveSchedule {
    /// `2 probes at 1, 2 s, RST and ETIMEDOUT at 3 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let probes: Vec<String> = self.probes.iter().copied().map(secs).collect();
        write!(
            f,
            "{} probes at {} s, RST and ETIMEDOUT at {} s",
            self.probes.len(),
            probes.join(", "),
            secs(self.gives_up)
        )
    }
}

impl KeepaliveSchedule {
    /// The chain of keepalive timers: the idle time to the first probe, then from each probe to
    /// the next firing (the last gives up). They sum to [`KeepaliveSchedule::gives_up`]; for
    /// [`crate::Kernel::assert_chain`].
    pub fn timers(&self) -> Vec<Duration> {
        let mut at = vec![Duration::ZERO];
        at.extend(&self.probes);
        at.push(self.gives_up);
        at.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// What an idle connection that follows this schedule to its end moves on its host: each
    /// probe counted (`TCPKeepAlive`), one abort on timeout, and the one RST it sends as it gives
    /// up, resetting an established connection. For [`crate::observe::Delta::moved`].
    pub fn counters(&self) -> [(&'static str, i64); 4] {
        [
            ("TcpExt.TCPKeepAlive", self.probes.len() as i64),
            ("TcpExt.TCPAbortOnTimeout", 1),
            ("Tcp.OutRsts", 1),
            ("Tcp.EstabResets", 1),
        ]
    }
}

impl Host {
    /// What a socket on this host with `options` reports ([`crate::observe::keepalive`]):
    /// `SO_KEEPALIVE` as the options say; `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` where
    /// they set them, else the host's `net.ipv4.tcp_keepalive_time`, `tcp_keepalive_intvl`,
    /// `tcp_keepalive_probes`; `TCP_USER_TIMEOUT` where they set it, else zero.
    pub async fn keepalive_for(&self, options: &Options) -> Result<Keepalive> {
        let set = options.keepalive.unwrap_or_default();
        let secs = |s: u32| Duration::from_secs(s.into());
        Ok(Keepalive {
            enabled: options.keepalive.is_some(),
            idle: match set.idle {
                Some(idle) => idle,
                None => secs(self.get(sysctl::TCP_KEEPALIVE_TIME).await?),
            },
            interval: match set.interval {
                Some(interval) => interval,
                None => secs(self.get(sysctl::TCP_KEEPALIVE_INTVL).await?),
            },
            count: match set.count {
                Some(count) => count,
                None => self.get(sysctl::TCP_KEEPALIVE_PROBES).await?,
            },
            user_timeout: options.user_timeout.unwrap_or_default(),
        })
    }

    /// Sets the keepalive settings a socket that sets none gets: `tcp_keepalive_time` to `idle`,
    /// `tcp_keepalive_intvl` to `interval` (both in whole seconds, as the sysctls count them),
    /// `tcp_keepalive_probes` to `count`.
    pub async fn set_keepalive_defaults(
        &self,
        idle: Duration,
        interval: Duration,
        count: u32,
    ) -> Result<()> {
        let whole = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        self.set(sysctl::TCP_KEEPALIVE_TIME, whole(idle)).await?;
        self.set(sysctl::TCP_KEEPALIVE_INTVL, whole(interval))
            .await?;
        self.set(sysctl::TCP_KEEPALIVE_PROBES, count).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn keepalive_timers_sum_to_the_end() {
        let rule = keepalive_schedule(s(2), s(1), 3, Duration::ZERO);
        assert_eq!(rule.timers(), [s(2), s(1), s(1), s(1)]);
        assert_eq!(
            rule.to_string(),
            "3 probes at 2, 3, 4 s, RST and ETIMEDOUT at 5 s"
        );
        // TCP_USER_TIMEOUT=2.5 s: the third firing (3 s) gives up, after two probes.
        let user = keepalive_schedule(s(1), s(1), 10, Duration::from_millis(2500));
        assert_eq!(user.timers(), [s(1), s(1), s(1)]);
        assert_eq!(user.counters()[0], ("TcpExt.TCPKeepAlive", 2));
    }

    #[test]
    fn keepalive_settings_as_expectation_vars() {
        let ka = Keepalive {
            enabled: true,
            idle: s(1),
            interval: Duration::from_millis(1500),
            count: 10,
            user_timeout: s(3),
        };
        let vars = ka.vars();
        let var = |name: &str| vars.get(name).map(String::as_str);
        assert_eq!(var("keepidle"), Some("1"));
        assert_eq!(var("keepintvl"), Some("1.5"));
        assert_eq!(var("keepcnt"), Some("10"));
        // Probes at 1 and 2.5 s; the firing at 4 s is past the 3 s user timeout.
        assert_eq!(var("probes"), Some("2"));
    }
}
