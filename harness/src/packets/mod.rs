//! Packets: every frame a link end sees, captured by an AF_PACKET ring inside its host, written
//! to classic pcap and decoded into plain segments that expectations and reports work on.

mod acked;
pub mod capture;
pub mod decode;
pub mod inject;
pub mod pcap;
pub(crate) mod ring;
mod sent;
