//! Waiting on sockets the test holds, through their TCP_INFO: until a socket reaches a state,
//! until several have, or until its TCP_INFO says what the test waits for. Each is one call with
//! a deadline that returns when the condition was first seen ([`Observed`]).
//!
//! sock_diag sees every socket of a host ([`Host::wait_for_state`]); these read the socket
//! itself, which needs no filter and tells one socket from its twins.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use std::time::Duration;
//! use netcase::{Family, network::Options, observe::{TcpState, wait_for_states}};
//! let client = net.host("client")?;
//! let to = net.socket_addr("server", Family::V4, 7000)?;
//! let sock = client.start_connect(to, Options::new()).await?.expect("a SYN on its way");
//! let joined = sock.wait_for_state(TcpState::Established, Duration::from_secs(2)).await?;
//! println!("established {:?} after the wait began", joined.elapsed);
//! sock.wait_for_info("everything acknowledged", Duration::from_secs(1), |i| i.unacked == 0)
//!     .await?;
//! wait_for_states(&[sock], TcpState::Established, Duration::from_secs(1)).await?;
//! # Ok(()) }
//! ```
//!
//! [`Host::wait_for_state`]: crate::Host::wait_for_state

use std::time::Duration;

use super::{Observed, TcpInfo, TcpState, wait_until};
use crate::{error::Result, network::Sock};

impl Sock {
    /// Waits until its state (TCP_INFO) is `state`, for at most `within`; polls every
    /// [`super::DEFAULT_INTERVAL`].
    pub async fn wait_for_state(
        &self,
        state: TcpState,
        within: Duration,
    ) -> Result<Observed<TcpState>> {
        let seen = wait_for_states(std::slice::from_ref(self), state, within).await?;
        Ok(Observed {
            value: state,
            at: seen.at,
            elapsed: seen.elapsed,
            window: seen.window,
            already: seen.already,
            polls: seen.polls,
        })
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
