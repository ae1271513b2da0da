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

use super::{Counts, Dropped, Impairment, Packets};
use crate::{
    error::Result,
    observe::{Observed, wait_until},
    packets::decode::{Packet, decode},
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

    /// Waits until at least `n` of the packets it dropped are ones `packets` picks, for at most
    /// `within` (polling its record of its last 32 drops); those drops then.
    ///
    /// A socket's retransmission count rises when the segment is sent, before it crosses the
    /// link: a case that lifts an impairment once a retransmission is *dropped* waits here, not
    /// on the socket, or the segment may still be on its way when the path clears.
    pub async fn wait_for_dropped_of(
        &self,
        packets: Packets,
        n: usize,
        within: Duration,
    ) -> Result<Observed<Vec<Dropped>>> {
        let what = format!(
            "{n} of {packets} dropped on their way to {} over {}",
            self.host, self.link
        );
        let picked = |drops: Vec<Dropped>| {
            let picks = |d: &Dropped| match decode(std::slice::from_ref(&d.frame), &|_| None, d.at)
                .first()
            {
                Some(Packet::Tcp(segment)) => packets.picks(segment),
                _ => false,
            };
            drops.into_iter().filter(picks).collect::<Vec<_>>()
        };
        wait_until(
            &what,
            within,
            || async { self.drops().map(picked) },
            |drops| drops.len() >= n,
        )
        .await
    }
}
