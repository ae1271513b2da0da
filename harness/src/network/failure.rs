//! What the owner of a connection the kernel has failed (reset, timed out) sees, in one call:
//! the connection's error on the next read, once; then end of file on every read, and EPIPE on a
//! write.
//!
//! ```no_run
//! # async fn demo(conn: netcase::network::Connection) -> netcase::Result<()> {
//! use netcase::network::Close;
//! use nix::errno::Errno;
//! conn.client.close(Close::Abort).await?;
//! let failure = conn.server.read_failure().await?;
//! failure.assert_reported_once(Errno::ECONNRESET);
//! println!("the reset was read at {:?}", failure.at);
//! # Ok(()) }
//! ```

use std::{io, time::SystemTime};

use nix::errno::Errno;

use super::socket::{Call, Sock, blocking, errno};
use crate::error::Result;

/// The calls of [`Sock::read_failure`] and what each returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The first read(), which blocks until the kernel has something to report: the
    /// connection's error, or data, or end of file.
    pub first: Call<Vec<u8>>,
    /// When the first read returned, by the wall clock (the one capture timestamps use), read on
    /// the reading thread as it returned: no wake-up of an awaiting task in it.
    pub at: SystemTime,
    /// The read() after it.
    pub second: Call<Vec<u8>>,
    /// A write() of one octet after both.
    pub write: Call<usize>,
}

impl Sock {
    /// read() (blocking until the kernel reports something: see [`Sock::set_timeout`] to bound
    /// it), then read() again and write() one octet; what each returned, and when the first did.
    pub async fn read_failure(&self) -> Result<Failure> {
        let sock = self.clone();
        blocking(
            "read(), read() and write() on a failed connection",
            move || {
                let mut socket = sock.socket();
                let mut buf = [0u8; 64];
                let mut read = || {
                    io::Read::read(&mut socket, &mut buf)
                        .map(|n| buf[..n].to_vec())
                        .map_err(|e| errno(&e))
                };
                let first = read();
                let at = SystemTime::now();
                let second = read();
                let write = io::Write::write(&mut socket, b"!").map_err(|e| errno(&e));
                Failure {
                    first,
                    at,
                    second,
                    write,
                }
            },
        )
        .await
    }
}

impl Failure {
    /// Whether the calls went as on a connection the kernel failed with `error`: the first read
    /// failed with it (the error is reported once), the second read end of file, and the write
    /// failed with EPIPE.
    pub fn reported_once(&self, error: Errno) -> bool {
        self.first == Err(error) && self.second == Ok(vec![]) && self.write == Err(Errno::EPIPE)
    }

    /// Panics unless [`Failure::reported_once`] holds, with the three results and what each
    /// should have been.
    #[track_caller]
    pub fn assert_reported_once(&self, error: Errno) {
        assert!(
            self.reported_once(error),
            "a connection failed with {error}: the first read() should fail with it ({:?}), the \
             next read() return end of file ({:?}) and a write() fail with EPIPE ({:?})",
            self.first,
            self.second,
            self.write
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(first: Call<Vec<u8>>, second: Call<Vec<u8>>, write: Call<usize>) -> Failure {
        Failure {
            first,
            at: SystemTime::UNIX_EPOCH,
            second,
            write,
        }
    }

    #[test]
    fn the_error_once_then_end_of_file_then_epipe() {
        let reset = failure(Err(Errno::ECONNRESET), Ok(vec![]), Err(Errno::EPIPE));
        assert!(reset.reported_once(Errno::ECONNRESET));
        assert!(!reset.reported_once(Errno::ETIMEDOUT));
        reset.assert_reported_once(Errno::ECONNRESET);
        let data = failure(Ok(b"late".to_vec()), Ok(vec![]), Err(Errno::EPIPE));
        assert!(!data.reported_once(Errno::ECONNRESET));
        let twice = failure(Err(Errno::ECONNRESET), Err(Errno::ECONNRESET), Ok(1));
        assert!(!twice.reported_once(Errno::ECONNRESET));
    }

    #[test]
    #[should_panic(expected = "the first read() should fail with it (Ok([]))")]
    fn a_clean_close_is_no_failure() {
        failure(Ok(vec![]), Ok(vec![]), Err(Errno::EPIPE)).assert_reported_once(Errno::ECONNRESET);
    }
}
