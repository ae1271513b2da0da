//! A socket's sequence numbers, read in repair mode (`TCP_REPAIR`, which needs CAP_NET_ADMIN
//! and sends nothing): what a test needs to craft a segment inside or outside a connection's
//! window ([`crate::packets::inject`]).
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use netcase::Family;
//! let conn = net.connect("client", "server", Family::V4, 7100).await?;
//! let seqs = conn.client.sequence_numbers()?;
//! // The server's end expects what the client sends next, and the other way round.
//! assert_eq!(conn.server.sequence_numbers()?.rcv_nxt, seqs.snd_nxt);
//! # Ok(()) }
//! ```

use std::io;

use crate::{
    error::{Error, Result},
    network::socket::{Sock, set_int},
};

/// `TCP_RECV_QUEUE` of linux/tcp.h (the libc crate lacks it): the queue whose sequence number
/// `TCP_QUEUE_SEQ` reads is the receive queue.
const TCP_RECV_QUEUE: libc::c_int = 1;
/// `TCP_SEND_QUEUE` of linux/tcp.h: the send queue.
const TCP_SEND_QUEUE: libc::c_int = 2;
/// `TCP_REPAIR_OFF_NO_WP` of linux/tcp.h: leave repair mode without sending a window probe.
const TCP_REPAIR_OFF_NO_WP: libc::c_int = -1;

/// A socket's sequence numbers, absolute (as on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceNumbers {
    /// The next sequence number it sends (`write_seq`: past everything written, and past its FIN
    /// once that is queued).
    pub snd_nxt: u32,
    /// The next sequence number it expects from the peer (`rcv_nxt`: past the peer's FIN once
    /// that arrived).
    pub rcv_nxt: u32,
}

impl Sock {
    /// Its sequence numbers, read in repair mode, which it leaves again without a window probe.
    ///
    /// A socket whose connection has gone on as a TIME_WAIT socket (after
    /// [`Sock::close_first`]) keeps the numbers `tcp_time_wait` copied: `snd_nxt` is the TIME_WAIT
    /// socket's `tw_snd_nxt`, `rcv_nxt` its `tw_rcv_nxt`, the one sequence number it accepts.
    ///
    /// Leaving repair mode clears the socket's SO_REUSEADDR (`do_tcp_setsockopt` sets
    /// `sk_reuse = SK_NO_REUSE`): a TIME_WAIT socket it leaves later does not carry the flag,
    /// and a bind() that relies on both sockets having it fails with EADDRINUSE.
    pub fn sequence_numbers(&self) -> Result<SequenceNumbers> {
        let failed = |e| Error::io(format!("reading the sequence numbers of {self:?}"), e);
        set_int(self, libc::IPPROTO_TCP, libc::TCP_REPAIR, 1).map_err(failed)?;
        let read = self
            .queue_seq(TCP_SEND_QUEUE)
            .and_then(|snd_nxt| {
                Ok(SequenceNumbers {
                    snd_nxt,
                    rcv_nxt: self.queue_seq(TCP_RECV_QUEUE)?,
                })
            })
            .map_err(failed);
        set_int(
            self,
            libc::IPPROTO_TCP,
            libc::TCP_REPAIR,
            TCP_REPAIR_OFF_NO_WP,
        )
        .map_err(failed)?;
        read
    }

    /// `TCP_QUEUE_SEQ` of `queue`, in repair mode.
    fn queue_seq(&self, queue: libc::c_int) -> io::Result<u32> {
        set_int(self, libc::IPPROTO_TCP, libc::TCP_REPAIR_QUEUE, queue)?;
        let mut seq: u32 = 0;
        let mut len = size_of::<u32>() as libc::socklen_t;
        // SAFETY: the descriptor is open while `self` is borrowed; `seq` and `len` are valid for
        // writes of the sizes given.
        let rc = unsafe {
            libc::getsockopt(
                std::os::fd::AsRawFd::as_raw_fd(self.socket()),
                libc::IPPROTO_TCP,
                libc::TCP_QUEUE_SEQ,
                (&raw mut seq).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            Ok(seq)
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
