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
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use netcase::{
    Family, Host, Result, Topology, body,
    capture::Zero,
    case::Case,
    decode,
    network::{
        Sock,
        sockaddr::{
            FILL, SA_FAMILY, SOCKADDR_IN, SOCKADDR_IN6, SOCKADDR_STORAGE, SOCKADDR_UN, SUN_PATH,
            Sockaddr, af, loopback, v4_mapped, wildcard,
        },
    },
    observe::{Filter, TcpState},
    sysctl::{self, PortRange},
};
use nix::errno::Errno::{EACCES, EADDRINUSE, EADDRNOTAVAIL, ECONNREFUSED, EINVAL, ENETUNREACH};
use socket2::{Domain, Type};

use netcase::claims::Finding;

use crate::claims;
use crate::{Def, common::expectation};

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
pub static DIRECT: Def = Def::new(
    "socket_addresses::seen_by_both_ends",
    "bind, accept, getsockname and getpeername report the addresses each end really uses",
    body!(seen_by_both_ends),
)
.shows(&[Finding::confirms(&claims::SA_OUT)])
.expected(Duration::from_millis(50));

/// The same through a router.
pub static ROUTED: Def = Def::new(
    "socket_addresses::seen_through_a_router",
    "the same through a router: the addresses are the hosts', never the router's",
    body!(seen_by_both_ends),
)
.shows(&[Finding::confirms(&claims::SA_OUT)])
.routed()
.expected(Duration::from_millis(50));

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
pub static LENGTHS: Def = Def::new(
    "socket_addresses::lengths_in_and_out",
    "bind/connect/sendto/sendmsg take, accept/getsockname/getpeername/recvfrom/recvmsg return, sockaddr_in (16) and sockaddr_in6 (28) lengths",
    body!(lengths_in_and_out),
).shows(&[
    Finding::confirms(&claims::SA_IN),
    Finding::confirms(&claims::SA_OUT),
])
.expected(Duration::from_millis(300));

/// A listener on the wildcard address is reached on every address of its host.
///
/// Linux: from the other host through the link address; from its own host through the link
/// address and loopback (the whole of 127.0.0.0/8 for IPv4, ::1 for IPv6), all of which go over
/// `lo`, never the link; and through the wildcard address itself, which connect() takes as
/// loopback (127.0.0.1, ::1). Each accepted socket reports the address the client reached, never
/// the wildcard. A listener bound to the link address is not reached through loopback
/// (`ECONNREFUSED`).
pub static WILDCARD: Def = Def::new(
    "socket_addresses::wildcard_reached_on_every_address",
    "a listener on INADDR_ANY / in6addr_any is reached via the link address, loopback and the wildcard itself; accept reports the address reached",
    body!(wildcard_reached_on_every_address),
).shows(&[
    Finding::confirms(&claims::SA_INADDR_ANY),
])
.expected(Duration::from_millis(300));

/// An IPv6 listener on in6addr_any takes IPv4 clients unless `IPV6_V6ONLY` is set.
///
/// Linux: a new IPv6 socket's `IPV6_V6ONLY` is `net.ipv6.bindv6only` (0 by default). With 0, the
/// listener owns the port for IPv4 too (an IPv4 bind to the same port fails with `EADDRINUSE`),
/// accepts an IPv4 client, and reports it as the IPv4-mapped `::ffff:a.b.c.d` in a 28-octet
/// `sockaddr_in6` (its own local address too), while the client sees plain IPv4 and the wire
/// carries plain IPv4. With 1, an IPv4 socket can bind the same port, and an IPv4 client's SYN
/// finds no listener: RST, `ECONNREFUSED`. Runs over IPv6 only: it is the IPv6 listener's case
/// (its IPv4 client is part of it).
pub static V4_MAPPED: Def = Def::new(
    "socket_addresses::v4_mapped_on_a_v6_wildcard",
    "an in6addr_any listener with IPV6_V6ONLY=0 accepts IPv4 clients as ::ffff:a.b.c.d (IPv4 on the wire), with =1 refuses them (IPv6 only)",
    body!(v4_mapped_on_a_v6_wildcard),
).shows(&[
    Finding::qualifies(
        &claims::SA_STRUCTS,
        "an IPv6 socket gets IPv4 peers as ::ffff:a.b.c.d in a sockaddr_in6",
    ),
])
.families(&[Family::V6])
.expected(Duration::from_millis(300));

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
pub static SPECIAL_IPV4: Def = Def::new(
    "socket_addresses::special_ipv4_addresses",
    "INADDR_ANY=0, INADDR_BROADCAST=INADDR_NONE=0xffffffff; connect/sendto/bind with them: ENETUNREACH, EACCES, success (IPv4 only)",
    body!(special_ipv4_addresses),
).shows(&[
    Finding::confirms(&claims::SA_INADDR_ANY),
    Finding::qualifies(
        &claims::SA_INADDR_BROADCAST,
        "sendto() needs SO_BROADCAST (EACCES without); TCP cannot use it",
    ),
    Finding::refutes(
        &claims::SA_INADDR_NONE,
        "the kernel has no INADDR_NONE: 0xffffffff is the broadcast address to it",
    ),
])
.families(&[Family::V4])
.expected(Duration::from_millis(300));

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
pub static UNIX: Def = Def::new(
    "socket_addresses::unix_lengths",
    "sockaddr_un lengths for path, abstract, autobound and unnamed sockets; abstract names are per network namespace (family-less: runs under IPv4 only)",
    body!(unix_lengths),
).shows(&[
    Finding::confirms(&claims::SA_STRUCTS),
])
.families(&[Family::V4])
.expected(Duration::from_millis(100));

/// The kernel's `SIN6_LEN_RFC2133`: a `sockaddr_in6` without `sin6_scope_id`, in octets; the
/// shortest length bind() and connect() take for IPv6.
const SIN6_LEN_RFC2133: libc::socklen_t = 24;

/// The length of the family's `sockaddr`, and the shortest length bind() and connect() take.
fn lengths(family: Family) -> (libc::socklen_t, libc::socklen_t) {
    match family {
        Family::V4 => (SOCKADDR_IN, SOCKADDR_IN),
        Family::V6 => (SOCKADDR_IN6, SIN6_LEN_RFC2133),
    }
}

/// A TCP listener on `host` bound to `at`, made by hand so that `IPV6_V6ONLY` is `only_v6`
/// before bind() (an IPv6 address only; IPv4 sockets have no such option).
async fn listener(host: &Host, at: SocketAddr, only_v6: bool) -> Result<Sock> {
    let s = host.socket(Domain::for_address(at), Type::STREAM).await?;
    if at.is_ipv6() {
        s.socket().set_only_v6(only_v6).expect("IPV6_V6ONLY");
    }
    s.bind_addr(at).expect("bind");
    s.listen(16).expect("listen");
    Ok(s)
}

async fn seen_by_both_ends(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let (server, client) = (net.host("server")?, net.host("client")?);
    let ports = PortRange {
        low: 40000,
        high: 40009,
    };
    client.set(sysctl::IP_LOCAL_PORT_RANGE, ports).await?;
    let any = SocketAddr::new(wildcard(family), 6000);
    let listener = server.listen(any, 8).await?;
    assert_eq!(listener.sock().local()?, any, "getsockname of the listener");

    let server_addr = net.socket_addr("server", family, 6000)?;
    let stream = client.connect(server_addr).await?.expect("connect");
    let (accepted, accept_peer) = listener.sock().accept_addr().await?.expect("accept");
    let client_local = stream.local()?;

    assert_eq!(client_local.ip(), net.addr("client", family)?);
    assert!(
        (ports.low..=ports.high).contains(&client_local.port()),
        "ephemeral port {} outside the client's range {ports:?}",
        client_local.port()
    );
    assert_eq!(stream.peer()?, server_addr);
    let concrete = "accept() gives the concrete local address";
    assert_eq!(accepted.local()?, server_addr, "{concrete}");
    assert_eq!(accept_peer.socket_addr(), Some(client_local));
    assert_eq!(accepted.peer()?, client_local);
    Ok(())
}

async fn lengths_in_and_out(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let (full, min) = lengths(family);
    let (server, client) = (net.host("server")?, net.host("client")?);
    let tcp_at = net.socket_addr("server", family, 7000)?;
    let udp_at = net.socket_addr("server", family, 7001)?;
    let (client_ip, domain) = (net.addr("client", family)?, Domain::for_address(tcp_at));
    let settings = client.settings().await?;
    let expectation = expectation("socket_addresses_one_connection.expect", &settings)?;
    let watch = net.watch(&["client", "server"]).await?;

    // In: a length below the family's minimum is refused, the minimum and any longer one taken
    // (the UDP socket's: sizeof(struct sockaddr_storage)).
    let listener = server.socket(domain, Type::STREAM).await?;
    let unbound = Sockaddr::ip(SocketAddr::new(wildcard(family), 0));
    assert_eq!(listener.getsockname(), Ok(unbound), "unbound: the wildcard");
    let short = Sockaddr::ip(tcp_at).with_len(min - 1);
    let shortest = short.with_len(min);
    let bind_short = listener.bind_addr(short);
    listener.bind_addr(shortest).expect("bind");
    assert_eq!(listener.getsockname(), Ok(Sockaddr::ip(tcp_at)));
    listener.listen(8).expect("listen");
    let udp = server.socket(domain, Type::DGRAM).await?;
    let longer = Sockaddr::ip(udp_at).with_len(SOCKADDR_STORAGE);
    udp.bind_addr(longer).expect("bind, a longer length");
    let stream = client.socket(domain, Type::STREAM).await?;
    let refused = (bind_short, stream.connect_addr(short).await?);
    let octets = min - 1;
    assert_eq!(refused, (Err(EINVAL), Err(EINVAL)), "{octets} octets");
    stream.connect_addr(shortest).await?.expect("connect");

    let sender = client.socket(domain, Type::DGRAM).await?;
    assert_eq!(sender.sendto(b"sendto", udp_at), Ok(6));
    assert_eq!(sender.sendmsg(b"sendmsg", udp_at), Ok(7));
    let (conn, accepted_peer) = listener.accept_addr().await?.expect("accept");
    let (data, from) = udp.recvfrom().await?.expect("recvfrom");
    let (msg, msg_from) = udp.recvmsg().await?.expect("recvmsg");
    assert_eq!([&data[..], &msg[..]], [b"sendto".as_slice(), b"sendmsg"]);
    let seen = watch.stop().await?;

    // Out: every call returns the family's full length and the address each end really has; an
    // unconnected UDP socket's autobind has the wildcard.
    let local = SocketAddr::new(client_ip, stream.local()?.port());
    let udp_port = sender.local()?.port();
    let udp_from = SocketAddr::new(client_ip, udp_port);
    let udp_any = SocketAddr::new(wildcard(family), udp_port);
    let mut lens = Vec::new();
    for (call, got, want) in [
        ("getsockname (client)", stream.getsockname(), local),
        ("getpeername (client)", stream.getpeername(), tcp_at),
        ("accept", Ok(accepted_peer), local),
        ("getsockname (accepted)", conn.getsockname(), tcp_at),
        ("recvfrom", Ok(from), udp_from),
        ("recvmsg", Ok(msg_from), udp_from),
        ("getsockname (UDP client)", sender.getsockname(), udp_any),
    ] {
        assert_eq!(got, Ok(Sockaddr::ip(want)), "{call}");
        lens.push(f64::from(got.map_or(0, |a| a.len)));
    }

    // Into 8 octets: the full length comes back, the family and port were written, and nothing
    // past the buffer (the bytes were filled with FILL before the call).
    let cut = stream.getpeername_into(8).expect("getpeername");
    let written = (cut.len, cut.family(), cut.port());
    assert_eq!(written, (full, af(family), tcp_at.port()), "a cut address");
    let bytes = cut.bytes();
    let untouched = bytes[8..].iter().all(|&b| b == FILL);
    assert!(untouched, "written past the 8 octets given: {bytes:?}");

    let udp_in = match family {
        Family::V4 => "Udp.InDatagrams",
        Family::V6 => "Udp6.InDatagrams",
    };
    let server_delta = seen.counters("server")?;
    server_delta.moved([("Tcp.PassiveOpens", 1), (udp_in, 2)])?;
    seen.check_on(&net, "client", &expectation)?;

    case.figure("returned_addrlen", &lens, "octets");
    case.figure("shortest_accepted_addrlen", &[f64::from(min)], "octets");
    case.figure("cut_getpeername_addrlen", &[f64::from(cut.len)], "octets");
    Ok(())
}

async fn wildcard_reached_on_every_address(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let server = net.host("server")?;
    let (server_ip, client_ip) = (net.addr("server", family)?, net.addr("client", family)?);
    let (any, lo) = (wildcard(family), loopback(family));
    let settings = net.host("client")?.settings().await?;
    let expectation = expectation("socket_addresses_one_connection.expect", &settings)?;
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
    // IPv6 alone: the v4-mapped side is the case v4_mapped_on_a_v6_wildcard.
    let wild_at = SocketAddr::new(any, 7000);
    let wild = listener(server, wild_at, true).await?;
    assert_eq!(wild.getsockname(), Ok(Sockaddr::ip(wild_at)));
    let link_at = SocketAddr::new(server_ip, 7001);
    let on_link = listener(server, link_at, true).await?;
    let watch = net.watch(&["client", "server"]).await?;

    // Each address returned has the family's full length; the accepted socket's local address is
    // the one reached, never the wildcard.
    let (mut kept, mut reached) = (Vec::new(), Vec::new());
    for &(from, to, reached_ip, source) in &targets {
        let (to, reach) = (SocketAddr::new(to, 7000), SocketAddr::new(reached_ip, 7000));
        let stream = net.host(from)?.connect(to).await?;
        let stream = stream.unwrap_or_else(|e| panic!("connect from {from} to {to}: {e}"));
        let (conn, accepted_peer) = wild.accept_addr().await?.expect("accept");
        let local = Sockaddr::ip(SocketAddr::new(source, stream.local()?.port()));
        let at = Sockaddr::ip(reach);
        for (call, got, want) in [
            ("the client's getsockname", stream.getsockname(), local),
            ("the client's getpeername", stream.getpeername(), at),
            ("getsockname (accepted)", conn.getsockname(), at),
            ("accept()'s peer", Ok(accepted_peer), local),
        ] {
            assert_eq!(got, Ok(want), "{from} -> {to}: {call}");
        }
        reached.push(reach);
        kept.push((stream, conn));
    }

    // The listener on the link address is not reached through loopback, nor through the wildcard
    // (which is loopback); it is through its own address, also from its own host.
    for ip in [lo, any] {
        let refused = server.connect(SocketAddr::new(ip, 7001)).await?.err();
        assert_eq!(refused, Some(ECONNREFUSED), "connect to {ip}, port 7001");
    }
    let _via_link = server.connect(link_at).await?.expect("connect");
    let _accepted = on_link.accept_addr().await?.expect("accept");

    let on_port = Filter::all().local_port(7000);
    let table = server.sockets_matching(on_port).await?;
    assert_eq!(table.listener(wild_at)?.state, TcpState::Listen);
    let established = table.in_state(TcpState::Established);
    let mut listed: Vec<_> = established.map(|s| s.local).collect();
    listed.sort();
    reached.sort();
    let what = "sock_diag: the accepted sockets' local addresses";
    assert_eq!(listed, reached, "{what}\n{table:?}");

    let seen = watch.stop().await?;
    let local_connects = targets.iter().filter(|t| t.0 == "server").count() as i64 + 3;
    let accepted = targets.len() as i64 + 1;
    // AttemptFails: the two refused connects; OutRsts: the RSTs that refused them.
    seen.counters("server")?.moved([
        ("Tcp.PassiveOpens", accepted),
        ("Tcp.ActiveOpens", local_connects),
        ("Tcp.AttemptFails", 2),
        ("Tcp.OutRsts", 2),
    ])?;

    // Only the client's connection crossed the link.
    seen.check_on(&net, "client", &expectation)?;
    let packets = seen.recorded.on("client")?.packets(&net, Zero::FirstSyn);
    for s in decode::segments(&packets) {
        let ends = [s.src.ip(), s.dst.ip()];
        let between = ends.contains(&client_ip) && ends.contains(&server_ip);
        assert!(between, "a segment not between the two hosts: {s}");
    }

    case.figure("connections_accepted", &[accepted as f64], "connections");
    case.figure("addresses_reached", &[reached.len() as f64], "addresses");
    Ok(())
}

async fn v4_mapped_on_a_v6_wildcard(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (server, client) = (net.host("server")?, net.host("client")?);
    let (v4, v6) = (Family::V4, Family::V6);
    let server_v4 = net.socket_addr("server", v4, 7000)?;
    let server_v6 = net.socket_addr("server", v6, 7000)?;
    let refused_at = net.socket_addr("server", v4, 7001)?;
    let (client_v4, client_v6) = (net.addr("client", v4)?, net.addr("client", v6)?);
    let bindv6only = server.get_raw("net/ipv6/bindv6only").await?;
    let bindv6only: u8 = bindv6only.parse().expect("net.ipv6.bindv6only is a number");
    let settings = client.settings().await?;
    let expectation = expectation("socket_addresses_v4_mapped.expect", &settings)?;
    let watch = net.watch(&["client", "server"]).await?;

    let fresh = server.socket(Domain::IPV6, Type::STREAM).await?;
    let only_v6 = fresh.socket().only_v6().expect("IPV6_V6ONLY");
    let sysctl = "a new IPv6 socket's IPV6_V6ONLY is net.ipv6.bindv6only";
    assert_eq!(only_v6, bindv6only != 0, "{sysctl}");
    let any = |family, port| SocketAddr::new(wildcard(family), port);
    let dual = listener(server, any(v6, 7000), false).await?;
    let ipv4 = server.socket(Domain::IPV4, Type::STREAM).await?;
    let owned = "the dual-stack listener owns IPv4 port 7000 too";
    assert_eq!(ipv4.bind_addr(any(v4, 7000)), Err(EADDRINUSE), "{owned}");
    let _only6 = listener(server, any(v6, 7001), true).await?;
    let ipv4 = server.socket(Domain::IPV4, Type::STREAM).await?;
    let free = "an IPV6_V6ONLY listener leaves IPv4 port 7001 free to bind";
    assert_eq!(ipv4.bind_addr(any(v4, 7001)), Ok(()), "{free}");
    drop(ipv4);

    let a = client.connect(server_v4).await?.expect("IPv4 connect");
    let b = client.connect(server_v6).await?.expect("IPv6 connect");
    let refused = client.connect(refused_at).await?.err();
    let only6 = "IPv4 connect to the IPV6_V6ONLY listener's port";
    assert_eq!(refused, Some(ECONNREFUSED), "{only6}");
    // The client sees plain IPv4.
    let v4_local = SocketAddr::new(client_v4, a.local()?.port());
    assert_eq!(a.getsockname(), Ok(Sockaddr::ip(v4_local)));
    assert_eq!(a.getpeername(), Ok(Sockaddr::ip(server_v4)));
    let v6_local = b.local()?;
    assert_eq!(v6_local.ip(), client_v6);

    // The accept queue is in arrival order: the IPv4 client first, as an IPv6 socket that
    // reports ::ffff:a.b.c.d in 28-octet sockaddr_in6 from accept() and getsockname.
    let (mapped, peer) = dual.accept_addr().await?.expect("accept");
    let domain = mapped.socket().domain().expect("SO_DOMAIN");
    assert_eq!(domain, Domain::IPV6, "an IPv4 client's accepted socket");
    assert_eq!(peer, Sockaddr::ip(v4_mapped(v4_local)), "accept()");
    let mapped_local = Sockaddr::ip(v4_mapped(server_v4));
    assert_eq!(mapped.getsockname(), Ok(mapped_local), "getsockname");
    let (plain, peer) = dual.accept_addr().await?.expect("accept");
    assert_eq!(peer, Sockaddr::ip(v6_local));
    assert_eq!(plain.getsockname(), Ok(Sockaddr::ip(server_v6)));

    let established = Filter::all().state(TcpState::Established).local_port(7000);
    let table = server.sockets_matching(established).await?;
    let diag = table.find(v4_mapped(server_v4), v4_mapped(v4_local))?;
    let carrying = "sock_diag: an IPv6 socket carrying IPv4";
    assert_eq!(diag.family, v6, "{carrying}\n{table:?}");

    let seen = watch.stop().await?;
    // OutRsts: the refusing RST.
    seen.counters("server")?
        .moved([("Tcp.PassiveOpens", 2), ("Tcp.OutRsts", 1)])?;
    seen.counters("client")?.moved([("Tcp.AttemptFails", 1)])?;

    // On the wire, the IPv4 client's connection is IPv4 from end to end, the refused one too.
    seen.check_on(&net, "client", &expectation)?;
    // Each connection by its addresses as the client saw them: IPv4 ones carry IPv4 on the wire,
    // and no IPv4-mapped address ever leaves the host.
    let connections = [
        (v4_local, server_v4),
        (v6_local, server_v6),
        (SocketAddr::new(client_v4, 0), refused_at),
    ];
    let is_mapped = |ip: IpAddr| matches!(ip, IpAddr::V6(a) if a.to_ipv4_mapped().is_some());
    let mut by_family = [0u32; 2];
    for s in decode::segments(&seen.recorded.on("client")?.packets(&net, Zero::FirstSyn)) {
        let out = s.from == "client";
        let (c, srv) = if out { (s.src, s.dst) } else { (s.dst, s.src) };
        let known = connections.iter().any(|&(lc, ls)| {
            lc.ip() == c.ip() && (lc.port() == 0 || lc.port() == c.port()) && ls == srv
        });
        assert!(known, "a segment of no connection of this case: {s}");
        let on_wire = is_mapped(s.src.ip()) || is_mapped(s.dst.ip());
        assert!(!on_wire, "a v4-mapped address on the wire: {s}");
        by_family[usize::from(s.family() == v6)] += 1;
    }
    // IPv4: the mapped connection's handshake (3) and the refused SYN with its RST (2); IPv6: the
    // other handshake (3).
    let enough = by_family[0] >= 5 && by_family[1] >= 3;
    assert!(enough, "segments by family {by_family:?}");
    case.figure("accepted_v4_mapped", &[1.0], "connections");
    case.figure("accepted_addrlen", &[f64::from(SOCKADDR_IN6)], "octets");
    case.figure("segments_v4_v6", &by_family.map(f64::from), "segments");
    Ok(())
}

unsafe extern "C" {
    /// glibc's `inet_addr(3)`: dotted-quad text to an address in network order, or `INADDR_NONE`.
    fn inet_addr(cp: *const libc::c_char) -> libc::in_addr_t;
}

async fn special_ipv4_addresses(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    // The values: INADDR_NONE is INADDR_BROADCAST, one value with two meanings, which inet_addr
    // returns for the broadcast address and for text that is no address alike.
    let values = (libc::INADDR_ANY, libc::INADDR_BROADCAST, libc::INADDR_NONE);
    assert_eq!(values, (0, 0xffff_ffff, 0xffff_ffff));
    let std = [Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST].map(u32::from);
    assert_eq!(std, [libc::INADDR_ANY, libc::INADDR_BROADCAST]);
    // SAFETY: NUL-terminated strings.
    let parsed = [c"255.255.255.255", c"no address"].map(|t| unsafe { inet_addr(t.as_ptr()) });
    assert_eq!(parsed, [libc::INADDR_NONE; 2], "inet_addr");

    let (server, client) = (net.host("server")?, net.host("client")?);
    let client_ip = net.addr("client", Family::V4)?;
    let end = net.link("client", "server")?.end("client")?;
    let link = end.net(Family::V4).expect("an IPv4 subnet");
    // The foreign address is in the link's subnet (.77), and no host's.
    let (subnet, foreign) = (link.broadcast(), link.hosts().nth(76).expect("a /24"));
    let (limited, any) = (Ipv4Addr::BROADCAST.into(), Ipv4Addr::UNSPECIFIED.into());
    let at = SocketAddr::new;
    let watch = net.watch(&["client", "server"]).await?;
    let receiver = server.bound(Type::DGRAM, at(any, 7001)).await?;

    // TCP connect and UDP sendto to the broadcasts (the limited one unbound first: no route),
    // without and with SO_BROADCAST: (socket, to, bound, SO_BROADCAST, errno).
    let mut errnos = Vec::new();
    for (ty, to, bound, broadcast, want) in [
        (Type::STREAM, limited, false, false, Some(ENETUNREACH)),
        (Type::STREAM, subnet, false, false, Some(ENETUNREACH)),
        (Type::STREAM, limited, false, true, Some(ENETUNREACH)),
        (Type::STREAM, subnet, false, true, Some(ENETUNREACH)),
        (Type::DGRAM, limited, false, false, Some(ENETUNREACH)),
        (Type::DGRAM, limited, true, false, Some(EACCES)),
        (Type::DGRAM, limited, true, true, None),
        (Type::DGRAM, subnet, false, false, Some(EACCES)),
        (Type::DGRAM, subnet, false, true, None),
    ] {
        let s = client.socket(Domain::IPV4, ty).await?;
        if bound {
            s.bind_addr(SocketAddr::new(client_ip, 0)).expect("bind");
        }
        s.socket().set_broadcast(broadcast).expect("SO_BROADCAST");
        let got = if ty == Type::STREAM {
            s.connect_addr(at(to, 7000)).await?.err()
        } else {
            s.sendto(to.to_string().as_bytes(), at(to, 7001)).err()
        };
        assert_eq!(got, want, "{ty:?} {to} bound {bound} broadcast {broadcast}");
        errnos.push(f64::from(got.map_or(0, |e| e as i32)));
    }
    // bind to the broadcasts (UDP, TCP), a foreign address and INADDR_ANY; getsockname after.
    for (ty, ip, want) in [
        (Type::DGRAM, limited, Ok(())),
        (Type::STREAM, limited, Ok(())),
        (Type::DGRAM, subnet, Ok(())),
        (Type::STREAM, subnet, Ok(())),
        (Type::STREAM, foreign, Err(EADDRNOTAVAIL)),
        (Type::STREAM, any, Ok(())),
    ] {
        let s = client.socket(Domain::IPV4, ty).await?;
        let got = s.bind_addr(at(ip, 7002)).and_then(|()| s.getsockname());
        let bound = want.map(|()| Sockaddr::ip(at(ip, 7002)));
        assert_eq!(got, bound, "bind {ty:?} to {ip}, then getsockname");
    }
    let udp = client.socket(Domain::IPV4, Type::DGRAM).await?;
    udp.connect_addr(at(any, 7003)).await?.expect("connect");
    let lo = Sockaddr::ip(SocketAddr::new(loopback(Family::V4), 7003));
    assert_eq!(udp.getpeername(), Ok(lo), "UDP connect to INADDR_ANY");
    // The two broadcasts sent (each names its destination) reached the server's wildcard socket
    // from the client, in either order (two flows, which RPS spreads over the CPUs): sorted here.
    let mut received = Vec::new();
    for _ in 0..2 {
        let (data, from) = receiver.recvfrom().await?.expect("recvfrom");
        received.push((data, from.socket_addr().map(|a| a.ip())));
    }
    received.sort();
    let want = [subnet, limited].map(|to| (to.to_string().into_bytes(), Some(client_ip)));
    assert_eq!(received, want);

    let seen = watch.stop().await?;
    // ActiveOpens: no connect got as far as a SYN.
    let client_delta = seen.counters("client")?;
    client_delta.moved([("Tcp.ActiveOpens", 0), ("Udp.OutDatagrams", 2)])?;
    seen.counters("server")?.moved([("Udp.InDatagrams", 2)])?;
    // On the wire: the two broadcasts, and not one TCP segment.
    let packets = seen.recorded.on("client")?.packets(&net, Zero::FirstFrame);
    let lines: Vec<_> = packets.iter().map(|p| p.to_string()).collect();
    let tcp = decode::segments(&packets).count();
    assert_eq!(tcp, 0, "TCP on the wire: {lines:#?}");
    for to in [limited, subnet] {
        // A datagram is shown as `<time> UDP <source>.<port> > <destination>.<port>`.
        let (src, dst) = (format!(" UDP {client_ip}."), format!(" > {to}.7001"));
        let sent = lines.iter().any(|l| l.contains(&src) && l.ends_with(&dst));
        assert!(sent, "no UDP datagram to {to}: {lines:#?}");
    }
    case.figure("inaddr_none", &[f64::from(libc::INADDR_NONE)], "value");
    case.figure("tcp_connect_broadcast_errno", &errnos[..4], "errno");
    case.figure("udp_sendto_broadcast_errno", &errnos[4..], "errno");
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
    // The server's namespace is the run's own: its inode names a directory no other run uses.
    let dir = std::env::temp_dir().join(format!("netcase-sun-{}", server.netns_inode()?));
    std::fs::create_dir_all(&dir).expect("a directory for the socket files");
    let _cleanup = RemoveOnDrop(dir.clone());
    let bytes = |p: PathBuf| p.to_str().expect("a UTF-8 path").as_bytes().to_vec();
    let (stream_name, dgram_name) = (bytes(dir.join("stream")), bytes(dir.join("dgram")));
    // A name with its length: without the NUL (an abstract name: all of it), and with it.
    let exactly = |name: &[u8]| Sockaddr::unix(name, (SUN_PATH + name.len()) as libc::socklen_t);
    let with_nul = |name: &[u8]| exactly(&[name, b"\0"].concat());
    let (stream_path, dgram_path) = (with_nul(&stream_name), with_nul(&dgram_name));
    let (abstract_, sender) = (exactly(b"\0netcase-abstract"), exactly(b"\0netcase-sender"));
    let padded_path = Sockaddr::unix(&stream_name, SOCKADDR_UN);
    let padded = Sockaddr::unix(b"\0netcase-padded", SOCKADDR_UN);
    let family_only = Sockaddr::unix(b"", SA_FAMILY);
    let (unix, stream, dgram) = (Domain::UNIX, Type::STREAM, Type::DGRAM);

    // A path, bound with sizeof(struct sockaddr_un) as so much code does; another without its
    // NUL; an abstract name with exactly its length, another padded to sizeof(struct
    // sockaddr_un); an autobind (the family alone); an unnamed socketpair.
    let by_path = server.bound(stream, padded_path).await?;
    by_path.listen(8).expect("listen");
    let receiver = server.bound(dgram, exactly(&dgram_name)).await?;
    let by_name = server.bound(stream, abstract_).await?;
    by_name.listen(8).expect("listen");
    let again = server.socket(unix, stream).await?.bind_addr(abstract_);
    let padded_sock = server.bound(stream, padded).await?;
    let autobind = server.bound(dgram, family_only).await?;
    let (pair, _other) = server.socket_pair(unix, stream).await?;

    // From the other network namespace: the path is reached, the abstract name is not (and
    // binds there too).
    let (to_path, unnamed) = (exactly(&stream_name), client.socket(unix, stream).await?);
    unnamed.connect_addr(to_path).await?.expect("connect");
    let other = client.socket(unix, stream).await?;
    let refused = other.connect_addr(abstract_).await?;
    let elsewhere = client.socket(unix, stream).await?.bind_addr(abstract_);
    let unbound = client.socket(unix, dgram).await?;
    unbound.sendto(b"unbound", dgram_path).expect("sendto");
    let named = client.bound(dgram, sender).await?;
    named.sendmsg(b"named", dgram_path).expect("sendmsg");
    let (_conn, accepted) = by_path.accept_addr().await?.expect("accept");
    let (data, nameless) = receiver.recvfrom().await?.expect("recvfrom");
    let (msg, from_named) = receiver.recvmsg().await?.expect("recvmsg");
    assert_eq!([&data[..], &msg[..]], [b"unbound".as_slice(), b"named"]);

    // getsockname of a path: offsetof(sun_path) + strlen + 1, however it was bound; of an
    // abstract name: the length given; of an unnamed socket: sizeof(sa_family_t).
    for (what, got, want) in [
        ("path, bound padded", by_path.getsockname(), stream_path),
        ("path, no NUL", receiver.getsockname(), dgram_path),
        ("abstract", by_name.getsockname(), abstract_),
        ("abstract, padded", padded_sock.getsockname(), padded),
        ("client's getpeername", unnamed.getpeername(), stream_path),
        ("recvmsg: the sender's name", Ok(from_named), sender),
        ("socketpair getsockname", pair.getsockname(), family_only),
        ("socketpair getpeername", pair.getpeername(), family_only),
        ("unbound client", unnamed.getsockname(), family_only),
        ("accept of an unbound client", Ok(accepted), family_only),
    ] {
        assert_eq!(got, Ok(want), "{what}");
    }
    // The abstract name: taken in the server's namespace, refused from and free in the client's.
    let calls = (again, refused, elsewhere);
    let want = (Err(EADDRINUSE), Err(ECONNREFUSED), Ok(()));
    assert_eq!(calls, want, "bind there, connect and bind here");
    let auto = autobind.getsockname().expect("getsockname");
    let auto_len = (SUN_PATH + 1 + 5) as libc::socklen_t;
    assert_eq!(auto.len, auto_len, "autobind: NUL, five hex digits");
    let auto_name = auto.sun_path();
    let hex = auto_name[0] == 0 && auto_name[1..].iter().all(|b| b.is_ascii_hexdigit());
    assert!(hex, "autobind name {auto_name:?}");
    let no_address = "recvfrom: a datagram from an unbound socket has no address";
    assert_eq!(nameless.len, 0, "{no_address}");

    // The path's length less its name's (which depends on where the run's files are): the
    // family and the NUL.
    let beyond = stream_path.len - stream_name.len() as libc::socklen_t;
    let lens = [beyond, abstract_.len, auto.len, accepted.len, nameless.len];
    let name = "sun_addrlen_path_beyond_name_abstract_autobind_unnamed_unbound_dgram";
    case.figure(name, &lens.map(f64::from), "octets");
    Ok(())
}
