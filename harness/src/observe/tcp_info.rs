//! TCP_INFO and the keepalive settings of a socket the test holds.
//!
//! `struct tcp_info` is read into a byte buffer and parsed by offset (`include/uapi/linux/tcp.h`),
//! so that fields a newer kernel appends are ignored and fields an older one lacks are `None`.

use std::{
    io,
    os::fd::{AsFd, AsRawFd},
    time::Duration,
};

use super::socket::TcpState;
use crate::error::{Error, Result};

/// What TCP_INFO reports for one socket. Times are named with their unit in the kernel's
/// struct: microseconds for `rto`, `ato`, `rtt`, `rttvar`, `rcv_rtt`, `min_rtt`; milliseconds for
/// the `last_*` fields and `total_rto_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// The state (`tcpi_state`).
    pub state: TcpState,
    /// The congestion-avoidance state: 0 open, 1 disorder, 2 CWR, 3 recovery, 4 loss.
    pub ca_state: u8,
    /// Retransmissions of the segment at the head of the queue without an answer
    /// (`icsk_retransmits`), a count; 0 once something is acknowledged.
    pub retransmits: u8,
    /// Unanswered zero-window or keepalive probes (`icsk_probes_out`), a count.
    pub probes: u8,
    /// How many times the retransmission timeout has doubled (`icsk_backoff`).
    pub backoff: u8,
    /// Options agreed in the handshake, bits: 1 timestamps, 2 SACK, 4 window scaling, 8 ECN.
    pub options: u8,
    /// Our send window scale, a shift.
    pub snd_wscale: u8,
    /// Our receive window scale, a shift.
    pub rcv_wscale: u8,
    /// The retransmission timeout (`icsk_rto`).
    pub rto: Duration,
    /// The delayed-ACK timeout.
    pub ato: Duration,
    /// The send MSS, in octets.
    pub snd_mss: u32,
    /// The receive MSS estimate, in octets.
    pub rcv_mss: u32,
    /// Segments sent and not yet acknowledged (`packets_out`).
    pub unacked: u32,
    /// Segments SACKed, a count.
    pub sacked: u32,
    /// Segments presumed lost, a count.
    pub lost: u32,
    /// Segments retransmitted and not yet acknowledged, a count.
    pub retrans: u32,
    /// Time since data was last sent.
    pub last_data_sent: Duration,
    /// Time since data was last received.
    pub last_data_recv: Duration,
    /// Time since an ACK was last received: the idle time keepalive measures from.
    pub last_ack_recv: Duration,
    /// The path MTU, in octets.
    pub pmtu: u32,
    /// The slow-start threshold of the receive window, in octets.
    pub rcv_ssthresh: u32,
    /// The smoothed round-trip time.
    pub rtt: Duration,
    /// The round-trip time's mean deviation.
    pub rttvar: Duration,
    /// The slow-start threshold, in segments.
    pub snd_ssthresh: u32,
    /// The congestion window, in segments.
    pub snd_cwnd: u32,
    /// The advertised MSS, in octets.
    pub advmss: u32,
    /// The reordering metric, in segments.
    pub reordering: u32,
    /// The receiver's round-trip estimate.
    pub rcv_rtt: Duration,
    /// The receive buffer space, in octets.
    pub rcv_space: u32,
    /// Retransmitted segments over the connection's life, a count.
    pub total_retrans: u32,
    /// Octets acknowledged by the peer (`tcpi_bytes_acked`), if the kernel reports it.
    pub bytes_acked: Option<u64>,
    /// Octets received, if the kernel reports it.
    pub bytes_received: Option<u64>,
    /// Segments sent, a count, if the kernel reports it.
    pub segs_out: Option<u32>,
    /// Segments received, a count, if the kernel reports it.
    pub segs_in: Option<u32>,
    /// The lowest round-trip time seen, if the kernel reports it.
    pub min_rtt: Option<Duration>,
    /// Octets sent, retransmissions included, if the kernel reports it.
    pub bytes_sent: Option<u64>,
    /// Octets retransmitted, if the kernel reports it.
    pub bytes_retrans: Option<u64>,
    /// The peer's receive window after scaling, in octets, if the kernel reports it.
    pub snd_wnd: Option<u32>,
    /// Our receive window, in octets, if the kernel reports it.
    pub rcv_wnd: Option<u32>,
    /// Retransmission timeouts over the connection's life, a count, if the kernel reports it.
    pub total_rto: Option<u16>,
    /// Recoveries after a retransmission timeout, a count, if the kernel reports it.
    pub total_rto_recoveries: Option<u16>,
    /// Time spent in recoveries after a timeout, if the kernel reports it.
    pub total_rto_time: Option<Duration>,
    /// How many bytes of `struct tcp_info` the kernel returned.
    pub len: usize,
}

/// The keepalive settings of a socket (`SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
/// `TCP_KEEPCNT`, `TCP_USER_TIMEOUT`); a socket that never set them shows the host's
/// `tcp_keepalive_*` sysctls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Whether keepalive is on.
    pub enabled: bool,
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped, a count.
    pub count: u32,
    /// `TCP_USER_TIMEOUT`, zero when unset.
    pub user_timeout: Duration,
}

/// Reads TCP_INFO of `socket`: an error names the fd and says whether it is not a socket, not a
/// TCP socket, or closed.
pub fn tcp_info(socket: impl AsFd) -> Result<TcpInfo> {
    let fd = socket.as_fd().as_raw_fd();
    let mut buf = [0u8; 512];
    let len = getsockopt_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut buf)
        .map_err(|e| sockopt_error(fd, "TCP_INFO", e))?;
    parse(&buf[..len]).ok_or_else(|| {
        Error::io(
            format!("TCP_INFO of fd {fd}"),
            io::Error::other(format!("the kernel returned only {len} bytes")),
        )
    })
}

/// Reads the keepalive settings of `socket`.
pub fn keepalive(socket: impl AsFd) -> Result<Keepalive> {
    let fd = socket.as_fd().as_raw_fd();
    let int = |level, option, name| {
        let mut buf = [0u8; 4];
        getsockopt_bytes(fd, level, option, &mut buf)
            .map(|_| i32::from_ne_bytes(buf))
            .map_err(|e| sockopt_error(fd, name, e))
    };
    let secs = |v: i32| Duration::from_secs(u64::try_from(v).unwrap_or(0));
    Ok(Keepalive {
        enabled: int(libc::SOL_SOCKET, libc::SO_KEEPALIVE, "SO_KEEPALIVE")? != 0,
        idle: secs(int(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, "TCP_KEEPIDLE")?),
        interval: secs(int(
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            "TCP_KEEPINTVL",
        )?),
        count: int(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, "TCP_KEEPCNT")?.max(0) as u32,
        user_timeout: Duration::from_millis(
            int(
                libc::IPPROTO_TCP,
                libc::TCP_USER_TIMEOUT,
                "TCP_USER_TIMEOUT",
            )?
            .max(0) as u64,
        ),
    })
}

fn getsockopt_bytes(fd: i32, level: i32, option: i32, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf is valid for writes of len bytes, and the kernel writes at most len.
    let rc = unsafe { libc::getsockopt(fd, level, option, buf.as_mut_ptr().cast(), &mut len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(len as usize)
}

fn sockopt_error(fd: i32, option: &str, e: io::Error) -> Error {
    let why = match e.raw_os_error() {
        Some(libc::EBADF) => "the fd is not open: was the socket closed?",
        Some(libc::ENOTSOCK) => "the fd is not a socket",
        Some(libc::EOPNOTSUPP) | Some(libc::ENOPROTOOPT) => "the fd is not a TCP socket",
        _ => "getsockopt failed",
    };
    Error::io(format!("{option} of fd {fd} ({why})"), e)
}

fn parse(b: &[u8]) -> Option<TcpInfo> {
    // The fields every kernel since 2.6 returns, through tcpi_total_retrans.
    if b.len() < 104 {
        return None;
    }
    let u32_at = |off: usize| {
        b.get(off..off + 4)
            .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
    };
    let u64_at = |off: usize| {
        b.get(off..off + 8).map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_ne_bytes(a)
        })
    };
    let u16_at = |off: usize| {
        b.get(off..off + 2)
            .map(|s| u16::from_ne_bytes([s[0], s[1]]))
    };
    let v = |off: usize| u32_at(off).unwrap_or(0);
    let us = |off: usize| Duration::from_micros(v(off).into());
    let ms = |off: usize| Duration::from_millis(v(off).into());
    Some(TcpInfo {
        state: TcpState::from_kernel(b[0]),
        ca_state: b[1],
        retransmits: b[2],
        probes: b[3],
        backoff: b[4],
        options: b[5],
        snd_wscale: b[6] & 0xf,
        rcv_wscale: b[6] >> 4,
        rto: us(8),
        ato: us(12),
        snd_mss: v(16),
        rcv_mss: v(20),
        unacked: v(24),
        sacked: v(28),
        lost: v(32),
        retrans: v(36),
        last_data_sent: ms(44),
        last_data_recv: ms(52),
        last_ack_recv: ms(56),
        pmtu: v(60),
        rcv_ssthresh: v(64),
        rtt: us(68),
        rttvar: us(72),
        snd_ssthresh: v(76),
        snd_cwnd: v(80),
        advmss: v(84),
        reordering: v(88),
        rcv_rtt: us(92),
        rcv_space: v(96),
        total_retrans: v(100),
        bytes_acked: u64_at(120),
        bytes_received: u64_at(128),
        segs_out: u32_at(136),
        segs_in: u32_at(140),
        min_rtt: u32_at(148).map(|x| Duration::from_micros(x.into())),
        bytes_sent: u64_at(200),
        bytes_retrans: u64_at(208),
        snd_wnd: u32_at(228),
        rcv_wnd: u32_at(232),
        total_rto: u16_at(240),
        total_rto_recoveries: u16_at(242),
        total_rto_time: u32_at(244).map(|x| Duration::from_millis(x.into())),
        len: b.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_offset_and_knows_what_is_missing() {
        let mut b = [0u8; 232];
        b[0] = 1;
        b[2] = 3;
        b[3] = 2;
        b[4] = 4;
        b[8..12].copy_from_slice(&200_000u32.to_ne_bytes());
        b[24..28].copy_from_slice(&5u32.to_ne_bytes());
        b[52..56].copy_from_slice(&1500u32.to_ne_bytes());
        b[68..72].copy_from_slice(&120u32.to_ne_bytes());
        b[228..232].copy_from_slice(&65535u32.to_ne_bytes());
        let i = parse(&b).unwrap();
        assert_eq!(i.state, TcpState::Established);
        assert_eq!((i.retransmits, i.probes, i.backoff), (3, 2, 4));
        assert_eq!(i.rto, Duration::from_millis(200));
        assert_eq!(i.unacked, 5);
        assert_eq!(i.last_data_recv, Duration::from_millis(1500));
        assert_eq!(i.rtt, Duration::from_micros(120));
        assert_eq!(i.snd_wnd, Some(65535));
        assert_eq!(i.rcv_wnd, None);
        assert!(parse(&b[..100]).is_none());
    }
}
