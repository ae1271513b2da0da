//! Per-host kernel settings under /proc/sys/net, typed where the cases need them.
//!
//! A network namespace has its own copy of most `net.*` sysctls. They are read and written from a
//! thread inside the namespace (the host's own thread), never from the root namespace: see
//! [`crate::Host::set`] and [`crate::Host::get`].

use std::{fmt, marker::PhantomData, str::FromStr};

use crate::{
    error::{Error, Result},
    kernel::version::Version,
};

/// A value a sysctl file holds, with its text form.
pub trait SysctlValue: Sized {
    /// The text written to the sysctl file.
    fn to_sysctl(&self) -> String;
    /// Parses the text read from the sysctl file (already trimmed).
    fn from_sysctl(text: &str) -> Option<Self>;
}

macro_rules! numeric_value {
    ($($t:ty),*) => {$(
        impl SysctlValue for $t {
            fn to_sysctl(&self) -> String {
                self.to_string()
            }
            fn from_sysctl(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }
    )*};
}
numeric_value!(u8, u16, u32, u64, i32, i64);

impl SysctlValue for bool {
    fn to_sysctl(&self) -> String {
        u8::from(*self).to_string()
    }
    fn from_sysctl(text: &str) -> Option<Self> {
        match text {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        }
    }
}

impl SysctlValue for String {
    fn to_sysctl(&self) -> String {
        self.clone()
    }
    fn from_sysctl(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

/// An inclusive range of local ports, as in `net.ipv4.ip_local_port_range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// The lowest port, inclusive.
    pub low: u16,
    /// The highest port, inclusive.
    pub high: u16,
}

impl PortRange {
    /// The number of ports in the range.
    pub fn len(&self) -> u32 {
        u32::from(self.high).saturating_sub(u32::from(self.low)) + 1
    }

    /// Always false: a port range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl SysctlValue for PortRange {
    fn to_sysctl(&self) -> String {
        format!("{} {}", self.low, self.high)
    }
    fn from_sysctl(text: &str) -> Option<Self> {
        let mut it = text.split_whitespace().map(u16::from_str);
        match (it.next(), it.next(), it.next()) {
            (Some(Ok(low)), Some(Ok(high)), None) => Some(PortRange { low, high }),
            _ => None,
        }
    }
}

/// A typed sysctl: its path below /proc/sys, the type of its value, and, for a knob that not
/// every supported kernel has, the version that brought it and how kernels before it behave.
pub struct Sysctl<T> {
    path: &'static str,
    since: Option<Version>,
    absent: Option<&'static str>,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Sysctl<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Sysctl<T> {}

impl<T> fmt::Debug for Sysctl<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path)
    }
}

impl<T> Sysctl<T> {
    /// A sysctl at `path` below /proc/sys, for example `net/ipv4/tcp_syn_retries`.
    pub const fn new(path: &'static str) -> Self {
        Sysctl {
            path,
            since: None,
            absent: None,
            _value: PhantomData,
        }
    }

    /// The same knob, which came with Linux `major.minor`: on older kernels it does not exist.
    pub const fn since(self, major: u32, minor: u32) -> Self {
        Sysctl {
            since: Some(Version::new(major, minor)),
            ..self
        }
    }

    /// The same knob, for which a kernel without it behaves as with the value `text`: reading it
    /// there gives that value, and setting it to that value is no change (the kernel's source of
    /// the version before the knob came is the authority for what it did).
    pub const fn absent_means(self, text: &'static str) -> Self {
        Sysctl {
            absent: Some(text),
            ..self
        }
    }

    /// The path below /proc/sys.
    pub const fn path(&self) -> &'static str {
        self.path
    }

    /// The dotted name, as `sysctl` prints it (`net.ipv4.tcp_syn_retries`).
    pub fn dotted(&self) -> String {
        self.path.replace('/', ".")
    }

    /// The version that brought it, when not every supported kernel has it.
    pub const fn introduced(&self) -> Option<Version> {
        self.since
    }

    /// What a kernel without it behaves as, as the value's text, when that is a value at all.
    pub fn absent_value(&self) -> Option<&'static str> {
        self.absent
    }

    /// Why a host cannot be given `wanted` on a kernel that lacks the knob, in one line.
    pub(crate) fn missing(&self, wanted: Option<&str>) -> String {
        let came = self
            .since
            .map_or_else(String::new, |v| format!(" (it came in Linux {v})"));
        let before = match self.absent {
            Some(text) => format!("; without it the kernel behaves as {text}"),
            None => String::new(),
        };
        let asked = wanted.map_or_else(String::new, |w| format!(", so it cannot be set to {w}"));
        format!("this kernel has no {}{came}{before}{asked}", self.dotted())
    }
}

/// SYN retransmissions before connect() gives up with ETIMEDOUT, a count.
pub const TCP_SYN_RETRIES: Sysctl<u8> = Sysctl::new("net/ipv4/tcp_syn_retries");
/// SYN-ACK retransmissions for a half-open connection, a count.
pub const TCP_SYNACK_RETRIES: Sysctl<u8> = Sysctl::new("net/ipv4/tcp_synack_retries");
/// How many of the first SYN retransmissions keep the initial timeout instead of doubling, a count.
/// Before 6.5 every backoff doubled: as 0.
pub const TCP_SYN_LINEAR_TIMEOUTS: Sysctl<u8> = Sysctl::new("net/ipv4/tcp_syn_linear_timeouts")
    .since(6, 5)
    .absent_means("0");
/// Idle time before the first keepalive probe, in seconds.
pub const TCP_KEEPALIVE_TIME: Sysctl<u32> = Sysctl::new("net/ipv4/tcp_keepalive_time");
/// Time between keepalive probes, in seconds.
pub const TCP_KEEPALIVE_INTVL: Sysctl<u32> = Sysctl::new("net/ipv4/tcp_keepalive_intvl");
/// Unanswered keepalive probes before the connection is dropped, a count.
pub const TCP_KEEPALIVE_PROBES: Sysctl<u32> = Sysctl::new("net/ipv4/tcp_keepalive_probes");
/// Reset a handshake-completing client when the accept queue is full, instead of dropping its ACK.
pub const TCP_ABORT_ON_OVERFLOW: Sysctl<bool> = Sysctl::new("net/ipv4/tcp_abort_on_overflow");
/// The upper bound on a listen() backlog, in connections.
pub const SOMAXCONN: Sysctl<u32> = Sysctl::new("net/core/somaxconn");
/// The upper bound on half-open connections per listener, in requests.
pub const TCP_MAX_SYN_BACKLOG: Sysctl<u32> = Sysctl::new("net/ipv4/tcp_max_syn_backlog");
/// SYN cookies: 0 off, 1 when the SYN queue overflows, 2 always.
pub const TCP_SYNCOOKIES: Sysctl<u8> = Sysctl::new("net/ipv4/tcp_syncookies");
/// The ephemeral ports connect() and bind(port 0) pick from, inclusive.
pub const IP_LOCAL_PORT_RANGE: Sysctl<PortRange> = Sysctl::new("net/ipv4/ip_local_port_range");
/// Reuse of TIME_WAIT sockets for new outgoing connections: 0 off, 1 on, 2 loopback only.
pub const TCP_TW_REUSE: Sysctl<u8> = Sysctl::new("net/ipv4/tcp_tw_reuse");
/// RFC 1337's fix for TIME_WAIT assassination: when on, a TIME_WAIT socket ignores a reset
/// instead of dying of it (off by default).
pub const TCP_RFC1337: Sysctl<bool> = Sysctl::new("net/ipv4/tcp_rfc1337");
/// The most TIME_WAIT sockets a namespace keeps, a count.
pub const TCP_MAX_TW_BUCKETS: Sysctl<u32> = Sysctl::new("net/ipv4/tcp_max_tw_buckets");
/// TCP timestamps: 0 off, 1 on with random offsets, 2 on without.
pub const TCP_TIMESTAMPS: Sysctl<u8> = Sysctl::new("net/ipv4/tcp_timestamps");
/// Selective acknowledgements (RFC 2018).
pub const TCP_SACK: Sysctl<bool> = Sysctl::new("net/ipv4/tcp_sack");
/// Window scaling (RFC 7323).
pub const TCP_WINDOW_SCALING: Sysctl<bool> = Sysctl::new("net/ipv4/tcp_window_scaling");
/// How long an orphaned socket stays in FIN_WAIT2, in seconds.
pub const TCP_FIN_TIMEOUT: Sysctl<u32> = Sysctl::new("net/ipv4/tcp_fin_timeout");
/// Retransmissions before the kernel asks the route to be re-validated, a count.
pub const TCP_RETRIES1: Sysctl<u8> = Sysctl::new("net/ipv4/tcp_retries1");
/// Retransmissions before an established connection is dropped, a count.
pub const TCP_RETRIES2: Sysctl<u8> = Sysctl::new("net/ipv4/tcp_retries2");
/// Retransmissions before an orphaned connection is dropped, a count (0 means 8).
pub const TCP_ORPHAN_RETRIES: Sysctl<u8> = Sysctl::new("net/ipv4/tcp_orphan_retries");
/// Tail loss probes (RACK-TLP): 0 off, 3 or 4 on (the default, 3).
pub const TCP_EARLY_RETRANS: Sysctl<u8> = Sysctl::new("net/ipv4/tcp_early_retrans");
/// The lowest retransmission timeout, in microseconds. Before 6.11 it was `TCP_RTO_MIN`
/// (200 ms), changed only per route (`rto_min`): as 200000.
pub const TCP_RTO_MIN_US: Sysctl<u32> = Sysctl::new("net/ipv4/tcp_rto_min_us")
    .since(6, 11)
    .absent_means("200000");
/// The highest retransmission timeout, in milliseconds. Before 6.15 it was `TCP_RTO_MAX`
/// (120 s): as 120000.
pub const TCP_RTO_MAX_MS: Sysctl<u32> = Sysctl::new("net/ipv4/tcp_rto_max_ms")
    .since(6, 15)
    .absent_means("120000");
/// How old a TIME_WAIT socket must be before `tcp_tw_reuse` lets connect() take it over, in
/// milliseconds (it came in 6.14). Before it, the rule was another: reuse once the monotonic
/// clock's second had moved on since the last timestamp the socket received
/// ([`crate::rules::TwReuse`]), which no value of this knob expresses.
pub const TCP_TW_REUSE_DELAY: Sysctl<u32> = Sysctl::new("net/ipv4/tcp_tw_reuse_delay").since(6, 14);
/// The CPUs a new device's receive queues steer packets to (RPS), as a hexadecimal mask; per
/// namespace in later kernels, absent before 6.2.
pub const RPS_DEFAULT_MASK: Sysctl<String> = Sysctl::new("net/core/rps_default_mask").since(6, 2);
/// The namespace's default congestion control algorithm, by name.
pub const TCP_CONGESTION_CONTROL: Sysctl<String> = Sysctl::new("net/ipv4/tcp_congestion_control");
/// IPv4 forwarding between interfaces.
pub const IP_FORWARD: Sysctl<bool> = Sysctl::new("net/ipv4/ip_forward");
/// IPv6 forwarding on every interface, present and future.
pub const IPV6_FORWARDING: Sysctl<bool> = Sysctl::new("net/ipv6/conf/all/forwarding");

/// Every typed sysctl above, by path, for snapshots and for checking that this kernel has them.
pub const KNOWN: &[&str] = &[
    TCP_SYN_RETRIES.path,
    TCP_SYNACK_RETRIES.path,
    TCP_SYN_LINEAR_TIMEOUTS.path,
    TCP_KEEPALIVE_TIME.path,
    TCP_KEEPALIVE_INTVL.path,
    TCP_KEEPALIVE_PROBES.path,
    TCP_ABORT_ON_OVERFLOW.path,
    SOMAXCONN.path,
    TCP_MAX_SYN_BACKLOG.path,
    TCP_SYNCOOKIES.path,
    IP_LOCAL_PORT_RANGE.path,
    TCP_TW_REUSE.path,
    TCP_RFC1337.path,
    TCP_MAX_TW_BUCKETS.path,
    TCP_TIMESTAMPS.path,
    TCP_SACK.path,
    TCP_WINDOW_SCALING.path,
    TCP_FIN_TIMEOUT.path,
    TCP_RETRIES1.path,
    TCP_RETRIES2.path,
    TCP_ORPHAN_RETRIES.path,
    TCP_EARLY_RETRANS.path,
    TCP_RTO_MIN_US.path,
    TCP_RTO_MAX_MS.path,
    TCP_TW_REUSE_DELAY.path,
    TCP_CONGESTION_CONTROL.path,
    IP_FORWARD.path,
    IPV6_FORWARDING.path,
];

/// Checks that `path` names a file below /proc/sys/net without leaving it.
///
/// Only `net/` is accepted: other sysctls are not per-namespace, so writing them from a host
/// would change the whole machine.
pub(crate) fn validate_path(host: &str, path: &str) -> Result<()> {
    let bad = |why: &str| Error::UnknownSysctl {
        host: host.to_owned(),
        path: path.to_owned(),
        why: why.to_owned(),
    };
    if !path.starts_with("net/") {
        return Err(bad(
            "only net/... sysctls are per-namespace; give a path below /proc/sys such as \
             net/ipv4/tcp_syn_retries",
        ));
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c != "."
            && c != ".."
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    };
    if !path.split('/').all(component_ok) {
        return Err(bad(
            "a path is slash-separated names of [A-Za-z0-9_.-], without '.' or '..' components",
        ));
    }
    Ok(())
}

/// Reads a sysctl from the calling thread's network namespace.
pub(crate) fn read_raw(host: &str, path: &str) -> Result<String> {
    validate_path(host, path)?;
    match std::fs::read_to_string(format!("/proc/sys/{path}")) {
        Ok(text) => Ok(text.trim_end().to_owned()),
        Err(e) => Err(io_error(host, path, None, e)),
    }
}

/// Writes a sysctl in the calling thread's network namespace.
pub(crate) fn write_raw(host: &str, path: &str, value: &str) -> Result<()> {
    validate_path(host, path)?;
    std::fs::write(format!("/proc/sys/{path}"), value)
        .map_err(|e| io_error(host, path, Some(value), e))
}

fn io_error(host: &str, path: &str, value: Option<&str>, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::UnknownSysctl {
            host: host.to_owned(),
            path: path.to_owned(),
            why: format!(
                "no /proc/sys/{path} in the host's namespace on this kernel (`ls /proc/sys/{}` lists what there is)",
                path.rsplit_once('/').map_or("net", |(dir, _)| dir)
            ),
        },
        _ => Error::SysctlValue {
            host: host.to_owned(),
            path: path.to_owned(),
            why: match value {
                Some(v) => format!("the kernel refused {v:?}: {e}"),
                None => format!("cannot read it: {e}"),
            },
        },
    }
}

pub(crate) fn parse<T: SysctlValue>(host: &str, knob: Sysctl<T>, text: &str) -> Result<T> {
    T::from_sysctl(text).ok_or_else(|| Error::SysctlValue {
        host: host.to_owned(),
        path: knob.path.to_owned(),
        why: format!("cannot parse {text:?} as {}", std::any::type_name::<T>()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range_round_trips() {
        let r = PortRange::from_sysctl("32768\t60999").unwrap();
        assert_eq!(
            r,
            PortRange {
                low: 32768,
                high: 60999
            }
        );
        assert_eq!(r.len(), 28232);
        assert_eq!(PortRange::from_sysctl(&r.to_sysctl()), Some(r));
        assert_eq!(PortRange::from_sysctl("1 2 3"), None);
        assert_eq!(PortRange::from_sysctl("1"), None);
    }

    #[test]
    fn paths_stay_below_proc_sys_net() {
        assert!(validate_path("h", "net/ipv4/tcp_syn_retries").is_ok());
        assert!(validate_path("h", "net/ipv4/conf/eth0.5/forwarding").is_ok());
        for bad in [
            "kernel/hostname",
            "net/../kernel/x",
            "net//x",
            "/net/ipv4/x",
            "net/ipv4/a b",
        ] {
            let err = validate_path("h", bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("host h"), "{err}");
        }
    }

    #[test]
    fn bool_is_strict() {
        assert_eq!(bool::from_sysctl("1"), Some(true));
        assert_eq!(bool::from_sysctl("2"), None);
    }
}
