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

use socket2::Socket;

use crate::{
    error::{Error, Result},
    network::socket::{Sock, blocking, describe, errno},
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
        let socket = self.shared();
        let what = format!("{self:?}");
        blocking("closing a socket first", move || {
            close_first_now(&socket, &what)
        })
        .await?
    }
}

/// [`Sock::close_first`] on this thread: one blocking call for the whole close, so that a loop
/// of closes ([`crate::Host::use_up_ports`]) runs on one thread, without a thread per call
/// (each a wake-up that can come tens of milliseconds late on a loaded machine). `what` names
/// the socket for the errors.
pub(crate) fn close_first_now(socket: &Socket, what: &str) -> Result<ClosedFirst> {
    let failed = |call: &str, e: io::Error| {
        let message = format!(
            "{call} on {what}, closing it first: {}",
            describe(errno(&e))
        );
        Error::io(message, e)
    };
    let local = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or_else(|| failed("getsockname()", io::Error::from_raw_os_error(libc::EINVAL)))?;
    socket
        .set_read_timeout(Some(PEER_FIN_WITHIN))
        .map_err(|e| failed("SO_RCVTIMEO", e))?;
    let began = Instant::now();
    socket
        .shutdown(Shutdown::Write)
        .map_err(|e| failed("shutdown(SHUT_WR)", e))?;
    let (mut received, mut buf) = (0, [0u8; 4096]);
    loop {
        match io::Read::read(&mut &*socket, &mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let call = format!("read() for the peer's FIN (at most {PEER_FIN_WITHIN:?})");
                return Err(failed(&call, e));
            }
        }
    }
    Ok(ClosedFirst {
        local,
        began,
        received,
    })
}
