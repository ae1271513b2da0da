//! TIME_WAIT: which side holds it, how long, and what it costs a client that opens many
//! connections to one server.
//!
//! The notes this project started from say:
//!
//! - "The end that performs active close i.e. the end that sends the first FIN goes into
//!   TIME_WAIT state." Linux agrees: [`HELD_BY_ACTIVE_CLOSER`], which also shows that a
//!   zero-linger close avoids it.
//! - "For Linux, the TIME_WAIT state duration is 1 minute (net/tcp.h): #define TCP_TIMEWAIT_LEN
//!   (60*HZ)". The socket table's timer starts at exactly [`TCP_TIMEWAIT_LEN`]
//!   ([`HELD_BY_ACTIVE_CLOSER`]); the socket goes when the timer wheel runs it, up to one
//!   level-3 granule (512 jiffies, 2.048 s at HZ=250) later ([`PORTS_COME_BACK`]).
//! - "On Linux, by default ephemeral ports are in the range of 32768 to 61000". This kernel's
//!   default is 32768 to 60999 (28232 ports); [`PORTS_COME_BACK`] reads it from a fresh host and
//!   reports the arithmetic.
//! - "So with a TIME_WAIT state duration of 1 minute, the maximum sustained rate for any client
//!   is ~470 new connections per second" (28232 / 60 s = 470.5/s). The limit is per
//!   destination (address and port), not per client; without `tcp_tw_reuse` a client does get
//!   exactly one connection per port per TIME_WAIT period: [`EXHAUSTION`] and
//!   [`PORTS_COME_BACK`] show it with 8 and 16 ports.
//!
//! `tcp_tw_reuse` lets connect() take over a TIME_WAIT port of the same destination, provided the
//! old connection used timestamps (`tcp_twsk_unique`), once the TIME_WAIT socket is
//! `tcp_tw_reuse_delay` old (1000 ms by default, 6.14 and later); kernels without the sysctl
//! allow it at the next whole second of the monotonic clock, anywhere from a moment to 1 s after
//! (not the "1 to 2 s" often quoted): [`netcase::rules::TwReuse`]. Value 2, the default, allows it only for loopback traffic:
//! [`REUSE_LOOPBACK_ONLY`], [`REUSE`], [`REUSE_WITHOUT_TIMESTAMPS`].
//!
//! One stray segment can end TIME_WAIT early: with `tcp_rfc1337 = 0`, the default, the reset it
//! draws from the peer kills the TIME_WAIT socket and frees its port ([`ASSASSINATED`]).

use std::{
    collections::{BTreeMap, HashMap},
    io::{self, Read},
    net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::Arc,
    time::{Duration, Instant},
};

use netcase::{
    Family, Host, Result, Topology,
    case::{Case, CaseInfo, Shape},
    observe::{
        Counters, Delta, Filter, Socket, TCP_TIMEWAIT_LEN, TcpState, Timer, TimerKind, wait_until,
        wait_until_every,
    },
    rules::{self, TwReuse},
    sysctl::{self, PortRange},
};
use socket2::{Domain, Protocol, Type};
use tokio::io::AsyncReadExt;

use crate::{
    BOTH, Def,
    common::{
        SCHEDULING, expectation, keep_time_wait, ms,
        std_sockets::{close, close_abortively, connect},
    },
};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[
    &HELD_BY_ACTIVE_CLOSER,
    &EXHAUSTION,
    &REUSE_LOOPBACK_ONLY,
    &REUSE,
    &REUSE_WITHOUT_TIMESTAMPS,
    &PORTS_COME_BACK,
    &ASSASSINATED,
];

/// The server's port.
const PORT: u16 = 7100;

/// The client's ephemeral ports in the exhaustion cases: 8 (the .expect files say so too).
const SMALL_RANGE: PortRange = PortRange {
    low: 41000,
    high: 41007,
};

/// The client's ephemeral ports in the long case: 16.
const LONG_RANGE: PortRange = PortRange {
    low: 42000,
    high: 42015,
};

/// `tcp_tw_reuse_delay` set on the client, in milliseconds: long enough that the whole range is
/// used up well within it, short enough to keep the cases fast.
const REUSE_DELAY_MS: u32 = 500;

/// Whoever sends the first FIN holds TIME_WAIT, its timer starting at `TCP_TIMEWAIT_LEN`; a
/// zero-linger close leaves none anywhere.
pub static HELD_BY_ACTIVE_CLOSER: Def = Def {
    info: CaseInfo {
        name: "time_wait::held_by_active_closer",
        summary: "the side that sends the first FIN holds TIME_WAIT for TCP_TIMEWAIT_LEN; a zero-linger close holds none",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(300),
    },
    body: |case, net| Box::pin(held_by_active_closer(case, net)),
};

/// With `tcp_tw_reuse=0`, a client with 8 ephemeral ports opens and closes 8 connections to
/// one server; the 9th connect() fails at once with EADDRNOTAVAIL, sending nothing, and keeps
/// failing while the TIME_WAIT sockets last.
pub static EXHAUSTION: Def = Def {
    info: CaseInfo {
        name: "time_wait::exhaustion_without_reuse",
        summary: "tcp_tw_reuse=0: one connection per ephemeral port, then connect() fails with EADDRNOTAVAIL",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(1200),
    },
    body: |case, net| Box::pin(exhaustion(case, net, 0, 1)),
};

/// `tcp_tw_reuse=2` (the default) allows reuse for loopback traffic only: between two hosts it
/// is the same as 0.
pub static REUSE_LOOPBACK_ONLY: Def = Def {
    info: CaseInfo {
        name: "time_wait::reuse_loopback_only",
        summary: "tcp_tw_reuse=2 (the default): no reuse between two hosts, connect() fails with EADDRNOTAVAIL",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(1200),
    },
    body: |case, net| Box::pin(exhaustion(case, net, 2, 1)),
};

/// `tcp_tw_reuse=1` with timestamps: connect() fails while every TIME_WAIT socket is younger
/// than `tcp_tw_reuse_delay`, then takes over each of them.
pub static REUSE: Def = Def {
    info: CaseInfo {
        name: "time_wait::reuse_after_delay",
        summary: "tcp_tw_reuse=1 with timestamps: TIME_WAIT ports are reused once tcp_tw_reuse_delay old",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(700),
    },
    body: |case, net| Box::pin(exhaustion(case, net, 1, 1)),
};

/// `tcp_tw_reuse=1` without timestamps (`tcp_timestamps=0` on the client): no reuse; PAWS is
/// what makes reuse safe, and without it `tcp_twsk_unique` refuses.
pub static REUSE_WITHOUT_TIMESTAMPS: Def = Def {
    info: CaseInfo {
        name: "time_wait::reuse_needs_timestamps",
        summary: "tcp_tw_reuse=1 with tcp_timestamps=0: no reuse, connect() fails with EADDRNOTAVAIL",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(1200),
    },
    body: |case, net| Box::pin(exhaustion(case, net, 1, 0)),
};

/// The long one: 16 ports used up at once come back when their TIME_WAIT sockets go, 60 s (plus
/// the timer wheel's rounding) later, and not before: 16 connections per TIME_WAIT period, the
/// notes' arithmetic (ports / TCP_TIMEWAIT_LEN).
pub static PORTS_COME_BACK: Def = Def {
    info: CaseInfo {
        name: "time_wait::ports_come_back",
        summary: "exhausted ports come back after TCP_TIMEWAIT_LEN: the sustained rate is ports / 60 s",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_secs(63),
    },
    body: |case, net| Box::pin(ports_come_back(case, net)),
};

/// RFC 1337's "TIME_WAIT assassination": one stray segment ends a TIME_WAIT socket, by default.
///
/// A TIME_WAIT socket answers any segment outside its window with a duplicate ACK of its
/// `snd_nxt` and `rcv_nxt`. The peer, which has no socket for the connection any more, answers
/// that ACK with a reset whose sequence number is its acknowledgement number: `rcv_nxt`, the one
/// sequence number TIME_WAIT accepts. With `tcp_rfc1337 = 0`, the default, the reset kills the
/// TIME_WAIT socket (`tcp_timewait_state_process`) with nearly all of `TCP_TIMEWAIT_LEN` left, and
/// its port is free at once, although TIME_WAIT is there to keep old duplicates of the
/// connection away from a new one on the same ports. With `tcp_rfc1337 = 1` it ignores the reset
/// and stays; the stray ACK even restarts its timer.
///
/// The project found this by accident: veth delivers each packet on the sending CPU's backlog, so
/// a peer's delayed pure ACK can arrive after its FIN and act as exactly such a stray segment
/// (see `keep_time_wait`, which the other TIME_WAIT cases use against it). Here the server host
/// sends one on purpose from a raw socket: a pure ACK `BEHIND` octets before the TIME_WAIT
/// socket's `rcv_nxt`, to each of two TIME_WAIT sockets, first with `tcp_rfc1337 = 0`, then 1.
pub static ASSASSINATED: Def = Def {
    info: CaseInfo {
        name: "time_wait::assassinated",
        summary: "tcp_rfc1337=0 (the default): a stray ACK draws a reset that kills TIME_WAIT and frees its port; tcp_rfc1337=1 ignores it",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(800),
    },
    body: |case, net| Box::pin(assassinated(case, net)),
};

/// The client's only ephemeral port in [`ASSASSINATED`]: a TIME_WAIT socket on it to a
/// destination leaves connect() to that destination no port.
const ONE_PORT: PortRange = PortRange {
    low: 43000,
    high: 43000,
};

/// How far behind the TIME_WAIT socket's `rcv_nxt` the stray segment's sequence number is, in
/// octets: outside its window (TIME_WAIT takes only `rcv_nxt` itself). The .expect file has the
/// segment's relative sequence number as `${stray_seq}`: 2 (the client's rcv_nxt, relative)
/// minus this, modulo 2^32.
const BEHIND: u32 = 100_000;

/// How long the second TIME_WAIT socket's timer has run before the stray segment reaches it, at
/// least: enough that a restart to `TCP_TIMEWAIT_LEN` shows in the socket table, read after the
/// stray segment as late as a loaded machine reads it (150 ms seen; a restarted timer read later
/// than this would no longer look longer than before).
const RESTART_VISIBLE: Duration = Duration::from_millis(500);

/// Serves `port` on the server: accepts every connection and closes it when the client has
/// (so that the client, closing first, holds TIME_WAIT).
async fn serve(net: &Topology, family: Family, port: u16) -> Result<SocketAddr> {
    let addr = net.socket_addr("server", family, port)?;
    let server = net.host("server")?;
    let listener = server
        .spawn(async move { tokio::net::TcpListener::bind(addr).await })
        .await?
        .expect("bind the server's address");
    // Detached: the task lives as long as the server's runtime.
    drop(server.spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    }));
    Ok(addr)
}

/// One connection the client opens and closes first: returns its local port and when the client
/// began to close it (its end enters TIME_WAIT after then, as the server's FIN arrives), or
/// connect()'s error.
///
/// The instant before the close, not the one the reader wakes up after the server's FIN: on a
/// loaded machine the reader wakes up to a hundred milliseconds late, while the close begins
/// before the FIN is even sent, so time measured from it never falls short of TIME_WAIT's.
fn open_and_close(server: SocketAddr) -> io::Result<(u16, Instant)> {
    let stream = TcpStream::connect(server)?;
    let port = stream.local_addr()?.port();
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let closing_at = Instant::now();
    stream.shutdown(Shutdown::Write)?;
    let mut buf = [0u8; 1];
    let n = (&stream).read(&mut buf)?;
    assert_eq!(n, 0, "the server only closes");
    Ok((port, closing_at))
}

/// Opens and closes connections until connect() fails: the ports and times of those that
/// succeeded, and the error.
fn until_refused(server: SocketAddr, max: usize) -> (Vec<(u16, Instant)>, io::Error) {
    let mut done = Vec::new();
    loop {
        match open_and_close(server) {
            Ok(c) => done.push(c),
            Err(e) => return (done, e),
        }
        assert!(done.len() <= max, "more connections than ports: {done:?}");
    }
}

fn assert_eaddrnotavail(e: &io::Error, what: &str) {
    assert_eq!(
        e.raw_os_error(),
        Some(libc::EADDRNOTAVAIL),
        "{what}: expected EADDRNOTAVAIL, got {e}"
    );
}

async fn held_by_active_closer(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let expectation = expectation("time_wait_held_by_active_closer.expect", &())?;
    let (client_host, server_host) = (net.host("client")?, net.host("server")?);
    let hz = client_host.tcp_settings().await?.hz;
    // Both ends hold TIME_WAIT in turn: neither may lose it to a reset from veth's reordering.
    keep_time_wait(client_host).await?;
    keep_time_wait(server_host).await?;
    let recording = net.record(&["client", "server"]).await?;

    // 1. The client closes first.
    let server_addr = serve(&net, family, PORT).await?;
    let (port, closing_at) = client_host
        .run(move || open_and_close(server_addr))
        .await?
        .expect("a connection");
    let table = client_host
        .sockets_matching(Filter::all().remote_port(PORT))
        .await?;
    let tw = table
        .iter()
        .find(|s| s.local.port() == port)
        .unwrap_or_else(|| panic!("the client's socket: {table}"));
    assert_eq!(tw.state, TcpState::TimeWait, "{table}");
    let timer = tw.timer.unwrap_or_else(|| panic!("no timer: {table}"));
    assert_eq!(timer.kind, TimerKind::TimeWait, "{table}");
    // The timer was set to TCP_TIMEWAIT_LEN when the socket entered TIME_WAIT, as the server's
    // FIN arrived, after the client began to close; what is left is less by the time since,
    // counted in whole jiffies (one lost to rounding at each end), and by a tick that came late
    // (jiffies behind the clock when the timer was armed: SCHEDULING).
    // At most this long when the kernel sampled the timer (see `read_end`).
    let since = table.read_end().saturating_duration_since(closing_at);
    let slack = 2 * hz.jiffy() + SCHEDULING + netcase::kernel()?.emulation();
    assert!(
        timer.remaining <= TCP_TIMEWAIT_LEN && timer.remaining + since + slack >= TCP_TIMEWAIT_LEN,
        "TIME_WAIT timer {:?}, read {since:?} after entering: not {TCP_TIMEWAIT_LEN:?}",
        timer.remaining
    );
    case.measure(
        "time_wait_timer_s",
        &[(timer.remaining + since).as_secs_f64()],
        "s",
    );
    // The server, the passive closer, keeps nothing once its FIN is acknowledged.
    wait_until(
        "the server's connection gone",
        Duration::from_secs(2),
        || server_host.sockets_matching(Filter::all().local_port(PORT)),
        |t| t.iter().all(|s| s.state == TcpState::Listen),
    )
    .await?;

    // 2. The server closes first: the server holds TIME_WAIT, the client nothing.
    let c = connect(&net, family, PORT + 1).await?;
    let server = c.server;
    let (closed, _) = server_host.run(move || close(server)).await?;
    closed.expect("the server's close()");
    let client = c.client;
    let (eof, client) = client_host
        .run(move || {
            let mut buf = [0u8; 1];
            ((&client).read(&mut buf), client)
        })
        .await?;
    assert_eq!(eof.expect("the client's read"), 0);
    let (closed, _) = client_host.run(move || close(client)).await?;
    closed.expect("the client's close()");
    let server_tw = wait_until(
        "the server's end in TIME_WAIT",
        Duration::from_secs(2),
        || server_host.sockets_matching(Filter::all().local_port(PORT + 1)),
        |t| t.count(TcpState::TimeWait) == 1,
    )
    .await?;
    assert_eq!(
        server_tw.value.len(),
        2,
        "the listener and the TIME_WAIT: {}",
        server_tw.value
    );
    wait_until(
        "the client's end gone",
        Duration::from_secs(2),
        || client_host.sockets_matching(Filter::all().remote_port(PORT + 1)),
        |t| t.is_empty(),
    )
    .await?;
    drop(c.listener);

    // 3. A zero-linger close: a reset, and TIME_WAIT on neither side.
    let c = connect(&net, family, PORT + 2).await?;
    let client = c.client;
    let (closed, _) = client_host.run(move || close_abortively(client)).await?;
    closed.expect("the client's close()");
    let server = c.server;
    let (reset, server) = server_host
        .run(move || {
            let mut buf = [0u8; 1];
            ((&server).read(&mut buf), server)
        })
        .await?;
    assert_eq!(
        reset.as_ref().err().and_then(|e| e.raw_os_error()),
        Some(libc::ECONNRESET),
        "{reset:?}"
    );
    drop(server);
    let client_left = client_host
        .sockets_matching(Filter::all().remote_port(PORT + 2))
        .await?;
    assert!(client_left.is_empty(), "{client_left}");
    let server_left = server_host
        .sockets_matching(Filter::all().local_port(PORT + 2))
        .await?;
    assert!(
        server_left.iter().all(|s| s.state == TcpState::Listen),
        "{server_left}"
    );
    drop(c.listener);

    let recorded = recording.stop().await?;
    recorded.check(&net, "client", &expectation)?;
    Ok(())
}

/// The exhaustion cases: the client's range narrowed to [`SMALL_RANGE`], `tcp_tw_reuse` and
/// `tcp_timestamps` set on the client as given.
async fn exhaustion(case: Arc<Case>, net: Arc<Topology>, reuse: u8, timestamps: u8) -> Result<()> {
    let family = case.family();
    let reused = reuse == 1 && timestamps == 1;
    let expectation = expectation(
        if reused {
            "time_wait_reused.expect"
        } else {
            "time_wait_exhausted.expect"
        },
        &(),
    )?;
    let client_host = net.host("client")?;
    let hz = client_host.tcp_settings().await?.hz;
    client_host
        .set(sysctl::IP_LOCAL_PORT_RANGE, SMALL_RANGE)
        .await?;
    client_host.set(sysctl::TCP_TW_REUSE, reuse).await?;
    client_host.set(sysctl::TCP_TIMESTAMPS, timestamps).await?;
    keep_time_wait(client_host).await?;
    // tcp_tw_reuse_delay, where the kernel has it: shortened. Without it, the rule of kernels
    // before 6.14: reuse at the next whole second of the monotonic clock.
    let rule = if netcase::kernel()?.has(sysctl::TCP_TW_REUSE_DELAY) {
        client_host
            .set(sysctl::TCP_TW_REUSE_DELAY, REUSE_DELAY_MS)
            .await?;
        TwReuse::of(Some(Duration::from_millis(REUSE_DELAY_MS.into())))
    } else {
        TwReuse::of(None)
    };
    let ports = SMALL_RANGE.len() as usize;
    let server_addr = serve(&net, family, PORT).await?;
    let before = client_host.counters().await?;
    let recording = net.record(&["client", "server"]).await?;

    if rule == TwReuse::NextSecond {
        // The whole range is used up within one second of the monotonic clock, so that no
        // socket of it may be taken over before the round ends.
        // 100 ms into it (and the emulation's allowance): after the tick that moves the
        // kernel's seconds clock on, however late it comes.
        let margin = Duration::from_millis(100) + netcase::kernel()?.emulation();
        netcase::observe::next_whole_second(margin).await;
    }
    let (done, refused) = client_host
        .run(move || until_refused(server_addr, ports))
        .await?;
    let refused_at = Instant::now();
    assert_eaddrnotavail(&refused, "connect() with every port in TIME_WAIT");
    assert_eq!(done.len(), ports, "one connection per port: {done:?}");
    case.figure(
        "connections_before_refusal",
        &[done.len() as f64],
        "connections",
    );
    let first_tw = done[0].1;
    assert!(
        rules::monotonic(refused_at) < rule.allowed_at(rules::monotonic(first_tw)),
        "the range took {:?} to use up, past the first moment of reuse ({}): the case cannot tell \
         reuse from none",
        refused_at - first_tw,
        rule.describe()
    );

    let table = client_host
        .sockets_matching(Filter::all().remote_port(PORT))
        .await?;
    let mut held: Vec<u16> = table.iter().map(|s| s.local.port()).collect();
    held.sort_unstable();
    let all: Vec<u16> = (SMALL_RANGE.low..=SMALL_RANGE.high).collect();
    assert_eq!(held, all, "every port of the range in TIME_WAIT: {table}");
    assert_eq!(table.count(TcpState::TimeWait), ports, "{table}");
    // When the first socket entered TIME_WAIT, by the kernel's clock: its timer started at
    // TCP_TIMEWAIT_LEN then (within a jiffy), sooner than the client's reader woke up.
    let entered = table
        .iter()
        .filter_map(|s| s.timer)
        .map(|t| table.read_at() + t.remaining - TCP_TIMEWAIT_LEN)
        .min()
        .expect("TIME_WAIT timers");

    let attempt = move || {
        client_host.run(move || match TcpStream::connect(server_addr) {
            Ok(s) => {
                let port = s.local_addr().map(|a| a.port()).ok();
                // Close it first again, as every other connection of the case.
                let _ = s.shutdown(Shutdown::Write);
                let mut buf = [0u8; 1];
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = (&s).read(&mut buf);
                Ok(port)
            }
            Err(e) => Err(e.raw_os_error()),
        })
    };
    if reused {
        // Where kernels differ: when a TIME_WAIT socket may be taken over.
        case.behaviour("TIME_WAIT reuse", &rule.describe());
        // Not yet: the rule allows none of the TIME_WAIT sockets yet.
        let early = attempt().await?;
        let checked = rules::monotonic(Instant::now());
        let allowed_first = rule.allowed_at(rules::monotonic(first_tw));
        assert!(
            checked < allowed_first,
            "the early connect() ended {:?} after the first moment of reuse ({}): the case was too \
             slow to see a refusal before it",
            checked - allowed_first,
            rule.describe()
        );
        assert_eq!(
            early,
            Err(Some(libc::EADDRNOTAVAIL)),
            "before reuse is allowed"
        );
        // Then the oldest one is taken over as soon as the rule allows.
        let first = wait_until(
            "a connect() that reuses a TIME_WAIT port",
            rule.longest() * 3,
            attempt,
            |r: &std::result::Result<Option<u16>, Option<i32>>| r.is_ok(),
        )
        .await?;
        let after = first.at.saturating_duration_since(entered);
        case.measure("reused_after_ms", &[after.as_secs_f64() * 1e3], "ms");
        // Not before the rule's moment for the first socket: after a delay, from its entry into
        // TIME_WAIT as its timer shows it (whole jiffies: 2 jiffies early at most); at the next
        // second, from the second the round ran in by this clock (it started well into one: the
        // timer's estimate would carry the lag of the kernel's ticks). Not later than that moment
        // plus a probe's window and the observation's slack (scheduling, and emulation where the
        // clock is emulated) plus 80 ms for the connect() of the probe.
        let allowed = rule.allowed_at(rules::monotonic(match rule {
            TwReuse::AfterDelay(_) => entered,
            TwReuse::NextSecond => first_tw,
        }));
        let seen = rules::monotonic(first.at);
        let slack = netcase::kernel()?.observation_slack();
        assert!(
            seen + 2 * hz.jiffy() >= allowed
                && seen <= allowed + first.window + slack.late + Duration::from_millis(80),
            "the first reuse came {after:?} after the first TIME_WAIT, {:?} from the rule's moment \
             ({})",
            seen.abs_diff(allowed),
            rule.describe()
        );
        // More follow, as TIME_WAIT sockets pass the delay: as many as the range has ports.
        let mut reused_ports = vec![first.value.expect("reused").expect("a port")];
        while reused_ports.len() < ports {
            let next = wait_until(
                "a connect() that reuses a TIME_WAIT port",
                rule.longest(),
                attempt,
                |r: &std::result::Result<Option<u16>, Option<i32>>| r.is_ok(),
            )
            .await?;
            reused_ports.push(next.value.expect("reused").expect("a port"));
        }
        // Every one of them took over a TIME_WAIT socket (the range has no free port): the
        // kernel counts each in TWRecycled. Which socket it takes is the port search's choice
        // (connect() tries even ports first), not necessarily the oldest.
        let delta = client_host.counters().await?.since(&before)?;
        assert!(
            reused_ports.iter().all(|p| all.contains(p)),
            "{reused_ports:?}"
        );
        assert_eq!(
            delta.get("TcpExt.TWRecycled")?,
            ports as i64,
            "one TIME_WAIT socket recycled per new connection ({reused_ports:?}): {delta}"
        );
    } else {
        // None of the TIME_WAIT sockets may be taken over, however old: keep trying for twice
        // the longest wait of the reuse rule (the kernel would have allowed reuse after one).
        let tried = wait_until_every(
            "a connect() that reuses a TIME_WAIT port",
            rule.longest() * 2,
            Duration::from_millis(5),
            attempt,
            |r: &std::result::Result<Option<u16>, Option<i32>>| r.is_ok(),
        )
        .await;
        match tried {
            Err(netcase::Error::Timeout { .. }) => {}
            Err(e) => return Err(e),
            Ok(seen) => panic!(
                "tcp_tw_reuse={reuse}, tcp_timestamps={timestamps}: a TIME_WAIT port was reused after {:?}: {:?}",
                seen.at - first_tw,
                seen.value
            ),
        }
        let last = attempt().await?;
        assert_eq!(last, Err(Some(libc::EADDRNOTAVAIL)), "still refused");
        let delta = client_host.counters().await?.since(&before)?;
        assert_eq!(delta.get("TcpExt.TWRecycled")?, 0, "{delta}");
    }

    let recorded = recording.stop().await?;
    recorded.check(&net, "client", &expectation)?;
    Ok(())
}

async fn ports_come_back(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let client_host = net.host("client")?;
    let settings = client_host.tcp_settings().await?;
    let hz = settings.hz.clone();

    // The notes' arithmetic, with this kernel's default range.
    let default = settings.ip_local_port_range()?;
    let note_rate = f64::from(default.len()) / TCP_TIMEWAIT_LEN.as_secs_f64();
    case.figure(
        "default_port_range",
        &[f64::from(default.low), f64::from(default.high)],
        "port",
    );
    case.figure("default_sustained_rate", &[note_rate], "connections/s");
    case.note(format!(
        "default ip_local_port_range {} {} ({} ports; the notes say 32768 61000): at most {note_rate:.1} \
         new connections per second to one destination without tcp_tw_reuse",
        default.low,
        default.high,
        default.len()
    ));

    client_host
        .set(sysctl::IP_LOCAL_PORT_RANGE, LONG_RANGE)
        .await?;
    client_host.set(sysctl::TCP_TW_REUSE, 0).await?;
    keep_time_wait(client_host).await?;
    let ports = LONG_RANGE.len() as usize;
    let server_addr = serve(&net, family, PORT).await?;

    let (done, refused) = client_host
        .run(move || until_refused(server_addr, ports))
        .await?;
    assert_eaddrnotavail(&refused, "connect() with every port in TIME_WAIT");
    assert_eq!(done.len(), ports, "one connection per port: {done:?}");
    let closed_at: HashMap<u16, Instant> = done.iter().copied().collect();
    let started = done[0].1;

    // Each TIME_WAIT socket, by cookie: its port and when its timer is due.
    let table = client_host
        .sockets_matching(Filter::all().state(TcpState::TimeWait).remote_port(PORT))
        .await?;
    assert_eq!(table.len(), ports, "{table}");
    let mut due: HashMap<u64, (u16, Instant)> = HashMap::new();
    for s in &table {
        let timer = s.timer.unwrap_or_else(|| panic!("no timer: {table}"));
        due.insert(
            s.cookie,
            (s.local.port(), table.read_at() + timer.remaining),
        );
    }

    // Wait for them to go, trying to connect all the while: connect() must fail until a socket
    // has gone, and then succeed once per port that came back.
    // Polled every 20 ms (each look reads the table and tries the ports) until every socket is
    // seen gone, with a deadline.
    let poll = Duration::from_millis(20);
    let mut polls = tokio::time::interval(poll);
    let deadline = TCP_TIMEWAIT_LEN + Duration::from_secs(5);
    let mut gone: HashMap<u64, Instant> = HashMap::new();
    let mut second_round: Vec<(u16, Instant)> = Vec::new();
    while gone.len() < ports {
        assert!(
            started.elapsed() < deadline,
            "TIME_WAIT sockets left after {deadline:?}: {} of {ports}",
            ports - gone.len()
        );
        polls.tick().await;
        let table = client_host
            .sockets_matching(Filter::all().state(TcpState::TimeWait).remote_port(PORT))
            .await?;
        for cookie in due.keys() {
            if !gone.contains_key(cookie) && !table.iter().any(|s| s.cookie == *cookie) {
                // Gone when sampled, at the latest by the read's end (see `read_end`).
                gone.insert(*cookie, table.read_end());
            }
        }
        let (more, refused) = client_host
            .run(move || until_refused(server_addr, ports))
            .await?;
        assert_eaddrnotavail(&refused, "connect() while ports are in TIME_WAIT");
        second_round.extend(more);
    }
    // The last sockets may go between a table read and the connect() attempts: one more round.
    let (more, refused) = client_host
        .run(move || until_refused(server_addr, ports))
        .await?;
    assert_eaddrnotavail(&refused, "connect() with the range used up again");
    second_round.extend(more);
    assert_eq!(
        second_round.len(),
        ports,
        "one new connection per port that came back"
    );

    // Each socket lasted TCP_TIMEWAIT_LEN from its entry, plus what the timer wheel adds: a
    // 60 s timer sits at level 3, whose buckets are 512 jiffies wide (2.048 s at HZ=250), and
    // fires at the end of its bucket; plus the poll interval and scheduling (200 ms).
    // Early: the entry is timed from before the client's close (50 ms covers the thread that
    // timestamps it). Emulation adds to both edges.
    let granule = hz.jiffy() * 512;
    let emulation = netcase::kernel()?.emulation();
    let mut lifetimes = Vec::new();
    for (cookie, (port, due_at)) in &due {
        let went = gone[cookie];
        let lifetime = went - closed_at[port];
        lifetimes.push(lifetime.as_secs_f64());
        assert!(
            lifetime + Duration::from_millis(50) + emulation >= TCP_TIMEWAIT_LEN
                && lifetime
                    <= TCP_TIMEWAIT_LEN + granule + poll + Duration::from_millis(200) + emulation,
            "port {port}: TIME_WAIT lasted {lifetime:?}, not {TCP_TIMEWAIT_LEN:?} + up to {granule:?}"
        );
        assert!(
            went + poll + hz.jiffy() + emulation >= *due_at,
            "port {port}: gone {:?} before its timer was due",
            *due_at - went
        );
    }
    lifetimes.sort_by(f64::total_cmp);
    case.measure("time_wait_s", &lifetimes, "s");
    let first_back = second_round
        .iter()
        .map(|(_, at)| *at)
        .min()
        .expect("a second round");
    let back_after = first_back - started;
    case.measure("ports_back_after_s", &[back_after.as_secs_f64()], "s");
    // No port came back before the first TIME_WAIT socket had lasted TCP_TIMEWAIT_LEN.
    assert!(
        back_after + Duration::from_millis(50) + emulation >= TCP_TIMEWAIT_LEN,
        "a connect() succeeded {back_after:?} after the first TIME_WAIT"
    );
    let mean = lifetimes.iter().sum::<f64>() / lifetimes.len() as f64;
    let rate = ports as f64 / mean;
    case.measure("sustained_rate", &[rate], "connections/s");
    assert!(
        (rate - ports as f64 / TCP_TIMEWAIT_LEN.as_secs_f64()).abs()
            <= ports as f64 / TCP_TIMEWAIT_LEN.as_secs_f64() * 0.04,
        "{rate} connections/s from {ports} ports, not {ports} / 60 s"
    );
    Ok(())
}

/// What a connection's client end ended with when it went into TIME_WAIT.
#[derive(Debug, Clone, Copy)]
struct Ended {
    /// The client's port.
    port: u16,
    /// When the client began to close (TIME_WAIT began after, as the server's FIN arrived; see
    /// `open_and_close` for why not when the reader woke up).
    closing_at: Instant,
    /// The client's next sequence number: what its TIME_WAIT socket copied as `tw_snd_nxt`.
    snd_nxt: u32,
    /// The next sequence number it expected from the server (the server's FIN counted): what its
    /// TIME_WAIT socket copied as `tw_rcv_nxt`.
    rcv_nxt: u32,
}

/// `open_and_close`, also reading the sequence numbers the client's socket ended with.
fn open_and_close_reading_seqs(server: SocketAddr) -> io::Result<Ended> {
    let stream = TcpStream::connect(server)?;
    let port = stream.local_addr()?.port();
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let closing_at = Instant::now();
    stream.shutdown(Shutdown::Write)?;
    let mut buf = [0u8; 1];
    let n = (&stream).read(&mut buf)?;
    assert_eq!(n, 0, "the server only closes");
    let (snd_nxt, rcv_nxt) = final_seqs(&stream)?;
    Ok(Ended {
        port,
        closing_at,
        snd_nxt,
        rcv_nxt,
    })
}

/// `TCP_RECV_QUEUE` and `TCP_SEND_QUEUE` of linux/tcp.h (the libc crate lacks them): the queue
/// whose sequence number `TCP_QUEUE_SEQ` reads in repair mode.
const TCP_RECV_QUEUE: libc::c_int = 1;
const TCP_SEND_QUEUE: libc::c_int = 2;
/// `TCP_REPAIR_OFF_NO_WP` of linux/tcp.h: leave repair mode without sending a window probe.
const TCP_REPAIR_OFF_NO_WP: libc::c_int = -1;

/// The `(write_seq, rcv_nxt)` of a socket whose connection has gone on as a TIME_WAIT socket,
/// read in repair mode (`TCP_REPAIR`, which needs CAP_NET_ADMIN and sends nothing): the socket
/// itself is closed, but keeps the numbers `tcp_time_wait` copied.
fn final_seqs(stream: &TcpStream) -> io::Result<(u32, u32)> {
    let fd = stream.as_raw_fd();
    let set = |option: libc::c_int, value: libc::c_int| {
        // SAFETY: `fd` is open while `stream` is borrowed; the option value is a c_int and the
        // length given is its size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                option,
                (&raw const value).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    let queue_seq = |queue: libc::c_int| {
        set(libc::TCP_REPAIR_QUEUE, queue)?;
        let mut seq: u32 = 0;
        let mut len = size_of::<u32>() as libc::socklen_t;
        // SAFETY: as above; `seq` and `len` are valid for writes of the sizes given.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_QUEUE_SEQ,
                (&raw mut seq).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            Ok(seq)
        } else {
            Err(io::Error::last_os_error())
        }
    };
    set(libc::TCP_REPAIR, 1)?;
    let seqs = queue_seq(TCP_SEND_QUEUE).and_then(|snd| Ok((snd, queue_seq(TCP_RECV_QUEUE)?)));
    set(libc::TCP_REPAIR, TCP_REPAIR_OFF_NO_WP)?;
    seqs
}

/// Serves one connection from `listener`, closing the listener at once and the connection when
/// the client has: afterwards the server has no socket on that port at all.
fn serve_one(listener: TcpListener) -> io::Result<()> {
    let (stream, _) = listener.accept()?;
    drop(listener);
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 64];
    while (&stream).read(&mut buf)? > 0 {}
    Ok(())
}

/// IP's protocol number for TCP, in the pseudo-header.
const IPPROTO_TCP: u8 = 6;

/// A pure ACK from `from` to `to`: a 20-octet TCP header without options or payload, its
/// checksum computed over the family's pseudo-header (a raw socket sends it as it is).
fn pure_ack(from: SocketAddr, to: SocketAddr, seq: u32, ack: u32) -> [u8; 20] {
    let mut segment = [0u8; 20];
    segment[0..2].copy_from_slice(&from.port().to_be_bytes());
    segment[2..4].copy_from_slice(&to.port().to_be_bytes());
    segment[4..8].copy_from_slice(&seq.to_be_bytes());
    segment[8..12].copy_from_slice(&ack.to_be_bytes());
    segment[12] = 5 << 4; // data offset: 5 words, no options
    segment[13] = 0x10; // ACK
    segment[14..16].copy_from_slice(&1024u16.to_be_bytes()); // any window
    let sum = tcp_checksum(from.ip(), to.ip(), &segment);
    segment[16..18].copy_from_slice(&sum.to_be_bytes());
    segment
}

/// The TCP checksum of `segment` (its checksum field zero) from `from` to `to`: the ones'
/// complement of the ones' complement sum of the pseudo-header and the segment, in 16-bit words.
/// IPv4's pseudo-header is source, destination, a zero octet, the protocol and the TCP length in
/// 16 bits (RFC 9293, 3.1); IPv6's is source, destination, the length in 32 bits, three zero
/// octets and the next header (RFC 8200, 8.1).
fn tcp_checksum(from: IpAddr, to: IpAddr, segment: &[u8]) -> u16 {
    let len = u32::try_from(segment.len()).expect("a segment under 4 GiB");
    let mut pseudo = Vec::with_capacity(40);
    match (from, to) {
        (IpAddr::V4(from), IpAddr::V4(to)) => {
            pseudo.extend_from_slice(&from.octets());
            pseudo.extend_from_slice(&to.octets());
            pseudo.extend_from_slice(&[0, IPPROTO_TCP]);
            let len = u16::try_from(len).expect("an IPv4 segment under 64 KiB");
            pseudo.extend_from_slice(&len.to_be_bytes());
        }
        (IpAddr::V6(from), IpAddr::V6(to)) => {
            pseudo.extend_from_slice(&from.octets());
            pseudo.extend_from_slice(&to.octets());
            pseudo.extend_from_slice(&len.to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, IPPROTO_TCP]);
        }
        _ => panic!("{from} and {to} are of different families"),
    }
    let mut sum: u32 = pseudo
        .chunks(2)
        .chain(segment.chunks(2))
        .map(|w| u32::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).expect("folded to 16 bits")
}

/// Sends `segment`, a TCP header and payload with its checksum, from `from`'s address to `to`'s
/// through a raw socket of the host it runs on; returns when it was handed to the kernel.
fn inject(from: SocketAddr, to: SocketAddr, segment: &[u8]) -> io::Result<Instant> {
    let domain = match from {
        SocketAddr::V4(_) => Domain::IPV4,
        SocketAddr::V6(_) => Domain::IPV6,
    };
    let socket = socket2::Socket::new(domain, Type::RAW, Some(Protocol::TCP))?;
    // Bound to the address the checksum covers, so that the kernel picks no other source. The
    // port of a raw socket's address is 0 (IPv6 reads it as the protocol).
    socket.bind(&SocketAddr::new(from.ip(), 0).into())?;
    let at = Instant::now();
    let sent = socket.send_to(segment, &SocketAddr::new(to.ip(), 0).into())?;
    assert_eq!(sent, segment.len(), "a short send of the stray segment");
    Ok(at)
}

/// Checks a connection's TIME_WAIT socket (`timer`, read by `read_at`) as the stray ACK will
/// find it: its timer started at TCP_TIMEWAIT_LEN (within `slack`) and it holds the client's only
/// port; then reads both hosts' counters and sends the stray ACK from `server` to `client`. Returns the counters and when the segment left.
async fn stray_ack(
    net: &Topology,
    ended: &Ended,
    (client, server): (SocketAddr, SocketAddr),
    (timer, read_at): (Timer, Instant),
    slack: Duration,
) -> Result<(Counters, Counters, Instant)> {
    let (client_host, server_host) = (net.host("client")?, net.host("server")?);
    let since = read_at.saturating_duration_since(ended.closing_at);
    assert!(
        timer.remaining <= TCP_TIMEWAIT_LEN && timer.remaining + since + slack >= TCP_TIMEWAIT_LEN,
        "TIME_WAIT timer {:?}, read {since:?} after entering: not {TCP_TIMEWAIT_LEN:?}",
        timer.remaining
    );
    let refused = try_connect(client_host, server).await?;
    assert_eq!(
        refused,
        Err(libc::EADDRNOTAVAIL),
        "connect() while TIME_WAIT holds the only port"
    );
    let before = (client_host.counters().await?, server_host.counters().await?);
    let stray = pure_ack(
        server,
        client,
        ended.rcv_nxt.wrapping_sub(BEHIND),
        ended.snd_nxt,
    );
    let sent_at = server_host
        .run(move || inject(server, client, &stray))
        .await?
        .expect("the stray segment");
    Ok((before.0, before.1, sent_at))
}

/// The TIME_WAIT socket from `local` to `remote` on `host`, if there is one, and when the table
/// was read.
async fn time_wait_of(
    host: &Host,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Option<(Socket, Instant)>> {
    let table = host
        .sockets_matching(
            Filter::all()
                .state(TcpState::TimeWait)
                .remote_port(remote.port()),
        )
        .await?;
    Ok(table.get(local, remote).map(|s| (*s, table.read_end())))
}

/// Its TIME_WAIT timer.
fn tw_timer(socket: &Socket) -> Timer {
    let timer = socket
        .timer
        .unwrap_or_else(|| panic!("a TIME_WAIT socket without a timer: {socket:?}"));
    assert_eq!(timer.kind, TimerKind::TimeWait, "{socket:?}");
    timer
}

/// connect() to `server` from the client: its errno if it failed; if it succeeded, the port it
/// used, the connection closed abortively (no TIME_WAIT).
async fn try_connect(client: &Host, server: SocketAddr) -> Result<std::result::Result<u16, i32>> {
    client
        .run(move || match TcpStream::connect(server) {
            Ok(stream) => {
                let port = stream.local_addr().expect("the local address").port();
                let (closed, _) = close_abortively(stream);
                closed.expect("the abortive close()");
                Ok(port)
            }
            Err(e) => Err(e.raw_os_error().unwrap_or(0)),
        })
        .await
}

/// The TCP counters (`Tcp.*`, `TcpExt.*`) that changed, by name.
fn tcp_changes(delta: &Delta) -> BTreeMap<&str, i64> {
    delta
        .changes()
        .filter(|(name, _)| name.starts_with("Tcp.") || name.starts_with("TcpExt."))
        .collect()
}

/// What each half counts: the client takes in the stray ACK and the reset and sends its
/// duplicate ACK; the server takes in that ACK and sends the reset. No counter records the
/// kill: the same counts with the TIME_WAIT socket killed and kept. (`TcpExt.TW` counts
/// TIME_WAIT timers that expire, `TcpExt.TWKilled` early expiries, neither an assassination.)
fn assert_counted(client: &Delta, server: &Delta, half: &str) {
    assert_eq!(
        tcp_changes(client),
        BTreeMap::from([("Tcp.InSegs", 2), ("Tcp.OutSegs", 1)]),
        "{half}: the client's counters: {client}"
    );
    assert_eq!(
        tcp_changes(server),
        BTreeMap::from([("Tcp.InSegs", 1), ("Tcp.OutSegs", 1), ("Tcp.OutRsts", 1)]),
        "{half}: the server's counters: {server}"
    );
}

async fn assassinated(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let family = case.family();
    let (client_host, server_host) = (net.host("client")?, net.host("server")?);
    let hz = client_host.tcp_settings().await?.hz;
    assert!(
        !client_host.get(sysctl::TCP_RFC1337).await?,
        "tcp_rfc1337 is off in a new namespace"
    );
    client_host
        .set(sysctl::IP_LOCAL_PORT_RANGE, ONE_PORT)
        .await?;
    // No reuse: connect() must see the TIME_WAIT socket, not take it over.
    client_host.set(sysctl::TCP_TW_REUSE, 0).await?;
    // A TIME_WAIT socket answers out-of-window segments at most once per tcp_invalid_ratelimit
    // (500 ms by default); should veth's reordering make it answer a late ACK while the
    // connections close, the stray segment must not find it rate-limited.
    client_host
        .set_raw("net/ipv4/tcp_invalid_ratelimit", "0")
        .await?;
    // Both connections close with tcp_rfc1337 = 1, so that only the stray segment can touch them.
    keep_time_wait(client_host).await?;
    let stray_seq = 2u32.wrapping_sub(BEHIND).to_string();
    let expectation = expectation(
        "time_wait_assassinated.expect",
        &[("stray_seq", stray_seq.as_str())],
    )?;
    let recording = net.record(&["client", "server"]).await?;

    // Two connections from the one port, to two server ports, each closed by the client first.
    // The first port keeps its listener (which answers the duplicate ACK with the reset: an ACK
    // to a LISTEN socket gets one); the second's listener closes with its connection (no socket
    // at all: the reset comes from the kernel).
    let killed_addr = serve(&net, family, PORT).await?;
    let killed = client_host
        .run(move || open_and_close_reading_seqs(killed_addr))
        .await?
        .expect("the first connection");
    let kept_addr = net.socket_addr("server", family, PORT + 1)?;
    let listener = server_host
        .run(move || TcpListener::bind(kept_addr))
        .await?
        .expect("bind the server's second port");
    let served = server_host.run(move || serve_one(listener));
    let kept = client_host
        .run(move || open_and_close_reading_seqs(kept_addr))
        .await?
        .expect("the second connection");
    served
        .await?
        .expect("the server's end of the second connection");
    assert_eq!((killed.port, kept.port), (ONE_PORT.low, ONE_PORT.low));
    let client_addr = net.socket_addr("client", family, ONE_PORT.low)?;
    // The server's ends are gone once the client's last ACKs arrive: nothing but the first port's
    // listener is left.
    wait_until(
        "the server's ends of both connections gone",
        Duration::from_secs(2),
        || server_host.sockets(),
        |t| {
            t.iter()
                .all(|s| s.state == TcpState::Listen && s.local.port() == PORT)
        },
    )
    .await?;
    // What the TIME_WAIT timer shows when read `since` the client began to close: it started at
    // TCP_TIMEWAIT_LEN as the server's FIN arrived, after that, counted in whole jiffies, less a
    // tick that came late (SCHEDULING), and the emulation's allowance where the clock is emulated.
    let slack = 2 * hz.jiffy() + SCHEDULING + netcase::kernel()?.emulation();

    // 1. tcp_rfc1337 = 0, the default, set explicitly: the stray ACK to the first connection.
    client_host.set(sysctl::TCP_RFC1337, false).await?;
    let (tw, read_at) = time_wait_of(client_host, client_addr, killed_addr)
        .await?
        .expect("the first connection's TIME_WAIT socket");
    let timer = tw_timer(&tw);
    let (client_before, server_before, sent_at) = stray_ack(
        &net,
        &killed,
        (client_addr, killed_addr),
        (timer, read_at),
        slack,
    )
    .await?;
    let gone = wait_until(
        "the TIME_WAIT socket killed",
        Duration::from_secs(2),
        || time_wait_of(client_host, client_addr, killed_addr),
        Option::is_none,
    )
    .await?;
    let client_delta = client_host.counters().await?.since(&client_before)?;
    let server_delta = server_host.counters().await?.since(&server_before)?;
    let killed_after = gone.at.saturating_duration_since(sent_at);
    case.measure("killed_after_ms", &[ms(killed_after)], "ms");
    // The timer as last read before the stray ACK, run down to the kill: at least what TIME_WAIT
    // had left (the stray ACK itself restarted it at TCP_TIMEWAIT_LEN, as part 2 shows).
    let timer_left = (read_at + timer.remaining).saturating_duration_since(gone.at);
    case.measure("timer_left_when_killed_s", &[timer_left.as_secs_f64()], "s");
    let lived = gone.at.saturating_duration_since(killed.closing_at);
    case.note(format!(
        "tcp_rfc1337=0: TIME_WAIT killed {killed_after:?} after the stray ACK, {lived:?} into \
         it, with {timer_left:?} of its timer left"
    ));
    assert_counted(&client_delta, &server_delta, "tcp_rfc1337=0");
    // Its port is free at once.
    let reconnected = try_connect(client_host, killed_addr).await?;
    assert_eq!(
        reconnected,
        Ok(ONE_PORT.low),
        "connect() right after the kill"
    );

    // 2. tcp_rfc1337 = 1: the same stray ACK to the second connection, once its timer has run
    // long enough that a restart would show.
    client_host.set(sysctl::TCP_RFC1337, true).await?;
    let ripe = wait_until(
        "the second TIME_WAIT timer run down a little",
        Duration::from_secs(2),
        || time_wait_of(client_host, client_addr, kept_addr),
        |tw| {
            tw.as_ref()
                .is_none_or(|(s, _)| tw_timer(s).remaining + RESTART_VISIBLE <= TCP_TIMEWAIT_LEN)
        },
    )
    .await?;
    let (tw, read_at) = ripe
        .value
        .expect("the second connection's TIME_WAIT socket");
    let timer = tw_timer(&tw);
    let (client_before, server_before, sent_at) = stray_ack(
        &net,
        &kept,
        (client_addr, kept_addr),
        (timer, read_at),
        slack,
    )
    .await?;
    // Both segments in: the stray ACK and the reset (the client counts each before it handles it).
    wait_until(
        "the stray ACK and the reset received",
        Duration::from_secs(2),
        || client_host.counters(),
        |c| {
            c.since(&client_before)
                .and_then(|d| d.get("Tcp.InSegs"))
                .is_ok_and(|n| n >= 2)
        },
    )
    .await?;
    let client_delta = client_host.counters().await?.since(&client_before)?;
    let server_delta = server_host.counters().await?.since(&server_before)?;
    assert_counted(&client_delta, &server_delta, "tcp_rfc1337=1");
    let (after, read_after) = time_wait_of(client_host, client_addr, kept_addr)
        .await?
        .expect("the TIME_WAIT socket survives the reset");
    assert_eq!(after.cookie, tw.cookie, "the same TIME_WAIT socket");
    // Still running, and restarted: the out-of-window ACK set it to TCP_TIMEWAIT_LEN again
    // (`inet_twsk_reschedule`), which the reset left alone.
    let timer_after = tw_timer(&after);
    let since = read_after.saturating_duration_since(sent_at);
    case.measure(
        "timer_after_stray_s",
        &[
            timer.remaining.as_secs_f64(),
            timer_after.remaining.as_secs_f64(),
        ],
        "s",
    );
    assert!(
        timer_after.remaining > timer.remaining
            && timer_after.remaining <= TCP_TIMEWAIT_LEN
            && timer_after.remaining + since + slack >= TCP_TIMEWAIT_LEN,
        "TIME_WAIT timer {:?} before the stray ACK, {:?} read {since:?} after it: not restarted \
         at {TCP_TIMEWAIT_LEN:?}",
        timer.remaining,
        timer_after.remaining
    );
    let refused = try_connect(client_host, kept_addr).await?;
    assert_eq!(
        refused,
        Err(libc::EADDRNOTAVAIL),
        "connect() with the TIME_WAIT socket kept"
    );

    let recorded = recording.stop().await?;
    recorded.check(&net, "client", &expectation)?;
    // Still there after everything the capture shows.
    let last = time_wait_of(client_host, client_addr, kept_addr).await?;
    assert_eq!(
        last.map(|(s, _)| s.cookie),
        Some(tw.cookie),
        "the kept TIME_WAIT socket at the end"
    );
    Ok(())
}
