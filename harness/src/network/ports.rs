//! Using up a host's local ports towards one destination: connections opened and closed from
//! this end first, each leaving a TIME_WAIT socket that holds its port
//! ([`crate::observe::TCP_TIMEWAIT_LEN`]), until connect() fails with EADDRNOTAVAIL. Without
//! `tcp_tw_reuse` that is one connection per port of `ip_local_port_range` per TIME_WAIT period.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use netcase::{Family, sysctl::{self, PortRange}};
//! use std::time::Duration;
//! let (client, server) = (net.host("client")?, net.host("server")?);
//! let range = PortRange { low: 41000, high: 41007 };
//! client.set(sysctl::IP_LOCAL_PORT_RANGE, range).await?;
//! let rule = client.set_tw_reuse(0, Duration::from_millis(500)).await?; // no reuse at all
//! let served = server.serve(net.socket_addr("server", Family::V4, 7100)?).await?;
//! let used = client.use_up_ports(served.addr(), range.len() as usize).await?;
//! assert_eq!(used.closed.len(), 8, "one connection per port");
//! assert_eq!(used.held.local_ports(), Vec::from_iter(range.ports()), "{}", used.held);
//! # Ok(()) }
//! ```

use std::{
    io,
    net::SocketAddr,
    ops::RangeInclusive,
    time::{Duration, Instant},
};

use nix::errno::Errno;

use crate::{
    Host,
    error::{Error, Result},
    network::{
        Call, Sock,
        closing::{ClosedFirst, close_first_now},
        socket::{describe, errno, socket_for},
        sysctl::{self, PortRange},
    },
    observe::{Filter, SocketTable, TCP_TIMEWAIT_LEN, TimerKind, next_whole_second},
    rules::TwReuse,
};

/// What [`Host::use_up_ports`] did.
#[derive(Debug)]
pub struct UsedUp {
    /// How each connection closed, in the order they were made.
    pub closed: Vec<ClosedFirst>,
    /// When the connect() that failed with EADDRNOTAVAIL returned.
    pub refused_at: Instant,
    /// The host's sockets to the destination's port, read just after that connect() failed.
    pub held: SocketTable,
}

impl UsedUp {
    /// When the first connection began to close (its socket entered TIME_WAIT after); when the
    /// first connect() failed if none succeeded.
    pub fn first(&self) -> Instant {
        self.closed.first().map_or(self.refused_at, |c| c.began)
    }
}

impl Host {
    /// One connection to `to`, closed from this end first ([`Sock::close_first`], so that this
    /// end holds TIME_WAIT): the socket, left in CLOSE, and how it closed; or what connect()
    /// failed with. Fails if the peer sent anything before its FIN: it is for a server that only
    /// closes, such as [`Host::serve`].
    pub async fn open_and_close(&self, to: SocketAddr) -> Result<Call<(Sock, ClosedFirst)>> {
        let sock = match self.connect(to).await? {
            Ok(sock) => sock,
            Err(errno) => return Ok(Err(errno)),
        };
        let closed = sock.close_first().await?;
        if closed.received != 0 {
            let what = format!(
                "closing {sock:?} first: {to} sent {} octet(s) before its FIN (serve it with a \
                 server that only closes, such as Host::serve)",
                closed.received
            );
            return Err(Error::io(what, io::Error::from(io::ErrorKind::InvalidData)));
        }
        Ok(Ok((sock, closed)))
    }

    /// Opens connections to `to` and closes each from this end first ([`Host::open_and_close`])
    /// until connect() fails with EADDRNOTAVAIL: every local port this host may use towards `to`
    /// is held, by the TIME_WAIT sockets of these connections or by others. Then reads this
    /// host's sockets to `to`'s port ([`UsedUp::held`]).
    ///
    /// Fails if connect() fails with anything else, or if more than `at_most` connections
    /// succeed (the ports come back as fast as they are used: a range larger than meant, or
    /// TIME_WAIT sockets taken over, `tcp_tw_reuse`).
    pub async fn use_up_ports(&self, to: SocketAddr, at_most: usize) -> Result<UsedUp> {
        // One thread inside the host for the whole loop, as a client program would run it: a
        // thread per call would add two wake-ups per connection, each tens of milliseconds late
        // on a loaded machine, and the range must be used up within a TIME_WAIT reuse delay.
        let host = self.name().to_owned();
        let (closed, refused, refused_at) = self
            .run(move || -> Result<(Vec<ClosedFirst>, io::Error, Instant)> {
                let mut closed = Vec::new();
                loop {
                    let socket = socket_for(to).map_err(|e| {
                        Error::io(format!("a socket to connect to {to} on host {host}"), e)
                    })?;
                    if let Err(e) = socket.connect(&to.into()) {
                        return Ok((closed, e, Instant::now()));
                    }
                    let what = format!("a connection to {to} on host {host}");
                    let c = close_first_now(&socket, &what)?;
                    if c.received != 0 {
                        let what = format!(
                            "closing {what} first: the peer sent {} octet(s) before its FIN \
                             (serve it with a server that only closes, such as Host::serve)",
                            c.received
                        );
                        let e = io::Error::from(io::ErrorKind::InvalidData);
                        return Err(Error::io(what, e));
                    }
                    if closed.len() == at_most {
                        let what = format!(
                            "using up the ports of host {host} to {to}: connect() succeeded {} \
                             times, more than the {at_most} expected (ports came back, or the \
                             range is larger): {closed:?}, then {c:?}",
                            closed.len() + 1
                        );
                        let e = io::Error::from(io::ErrorKind::AddrInUse);
                        return Err(Error::io(what, e));
                    }
                    closed.push(c);
                }
            })
            .await??;
        let refused = errno(&refused);
        if refused != Errno::EADDRNOTAVAIL {
            let what = format!(
                "using up the ports of host {} to {to}: connect() failed with {} after {} \
                 connection(s), not with EADDRNOTAVAIL",
                self.name(),
                describe(refused),
                closed.len()
            );
            return Err(Error::io(
                what,
                io::Error::from_raw_os_error(refused as i32),
            ));
        }
        let held = self
            .sockets_matching(Filter::all().remote_port(to.port()))
            .await?;
        Ok(UsedUp {
            closed,
            refused_at,
            held,
        })
    }

    /// Sets `net.ipv4.tcp_tw_reuse` to `reuse` and, where the kernel has `tcp_tw_reuse_delay`
    /// (6.14 and later), that delay to `delay` (whole milliseconds): when connect() may take
    /// over a TIME_WAIT socket from then on, by this kernel's rule. Older kernels allow it at
    /// the next whole second of the monotonic clock, and `delay` is not theirs to set.
    pub async fn set_tw_reuse(&self, reuse: u8, delay: Duration) -> Result<TwReuse> {
        self.set(sysctl::TCP_TW_REUSE, reuse).await?;
        if !crate::kernel()?.has(sysctl::TCP_TW_REUSE_DELAY) {
            return Ok(TwReuse::of(None));
        }
        let ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        self.set(sysctl::TCP_TW_REUSE_DELAY, ms).await?;
        Ok(TwReuse::of(Some(Duration::from_millis(ms.into()))))
    }
}

impl TwReuse {
    /// Waits until a burst started now has the most time before this rule allows a reuse: for
    /// [`TwReuse::NextSecond`], 100 ms (and the emulation's allowance) into the next second of
    /// the monotonic clock, after the tick that moves the kernel's seconds clock on, however late
    /// it comes; for [`TwReuse::AfterDelay`], at once (the delay runs from each socket's entry).
    pub async fn fresh_period(self) -> Result<()> {
        if self == TwReuse::NextSecond {
            next_whole_second(Duration::from_millis(100) + crate::kernel()?.emulation()).await;
        }
        Ok(())
    }
}

impl SocketTable {
    /// The local ports of its sockets, lowest first.
    pub fn local_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.iter().map(|s| s.local.port()).collect();
        ports.sort_unstable();
        ports
    }

    /// When its earliest TIME_WAIT socket entered TIME_WAIT, by the kernel's clock: the moment
    /// its timer started at [`TCP_TIMEWAIT_LEN`] (within a jiffy), which comes before the
    /// moment a reader woke up to it. `None` without a TIME_WAIT timer.
    pub fn time_wait_entered(&self) -> Option<Instant> {
        let timers = self.iter().filter_map(|s| s.timer);
        (timers.filter(|t| t.kind == TimerKind::TimeWait))
            .map(|t| self.read_at() + t.remaining - TCP_TIMEWAIT_LEN)
            .min()
    }
}

impl PortRange {
    /// Its ports, lowest first.
    pub fn ports(&self) -> RangeInclusive<u16> {
        self.low..=self.high
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_lists_its_ports_inclusive() {
        let range = PortRange {
            low: 41000,
            high: 41003,
        };
        let ports: Vec<u16> = range.ports().collect();
        assert_eq!(ports, [41000, 41001, 41002, 41003]);
        assert_eq!(ports.len() as u32, range.len());
    }
}
