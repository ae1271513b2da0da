//! The segments a captured host sent that a rule picks: a SYN's retransmissions, a keepalive's
//! probes, a byte sent again. The same [`Packets`] rules that tell an impairment what to drop
//! say what to pick from a capture.
//!
//! ```no_run
//! # use netcase::{Result, Topology, capture::Recorded};
//! # fn demo(net: &Topology, recorded: &Recorded) -> Result<()> {
//! use netcase::{capture::Zero, decode::Flags, impair::Packets};
//! let syns = recorded.on("client")?.sent(net, Zero::FirstSyn, Packets::with(Flags::SYN));
//! let last = syns.last().map_or(0.0, |s| s.at_secs());
//! println!("{} SYNs, the last {last} s after the first", syns.len());
//! # Ok(()) }
//! ```

use super::{
    capture::{Captured, Zero},
    decode::{Segment, segments},
};
use crate::{impair::Packets, network::Topology};

impl Captured {
    /// The TCP segments this capture's host sent that `packets` picks, in the order captured,
    /// with host names from `net` and times from `zero`.
    pub fn sent(&self, net: &Topology, zero: Zero, packets: Packets) -> Vec<Segment> {
        segments(&self.packets(net, zero))
            .filter(|s| s.from == self.host && packets.picks(s))
            .cloned()
            .collect()
    }
}
