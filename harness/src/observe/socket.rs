//! The socket table of a host, read over sock_diag (`NETLINK_SOCK_DIAG`, inet_diag).
//!
//! The request is encoded by hand: one `inet_diag_req_v2` per family, dumped into one reused
//! buffer and parsed in place, so that a table of ten thousand sockets costs no allocation per
//! socket.

use std::{
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use crate::{
    Family,
    error::{Error, Result},
};

/// A TCP state, numbered as the kernel numbers them (`include/net/tcp_states.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    /// `TCP_ESTABLISHED` (1).
    Established,
    /// `TCP_SYN_SENT` (2): connect() sent a SYN and waits for the SYN-ACK.
    SynSent,
    /// `TCP_SYN_RECV` (3): a half-open connection; sock_diag reports request sockets
    /// (`TCP_NEW_SYN_RECV`) in this state, as `ss` does.
    SynRecv,
    /// `TCP_FIN_WAIT1` (4): we sent a FIN that is not yet acknowledged.
    FinWait1,
    /// `TCP_FIN_WAIT2` (5): our FIN is acknowledged; we wait for the peer's.
    FinWait2,
    /// `TCP_TIME_WAIT` (6).
    TimeWait,
    /// `TCP_CLOSE` (7).
    Close,
    /// `TCP_CLOSE_WAIT` (8): the peer sent a FIN; we have not closed yet.
    CloseWait,
    /// `TCP_LAST_ACK` (9): we closed after the peer; our FIN is not yet acknowledged.
    LastAck,
    /// `TCP_LISTEN` (10).
    Listen,
    /// `TCP_CLOSING` (11): both sides sent a FIN at once.
    Closing,
    /// `TCP_NEW_SYN_RECV` (12): a request socket, as TCP_INFO never shows it.
    NewSynRecv,
    /// `TCP_BOUND_INACTIVE` (13): inet_diag's pseudo-state for a socket that is bound but
    /// neither listens nor connects. Only a [`Filter`] uses it: such sockets are read only when
    /// asked for, and sock_diag reports them as [`TcpState::Close`].
    BoundInactive,
    /// A state number this harness does not know.
    Unknown(u8),
}

impl TcpState {
    /// Every state the kernel reports, in the kernel's order.
    pub const ALL: [TcpState; 13] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
        TcpState::NewSynRecv,
        TcpState::BoundInactive,
    ];

    /// The state with the kernel's number `n`.
    pub fn from_kernel(n: u8) -> TcpState {
        match n {
            1..=13 => TcpState::ALL[usize::from(n) - 1],
            _ => TcpState::Unknown(n),
        }
    }

    /// The kernel's number for this state.
    pub fn kernel_number(self) -> u8 {
        match self {
            TcpState::Unknown(n) => n,
            known => TcpState::ALL.iter().position(|s| *s == known).unwrap_or(0) as u8 + 1,
        }
    }

    /// The name `ss` and the kernel use, for example `TIME_WAIT`.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::NewSynRecv => "NEW_SYN_RECV",
            TcpState::BoundInactive => "BOUND_INACTIVE",
            TcpState::Unknown(_) => "UNKNOWN",
        }
    }

    /// The bit of this state in inet_diag's `idiag_states` mask (`1 << state`).
    fn mask(self) -> u32 {
        let n = self.kernel_number();
        let bit = if n < 32 { 1u32 << n } else { 0 };
        match self {
            // Half-open connections live in the hash as request sockets (TCP_NEW_SYN_RECV).
            TcpState::SynRecv => bit | 1 << 12,
            // A closed socket is in no hash but the bind hash, read under TCP_BOUND_INACTIVE.
            TcpState::Close => bit | 1 << 13,
            _ => bit,
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpState::Unknown(n) => write!(f, "UNKNOWN({n})"),
            known => f.write_str(known.name()),
        }
    }
}

/// Which of a socket's timers runs, as inet_diag's `idiag_timer` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// 1: the retransmission timer (also the tail-loss probe and reordering timers, and a
    /// half-open connection's SYN-ACK timer).
    Retransmit,
    /// 2: the socket timer: keepalive, or the FIN_WAIT2 timeout of an orphan that outlives
    /// `TCP_TIMEWAIT_LEN`.
    Keepalive,
    /// 3: the timewait timer: TIME_WAIT, or FIN_WAIT2 of a closed socket (a timewait socket in
    /// the FIN_WAIT2 substate).
    TimeWait,
    /// 4: the zero-window probe timer.
    ZeroWindowProbe,
    /// Another number.
    Other(u8),
}

impl TimerKind {
    fn from_kernel(n: u8) -> Option<TimerKind> {
        Some(match n {
            0 => return None,
            1 => TimerKind::Retransmit,
            2 => TimerKind::Keepalive,
            3 => TimerKind::TimeWait,
            4 => TimerKind::ZeroWindowProbe,
            n => TimerKind::Other(n),
        })
    }
}

/// A running kernel timer of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// Which timer.
    pub kind: TimerKind,
    /// Time left until it fires, at the moment of reading, in whole jiffies converted to
    /// milliseconds (multiples of 4 ms at HZ=250); zero once it is overdue.
    pub remaining: Duration,
}

/// One TCP socket as the kernel sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    /// The socket's family. An IPv6 socket that carries IPv4 shows IPv4-mapped addresses.
    pub family: Family,
    /// The state.
    pub state: TcpState,
    /// The local address and port.
    pub local: SocketAddr,
    /// The remote address and port (unspecified, port 0, for a listener).
    pub remote: SocketAddr,
    /// The running timer, if any.
    pub timer: Option<Timer>,
    /// With a retransmission timer: retransmissions of the current segment; with a keepalive or
    /// zero-window probe timer: unanswered probes; for a half-open connection: SYN-ACK
    /// retransmissions. A count.
    pub retransmits: u8,
    /// Received bytes not yet read; for a listener, connections waiting in the accept queue.
    pub recv_q: u32,
    /// Sent bytes not yet acknowledged; for a listener, the accept queue's limit.
    pub send_q: u32,
    /// The interface the socket is bound to, by index, or 0.
    pub interface: u32,
    /// The owner's user id (0 for TIME_WAIT sockets, which have no owner).
    pub uid: u32,
    /// The socket's inode, as in /proc/PID/fd (0 for TIME_WAIT and request sockets).
    pub inode: u32,
    /// The kernel's cookie for this socket: unique while it exists.
    pub cookie: u64,
}

/// A listener's accept queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptQueue {
    /// Established connections not yet accepted, a count.
    pub len: u32,
    /// The limit, `min(backlog, net.core.somaxconn)`; the kernel admits one more before it
    /// counts `ListenOverflows`.
    pub limit: u32,
}

impl Socket {
    /// The accept queue, for a listener.
    pub fn accept_queue(&self) -> Option<AcceptQueue> {
        (self.state == TcpState::Listen).then_some(AcceptQueue {
            len: self.recv_q,
            limit: self.send_q,
        })
    }

    /// Whether either end uses `port`.
    pub fn uses_port(&self, port: u16) -> bool {
        self.local.port() == port || self.remote.port() == port
    }
}

impl fmt::Display for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<11} {} -> {} q {}/{}",
            self.state.to_string(),
            self.local,
            self.remote,
            self.recv_q,
            self.send_q
        )?;
        if let Some(t) = self.timer {
            write!(f, " timer {:?} {:?}", t.kind, t.remaining)?;
        }
        if self.retransmits > 0 {
            write!(f, " retrans {}", self.retransmits)?;
        }
        Ok(())
    }
}

/// Which sockets to read: by default every state but [`TcpState::BoundInactive`], which is read
/// only when asked for by [`Filter::state`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    states: Vec<TcpState>,
    port: Option<u16>,
    local_port: Option<u16>,
    remote_port: Option<u16>,
    between: Option<(SocketAddr, SocketAddr)>,
}

impl Filter {
    /// Every socket, except those merely bound ([`TcpState::BoundInactive`]).
    pub fn all() -> Filter {
        Filter::default()
    }

    /// Sockets in `state` (several calls widen the set); the kernel filters, so unwanted states
    /// cost nothing.
    pub fn state(mut self, state: TcpState) -> Filter {
        self.states.push(state);
        self
    }

    /// Sockets in any of `states`.
    pub fn states(mut self, states: impl IntoIterator<Item = TcpState>) -> Filter {
        self.states.extend(states);
        self
    }

    /// Sockets whose local or remote port is `port`.
    pub fn port(mut self, port: u16) -> Filter {
        self.port = Some(port);
        self
    }

    /// Sockets whose local port is `port`.
    pub fn local_port(mut self, port: u16) -> Filter {
        self.local_port = Some(port);
        self
    }

    /// Sockets whose remote port is `port`.
    pub fn remote_port(mut self, port: u16) -> Filter {
        self.remote_port = Some(port);
        self
    }

    /// The one connection's socket from `local` to `remote` (the kernel is asked for their
    /// ports; the addresses are compared here).
    pub fn between(local: SocketAddr, remote: SocketAddr) -> Filter {
        Filter {
            local_port: Some(local.port()),
            remote_port: Some(remote.port()),
            between: Some((local, remote)),
            ..Filter::default()
        }
    }

    /// Whether `socket` passes.
    pub fn matches(&self, socket: &Socket) -> bool {
        let state_ok = self.states.contains(&socket.state)
            || (socket.state == TcpState::Close && self.states.contains(&TcpState::BoundInactive));
        (self.states.is_empty() || state_ok)
            && self.port.is_none_or(|p| socket.uses_port(p))
            && self.local_port.is_none_or(|p| socket.local.port() == p)
            && self.remote_port.is_none_or(|p| socket.remote.port() == p)
            && self
                .between
                .is_none_or(|(l, r)| socket.local == l && socket.remote == r)
    }

    fn kernel_mask(&self) -> u32 {
        if self.states.is_empty() {
            // Bound-but-inactive sockets only on request, as in `ss`: finding them walks the
            // whole bind hash, which doubles the cost of every read (about 5 ms here).
            !TcpState::BoundInactive.mask()
        } else {
            self.states.iter().fold(0, |m, s| m | s.mask())
        }
    }
}

/// The TCP sockets of one host at one moment.
#[derive(Clone)]
pub struct SocketTable {
    host: String,
    sockets: Vec<Socket>,
    read_at: Instant,
    read_end: Instant,
}

impl SocketTable {
    /// The host the table was read on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// When the kernel was asked (the dump itself took a little longer).
    pub fn read_at(&self) -> Instant {
        self.read_at
    }

    /// When the dumps ended. The kernel read each socket (its state, its timer's time left) between
    /// [`SocketTable::read_at`] and this: the IPv4 sockets first, then the IPv6 ones, after the
    /// IPv4 dump's walk of the whole hash table, which the namespaces share (milliseconds, but
    /// up to ~100 ms on a loaded machine). Time elapsed at a sample is at most `read_end - t`.
    pub fn read_end(&self) -> Instant {
        self.read_end
    }

    /// The sockets, IPv4 first, in the kernel's hash order.
    pub fn sockets(&self) -> &[Socket] {
        &self.sockets
    }

    /// The sockets, IPv4 first.
    pub fn iter(&self) -> std::slice::Iter<'_, Socket> {
        self.sockets.iter()
    }

    /// How many sockets.
    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// The sockets in `state`.
    pub fn in_state(&self, state: TcpState) -> impl Iterator<Item = &Socket> {
        self.sockets.iter().filter(move |s| s.state == state)
    }

    /// How many sockets are in `state`.
    pub fn count(&self, state: TcpState) -> usize {
        self.in_state(state).count()
    }

    /// The socket from `local` to `remote`, in any state, if there is one.
    pub fn get(&self, local: SocketAddr, remote: SocketAddr) -> Option<&Socket> {
        self.sockets
            .iter()
            .find(|s| same(s.local, local) && same(s.remote, remote))
    }

    /// The socket from `local` to `remote`, or an error that lists what the host has.
    pub fn find(&self, local: SocketAddr, remote: SocketAddr) -> Result<&Socket> {
        self.get(local, remote)
            .ok_or_else(|| self.missing(format!("a socket {local} -> {remote}")))
    }

    /// The listener on `local`, or an error that lists what the host has.
    pub fn listener(&self, local: SocketAddr) -> Result<&Socket> {
        self.sockets
            .iter()
            .find(|s| s.state == TcpState::Listen && same(s.local, local))
            .ok_or_else(|| self.missing(format!("a listener on {local}")))
    }

    fn missing(&self, what: String) -> Error {
        Error::NoSocket {
            host: self.host.clone(),
            what,
            seen: self.summary(20),
        }
    }

    /// Up to `max` sockets, one per line.
    fn summary(&self, max: usize) -> String {
        if self.sockets.is_empty() {
            return "no TCP sockets".to_owned();
        }
        let mut out = String::new();
        for s in self.sockets.iter().take(max) {
            out.push_str("\n  ");
            out.push_str(&s.to_string());
        }
        if self.sockets.len() > max {
            out.push_str(&format!("\n  ... and {} more", self.sockets.len() - max));
        }
        out
    }
}

impl<'a> IntoIterator for &'a SocketTable {
    type Item = &'a Socket;
    type IntoIter = std::slice::Iter<'a, Socket>;
    fn into_iter(self) -> Self::IntoIter {
        self.sockets.iter()
    }
}

impl fmt::Debug for SocketTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} socket(s) on host {}:{}",
            self.sockets.len(),
            self.host,
            self.summary(50)
        )
    }
}

impl fmt::Display for SocketTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Compares addresses as the kernel stores them: an IPv4 address matches its IPv4-mapped IPv6
/// form, so a dual-stack socket is found by the address its peer used.
fn same(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    a.port() == b.port() && canon(a.ip()) == canon(b.ip())
}

// --- sock_diag, by hand -------------------------------------------------------------------

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_HDRLEN: usize = 16;
/// `struct inet_diag_req_v2`.
const REQ_LEN: usize = 56;
/// `struct inet_diag_msg`.
const MSG_LEN: usize = 72;
/// Room for one dump message: the kernel sizes them up to 32 KiB.
const RECV_BUF: usize = 64 << 10;

/// Reads the TCP sockets of the calling thread's network namespace.
pub(crate) fn read(host: &str, filter: &Filter) -> Result<SocketTable> {
    let what = || format!("reading the TCP sockets of host {host} over sock_diag");
    let read_at = Instant::now();
    let fd = open().map_err(|e| Error::io(what(), e))?;
    let mut buf = vec![0u8; RECV_BUF];
    let mut sockets = Vec::new();
    let mask = filter.kernel_mask();
    for (seq, family) in [(1, libc::AF_INET), (2, libc::AF_INET6)] {
        dump(&fd, family as u8, mask, seq, &mut buf, &mut |s| {
            if filter.matches(&s) {
                sockets.push(s);
            }
        })
        .map_err(|e| Error::io(what(), e))?;
    }
    Ok(SocketTable {
        host: host.to_owned(),
        sockets,
        read_at,
        read_end: Instant::now(),
    })
}

fn open() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn dump(
    fd: &OwnedFd,
    family: u8,
    states: u32,
    seq: u32,
    buf: &mut [u8],
    each: &mut impl FnMut(Socket),
) -> io::Result<()> {
    let mut req = [0u8; NLMSG_HDRLEN + REQ_LEN];
    req[0..4].copy_from_slice(&((NLMSG_HDRLEN + REQ_LEN) as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    req[16] = family;
    req[17] = libc::IPPROTO_TCP as u8;
    req[20..24].copy_from_slice(&states.to_ne_bytes());
    // SAFETY: req is a valid buffer of the given length.
    let sent = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    loop {
        // MSG_TRUNC makes the kernel return the real length, so a short buffer is noticed.
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        if n > buf.len() {
            return Err(io::Error::other(format!(
                "a sock_diag message of {n} bytes did not fit in {} bytes",
                buf.len()
            )));
        }
        let mut off = 0;
        while off + NLMSG_HDRLEN <= n {
            let len = u32_at(buf, off) as usize;
            let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
            if len < NLMSG_HDRLEN || off + len > n {
                return Err(io::Error::other("a malformed sock_diag message"));
            }
            let body = &buf[off + NLMSG_HDRLEN..off + len];
            match kind {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let errno = if body.len() >= 4 {
                        -i32::from_ne_bytes([body[0], body[1], body[2], body[3]])
                    } else {
                        libc::EIO
                    };
                    if errno != 0 {
                        return Err(io::Error::from_raw_os_error(errno));
                    }
                }
                SOCK_DIAG_BY_FAMILY => {
                    if let Some(socket) = parse(body) {
                        each(socket);
                    }
                }
                _ => {}
            }
            off += (len + 3) & !3;
        }
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Parses one `struct inet_diag_msg`.
fn parse(m: &[u8]) -> Option<Socket> {
    if m.len() < MSG_LEN {
        return None;
    }
    let family = match i32::from(m[0]) {
        libc::AF_INET => Family::V4,
        libc::AF_INET6 => Family::V6,
        _ => return None,
    };
    let addr = |at: usize| -> IpAddr {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&m[at..at + 16]);
        match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(bytes)),
        }
    };
    let port = |at: usize| u16::from_be_bytes([m[at], m[at + 1]]);
    let cookie = u64::from(u32_at(m, 44)) | u64::from(u32_at(m, 48)) << 32;
    let expires = u32_at(m, 52);
    Some(Socket {
        family,
        state: TcpState::from_kernel(m[1]),
        timer: TimerKind::from_kernel(m[2]).map(|kind| Timer {
            kind,
            remaining: Duration::from_millis(expires.into()),
        }),
        retransmits: m[3],
        local: SocketAddr::new(addr(8), port(4)),
        remote: SocketAddr::new(addr(24), port(6)),
        interface: u32_at(m, 40),
        recv_q: u32_at(m, 56),
        send_q: u32_at(m, 60),
        uid: u32_at(m, 64),
        inode: u32_at(m, 68),
        cookie,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_the_kernel_numbers() {
        for n in 1..=13 {
            assert_eq!(TcpState::from_kernel(n).kernel_number(), n);
        }
        assert_eq!(TcpState::from_kernel(6), TcpState::TimeWait);
        assert_eq!(TcpState::from_kernel(10), TcpState::Listen);
        assert_eq!(TcpState::from_kernel(99), TcpState::Unknown(99));
        assert_eq!(TcpState::SynRecv.mask(), 1 << 3 | 1 << 12);
        assert_eq!(TcpState::Close.mask(), 1 << 7 | 1 << 13);
        assert_eq!(Filter::all().kernel_mask() & 1 << 13, 0);
        assert_eq!(TcpState::TimeWait.to_string(), "TIME_WAIT");
    }

    #[test]
    fn parses_an_inet_diag_msg() {
        let mut m = [0u8; MSG_LEN];
        m[0] = libc::AF_INET as u8;
        m[1] = 6;
        m[2] = 3;
        m[4..6].copy_from_slice(&40000u16.to_be_bytes());
        m[6..8].copy_from_slice(&80u16.to_be_bytes());
        m[8..12].copy_from_slice(&[198, 18, 0, 1]);
        m[24..28].copy_from_slice(&[198, 18, 0, 2]);
        m[44..48].copy_from_slice(&7u32.to_ne_bytes());
        m[48..52].copy_from_slice(&1u32.to_ne_bytes());
        m[52..56].copy_from_slice(&59_996u32.to_ne_bytes());
        let s = parse(&m).unwrap();
        assert_eq!(s.state, TcpState::TimeWait);
        assert_eq!(s.local, "198.18.0.1:40000".parse().unwrap());
        assert_eq!(s.remote, "198.18.0.2:80".parse().unwrap());
        assert_eq!(
            s.timer,
            Some(Timer {
                kind: TimerKind::TimeWait,
                remaining: Duration::from_millis(59_996)
            })
        );
        assert_eq!(s.cookie, 1 << 32 | 7);
        assert!(parse(&m[..MSG_LEN - 1]).is_none());
    }

    #[test]
    fn mapped_addresses_match_their_ipv4_form() {
        assert!(same(
            "[::ffff:198.18.0.1]:80".parse().unwrap(),
            "198.18.0.1:80".parse().unwrap()
        ));
        assert!(!same(
            "198.18.0.1:80".parse().unwrap(),
            "198.18.0.1:81".parse().unwrap()
        ));
    }
}
