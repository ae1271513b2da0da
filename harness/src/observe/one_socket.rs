//! One connection's socket: the only one a filter passes ([`Host::only_socket`]), and waiting for
//! it to reach a condition: "its first retransmission", "five octets in its receive queue",
//! "reset", one call each.
//!
//! [`Host::wait_for_socket`] reads sock_diag and finds the socket by its two addresses in every
//! read, so it also covers a socket the test no longer holds (an orphan after close(), a
//! TIME_WAIT socket); [`Sock::wait_for_info`] and [`Sock::wait_for_state`] read the TCP_INFO of a
//! socket the test holds.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology, conn: netcase::network::Connection)
//! # -> netcase::Result<()> {
//! use std::time::Duration;
//! use netcase::network::Close;
//! let client = net.host("client")?;
//! let (local, remote) = (conn.client.local()?, conn.client.peer()?);
//! conn.client.close(Close::Now).await?;
//! let orphan = client
//!     .wait_for_socket(local, remote, "the orphan's first retransmission", Duration::from_secs(2), |s| {
//!         s.retransmits >= 1
//!     })
//!     .await?;
//! println!("{} after {:?}", orphan.value, orphan.elapsed);
//! # Ok(()) }
//! ```

use std::{net::SocketAddr, time::Duration};

use super::{Filter, Observed, Socket, TcpInfo, TcpState, wait_until};
use crate::{
    Host,
    error::{Error, Result},
    network::Sock,
};

impl Host {
    /// The one socket of this host that passes `filter`; an error that shows what passed when
    /// none or several do.
    pub async fn only_socket(&self, filter: Filter) -> Result<Socket> {
        let table = self.sockets_matching(filter.clone()).await?;
        match table.sockets() {
            [one] => Ok(*one),
            _ => Err(Error::NoSocket {
                host: self.name().to_owned(),
                what: format!("exactly one socket ({filter:?})"),
                seen: table.to_string(),
            }),
        }
    }

    /// Waits until this host has a socket from `local` to `remote` (any state) of which
    /// `condition` holds, for at most `within`; that socket then. `what` says what is awaited,
    /// for the timeout error, which also shows the host's sockets on those ports at the last
    /// read.
    pub async fn wait_for_socket(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        what: &str,
        within: Duration,
        mut condition: impl FnMut(&Socket) -> bool,
    ) -> Result<Observed<Socket>> {
        let filter = Filter::all()
            .local_port(local.port())
            .remote_port(remote.port());
        let seen = wait_until(
            &format!("{what}: {local} -> {remote} on host {}", self.name()),
            within,
            || self.sockets_matching(filter.clone()),
            |t| t.get(local, remote).is_some_and(&mut condition),
        )
        .await?;
        let socket = *seen.value.find(local, remote)?;
        Ok(Observed {
            value: socket,
            at: seen.at,
            elapsed: seen.elapsed,
            window: seen.window,
            already: seen.already,
            polls: seen.polls,
        })
    }
}

impl Sock {
    /// Waits until this socket's TCP_INFO satisfies `condition`, for at most `within`; the
    /// TCP_INFO then. `what` says what is awaited, for the timeout error, which also shows the
    /// last TCP_INFO read.
    pub async fn wait_for_info(
        &self,
        what: &str,
        within: Duration,
        condition: impl FnMut(&TcpInfo) -> bool,
    ) -> Result<Observed<TcpInfo>> {
        let what = format!("{what}: {self:?}");
        wait_until(&what, within, || async { self.info() }, condition).await
    }

    /// Waits until this socket is in `state` (by TCP_INFO: a socket the kernel has reset or
    /// timed out reads [`TcpState::Close`]), for at most `within`.
    pub async fn wait_for_state(
        &self,
        state: TcpState,
        within: Duration,
    ) -> Result<Observed<TcpInfo>> {
        let what = format!("the socket in {state}");
        self.wait_for_info(&what, within, |i| i.state == state)
            .await
    }
}
