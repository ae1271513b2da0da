//! What the kernel believes, observed: socket states and timers over sock_diag, TCP_INFO,
//! counters, settings, and waiting for each without fixed sleeps.

use std::{
    net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket},
    time::{Duration, Instant},
};

use netcase::{
    Family, Host, Result, Topology,
    fixtures::pair,
    observe::{
        self, AcceptQueue, Counters, Filter, Observed, SocketTable, TCP_TIMEWAIT_LEN, TcpState,
        TimerKind, wait_until,
    },
    require_privileges, sysctl,
};
use rstest::rstest;
use socket2::{Domain, SockRef, Socket, TcpKeepalive, Type};

/// A listener on `addr` with `backlog`, created on `host`.
async fn listen(host: &Host, addr: SocketAddr, backlog: i32) -> Result<TcpListener> {
    let bound = host
        .spawn(async move {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            socket.bind(&addr.into())?;
            socket.listen(backlog)?;
            std::io::Result::Ok(TcpListener::from(socket))
        })
        .await?;
    Ok(bound.unwrap_or_else(|e| panic!("listen on {addr}: {e}")))
}

/// A connection from `host` to `addr`, complete when this returns (blocking connect).
async fn connect(host: &Host, addr: SocketAddr) -> Result<TcpStream> {
    let stream = host.run(move || TcpStream::connect(addr)).await?;
    Ok(stream.unwrap_or_else(|e| panic!("connect to {addr}: {e}")))
}

/// How far behind the clock `jiffies` may be when the kernel arms a timer: jiffies advance in
/// the tick's interrupt, and on a busy 2-core VM a tick comes up to ~15 ms late (seen once in 15
/// runs of this binary with every test at once). A timer armed then expires that much early by
/// the clock, so its remaining time read later looks that much shorter.
const TICK_LATE: Duration = Duration::from_millis(20);

/// Waits until `host` has a socket `local -> remote` in `state` (or, for `None`, none at all).
async fn wait_for_state(
    host: &Host,
    local: SocketAddr,
    remote: SocketAddr,
    state: Option<TcpState>,
) -> Result<Observed<SocketTable>> {
    let what = match state {
        Some(s) => format!("{local} -> {remote} in {s} on host {}", host.name()),
        None => format!("{local} -> {remote} to be gone from host {}", host.name()),
    };
    wait_until(
        &what,
        Duration::from_secs(5),
        || host.sockets_matching(Filter::all().local_port(local.port())),
        |t| t.get(local, remote).map(|s| s.state) == state,
    )
    .await
}

/// A scripted close walks both ends through the states RFC 793 names, each seen at its moment:
/// the client closes its sending side first (FIN_WAIT2 / CLOSE_WAIT), then the server closes, and
/// the client, which closed first, keeps the TIME_WAIT socket for `TCP_TIMEWAIT_LEN`.
#[rstest]
#[tokio::test]
async fn states_follow_a_scripted_close(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let (client, server) = (net.host("client")?, net.host("server")?);
    let settings = server.tcp_settings().await?;
    let jiffy = settings.hz.jiffy();
    let server_addr = net.socket_addr("server", family, 7000)?;
    let listener = listen(server, server_addr, 8).await?;

    let table = server.sockets_matching(Filter::all().port(7000)).await?;
    let l = table.listener(server_addr)?;
    assert_eq!(l.family, family);
    assert_eq!(
        l.accept_queue(),
        Some(AcceptQueue {
            len: 0,
            limit: 8.min(settings.somaxconn()?)
        }),
        "{table}"
    );

    let stream = connect(client, server_addr).await?;
    let client_addr = stream.local_addr().expect("local address");
    // The server's end is established when the handshake's last ACK arrives: it then waits in
    // the accept queue.
    wait_until(
        "one connection in the accept queue",
        Duration::from_secs(5),
        || server.sockets_matching(Filter::all().state(TcpState::Listen).port(7000)),
        |t| t.listener(server_addr).ok().map(|l| l.recv_q) == Some(1),
    )
    .await?;
    let (accepted, peer) = listener.accept().expect("accept");
    assert_eq!(peer, client_addr);

    let c = client.sockets().await?;
    assert_eq!(
        c.find(client_addr, server_addr)?.state,
        TcpState::Established
    );
    let s = server.sockets().await?;
    assert_eq!(
        s.find(server_addr, client_addr)?.state,
        TcpState::Established
    );
    assert_eq!(
        s.listener(server_addr)?.recv_q,
        0,
        "accepted: the queue is empty"
    );
    let info = observe::tcp_info(&stream)?;
    assert_eq!(info.state, TcpState::Established);
    assert_eq!((info.retransmits, info.probes, info.unacked), (0, 0, 0));
    let rto_min = Duration::from_micros(settings.value(sysctl::TCP_RTO_MIN_US)?.into());
    assert!(info.rto >= rto_min, "rto {:?} < tcp_rto_min_us", info.rto);

    // The client's FIN: the server acknowledges it at once, so the client waits in FIN_WAIT2 and
    // the server, whose application has not closed, in CLOSE_WAIT.
    stream.shutdown(Shutdown::Write).expect("shutdown");
    let fw2 = wait_for_state(client, client_addr, server_addr, Some(TcpState::FinWait2)).await?;
    // A FIN_WAIT2 socket that is still open has no timer: tcp_fin_timeout applies to orphans.
    assert_eq!(fw2.value.find(client_addr, server_addr)?.timer, None);
    wait_for_state(server, server_addr, client_addr, Some(TcpState::CloseWait)).await?;
    assert_eq!(observe::tcp_info(&stream)?.state, TcpState::FinWait2);
    assert_eq!(observe::tcp_info(&accepted)?.state, TcpState::CloseWait);

    // The server closes: its FIN moves the client to TIME_WAIT, and the server's socket, once
    // its FIN is acknowledged (LAST_ACK), is gone.
    // close_now: no other test's fork may hold the socket open (and keep its FIN back).
    netcase::fork::close_now(|| drop(accepted));
    let tw = wait_for_state(client, client_addr, server_addr, Some(TcpState::TimeWait)).await?;
    wait_for_state(server, server_addr, client_addr, None).await?;
    let err = server
        .sockets()
        .await?
        .find(server_addr, client_addr)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{server_addr} -> {client_addr}")) && err.contains("host server"),
        "{err}"
    );
    let timer = tw
        .value
        .find(client_addr, server_addr)?
        .timer
        .expect("a TIME_WAIT socket has a timer");
    assert_eq!(timer.kind, TimerKind::TimeWait);
    // It entered TIME_WAIT within `window` before it was seen, with TCP_TIMEWAIT_LEN to run.
    assert!(
        timer.remaining <= TCP_TIMEWAIT_LEN
            && timer.remaining + tw.window + 2 * jiffy + TICK_LATE >= TCP_TIMEWAIT_LEN,
        "{timer:?} seen within {:?} of entering TIME_WAIT",
        tw.window
    );
    // The client's own socket is closed: its connection lives on as the timewait socket.
    assert_eq!(observe::tcp_info(&stream)?.state, TcpState::Close);
    assert_eq!(
        server.sockets().await?.listener(server_addr)?.state,
        TcpState::Listen
    );
    Ok(())
}

/// Connections the application never accepts wait in the listener's accept queue, which sock_diag
/// reports as its receive queue (its limit as the send queue). The kernel admits one more than
/// the limit (`sk_acceptq_is_full` compares with `>`), then drops SYNs, counting
/// `ListenOverflows` and `ListenDrops`, while the client retries from SYN_SENT.
#[rstest]
#[tokio::test]
async fn the_accept_queue_grows_without_accept(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let (client, server) = (net.host("client")?, net.host("server")?);
    let backlog = 3;
    let limit = backlog.min(server.tcp_settings().await?.somaxconn()?);
    let server_addr = net.socket_addr("server", family, 7100)?;
    let _listener = listen(server, server_addr, backlog as i32).await?;
    let queue = || async {
        let table = server
            .sockets_matching(Filter::all().state(TcpState::Listen).local_port(7100))
            .await?;
        Ok::<_, netcase::Error>(table.listener(server_addr)?.accept_queue())
    };
    assert_eq!(queue().await?, Some(AcceptQueue { len: 0, limit }));

    let mut clients = Vec::new();
    for n in 1..=limit + 1 {
        clients.push(connect(client, server_addr).await?);
        wait_until(
            &format!("{n} connection(s) in the accept queue"),
            Duration::from_secs(5),
            queue,
            |q| *q == Some(AcceptQueue { len: n, limit }),
        )
        .await?;
    }

    let before = server.counters().await?;
    // One more: its SYN is dropped, so connect() would block; leave it running on the client.
    drop(client.spawn(async move { tokio::net::TcpStream::connect(server_addr).await }));
    let overflowed = wait_until(
        "TcpExt.ListenOverflows to move on the server",
        Duration::from_secs(5),
        || server.counters(),
        |after| {
            after.get("TcpExt.ListenOverflows").ok() != before.get("TcpExt.ListenOverflows").ok()
        },
    )
    .await?;
    let delta = overflowed.value.since(&before)?;
    assert!(delta.get("TcpExt.ListenOverflows")? >= 1, "{delta}");
    assert!(delta.get("TcpExt.ListenDrops")? >= 1, "{delta}");
    assert_eq!(
        queue().await?,
        Some(AcceptQueue {
            len: limit + 1,
            limit
        })
    );
    let syn_sent = wait_until(
        "the last client in SYN_SENT",
        Duration::from_secs(5),
        || client.sockets_matching(Filter::all().state(TcpState::SynSent)),
        |t| t.len() == 1,
    )
    .await?;
    let s = syn_sent.value.sockets()[0];
    assert_eq!(s.remote, server_addr);
    assert_eq!(s.timer.map(|t| t.kind), Some(TimerKind::Retransmit), "{s}");
    Ok(())
}

/// A SYN to a closed port is answered with a RST: the server counts it sent (`Tcp.OutRsts`), the
/// client counts a failed attempt (`Tcp.ActiveOpens`, `Tcp.AttemptFails`). The TCP MIB is shared
/// by IPv4 and IPv6, so the Tcp group moves the same way for both; the delta lists nothing that
/// did not move.
#[rstest]
#[tokio::test]
async fn a_refused_connection_moves_the_predicted_counters(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let (client, server) = (net.host("client")?, net.host("server")?);
    let (client_before, server_before) = (client.counters().await?, server.counters().await?);
    let closed = net.socket_addr("server", family, 7200)?;
    let refused = client.run(move || TcpStream::connect(closed)).await?;
    assert_eq!(
        refused.expect_err("nothing listens").kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    // connect() returned once the RST arrived, so the server had already counted it.
    let server_delta = Counters::delta(&server_before, &server.counters().await?)?;
    let client_delta = Counters::delta(&client_before, &client.counters().await?)?;

    let tcp = |d: &observe::Delta| {
        let mut v: Vec<(String, i64)> = d.group("Tcp").map(|(n, c)| (n.to_owned(), c)).collect();
        v.sort();
        v
    };
    let owned = |v: &[(&str, i64)]| {
        v.iter()
            .map(|(n, c)| (n.to_string(), *c))
            .collect::<Vec<_>>()
    };
    // In: the SYN; out: the RST.
    assert_eq!(
        tcp(&server_delta),
        owned(&[("InSegs", 1), ("OutRsts", 1), ("OutSegs", 1)]),
        "{server_delta}"
    );
    // Out: the SYN; in: the RST.
    assert_eq!(
        tcp(&client_delta),
        owned(&[
            ("ActiveOpens", 1),
            ("AttemptFails", 1),
            ("InSegs", 1),
            ("OutSegs", 1)
        ]),
        "{client_delta}"
    );
    assert_eq!(server_delta.get("Tcp.OutRsts")?, 1);
    assert_eq!(client_delta.get("AttemptFails")?, 1);
    assert_eq!(client_delta.get("Tcp.OutRsts")?, 0);
    for delta in [&server_delta, &client_delta] {
        assert!(delta.changes().all(|(_, d)| d != 0), "{delta}");
        assert_eq!(delta.get("TcpExt.ListenOverflows")?, 0);
        assert!(!delta.changes().any(|(n, _)| n == "TcpExt.ListenOverflows"));
        assert!(delta.len() < client_before.len() / 4, "{delta}");
    }
    Ok(())
}

/// The TIME_WAIT timer counts down with the clock: its remaining time, read now and again once it
/// has dropped by 2 s, is 2 s apart in wall time, to within a jiffy either way (the kernel
/// reports whole jiffies). It starts at `TCP_TIMEWAIT_LEN`.
#[rstest]
#[tokio::test]
async fn wait_until_measures_the_time_wait_timer(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let (client, server) = (net.host("client")?, net.host("server")?);
    let jiffy = client.tcp_settings().await?.hz.jiffy();
    // The server's delayed ACK can reach the client after the server's FIN (veth delivers on the
    // sending CPU); TIME_WAIT answers it, the closed server resets, and the reset would kill the
    // socket this test times (RFC 1337). tcp_rfc1337=1 makes TIME_WAIT ignore resets.
    client.set(sysctl::TCP_RFC1337, true).await?;
    let server_addr = net.socket_addr("server", family, 7300)?;
    let listener = listen(server, server_addr, 8).await?;
    let stream = connect(client, server_addr).await?;
    let client_addr = stream.local_addr().expect("local address");
    let (accepted, _) = listener.accept().expect("accept");
    // The client closes first, so TIME_WAIT is the client's: its FIN acknowledged (FIN_WAIT2)
    // before the server closes. (Two close() calls in a row once left the server closing first
    // on IPv6 under load, with the TIME_WAIT on the server: see the closing note of issue 6.)
    stream.shutdown(Shutdown::Write).expect("the client's FIN");
    wait_for_state(client, client_addr, server_addr, Some(TcpState::FinWait2)).await?;
    netcase::fork::close_now(|| {
        drop(stream);
        drop(accepted);
    });
    let remaining = |t: &SocketTable| {
        t.get(client_addr, server_addr)
            .filter(|s| s.state == TcpState::TimeWait)
            .and_then(|s| s.timer)
            .map(|t| t.remaining)
    };
    // Every state, not only TIME_WAIT: a timeout then shows where the socket was instead.
    let first = wait_until(
        "the client in TIME_WAIT",
        Duration::from_secs(5),
        || client.sockets(),
        |t| remaining(t).is_some(),
    )
    .await?;
    let r0 = remaining(&first.value).expect("seen");
    assert!(
        r0 <= TCP_TIMEWAIT_LEN && r0 + first.window + 2 * jiffy + TICK_LATE >= TCP_TIMEWAIT_LEN,
        "TIME_WAIT began within {:?} before the read, with {r0:?} left",
        first.window
    );
    // The read began at `read_at` and ended at `at`; the kernel sampled jiffies in between.
    let (read_start, read_end) = (first.value.read_at(), first.at);

    let step = Duration::from_secs(2);
    let later = wait_until(
        "the TIME_WAIT timer to drop by 2 s",
        step + Duration::from_secs(2),
        || client.sockets_matching(Filter::all().state(TcpState::TimeWait)),
        |t| remaining(t).is_some_and(|r| r + step <= r0),
    )
    .await?;
    // The kernel crossed r0 - step at `step` after the first read's jiffy, give or take a jiffy;
    // the wait saw the crossing within `window` before `at`.
    let earliest = read_start + step - 2 * jiffy;
    let latest = read_end + step + jiffy;
    assert!(
        later.at >= earliest && later.earliest() <= latest,
        "crossed within {:?} before {:?} after the first read ended; the kernel predicts \
         between {:?} and {:?}",
        later.window,
        later.at - read_end,
        earliest.saturating_duration_since(read_end),
        latest - read_end
    );
    let r1 = remaining(&later.value).expect("seen");
    assert!(
        r1 + step <= r0 && r1 + step + later.window + 2 * jiffy >= r0,
        "{r0:?} then {r1:?}"
    );
    Ok(())
}

/// With keepalive on, an idle connection runs the keepalive timer (sock_diag timer 2); after
/// `TCP_KEEPIDLE` of silence the kernel sends a probe (`TcpExt.TCPKeepAlive`), the peer answers,
/// and no probe stays unanswered.
#[rstest]
#[tokio::test]
async fn keepalive_runs_its_timer_and_probes(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let (client, server) = (net.host("client")?, net.host("server")?);
    let server_addr = net.socket_addr("server", Family::V4, 7400)?;
    let listener = listen(server, server_addr, 8).await?;
    // The idle time counts from the last segment received, the handshake's SYN-ACK: after
    // connect() began, and before this thread hears that it returned (on a loaded machine, tens
    // of milliseconds before).
    let connecting = Instant::now();
    let stream = connect(client, server_addr).await?;
    let _accepted = listener.accept().expect("accept");
    let idle = Duration::from_secs(1);
    SockRef::from(&stream)
        .set_tcp_keepalive(
            &TcpKeepalive::new()
                .with_time(idle)
                .with_interval(idle)
                .with_retries(3),
        )
        .expect("keepalive");
    let ka = observe::keepalive(&stream)?;
    assert!(
        ka.enabled && ka.idle == idle && ka.interval == idle && ka.count == 3,
        "{ka:?}"
    );
    let client_addr = stream.local_addr().expect("local address");

    let table = client.sockets().await?;
    let timer = table.find(client_addr, server_addr)?.timer;
    assert!(
        timer.is_some_and(|t| t.kind == TimerKind::Keepalive && t.remaining <= idle),
        "{table}"
    );
    let before = client.counters().await?;
    let probed = wait_until(
        "a keepalive probe",
        Duration::from_secs(5),
        || client.counters(),
        |c| c.get("TcpExt.TCPKeepAlive").ok() != before.get("TcpExt.TCPKeepAlive").ok(),
    )
    .await?;
    assert_eq!(probed.value.since(&before)?.get("TCPKeepAlive")?, 1);
    // Not before the connection had been idle for TCP_KEEPIDLE.
    assert!(
        probed.at - connecting >= idle,
        "{:?}",
        probed.at - connecting
    );
    let answered = wait_until(
        "the probe to be answered",
        Duration::from_secs(5),
        || async { observe::tcp_info(&stream) },
        |i| i.probes == 0 && i.last_ack_recv < idle,
    )
    .await?;
    assert_eq!(answered.value.state, TcpState::Established);
    Ok(())
}

/// A socket that is bound but neither listens nor connects is read only when asked for
/// (inet_diag's `TCP_BOUND_INACTIVE`), as `ss` does, and is reported in its real state, CLOSE.
#[rstest]
#[tokio::test]
async fn a_bound_socket_is_read_only_when_asked_for(
    #[future] pair: Result<Topology>,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let server = net.host("server")?;
    let addr = net.socket_addr("server", Family::V4, 7500)?;
    let _bound = server
        .spawn(async move {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            socket.bind(&addr.into())?;
            std::io::Result::Ok(socket)
        })
        .await?
        .expect("bind");
    assert!(server.sockets().await?.is_empty());
    let bound = server
        .sockets_matching(Filter::all().state(TcpState::BoundInactive))
        .await?;
    assert_eq!(bound.len(), 1, "{bound}");
    assert_eq!(bound.sockets()[0].local, addr);
    assert_eq!(bound.sockets()[0].state, TcpState::Close);
    let closed = server
        .sockets_matching(Filter::all().state(TcpState::Close))
        .await?;
    assert_eq!(closed.len(), 1, "{closed}");
    Ok(())
}

/// Bad input gets an error that names it: a counter that does not exist, a setting outside the
/// snapshot, a socket that is not TCP.
#[rstest]
#[tokio::test]
async fn bad_names_are_named(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let server = net.host("server")?;
    let counters = server.counters().await?;
    assert!(counters.get("TcpExt.ListenOverflows")? >= 0);
    assert_eq!(
        counters.get("ListenOverflows")?,
        counters.get("TcpExtListenOverflows")?
    );
    let err = counters
        .get("TcpExt.ListenOverflow")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"TcpExt.ListenOverflow\"")
            && err.contains("host server")
            && err.contains("TcpExt.ListenOverflows"),
        "{err}"
    );
    let err = counters.get("InErrors").unwrap_err().to_string();
    assert!(err.contains("Udp.InErrors"), "{err}");
    let err = Counters::delta(&counters, &net.host("client")?.counters().await?)
        .unwrap_err()
        .to_string();
    assert!(err.contains("server") && err.contains("client"), "{err}");

    let settings = server.tcp_settings().await?;
    assert_eq!(
        settings.value(sysctl::TCP_SYN_RETRIES)?,
        server.get(sysctl::TCP_SYN_RETRIES).await?
    );
    assert_eq!(
        settings.get("net.ipv4.tcp_fin_timeout")?,
        settings.get("tcp_fin_timeout")?
    );
    assert!(settings.ip_local_port_range()?.len() > 1);
    assert!(!settings.kernel.is_empty());
    let err = settings.get("tcp_no_such_thing").unwrap_err().to_string();
    assert!(
        err.contains("tcp_no_such_thing") && err.contains("host server"),
        "{err}"
    );

    let udp = server
        .run(|| UdpSocket::bind("127.0.0.1:0"))
        .await?
        .expect("bind");
    let err = observe::tcp_info(&udp).unwrap_err().to_string();
    assert!(
        err.contains("TCP_INFO") && err.contains("not a TCP socket"),
        "{err}"
    );
    Ok(())
}
