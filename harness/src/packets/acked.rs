//! When a capture saw a sequence number acknowledged: the time the kernel of the capturing host
//! learnt that its data (or its FIN, which takes one sequence number) arrived, to date a call
//! that waits for it (close() with SO_LINGER, a send that waits for room).
//!
//! ```no_run
//! # use netcase::{Result, Topology, capture::Recorded};
//! # fn demo(net: &Topology, recorded: &Recorded, returned: std::time::SystemTime) -> Result<()> {
//! use netcase::capture::Zero;
//! // The server's first ACK of relative sequence 1002 (1000 octets and the FIN), as the client
//! // saw it: negative if it came before close() returned.
//! let fin_acked = recorded.on("client")?.acked_at(net, Zero::At(returned), "server", 1002);
//! println!("{:?} ns", fin_acked);
//! # Ok(()) }
//! ```

use super::{
    capture::{Captured, Zero},
    decode::{Flags, segments},
};
use crate::network::Topology;

impl Captured {
    /// When this capture first saw a segment from host `from` with ACK set acknowledging
    /// relative sequence number `rel_ack` or beyond, in nanoseconds after `zero` (negative:
    /// before it); `None` if it saw none.
    pub fn acked_at(&self, net: &Topology, zero: Zero, from: &str, rel_ack: u32) -> Option<i64> {
        segments(&self.packets(net, zero))
            .find(|s| s.from == from && s.flags.contains(Flags::ACK) && s.rel_ack >= rel_ack)
            .map(|s| s.at_ns)
    }
}
