//! Errors as values: each says what was wrong, where, and what to do about it.

use std::{io, time::Duration};

/// Everything the harness can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process lacks a capability the harness needs.
    #[error(
        "netcase needs {missing} (it creates network namespaces and links): run as root, \
         for example `sudo -E cargo test`"
    )]
    Privileges {
        /// The missing capabilities, comma-separated (for example `CAP_SYS_ADMIN`).
        missing: String,
    },

    /// The same host name was declared twice in one topology.
    #[error("duplicate host name {0:?}: every host in a topology needs a name of its own")]
    DuplicateHost(String),

    /// A host name that is empty, too long, or has characters other than `[A-Za-z0-9_-]`.
    #[error("bad host name {name:?}: {why}")]
    BadHostName {
        /// The offending name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },

    /// A link, lookup or setting named a host the topology does not have.
    #[error("unknown host {name:?} in {context}; the hosts are: {known}")]
    UnknownHost {
        /// The name that was not found.
        name: String,
        /// Where it was used (for example `link client-server`).
        context: String,
        /// The declared host names, comma-separated.
        known: String,
    },

    /// A link that connects a host to itself, or a second link between the same two hosts.
    #[error("bad link {link}: {why}")]
    BadLink {
        /// The link, as `a-b`.
        link: String,
        /// What is wrong with it.
        why: String,
    },

    /// An address that does not parse, lies outside the test ranges, or does not fit its prefix.
    #[error("bad address {addr:?} on link {link}: {why}")]
    BadAddress {
        /// The address as given.
        addr: String,
        /// The link it was given for, as `a-b`.
        link: String,
        /// What is wrong with it and what would be right.
        why: String,
    },

    /// An MTU the link cannot carry.
    #[error("MTU {mtu} on link {link} is out of range: {why}")]
    MtuOutOfRange {
        /// The MTU as given, in octets.
        mtu: u32,
        /// The link, as `a-b`.
        link: String,
        /// The allowed range and why.
        why: String,
    },

    /// A sysctl path that is malformed, or that does not exist in the host's namespace.
    #[error("unknown sysctl {path:?} on host {host}: {why}")]
    UnknownSysctl {
        /// The host the sysctl was read or written on.
        host: String,
        /// The path below /proc/sys, as given.
        path: String,
        /// What is wrong: malformed, or absent on this kernel.
        why: String,
    },

    /// The kernel refused a sysctl value, or the value read back could not be parsed.
    #[error("sysctl {path} on host {host}: {why}")]
    SysctlValue {
        /// The host.
        host: String,
        /// The path below /proc/sys.
        path: String,
        /// What the kernel said or what could not be parsed.
        why: String,
    },

    /// A link was not created because the host that creates it failed first.
    #[error("link {link} was not created: host {host} failed first")]
    PeerFailed {
        /// The link, as `a-b`.
        link: String,
        /// The host that was to create it.
        host: String,
    },

    /// A netlink request failed.
    #[error("netlink {op} on host {host} failed: {source}")]
    Netlink {
        /// The request, for example `create veth eth0 (peer eth0 on server)`.
        op: String,
        /// The host whose namespace the request was sent in.
        host: String,
        /// The kernel's or the socket's error.
        #[source]
        source: rtnetlink::Error,
    },

    /// A system call failed.
    #[error("{what} failed: {source}")]
    Io {
        /// What was being done, naming the host where there is one.
        what: String,
        /// The error from the system call.
        #[source]
        source: io::Error,
    },

    /// The captured segments did not match an expectation; the report shows both side by side.
    #[error("{0}")]
    Expectation(crate::expect::Mismatch),

    /// An expectation file could not be read or parsed.
    #[error("{0}")]
    ExpectationFile(#[from] crate::expect::ParseError),

    /// A capture lost frames, so it cannot prove what was on the wire.
    #[error(
        "capture {pcap} lost {dropped} of {received} frames (the kernel's PACKET_STATISTICS): \
         it cannot show what was on the wire; nothing was checked"
    )]
    LossyCapture {
        /// The capture's pcap file.
        pcap: String,
        /// Frames the kernel dropped, a count.
        dropped: u64,
        /// Frames the kernel received for the capture, a count.
        received: u64,
    },

    /// The host's thread has stopped: the topology was dropped or is being torn down.
    #[error("host {0} has shut down: its topology was dropped")]
    HostGone(String),

    /// An impairment this kernel cannot do (for example a delay without `sch_netem`).
    #[error("this kernel cannot {what} ({link}): {why}")]
    Unsupported {
        /// What was asked for, for example `delay packets by 50ms`.
        what: String,
        /// The link direction, as `from>to`.
        link: String,
        /// What the kernel lacks and what to do about it.
        why: String,
    },

    /// Counters that did not move as a test said they would.
    #[error("counters of host {host}: {wrong} ({changed})")]
    Counters {
        /// The host.
        host: String,
        /// Each counter that moved otherwise, and by how much.
        wrong: String,
        /// Everything that changed.
        changed: String,
    },

    /// A sysctl this kernel does not have, set to a value a kernel without it cannot behave as.
    #[error("host {host}: {why}")]
    MissingSysctl {
        /// The host it was set on.
        host: String,
        /// The path below /proc/sys.
        path: String,
        /// The knob, the version that brought it, how the kernel behaves without it and what was
        /// asked.
        why: String,
    },

    /// A test that cannot run on this kernel or machine: its verdict is SKIP, with this reason.
    #[error("cannot run here: {0}")]
    Skip(String),

    /// Something the harness waited for did not happen before the deadline.
    #[error("timed out after {waited:?} waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the harness waited.
        waited: Duration,
        /// The last observed state, for the person reading the failure.
        last: String,
    },

    /// A counter name that no counter of the host has, or that several groups share.
    #[error("unknown counter {name:?} on host {host}: {why}")]
    UnknownCounter {
        /// The host whose counters were asked.
        host: String,
        /// The name as given.
        name: String,
        /// Close names, or the groups that share it, and how counters are named.
        why: String,
    },

    /// A socket the test looked for is not in the host's socket table: it is closed, or was
    /// never there.
    #[error("no {what} on host {host}; the host has: {seen}")]
    NoSocket {
        /// The host whose table was read.
        host: String,
        /// What was looked for, for example `a socket 198.18.0.1:80 -> 198.18.0.2:40000`.
        what: String,
        /// The sockets the host has, one per line.
        seen: String,
    },

    /// Two snapshots compared that come from different hosts.
    #[error(
        "cannot compare {what} of host {before} with {what} of host {after}: take both \
         snapshots on one host"
    )]
    MismatchedSnapshots {
        /// What was compared, for example `counters`.
        what: String,
        /// The host of the earlier snapshot.
        before: String,
        /// The host of the later snapshot.
        after: String,
    },
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// When this error says that the kernel lacks what a test needs (a sysctl, a qdisc), rather
    /// than that the kernel did something else: the reason of a SKIP, in one line.
    pub fn skip_reason(&self) -> Option<String> {
        match self {
            Error::MissingSysctl { why, .. } => Some(why.clone()),
            Error::Unsupported { what, why, .. } => {
                Some(format!("this kernel cannot {what}: {why}"))
            }
            Error::Skip(why) => Some(why.clone()),
            _ => None,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
