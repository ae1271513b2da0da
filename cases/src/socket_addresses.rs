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
    decode::{self, Packet},
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
use nix::errno::Errno;
use socket2::{Domain, Type};

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
.expected(Duration::from_millis(50));

/// The same through a router.
pub static ROUTED: Def = Def::new(
    "socket_addresses::seen_through_a_router",
    "the same through a router: the addresses are the hosts', never the router's",
    body!(seen_by_both_ends),
)
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
)
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
)
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
)
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
)
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
)
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

    let listener = server.socket(domain, Type::STREAM).await?;
    let unbound = listener.getsockname().expect("getsockname, unbound");
    assert_eq!(
        (unbound.len, unbound.socket_addr()),
        (full, Some(SocketAddr::new(wildcard(family), 0))),
        "an unbound socket: the wildcard, port 0, the family's full length"
    );
    let short = Sockaddr::ip(tcp_at).with_len(min - 1);
    assert_eq!(
        listener.bind_addr(short),
        Err(Errno::EINVAL),
        "bind, {} octets",
        min - 1
    );
    listener
        .bind_addr(short.with_len(min))
        .expect("bind with the shortest length");
    let bound = listener.getsockname().expect("getsockname");
    assert_eq!((bound.len, bound.socket_addr()), (full, Some(tcp_at)));
    listener.listen(8).expect("listen");
    let udp = server.socket(domain, Type::DGRAM).await?;
    let longer = Sockaddr::ip(udp_at).with_len(SOCKADDR_STORAGE);
    udp.bind_addr(longer)
        .expect("bind with sizeof(struct sockaddr_storage): a longer length");

    let stream = client.socket(domain, Type::STREAM).await?;
    let refused = stream.connect_addr(short).await?;
    assert_eq!(refused, Err(Errno::EINVAL), "connect, {} octets", min - 1);
    stream
        .connect_addr(short.with_len(min))
        .await?
        .expect("connect with the shortest length");
    let client_udp = client.socket(domain, Type::DGRAM).await?;
    assert_eq!(client_udp.sendto(b"sendto", udp_at), Ok(6));
    assert_eq!(client_udp.sendmsg(b"sendmsg", udp_at), Ok(7));
    let (conn, accepted_peer) = listener.accept_addr().await?.expect("accept");
    let (data, from) = udp.recvfrom().await?.expect("recvfrom");
    assert_eq!(data, b"sendto");
    let (data, msg_from) = udp.recvmsg().await?.expect("recvmsg");
    assert_eq!(data, b"sendmsg");
    let seen = watch.stop().await?;

    let name = |s: &Sock| s.getsockname().expect("getsockname");
    let (local, peer) = (name(&stream), stream.getpeername().expect("getpeername"));
    let (accepted_local, udp_local) = (name(&conn), name(&client_udp));
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
        let what = "returns the family's full length and the family";
        assert_eq!(
            (addr.len, addr.family()),
            (full, af(family)),
            "{call} {what}"
        );
    }
    let ip = |a: &Sockaddr| a.socket_addr().expect("an IP address");
    let udp_local = ip(&udp_local);
    assert_eq!(ip(&local).ip(), client_ip);
    assert_eq!(ip(&peer), tcp_at);
    assert_eq!(ip(&accepted_peer), ip(&local));
    assert_eq!(ip(&accepted_local), tcp_at);
    let autobind = "an unconnected UDP socket's autobind";
    assert_eq!(udp_local.ip(), wildcard(family), "{autobind}");
    assert_eq!(ip(&from), SocketAddr::new(client_ip, udp_local.port()));
    assert_eq!(ip(&msg_from), ip(&from));

    // Into 8 octets: the full length comes back, the family and port were written, and nothing
    // past the buffer (the bytes were filled with FILL before the call).
    let cut = stream
        .getpeername_into(8)
        .expect("getpeername into 8 octets");
    let written = (cut.len, cut.family(), cut.port());
    assert_eq!(written, (full, af(family), tcp_at.port()), "a cut address");
    let past = &cut.bytes()[8..];
    assert!(
        past.iter().all(|&b| b == FILL),
        "written past 8 octets: {cut:?}"
    );

    let udp_in = match family {
        Family::V4 => "Udp.InDatagrams",
        Family::V6 => "Udp6.InDatagrams",
    };
    seen.counters("server")?
        .moved([("Tcp.PassiveOpens", 1), (udp_in, 2)])?;
    seen.check_on(&net, "client", &expectation)?;

    let lens = returned.map(|(_, a)| f64::from(a.len));
    case.figure("returned_addrlen", &lens, "octets");
    case.figure("shortest_accepted_addrlen", &[f64::from(min)], "octets");
    case.figure("cut_getpeername_addrlen", &[f64::from(cut.len)], "octets");
    Ok(())
}

async fn wildcard_reached_on_every_address(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let (full, _) = lengths(family);
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
    let wild = listener(server, SocketAddr::new(any, 7000), true).await?;
    let name = wild.getsockname().expect("getsockname");
    let bound = (full, Some(SocketAddr::new(any, 7000)));
    assert_eq!((name.len, name.socket_addr()), bound);
    let on_link = listener(server, SocketAddr::new(server_ip, 7001), true).await?;
    let watch = net.watch(&["client", "server"]).await?;

    let (mut kept, mut reached) = (Vec::new(), Vec::new());
    for &(from, to, local_expected, source) in &targets {
        let (to, at) = (
            SocketAddr::new(to, 7000),
            SocketAddr::new(local_expected, 7000),
        );
        let stream = net.host(from)?.connect(to).await?;
        let stream = stream.unwrap_or_else(|e| panic!("connect from {from} to {to}: {e}"));
        let (conn, accepted_peer) = wild.accept_addr().await?.expect("accept");
        let [local, peer, accepted_local] = [
            stream.getsockname(),
            stream.getpeername(),
            conn.getsockname(),
        ]
        .map(|a| a.expect("getsockname, getpeername"));
        for a in [local, peer, accepted_local, accepted_peer] {
            assert_eq!(a.len, full, "{from} -> {to}: {a:?}");
        }
        let ip = |a: &Sockaddr| a.socket_addr().expect("an IP address");
        assert_eq!(
            ip(&local).ip(),
            source,
            "{from} -> {to}: the client's source address"
        );
        assert_eq!(ip(&peer), at, "{from} -> {to}: getpeername on the client");
        let not_wildcard = "accept()ed socket's local address is the one reached, not the wildcard";
        assert_eq!(ip(&accepted_local), at, "{from} -> {to}: {not_wildcard}");
        assert_eq!(
            ip(&accepted_peer),
            ip(&local),
            "{from} -> {to}: accept()'s peer"
        );
        reached.push(at);
        kept.push((stream, conn));
    }

    // The listener on the link address is not reached through loopback, nor through the wildcard
    // (which is loopback); it is through its own address, also from its own host.
    for ip in [lo, any] {
        let refused = server.connect(SocketAddr::new(ip, 7001)).await?.err();
        assert_eq!(
            refused,
            Some(Errno::ECONNREFUSED),
            "connect to {ip}, port 7001"
        );
    }
    let via_link = server.connect(SocketAddr::new(server_ip, 7001)).await?;
    let via_link = via_link.expect("connect to the bound address");
    let (via_link_conn, _) = on_link.accept_addr().await?.expect("accept");

    let table = server
        .sockets_matching(Filter::all().local_port(7000))
        .await?;
    assert_eq!(
        table.listener(SocketAddr::new(any, 7000))?.state,
        TcpState::Listen
    );
    let mut listed: Vec<_> = table
        .in_state(TcpState::Established)
        .map(|s| s.local)
        .collect();
    let mut wanted = reached.clone();
    (listed.sort(), wanted.sort());
    let what = "sock_diag: the accepted sockets' local addresses";
    assert_eq!(listed, wanted, "{what}\n{table:?}");

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
        assert!(
            between,
            "a segment on the link not between the two hosts: {s}"
        );
    }
    drop((kept, via_link, via_link_conn));

    case.figure("connections_accepted", &[accepted as f64], "connections");
    case.figure("addresses_reached", &[reached.len() as f64], "addresses");
    Ok(())
}

async fn v4_mapped_on_a_v6_wildcard(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (server, client) = (net.host("server")?, net.host("client")?);
    let (v4, v6) = (Family::V4, Family::V6);
    let (server_v4, server_v6) = (
        net.socket_addr("server", v4, 7000)?,
        net.socket_addr("server", v6, 7000)?,
    );
    let refused_at = net.socket_addr("server", v4, 7001)?;
    let (client_v4, client_v6) = (net.addr("client", v4)?, net.addr("client", v6)?);
    let bindv6only = server.get_raw("net/ipv6/bindv6only").await?;
    let bindv6only: u8 = bindv6only.parse().expect("net.ipv6.bindv6only is a number");
    let settings = client.settings().await?;
    let expectation = expectation("socket_addresses_v4_mapped.expect", &settings)?;
    let watch = net.watch(&["client", "server"]).await?;

    let fresh = server.socket(Domain::IPV6, Type::STREAM).await?;
    let default = fresh.socket().only_v6().expect("IPV6_V6ONLY");
    let sysctl = format!("net.ipv6.bindv6only ({bindv6only})");
    assert_eq!(
        default,
        bindv6only != 0,
        "a new IPv6 socket's IPV6_V6ONLY is {sysctl}"
    );
    let any = |family, port| SocketAddr::new(wildcard(family), port);
    let dual = listener(server, any(v6, 7000), false).await?;
    let taken = server
        .socket(Domain::IPV4, Type::STREAM)
        .await?
        .bind_addr(any(v4, 7000));
    let owned = "the dual-stack listener owns IPv4 port 7000 too";
    assert_eq!(taken, Err(Errno::EADDRINUSE), "{owned}");
    let _only6 = listener(server, any(v6, 7001), true).await?;
    let free = server
        .socket(Domain::IPV4, Type::STREAM)
        .await?
        .bind_addr(any(v4, 7001));
    free.expect("an IPV6_V6ONLY listener leaves IPv4 port 7001 free to bind");

    let a = client
        .connect(server_v4)
        .await?
        .expect("IPv4 connect to [::]:7000");
    let b = client
        .connect(server_v6)
        .await?
        .expect("IPv6 connect to [::]:7000");
    let refused = client.connect(refused_at).await?.err();
    let only6 = "IPv4 connect to the IPV6_V6ONLY listener's port";
    assert_eq!(refused, Some(Errno::ECONNREFUSED), "{only6}");
    // The client sees plain IPv4.
    let (v4_local, v4_peer) = (
        a.getsockname().expect("getsockname"),
        a.getpeername().expect("getpeername"),
    );
    assert_eq!((v4_local.len, v4_peer.len), (SOCKADDR_IN, SOCKADDR_IN));
    let v4_local = v4_local.socket_addr().expect("IPv4");
    assert_eq!(v4_local.ip(), client_v4);
    assert_eq!(v4_peer.socket_addr(), Some(server_v4));
    let v6_local = b.local()?;
    assert_eq!(v6_local.ip(), client_v6);

    // The accept queue is in arrival order: the IPv4 client first.
    let (mapped, peer) = dual.accept_addr().await?.expect("accept");
    let local = mapped.getsockname().expect("getsockname");
    let domain = mapped.socket().domain().expect("SO_DOMAIN");
    assert_eq!(
        domain,
        Domain::IPV6,
        "the accepted socket of an IPv4 client is an IPv6 socket"
    );
    assert_eq!(
        (peer.len, local.len),
        (SOCKADDR_IN6, SOCKADDR_IN6),
        "sockaddr_in6 lengths"
    );
    assert_eq!(peer.family(), af(v6));
    assert_eq!(
        peer.socket_addr(),
        Some(v4_mapped(v4_local)),
        "accept(): ::ffff:a.b.c.d"
    );
    let mapped_local = Some(v4_mapped(server_v4));
    assert_eq!(
        local.socket_addr(),
        mapped_local,
        "getsockname: ::ffff:a.b.c.d"
    );
    let (plain, peer) = dual.accept_addr().await?.expect("accept");
    assert_eq!(peer.socket_addr(), Some(v6_local));
    assert_eq!(
        plain.getsockname().expect("getsockname").socket_addr(),
        Some(server_v6)
    );

    let established = Filter::all().state(TcpState::Established).local_port(7000);
    let table = server.sockets_matching(established).await?;
    let diag = table.find(v4_mapped(server_v4), v4_mapped(v4_local))?;
    let carrying = "sock_diag: an IPv6 socket carrying IPv4";
    assert_eq!(diag.family, Family::V6, "{carrying}\n{table:?}");

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
        let (c, srv) = if s.from == "client" {
            (s.src, s.dst)
        } else {
            (s.dst, s.src)
        };
        let known = connections.iter().any(|&(lc, ls)| {
            lc.ip() == c.ip() && (lc.port() == 0 || lc.port() == c.port()) && ls == srv
        });
        assert!(known, "a segment of no connection of this case: {s}");
        let mapped_on_wire = is_mapped(s.src.ip()) || is_mapped(s.dst.ip());
        assert!(!mapped_on_wire, "a v4-mapped address on the wire: {s}");
        by_family[usize::from(s.family() == Family::V6)] += 1;
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
    let parsed = unsafe { [c"255.255.255.255", c"no address"].map(|t| inet_addr(t.as_ptr())) };
    let ambiguous = "inet_addr cannot tell the broadcast address from an error";
    assert_eq!(parsed, [libc::INADDR_NONE; 2], "{ambiguous}");

    let (server, client) = (net.host("server")?, net.host("client")?);
    let client_ip = net.addr("client", Family::V4)?;
    let end = net.link("client", "server")?.end("client")?;
    let subnet = end.net(Family::V4).expect("an IPv4 subnet");
    let (IpAddr::V4(subnet_broadcast), IpAddr::V4(network)) =
        (subnet.broadcast(), subnet.network())
    else {
        unreachable!("an IPv4 subnet has IPv4 addresses")
    };
    // In the link's subnet, and no host's.
    let foreign = Ipv4Addr::from(u32::from(network) + 77);
    let (limited, any) = (Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED);
    let at = |ip: Ipv4Addr, port| SocketAddr::new(IpAddr::V4(ip), port);
    let watch = net.watch(&["client", "server"]).await?;
    let receiver = server.socket(Domain::IPV4, Type::DGRAM).await?;
    receiver.bind_addr(at(any, 7001)).expect("bind");

    let mut tcp = Vec::new();
    for (to, broadcast) in [
        (limited, false),
        (subnet_broadcast, false),
        (limited, true),
        (subnet_broadcast, true),
    ] {
        let s = client.socket(Domain::IPV4, Type::STREAM).await?;
        s.socket().set_broadcast(broadcast).expect("SO_BROADCAST");
        tcp.push(s.connect_addr(at(to, 7000)).await?.err());
    }
    let (unreachable, eacces) = (Some(Errno::ENETUNREACH), Some(Errno::EACCES));
    let both = format!("{limited} and {subnet_broadcast}, without and with SO_BROADCAST");
    assert_eq!(tcp, [unreachable; 4], "TCP connect to {both}");
    let mut udp = Vec::new();
    for (to, bound, broadcast, what) in [
        (limited, false, false, &b"-"[..]),
        (limited, true, false, b"-"),
        (limited, true, true, b"limited"),
        (subnet_broadcast, false, false, b"-"),
        (subnet_broadcast, false, true, b"subnet"),
    ] {
        let s = client.socket(Domain::IPV4, Type::DGRAM).await?;
        if bound {
            s.bind_addr(SocketAddr::new(client_ip, 0))
                .expect("bind the client's address");
        }
        s.socket().set_broadcast(broadcast).expect("SO_BROADCAST");
        udp.push(s.sendto(what, at(to, 7001)).err());
    }
    let sent = [unreachable, eacces, None, eacces, None];
    assert_eq!(
        udp, sent,
        "UDP sendto: {limited} unbound (no route), bound without and with SO_BROADCAST; {subnet_broadcast} without and with SO_BROADCAST"
    );
    let mut binds = Vec::new();
    for (ty, ip) in [
        (Type::DGRAM, limited),
        (Type::STREAM, limited),
        (Type::DGRAM, subnet_broadcast),
        (Type::STREAM, subnet_broadcast),
        (Type::STREAM, foreign),
        (Type::STREAM, any),
    ] {
        let s = client.socket(Domain::IPV4, ty).await?;
        let name = |()| s.getsockname().expect("getsockname").socket_addr();
        binds.push(s.bind_addr(at(ip, 7002)).map(name));
    }
    let ok = |ip| Ok(Some(at(ip, 7002)));
    let want = [
        ok(limited),
        ok(limited),
        ok(subnet_broadcast),
        ok(subnet_broadcast),
        Err(Errno::EADDRNOTAVAIL),
        ok(any),
    ];
    assert_eq!(
        binds, want,
        "bind (UDP, TCP) to {limited}, to {subnet_broadcast}, TCP to the foreign {foreign}, to INADDR_ANY"
    );
    let connected = client.socket(Domain::IPV4, Type::DGRAM).await?;
    connected
        .connect_addr(at(any, 7003))
        .await?
        .expect("UDP connect to INADDR_ANY");
    let peer = connected.getpeername().expect("getpeername").socket_addr();
    let to_loopback = Some(SocketAddr::new(loopback(Family::V4), 7003));
    assert_eq!(
        peer, to_loopback,
        "UDP connect to INADDR_ANY connects to loopback"
    );

    // Both broadcasts that were sent reached the server's wildcard socket, from the client. Two
    // destinations, two flows: the receiving link spreads flows over the CPUs (RPS), so they may
    // arrive in either order.
    let mut received = Vec::new();
    for _ in 0..2 {
        let (data, from) = receiver.recvfrom().await?.expect("recvfrom");
        let text = String::from_utf8_lossy(&data).into_owned();
        received.push((text, from.socket_addr().map(|a| a.ip())));
    }
    received.sort();
    let from = Some(client_ip);
    assert_eq!(
        received,
        [("limited".to_owned(), from), ("subnet".to_owned(), from)]
    );

    let seen = watch.stop().await?;
    // ActiveOpens: no connect got as far as a SYN.
    seen.counters("client")?
        .moved([("Tcp.ActiveOpens", 0), ("Udp.OutDatagrams", 2)])?;
    seen.counters("server")?.moved([("Udp.InDatagrams", 2)])?;
    // On the wire: the two broadcasts, and not one TCP segment.
    let packets = seen.recorded.on("client")?.packets(&net, Zero::FirstFrame);
    let tcp_on_wire: Vec<String> = decode::segments(&packets).map(|s| s.to_string()).collect();
    assert!(tcp_on_wire.is_empty(), "TCP on the wire: {tcp_on_wire:?}");
    for to in [limited, subnet_broadcast] {
        let (line, dest) = (format!("UDP {client_ip}."), format!(" > {to}.7001"));
        let datagram = |p: &Packet| matches!(p, Packet::Other(o) if o.what.starts_with(&line) && o.what.ends_with(&dest));
        assert!(
            packets.iter().any(datagram),
            "no UDP datagram to {to} captured: {packets:?}"
        );
    }

    case.figure("inaddr_none", &[f64::from(libc::INADDR_NONE)], "value");
    let errnos = |e: &[Option<Errno>]| {
        e.iter()
            .map(|e| e.map_or(0.0, |e| f64::from(e as i32)))
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
    let bytes = |p: PathBuf| p.to_str().expect("a UTF-8 path").as_bytes().to_vec();
    let (stream_name, dgram_name) = (bytes(dir.join("stream")), bytes(dir.join("dgram")));
    // The name's length after the family, without its NUL (abstract names: all of it) and with.
    let name_len = |name: &[u8]| (SUN_PATH + name.len()) as libc::socklen_t;
    let path_len = |name: &[u8]| name_len(name) + 1;
    let (abstract_name, sender_name) = (&b"\0netcase-abstract"[..], &b"\0netcase-sender"[..]);
    let (abstract_, sender) = (
        Sockaddr::unix(abstract_name, name_len(abstract_name)),
        Sockaddr::unix(sender_name, name_len(sender_name)),
    );
    let (unix, stream, dgram) = (Domain::UNIX, Type::STREAM, Type::DGRAM);

    // A path, bound with sizeof(struct sockaddr_un) as so much code does.
    let listener = server.socket(unix, stream).await?;
    listener
        .bind_addr(Sockaddr::unix(&stream_name, SOCKADDR_UN))
        .expect("bind a path");
    listener.listen(8).expect("listen");
    // The same for a datagram socket bound with the length without the NUL.
    let receiver = server.socket(unix, dgram).await?;
    receiver
        .bind_addr(Sockaddr::unix(&dgram_name, name_len(&dgram_name)))
        .expect("bind a path without its NUL");
    // Abstract: exactly the length given, once with the name's length, once padded.
    let abstract_listener = server.socket(unix, stream).await?;
    abstract_listener
        .bind_addr(abstract_)
        .expect("bind abstract");
    abstract_listener.listen(8).expect("listen");
    let taken = server.socket(unix, stream).await?.bind_addr(abstract_);
    let padded = server.socket(unix, stream).await?;
    padded
        .bind_addr(Sockaddr::unix(b"\0netcase-padded", SOCKADDR_UN))
        .expect("bind padded");
    // Autobind: the family alone.
    let auto = server.socket(unix, dgram).await?;
    auto.bind_addr(Sockaddr::unix(b"", SA_FAMILY))
        .expect("autobind");
    // Unnamed: a socketpair.
    let (pair, _other) = server.socket_pair(unix, stream).await?;

    let client_stream = client.socket(unix, stream).await?;
    let to_path = Sockaddr::unix(&stream_name, name_len(&stream_name));
    client_stream
        .connect_addr(to_path)
        .await?
        .expect("connect to a path from another network namespace");
    let refused = client
        .socket(unix, stream)
        .await?
        .connect_addr(abstract_)
        .await?;
    let same_name = client.socket(unix, stream).await?.bind_addr(abstract_);
    let to = Sockaddr::unix(&dgram_name, path_len(&dgram_name));
    client
        .socket(unix, dgram)
        .await?
        .sendto(b"unbound", to)
        .expect("sendto from an unbound socket");
    let named = client.socket(unix, dgram).await?;
    named.bind_addr(sender).expect("bind the sender");
    named
        .sendmsg(b"named", to)
        .expect("sendmsg from an abstract name");

    let (_conn, accepted) = listener.accept_addr().await?.expect("accept");
    let (data, from_unbound) = receiver.recvfrom().await?.expect("recvfrom");
    assert_eq!(data, b"unbound");
    let (data, from_named) = receiver.recvmsg().await?.expect("recvmsg");
    assert_eq!(data, b"named");

    let name = |s: &Sock| s.getsockname().expect("getsockname");
    let (path, abstract_bound, auto) = (name(&listener), name(&abstract_listener), name(&auto));
    let with_nul = |name: &[u8]| [name, b"\0"].concat();
    assert_eq!(path.family(), libc::AF_UNIX);
    for (what, a, len, sun_path) in [
        (
            "getsockname of a path bound with sizeof(sockaddr_un)",
            path,
            path_len(&stream_name),
            with_nul(&stream_name),
        ),
        (
            "getsockname of a path bound without its NUL",
            name(&receiver),
            path_len(&dgram_name),
            with_nul(&dgram_name),
        ),
        (
            "an abstract name: the length bind() was given",
            abstract_bound,
            abstract_.len,
            abstract_name.to_vec(),
        ),
        (
            "the client's getpeername",
            client_stream.getpeername().expect("getpeername"),
            path_len(&stream_name),
            with_nul(&stream_name),
        ),
        (
            "recvmsg: the sender's abstract name",
            from_named,
            sender.len,
            sender_name.to_vec(),
        ),
    ] {
        assert_eq!((a.len, a.sun_path()), (len, sun_path), "{what}");
    }
    assert_eq!(
        taken,
        Err(Errno::EADDRINUSE),
        "the abstract name again, in the same host"
    );
    let padding = "an abstract name bound with sizeof(sockaddr_un) keeps its padding";
    assert_eq!(name(&padded).len, SOCKADDR_UN, "{padding}");
    let auto_len = (SUN_PATH + 1 + 5) as libc::socklen_t;
    assert_eq!(auto.len, auto_len, "autobind: a NUL and five hex digits");
    let auto_name = auto.sun_path();
    let hex = auto_name[0] == 0 && auto_name[1..].iter().all(|b| b.is_ascii_hexdigit());
    assert!(hex, "autobind name {auto_name:?}");
    for (what, a) in [
        ("socketpair getsockname", name(&pair)),
        (
            "socketpair getpeername",
            pair.getpeername().expect("getpeername"),
        ),
        ("unbound client's getsockname", name(&client_stream)),
        ("accept of an unbound client", accepted),
    ] {
        assert_eq!(
            (a.len, a.family()),
            (SA_FAMILY, libc::AF_UNIX),
            "{what}: sizeof(sa_family_t)"
        );
    }
    let no_address = "recvfrom: a datagram from an unbound socket has no address";
    assert_eq!(from_unbound.len, 0, "{no_address}");
    let elsewhere = "the server's abstract name, from the client's network namespace";
    assert_eq!(refused, Err(Errno::ECONNREFUSED), "{elsewhere}");
    let binds = "the server's abstract name binds in the client's namespace";
    assert_eq!(same_name, Ok(()), "{binds}");

    // The path's length less its name's (which depends on where the run's files are): the
    // family and the NUL.
    let lens = [
        path.len - stream_name.len() as libc::socklen_t,
        abstract_bound.len,
        auto.len,
        accepted.len,
        from_unbound.len,
    ];
    case.figure(
        "sun_addrlen_path_beyond_name_abstract_autobind_unnamed_unbound_dgram",
        &lens.map(f64::from),
        "octets",
    );
    Ok(())
}
