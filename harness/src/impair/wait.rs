//! Waiting until an impairment has done its work: it counts every packet it drops (an eBPF map
//! read from user space), so a case can wait for the drops it expects instead of sleeping.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use std::time::Duration;
//! use netcase::impair::{Packets, Which};
//! let to_client = net.impair("server", "client").await?;
//! to_client.drop(Packets::syn_ack(), Which::All)?;
//! // ... six clients connect ...
//! let counts = to_client.wait_for_dropped(6, Duration::from_secs(2)).await?;
//! assert_eq!(counts.value.dropped, 6, "{:?}", counts.value);
//! # Ok(()) }
//! ```

use std::time::Duration;

use super::{Counts, Impairment};
use crate::{
    error::Result,
    observe::{Observed, wait_until},
};

impl Impairment {
    /// Waits until it has dropped at least `n` packets, for at most `within` (polling its
    /// counts); its counts then, which may show more.
    pub async fn wait_for_dropped(&self, n: u64, within: Duration) -> Result<Observed<Counts>> {
        wait_until(
            &format!(
                "{n} packet(s) dropped on their way to {} over {}",
                self.host, self.link
            ),
            within,
            || async { self.counts() },
            |c| c.dropped >= n,
        )
        .await
    }
}
