//! A time limit on a socket's blocking calls, so that a read the kernel never answers fails the
//! test with EAGAIN at once instead of hanging it until the case's own limit.
//!
//! ```no_run
//! # async fn demo(conn: netcase::network::Connection) -> netcase::Result<()> {
//! use std::time::Duration;
//! use nix::errno::Errno;
//! conn.server.set_timeout(Duration::from_secs(5))?;
//! // A reset that never came reads as EAGAIN after 5 s, not as a hang.
//! assert_eq!(conn.server.read(16).await?, Err(Errno::ECONNRESET));
//! # Ok(()) }
//! ```

use std::time::Duration;

use super::Sock;
use crate::error::{Error, Result};

impl Sock {
    /// Limits every blocking read and write on it to `within` (`SO_RCVTIMEO`, `SO_SNDTIMEO`):
    /// past it the call fails with EAGAIN. Zero is refused (the kernel reads it as no limit).
    pub fn set_timeout(&self, within: Duration) -> Result<()> {
        let what = format!("SO_RCVTIMEO and SO_SNDTIMEO of {within:?} on {self:?}");
        if within.is_zero() {
            return Err(Error::io(
                what,
                std::io::Error::other("a zero timeout means none: give a limit"),
            ));
        }
        self.socket()
            .set_read_timeout(Some(within))
            .and_then(|()| self.socket().set_write_timeout(Some(within)))
            .map_err(|e| Error::io(what, e))
    }
}
