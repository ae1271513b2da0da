//! The orderly close from one end first: the end whose FIN goes first is the one that holds
//! TIME_WAIT ([`crate::observe::TCP_TIMEWAIT_LEN`]), the other end keeps nothing once its own FIN
//! is acknowledged.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use netcase::{Family, observe::{Filter, TcpState}};
//! let server = net.host("server")?.serve(net.socket_addr("server", Family::V4, 7100)?).await?;
//! let client = net.host("client")?;
//! let conn = client.connect(server.addr()).await?.expect("connect()");
//! let closed = conn.close_first().await?; // our FIN, the server's FIN, our last ACK
//! let held = client.sockets_matching(Filter::all().state(TcpState::TimeWait)).await?;
//! assert_eq!(held.len(), 1, "{held}");
//! # Ok(()) }
//! ```

use std::{
    io,
    net::{Shutdown, SocketAddr},
    time::{Duration, Instant},
};

use crate::{
    error::{Error, Result},
    network::socket::{Sock, describe},
};

/// How long [`Sock::close_first`] waits for the peer's FIN, at most: a peer that has not closed
/// by then is not going to (a peer on these links answers in milliseconds).
pub const PEER_FIN_WITHIN: Duration = Duration::from_secs(5);

/// What [`Sock::close_first`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedFirst {
    /// The socket's local address (its port is the one the TIME_WAIT socket holds).
    pub local: SocketAddr,
    /// The moment before shutdown(): this end's FIN left after it, and the connection entered
    /// TIME_WAIT later still, as the peer's FIN arrived. A time measured from it never falls
    /// short of one measured from the entry into TIME_WAIT (the moment the reader wakes up to
    /// the peer's FIN can come a hundred milliseconds late on a loaded machine).
    pub began: Instant,
    /// What the peer still sent before its FIN, read and discarded, in octets.
    pub received: usize,
}

impl Sock {
    /// Closes the connection from this end first, the orderly way: shutdown(SHUT_WR) sends this
    /// end's FIN, then read() takes what the peer still sends, until its FIN (end of file), for
    /// at most [`PEER_FIN_WITHIN`].
    ///
    /// The connection then lives on as this host's TIME_WAIT socket (`tcp_time_wait`), and this
    /// socket is left in CLOSE: dropping it sends nothing, and the numbers it ended with can
    /// still be read ([`Sock::sequence_numbers`]). Should the peer's FIN overtake its ACK of
    /// ours, the connection waits in CLOSING for that ACK first.
    pub async fn close_first(&self) -> Result<ClosedFirst> {
        let local = self.local()?;
        let failed = |call: &str, errno| {
            Error::io(
                format!("{call} on {self:?}, closing it first: {}", describe(errno)),
                io::Error::from_raw_os_error(errno as i32),
            )
        };
        self.socket()
            .set_read_timeout(Some(PEER_FIN_WITHIN))
            .map_err(|e| Error::io(format!("SO_RCVTIMEO on {self:?}"), e))?;
        let began = Instant::now();
        self.shutdown(Shutdown::Write)
            .await?
            .map_err(|e| failed("shutdown(SHUT_WR)", e))?;
        let (data, ended) = self.read_to_end().await?;
        ended.map_err(|e| {
            failed(
                &format!("read() for the peer's FIN (at most {PEER_FIN_WITHIN:?})"),
                e,
            )
        })?;
        Ok(ClosedFirst {
            local,
            began,
            received: data.len(),
        })
    }
}
