//! Keepalive: an idle connection probing its peer, what a probe looks like, when an unanswered
//! connection gives up and with which error, and the notes' scenario of a peer that lost its state.
//!
//! The notes say: "TCP keepalive packet (TCP packet with no data and the ACK flag turned on) is
//! used to assert that connection is still up and running." On Linux a probe is that, and more
//! precisely an ACK whose sequence number is `snd_una - 1` (one before anything the peer has not
//! yet acknowledged, relative 0 on a connection that never sent data), so that the peer, finding
//! it outside its window, must answer with an ACK. The probes follow
//! [`netcase::rules::keepalive_schedule`]: the first `TCP_KEEPIDLE` (else
//! `tcp_keepalive_time`) after the last segment received, then one every `TCP_KEEPINTVL` (else
//! `tcp_keepalive_intvl`) while unanswered; after `TCP_KEEPCNT` (else `tcp_keepalive_probes`)
//! unanswered probes, or at `TCP_USER_TIMEOUT` when it is set, the kernel sends a RST and the
//! connection fails with ETIMEDOUT. While the peer answers, the probes come every `TCP_KEEPIDLE`,
//! not every `TCP_KEEPINTVL`: an answer is a segment received, and the idle time starts again.
//!
//! Silent drops are made by the impairment layer at the receiving host's ingress, for TCP only
//! (neighbour discovery still works), so that no send of the prober fails.

use std::{
    collections::BTreeMap,
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::Arc,
    time::{Duration, SystemTime},
};

use netcase::{
    Result, Topology,
    capture::Zero,
    case::{Case, CaseInfo, Shape},
    decode::{Flags, Segment, segments},
    impair::{Feature, Packets, Which},
    observe::{self, Filter, TcpState, TimerKind, wait_until},
    rules::{self, KeepaliveSchedule},
    sysctl,
};
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use crate::{
    BOTH, Def,
    common::{SCHEDULING, WAKEUP, at, expectation, ms},
};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[
    &ANSWERED,
    &UNANSWERED,
    &SYSCTLS,
    &USER_TIMEOUT,
    &PEER_LOST_STATE_DATA,
    &PEER_LOST_STATE_PROBE,
];

/// The port the server listens on.
const PORT: u16 = 7400;

/// Probes answered by a peer that is there.
pub static ANSWERED: Def = Def {
    info: CaseInfo {
        name: "keepalive::probes_answered",
        summary: "keepalive probes are ACKs at snd_una-1 with no data, answered at once, and sent every TCP_KEEPIDLE while answered",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_secs(5),
    },
    body: |case, net| Box::pin(answered(case, net)),
};

/// Probes that vanish, with the socket options.
pub static UNANSWERED: Def = Def {
    info: CaseInfo {
        name: "keepalive::unanswered_probes_time_out",
        summary: "TCP_KEEPIDLE=1, INTVL=1, CNT=3, probes dropped: 3 probes, a RST at 4 s, read() fails with ETIMEDOUT",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_secs(5),
    },
    body: |case, net| Box::pin(unanswered(case, net, Config::Socket)),
};

/// Probes that vanish, with the host's sysctls shortened instead.
pub static SYSCTLS: Def = Def {
    info: CaseInfo {
        name: "keepalive::sysctl_defaults_time_out",
        summary: "tcp_keepalive_time=1, intvl=1, probes=2 on the host, only SO_KEEPALIVE on the socket: 2 probes, RST and ETIMEDOUT at 3 s",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_secs(4),
    },
    body: |case, net| Box::pin(unanswered(case, net, Config::Sysctls)),
};

/// TCP_USER_TIMEOUT replaces the probe count.
pub static USER_TIMEOUT: Def = Def {
    info: CaseInfo {
        name: "keepalive::user_timeout_replaces_keepcnt",
        summary: "TCP_USER_TIMEOUT=2.5 s with TCP_KEEPCNT=10: the first keepalive firing past 2.5 s (3 s) resets, after 2 probes",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_secs(4),
    },
    body: |case, net| Box::pin(unanswered(case, net, Config::UserTimeout)),
};

/// The notes' scenario, the survivor sending data.
pub static PEER_LOST_STATE_DATA: Def = Def {
    info: CaseInfo {
        name: "keepalive::peer_lost_state_then_data",
        summary: "the peer forgets the connection while the path is down; data sent after the path is back draws a RST: ECONNRESET, then EOF, then EPIPE",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_millis(500),
    },
    body: |case, net| Box::pin(peer_lost_state(case, net, Survivor::SendsData)),
};

/// The notes' scenario, the survivor only probing.
pub static PEER_LOST_STATE_PROBE: Def = Def {
    info: CaseInfo {
        name: "keepalive::peer_lost_state_then_probe",
        summary: "the same with keepalive and no data: the first probe after the path is back draws a RST, and read() fails with ECONNRESET, not ETIMEDOUT",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_secs(3),
    },
    body: |case, net| Box::pin(peer_lost_state(case, net, Survivor::Probes)),
};

/// Where an unanswered case takes its keepalive settings from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    /// TCP_KEEPIDLE=1, TCP_KEEPINTVL=1, TCP_KEEPCNT=3.
    Socket,
    /// The host's tcp_keepalive_time=1, tcp_keepalive_intvl=1, tcp_keepalive_probes=2.
    Sysctls,
    /// TCP_KEEPIDLE=1, TCP_KEEPINTVL=1, TCP_KEEPCNT=10 and TCP_USER_TIMEOUT=2500 ms.
    UserTimeout,
}

/// What the survivor of the notes' scenario does once the path is back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Survivor {
    /// Sends five octets; no keepalive.
    SendsData,
    /// Nothing; keepalive with TCP_KEEPIDLE=1, TCP_KEEPINTVL=1, TCP_KEEPCNT=5.
    Probes,
}

/// Keepalive settings to give a socket.
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    /// SO_KEEPALIVE.
    keepalive: bool,
    /// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, if set.
    timers: Option<(Duration, Duration, u32)>,
    /// TCP_USER_TIMEOUT, if set.
    user_timeout: Option<Duration>,
}

/// An established connection: the client's socket (with `options`, set before connect()), the
/// server's accepted socket, the listener, and when connect() returned.
struct Connection {
    client: TcpStream,
    server: TcpStream,
    listener: TcpListener,
    established: SystemTime,
}

async fn connect(net: &Topology, addr: SocketAddr, options: Options) -> Result<Connection> {
    let listener = net
        .host("server")?
        .run(move || TcpListener::bind(addr))
        .await?
        .expect("listen on the server");
    let accepting = listener
        .try_clone()
        .expect("a second handle on the listener");
    let accepted = net.host("server")?.run(move || accepting.accept());
    let (client, established) = net
        .host("client")?
        .run(move || -> io::Result<(TcpStream, SystemTime)> {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_keepalive(options.keepalive)?;
            if let Some((idle, interval, count)) = options.timers {
                socket.set_tcp_keepalive(
                    &TcpKeepalive::new()
                        .with_time(idle)
                        .with_interval(interval)
                        .with_retries(count),
                )?;
            }
            if let Some(timeout) = options.user_timeout {
                socket.set_tcp_user_timeout(Some(timeout))?;
            }
            socket.connect(&addr.into())?;
            Ok((socket.into(), SystemTime::now()))
        })
        .await?
        .expect("connect to the server");
    let (server, _) = accepted.await?.expect("accept");
    Ok(Connection {
        client,
        server,
        listener,
        established,
    })
}

fn since(later: SystemTime, earlier: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
}

fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// Whether `s` is a keepalive probe of the client: an ACK alone, no data, one before what the
/// client has sent (relative 0 on a connection that sent nothing).
fn is_probe(s: &Segment) -> bool {
    s.from == "client" && s.flags == Flags::ACK && s.len == 0 && s.rel_seq == 0
}

async fn answered(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (idle, interval, count) = (Duration::from_secs(2), Duration::from_secs(1), 3);
    let client = net.host("client")?;
    let hz = client.tcp_settings().await?.hz.value;
    let addr = net.socket_addr("server", case.family(), PORT)?;
    let before = client.counters().await?;
    let recording = net.record(&["client"]).await?;
    let conn = connect(
        &net,
        addr,
        Options {
            keepalive: true,
            timers: Some((idle, interval, count)),
            user_timeout: None,
        },
    )
    .await?;
    let settings = observe::keepalive(&conn.client)?;
    assert_eq!(
        (
            settings.enabled,
            settings.idle,
            settings.interval,
            settings.count
        ),
        (true, idle, interval, count)
    );

    // Two probes, each answered: the kernel counts each probe it sends.
    let deadline = idle * 2
        + rules::late_by_at_most(idle, hz, SCHEDULING) * 4
        + netcase::kernel()?.emulation() * 2;
    let sent = wait_until(
        "two keepalive probes sent",
        deadline,
        || client.counters(),
        |c| {
            c.since(&before)
                .and_then(|d| d.get("TcpExt.TCPKeepAlive"))
                .is_ok_and(|n| n >= 2)
        },
    )
    .await?;
    // The second answer: the client's socket has no probe out and heard from its peer since the
    // second probe went out, which was after `sent.earliest()` (last_ack_recv counts whole
    // milliseconds of jiffies: one jiffy of slack). Not "just now": the counters may be read a
    // few hundred milliseconds after the probe on a loaded machine.
    let second_probe_after = sent.earliest();
    let jiffy = Duration::from_secs(1) / hz;
    let info = wait_until(
        "the second probe answered",
        Duration::from_millis(500),
        || async { observe::tcp_info(&conn.client) },
        |i| i.probes == 0 && i.last_ack_recv <= second_probe_after.elapsed() + jiffy,
    )
    .await?
    .value;
    assert_eq!(info.state, TcpState::Established);
    let table = client.sockets_matching(Filter::all().port(PORT)).await?;
    let socket = table.find(conn.client.local_addr().expect("getsockname"), addr)?;
    let timer = socket.timer.expect("a keepalive timer runs");
    assert_eq!(timer.kind, TimerKind::Keepalive, "{socket}");
    assert_eq!(socket.retransmits, 0, "answered: no probe out; {socket}");
    let recorded = recording.stop().await?;

    let vars = BTreeMap::from([
        ("keepidle".to_owned(), secs(idle)),
        ("keepintvl".to_owned(), secs(interval)),
    ]);
    recorded.check(
        &net,
        "client",
        &expectation("keepalive_answered.expect", &vars)?,
    )?;
    let packets = recorded.on("client")?.packets(&net, Zero::FirstSyn);
    let probes: Vec<Duration> = segments(&packets).filter(|s| is_probe(s)).map(at).collect();
    case.measure(
        "probe_times_ms",
        &probes.iter().copied().map(ms).collect::<Vec<_>>(),
        "ms",
    );
    let delta = client.counters().await?.since(&before)?;
    assert_eq!(delta.get("TcpExt.TCPKeepAlive")?, 2);
    assert_eq!(delta.get("TcpExt.TCPAbortOnTimeout")?, 0);
    drop(conn);
    Ok(())
}

async fn unanswered(case: Arc<Case>, net: Arc<Topology>, config: Config) -> Result<()> {
    let client = net.host("client")?;
    let one = Duration::from_secs(1);
    let (options, user_timeout, file) = match config {
        Config::Socket => (
            Options {
                keepalive: true,
                timers: Some((one, one, 3)),
                user_timeout: None,
            },
            Duration::ZERO,
            "keepalive_unanswered.expect",
        ),
        Config::Sysctls => {
            client.set(sysctl::TCP_KEEPALIVE_TIME, 1).await?;
            client.set(sysctl::TCP_KEEPALIVE_INTVL, 1).await?;
            client.set(sysctl::TCP_KEEPALIVE_PROBES, 2).await?;
            (
                Options {
                    keepalive: true,
                    timers: None,
                    user_timeout: None,
                },
                Duration::ZERO,
                "keepalive_sysctls.expect",
            )
        }
        Config::UserTimeout => {
            let timeout = Duration::from_millis(2500);
            (
                Options {
                    keepalive: true,
                    timers: Some((one, one, 10)),
                    user_timeout: Some(timeout),
                },
                timeout,
                "keepalive_unanswered.expect",
            )
        }
    };
    let settings = client.tcp_settings().await?;
    let hz = settings.hz.value;
    let addr = net.socket_addr("server", case.family(), PORT)?;
    let drops = net.impair("client", "server").await?;
    let before = client.counters().await?;
    let recording = net.record(&["client"]).await?;
    let conn = connect(&net, addr, options).await?;
    // What the socket reports: its own options, or the host's sysctls where it set none.
    let ka = observe::keepalive(&conn.client)?;
    if config == Config::Sysctls {
        assert_eq!(
            (ka.idle.as_secs(), ka.interval.as_secs(), ka.count),
            (
                u64::from(settings.value(sysctl::TCP_KEEPALIVE_TIME)?),
                u64::from(settings.value(sysctl::TCP_KEEPALIVE_INTVL)?),
                settings.value(sysctl::TCP_KEEPALIVE_PROBES)?
            ),
            "a socket without TCP_KEEPIDLE/INTVL/CNT reports the host's sysctls"
        );
    }
    assert!(ka.enabled);
    assert_eq!(ka.user_timeout, user_timeout);
    let rule: KeepaliveSchedule =
        rules::keepalive_schedule(ka.idle, ka.interval, ka.count, ka.user_timeout);
    case.note(format!(
        "idle {:?}, interval {:?}, count {}, user timeout {:?}: the rule says probes at {:?}, \
         RST and ETIMEDOUT at {:?}",
        ka.idle, ka.interval, ka.count, ka.user_timeout, rule.probes, rule.gives_up
    ));
    // From now on every segment to the server vanishes at its ingress.
    drops.drop(Packets::tcp(), Which::All)?;

    let mut reader = conn.client.try_clone().expect("a second handle");
    let read = client.run(move || {
        let mut buf = [0u8; 16];
        let first = reader.read(&mut buf);
        let returned = SystemTime::now();
        let second = reader.read(&mut buf);
        let write = reader.write(b"late");
        (first, returned, second, write)
    });

    // While it probes: the keepalive timer runs and sock_diag counts the probes out.
    let local = conn.client.local_addr().expect("getsockname");
    let seen = wait_until(
        "the first unanswered probe counted",
        rule.gives_up,
        || client.sockets_matching(Filter::all().port(PORT)),
        |t| t.get(local, addr).is_some_and(|s| s.retransmits >= 1),
    )
    .await?;
    let socket = *seen.value.find(local, addr)?;
    assert_eq!(socket.state, TcpState::Established);
    assert_eq!(
        socket.timer.map(|t| t.kind),
        Some(TimerKind::Keepalive),
        "{socket}"
    );

    let (first, returned, second, write) = read.await?;
    let recorded = recording.stop().await?;
    let err = first.expect_err("read() on a connection keepalive gave up on must fail");
    assert_eq!(err.raw_os_error(), Some(libc::ETIMEDOUT), "{err}");
    // The error is reported once; the connection is then closed: end of file, and writes fail.
    assert_eq!(second.expect("the next read()"), 0, "end of file");
    let err = write.expect_err("write() after the reset");
    assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "{err}");

    let gave_up = since(returned, conn.established);
    case.measure("etimedout_after_ms", &[ms(gave_up)], "ms");
    // Early by at most a jiffy: only the first timer of the chain is armed between ticks, the
    // others are re-armed as a tick runs them. Late by each timer's wheel granularity, a jiffy and
    // scheduling, and the reader's wake-up. Emulation adds to both.
    let kernel = netcase::kernel()?;
    let early = kernel.timer_slack(ka.idle).early;
    let late: Duration = std::iter::once(ka.idle)
        .chain(std::iter::repeat_n(ka.interval, rule.probes.len()))
        .map(|t| rules::late_by_at_most(t, hz, SCHEDULING))
        .sum::<Duration>()
        + WAKEUP
        + kernel.emulation();
    assert!(
        gave_up + early >= rule.gives_up && gave_up <= rule.gives_up + late,
        "read() failed with ETIMEDOUT after {gave_up:?}; the rule says {:?} (early by at most \
         {early:?}, late by at most {late:?})",
        rule.gives_up
    );

    // The probes and the RST on the wire.
    let vars = BTreeMap::from([
        ("keepidle".to_owned(), secs(ka.idle)),
        ("keepintvl".to_owned(), secs(ka.interval)),
        ("probes".to_owned(), rule.probes.len().to_string()),
        ("tcp_keepalive_time".to_owned(), secs(ka.idle)),
        ("tcp_keepalive_intvl".to_owned(), secs(ka.interval)),
        ("tcp_keepalive_probes".to_owned(), ka.count.to_string()),
    ]);
    let vars = if config == Config::Sysctls {
        client.settings().await?
    } else {
        vars
    };
    recorded.check(&net, "client", &expectation(file, &vars)?)?;
    let packets = recorded.on("client")?.packets(&net, Zero::FirstSyn);
    let probes: Vec<Duration> = segments(&packets).filter(|s| is_probe(s)).map(at).collect();
    case.measure(
        "probe_times_ms",
        &probes.iter().copied().map(ms).collect::<Vec<_>>(),
        "ms",
    );
    assert_eq!(probes.len(), rule.probes.len(), "{probes:?}");

    let counts = drops.counts()?;
    assert_eq!(
        counts.dropped,
        rule.probes.len() as u64 + 1,
        "the probes and the RST, dropped: {counts:?}"
    );
    let delta = client.counters().await?.since(&before)?;
    assert_eq!(delta.get("TcpExt.TCPKeepAlive")?, rule.probes.len() as i64);
    assert_eq!(delta.get("TcpExt.TCPAbortOnTimeout")?, 1);
    assert_eq!(
        delta.get("Tcp.OutRsts")?,
        1,
        "the RST it sends when it gives up"
    );
    assert_eq!(delta.get("Tcp.EstabResets")?, 1);
    let left = client.sockets_matching(Filter::all().port(PORT)).await?;
    assert!(
        left.get(local, addr).is_none(),
        "the connection is gone: {left:?}"
    );
    drop(conn);
    Ok(())
}

/// The notes' scenario: "B terminates abnormally ... without sending anything over the network
/// to notify A that connection is broken ... Now B comes back up again, and while A knows about
/// a connection with B and still thinks that it active, B has no such idea. A tries to send data
/// to B over a dead connection, and B replies with an RST packet, causing A to finally close the
/// connection. So, without a keepalive probe A would never close the connection if it never sent
/// data over it."
///
/// Emulated faithfully for the kernel that survives: every TCP segment between the two hosts is
/// dropped at each receiver's ingress (the path is down), then the server aborts its end with
/// `SO_LINGER {on, 0}` and closes its listener, so its kernel keeps no trace of the connection, as
/// after a reboot; the RST that abort sends is dropped on the way (the capture at the client's
/// link end still shows it: AF_PACKET sees a frame before the ingress drop), and the client's
/// socket stays ESTABLISHED, without any timer when keepalive is off. Then the path comes back.
///
/// Linux agrees with the notes: data sent after that draws a RST (`seq` = the data's `ack`, no
/// ACK flag), the client's connection is reset, and the calls that follow return: the write that
/// sent the data succeeded (5 octets), the next read() fails with ECONNRESET, the one after returns
/// end of file, and write() fails with EPIPE. With keepalive on, no data is needed: the first
/// probe after the path is back draws the same RST, and read() fails with ECONNRESET, not with
/// the ETIMEDOUT of probes that vanish.
async fn peer_lost_state(case: Arc<Case>, net: Arc<Topology>, survivor: Survivor) -> Result<()> {
    let (client, server) = (net.host("client")?, net.host("server")?);
    let one = Duration::from_secs(1);
    let options = match survivor {
        Survivor::SendsData => Options::default(),
        Survivor::Probes => Options {
            keepalive: true,
            timers: Some((one, one, 5)),
            user_timeout: None,
        },
    };
    let addr = net.socket_addr("server", case.family(), PORT)?;
    let to_server = net.impair("client", "server").await?;
    let to_client = net.impair("server", "client").await?;
    let before = client.counters().await?;
    let recording = net.record(&["client"]).await?;
    let conn = connect(&net, addr, options).await?;
    let local = conn.client.local_addr().expect("getsockname");

    // The path goes down; the server's host forgets the connection.
    to_server.drop(Packets::tcp(), Which::All)?;
    to_client.drop(Packets::tcp(), Which::All)?;
    SockRef::from(&conn.server)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER {on, 0}");
    let Connection {
        client: survivor_socket,
        server: lost,
        listener,
        ..
    } = conn;
    // The reset must go out now: no fork elsewhere in the process may hold the socket meanwhile.
    netcase::fork::close_now(|| {
        drop(lost);
        drop(listener);
    });
    let left = server.sockets_matching(Filter::all().port(PORT)).await?;
    assert!(
        left.is_empty(),
        "the server must keep nothing of the connection: {left:?}"
    );
    wait_until(
        "the server's RST dropped at the client's ingress",
        Duration::from_secs(1),
        || async { to_client.counts() },
        |c| c.dropped >= 1,
    )
    .await?;
    let table = client.sockets_matching(Filter::all().port(PORT)).await?;
    let socket = *table.find(local, addr)?;
    assert_eq!(
        socket.state,
        TcpState::Established,
        "the client never heard of it: {socket}"
    );

    let sent = match survivor {
        Survivor::SendsData => {
            // Without keepalive nothing runs: the connection would stay ESTABLISHED for ever.
            assert_eq!(socket.timer, None, "no timer without keepalive: {socket}");
            to_server.clear()?;
            to_client.clear()?;
            let mut writer = survivor_socket.try_clone().expect("a second handle");
            let sent = client.run(move || writer.write(b"hello")).await?;
            Some(sent.expect("write() after the path is back: the kernel takes the data"))
        }
        Survivor::Probes => {
            assert_eq!(
                socket.timer.map(|t| t.kind),
                Some(TimerKind::Keepalive),
                "{socket}"
            );
            // Let one probe vanish, then bring the path back.
            wait_until(
                "a probe dropped at the server's ingress",
                Duration::from_secs(3),
                || async { to_server.counts() },
                |c| c.dropped >= 1,
            )
            .await?;
            to_server.clear()?;
            to_client.clear()?;
            None
        }
    };
    // The RST resets the client's connection.
    let closed = wait_until(
        "the client's connection reset",
        Duration::from_secs(3),
        || async { observe::tcp_info(&survivor_socket) },
        |i| i.state == TcpState::Close,
    )
    .await?;
    assert!(closed.elapsed < Duration::from_secs(3));
    let mut s = survivor_socket;
    let mut buf = [0u8; 16];
    let first = s.read(&mut buf);
    let second = s.read(&mut buf);
    let write = s.write(b"again");
    let recorded = recording.stop().await?;

    if let Some(n) = sent {
        assert_eq!(n, 5, "the write that met the dead connection succeeded");
    }
    let err = first.expect_err("read() after the RST");
    assert_eq!(err.raw_os_error(), Some(libc::ECONNRESET), "{err}");
    assert_eq!(second.expect("the next read()"), 0, "then end of file");
    let err = write.expect_err("write() after the RST");
    assert_eq!(err.raw_os_error(), Some(libc::EPIPE), "{err}");

    let file = match survivor {
        Survivor::SendsData => "keepalive_peer_lost_data.expect",
        Survivor::Probes => "keepalive_peer_lost_probe.expect",
    };
    recorded.check(&net, "client", &expectation(file, &BTreeMap::new())?)?;
    // When the RST came, from the first SYN, and how long after what drew it.
    let packets = recorded.on("client")?.packets(&net, Zero::FirstSyn);
    let all: Vec<&Segment> = segments(&packets).collect();
    let reset = all
        .iter()
        .rposition(|s| s.from == "server" && s.flags == Flags::RST)
        .expect("the server's RST in the capture");
    let trigger = all[..reset]
        .iter()
        .rfind(|s| s.from == "client")
        .expect("what drew the RST");
    case.measure("reset_at_ms", &[ms(at(all[reset]))], "ms");
    case.measure(
        "reset_after_trigger_ms",
        &[ms(at(all[reset]) - at(trigger))],
        "ms",
    );
    let delta = client.counters().await?.since(&before)?;
    assert_eq!(delta.get("Tcp.EstabResets")?, 1);
    assert_eq!(delta.get("Tcp.InErrs")?, 0);
    assert_eq!(delta.get("TcpExt.TCPAbortOnTimeout")?, 0, "not a timeout");
    let left = client.sockets_matching(Filter::all().port(PORT)).await?;
    assert!(left.get(local, addr).is_none(), "{left:?}");
    Ok(())
}
