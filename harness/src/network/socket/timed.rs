//! A connect() timed by the wall clock, the clock the captures' timestamps use: when the call was
//! made and when it returned, so that a case can set how long the kernel took to refuse or to
//! give up against the segments it captured meanwhile.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use netcase::{Family, network::{Options, socket::Timed}};
//! use nix::errno::Errno;
//! let to = net.socket_addr("server", Family::V4, 7300)?;
//! // Started at once: the test can watch the SYN_SENT socket while connect() blocks.
//! let attempt = net.host("client")?.connect_timed(to, Options::new().syncnt(1));
//! // ... watch ...
//! let connected: Timed<_> = attempt.await?;
//! assert_eq!(connected.errno(), Some(Errno::ETIMEDOUT));
//! println!("connect() blocked for {:?}", connected.took());
//! # Ok(()) }
//! ```

use std::{
    future::Future,
    io,
    net::SocketAddr,
    time::{Duration, SystemTime},
};

use nix::errno::Errno;
use socket2::Socket;

use super::{Call, Options, Sock, call, socket_for};
use crate::{
    error::{Error, Result},
    network::Host,
};

/// What a call returned, and when it was called and returned, by the wall clock.
#[derive(Debug)]
pub struct Timed<T> {
    /// What it returned.
    pub result: T,
    /// When it was called: read just before the system call, on the calling thread.
    pub called: SystemTime,
    /// When it returned: read just after, on the same thread.
    pub returned: SystemTime,
}

impl<T> Timed<T> {
    /// How long the call blocked (zero if the wall clock stepped back meanwhile).
    pub fn took(&self) -> Duration {
        self.returned
            .duration_since(self.called)
            .unwrap_or_default()
    }
}

impl<T> Timed<Call<T>> {
    /// The errno the call failed with, or `None` when it succeeded.
    pub fn errno(&self) -> Option<Errno> {
        self.result.as_ref().err().copied()
    }
}

impl Host {
    /// A blocking connect() to `to` from a socket with `options`, timed: the connected socket or
    /// the errno, with when connect() was called and when it returned.
    ///
    /// The call starts at once, on a thread inside the host, before the future is awaited: the
    /// test can watch the attempt (its SYN_SENT socket, its segments) while connect() blocks,
    /// then await what it returned.
    pub fn connect_timed(
        &self,
        to: SocketAddr,
        options: Options,
    ) -> impl Future<Output = Result<Timed<Call<Sock>>>> + Send + 'static {
        let host = self.name().to_owned();
        let attempt = self.run(move || -> io::Result<Timed<io::Result<Socket>>> {
            let socket = socket_for(to)?;
            options.apply(&socket)?;
            let called = SystemTime::now();
            let result = socket.connect(&to.into()).map(|()| socket);
            let returned = SystemTime::now();
            Ok(Timed {
                result,
                called,
                returned,
            })
        });
        async move {
            let timed = attempt
                .await?
                .map_err(|e| Error::io(format!("a socket to connect to {to} on host {host}"), e))?;
            Ok(Timed {
                result: call(timed.result).map(|s| Sock::new(s, &host)),
                called: timed.called,
                returned: timed.returned,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn took_is_returned_minus_called_and_never_negative() {
        let called = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        let timed = Timed {
            result: (),
            called,
            returned: called + Duration::from_millis(1500),
        };
        assert_eq!(timed.took(), Duration::from_millis(1500));
        let stepped_back = Timed {
            result: (),
            called,
            returned: called - Duration::from_secs(1),
        };
        assert_eq!(stepped_back.took(), Duration::ZERO);
    }
}
