//! Captured frames decoded once into plain values: TCP segments with everything an expectation
//! talks about, and every other frame named, so that it can be shown and filtered out.

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::SystemTime,
};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use crate::network::family::Family;

/// One captured frame, as the kernel handed it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// When the kernel saw it, in nanoseconds.
    pub at: SystemTime,
    /// The frame from its Ethernet header on, as captured.
    pub data: Vec<u8>,
    /// Its length on the wire, in octets (more than `data.len()` if the capture cut it short).
    pub wire_len: u32,
}

/// TCP header flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// FIN.
    pub const FIN: Flags = Flags(0x01);
    /// SYN.
    pub const SYN: Flags = Flags(0x02);
    /// RST.
    pub const RST: Flags = Flags(0x04);
    /// PSH.
    pub const PSH: Flags = Flags(0x08);
    /// ACK.
    pub const ACK: Flags = Flags(0x10);
    /// URG.
    pub const URG: Flags = Flags(0x20);
    /// ECE.
    pub const ECE: Flags = Flags(0x40);
    /// CWR.
    pub const CWR: Flags = Flags(0x80);

    /// No flag.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// The flags as the TCP header's flag octet.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Flags from the TCP header's flag octet.
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// tcpdump's letters, in tcpdump's order: `S`, `F`, `P`, `R`, `U`, `E`, `W`, then `.` for ACK.
/// A segment with no flag at all prints `none`.
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        for (flag, letter) in [
            (Flags::SYN, 'S'),
            (Flags::FIN, 'F'),
            (Flags::PSH, 'P'),
            (Flags::RST, 'R'),
            (Flags::URG, 'U'),
            (Flags::ECE, 'E'),
            (Flags::CWR, 'W'),
            (Flags::ACK, '.'),
        ] {
            if self.contains(flag) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// The TCP options netcase reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Maximum segment size, in octets.
    pub mss: Option<u16>,
    /// Window scale, as a shift count.
    pub wscale: Option<u8>,
    /// SACK permitted.
    pub sack_permitted: bool,
    /// SACK blocks, as (left edge, right edge) sequence numbers.
    pub sack: Vec<(u32, u32)>,
    /// Timestamps, as (value, echo reply).
    pub timestamps: Option<(u32, u32)>,
}

/// One TCP segment on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// When it was captured, relative to the timeline's zero (negative before it), in nanoseconds.
    pub at_ns: i64,
    /// The sending host, by name (its address when no host of the topology has it).
    pub from: String,
    /// The receiving host, by name (its address when no host of the topology has it).
    pub to: String,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Header flags.
    pub flags: Flags,
    /// Sequence number, absolute.
    pub seq: u32,
    /// Acknowledgement number, absolute (meaningful with ACK).
    pub ack: u32,
    /// Sequence number relative to the sender's initial sequence number.
    pub rel_seq: u32,
    /// Acknowledgement number relative to the receiver's initial sequence number (0 without ACK).
    pub rel_ack: u32,
    /// Payload length, in octets.
    pub len: u32,
    /// Advertised window, as on the wire (unscaled).
    pub window: u16,
    /// Options.
    pub options: Options,
}

impl Segment {
    /// The IP family it was carried over.
    pub fn family(&self) -> Family {
        Family::of(self.src.ip())
    }

    /// Its time relative to the timeline's zero, in seconds.
    pub fn at_secs(&self) -> f64 {
        self.at_ns as f64 / 1e9
    }
}

/// One line in the style of tcpdump:
/// `0.000123 client>server S seq 0 win 64800 <mss 1460,sackOK,TS val 1 ecr 0,wscale 7>`.
/// The alternate form (`{:#}`, the bundles' timeline) names the ports too, so that connections
/// can be told apart: `client:40312>server:7000`.
impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6} ", self.at_secs())?;
        if f.alternate() {
            write!(
                f,
                "{}:{}>{}:{}",
                self.from,
                self.src.port(),
                self.to,
                self.dst.port()
            )?;
        } else {
            write!(f, "{}>{}", self.from, self.to)?;
        }
        write!(f, " {} seq {}", self.flags, self.rel_seq)?;
        if self.len > 0 {
            write!(f, ":{}", self.rel_seq.wrapping_add(self.len))?;
        }
        if self.flags.contains(Flags::ACK) {
            write!(f, " ack {}", self.rel_ack)?;
        }
        write!(f, " win {}", self.window)?;
        let o = &self.options;
        let mut opts = Vec::new();
        if let Some(mss) = o.mss {
            opts.push(format!("mss {mss}"));
        }
        if o.sack_permitted {
            opts.push("sackOK".to_owned());
        }
        if let Some((val, ecr)) = o.timestamps {
            opts.push(format!("TS val {val} ecr {ecr}"));
        }
        if let Some(ws) = o.wscale {
            opts.push(format!("wscale {ws}"));
        }
        if !o.sack.is_empty() {
            let blocks: Vec<String> = o.sack.iter().map(|(l, r)| format!("{l}:{r}")).collect();
            opts.push(format!("sack {}", blocks.join(" ")));
        }
        if !opts.is_empty() {
            write!(f, " <{}>", opts.join(","))?;
        }
        write!(f, " length {}", self.len)
    }
}

/// A frame that is not TCP, named well enough to be shown and filtered out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Other {
    /// When it was captured, relative to the timeline's zero, in nanoseconds.
    pub at_ns: i64,
    /// What it is: `ARP who-has 198.18.0.2 tell 198.18.0.1`, `ICMPv6 neighbor solicitation`, ...
    pub what: String,
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// A TCP segment.
    Tcp(Segment),
    /// Anything else.
    Other(Other),
}

impl Packet {
    /// When it was captured, relative to the timeline's zero, in nanoseconds.
    pub fn at_ns(&self) -> i64 {
        match self {
            Packet::Tcp(s) => s.at_ns,
            Packet::Other(o) => o.at_ns,
        }
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Packet::Tcp(s) => s.fmt(f),
            Packet::Other(o) => write!(f, "{:.6} {}", o.at_ns as f64 / 1e9, o.what),
        }
    }
}

/// Decodes `frames` in order. `name` gives the host that owns an address; times are relative to
/// `zero`. Malformed frames are named, not refused: decoding never fails and never panics.
pub fn decode(
    frames: &[Frame],
    name: &dyn Fn(IpAddr) -> Option<String>,
    zero: SystemTime,
) -> Vec<Packet> {
    let mut isns = InitialSequences::default();
    frames
        .iter()
        .map(|frame| {
            let at_ns = nanos_between(zero, frame.at);
            match SlicedPacket::from_ethernet(&frame.data) {
                Ok(sliced) => decode_sliced(&sliced, at_ns, name, &mut isns),
                Err(e) => Packet::Other(Other {
                    at_ns,
                    what: format!("malformed frame ({} octets): {e}", frame.data.len()),
                }),
            }
        })
        .collect()
}

/// The first TCP segments of a list of decoded packets.
pub fn segments(packets: &[Packet]) -> impl Iterator<Item = &Segment> {
    packets.iter().filter_map(|p| match p {
        Packet::Tcp(s) => Some(s),
        Packet::Other(_) => None,
    })
}

/// `to - from` in nanoseconds, negative when `to` is earlier.
fn nanos_between(from: SystemTime, to: SystemTime) -> i64 {
    match to.duration_since(from) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// Each sender's initial sequence number, by (sender, receiver): from its SYN, or else from the
/// first segment seen, so that relative numbers start at 0 either way.
#[derive(Default)]
struct InitialSequences(HashMap<(SocketAddr, SocketAddr), u32>);

impl InitialSequences {
    fn of(&mut self, from: SocketAddr, to: SocketAddr, seq: u32, syn: bool) -> u32 {
        if syn {
            self.0.insert((from, to), seq);
        }
        *self.0.entry((from, to)).or_insert(seq)
    }

    fn get(&self, from: SocketAddr, to: SocketAddr) -> Option<u32> {
        self.0.get(&(from, to)).copied()
    }
}

fn decode_sliced(
    sliced: &SlicedPacket<'_>,
    at_ns: i64,
    name: &dyn Fn(IpAddr) -> Option<String>,
    isns: &mut InitialSequences,
) -> Packet {
    let other = |what: String| Packet::Other(Other { at_ns, what });
    let (src, dst): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        Some(NetSlice::Arp(arp)) => return other(describe_arp(arp.slice())),
        None => return other("non-IP frame".to_owned()),
    };
    let tcp = match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => tcp,
        Some(TransportSlice::Udp(udp)) => {
            return other(format!(
                "UDP {src}.{} > {dst}.{}",
                udp.source_port(),
                udp.destination_port()
            ));
        }
        Some(TransportSlice::Icmpv4(icmp)) => {
            return other(format!(
                "ICMP {} {src} > {dst}",
                icmpv4_name(icmp.type_u8())
            ));
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            return other(format!(
                "ICMPv6 {} {src} > {dst}",
                icmpv6_name(icmp.type_u8())
            ));
        }
        _ => return other(format!("IP {src} > {dst}, not TCP")),
    };
    let from = SocketAddr::new(src, tcp.source_port());
    let to = SocketAddr::new(dst, tcp.destination_port());
    let mut flags = Flags::empty();
    for (set, flag) in [
        (tcp.fin(), Flags::FIN),
        (tcp.syn(), Flags::SYN),
        (tcp.rst(), Flags::RST),
        (tcp.psh(), Flags::PSH),
        (tcp.ack(), Flags::ACK),
        (tcp.urg(), Flags::URG),
        (tcp.ece(), Flags::ECE),
        (tcp.cwr(), Flags::CWR),
    ] {
        if set {
            flags = flags | flag;
        }
    }
    let seq = tcp.sequence_number();
    let ack = tcp.acknowledgment_number();
    let isn = isns.of(from, to, seq, tcp.syn());
    let rel_ack = match (tcp.ack(), isns.get(to, from)) {
        (true, Some(peer_isn)) => ack.wrapping_sub(peer_isn),
        (true, None) => ack,
        (false, _) => 0,
    };
    let host = |ip: IpAddr| name(ip).unwrap_or_else(|| ip.to_string());
    Packet::Tcp(Segment {
        at_ns,
        from: host(src),
        to: host(dst),
        src: from,
        dst: to,
        flags,
        seq,
        ack,
        rel_seq: seq.wrapping_sub(isn),
        rel_ack,
        len: tcp.payload().len() as u32,
        window: tcp.window_size(),
        options: options(tcp),
    })
}

fn options(tcp: &etherparse::TcpSlice<'_>) -> Options {
    use etherparse::TcpOptionElement as E;
    let mut o = Options::default();
    for element in tcp.options_iterator().flatten() {
        match element {
            E::MaximumSegmentSize(mss) => o.mss = Some(mss),
            E::WindowScale(ws) => o.wscale = Some(ws),
            E::SelectiveAcknowledgementPermitted => o.sack_permitted = true,
            E::SelectiveAcknowledgement(first, rest) => {
                o.sack.push(first);
                o.sack.extend(rest.iter().flatten());
            }
            E::Timestamp(val, ecr) => o.timestamps = Some((val, ecr)),
            E::Noop => {}
        }
    }
    o
}

/// ARP for Ethernet and IPv4, named as tcpdump does; anything else by its operation.
fn describe_arp(arp: &[u8]) -> String {
    let ipv4 = |at: usize| {
        arp.get(at..at + 4)
            .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    };
    let op = arp.get(6..8).map(|b| u16::from_be_bytes([b[0], b[1]]));
    match (op, ipv4(14), ipv4(24)) {
        (Some(1), Some(sender), Some(target)) => format!("ARP who-has {target} tell {sender}"),
        (Some(2), Some(sender), _) => format!("ARP reply {sender} is-at"),
        _ => format!(
            "ARP operation {}",
            op.map_or("?".to_owned(), |o| o.to_string())
        ),
    }
}

fn icmpv4_name(kind: u8) -> String {
    match kind {
        0 => "echo reply".to_owned(),
        3 => "destination unreachable".to_owned(),
        8 => "echo request".to_owned(),
        11 => "time exceeded".to_owned(),
        other => format!("type {other}"),
    }
}

fn icmpv6_name(kind: u8) -> String {
    match kind {
        1 => "destination unreachable".to_owned(),
        2 => "packet too big".to_owned(),
        3 => "time exceeded".to_owned(),
        128 => "echo request".to_owned(),
        129 => "echo reply".to_owned(),
        130..=132 | 143 => "multicast listener report".to_owned(),
        133 => "router solicitation".to_owned(),
        134 => "router advertisement".to_owned(),
        135 => "neighbor solicitation".to_owned(),
        136 => "neighbor advertisement".to_owned(),
        other => format!("type {other}"),
    }
}

/// Builds frames for tests: Ethernet, IPv4 or IPv6, TCP.
#[cfg(test)]
pub(crate) fn tcp_frame(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: Option<u32>,
    flags: Flags,
    payload: &[u8],
) -> Vec<u8> {
    use etherparse::PacketBuilder;
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed families"),
    };
    let mut tcp = ip.tcp(src.port(), dst.port(), seq, 64240);
    if flags.contains(Flags::SYN) {
        tcp = tcp.syn();
    }
    if flags.contains(Flags::FIN) {
        tcp = tcp.fin();
    }
    if flags.contains(Flags::RST) {
        tcp = tcp.rst();
    }
    if flags.contains(Flags::PSH) {
        tcp = tcp.psh();
    }
    if let Some(ack) = ack {
        tcp = tcp.ack(ack);
    }
    let mut out = Vec::with_capacity(tcp.size(payload.len()));
    tcp.write(&mut out, payload).expect("a frame");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(ms: u64, data: Vec<u8>) -> Frame {
        Frame {
            at: SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
            wire_len: data.len() as u32,
            data,
        }
    }

    fn names(ip: IpAddr) -> Option<String> {
        match ip.to_string().as_str() {
            "198.18.0.1" | "2001:db8::1" => Some("client".to_owned()),
            "198.18.0.2" | "2001:db8::2" => Some("server".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn a_handshake_decodes_with_relative_numbers_and_host_names() {
        let c: SocketAddr = "198.18.0.1:40000".parse().unwrap();
        let s: SocketAddr = "198.18.0.2:80".parse().unwrap();
        let frames = [
            frame(1000, tcp_frame(c, s, 1000, None, Flags::SYN, b"")),
            frame(
                1001,
                tcp_frame(s, c, 5000, Some(1001), Flags::SYN | Flags::ACK, b""),
            ),
            frame(1002, tcp_frame(c, s, 1001, Some(5001), Flags::ACK, b"")),
            frame(
                1003,
                tcp_frame(c, s, 1001, Some(5001), Flags::PSH | Flags::ACK, b"hello"),
            ),
        ];
        let zero = SystemTime::UNIX_EPOCH + Duration::from_millis(1000);
        let packets = decode(&frames, &names, zero);
        let lines: Vec<String> = segments(&packets).map(|s| s.to_string()).collect();
        assert_eq!(
            lines,
            [
                "0.000000 client>server S seq 0 win 64240 length 0",
                "0.001000 server>client S. seq 0 ack 1 win 64240 length 0",
                "0.002000 client>server . seq 1 ack 1 win 64240 length 0",
                "0.003000 client>server P. seq 1:6 ack 1 win 64240 length 5",
            ]
        );
        let last = segments(&packets).last().unwrap();
        assert_eq!((last.seq, last.ack, last.len), (1001, 5001, 5));
        assert_eq!(last.family(), Family::V4);
    }

    #[test]
    fn ipv6_and_unknown_hosts() {
        let c: SocketAddr = "[2001:db8::1]:40000".parse().unwrap();
        let x: SocketAddr = "[2001:db8::99]:80".parse().unwrap();
        let packets = decode(
            &[frame(
                5,
                tcp_frame(c, x, 7, Some(9), Flags::RST | Flags::ACK, b""),
            )],
            &names,
            SystemTime::UNIX_EPOCH + Duration::from_millis(10),
        );
        let seg = segments(&packets).next().unwrap();
        assert_eq!(
            seg.to_string(),
            "-0.005000 client>2001:db8::99 R. seq 0 ack 9 win 64240 length 0"
        );
        assert_eq!(seg.family(), Family::V6);
    }

    #[test]
    fn other_frames_are_named_and_garbage_is_not_a_panic() {
        let mut arp = vec![0xff; 12];
        arp.extend([0x08, 0x06]);
        arp.extend([0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 0, 1]);
        arp.extend([0, 0, 0, 0, 0, 0, 198, 18, 0, 2]);
        let packets = decode(
            &[frame(0, arp), frame(0, vec![1, 2, 3]), frame(0, Vec::new())],
            &names,
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(
            packets[0].to_string(),
            "0.000000 ARP who-has 198.18.0.2 tell 198.18.0.1"
        );
        assert!(
            matches!(&packets[1], Packet::Other(o) if o.what.starts_with("malformed frame (3 octets)"))
        );
        assert!(matches!(&packets[2], Packet::Other(_)));
    }

    #[test]
    fn flags_print_like_tcpdump() {
        assert_eq!(Flags::empty().to_string(), "none");
        assert_eq!((Flags::FIN | Flags::ACK).to_string(), "F.");
        assert_eq!((Flags::SYN | Flags::ECE | Flags::CWR).to_string(), "SEW");
    }
}
