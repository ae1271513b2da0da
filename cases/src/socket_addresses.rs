//! Socket addresses: what the calls that pass an address to the kernel (bind, connect, sendto,
//! sendmsg) accept, and what the calls that pass one back (accept, recvfrom, recvmsg,
//! getsockname, getpeername) return, with their lengths, for `sockaddr_in`, `sockaddr_in6` and
//! `sockaddr_un`; the wildcard listener; the special IPv4 addresses.
//!
//! The notes this project started from say the kernel "returns back" socket addresses from accept,
//! getsockname and getpeername, and "is also responsible for returning the length of the sockaddr
//! struct". On Linux: a listener bound to the wildcard address reports the wildcard; the socket
//! accept() returns reports the concrete local address the client reached; an unbound client gets
//! the address of its outgoing interface and a port from its own host's
//! `net.ipv4.ip_local_port_range` (which governs IPv6 too). The length returned is the length of
//! the kernel's address, even when the caller's buffer was shorter (the address is then cut to the
//! buffer); for `sockaddr_un` it is the length of the name, not `sizeof(struct sockaddr_un)`, and a
//! datagram from an unbound unix socket comes with no address at all (length 0).
//!
//! The notes list `INADDR_ANY` (0), `INADDR_BROADCAST` and `INADDR_NONE` (both 0xffffffff) as
//! "special types of in_addr_t". Linux: one value cannot be both an address and an error, so
//! `inet_addr("255.255.255.255")` cannot be told from a failed parse; `connect()` to the wildcard
//! goes to loopback; TCP refuses a broadcast destination with `ENETUNREACH`; UDP refuses one with
//! `EACCES` until `SO_BROADCAST` is set — once a route exists: with no default route, the limited
//! broadcast 255.255.255.255 has none unless the socket names its source address or device, and
//! sendto() fails with `ENETUNREACH` first; and bind() to a broadcast address succeeds.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use netcase::{
    Family, Result, Topology,
    case::{Case, CaseInfo, Shape},
    decode::{self, Packet},
    expect::Expectation,
    observe::{Filter, TcpState},
    sysctl::{self, PortRange},
};
use socket2::{Domain, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use crate::{BOTH, Def, common::fixture};

use raw::{Addr, STORAGE, SUN_PATH, errno};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[
    &DIRECT,
    &ROUTED,
    &LENGTHS,
    &WILDCARD,
    &V4_MAPPED,
    &SPECIAL_IPV4,
    &UNIX,
];

/// Across one link.
pub static DIRECT: Def = Def {
    info: CaseInfo {
        name: "socket_addresses::seen_by_both_ends",
        summary: "bind, accept, getsockname and getpeername report the addresses each end really uses",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(50),
    },
    body: |case, net| Box::pin(seen_by_both_ends(case, net)),
};

/// The same through a router.
pub static ROUTED: Def = Def {
    info: CaseInfo {
        name: "socket_addresses::seen_through_a_router",
        summary: "the same through a router: the addresses are the hosts', never the router's",
        shape: Shape::Routed,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(50),
    },
    body: |case, net| Box::pin(seen_by_both_ends(case, net)),
};

/// The lengths the kernel takes and returns for `sockaddr_in` and `sockaddr_in6`, through every
/// call that carries an address.
///
/// The note: the kernel "is also responsible for returning the length of the sockaddr struct that
/// it returns back". Linux returns `sizeof(struct sockaddr_in)` (16) or `sizeof(struct
/// sockaddr_in6)` (28) from accept, getsockname, getpeername, recvfrom and recvmsg — also when the
/// caller's buffer is shorter: then it copies only what fits and still returns the full length, so
/// a returned length above the buffer's means a cut address. On the way in, it refuses a length
/// below the family's minimum with `EINVAL`: 16 for IPv4, but only 24 for IPv6
/// (`SIN6_LEN_RFC2133`, a `sockaddr_in6` without `sin6_scope_id`), and takes any longer length.
pub static LENGTHS: Def = Def {
    info: CaseInfo {
        name: "socket_addresses::lengths_in_and_out",
        summary: "bind/connect/sendto/sendmsg take, accept/getsockname/getpeername/recvfrom/recvmsg return, sockaddr_in (16) and sockaddr_in6 (28) lengths",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(300),
    },
    body: |case, net| Box::pin(lengths_in_and_out(case, net)),
};

/// A listener on the wildcard address is reached on every address of its host.
///
/// Linux: from the other host through the link address; from its own host through the link
/// address and loopback (the whole of 127.0.0.0/8 for IPv4, ::1 for IPv6), all of which go over
/// `lo`, never the link; and through the wildcard address itself, which connect() takes as
/// loopback (127.0.0.1, ::1). Each accepted socket reports the address the client reached, never
/// the wildcard. A listener bound to the link address is not reached through loopback
/// (`ECONNREFUSED`).
pub static WILDCARD: Def = Def {
    info: CaseInfo {
        name: "socket_addresses::wildcard_reached_on_every_address",
        summary: "a listener on INADDR_ANY / in6addr_any is reached via the link address, loopback and the wildcard itself; accept reports the address reached",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(300),
    },
    body: |case, net| Box::pin(wildcard_reached_on_every_address(case, net)),
};

/// An IPv6 listener on in6addr_any takes IPv4 clients unless `IPV6_V6ONLY` is set.
///
/// Linux: a new IPv6 socket's `IPV6_V6ONLY` is `net.ipv6.bindv6only` (0 by default). With 0, the
/// listener owns the port for IPv4 too (an IPv4 bind to the same port fails with `EADDRINUSE`),
/// accepts an IPv4 client, and reports it as the IPv4-mapped `::ffff:a.b.c.d` in a 28-octet
/// `sockaddr_in6` (its own local address too), while the client sees plain IPv4 and the wire
/// carries plain IPv4. With 1, an IPv4 socket can bind the same port, and an IPv4 client's SYN
/// finds no listener: RST, `ECONNREFUSED`. Runs over IPv6 only: it is the IPv6 listener's case
/// (its IPv4 client is part of it).
pub static V4_MAPPED: Def = Def {
    info: CaseInfo {
        name: "socket_addresses::v4_mapped_on_a_v6_wildcard",
        summary: "an in6addr_any listener with IPV6_V6ONLY=0 accepts IPv4 clients as ::ffff:a.b.c.d (IPv4 on the wire), with =1 refuses them (IPv6 only)",
        shape: Shape::Pair,
        families: &[Family::V6],
        needs: &[],
        expected: Duration::from_millis(300),
    },
    body: |case, net| Box::pin(v4_mapped_on_a_v6_wildcard(case, net)),
};

/// `INADDR_ANY`, `INADDR_BROADCAST` and `INADDR_NONE`: their values, and what connect(), sendto()
/// and bind() do with them.
///
/// The note: `INADDR_BROADCAST` is the "address to send to all hosts" and `INADDR_NONE`, the same
/// 0xffffffff, the "address indicating an error return". Linux (and glibc): `inet_addr` returns
/// the same value for "255.255.255.255" and for text that is no address. TCP connect() to the
/// limited or the subnet broadcast fails with `ENETUNREACH` (`tcp_v4_connect` refuses
/// `RTCF_BROADCAST` routes), `SO_BROADCAST` or not, and sends nothing. UDP sendto() to a broadcast
/// fails with `EACCES` without `SO_BROADCAST` and succeeds with it — but on a host without a
/// default route the limited broadcast has no route unless the socket has a source address (bound)
/// or device: unbound, sendto() to 255.255.255.255 fails with `ENETUNREACH`. bind() to
/// 255.255.255.255 or to the subnet broadcast succeeds (`inet_addr_valid_or_nonlocal` takes
/// `RTN_BROADCAST`), to a foreign unicast address fails with `EADDRNOTAVAIL`. A UDP connect() to
/// `INADDR_ANY` connects to 127.0.0.1. IPv4 only: these are IPv4 addresses.
pub static SPECIAL_IPV4: Def = Def {
    info: CaseInfo {
        name: "socket_addresses::special_ipv4_addresses",
        summary: "INADDR_ANY=0, INADDR_BROADCAST=INADDR_NONE=0xffffffff; connect/sendto/bind with them: ENETUNREACH, EACCES, success (IPv4 only)",
        shape: Shape::Pair,
        families: &[Family::V4],
        needs: &[],
        expected: Duration::from_millis(300),
    },
    body: |case, net| Box::pin(special_ipv4_addresses(case, net)),
};

/// The lengths of `sockaddr_un`: path, abstract and unnamed.
///
/// Linux: getsockname of a socket bound to a path returns `offsetof(sun_path) + strlen + 1`,
/// whatever length bind() was given; of an abstract name, exactly the length bind() was given
/// (trailing NULs are part of the name); of an autobound socket (bind() with only the family),
/// `offsetof(sun_path) + 1 + 5` (five hex digits); of an unnamed socket (socketpair, an unbound
/// client), `sizeof(sa_family_t)`, 2 — and accept() returns 2 for an unbound client. A datagram
/// from an unbound socket comes with no address: recvfrom returns length 0, not 2. Path names
/// cross network namespaces (a client in the other host reaches them); abstract names do not
/// (each network namespace has its own: the same name binds in both hosts, and the other host's
/// connect() is refused). Unix sockets have no IP family: this case runs once, under IPv4.
pub static UNIX: Def = Def {
    info: CaseInfo {
        name: "socket_addresses::unix_lengths",
        summary: "sockaddr_un lengths for path, abstract, autobound and unnamed sockets; abstract names are per network namespace (family-less: runs under IPv4 only)",
        shape: Shape::Pair,
        families: &[Family::V4],
        needs: &[],
        expected: Duration::from_millis(100),
    },
    body: |case, net| Box::pin(unix_lengths(case, net)),
};

/// How long any one blocking socket call may wait before the case fails rather than hangs.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// `sizeof(struct sockaddr_in)`, in octets.
const SIN_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
/// `sizeof(struct sockaddr_in6)`, in octets.
const SIN6_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
/// The kernel's `SIN6_LEN_RFC2133`: a `sockaddr_in6` without `sin6_scope_id`, in octets; the
/// shortest length bind() and connect() take for IPv6.
const SIN6_LEN_RFC2133: libc::socklen_t = 24;
/// `sizeof(struct sockaddr_un)`, in octets.
const SUN_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
/// `sizeof(sa_family_t)`, in octets.
const FAMILY_LEN: libc::socklen_t = std::mem::size_of::<libc::sa_family_t>() as libc::socklen_t;

/// The length of the family's `sockaddr`, and the shortest length bind() and connect() take.
fn lengths(family: Family) -> (libc::socklen_t, libc::socklen_t) {
    match family {
        Family::V4 => (SIN_LEN, SIN_LEN),
        Family::V6 => (SIN6_LEN, SIN6_LEN_RFC2133),
    }
}

fn domain(family: Family) -> Domain {
    match family {
        Family::V4 => Domain::IPV4,
        Family::V6 => Domain::IPV6,
    }
}

fn wildcard(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn loopback(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Family::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// A new socket whose blocking calls give up after [`CALL_TIMEOUT`]. Call it inside the host.
fn socket(domain: Domain, ty: Type) -> Socket {
    let s = Socket::new(domain, ty, None).expect("socket");
    s.set_read_timeout(Some(CALL_TIMEOUT)).expect("SO_RCVTIMEO");
    s.set_write_timeout(Some(CALL_TIMEOUT))
        .expect("SO_SNDTIMEO");
    s
}

/// `addr` with an IPv4 address as IPv4-mapped IPv6, as an IPv6 socket reports it.
fn mapped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        v6 => v6,
    }
}

async fn seen_by_both_ends(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let ports = PortRange {
        low: 40000,
        high: 40009,
    };
    net.host("client")?
        .set(sysctl::IP_LOCAL_PORT_RANGE, ports)
        .await?;

    let wildcard = match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let listener = net
        .host("server")?
        .spawn(async move { TcpListener::bind(SocketAddr::new(wildcard, 6000)).await })
        .await?
        .expect("bind to the wildcard address");
    assert_eq!(
        listener.local_addr().expect("getsockname"),
        SocketAddr::new(wildcard, 6000)
    );

    let server_addr = net.socket_addr("server", family, 6000)?;
    let accepted = net.host("server")?.spawn(async move {
        let (stream, peer) = listener.accept().await.expect("accept");
        (
            stream.local_addr().expect("getsockname"),
            peer,
            stream.peer_addr().expect("getpeername"),
        )
    });
    let (client_local, client_peer) = net
        .host("client")?
        .spawn(async move {
            let stream = TcpStream::connect(server_addr).await.expect("connect");
            (
                stream.local_addr().expect("getsockname"),
                stream.peer_addr().expect("getpeername"),
            )
        })
        .await?;
    let (server_local, accept_peer, server_peer) = accepted.await?;

    assert_eq!(client_local.ip(), net.addr("client", family)?);
    assert!(
        (ports.low..=ports.high).contains(&client_local.port()),
        "ephemeral port {} outside the client's range {ports:?}",
        client_local.port()
    );
    assert_eq!(client_peer, server_addr);
    assert_eq!(
        server_local, server_addr,
        "accept() gives the concrete local address"
    );
    assert_eq!(accept_peer, client_local);
    assert_eq!(server_peer, client_local);
    Ok(())
}

async fn lengths_in_and_out(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let (full, min) = lengths(family);
    let server_tcp = net.socket_addr("server", family, 7000)?;
    let server_udp = net.socket_addr("server", family, 7001)?;
    let client_ip = net.addr("client", family)?;
    let (server, client) = (net.host("server")?, net.host("client")?);
    let expectation = Expectation::load(
        fixture("socket_addresses_one_connection.expect"),
        &client.settings().await?,
    )?;
    let before = server.counters().await?;
    let recording = net.record(&["client"]).await?;

    let (listener, udp) = server
        .run(move || {
            let listener = socket(domain(family), Type::STREAM);
            let unbound = raw::getsockname(&listener, STORAGE).expect("getsockname, unbound");
            assert_eq!(
                (unbound.len, unbound.socket_addr()),
                (full, Some(SocketAddr::new(wildcard(family), 0))),
                "an unbound socket: the wildcard, port 0, the family's full length"
            );
            let short = Addr::ip(server_tcp).with_len(min - 1);
            assert_eq!(
                errno(raw::bind(&listener, &short)),
                Some(libc::EINVAL),
                "bind with {} octets",
                min - 1
            );
            raw::bind(&listener, &Addr::ip(server_tcp).with_len(min))
                .expect("bind with the shortest length the kernel takes");
            let bound = raw::getsockname(&listener, STORAGE).expect("getsockname");
            assert_eq!((bound.len, bound.socket_addr()), (full, Some(server_tcp)));
            listener.listen(8).expect("listen");
            let udp = socket(domain(family), Type::DGRAM);
            raw::bind(&udp, &Addr::ip(server_udp).with_len(STORAGE))
                .expect("bind with sizeof(struct sockaddr_storage): a longer length is taken");
            (listener, udp)
        })
        .await?;

    let (stream, local, peer, cut, client_udp, udp_local) = client
        .run(move || {
            let stream = socket(domain(family), Type::STREAM);
            let short = Addr::ip(server_tcp).with_len(min - 1);
            assert_eq!(
                errno(raw::connect(&stream, &short)),
                Some(libc::EINVAL),
                "connect with {} octets",
                min - 1
            );
            raw::connect(&stream, &Addr::ip(server_tcp).with_len(min))
                .expect("connect with the shortest length the kernel takes");
            let local = raw::getsockname(&stream, STORAGE).expect("getsockname");
            let peer = raw::getpeername(&stream, STORAGE).expect("getpeername");
            let cut = raw::getpeername(&stream, 8).expect("getpeername into 8 octets");
            let udp = socket(domain(family), Type::DGRAM);
            let sent = raw::sendto(&udp, b"sendto", &Addr::ip(server_udp)).expect("sendto");
            assert_eq!(sent, 6);
            let sent = raw::sendmsg(&udp, b"sendmsg", &Addr::ip(server_udp)).expect("sendmsg");
            assert_eq!(sent, 7);
            let udp_local = raw::getsockname(&udp, STORAGE).expect("getsockname");
            (stream, local, peer, cut, udp, udp_local)
        })
        .await?;

    let (conn, accepted_peer, accepted_local, from, msg_from, udp) = server
        .run(move || {
            let (conn, peer) = raw::accept(&listener, STORAGE).expect("accept");
            let local = raw::getsockname(&conn, STORAGE).expect("getsockname");
            let (data, from) = raw::recvfrom(&udp, STORAGE).expect("recvfrom");
            assert_eq!(data, b"sendto");
            let (data, msg_from) = raw::recvmsg(&udp, STORAGE).expect("recvmsg");
            assert_eq!(data, b"sendmsg");
            (conn, peer, local, from, msg_from, udp)
        })
        .await?;
    let recorded = recording.stop().await?;
    let delta = server.counters().await?.since(&before)?;
    drop((stream, conn, client_udp, udp));

    let returned = [
        ("getsockname (client)", local),
        ("getpeername (client)", peer),
        ("accept", accepted_peer),
        ("getsockname (accepted)", accepted_local),
        ("recvfrom", from),
        ("recvmsg", msg_from),
        ("getsockname (UDP client)", udp_local),
    ];
    for (call, addr) in &returned {
        assert_eq!(addr.len, full, "{call} returns the family's full length");
        assert_eq!(addr.family(), raw::family_of(family), "{call}: the family");
    }
    let get = |a: &Addr| a.socket_addr().expect("an IP address");
    assert_eq!(get(&local).ip(), client_ip);
    assert_eq!(get(&peer), server_tcp);
    assert_eq!(get(&accepted_peer), get(&local));
    assert_eq!(get(&accepted_local), server_tcp);
    assert_eq!(
        get(&udp_local).ip(),
        wildcard(family),
        "an unconnected UDP socket's autobind"
    );
    assert_eq!(
        get(&from),
        SocketAddr::new(client_ip, get(&udp_local).port())
    );
    assert_eq!(get(&msg_from), get(&from));

    // Into 8 octets: the full length comes back, the family and port were written, and nothing
    // past the buffer (the bytes were filled with 0xAA before the call).
    assert_eq!(cut.len, full, "a cut address still returns the full length");
    assert_eq!(cut.family(), raw::family_of(family));
    assert_eq!(cut.port(), server_tcp.port());
    assert!(
        cut.bytes()[8..].iter().all(|&b| b == raw::FILL),
        "the kernel wrote past the 8 octets given: {:?}",
        cut.bytes()
    );

    assert_eq!(delta.get("Tcp.PassiveOpens")?, 1, "{delta}");
    let udp_in = match family {
        Family::V4 => "Udp.InDatagrams",
        Family::V6 => "Udp6.InDatagrams",
    };
    assert_eq!(delta.get(udp_in)?, 2, "{delta}");
    recorded.check(&net, "client", &expectation)?;

    case.figure(
        "returned_addrlen",
        &returned.map(|(_, a)| f64::from(a.len)),
        "octets",
    );
    case.figure("shortest_accepted_addrlen", &[f64::from(min)], "octets");
    case.figure("cut_getpeername_addrlen", &[f64::from(cut.len)], "octets");
    Ok(())
}

/// Connects from the current host to `to` and returns the socket with its local and peer address.
fn connect_from_here(family: Family, to: SocketAddr) -> std::io::Result<(Socket, Addr, Addr)> {
    let stream = socket(domain(family), Type::STREAM);
    raw::connect(&stream, &Addr::ip(to))?;
    let local = raw::getsockname(&stream, STORAGE)?;
    let peer = raw::getpeername(&stream, STORAGE)?;
    Ok((stream, local, peer))
}

async fn wildcard_reached_on_every_address(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let (full, _) = lengths(family);
    let (server, client) = (net.host("server")?, net.host("client")?);
    let server_ip = net.addr("server", family)?;
    let client_ip = net.addr("client", family)?;
    let (any, lo) = (wildcard(family), loopback(family));
    let expectation = Expectation::load(
        fixture("socket_addresses_one_connection.expect"),
        &client.settings().await?,
    )?;

    // (who connects, to which address, the local address accept() must report, the client's
    // source address)
    let mut targets = vec![
        ("client", server_ip, server_ip, client_ip),
        ("server", server_ip, server_ip, server_ip),
        ("server", lo, lo, lo),
        ("server", any, lo, lo),
    ];
    if family == Family::V4 {
        // The local route 127.0.0.0/8 on lo, with 127.0.0.1 as its preferred source.
        let other = IpAddr::V4(Ipv4Addr::new(127, 1, 2, 3));
        targets.push(("server", other, other, lo));
    }

    let listeners = server
        .run(move || {
            let listen = |addr: SocketAddr| {
                let s = socket(domain(family), Type::STREAM);
                if family == Family::V6 {
                    // IPv6 alone: the v4-mapped side is the case v4_mapped_on_a_v6_wildcard.
                    s.set_only_v6(true).expect("IPV6_V6ONLY");
                }
                raw::bind(&s, &Addr::ip(addr)).expect("bind");
                s.listen(16).expect("listen");
                s
            };
            let wild = listen(SocketAddr::new(any, 7000));
            let name = raw::getsockname(&wild, STORAGE).expect("getsockname");
            assert_eq!(
                (name.len, name.socket_addr()),
                (full, Some(SocketAddr::new(any, 7000)))
            );
            (wild, listen(SocketAddr::new(server_ip, 7001)))
        })
        .await?;
    let listeners = Arc::new(listeners);
    let before = server.counters().await?;
    let recording = net.record(&["client"]).await?;

    let mut kept = Vec::new();
    let mut reached = Vec::new();
    for &(from, to, local_expected, source) in &targets {
        let to = SocketAddr::new(to, 7000);
        let (stream, local, peer) = net
            .host(from)?
            .run(move || connect_from_here(family, to))
            .await?
            .unwrap_or_else(|e| panic!("connect from {from} to {to}: {e}"));
        let l = listeners.clone();
        let (conn, accepted_peer, accepted_local) = server
            .run(move || {
                let (conn, peer) = raw::accept(&l.0, STORAGE).expect("accept");
                let local = raw::getsockname(&conn, STORAGE).expect("getsockname");
                (conn, peer, local)
            })
            .await?;
        let ip = |a: &Addr| a.socket_addr().expect("an IP address");
        assert_eq!(
            ip(&local).ip(),
            source,
            "{from} -> {to}: the client's source address"
        );
        assert_eq!(
            ip(&peer),
            SocketAddr::new(local_expected, 7000),
            "{from} -> {to}: getpeername on the client"
        );
        assert_eq!(
            ip(&accepted_local),
            SocketAddr::new(local_expected, 7000),
            "{from} -> {to}: accept()ed socket's local address is the one reached, not the wildcard"
        );
        assert_eq!(
            ip(&accepted_peer),
            ip(&local),
            "{from} -> {to}: accept()'s peer"
        );
        for a in [local, peer, accepted_local, accepted_peer] {
            assert_eq!(a.len, full);
        }
        reached.push(ip(&accepted_local));
        kept.push((stream, conn));
    }

    // The listener on the link address is not reached through loopback, nor through the wildcard
    // (which is loopback); it is through its own address, also from its own host.
    let l = listeners.clone();
    let (refused, via_link) = server
        .run(move || {
            let refused =
                [lo, any].map(|ip| errno(connect_from_here(family, SocketAddr::new(ip, 7001))));
            let via_link = connect_from_here(family, SocketAddr::new(server_ip, 7001))
                .expect("connect to the bound address");
            let (conn, _) = raw::accept(&l.1, STORAGE).expect("accept");
            (refused, (via_link, conn))
        })
        .await?;
    assert_eq!(
        refused,
        [Some(libc::ECONNREFUSED); 2],
        "connect to {lo} and {any}, port 7001"
    );

    let table = server
        .sockets_matching(Filter::all().local_port(7000))
        .await?;
    let listener = table.listener(SocketAddr::new(any, 7000))?;
    assert_eq!(listener.state, TcpState::Listen);
    let mut seen: Vec<SocketAddr> = table
        .in_state(TcpState::Established)
        .map(|s| s.local)
        .collect();
    let mut wanted = reached.clone();
    seen.sort();
    wanted.sort();
    assert_eq!(
        seen, wanted,
        "sock_diag: the accepted sockets' local addresses\n{table:?}"
    );

    let recorded = recording.stop().await?;
    let delta = server.counters().await?.since(&before)?;
    let local_connects = targets.iter().filter(|t| t.0 == "server").count() as i64 + 3;
    let accepted = targets.len() as i64 + 1;
    assert_eq!(delta.get("Tcp.PassiveOpens")?, accepted, "{delta}");
    assert_eq!(delta.get("Tcp.ActiveOpens")?, local_connects, "{delta}");
    assert_eq!(
        delta.get("Tcp.AttemptFails")?,
        2,
        "the two refused connects\n{delta}"
    );
    assert_eq!(
        delta.get("Tcp.OutRsts")?,
        2,
        "the RSTs that refused them\n{delta}"
    );

    // Only the client's connection crossed the link.
    recorded.check(&net, "client", &expectation)?;
    let packets = recorded
        .on("client")?
        .packets(&net, netcase::capture::Zero::FirstSyn);
    for s in decode::segments(&packets) {
        let ends = [s.src.ip(), s.dst.ip()];
        assert!(
            ends.contains(&client_ip) && ends.contains(&server_ip),
            "a segment on the link not between the two hosts: {s}"
        );
    }
    drop((kept, via_link));

    case.figure("connections_accepted", &[accepted as f64], "connections");
    case.figure("addresses_reached", &[reached.len() as f64], "addresses");
    Ok(())
}

async fn v4_mapped_on_a_v6_wildcard(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (server, client) = (net.host("server")?, net.host("client")?);
    let server_v4 = net.socket_addr("server", Family::V4, 7000)?;
    let server_v6 = net.socket_addr("server", Family::V6, 7000)?;
    let refused_at = net.socket_addr("server", Family::V4, 7001)?;
    let (client_v4, client_v6) = (
        net.addr("client", Family::V4)?,
        net.addr("client", Family::V6)?,
    );
    let bindv6only: u8 = server
        .get_raw("net/ipv6/bindv6only")
        .await?
        .parse()
        .expect("net.ipv6.bindv6only is a number");
    let expectation = Expectation::load(
        fixture("socket_addresses_v4_mapped.expect"),
        &client.settings().await?,
    )?;
    let (server_before, client_before) = (server.counters().await?, client.counters().await?);
    let recording = net.record(&["client"]).await?;

    let (dual, only6) = server
        .run(move || {
            let fresh = socket(Domain::IPV6, Type::STREAM);
            assert_eq!(
                fresh.only_v6().expect("IPV6_V6ONLY"),
                bindv6only != 0,
                "a new IPv6 socket's IPV6_V6ONLY is net.ipv6.bindv6only ({bindv6only})"
            );
            let any6 = |port| SocketAddr::new(wildcard(Family::V6), port);
            let any4 = |port| SocketAddr::new(wildcard(Family::V4), port);

            let dual = socket(Domain::IPV6, Type::STREAM);
            dual.set_only_v6(false).expect("IPV6_V6ONLY=0");
            raw::bind(&dual, &Addr::ip(any6(7000))).expect("bind [::]:7000");
            dual.listen(8).expect("listen");
            let v4 = socket(Domain::IPV4, Type::STREAM);
            assert_eq!(
                errno(raw::bind(&v4, &Addr::ip(any4(7000)))),
                Some(libc::EADDRINUSE),
                "the dual-stack listener owns IPv4 port 7000 too"
            );

            let only6 = socket(Domain::IPV6, Type::STREAM);
            only6.set_only_v6(true).expect("IPV6_V6ONLY=1");
            raw::bind(&only6, &Addr::ip(any6(7001))).expect("bind [::]:7001");
            only6.listen(8).expect("listen");
            let v4 = socket(Domain::IPV4, Type::STREAM);
            raw::bind(&v4, &Addr::ip(any4(7001)))
                .expect("an IPV6_V6ONLY listener leaves IPv4 port 7001 free to bind");
            (dual, only6)
        })
        .await?;

    let (streams, v4_local, v4_peer, v6_local, refused) = client
        .run(move || {
            let (a, a_local, a_peer) =
                connect_from_here(Family::V4, server_v4).expect("IPv4 connect to [::]:7000");
            let (b, b_local, _) =
                connect_from_here(Family::V6, server_v6).expect("IPv6 connect to [::]:7000");
            let refused = errno(connect_from_here(Family::V4, refused_at));
            ((a, b), a_local, a_peer, b_local, refused)
        })
        .await?;
    assert_eq!(
        refused,
        Some(libc::ECONNREFUSED),
        "IPv4 connect to the IPV6_V6ONLY listener's port"
    );
    // The client sees plain IPv4.
    assert_eq!((v4_local.len, v4_peer.len), (SIN_LEN, SIN_LEN));
    let v4_local = v4_local.socket_addr().expect("IPv4");
    assert_eq!(v4_local.ip(), client_v4);
    assert_eq!(v4_peer.socket_addr(), Some(server_v4));
    let v6_local = v6_local.socket_addr().expect("IPv6");
    assert_eq!(v6_local.ip(), client_v6);

    let accepted = server
        .run(move || {
            let mut out = Vec::new();
            for _ in 0..2 {
                let (conn, peer) = raw::accept(&dual, STORAGE).expect("accept");
                let local = raw::getsockname(&conn, STORAGE).expect("getsockname");
                let domain = conn.domain().expect("SO_DOMAIN");
                out.push((conn, peer, local, domain));
            }
            (out, dual, only6)
        })
        .await?;
    let (conns, _dual, _only6) = accepted;
    // The accept queue is in arrival order: the IPv4 client first.
    let (_, peer, local, domain4) = &conns[0];
    assert_eq!(
        *domain4,
        Domain::IPV6,
        "the accepted socket of an IPv4 client is an IPv6 socket"
    );
    assert_eq!(
        (peer.len, local.len),
        (SIN6_LEN, SIN6_LEN),
        "sockaddr_in6 lengths"
    );
    assert_eq!(peer.family(), libc::AF_INET6);
    assert_eq!(
        peer.socket_addr(),
        Some(mapped(v4_local)),
        "accept(): ::ffff:a.b.c.d"
    );
    assert_eq!(
        local.socket_addr(),
        Some(mapped(server_v4)),
        "getsockname: ::ffff:a.b.c.d"
    );
    let (_, peer, local, _) = &conns[1];
    assert_eq!(peer.socket_addr(), Some(v6_local));
    assert_eq!(local.socket_addr(), Some(server_v6));

    let table = server
        .sockets_matching(Filter::all().state(TcpState::Established).local_port(7000))
        .await?;
    let diag = table.find(mapped(server_v4), mapped(v4_local))?;
    assert_eq!(
        diag.family,
        Family::V6,
        "sock_diag: an IPv6 socket carrying IPv4\n{table:?}"
    );

    let recorded = recording.stop().await?;
    let server_delta = server.counters().await?.since(&server_before)?;
    let client_delta = client.counters().await?.since(&client_before)?;
    drop((streams, conns));
    assert_eq!(server_delta.get("Tcp.PassiveOpens")?, 2, "{server_delta}");
    assert_eq!(
        server_delta.get("Tcp.OutRsts")?,
        1,
        "the refusing RST\n{server_delta}"
    );
    assert_eq!(client_delta.get("Tcp.AttemptFails")?, 1, "{client_delta}");

    // On the wire, the IPv4 client's connection is IPv4 from end to end, the refused one too.
    recorded.check(&net, "client", &expectation)?;
    let packets = recorded
        .on("client")?
        .packets(&net, netcase::capture::Zero::FirstSyn);
    // Each connection by its addresses as the client saw them: IPv4 ones carry IPv4 on the wire,
    // and no IPv4-mapped address ever leaves the host.
    let connections = [
        (v4_local, server_v4),
        (v6_local, server_v6),
        (SocketAddr::new(client_v4, 0), refused_at),
    ];
    let mut by_family = [0u32; 2];
    for s in decode::segments(&packets) {
        let (c, srv) = if s.from == "client" {
            (s.src, s.dst)
        } else {
            (s.dst, s.src)
        };
        let known = connections.iter().any(|&(lc, ls)| {
            lc.ip() == c.ip() && (lc.port() == 0 || lc.port() == c.port()) && ls == srv
        });
        assert!(known, "a segment of no connection of this case: {s}");
        for ip in [s.src.ip(), s.dst.ip()] {
            if let IpAddr::V6(v6) = ip {
                assert!(
                    v6.to_ipv4_mapped().is_none(),
                    "a v4-mapped address on the wire: {s}"
                );
            }
        }
        by_family[usize::from(s.family() == Family::V6)] += 1;
    }
    // IPv4: the mapped connection's handshake (3) and the refused SYN with its RST (2); IPv6: the
    // other handshake (3).
    assert!(
        by_family[0] >= 5 && by_family[1] >= 3,
        "segments by family {by_family:?}"
    );
    case.figure("accepted_v4_mapped", &[1.0], "connections");
    case.figure("accepted_addrlen", &[f64::from(SIN6_LEN)], "octets");
    case.figure("segments_v4_v6", &by_family.map(f64::from), "segments");
    Ok(())
}

unsafe extern "C" {
    /// glibc's `inet_addr(3)`: dotted-quad text to an address in network order, or `INADDR_NONE`.
    fn inet_addr(cp: *const libc::c_char) -> libc::in_addr_t;
}

async fn special_ipv4_addresses(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    // The values.
    assert_eq!(libc::INADDR_ANY, 0);
    assert_eq!(libc::INADDR_BROADCAST, 0xffff_ffff);
    assert_eq!(
        libc::INADDR_NONE,
        libc::INADDR_BROADCAST,
        "one value, two meanings"
    );
    assert_eq!(u32::from(Ipv4Addr::UNSPECIFIED), libc::INADDR_ANY);
    assert_eq!(u32::from(Ipv4Addr::BROADCAST), libc::INADDR_BROADCAST);
    // SAFETY: NUL-terminated strings.
    let (broadcast, garbage) = unsafe {
        (
            inet_addr(c"255.255.255.255".as_ptr()),
            inet_addr(c"no address".as_ptr()),
        )
    };
    assert_eq!(
        (broadcast, garbage),
        (libc::INADDR_NONE, libc::INADDR_NONE),
        "inet_addr cannot tell the broadcast address from an error"
    );

    let (server, client) = (net.host("server")?, net.host("client")?);
    let client_ip = net.addr("client", Family::V4)?;
    let link = net
        .link("client", "server")?
        .end("client")?
        .net(Family::V4)
        .expect("an IPv4 subnet");
    let (IpAddr::V4(subnet_broadcast), IpAddr::V4(network)) = (link.broadcast(), link.network())
    else {
        unreachable!("an IPv4 subnet has IPv4 addresses")
    };
    // In the link's subnet, and no host's.
    let foreign = Ipv4Addr::from(u32::from(network) + 77);
    let limited = Ipv4Addr::BROADCAST;
    let (client_before, server_before) = (client.counters().await?, server.counters().await?);
    let recording = net.record(&["client"]).await?;

    let receiver = server
        .run(|| {
            let udp = socket(Domain::IPV4, Type::DGRAM);
            raw::bind(&udp, &Addr::ip(SocketAddr::new(wildcard(Family::V4), 7001))).expect("bind");
            udp
        })
        .await?;

    let found = client
        .run(move || {
            let at = |ip: Ipv4Addr, port| SocketAddr::new(IpAddr::V4(ip), port);
            let tcp_connect = |to: Ipv4Addr, broadcast: bool| {
                let s = socket(Domain::IPV4, Type::STREAM);
                s.set_broadcast(broadcast).expect("SO_BROADCAST");
                errno(raw::connect(&s, &Addr::ip(at(to, 7000))))
            };
            let tcp = [
                tcp_connect(limited, false),
                tcp_connect(subnet_broadcast, false),
                tcp_connect(limited, true),
                tcp_connect(subnet_broadcast, true),
            ];
            let udp_send = |to: Ipv4Addr, bound: bool, broadcast: bool, what: &[u8]| {
                let s = socket(Domain::IPV4, Type::DGRAM);
                if bound {
                    raw::bind(&s, &Addr::ip(SocketAddr::new(client_ip, 0)))
                        .expect("bind the client's address");
                }
                s.set_broadcast(broadcast).expect("SO_BROADCAST");
                errno(raw::sendto(&s, what, &Addr::ip(at(to, 7001))))
            };
            let udp = [
                udp_send(limited, false, false, b"-"),
                udp_send(limited, true, false, b"-"),
                udp_send(limited, true, true, b"limited"),
                udp_send(subnet_broadcast, false, false, b"-"),
                udp_send(subnet_broadcast, false, true, b"subnet"),
            ];
            let bind = |ty: Type, ip: Ipv4Addr| {
                let s = socket(Domain::IPV4, ty);
                let result = raw::bind(&s, &Addr::ip(at(ip, 7002)));
                let name = result.as_ref().ok().map(|()| {
                    raw::getsockname(&s, STORAGE)
                        .expect("getsockname")
                        .socket_addr()
                });
                (errno(result), name.flatten())
            };
            let binds = [
                bind(Type::DGRAM, limited),
                bind(Type::STREAM, limited),
                bind(Type::DGRAM, subnet_broadcast),
                bind(Type::STREAM, subnet_broadcast),
                bind(Type::STREAM, foreign),
                bind(Type::STREAM, Ipv4Addr::UNSPECIFIED),
            ];
            let connected = socket(Domain::IPV4, Type::DGRAM);
            raw::connect(&connected, &Addr::ip(at(Ipv4Addr::UNSPECIFIED, 7003)))
                .expect("UDP connect to INADDR_ANY");
            let peer = raw::getpeername(&connected, STORAGE).expect("getpeername");
            (tcp, udp, binds, peer.socket_addr())
        })
        .await?;
    let (tcp, udp, binds, any_peer) = found;

    let enetunreach = Some(libc::ENETUNREACH);
    assert_eq!(
        tcp, [enetunreach; 4],
        "TCP connect to {limited} and {subnet_broadcast}, without and with SO_BROADCAST"
    );
    assert_eq!(
        udp,
        [
            enetunreach,
            Some(libc::EACCES),
            None,
            Some(libc::EACCES),
            None
        ],
        "UDP sendto: {limited} unbound (no route), bound without and with SO_BROADCAST; \
         {subnet_broadcast} without and with SO_BROADCAST"
    );
    let at = |ip: Ipv4Addr| Some(SocketAddr::new(IpAddr::V4(ip), 7002));
    assert_eq!(
        binds,
        [
            (None, at(limited)),
            (None, at(limited)),
            (None, at(subnet_broadcast)),
            (None, at(subnet_broadcast)),
            (Some(libc::EADDRNOTAVAIL), None),
            (None, at(Ipv4Addr::UNSPECIFIED)),
        ],
        "bind (UDP, TCP) to {limited}, to {subnet_broadcast}, TCP to the foreign {foreign}, to INADDR_ANY"
    );
    assert_eq!(
        any_peer,
        Some(SocketAddr::new(loopback(Family::V4), 7003)),
        "UDP connect to INADDR_ANY connects to loopback"
    );

    // Both broadcasts that were sent reached the server's wildcard socket, from the client.
    let received = server
        .run(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                let (data, from) = raw::recvfrom(&receiver, STORAGE).expect("recvfrom");
                got.push((
                    String::from_utf8_lossy(&data).into_owned(),
                    from.socket_addr().map(|a| a.ip()),
                ));
            }
            got
        })
        .await?;
    // Two destinations, two flows: the receiving link spreads flows over the CPUs (RPS), so they
    // may arrive in either order.
    let mut received = received;
    received.sort();
    let from = Some(client_ip);
    assert_eq!(
        received,
        [("limited".to_owned(), from), ("subnet".to_owned(), from)]
    );

    let recorded = recording.stop().await?;
    let client_delta = client.counters().await?.since(&client_before)?;
    let server_delta = server.counters().await?.since(&server_before)?;
    assert_eq!(
        client_delta.get("Tcp.ActiveOpens")?,
        0,
        "no connect got as far as a SYN\n{client_delta}"
    );
    assert_eq!(client_delta.get("Udp.OutDatagrams")?, 2, "{client_delta}");
    assert_eq!(server_delta.get("Udp.InDatagrams")?, 2, "{server_delta}");
    // On the wire: the two broadcasts, and not one TCP segment.
    let packets = recorded
        .on("client")?
        .packets(&net, netcase::capture::Zero::FirstFrame);
    let tcp_on_wire: Vec<String> = decode::segments(&packets).map(|s| s.to_string()).collect();
    assert!(tcp_on_wire.is_empty(), "TCP on the wire: {tcp_on_wire:?}");
    for to in [limited, subnet_broadcast] {
        let line = format!("UDP {client_ip}.");
        let dest = format!(" > {to}.7001");
        assert!(
            packets.iter().any(|p| matches!(p, Packet::Other(o) if o.what.starts_with(&line) && o.what.ends_with(&dest))),
            "no UDP datagram to {to} captured: {packets:?}"
        );
    }

    case.figure("inaddr_none", &[f64::from(libc::INADDR_NONE)], "value");
    let errnos = |e: &[Option<i32>]| {
        e.iter()
            .map(|e| f64::from(e.unwrap_or(0)))
            .collect::<Vec<_>>()
    };
    case.figure("tcp_connect_broadcast_errno", &errnos(&tcp), "errno");
    case.figure("udp_sendto_broadcast_errno", &errnos(&udp), "errno");
    Ok(())
}

/// A directory removed when the case ends, however it ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn unix_lengths(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (server, client) = (net.host("server")?, net.host("client")?);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("netcase-sun-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the socket files");
    let _cleanup = RemoveOnDrop(dir.clone());
    let stream_path = dir.join("stream");
    let dgram_path = dir.join("dgram");
    let bytes = |p: &PathBuf| p.to_str().expect("a UTF-8 path").as_bytes().to_vec();
    let (stream_name, dgram_name) = (bytes(&stream_path), bytes(&dgram_path));
    let path_len = |name: &[u8]| (SUN_PATH + name.len() + 1) as libc::socklen_t;
    let abstract_name = b"\0netcase-abstract".to_vec();
    let abstract_len = (SUN_PATH + abstract_name.len()) as libc::socklen_t;
    let sender_name = b"\0netcase-sender".to_vec();
    let sender_len = (SUN_PATH + sender_name.len()) as libc::socklen_t;

    let (sn, dn, an) = (
        stream_name.clone(),
        dgram_name.clone(),
        abstract_name.clone(),
    );
    let (listener, dgram, abstract_listener, found) = server
        .run(move || {
            // A path, bound with sizeof(struct sockaddr_un) as so much code does.
            let listener = socket(Domain::UNIX, Type::STREAM);
            raw::bind(&listener, &Addr::unix(&sn, SUN_LEN)).expect("bind a path");
            let path = raw::getsockname(&listener, STORAGE).expect("getsockname");
            listener.listen(8).expect("listen");
            // The same for a datagram socket bound with the length without the NUL.
            let dgram = socket(Domain::UNIX, Type::DGRAM);
            raw::bind(
                &dgram,
                &Addr::unix(&dn, (SUN_PATH + dn.len()) as libc::socklen_t),
            )
            .expect("bind a path without its NUL");
            let dgram_path = raw::getsockname(&dgram, STORAGE).expect("getsockname");
            // Abstract: exactly the length given, once with the name's length, once padded.
            let abstract_listener = socket(Domain::UNIX, Type::STREAM);
            raw::bind(&abstract_listener, &Addr::unix(&an, abstract_len)).expect("bind abstract");
            abstract_listener.listen(8).expect("listen");
            let abstract_ = raw::getsockname(&abstract_listener, STORAGE).expect("getsockname");
            let again = socket(Domain::UNIX, Type::STREAM);
            let taken = errno(raw::bind(&again, &Addr::unix(&an, abstract_len)));
            let padded = socket(Domain::UNIX, Type::STREAM);
            raw::bind(&padded, &Addr::unix(b"\0netcase-padded", SUN_LEN)).expect("bind padded");
            let padded = raw::getsockname(&padded, STORAGE).expect("getsockname");
            // Autobind: the family alone.
            let auto = socket(Domain::UNIX, Type::DGRAM);
            raw::bind(&auto, &Addr::unix(b"", FAMILY_LEN)).expect("autobind");
            let auto = raw::getsockname(&auto, STORAGE).expect("getsockname");
            // Unnamed: a socketpair.
            let (a, _b) = Socket::pair(Domain::UNIX, Type::STREAM, None).expect("socketpair");
            let pair = [
                raw::getsockname(&a, STORAGE).expect("getsockname"),
                raw::getpeername(&a, STORAGE).expect("getpeername"),
            ];
            (
                listener,
                dgram,
                abstract_listener,
                (path, dgram_path, abstract_, taken, padded, auto, pair),
            )
        })
        .await?;
    let (path, dgram_bound, abstract_, taken, padded, auto, pair) = found;

    let (sn, dn, an, send) = (
        stream_name.clone(),
        dgram_name.clone(),
        abstract_name.clone(),
        sender_name.clone(),
    );
    let (client_stream, client_found) = client
        .run(move || {
            let stream = socket(Domain::UNIX, Type::STREAM);
            raw::connect(
                &stream,
                &Addr::unix(&sn, (SUN_PATH + sn.len()) as libc::socklen_t),
            )
            .expect("connect to a path from another network namespace");
            let unnamed = raw::getsockname(&stream, STORAGE).expect("getsockname");
            let peer = raw::getpeername(&stream, STORAGE).expect("getpeername");
            let other = socket(Domain::UNIX, Type::STREAM);
            let refused = errno(raw::connect(&other, &Addr::unix(&an, abstract_len)));
            let same_name = socket(Domain::UNIX, Type::STREAM);
            let same_name_bound = raw::bind(&same_name, &Addr::unix(&an, abstract_len)).is_ok();
            let to = Addr::unix(&dn, (SUN_PATH + dn.len() + 1) as libc::socklen_t);
            let unbound = socket(Domain::UNIX, Type::DGRAM);
            raw::sendto(&unbound, b"unbound", &to).expect("sendto from an unbound socket");
            let named = socket(Domain::UNIX, Type::DGRAM);
            raw::bind(&named, &Addr::unix(&send, sender_len)).expect("bind the sender");
            raw::sendmsg(&named, b"named", &to).expect("sendmsg from an abstract name");
            (stream, (unnamed, peer, refused, same_name_bound))
        })
        .await?;
    let (client_unnamed, client_peer, refused, same_name_bound) = client_found;

    let (accepted, from_unbound, from_named) = server
        .run(move || {
            let (conn, peer) = raw::accept(&listener, STORAGE).expect("accept");
            drop(conn);
            let (data, from_unbound) = raw::recvfrom(&dgram, STORAGE).expect("recvfrom");
            assert_eq!(data, b"unbound");
            let (data, from_named) = raw::recvmsg(&dgram, STORAGE).expect("recvmsg");
            assert_eq!(data, b"named");
            drop(abstract_listener);
            (peer, from_unbound, from_named)
        })
        .await?;
    drop(client_stream);

    let with_nul = |name: &[u8]| [name, b"\0"].concat();
    assert_eq!(
        path.len,
        path_len(&stream_name),
        "getsockname of a path bound with sizeof(sockaddr_un)"
    );
    assert_eq!(path.family(), libc::AF_UNIX);
    assert_eq!(path.sun_path(), with_nul(&stream_name));
    assert_eq!(
        dgram_bound.len,
        path_len(&dgram_name),
        "getsockname of a path bound without its NUL"
    );
    assert_eq!(dgram_bound.sun_path(), with_nul(&dgram_name));
    assert_eq!(
        abstract_.len, abstract_len,
        "an abstract name: the length bind() was given"
    );
    assert_eq!(abstract_.sun_path(), abstract_name);
    assert_eq!(
        taken,
        Some(libc::EADDRINUSE),
        "the abstract name again, in the same host"
    );
    assert_eq!(
        padded.len, SUN_LEN,
        "an abstract name bound with sizeof(sockaddr_un) keeps its padding"
    );
    assert_eq!(
        auto.len,
        (SUN_PATH + 1 + 5) as libc::socklen_t,
        "autobind: a NUL and five hex digits"
    );
    let auto_name = auto.sun_path();
    assert!(
        auto_name[0] == 0 && auto_name[1..].iter().all(|b| b.is_ascii_hexdigit()),
        "autobind name {auto_name:?}"
    );
    for (what, a) in [
        ("socketpair getsockname", &pair[0]),
        ("socketpair getpeername", &pair[1]),
        ("unbound client's getsockname", &client_unnamed),
        ("accept of an unbound client", &accepted),
    ] {
        assert_eq!(a.len, FAMILY_LEN, "{what}: sizeof(sa_family_t)");
        assert_eq!(a.family(), libc::AF_UNIX, "{what}");
    }
    assert_eq!(
        client_peer.len,
        path_len(&stream_name),
        "the client's getpeername"
    );
    assert_eq!(client_peer.sun_path(), with_nul(&stream_name));
    assert_eq!(
        from_unbound.len, 0,
        "recvfrom: a datagram from an unbound socket has no address"
    );
    assert_eq!(
        from_named.len, sender_len,
        "recvmsg: the sender's abstract name"
    );
    assert_eq!(from_named.sun_path(), sender_name);
    assert_eq!(
        refused,
        Some(libc::ECONNREFUSED),
        "the server's abstract name, from the client's network namespace"
    );
    assert!(
        same_name_bound,
        "the server's abstract name binds in the client's namespace"
    );

    // The path's length less its name's (which depends on where the run's files are): the
    // family and the NUL.
    case.figure(
        "sun_addrlen_path_beyond_name_abstract_autobind_unnamed_unbound_dgram",
        &[
            path.len - stream_name.len() as libc::socklen_t,
            abstract_.len,
            auto.len,
            accepted.len,
            from_unbound.len,
        ]
        .map(f64::from),
        "octets",
    );
    Ok(())
}

/// The calls that carry an address, made through libc so that the lengths passed and returned are
/// exactly those the kernel sees and gives. Each takes the socket2 socket it works on.
mod raw {
    use std::{
        io,
        mem::{self, MaybeUninit},
        net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
        os::fd::{AsRawFd, FromRawFd},
    };

    use netcase::Family;
    use socket2::Socket;

    /// `sizeof(struct sockaddr_storage)`: the buffer every call below offers at most, in octets.
    pub const STORAGE: libc::socklen_t =
        mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    /// `offsetof(struct sockaddr_un, sun_path)`, in octets.
    pub const SUN_PATH: usize = mem::offset_of!(libc::sockaddr_un, sun_path);
    /// What a buffer holds before the kernel writes to it, to see where it stopped.
    pub const FILL: u8 = 0xAA;

    /// An address as passed to or returned by the kernel, with its length in octets (returned:
    /// the kernel's, which may exceed the buffer it was given).
    #[derive(Clone, Copy)]
    pub struct Addr {
        storage: libc::sockaddr_storage,
        /// The length, in octets.
        pub len: libc::socklen_t,
    }

    impl std::fmt::Debug for Addr {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Addr(len {}, {:?})", self.len, self.socket_addr())
        }
    }

    impl Addr {
        fn filled() -> Addr {
            let mut storage = MaybeUninit::<libc::sockaddr_storage>::uninit();
            // SAFETY: every bit pattern is a valid sockaddr_storage (plain integers).
            let storage = unsafe {
                storage
                    .as_mut_ptr()
                    .cast::<u8>()
                    .write_bytes(FILL, STORAGE as usize);
                storage.assume_init()
            };
            Addr { storage, len: 0 }
        }

        fn zeroed() -> Addr {
            // SAFETY: all zeros is a valid sockaddr_storage.
            Addr {
                storage: unsafe { mem::zeroed() },
                len: 0,
            }
        }

        /// `addr` as a `sockaddr_in` or `sockaddr_in6`, with that struct's length.
        pub fn ip(addr: SocketAddr) -> Addr {
            let mut a = Addr::zeroed();
            let ptr = (&raw mut a.storage).cast::<u8>();
            match addr {
                SocketAddr::V4(v4) => {
                    let sin = libc::sockaddr_in {
                        sin_family: libc::AF_INET as libc::sa_family_t,
                        sin_port: v4.port().to_be(),
                        sin_addr: libc::in_addr {
                            s_addr: u32::from(*v4.ip()).to_be(),
                        },
                        sin_zero: [0; 8],
                    };
                    // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
                    unsafe { ptr.cast::<libc::sockaddr_in>().write(sin) };
                    a.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                }
                SocketAddr::V6(v6) => {
                    let sin6 = libc::sockaddr_in6 {
                        sin6_family: libc::AF_INET6 as libc::sa_family_t,
                        sin6_port: v6.port().to_be(),
                        sin6_flowinfo: v6.flowinfo(),
                        sin6_addr: libc::in6_addr {
                            s6_addr: v6.ip().octets(),
                        },
                        sin6_scope_id: v6.scope_id(),
                    };
                    // SAFETY: as above, for sockaddr_in6.
                    unsafe { ptr.cast::<libc::sockaddr_in6>().write(sin6) };
                    a.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                }
            }
            a
        }

        /// A `sockaddr_un` whose `sun_path` starts with `name` (at most 108 octets; a leading NUL
        /// makes it abstract), passed with length `len`.
        pub fn unix(name: &[u8], len: libc::socklen_t) -> Addr {
            let mut a = Addr::zeroed();
            let ptr = (&raw mut a.storage).cast::<libc::sockaddr_un>();
            // SAFETY: sockaddr_storage holds a sockaddr_un.
            let sun = unsafe { &mut *ptr };
            sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
            assert!(
                name.len() <= sun.sun_path.len(),
                "a sun_path of {} octets",
                name.len()
            );
            for (dst, &src) in sun.sun_path.iter_mut().zip(name) {
                *dst = src as libc::c_char;
            }
            a.len = len;
            a
        }

        /// The same address passed with length `len`.
        pub fn with_len(mut self, len: libc::socklen_t) -> Addr {
            self.len = len;
            self
        }

        /// The family field.
        pub fn family(&self) -> i32 {
            i32::from(self.storage.ss_family)
        }

        /// The octets of the buffer, up to sizeof(struct sockaddr_storage).
        pub fn bytes(&self) -> &[u8] {
            // SAFETY: the storage is plain bytes, all initialised.
            unsafe {
                std::slice::from_raw_parts((&raw const self.storage).cast::<u8>(), STORAGE as usize)
            }
        }

        /// The port field of an IP address, as far as it was written.
        pub fn port(&self) -> u16 {
            u16::from_be_bytes([self.bytes()[2], self.bytes()[3]])
        }

        /// The IP address, when it is one and its whole struct was returned.
        pub fn socket_addr(&self) -> Option<SocketAddr> {
            let b = self.bytes();
            match self.family() {
                libc::AF_INET if self.len >= 16 => {
                    let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
                    Some(SocketAddr::new(IpAddr::V4(ip), self.port()))
                }
                libc::AF_INET6 if self.len >= 24 => {
                    let octets: [u8; 16] = b[8..24].try_into().expect("16 octets");
                    Some(SocketAddr::new(
                        IpAddr::V6(Ipv6Addr::from(octets)),
                        self.port(),
                    ))
                }
                _ => None,
            }
        }

        /// The `sun_path` octets within the length (none past it).
        pub fn sun_path(&self) -> Vec<u8> {
            let end = (self.len as usize).clamp(SUN_PATH, STORAGE as usize);
            self.bytes()[SUN_PATH..end].to_vec()
        }

        fn ptr(&self) -> *const libc::sockaddr {
            (&raw const self.storage).cast()
        }
    }

    /// The `AF_` constant of `family`.
    pub fn family_of(family: Family) -> i32 {
        match family {
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        }
    }

    /// The errno of a failed call, `None` for a success.
    pub fn errno<T>(result: io::Result<T>) -> Option<i32> {
        result.err().map(|e| e.raw_os_error().unwrap_or(-1))
    }

    fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// bind(2) with `addr` and its length.
    pub fn bind(s: &Socket, addr: &Addr) -> io::Result<()> {
        // SAFETY: the pointer is valid for sizeof(sockaddr_storage) >= addr.len octets.
        cvt(unsafe { libc::bind(s.as_raw_fd(), addr.ptr(), addr.len) }).map(drop)
    }

    /// connect(2) with `addr` and its length.
    pub fn connect(s: &Socket, addr: &Addr) -> io::Result<()> {
        // SAFETY: as for bind.
        cvt(unsafe { libc::connect(s.as_raw_fd(), addr.ptr(), addr.len) }).map(drop)
    }

    /// Calls `f` with a filled buffer and `cap` as the length offered; returns what it wrote.
    fn returned(
        cap: libc::socklen_t,
        f: impl FnOnce(*mut libc::sockaddr, *mut libc::socklen_t) -> io::Result<()>,
    ) -> io::Result<Addr> {
        let mut a = Addr::filled();
        a.len = cap.min(STORAGE);
        f((&raw mut a.storage).cast(), &raw mut a.len)?;
        Ok(a)
    }

    /// accept(2), offering a buffer of `cap` octets.
    pub fn accept(s: &Socket, cap: libc::socklen_t) -> io::Result<(Socket, Addr)> {
        let mut fd = -1;
        let addr = returned(cap, |p, l| {
            // SAFETY: p and l point into a live Addr.
            fd = cvt(unsafe { libc::accept(s.as_raw_fd(), p, l) })?;
            Ok(())
        })?;
        // SAFETY: accept returned a new descriptor that nothing else owns.
        Ok((unsafe { Socket::from_raw_fd(fd) }, addr))
    }

    /// getsockname(2), offering a buffer of `cap` octets.
    pub fn getsockname(s: &Socket, cap: libc::socklen_t) -> io::Result<Addr> {
        // SAFETY: p and l point into a live Addr.
        returned(cap, |p, l| {
            cvt(unsafe { libc::getsockname(s.as_raw_fd(), p, l) }).map(drop)
        })
    }

    /// getpeername(2), offering a buffer of `cap` octets.
    pub fn getpeername(s: &Socket, cap: libc::socklen_t) -> io::Result<Addr> {
        // SAFETY: p and l point into a live Addr.
        returned(cap, |p, l| {
            cvt(unsafe { libc::getpeername(s.as_raw_fd(), p, l) }).map(drop)
        })
    }

    /// sendto(2) of `data` to `to`.
    pub fn sendto(s: &Socket, data: &[u8], to: &Addr) -> io::Result<usize> {
        // SAFETY: data and to are valid for their lengths.
        cvt_size(unsafe {
            libc::sendto(
                s.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                0,
                to.ptr(),
                to.len,
            )
        })
    }

    /// sendmsg(2) of `data` to `to` (in `msg_name`).
    pub fn sendmsg(s: &Socket, data: &[u8], to: &Addr) -> io::Result<usize> {
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut _,
            iov_len: data.len(),
        };
        // SAFETY: a zeroed msghdr is valid; the fields set point to live buffers.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = to.ptr() as *mut _;
        msg.msg_namelen = to.len;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: msg is valid.
        cvt_size(unsafe { libc::sendmsg(s.as_raw_fd(), &raw const msg, 0) })
    }

    /// recvfrom(2) of one datagram, offering an address buffer of `cap` octets.
    pub fn recvfrom(s: &Socket, cap: libc::socklen_t) -> io::Result<(Vec<u8>, Addr)> {
        let mut buf = vec![0u8; 2048];
        let mut n = 0;
        let addr = returned(cap, |p, l| {
            // SAFETY: buf, p and l are live buffers of their lengths.
            n = cvt_size(unsafe {
                libc::recvfrom(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0, p, l)
            })?;
            Ok(())
        })?;
        buf.truncate(n);
        Ok((buf, addr))
    }

    /// recvmsg(2) of one datagram, with a `msg_name` buffer of `cap` octets; the address's length
    /// is the `msg_namelen` the kernel set.
    pub fn recvmsg(s: &Socket, cap: libc::socklen_t) -> io::Result<(Vec<u8>, Addr)> {
        let mut buf = vec![0u8; 2048];
        let mut n = 0;
        let addr = returned(cap, |p, l| {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: a zeroed msghdr is valid; the fields set point to live buffers.
            let mut msg: libc::msghdr = unsafe { mem::zeroed() };
            msg.msg_name = p.cast();
            // SAFETY: l points into a live Addr.
            msg.msg_namelen = unsafe { *l };
            msg.msg_iov = &raw mut iov;
            msg.msg_iovlen = 1;
            // SAFETY: msg is valid.
            n = cvt_size(unsafe { libc::recvmsg(s.as_raw_fd(), &raw mut msg, 0) })?;
            // SAFETY: as above.
            unsafe { *l = msg.msg_namelen };
            Ok(())
        })?;
        buf.truncate(n);
        Ok((buf, addr))
    }
}
