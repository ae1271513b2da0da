//! Data held unsent: a connection whose receiving end never reads and has a small receive buffer
//! (SO_RCVBUF), so that its window shuts and what the writer wrote beyond it stays in the
//! writer's send queue, never sent. The deterministic way to have unsent data at a close() or a
//! shutdown(): no drop, no timer, only the peer's window.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use std::time::Duration;
//! use netcase::{Family, network::Options};
//! let (small, roomy) = (Options::new().buffers(16384, 16384), Options::new().buffers(1 << 18, 1 << 18));
//! let conn = net.connect_both("client", "server", Family::V4, 7400, roomy, small).await?;
//! let stalled = conn.client.write_into_shut_window(&conn.server, &[1; 65536], Duration::from_secs(2)).await?;
//! assert_eq!(stalled.held + stalled.unsent, 65536);
//! # Ok(()) }
//! ```

use std::{
    io,
    time::{Duration, Instant, SystemTime},
};

use super::{Connection, Options, Sock};
use crate::{
    Family, Topology,
    error::{Error, Result},
    observe::TcpInfo,
};

/// What [`Sock::write_into_shut_window`] left behind.
#[derive(Debug, Clone)]
pub struct Stalled {
    /// The octets the peer received, and acknowledged, and holds unread (its
    /// `tcpi_bytes_received`).
    pub held: usize,
    /// The octets in the writer's send queue never sent: its `write_seq` less the peer's
    /// `rcv_nxt`, read in repair mode ([`Sock::sequence_numbers`]).
    pub unsent: usize,
    /// The writer's TCP_INFO once the window was shut.
    pub info: TcpInfo,
}

impl Sock {
    /// write() all of `data`, which must fit in this socket's SO_SNDBUF, towards `peer`, this
    /// connection's other end, which must not read; then wait (a poll) until `peer`'s window is
    /// shut (`tcpi_snd_wnd` 0) with everything sent acknowledged (`tcpi_unacked` 0). How much
    /// the peer holds and how much is left unsent.
    pub async fn write_into_shut_window(
        &self,
        peer: &Sock,
        data: &[u8],
        within: Duration,
    ) -> Result<Stalled> {
        let what = format!("write() of {} octets into {self:?}", data.len());
        let failed = |e| Error::io(what.clone(), io::Error::from_raw_os_error(e as i32));
        self.write_all(data).await?.map_err(failed)?;
        let shut = |i: &TcpInfo| i.snd_wnd == Some(0) && i.unacked == 0;
        let what = "the peer's window shut (tcpi_snd_wnd 0), nothing in flight (tcpi_unacked 0)";
        let info = self.wait_for_info(what, within, shut).await?.value;
        let (queued, expected) = (self.sequence_numbers()?, peer.sequence_numbers()?);
        let held = peer.info()?.bytes_received.ok_or_else(|| {
            Error::io(
                format!("tcpi_bytes_received of {peer:?}"),
                io::Error::other("this kernel's TCP_INFO lacks it (Linux 4.1 added it)"),
            )
        })?;
        Ok(Stalled {
            held: usize::try_from(held).unwrap_or(usize::MAX),
            unsent: queued.snd_nxt.wrapping_sub(expected.rcv_nxt) as usize,
            info,
        })
    }
}

impl Topology {
    /// [`Topology::connect`] with `client_options` on the client's socket and `server_options`
    /// on the listener (backlog 128), which the accepted socket inherits (SO_RCVBUF, which sets
    /// the window scale the server offers, must be set before the handshake). Any failure is an
    /// error that says which step.
    pub async fn connect_both(
        &self,
        client: &str,
        server: &str,
        family: Family,
        port: u16,
        client_options: Options,
        server_options: Options,
    ) -> Result<Connection> {
        let to = self.socket_addr(server, family, port)?;
        let listener = self
            .host(server)?
            .listen_with(to, 128, server_options)
            .await?;
        let accepted = listener.accept();
        let connected = self.host(client)?.connect_with(to, client_options);
        let (connected, accepted) = futures::join!(connected, accepted);
        let (established, established_wall) = (Instant::now(), SystemTime::now());
        let failed = |step: &str, e: nix::errno::Errno| {
            let error = io::Error::from_raw_os_error(e as i32);
            Error::io(format!("{step} ({client} to {server} {to})"), error)
        };
        let client_sock = connected?.map_err(|e| failed("connect()", e))?;
        let server_sock = accepted?.map_err(|e| failed("accept()", e))?;
        Ok(Connection {
            client: client_sock,
            server: server_sock,
            listener,
            established,
            established_wall,
        })
    }
}
