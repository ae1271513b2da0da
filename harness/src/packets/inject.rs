//! Crafted TCP segments, sent from a host as they are: a stray ACK, a reset, a segment outside
//! any window, with no socket of the sending host behind it.
//!
//! A [`RawSegment`] is the meaning (addresses, sequence numbers, flags); [`RawSegment::bytes`] is
//! its TCP header and payload with the checksum of the family's pseudo-header; [`Host::inject`]
//! sends those bytes from a raw socket inside the host, so the kernel adds only the IP header:
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use netcase::{Family, packets::inject::RawSegment};
//! let (server, client) = (
//!     net.socket_addr("server", Family::V4, 7100)?,
//!     net.socket_addr("client", Family::V4, 43000)?,
//! );
//! // An ACK the client's socket did not expect: its sequence number far behind the window.
//! let stray = RawSegment::pure_ack(server, client, 1_000, 2_000);
//! let sent_at = net.host("server")?.inject(&stray).await?;
//! # Ok(()) }
//! ```
//!
//! The sending host's own TCP never sees the segment, so a reply to it (a duplicate ACK, a reset)
//! finds no socket there: the host answers it as any segment to a closed port, with a reset.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    time::Instant,
};

use socket2::{Domain, Protocol, Socket, Type};

use crate::{
    Host,
    error::{Error, Result},
    packets::decode::Flags,
};

/// IP's protocol number for TCP, in the pseudo-header.
const IPPROTO_TCP: u8 = 6;

/// The length of a TCP header without options, in octets.
const HEADER_LEN: usize = 20;

/// A TCP segment to send as it is: a header without options, and a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSegment {
    /// The source address and port (an address of the host that sends it).
    pub from: SocketAddr,
    /// The destination address and port.
    pub to: SocketAddr,
    /// The sequence number.
    pub seq: u32,
    /// The acknowledgement number (sent whether or not [`Flags::ACK`] is set).
    pub ack: u32,
    /// The flags.
    pub flags: Flags,
    /// The window, in octets (unscaled: the header's 16 bits).
    pub window: u16,
    /// The payload, in octets.
    pub payload: Vec<u8>,
}

impl RawSegment {
    /// A pure ACK from `from` to `to`: `seq` and `ack`, no payload, a window of 1024 octets.
    pub fn pure_ack(from: SocketAddr, to: SocketAddr, seq: u32, ack: u32) -> RawSegment {
        RawSegment {
            from,
            to,
            seq,
            ack,
            flags: Flags::ACK,
            window: 1024,
            payload: Vec::new(),
        }
    }

    /// The segment with these flags instead.
    pub fn with_flags(mut self, flags: Flags) -> RawSegment {
        self.flags = flags;
        self
    }

    /// The TCP header (20 octets: no options) and the payload, with the checksum of the
    /// family's pseudo-header ([`tcp_checksum`]).
    pub fn bytes(&self) -> Vec<u8> {
        let mut segment = vec![0u8; HEADER_LEN];
        segment[0..2].copy_from_slice(&self.from.port().to_be_bytes());
        segment[2..4].copy_from_slice(&self.to.port().to_be_bytes());
        segment[4..8].copy_from_slice(&self.seq.to_be_bytes());
        segment[8..12].copy_from_slice(&self.ack.to_be_bytes());
        segment[12] = ((HEADER_LEN / 4) as u8) << 4; // data offset, in 32-bit words
        segment[13] = self.flags.bits();
        segment[14..16].copy_from_slice(&self.window.to_be_bytes());
        segment.extend_from_slice(&self.payload);
        let sum = tcp_checksum(self.from.ip(), self.to.ip(), &segment);
        segment[16..18].copy_from_slice(&sum.to_be_bytes());
        segment
    }
}

/// The TCP checksum of `segment` (header and payload, its checksum field zero) from `from` to
/// `to`: the ones' complement of the ones' complement sum of the pseudo-header and the segment,
/// in 16-bit words. IPv4's pseudo-header is source, destination, a zero octet, the protocol and
/// the TCP length in 16 bits (RFC 9293, 3.1); IPv6's is source, destination, the length in 32
/// bits, three zero octets and the next header (RFC 8200, 8.1).
///
/// # Panics
///
/// If `from` and `to` are of different families, or an IPv4 segment is 64 KiB or longer.
pub fn tcp_checksum(from: IpAddr, to: IpAddr, segment: &[u8]) -> u16 {
    let len = u32::try_from(segment.len()).expect("a segment under 4 GiB");
    let mut pseudo = Vec::with_capacity(40);
    match (from, to) {
        (IpAddr::V4(from), IpAddr::V4(to)) => {
            pseudo.extend_from_slice(&from.octets());
            pseudo.extend_from_slice(&to.octets());
            pseudo.extend_from_slice(&[0, IPPROTO_TCP]);
            let len = u16::try_from(len).expect("an IPv4 segment under 64 KiB");
            pseudo.extend_from_slice(&len.to_be_bytes());
        }
        (IpAddr::V6(from), IpAddr::V6(to)) => {
            pseudo.extend_from_slice(&from.octets());
            pseudo.extend_from_slice(&to.octets());
            pseudo.extend_from_slice(&len.to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, IPPROTO_TCP]);
        }
        _ => panic!("{from} and {to} are of different families"),
    }
    let mut sum: u32 = pseudo
        .chunks(2)
        .chain(segment.chunks(2))
        .map(|w| u32::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).expect("folded to 16 bits")
}

impl Host {
    /// Sends `segment` from a raw socket of this host, bound to its source address (so that the
    /// kernel picks no other source than the checksum covers); returns the moment it was handed
    /// to the kernel. The host's own TCP never sees it.
    pub async fn inject(&self, segment: &RawSegment) -> Result<Instant> {
        let (from, to, bytes) = (segment.from, segment.to, segment.bytes());
        let what = format!(
            "sending a crafted {} segment {from} -> {to} from host {}",
            segment.flags,
            self.name()
        );
        self.run(move || -> io::Result<Instant> {
            let socket = Socket::new(Domain::for_address(from), Type::RAW, Some(Protocol::TCP))?;
            // A raw socket's port is 0 (IPv6 reads it as the protocol).
            socket.bind(&SocketAddr::new(from.ip(), 0).into())?;
            let at = Instant::now();
            let n = socket.send_to(&bytes, &SocketAddr::new(to.ip(), 0).into())?;
            if n == bytes.len() {
                Ok(at)
            } else {
                Err(io::Error::other(format!(
                    "a short send: {n} of {} octets",
                    bytes.len()
                )))
            }
        })
        .await?
        .map_err(|e| Error::io(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{TcpHeader, TcpHeaderSlice};

    fn parsed(segment: &RawSegment) -> TcpHeader {
        TcpHeaderSlice::from_slice(&segment.bytes())
            .expect("a TCP header")
            .to_header()
    }

    #[test]
    fn a_pure_ack_is_a_bare_header() {
        let from: SocketAddr = "198.18.0.2:7100".parse().unwrap();
        let to: SocketAddr = "198.18.0.1:43000".parse().unwrap();
        let ack = RawSegment::pure_ack(from, to, 0xfffe_7962, 7);
        let h = parsed(&ack);
        assert_eq!(ack.bytes().len(), 20);
        assert_eq!((h.source_port, h.destination_port), (7100, 43000));
        assert_eq!(
            (h.sequence_number, h.acknowledgment_number),
            (0xfffe_7962, 7)
        );
        assert!(h.ack && !h.syn && !h.fin && !h.rst && !h.psh);
        assert_eq!((h.data_offset(), h.window_size), (5, 1024));
        let reset = parsed(&ack.with_flags(Flags::RST));
        assert!(reset.rst && !reset.ack);
    }

    #[test]
    fn checksums_agree_with_etherparse() {
        let v4 = (
            "198.18.0.2:7100".parse::<SocketAddr>().unwrap(),
            "198.18.0.1:43000".parse::<SocketAddr>().unwrap(),
        );
        let v6 = (
            "[2001:db8::2]:7100".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:43000".parse::<SocketAddr>().unwrap(),
        );
        for payload in [&b""[..], b"odd", b"even"] {
            for (from, to) in [v4, v6] {
                let mut s = RawSegment::pure_ack(from, to, 12345, 678);
                s.payload = payload.to_vec();
                let h = parsed(&s);
                let want = match (from.ip(), to.ip()) {
                    (IpAddr::V4(a), IpAddr::V4(b)) => {
                        h.calc_checksum_ipv4_raw(a.octets(), b.octets(), payload)
                    }
                    (IpAddr::V6(a), IpAddr::V6(b)) => {
                        h.calc_checksum_ipv6_raw(a.octets(), b.octets(), payload)
                    }
                    _ => unreachable!(),
                }
                .expect("a checksum");
                assert_eq!(h.checksum, want, "{from} -> {to} with {payload:?}");
            }
        }
    }
}
