//! The claims of ../shared/socket-notes.txt (listen(2), SO_LINGER, TIME_WAIT, keepalive, socket
//! addresses), quoted as the notes put them, one sentence or clause each: the cases declare
//! what they show of them ([`netcase::case::Def::shows`]) and the README's claims table lists
//! every one (`netcase claims`).

use netcase::claims::Claim;

/// Every claim, in the notes' order.
pub static NOTES: &[&Claim] = &[
    &LISTEN_QUEUE_LENGTH,
    &LISTEN_FULL_QUEUE,
    &LISTEN_ESTABLISHED_ONLY,
    &LISTEN_SYN_BACKLOG,
    &LISTEN_SOMAXCONN,
    &LISTEN_BSD_ONE_AND_A_HALF,
    &LISTEN_AGAIN,
    &LISTEN_TCP_SILENT_DROP,
    &LISTEN_NEGATIVE,
    &LINGER_OFF,
    &LINGER_ON_BLOCKS,
    &LINGER_ZERO,
    &LINGER_WAITS_FOR_ACK,
    &LINGER_NONBLOCKING,
    &TW_ACTIVE_CLOSER,
    &TW_ENTRY,
    &TW_2MSL,
    &TW_LINUX_MINUTE,
    &TW_PORT_RANGE,
    &TW_LIMITS_RATE,
    &TW_470_PER_SECOND,
    &KA_PROBE,
    &KA_DETECTS,
    &KA_RST_ON_DATA,
    &KA_NEVER_WITHOUT,
    &SA_IN,
    &SA_OUT,
    &SA_STRUCTS,
    &SA_INADDR_ANY,
    &SA_INADDR_BROADCAST,
    &SA_INADDR_NONE,
];

const LISTEN: &str = "listen()";
const LINGER: &str = "SO_LINGER";
const TW: &str = "TIME_WAIT";
const KA: &str = "keepalive";
const SA: &str = "socket addresses";

/// listen(2): the backlog bounds the pending connections.
pub static LISTEN_QUEUE_LENGTH: Claim = Claim::new(
    "listen.queue_length",
    LISTEN,
    "The backlog argument defines the maximum length to which the queue of pending connections \
     for sockfd may grow.",
);
/// listen(2): a full queue refuses or ignores.
pub static LISTEN_FULL_QUEUE: Claim = Claim::new(
    "listen.full_queue",
    LISTEN,
    "If a connection request arrives when the queue is full, the client may receive an error \
     with an indication of ECONNREFUSED or, if the underlying protocol supports retransmission, \
     the request may be ignored so that a later reattempt at connection succeeds.",
);
/// listen(2): the backlog counts established connections only.
pub static LISTEN_ESTABLISHED_ONLY: Claim = Claim::new(
    "listen.established_only",
    LISTEN,
    "backlog specifies the queue length for completely established sockets waiting to be \
     accepted, instead of the number of incomplete connection requests.",
);
/// listen(2): tcp_max_syn_backlog bounds the half-open ones.
pub static LISTEN_SYN_BACKLOG: Claim = Claim::new(
    "listen.tcp_max_syn_backlog",
    LISTEN,
    "The maximum length of the queue for incomplete sockets can be set using \
     /proc/sys/net/ipv4/tcp_max_syn_backlog.",
);
/// listen(2): somaxconn truncates, default 128.
pub static LISTEN_SOMAXCONN: Claim = Claim::new(
    "listen.somaxconn",
    LISTEN,
    "If the backlog argument is greater than the value in /proc/sys/net/core/somaxconn, then it \
     is silently truncated to that value; the default value in this file is 128.",
);
/// BSD's listen(2): 1.5 times the backlog.
pub static LISTEN_BSD_ONE_AND_A_HALF: Claim = Claim::new(
    "listen.bsd_one_and_a_half",
    LISTEN,
    "BSD: The real maximum queue length will be 1.5 times more than the value specified in the \
     backlog argument.",
);
/// BSD's listen(2): listen() again changes the backlog.
pub static LISTEN_AGAIN: Claim = Claim::new(
    "listen.again",
    LISTEN,
    "A subsequent listen() system call on the listening socket allows the caller to change the \
     maximum queue length using a new backlog argument.",
);
/// BSD's listen(2): TCP drops silently.
pub static LISTEN_TCP_SILENT_DROP: Claim = Claim::new(
    "listen.tcp_silent_drop",
    LISTEN,
    "If a connection request arrives with the queue full ... in the case of TCP, the connection \
     will be silently dropped.",
);
/// FreeBSD's listen(2): a negative backlog asks for the maximum.
pub static LISTEN_NEGATIVE: Claim = Claim::new(
    "listen.negative",
    LISTEN,
    "The ability ... to use a negative backlog to request the maximum allowable value, was \
     introduced in FreeBSD 2.2.",
);

/// SO_LINGER off.
pub static LINGER_OFF: Claim = Claim::new(
    "linger.off",
    LINGER,
    "l_onoff = 0 (default), then l_linger value is ignored and close returns immediately. But if \
     there is any data still remaining in the socket send buffer, the system will try to deliver \
     the data to the peer",
);
/// SO_LINGER on: close() blocks.
pub static LINGER_ON_BLOCKS: Claim = Claim::new(
    "linger.on_blocks",
    LINGER,
    "l_onoff = nonzero, then close blocks until data is transmitted or the l_linger timeout \
     period expires",
);
/// SO_LINGER {1, 0}.
pub static LINGER_ZERO: Claim = Claim::new(
    "linger.zero",
    LINGER,
    "l_linger = 0, TCP aborts connection, discards any data still remaining in the socket send \
     buffer and sends RST to peer. This avoids the TCP's TIME_WAIT state",
);
/// SO_LINGER {1, n}: waits for the acknowledgement.
pub static LINGER_WAITS_FOR_ACK: Claim = Claim::new(
    "linger.waits_for_ack",
    LINGER,
    "l_linger = nonzero ... If there is any pending data in the socket send buffer, the kernel \
     waits until all the data is sent and acknowledged by peer TCP, or the linger time expires",
);
/// SO_LINGER on a non-blocking socket.
pub static LINGER_NONBLOCKING: Claim = Claim::new(
    "linger.nonblocking",
    LINGER,
    "If a socket is set as nonblocking, it will not wait for close to complete even if linger \
     time is nonzero",
);

/// Who holds TIME_WAIT.
pub static TW_ACTIVE_CLOSER: Claim = Claim::new(
    "time_wait.active_closer",
    TW,
    "The end that performs active close i.e. the end that sends the first FIN goes into \
     TIME_WAIT state.",
);
/// When TIME_WAIT starts.
pub static TW_ENTRY: Claim = Claim::new(
    "time_wait.entry",
    TW,
    "After a FIN packet is sent to the peer and after that peers FIN/ACK arrvies and is ACKed, we \
     go into a TIME_WAIT state.",
);
/// TIME_WAIT as 2 MSL.
pub static TW_2MSL: Claim = Claim::new(
    "time_wait.2msl",
    TW,
    "The duration that the end point remains in this state is 2 x MSL ... This means a TIME_WAIT \
     delay is between 1 and 4 minutes.",
);
/// Linux's TIME_WAIT length.
pub static TW_LINUX_MINUTE: Claim = Claim::new(
    "time_wait.linux_minute",
    TW,
    "For Linux, the TIME_WAIT state duration is 1 minute (net/tcp.h): #define TCP_TIMEWAIT_LEN \
     (60*HZ)",
);
/// The default ephemeral range.
pub static TW_PORT_RANGE: Claim = Claim::new(
    "time_wait.port_range",
    TW,
    "On Linux, by default ephemeral ports are in the range of 32768 to 61000",
);
/// TIME_WAIT limits the connection rate.
pub static TW_LIMITS_RATE: Claim = Claim::new(
    "time_wait.limits_rate",
    TW,
    "TIME_WAIT state on client, combined with limited number of ephermeral ports available for \
     TCP connections severely limits the rate at which new connections to the server can be \
     created.",
);
/// The sustained rate.
pub static TW_470_PER_SECOND: Claim = Claim::new(
    "time_wait.470_per_second",
    TW,
    "So with a TIME_WAIT state duration of 1 minute, the maximum sustained rate for any client is \
     ~470 new connections per second",
);

/// What a keepalive probe is.
pub static KA_PROBE: Claim = Claim::new(
    "keepalive.probe",
    KA,
    "TCP keepalive packet (TCP packet with no data and the ACK flag turned on)",
);
/// Keepalive finds a vanished peer.
pub static KA_DETECTS: Claim = Claim::new(
    "keepalive.detects",
    KA,
    "if the remote peer goes away without closing their connection, the keepalive probe will \
     detect this and notice that the connection is broken even if there is no traffic on it.",
);
/// Data to a peer that forgot the connection.
pub static KA_RST_ON_DATA: Claim = Claim::new(
    "keepalive.rst_on_data",
    KA,
    "A tries to send data to B over a dead connection, and B replies with an RST packet, causing \
     A to finally close the connection.",
);
/// Without keepalive.
pub static KA_NEVER_WITHOUT: Claim = Claim::new(
    "keepalive.never_without",
    KA,
    "without a keepalive probe A would never close the connection if it never sent data over it.",
);

/// Addresses into the kernel.
pub static SA_IN: Claim = Claim::new(
    "addresses.in",
    SA,
    "There are four socket functions that pass a socket address structure from the process to \
     the kernel - bind, connect, sendmsg and sendto. These function are also responsible for \
     passing the length of the sockaddr",
);
/// Addresses out of the kernel.
pub static SA_OUT: Claim = Claim::new(
    "addresses.out",
    SA,
    "There are five socket functions that pass a socket from the kernel to the process - accept, \
     recvfrom, recvmsg, getpeername, getsockname. The kernel is also responsible for returning \
     the length of the sockaddr struct",
);
/// The address structures.
pub static SA_STRUCTS: Claim = Claim::new(
    "addresses.structs",
    SA,
    "Different sockaddr structs: 1. sockaddr_in 2. sockaddr_in6 3. sockaddr_un",
);
/// INADDR_ANY.
pub static SA_INADDR_ANY: Claim = Claim::new(
    "addresses.inaddr_any",
    SA,
    "/* Address to accept any incoming messages */ #define INADDR_ANY ((in_addr_t) 0x00000000)",
);
/// INADDR_BROADCAST.
pub static SA_INADDR_BROADCAST: Claim = Claim::new(
    "addresses.inaddr_broadcast",
    SA,
    "/* Address to send to all hosts */ #define INADDR_BROADCAST ((in_addr_t) 0xffffffff)",
);
/// INADDR_NONE.
pub static SA_INADDR_NONE: Claim = Claim::new(
    "addresses.inaddr_none",
    SA,
    "/* Address indicating an error return */ #define INADDR_NONE ((in_addr_t) 0xffffffff)",
);
