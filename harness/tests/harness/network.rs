//! Hosts reach each other over TCP on both families, directly and through a router, and a
//! topology is usable the moment it is handed over.

use netcase::{
    Family, Result, Topology,
    fixtures::{pair, routed},
    require_privileges, require_program,
};
use rstest::rstest;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Sends `request` from `client` to an echo-like server on `server` and returns what came back and
/// the address the server saw the client at.
async fn exchange(
    net: &Topology,
    family: Family,
    request: &'static [u8],
) -> Result<(Vec<u8>, std::net::SocketAddr)> {
    let addr = net.socket_addr("server", family, 7000)?;
    let listener = net
        .host("server")?
        .spawn(async move { TcpListener::bind(addr).await })
        .await?
        .expect("bind on the server's own address");
    let served = net.host("server")?.spawn(async move {
        let (mut stream, peer) = listener.accept().await.expect("accept");
        let mut buf = vec![0; request.len()];
        stream.read_exact(&mut buf).await.expect("read the request");
        buf.reverse();
        stream.write_all(&buf).await.expect("write the reply");
        peer
    });
    let reply = net
        .host("client")?
        .spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.write_all(request).await.expect("write");
            let mut buf = vec![0; request.len()];
            stream.read_exact(&mut buf).await.expect("read");
            buf
        })
        .await?;
    Ok((reply, served.await?))
}

#[rstest]
#[tokio::test]
async fn hosts_on_one_link_talk_tcp(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let (reply, seen) = exchange(&net, family, b"hello").await?;
    assert_eq!(reply, b"olleh");
    assert_eq!(seen.ip(), net.addr("client", family)?);
    Ok(())
}

/// Reads one counter from a `/proc/net/snmp`-style table ("Ip: Forwarding ...\nIp: 1 ...").
fn snmp_counter(table: &str, prefix: &str, name: &str) -> u64 {
    let mut rows = table.lines().filter(|l| l.starts_with(prefix));
    let (names, values) = (rows.next().unwrap_or(""), rows.next().unwrap_or(""));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no counter {prefix} {name} in:\n{table}"))
}

/// Packets forwarded by `router` so far, in `family`.
async fn forwarded(net: &Topology, family: Family) -> Result<u64> {
    net.host("router")?
        .run(move || match family {
            Family::V4 => {
                let t = std::fs::read_to_string("/proc/thread-self/net/snmp").expect("snmp");
                snmp_counter(&t, "Ip:", "ForwDatagrams")
            }
            Family::V6 => {
                let t = std::fs::read_to_string("/proc/thread-self/net/snmp6").expect("snmp6");
                t.lines()
                    .find_map(|l| l.strip_prefix("Ip6OutForwDatagrams"))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("Ip6OutForwDatagrams in snmp6")
            }
        })
        .await
}

#[rstest]
#[tokio::test]
async fn a_router_forwards_between_its_hosts(
    #[future] routed: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = routed.await?;
    // The two ends are on different subnets: only the router joins them.
    let client = net
        .link("client", "router")?
        .end("client")?
        .net(family)
        .unwrap();
    let server = net.addr("server", family)?;
    assert!(!client.contains(&server), "{client} contains {server}");

    let before = forwarded(&net, family).await?;
    let (reply, seen) = exchange(&net, family, b"through the middle").await?;
    assert_eq!(reply, b"elddim eht hguorht");
    assert_eq!(seen.ip(), net.addr("client", family)?);
    // Handshake, request, reply, acknowledgements: at least four segments crossed the router.
    let crossed = forwarded(&net, family).await? - before;
    assert!(crossed >= 4, "the router forwarded only {crossed} packets");
    Ok(())
}

/// The first packets on a fresh topology are never lost to set-up. A lost SYN or SYN-ACK costs a
/// retransmission after the initial RTO (1 s, `TCP_TIMEOUT_INIT`), visible in the retransmit counts
/// of both ends; a lost neighbour solicitation costs `retrans_time_ms` (1 s) with no TCP
/// retransmission at all, so the handshake must also finish before the first of those timers: within
/// 900 ms, which leaves a loaded machine (this binary runs every test at once on two cores: a
/// handshake once took 609 ms without a retransmission) room for scheduling, and is still shorter
/// than the shortest a lost solicitation costs (1 s less a jiffy).
/// Through a router too, which resolves the server from its own link-local address. Both variants
/// run at once under `cargo test`, which is the load that once exposed a race here.
#[rstest]
#[tokio::test]
async fn the_first_syn_on_a_fresh_topology_arrives(
    #[values(false, true)] routed: bool,
) -> Result<()> {
    require_privileges!();
    let long_before_the_first_timer = std::time::Duration::from_millis(900);
    for round in 0..50 {
        for family in Family::BOTH {
            let net = if routed {
                Topology::routed().await?
            } else {
                Topology::pair().await?
            };
            let addr = net.socket_addr("server", family, 80)?;
            let listener = net
                .host("server")?
                .spawn(async move { TcpListener::bind(addr).await })
                .await?
                .expect("bind");
            let accepted = net.host("server")?.spawn(async move {
                let (stream, _) = listener.accept().await.expect("accept");
                tcp_total_retrans(&stream)
            });
            let (took, client_retransmits) = net
                .host("client")?
                .spawn(async move {
                    let start = std::time::Instant::now();
                    let stream = TcpStream::connect(addr).await.expect("connect");
                    (start.elapsed(), tcp_total_retrans(&stream))
                })
                .await?;
            let server_retransmits = accepted.await?;
            assert_eq!(
                (client_retransmits, server_retransmits),
                (0, 0),
                "round {round}, {family}: the handshake needed retransmissions (client, server)"
            );
            assert!(
                took < long_before_the_first_timer,
                "round {round}, {family}: the handshake took {took:?}: a neighbour solicitation was lost"
            );
        }
    }
    Ok(())
}

/// `tcpi_total_retrans` of a connected socket.
fn tcp_total_retrans(stream: &TcpStream) -> u32 {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain old data; getsockopt writes at most `len` bytes into it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info.tcpi_total_retrans
}

/// Two topologies built at once, with the same host names and the same addresses, are two
/// separate worlds: each client reaches its own server.
#[tokio::test]
async fn identical_topologies_in_parallel_do_not_interfere() -> Result<()> {
    require_privileges!();
    let (one, two) = tokio::join!(Topology::pair(), Topology::pair());
    let nets = [one?, two?];
    assert_eq!(
        nets[0].addr("server", Family::V4)?,
        nets[1].addr("server", Family::V4)?
    );
    let mut servers = Vec::new();
    for (id, net) in nets.iter().enumerate() {
        let addr = net.socket_addr("server", Family::V4, 9000)?;
        let listener = net
            .host("server")?
            .spawn(async move { TcpListener::bind(addr).await })
            .await?
            .expect("the same address and port bind in each topology");
        servers.push(net.host("server")?.spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            stream.write_all(&[id as u8]).await.expect("write");
        }));
    }
    for (id, net) in nets.iter().enumerate() {
        let addr = net.socket_addr("server", Family::V4, 9000)?;
        let heard = net
            .host("client")?
            .spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                stream.read_u8().await.expect("read")
            })
            .await?;
        assert_eq!(
            usize::from(heard),
            id,
            "client {id} reached another topology's server"
        );
    }
    for server in servers {
        server.await?;
    }
    Ok(())
}

/// Runs `program args...` on `host` and returns its standard output.
async fn stdout_of(net: &Topology, host: &str, program: &str, args: &[&str]) -> Result<String> {
    let mut cmd = net.host(host)?.command(program);
    cmd.args(args);
    let out = net.host(host)?.output(cmd).await?;
    assert!(
        out.status.success(),
        "{program} {args:?} on {host}: {out:?}"
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The harness's offload and MTU settings reach the kernel, on both ends of a link: one segment
/// per frame (`gso_max_segs 1`, TSO off), real checksums (transmit checksum offload off), no GRO.
/// `offloads(true)` leaves the kernel's defaults alone.
#[tokio::test]
async fn links_carry_wire_size_segments_by_default() -> Result<()> {
    require_privileges!();
    require_program!("ethtool", "ethtool");
    let net = Topology::builder()
        .hosts(["a", "b", "c"])
        .link_with("a", "b", |l| l.mtu(1400))
        .link_with("a", "c", |l| l.offloads(true))
        .build()
        .await?;
    for host in ["a", "b"] {
        let link = stdout_of(&net, host, "ip", &["-d", "link", "show", "dev", "eth0"]).await?;
        assert!(link.contains("mtu 1400"), "{host}: {link}");
        assert!(link.contains("gso_max_segs 1 "), "{host}: {link}");
        assert!(link.contains("state UP"), "{host}: {link}");
        let features = stdout_of(&net, host, "ethtool", &["-k", "eth0"]).await?;
        for off in [
            "tx-checksumming: off",
            "tx-tcp-segmentation: off",
            "tx-tcp6-segmentation: off",
            "generic-receive-offload: off",
        ] {
            assert!(features.contains(off), "{host}: no {off:?} in\n{features}");
        }
    }
    let kept = stdout_of(&net, "c", "ethtool", &["-k", "eth0"]).await?;
    assert!(kept.contains("tx-checksumming: on"), "{kept}");
    let link = stdout_of(&net, "c", "ip", &["-d", "link", "show", "dev", "eth0"]).await?;
    assert!(!link.contains("gso_max_segs 1 "), "{link}");
    Ok(())
}

/// A link below IPv6's minimum MTU carries IPv4 only; it is ready, and TCP segments fit its MTU.
#[tokio::test]
async fn a_small_mtu_link_carries_ipv4() -> Result<()> {
    require_privileges!();
    let net = Topology::builder()
        .hosts(["client", "server"])
        .link_with("client", "server", |l| l.mtu(576).without(Family::V6))
        .build()
        .await?;
    let (reply, _) = exchange(&net, Family::V4, b"small frames").await?;
    assert_eq!(reply, b"semarf llams");
    let link = stdout_of(&net, "client", "ip", &["-o", "link", "show", "dev", "eth0"]).await?;
    assert!(
        link.contains("mtu 576") && link.contains("state UP"),
        "{link}"
    );
    Ok(())
}

/// Every link end receives on one CPU, so that a flow's segments, sent from two CPUs (a delayed
/// ACK from a timer, a FIN from close()), arrive in the order they were sent, and one after
/// another as on a single-queue NIC: its receive queue steers every packet to one CPU (RPS), the
/// mask the harness gives each namespace (`net.core.rps_default_mask`), or on kernels without it
/// (before 6.2) each end's own `rps_cpus`. Read in sysfs, mounted in a mount namespace of the
/// reader's own (`unshare -m`, private), since /sys shows the root namespace's devices.
#[rstest]
#[tokio::test]
async fn link_ends_receive_on_one_cpu(#[future] routed: Result<Topology>) -> Result<()> {
    require_privileges!();
    require_program!("unshare", "util-linux");
    let net = routed.await?;
    for end in net.links().iter().flat_map(|l| l.ends()) {
        let script = format!(
            "mount -t sysfs sysfs /sys && cat /sys/class/net/{}/queues/rx-0/rps_cpus",
            end.ifname()
        );
        let mask = stdout_of(&net, end.host(), "unshare", &["-m", "sh", "-c", &script]).await?;
        let cpus: u32 = mask
            .trim()
            .split(',')
            .map(|g| u32::from_str_radix(g, 16).map_or(u32::MAX, u32::count_ones))
            .sum();
        assert_eq!(
            cpus,
            1,
            "{} {}: rps_cpus {mask:?}",
            end.host(),
            end.ifname()
        );
    }
    Ok(())
}
