//! Several connects in one go: non-blocking connect()s started back to back on one thread inside
//! the host, so that their SYNs leave within microseconds of each other, as a burst of clients
//! would send them. Started one call at a time, each would wait for a thread of its own to enter
//! the host's namespace: milliseconds apart, a hundred on a loaded machine.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use netcase::{Family, network::Options};
//! let to = net.socket_addr("server", Family::V4, 7000)?;
//! let waiting = net.host("client")?.start_connects(&[to; 4], Options::new()).await?;
//! assert!(waiting.iter().all(|c| c.is_ok()), "{waiting:?}");
//! # Ok(()) }
//! ```

use std::{io, net::SocketAddr};

use socket2::Socket;

use super::{Call, Options, Sock, call, socket_for};
use crate::{
    error::{Error, Result},
    network::Host,
};

impl Host {
    /// Non-blocking connect()s to each of `to`, in order, from sockets with `options`, all
    /// started in one go (see the module): for each, the socket with its SYN on the way
    /// (EINPROGRESS), or the errno connect() failed with at once.
    pub async fn start_connects(
        &self,
        to: &[SocketAddr],
        options: Options,
    ) -> Result<Vec<Call<Sock>>> {
        let (host, to) = (self.name().to_owned(), to.to_vec());
        let made = self
            .run(move || -> io::Result<Vec<io::Result<Socket>>> {
                let mut made = Vec::with_capacity(to.len());
                for addr in to {
                    let socket = socket_for(addr)?;
                    options.apply(&socket)?;
                    socket.set_nonblocking(true)?;
                    made.push(match socket.connect(&addr.into()) {
                        Err(e) if e.raw_os_error() != Some(libc::EINPROGRESS) => Err(e),
                        _ => Ok(socket),
                    });
                }
                Ok(made)
            })
            .await?
            .map_err(|e| Error::io(format!("sockets to connect from on host {host}"), e))?;
        Ok(made
            .into_iter()
            .map(|m| call(m).map(|s| Sock::new(s, &host)))
            .collect())
    }
}
