//! What a [`Close`] asks of close(), for a test that states how long the call should block.

use std::time::Duration;

use super::Close;

impl Close {
    /// The linger time it sets (`SO_LINGER {1, n}`, which close() may block for), if it sets
    /// one: `None` for [`Close::Now`], which leaves SO_LINGER off, and for [`Close::Abort`],
    /// whose `l_linger` of 0 makes close() reset the connection at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use netcase::network::Close;
    /// let two = Duration::from_secs(2);
    /// assert_eq!(Close::LingerNonblocking(two).linger(), Some(two));
    /// assert_eq!(Close::Now.linger(), None);
    /// assert_eq!(Close::Abort.linger(), None);
    /// ```
    pub fn linger(&self) -> Option<Duration> {
        match self {
            Close::Linger(t) | Close::LingerNonblocking(t) => Some(*t),
            Close::Now | Close::Abort => None,
        }
    }
}
