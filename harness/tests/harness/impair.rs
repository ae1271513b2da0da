//! Drops on a link: silent for the sender, counted, repeatable from a seed, and removable.

use std::{
    io::ErrorKind,
    net::UdpSocket,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use netcase::{
    Family, Result, Topology,
    capture::Zero,
    decode::{Flags, Segment, segments},
    fixtures::{pair, routed},
    impair::{Impairment, Packets, Which},
    require_privileges,
};
use rstest::rstest;

/// Sends `count` datagrams numbered 0.. from client to server and returns the numbers the server
/// received and whether every send succeeded.
///
/// The client sends in batches and, with an impairment, waits until its program has seen each
/// batch: a burst larger than the receiver's backlog (`netdev_max_backlog`) would otherwise be
/// dropped before the program, uncounted.
async fn datagrams(
    net: &Topology,
    count: u32,
    port: u16,
    impairment: Option<&Impairment>,
) -> Result<(Vec<u32>, bool)> {
    let server_addr = net.socket_addr("server", Family::V4, port)?;
    let socket = net
        .host("server")?
        .run(move || UdpSocket::bind(server_addr))
        .await?
        .expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    // Room for every datagram, so that the socket drops none while the reader catches up.
    let room: libc::c_int = 32 << 20;
    // SAFETY: setsockopt with a c_int value of the size given, on an open socket.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&room as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
    // Set once the client has sent its last datagram (and, with an impairment, the program has
    // seen it): a read timeout after that means every datagram has arrived or been dropped.
    let sent_all = Arc::new(AtomicBool::new(false));
    let done = sent_all.clone();
    // Set however this function ends (an error, a panic), so that the reader never waits forever.
    let sent_all_guard = SetOnDrop(sent_all);
    let receiver = net.host("server")?.run(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 4];
        loop {
            match socket.recv_from(&mut buf) {
                Ok((4, _)) => got.push(u32::from_be_bytes(buf)),
                Ok(_) => panic!("a datagram of another size"),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if done.load(Ordering::Acquire) {
                        break;
                    }
                }
                Err(e) => panic!("recv_from: {e}"),
            }
        }
        got
    });
    let client = net.host("client")?;
    let sender = client
        .run(move || UdpSocket::bind("0.0.0.0:0"))
        .await?
        .expect("bind");
    let before = impairment
        .map(|i| i.counts().expect("counts").seen)
        .unwrap_or(0);
    let mut sent_ok = true;
    for batch in (0..count).collect::<Vec<_>>().chunks(200) {
        for n in batch {
            sent_ok &= sender.send_to(&n.to_be_bytes(), server_addr).is_ok();
        }
        if let Some(impairment) = impairment {
            let sent = u64::from(batch[batch.len() - 1] + 1);
            let deadline = Instant::now() + Duration::from_secs(5);
            while impairment.counts()?.seen - before < sent {
                assert!(
                    Instant::now() < deadline,
                    "the program never saw datagram {sent}"
                );
                std::thread::yield_now();
            }
        }
    }
    drop(sent_all_guard);
    Ok((receiver.await?, sent_ok))
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A TCP listener on the server at `addr`.
async fn listen(net: &Topology, addr: std::net::SocketAddr) -> Result<std::net::TcpListener> {
    let bound = net
        .host("server")?
        .spawn(async move { std::net::TcpListener::bind(addr) })
        .await?;
    Ok(bound.unwrap_or_else(|e| panic!("bind {addr} on the server: {e}")))
}

/// One datagram each way, so that both hosts know each other's MAC address before the drops.
async fn resolve_neighbours(net: &Topology) -> Result<()> {
    let (got, _) = datagrams(net, 1, 5999, None).await?;
    assert_eq!(got, [0]);
    Ok(())
}

#[rstest]
#[tokio::test]
async fn a_blackhole_drops_silently_and_counts(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    resolve_neighbours(&net).await?;
    let impairment = net.impair("client", "server").await?;
    impairment.blackhole()?;
    // Counted from here: a packet may cross between attaching the program and the blackhole
    // (a late neighbour advertisement), seen and passed.
    let before = impairment.counts()?;
    let (received, sent_ok) = datagrams(&net, 100, 6000, Some(&impairment)).await?;
    assert!(received.is_empty(), "{received:?}");
    // The sender cannot tell: every send succeeded (a drop on its own egress would be ENOBUFS).
    assert!(sent_ok);
    // Everything the program saw it dropped: the 100 datagrams, and whatever else crossed the
    // link meanwhile (neighbour discovery, multicast listener reports).
    let counts = impairment.counts()?;
    let (seen, dropped) = (counts.seen - before.seen, counts.dropped - before.dropped);
    assert!(
        seen >= 100 && dropped == seen,
        "{counts:?} since {before:?}"
    );

    impairment.remove(&net).await?;
    let (received, _) = datagrams(&net, 10, 6001, None).await?;
    assert_eq!(
        received,
        (0..10).collect::<Vec<_>>(),
        "a clean path after removal"
    );
    Ok(())
}

/// 30% loss over 10,000 packets measures 30 ± 2%, and the same seed drops the same packets.
#[rstest]
#[tokio::test]
async fn random_loss_is_accurate_and_repeatable(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    resolve_neighbours(&net).await?;
    let impairment = net.impair("client", "server").await?;
    let mut runs = Vec::new();
    for (round, port) in [(0, 6100), (1, 6101)] {
        impairment.loss(30.0, 7)?;
        let before = impairment.counts()?;
        let (received, sent_ok) = datagrams(&net, 10_000, port, Some(&impairment)).await?;
        assert!(sent_ok);
        let counts = impairment.counts()?;
        let seen = counts.seen - before.seen;
        let dropped = counts.dropped - before.dropped;
        // Each datagram either arrived or was dropped by the program (a stray neighbour
        // discovery frame may be counted too).
        assert!(
            seen >= 10_000 && received.len() as u64 + dropped >= 10_000,
            "round {round}: {counts:?}"
        );
        let lost = 10_000 - received.len();
        let loss = lost as f64 / 100.0;
        assert!((28.0..=32.0).contains(&loss), "round {round}: {loss}% lost");
        runs.push(received);
    }
    assert!(
        runs[0] == runs[1],
        "the same seed dropped different packets"
    );
    impairment.clear()?;
    let (received, _) = datagrams(&net, 100, 6102, Some(&impairment)).await?;
    assert_eq!(received.len(), 100, "cleared: nothing dropped");
    assert!(
        impairment
            .loss(101.0, 1)
            .unwrap_err()
            .to_string()
            .contains("not a percentage")
    );
    Ok(())
}

/// Under 20% loss on the data's direction, TCP retransmits until every byte arrives, intact and
/// in order.
#[rstest]
#[tokio::test]
async fn tcp_delivers_every_byte_under_loss(#[future] pair: Result<Topology>) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    require_privileges!();
    let net = pair.await?;
    // Losses the fast retransmit misses wait for the RTO: 20 ms at least instead of 200 ms,
    // so that the test takes a fraction of a second.
    net.host("client")?
        .set(netcase::sysctl::TCP_RTO_MIN_US, 20_000)
        .await?;
    let forward = net.impair("client", "server").await?;
    let addr = net.socket_addr("server", Family::V4, 7100)?;
    let listener = net
        .host("server")?
        .spawn(async move { tokio::net::TcpListener::bind(addr).await })
        .await?
        .expect("bind");
    let payload: Vec<u8> = (0..64_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let expected = payload.clone();
    let received = net.host("server")?.spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.expect("read");
        got
    });
    // The loss starts once the connection is up: a lost SYN waits 1 s (TCP_TIMEOUT_INIT), which
    // tcp_rto_min does not shorten, and the handshake is not what this test is about.
    let mut stream = net
        .host("client")?
        .spawn(async move { tokio::net::TcpStream::connect(addr).await })
        .await?
        .expect("connect");
    forward.loss(20.0, 11)?;
    net.host("client")?
        .spawn(async move {
            stream.write_all(&payload).await.expect("write");
            stream.shutdown().await.expect("shutdown");
        })
        .await?;
    assert!(
        received.await? == expected,
        "the bytes arrived changed or incomplete"
    );
    assert!(forward.counts()?.dropped > 0, "nothing was lost");
    Ok(())
}

/// A cut in the middle of the path: the router drops everything from the client, both ends keep
/// their links up, and removing the cut restores the path.
#[rstest]
#[tokio::test]
async fn a_cut_in_the_middle_leaves_both_links_up(
    #[future] routed: Result<Topology>,
) -> Result<()> {
    require_privileges!();
    let net = routed.await?;
    let cut = net.impair("client", "router").await?;
    cut.blackhole()?;
    let addr = net.socket_addr("server", Family::V6, 7200)?;
    let _listener = listen(&net, addr).await?;
    let connect = net
        .host("client")?
        .spawn(async move { tokio::net::TcpStream::connect(addr).await.is_ok() });
    // The router drops the SYN; the client cannot tell and will retransmit after its initial RTO.
    let deadline = Instant::now() + Duration::from_secs(5);
    while cut.counts()?.dropped == 0 {
        assert!(
            Instant::now() < deadline,
            "the SYN never reached the router"
        );
        tokio::task::yield_now().await;
    }
    for host in ["client", "server"] {
        let mut show = net.host(host)?.command("ip");
        show.args(["-o", "link", "show", "dev", "eth0"]);
        let out = net.host(host)?.output(show).await?;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("state UP") && !text.contains("NO-CARRIER"),
            "{host}: {text}"
        );
    }
    // Repaired: the retransmitted SYN gets through and the same connect succeeds.
    cut.remove(&net).await?;
    assert!(
        connect.await?,
        "the connect failed after the cut was removed"
    );
    Ok(())
}

/// Only the first SYN is dropped: the capture on the server shows both SYNs (the tap sees a
/// frame before the ingress filter drops it), the counters say one of two matched was dropped,
/// and the client's retransmission brings the connection up.
#[rstest]
#[tokio::test]
async fn dropping_the_first_syn_costs_one_retransmission(
    #[future] pair: Result<Topology>,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let rule = net.impair("client", "server").await?;
    rule.drop(Packets::syn(), Which::Nth(1))?;
    let recording = net.record(&["server"]).await?;
    let addr = net.socket_addr("server", Family::V4, 7300)?;
    let _listener = listen(&net, addr).await?;
    net.host("client")?
        .spawn(async move { tokio::net::TcpStream::connect(addr).await })
        .await?
        .expect("connect after one retransmission");
    let recorded = recording.stop().await?;
    let counts = rule.counts()?;
    assert_eq!((counts.matched, counts.dropped), (2, 1), "{counts:?}");
    let packets = recorded.on("server")?.packets(&net, Zero::FirstSyn);
    let syns: Vec<&netcase::decode::Segment> = segments(&packets)
        .filter(|s| s.flags == Flags::SYN)
        .collect();
    assert_eq!(syns.len(), 2, "the dropped SYN and its retransmission");
    // The kernel retransmits a SYN after its initial RTO, 1 s (TCP_TIMEOUT_INIT).
    let gap = syns[1].at_ns - syns[0].at_ns;
    assert!(
        (900_000_000..1_300_000_000).contains(&gap),
        "retransmitted after {gap} ns"
    );
    assert!(rule.drop(Packets::fin(), Which::Nth(0)).is_err());
    Ok(())
}

/// A pulled cable: the client's interface reports NO-CARRIER; plugged back in, the established
/// connection carries on, on both families.
#[rstest]
#[tokio::test]
async fn a_connection_survives_a_pulled_cable(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    require_privileges!();
    let net = pair.await?;
    let addr = net.socket_addr("server", family, 7400)?;
    let listener = net
        .host("server")?
        .spawn(async move { tokio::net::TcpListener::bind(addr).await })
        .await?
        .expect("bind");
    let server = net.host("server")?.spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut got = [0u8; 10];
        stream.read_exact(&mut got).await.expect("both halves");
        got
    });
    let (client_tx, client_rx) = tokio::sync::oneshot::channel::<()>();
    let client = net.host("client")?.spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"befor").await.expect("write before");
        client_rx.await.expect("told to write again");
        stream
            .write_all(b"after")
            .await
            .expect("write after: the socket does not notice");
        stream
    });
    net.pull_cable("client", "server").await?;
    let mut show = net.host("client")?.command("ip");
    show.args(["-o", "link", "show", "dev", "eth0"]);
    let text =
        String::from_utf8_lossy(&net.host("client")?.output(show).await?.stdout).into_owned();
    assert!(text.contains("NO-CARRIER"), "{text}");
    client_tx.send(()).expect("the client waits");
    net.plug_cable("client", "server").await?;
    let got = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the data crossed within TCP's retransmission timeouts")?;
    assert_eq!(&got, b"beforafter");
    drop(client.await?);
    Ok(())
}

/// Pulling the cable at a host behind a router takes its routes with the link; plugging it back
/// in restores them, and the host reaches the far side again.
#[rstest]
#[tokio::test]
async fn a_plugged_cable_restores_routes(#[future] routed: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = routed.await?;
    net.pull_cable("router", "client").await?;
    net.plug_cable("router", "client").await?;
    for family in Family::BOTH {
        let addr = net.socket_addr("server", family, 7500)?;
        let _listener = listen(&net, addr).await?;
        net.host("client")?
            .spawn(async move { tokio::net::TcpStream::connect(addr).await })
            .await?
            .unwrap_or_else(|e| panic!("{family}: no way to the server after the plug: {e}"));
    }
    Ok(())
}

/// A TCP conversation from client to server, through the router if there is one: connect,
/// `rounds` exchanges of 100 octets (TCP_NODELAY, each answered before the next), then an orderly
/// close from the client. The same segments cross the link on every run, drops aside.
async fn conversation(net: &Topology, family: Family, port: u16, rounds: u8) -> Result<()> {
    use std::io::{Read, Write};
    let addr = net.socket_addr("server", family, port)?;
    let listener = listen(net, addr).await?;
    let server = net.host("server")?.run(move || -> std::io::Result<()> {
        let (mut stream, _) = listener.accept()?;
        let mut buf = [0u8; 100];
        loop {
            match stream.read(&mut buf)? {
                0 => return Ok(()),
                n => stream.write_all(&buf[..n])?,
            }
        }
    });
    let client = net.host("client")?.run(move || -> std::io::Result<()> {
        let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut buf = [0u8; 100];
        for round in 0..rounds {
            stream.write_all(&[round; 100])?;
            stream.read_exact(&mut buf)?;
            assert_eq!(buf, [round; 100], "round {round} came back changed");
        }
        stream.shutdown(std::net::Shutdown::Write)?;
        assert_eq!(stream.read(&mut buf)?, 0, "the server's close");
        Ok(())
    });
    client
        .await?
        .expect("the client's side of the conversation");
    server
        .await?
        .expect("the server's side of the conversation");
    Ok(())
}

/// The client's segments that reached the router, and those of them it did not forward: the
/// router's capture on the client's link sees every arriving frame (the tap runs before the
/// ingress filter), its capture on the server's link only what got through, in the same order.
fn router_drops(
    net: &Topology,
    recorded: &netcase::capture::Recorded,
) -> Result<(Vec<Segment>, Vec<Segment>)> {
    let on = |peer: &str| -> Result<Vec<Segment>> {
        let ifname = net.link(peer, "router")?.end("router")?.ifname().to_owned();
        let captured = recorded
            .captures()
            .iter()
            .find(|c| c.host == "router" && c.ifname == ifname)
            .expect("a capture on each of the router's links");
        let packets = captured.packets(net, Zero::FirstFrame);
        Ok(segments(&packets)
            .filter(|s| s.from == "client")
            .cloned()
            .collect())
    };
    let (arrived, forwarded) = (on("client")?, on("server")?);
    let key = |s: &Segment| (s.flags, s.seq, s.ack, s.len, s.options.timestamps);
    let mut next = forwarded.iter().peekable();
    let mut dropped = Vec::new();
    for segment in &arrived {
        if next.peek().is_some_and(|f| key(f) == key(segment)) {
            next.next();
        } else {
            dropped.push(segment.clone());
        }
    }
    assert!(
        next.next().is_none(),
        "the router forwarded a segment that never arrived"
    );
    Ok((arrived, dropped))
}

/// Each deterministic pattern drops exactly the packets it names: the segments missing behind
/// the router are those an independent reading of the pattern picks from the arrivals, the
/// program's counters agree, and a second run drops the same segments (by relative sequence).
#[rstest]
#[case::the_first_syn(Packets::syn(), Which::Nth(1))]
#[case::every_third_data_segment(Packets::data(), Which::EveryNth(3))]
#[case::the_first_pure_ack(Packets::pure_ack(), Which::Nth(1))]
#[case::the_first_fin(Packets::fin(), Which::Nth(1))]
#[case::the_second_ipv6_data_segment(Packets::data().only(Family::V6), Which::Nth(2))]
#[case::the_fifth_packet(Packets::transport(), Which::Nth(5))]
#[tokio::test]
async fn a_pattern_drops_exactly_what_it_names(
    #[future] routed: Result<Topology>,
    #[case] packets: Packets,
    #[case] which: Which,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = routed.await?;
    let rule = net.impair("client", "router").await?;
    let mut runs = Vec::new();
    for port in [7400, 7401] {
        let before = rule.counts()?;
        let recording = net.record(&["router"]).await?;
        rule.drop(packets, which)?;
        conversation(&net, family, port, 6).await?;
        let recorded = recording.stop().await?;
        assert_eq!(recorded.dropped(), 0, "the capture lost frames");
        let counts = rule.counts()?;
        let (arrived, dropped) = router_drops(&net, &recorded)?;
        let picked: Vec<&Segment> = arrived.iter().filter(|s| packets.picks(s)).collect();
        let named: Vec<&Segment> = picked
            .iter()
            .enumerate()
            .filter(|(i, _)| which.drops(*i as u64 + 1))
            .map(|(_, s)| *s)
            .collect();
        let describe = |list: &[&Segment]| -> Vec<String> {
            list.iter()
                .map(|s| {
                    format!(
                        "{} seq {} ack {} len {}",
                        s.flags, s.rel_seq, s.rel_ack, s.len
                    )
                })
                .collect()
        };
        let dropped_described = describe(&dropped.iter().collect::<Vec<_>>());
        assert_eq!(
            dropped_described,
            describe(&named),
            "dropped versus named, port {port}"
        );
        assert_eq!(counts.matched, picked.len() as u64, "{counts:?}");
        assert_eq!(
            counts.dropped - before.dropped,
            named.len() as u64,
            "{counts:?}"
        );
        // The program's own record names the same segments, and the rule that dropped them.
        let recorded = rule.drops()?;
        let last = &recorded[recorded.len().saturating_sub(named.len())..];
        let frames: Vec<_> = last.iter().map(|d| d.frame.clone()).collect();
        let decoded = netcase::decode::decode(&frames, &|_| None, std::time::UNIX_EPOCH);
        let headers = |s: &Segment| (s.flags, s.seq, s.ack, s.len);
        assert_eq!(
            netcase::decode::segments(&decoded)
                .map(headers)
                .collect::<Vec<_>>(),
            dropped.iter().map(headers).collect::<Vec<_>>(),
            "recorded versus seen dropped, port {port}"
        );
        let why = format!("rule: {packets}, {which}");
        assert!(last.iter().all(|d| d.why == why), "{last:?}");
        runs.push(dropped_described);
    }
    let expect_drops = !(family == Family::V4 && packets == Packets::data().only(Family::V6));
    assert_eq!(!runs[0].is_empty(), expect_drops, "drops: {:?}", runs[0]);
    assert_eq!(runs[0], runs[1], "two runs dropped different segments");
    Ok(())
}

/// UDP patterns: every fourth datagram, exactly; a rule for the other family picks nothing.
#[rstest]
#[tokio::test]
async fn udp_patterns_drop_exactly_what_they_name(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    resolve_neighbours(&net).await?;
    let rule = net.impair("client", "server").await?;
    rule.drop(Packets::udp(), Which::EveryNth(4))?;
    let (received, sent_ok) = datagrams(&net, 100, 7500, Some(&rule)).await?;
    assert!(sent_ok);
    let expected: Vec<u32> = (0..100).filter(|n| (n + 1) % 4 != 0).collect();
    assert_eq!(received, expected);
    let counts = rule.counts()?;
    assert_eq!((counts.matched, counts.dropped), (100, 25), "{counts:?}");

    rule.drop(Packets::transport().only(Family::V6), Which::All)?;
    let (received, _) = datagrams(&net, 50, 7501, Some(&rule)).await?;
    assert_eq!(
        received,
        (0..50).collect::<Vec<_>>(),
        "IPv4 datagrams under an IPv6 rule"
    );
    assert_eq!(rule.counts()?.matched, 0);
    Ok(())
}

/// Impairments come and go under an established connection: a blackhole, then loss, then a rate
/// limit, then none at all; the connection carries every byte through all of it.
#[rstest]
#[tokio::test]
async fn changes_mid_connection_leave_it_established(
    #[future] pair: Result<Topology>,
) -> Result<()> {
    use std::io::{Read, Write};
    require_privileges!();
    let net = pair.await?;
    let addr = net.socket_addr("server", Family::V6, 7600)?;
    let listener = listen(&net, addr).await?;
    let reader = net.host("server")?.run(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("read");
        got
    });
    let mut stream = net
        .host("client")?
        .run(move || std::net::TcpStream::connect(addr))
        .await?
        .expect("connect");
    // The writes below block this thread, which alone can lift the blackhole: the send buffer
    // must hold every chunk written while nothing is acknowledged.
    socket2::SockRef::from(&stream)
        .set_send_buffer_size(4 << 20)
        .expect("SO_SNDBUF");
    let rule = net.impair("client", "server").await?;
    let chunk = |n: u8| vec![n; 50_000];
    let mut sent = Vec::new();
    let mut send = |stream: &mut std::net::TcpStream, n: u8| {
        stream.write_all(&chunk(n)).expect("write");
        sent.extend(chunk(n));
    };
    send(&mut stream, 1);
    rule.blackhole()?;
    send(&mut stream, 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    while rule.counts()?.dropped == 0 {
        assert!(Instant::now() < deadline, "the blackhole dropped nothing");
        tokio::task::yield_now().await;
    }
    rule.clear()?;
    rule.loss(30.0, 3)?;
    send(&mut stream, 3);
    rule.clear()?;
    rule.shape(
        &net,
        netcase::impair::Shaping {
            rate: Some(50_000_000),
            ..Default::default()
        },
    )
    .await?;
    send(&mut stream, 4);
    rule.remove(&net).await?;
    send(&mut stream, 5);
    drop(stream);
    assert!(
        reader.await? == sent,
        "the bytes arrived changed or incomplete"
    );
    Ok(())
}
