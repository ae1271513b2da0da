//! bind() as a call of its own: a socket bound to an address the test chose, or the errno bind()
//! failed with (EADDRINUSE, EADDRNOTAVAIL), then connect() from it. [`Host::connect_with`] with
//! [`Options::bind`] treats a failing bind() as a harness error; a test of bind() itself wants
//! its errno.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use netcase::{Family, network::Options};
//! use nix::errno::Errno;
//! let client = net.host("client")?;
//! let local = net.socket_addr("client", Family::V4, 41000)?;
//! let to = net.socket_addr("server", Family::V4, 7100)?;
//! match client.bind(local, Options::new().reuse_address()).await? {
//!     Ok(sock) => assert_eq!(sock.connect(to).await?, Ok(())),
//!     Err(errno) => assert_eq!(errno, Errno::EADDRINUSE),
//! }
//! # Ok(()) }
//! ```

use std::net::SocketAddr;

use super::{Call, Options, Sock, blocking, call, socket_for};
use crate::{
    error::{Error, Result},
    network::Host,
};

impl Host {
    /// A socket with `options` (their own `bind` ignored) bound to `local`: the socket, not yet
    /// connected, or the errno bind() failed with.
    pub async fn bind(&self, local: SocketAddr, options: Options) -> Result<Call<Sock>> {
        let host = self.name().to_owned();
        let options = Options {
            bind: None,
            ..options
        };
        let made = self
            .run(move || -> std::io::Result<Call<socket2::Socket>> {
                let socket = socket_for(local)?;
                options.apply(&socket)?;
                Ok(call(socket.bind(&local.into())).map(|()| socket))
            })
            .await?
            .map_err(|e| Error::io(format!("a socket to bind to {local} on host {host}"), e))?;
        Ok(made.map(|s| Sock::new(s, &host)))
    }
}

impl Sock {
    /// A blocking connect() to `to` from this socket (bound or not): `Ok(())` once connected, or
    /// the errno.
    pub async fn connect(&self, to: SocketAddr) -> Result<Call<()>> {
        let socket = self.shared();
        blocking("connect()", move || call(socket.connect(&to.into()))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_keep_everything_but_their_bind() {
        let local: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let options = Options::new().reuse_address().bind(local);
        let kept = Options {
            bind: None,
            ..options
        };
        assert!(kept.reuse_address);
        assert_eq!(kept.bind, None);
    }
}
