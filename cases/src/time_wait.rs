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
//! `tcp_tw_reuse` lets connect() take over a TIME_WAIT port of the same destination once the
//! TIME_WAIT socket is `tcp_tw_reuse_delay` old (1000 ms by default; kernels without the sysctl
//! wait 1 to 2 s, counted in whole seconds), provided the old connection used
//! timestamps (`tcp_twsk_unique`). Value 2, the default, allows it only for loopback traffic:
//! [`REUSE_LOOPBACK_ONLY`], [`REUSE`], [`REUSE_WITHOUT_TIMESTAMPS`].

use std::{
    collections::HashMap,
    io::{self, Read},
    net::{Shutdown, SocketAddr, TcpStream},
    sync::Arc,
    time::{Duration, Instant},
};

use netcase::{
    Family, Result, Topology,
    case::{Case, CaseInfo, Shape},
    observe::{Filter, TCP_TIMEWAIT_LEN, TcpState, TimerKind, wait_until, wait_until_every},
    sysctl::{self, PortRange},
};
use tokio::io::AsyncReadExt;

use crate::{
    BOTH, Def,
    common::{expectation, keep_time_wait},
    linger::{close, close_abortively, connect},
};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[
    &HELD_BY_ACTIVE_CLOSER,
    &EXHAUSTION,
    &REUSE_LOOPBACK_ONLY,
    &REUSE,
    &REUSE_WITHOUT_TIMESTAMPS,
    &PORTS_COME_BACK,
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
const REUSE_DELAY_MS: u64 = 500;

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

/// One connection the client opens and closes first: returns its local port and when the
/// server's FIN was read (the client's end is in TIME_WAIT from just before then), or connect()'s
/// error.
fn open_and_close(server: SocketAddr) -> io::Result<(u16, Instant)> {
    let stream = TcpStream::connect(server)?;
    let port = stream.local_addr()?.port();
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 1];
    let n = (&stream).read(&mut buf)?;
    let at = Instant::now();
    assert_eq!(n, 0, "the server only closes");
    Ok((port, at))
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
    let (port, eof_at) = client_host
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
    // FIN arrived; what is left is less by the time since, counted in whole jiffies (one lost
    // to rounding at each end). The client's reader wakes after the FIN arrived: on a loaded
    // 2-core machine up to 100 ms after, time `since` does not see.
    let since = table.read_at().saturating_duration_since(eof_at);
    let slack = 2 * hz.jiffy() + Duration::from_millis(100);
    assert!(
        timer.remaining <= TCP_TIMEWAIT_LEN && timer.remaining + since + slack >= TCP_TIMEWAIT_LEN,
        "TIME_WAIT timer {:?}, read {since:?} after entering: not {TCP_TIMEWAIT_LEN:?}",
        timer.remaining
    );
    case.figure(
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
    // tcp_tw_reuse_delay, where the kernel has it: shortened; without it the delay is 1 to 2 s.
    let delay = match client_host
        .set_raw("net/ipv4/tcp_tw_reuse_delay", &REUSE_DELAY_MS.to_string())
        .await
    {
        Ok(()) => Duration::from_millis(REUSE_DELAY_MS),
        Err(netcase::Error::UnknownSysctl { .. }) => {
            case.note("no net.ipv4.tcp_tw_reuse_delay on this kernel: the delay is 1 to 2 s");
            Duration::from_secs(2)
        }
        Err(e) => return Err(e),
    };
    let ports = SMALL_RANGE.len() as usize;
    let server_addr = serve(&net, family, PORT).await?;
    let before = client_host.counters().await?;
    let recording = net.record(&["client", "server"]).await?;

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
        refused_at < first_tw + delay,
        "the range took {:?} to use up, longer than the reuse delay {delay:?}: the case cannot tell reuse from none",
        refused_at - first_tw
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
        // Not yet: every TIME_WAIT socket is younger than the delay.
        let early = attempt().await?;
        assert_eq!(early, Err(Some(libc::EADDRNOTAVAIL)), "before the delay");
        // Then the oldest one is taken over as soon as it is `delay` old (tw_entry_stamp +
        // tcp_tw_reuse_delay, in milliseconds of tcp_clock_ms).
        let first = wait_until(
            "a connect() that reuses a TIME_WAIT port",
            delay * 3,
            attempt,
            |r: &std::result::Result<Option<u16>, Option<i32>>| r.is_ok(),
        )
        .await?;
        let after = first.at.saturating_duration_since(entered);
        case.figure("reused_after_ms", &[after.as_secs_f64() * 1e3], "ms");
        // At least the delay after the first socket entered TIME_WAIT (tw_entry_stamp, in
        // milliseconds; the timer it is estimated from counts whole jiffies: 2 jiffies of
        // slack); at most a probe's window plus scheduling (100 ms) later.
        assert!(
            after + 2 * hz.jiffy() >= delay
                && after <= delay + first.window + Duration::from_millis(100),
            "the first reuse came {after:?} after the first TIME_WAIT, not {delay:?}"
        );
        // More follow, as TIME_WAIT sockets pass the delay: as many as the range has ports.
        let mut reused_ports = vec![first.value.expect("reused").expect("a port")];
        while reused_ports.len() < ports {
            let next = wait_until(
                "a connect() that reuses a TIME_WAIT port",
                delay,
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
        // the delay (the kernel would have allowed reuse after one).
        let tried = wait_until_every(
            "a connect() that reuses a TIME_WAIT port",
            delay * 2,
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
                gone.insert(*cookie, table.read_at());
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
    let granule = hz.jiffy() * 512;
    let mut lifetimes = Vec::new();
    for (cookie, (port, due_at)) in &due {
        let went = gone[cookie];
        let lifetime = went - closed_at[port];
        lifetimes.push(lifetime.as_secs_f64());
        assert!(
            lifetime + Duration::from_millis(50) >= TCP_TIMEWAIT_LEN
                && lifetime <= TCP_TIMEWAIT_LEN + granule + poll + Duration::from_millis(200),
            "port {port}: TIME_WAIT lasted {lifetime:?}, not {TCP_TIMEWAIT_LEN:?} + up to {granule:?}"
        );
        assert!(
            went + poll + hz.jiffy() >= *due_at,
            "port {port}: gone {:?} before its timer was due",
            *due_at - went
        );
    }
    lifetimes.sort_by(f64::total_cmp);
    case.figure("time_wait_s", &lifetimes, "s");
    let first_back = second_round
        .iter()
        .map(|(_, at)| *at)
        .min()
        .expect("a second round");
    let back_after = first_back - started;
    case.figure("ports_back_after_s", &[back_after.as_secs_f64()], "s");
    // No port came back before the first TIME_WAIT socket had lasted TCP_TIMEWAIT_LEN.
    assert!(
        back_after + Duration::from_millis(50) >= TCP_TIMEWAIT_LEN,
        "a connect() succeeded {back_after:?} after the first TIME_WAIT"
    );
    let mean = lifetimes.iter().sum::<f64>() / lifetimes.len() as f64;
    let rate = ports as f64 / mean;
    case.figure("sustained_rate", &[rate], "connections/s");
    assert!(
        (rate - ports as f64 / TCP_TIMEWAIT_LEN.as_secs_f64()).abs()
            <= ports as f64 / TCP_TIMEWAIT_LEN.as_secs_f64() * 0.04,
        "{rate} connections/s from {ports} ports, not {ports} / 60 s"
    );
    Ok(())
}
