//! Waiting for an impairment to have done its work: "the RST was dropped", "one probe vanished",
//! one call each, without a fixed sleep.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use std::time::Duration;
//! use netcase::impair::{Packets, Which};
//! let to_server = net.impair("client", "server").await?;
//! to_server.drop(Packets::tcp(), Which::All)?;
//! // ... the client sends ...
//! let seen = to_server.wait_for_drops(1, Duration::from_secs(3)).await?;
//! assert!(seen.value.dropped >= 1);
//! # Ok(()) }
//! ```

use std::time::Duration;

use super::{Counts, Impairment};
use crate::{
    error::Result,
    observe::{Observed, wait_until},
};

impl Impairment {
    /// Waits until the program has dropped at least `count` packets (a count since it was
    /// attached, [`Impairment::counts`]), for at most `within`; the counts then. A timeout error
    /// names the link and shows the last counts read.
    pub async fn wait_for_drops(&self, count: u64, within: Duration) -> Result<Observed<Counts>> {
        wait_until(
            &format!("{count} packet(s) dropped on {}", self.link),
            within,
            || async { self.counts() },
            |c| reached(c, count),
        )
        .await
    }
}

/// Whether `counts` shows at least `count` drops.
fn reached(counts: &Counts, count: u64) -> bool {
    counts.dropped >= count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_counted_at_least() {
        let counts = Counts {
            seen: 5,
            dropped: 2,
            matched: 3,
        };
        assert!(reached(&counts, 2));
        assert!(reached(&counts, 0));
        assert!(!reached(&counts, 3));
    }
}
