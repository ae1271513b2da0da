//! What the kernel itself believes: each host's TCP sockets with their states and timers
//! (sock_diag), TCP_INFO of a socket the test holds, the kernel's counters, the settings that
//! decide expected values, and waiting for any of them without fixed sleeps.
//!
//! Everything is read from inside the host's namespace, on the host's own thread:
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use std::time::Duration;
//! use netcase::observe::{wait_until, Counters, Filter, TcpState};
//! let server = net.host("server")?;
//! let before = server.counters().await?;
//! // ... act ...
//! let listening = server.sockets_matching(Filter::all().state(TcpState::Listen).port(80)).await?;
//! let delta = Counters::delta(&before, &server.counters().await?)?;
//! assert_eq!(delta.get("TcpExt.ListenOverflows")?, 0);
//! # Ok(()) }
//! ```

mod counters;
mod gone;
mod settings;
mod socket;
mod socket_waits;
mod tcp_info;
mod wait;
mod watch;

pub use crate::kernel::{Hz, HzSource, hz};
pub use counters::{Counters, Delta};
pub use settings::{Settings, TCP_TIMEWAIT_LEN};
pub use socket::{AcceptQueue, Filter, Socket, SocketTable, TcpState, Timer, TimerKind};
pub use socket_waits::wait_for_states;
pub use tcp_info::{Keepalive, TcpInfo, keepalive, tcp_info};
pub use wait::{DEFAULT_INTERVAL, Observed, next_whole_second, wait_until, wait_until_every};
pub use watch::{Seen, Watch};

use std::{net::SocketAddr, time::Duration};

use crate::{Host, error::Result};

impl Host {
    /// Every TCP socket of this host, IPv4 and IPv6, in every state (sockets that are merely
    /// bound only when a filter asks for [`TcpState::BoundInactive`]), as sock_diag reports them.
    pub async fn sockets(&self) -> Result<SocketTable> {
        self.sockets_matching(Filter::all()).await
    }

    /// The TCP sockets of this host that pass `filter`.
    pub async fn sockets_matching(&self, filter: Filter) -> Result<SocketTable> {
        let name = self.name().to_owned();
        self.spawn(async move { socket::read(&name, &filter) })
            .await?
    }

    /// A snapshot of this host's counters (/proc/net/netstat, /proc/net/snmp, /proc/net/snmp6).
    pub async fn counters(&self) -> Result<Counters> {
        let name = self.name().to_owned();
        self.spawn(async move { counters::read(&name) }).await?
    }

    /// A snapshot of this host's TCP settings, kernel release and HZ.
    pub async fn tcp_settings(&self) -> Result<Settings> {
        let name = self.name().to_owned();
        self.spawn(async move { settings::read(&name) }).await?
    }

    /// Waits until counter `name` has moved by at least `by` since `before`, for at most
    /// `within`; the counters then.
    pub async fn wait_for_counter(
        &self,
        before: &Counters,
        name: &str,
        by: i64,
        within: Duration,
    ) -> Result<Observed<Counters>> {
        let start = before.get(name)?;
        wait_until(
            &format!("{name} to move by {by} on host {}", self.name()),
            within,
            || self.counters(),
            |now| now.get(name).unwrap_or(start) - start >= by,
        )
        .await
    }

    /// Waits until exactly `count` of this host's sockets that pass `filter` are in `state`, for
    /// at most `within`; the table then.
    pub async fn wait_for_state(
        &self,
        filter: Filter,
        state: TcpState,
        count: usize,
        within: Duration,
    ) -> Result<Observed<SocketTable>> {
        wait_until(
            &format!(
                "{count} socket(s) in {state} on host {} ({filter:?})",
                self.name()
            ),
            within,
            || self.sockets_matching(filter.clone()),
            |t| t.count(state) == count,
        )
        .await
    }

    /// Waits until no socket of this host passes `filter` (they have closed), for at most
    /// `within`.
    pub async fn wait_for_no_socket(
        &self,
        filter: Filter,
        within: Duration,
    ) -> Result<Observed<SocketTable>> {
        wait_until(
            &format!("no socket on host {} ({filter:?})", self.name()),
            within,
            || self.sockets_matching(filter.clone()),
            SocketTable::is_empty,
        )
        .await
    }

    /// The accept queue of this host's listener on `addr`, as sock_diag reports it.
    pub async fn accept_queue(&self, addr: SocketAddr) -> Result<AcceptQueue> {
        let table = self
            .sockets_matching(
                Filter::all()
                    .state(TcpState::Listen)
                    .local_port(addr.port()),
            )
            .await?;
        let listener = table.listener(addr)?;
        listener
            .accept_queue()
            .ok_or_else(|| crate::Error::NoSocket {
                host: self.name().to_owned(),
                what: format!("accept queue on the listener {addr}"),
                seen: table.to_string(),
            })
    }

    /// Waits until the accept queue of this host's listener on `addr` is `want`, for at most
    /// `within`.
    pub async fn wait_for_queue(
        &self,
        addr: SocketAddr,
        want: AcceptQueue,
        within: Duration,
    ) -> Result<Observed<AcceptQueue>> {
        wait_until(
            &format!(
                "the accept queue of {addr} on host {} at {want:?}",
                self.name()
            ),
            within,
            || self.accept_queue(addr),
            |q| *q == want,
        )
        .await
    }
}
