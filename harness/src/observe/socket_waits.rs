//! Waiting on one socket, one call each with a deadline, returning when the condition was first
//! seen ([`Observed`]): a socket the test holds, through its TCP_INFO (until it reaches a state,
//! until several have, until its TCP_INFO says what the test waits for), or one of a host's
//! sockets, through sock_diag (until one that passes a filter is as the test waits for: its
//! retransmissions, its timer).
//!
//! TCP_INFO needs no filter and tells one socket from its twins; sock_diag sees sockets the test
//! holds no handle on (a SYN_SENT socket inside a blocked connect(), a request, an orphan after
//! close(), TIME_WAIT): [`Filter::between`] picks one connection's socket by its two addresses,
//! and [`Host::only_socket`] reads the one socket a filter passes.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use std::time::Duration;
//! use netcase::{Family, network::Options, observe::{Filter, TcpState, wait_for_states}};
//! let client = net.host("client")?;
//! let to = net.socket_addr("server", Family::V4, 7000)?;
//! let sock = client.start_connect(to, Options::new()).await?.expect("a SYN on its way");
//! let retrying = client
//!     .wait_for_socket(Filter::all().state(TcpState::SynSent), "a SYN resent", Duration::from_secs(2),
//!         |s| s.retransmits >= 1)
//!     .await?;
//! println!("{} with its timer {:?}", retrying.value, retrying.value.timer);
//! let joined = sock.wait_for_state(TcpState::Established, Duration::from_secs(2)).await?;
//! println!("established {:?} after the wait began", joined.elapsed);
//! sock.wait_for_info("everything acknowledged", Duration::from_secs(1), |i| i.unacked == 0)
//!     .await?;
//! wait_for_states(&[sock], TcpState::Established, Duration::from_secs(1)).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use super::{Filter, Observed, Socket, TcpInfo, TcpState, wait_until};
use crate::{
    error::{Error, Result},
    network::{Host, Sock},
};

impl<S> Observed<S> {
    /// The same observation, of `f` of its value.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Observed<T> {
        Observed {
            value: f(self.value),
            at: self.at,
            elapsed: self.elapsed,
            window: self.window,
            already: self.already,
            polls: self.polls,
        }
    }
}

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

    /// Waits until one of this host's sockets that pass `filter` satisfies `condition` (`what`
    /// says what, for the error when none does), for at most `within`; that socket.
    pub async fn wait_for_socket(
        &self,
        filter: Filter,
        what: &str,
        within: Duration,
        mut condition: impl FnMut(&Socket) -> bool,
    ) -> Result<Observed<Socket>> {
        let seen = wait_until(
            &format!("{what}: a socket on host {} ({filter:?})", self.name()),
            within,
            || self.sockets_matching(filter.clone()),
            |table| table.iter().any(&mut condition),
        )
        .await?;
        let socket = *seen
            .value
            .iter()
            .find(|s| condition(s))
            .expect("the socket the condition held of");
        Ok(seen.map(|_| socket))
    }
}

impl Sock {
    /// Waits until its state (TCP_INFO) is `state`, for at most `within`; its TCP_INFO then. A
    /// socket the kernel has reset or timed out reads [`TcpState::Close`].
    pub async fn wait_for_state(
        &self,
        state: TcpState,
        within: Duration,
    ) -> Result<Observed<TcpInfo>> {
        self.wait_for_info(&format!("the socket in {state}"), within, |i| {
            i.state == state
        })
        .await
    }

    /// Waits until its TCP_INFO satisfies `condition`, described by `what` (for the error when it
    /// never does), for at most `within`; the TCP_INFO then.
    pub async fn wait_for_info(
        &self,
        what: &str,
        within: Duration,
        condition: impl FnMut(&TcpInfo) -> bool,
    ) -> Result<Observed<TcpInfo>> {
        wait_until(
            &format!("{what} ({self:?})"),
            within,
            || async { self.info() },
            condition,
        )
        .await
    }
}

/// Waits until every one of `socks` is in `state` (TCP_INFO), for at most `within`; their
/// states then, in order. The moment it returns ([`Observed::at`]) is when the last of them was
/// first seen there.
pub async fn wait_for_states(
    socks: &[Sock],
    state: TcpState,
    within: Duration,
) -> Result<Observed<Vec<TcpState>>> {
    wait_until(
        &format!("{} socket(s) in {state}: {socks:?}", socks.len()),
        within,
        || async { socks.iter().map(Sock::state).collect::<Result<Vec<_>>>() },
        |states| states.iter().all(|s| *s == state),
    )
    .await
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_mapped_observation_keeps_its_moment() {
        let at = Instant::now();
        let seen = Observed {
            value: 3,
            at,
            elapsed: Duration::from_millis(5),
            window: Duration::from_millis(1),
            already: false,
            polls: 4,
        };
        let mapped = seen.map(|n| n * 2);
        assert_eq!(mapped.value, 6);
        assert_eq!((mapped.at, mapped.polls), (at, 4));
        assert_eq!(mapped.window, Duration::from_millis(1));
    }
}
