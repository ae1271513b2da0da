//! SO_LINGER: what close() does to a connection, what it sends, how long it blocks, and what the
//! peer sees.
//!
//! The notes this project started from say of SO_LINGER:
//!
//! - "l_onoff = 0 (default), then l_linger value is ignored and close returns immediately. But if
//!   there is any data still remaining in the socket send buffer, the system will try to deliver
//!   the data to the peer". Linux does so: [`DEFAULT_CLOSE_DELIVERS`].
//! - "l_linger = 0, TCP aborts connection, discards any data still remaining in the socket send
//!   buffer and sends RST to peer. This avoids the TCP's TIME_WAIT state". Linux does so:
//!   [`ABORT`].
//! - "l_linger = nonzero, then kernel will linger when socket is closed. If there is any pending
//!   data in the socket send buffer, the kernel waits until all the data is sent and acknowledged
//!   by peer TCP, or the linger time expires". Linux waits, but when the time expires close()
//!   returns 0, not an error, and the data is *not* discarded: the socket lives on as an orphan
//!   and still delivers it ([`LINGER_TIMEOUT`]).
//! - "If a socket is set as nonblocking, it will not wait for close to complete even if linger
//!   time is nonzero". Not on Linux: `inet_release` passes `sk_lingertime` to `tcp_close`
//!   whatever O_NONBLOCK says, so close() blocks for the whole linger time
//!   ([`LINGER_NONBLOCKING`]).
//!
//! The issue adds the default close's FIN exchange ([`DEFAULT_CLOSE`]) and a close with unread
//! data, which the notes do not mention: Linux resets the connection (RFC 2525, 2.17) whatever
//! SO_LINGER says ([`UNREAD_DATA`]).

use std::{
    io::{self, Read, Write},
    net::{TcpListener, TcpStream},
    os::fd::IntoRawFd,
    sync::Arc,
    time::{Duration, Instant},
};

use netcase::{
    Family, Result, Topology,
    case::{Case, CaseInfo, Shape},
    impair::Feature,
    observe::{Filter, TcpState, TimerKind, wait_until},
};
use socket2::SockRef;

use crate::{
    BOTH, Def,
    common::{expectation, keep_time_wait},
};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[
    &DEFAULT_CLOSE,
    &ABORT,
    &DEFAULT_CLOSE_DELIVERS,
    &LINGER_TIMEOUT,
    &LINGER_NONBLOCKING,
    &UNREAD_DATA,
];

/// The server's port in every case of this file.
const PORT: u16 = 7000;

/// The linger time the timeout cases set, in seconds (`l_linger`).
const LINGER_S: u64 = 2;

/// The octets written into a blackholed path before close().
const PENDING: usize = 1000;

/// A default close by the client: FIN from each side, and the client, which closed first, ends in
/// TIME_WAIT while the server's socket is gone.
pub static DEFAULT_CLOSE: Def = Def {
    info: CaseInfo {
        name: "linger::default_close",
        summary: "a default close sends a FIN; the side that closes first ends in TIME_WAIT",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(200),
    },
    body: |case, net| Box::pin(default_close(case, net)),
};

/// `l_onoff = 1, l_linger = 0`: close() sends a reset instead of a FIN and leaves no TIME_WAIT;
/// the peer's next read fails with ECONNRESET, the one after reads end of file, and a write
/// fails with EPIPE.
pub static ABORT: Def = Def {
    info: CaseInfo {
        name: "linger::zero_aborts_with_reset",
        summary: "SO_LINGER {1, 0}: close() sends RST, no FIN, no TIME_WAIT; the peer reads ECONNRESET",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(200),
    },
    body: |case, net| Box::pin(abort(case, net)),
};

/// Without SO_LINGER, close() returns at once with data unacknowledged; the socket lives on as
/// an orphan in FIN_WAIT1 and delivers the data once the path is back.
pub static DEFAULT_CLOSE_DELIVERS: Def = Def {
    info: CaseInfo {
        name: "linger::default_close_delivers_later",
        summary: "without SO_LINGER close() returns at once and the orphaned socket still delivers the data",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_millis(800),
    },
    body: |case, net| Box::pin(close_with_pending(case, net, Mode::Default)),
};

/// `l_linger = 2` with data the peer cannot acknowledge (the path is blackholed): close() blocks
/// 2 s and returns 0; nothing is reset, and the data is delivered after close() returned.
///
/// The notes: "the kernel waits until all the data is sent and acknowledged by peer TCP, or the
/// linger time expires". Linux returns 0 when the time expires (an error is what some BSDs
/// return) and keeps the data: the orphan retransmits it, and closes normally.
pub static LINGER_TIMEOUT: Def = Def {
    info: CaseInfo {
        name: "linger::timeout_returns_zero_and_keeps_the_data",
        summary: "SO_LINGER {1, 2} towards an unreachable peer: close() blocks 2 s, returns 0, the data still arrives later",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_millis(3500),
    },
    body: |case, net| Box::pin(close_with_pending(case, net, Mode::Linger)),
};

/// The same on a non-blocking socket.
///
/// The notes: "If a socket is set as nonblocking, it will not wait for close to complete even
/// if linger time is nonzero". Linux ignores O_NONBLOCK here: `inet_release` hands
/// `sk_lingertime` to `tcp_close`, which waits in `sk_stream_wait_close`; close() blocks the
/// whole linger time, as on a blocking socket.
pub static LINGER_NONBLOCKING: Def = Def {
    info: CaseInfo {
        name: "linger::nonblocking_still_blocks",
        summary: "SO_LINGER {1, 2} on a non-blocking socket: close() still blocks 2 s (the notes say it does not wait)",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_millis(3500),
    },
    body: |case, net| Box::pin(close_with_pending(case, net, Mode::LingerNonblocking)),
};

/// close() with data received but not read: Linux sends a reset instead of a FIN (RFC 2525,
/// 2.17, "Failure to RST on close with data pending"), counts `TCPAbortOnClose`, and keeps no
/// TIME_WAIT, though SO_LINGER is off.
pub static UNREAD_DATA: Def = Def {
    info: CaseInfo {
        name: "linger::unread_data_resets",
        summary: "close() with unread received data sends RST instead of FIN, without SO_LINGER",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(200),
    },
    body: |case, net| Box::pin(unread_data(case, net)),
};

/// An established connection: both ends and the listener (blocking std sockets, created inside
/// their hosts).
pub(crate) struct Connection {
    /// The client's end.
    pub client: TcpStream,
    /// The server's end, as accept() returned it.
    pub server: TcpStream,
    /// The server's listener.
    pub listener: TcpListener,
}

/// Connects the client to a new listener on the server's `port`.
pub(crate) async fn connect(net: &Topology, family: Family, port: u16) -> Result<Connection> {
    let server_addr = net.socket_addr("server", family, port)?;
    let listener = net
        .host("server")?
        .run(move || TcpListener::bind(server_addr))
        .await?
        .expect("bind the server's address");
    let client = net
        .host("client")?
        .run(move || TcpStream::connect(server_addr))
        .await?
        .expect("connect");
    let (server, listener) = net
        .host("server")?
        .run(move || (listener.accept().map(|(s, _)| s), listener))
        .await?;
    Ok(Connection {
        client,
        server: server.expect("accept"),
        listener,
    })
}

/// Closes `stream` with SO_LINGER {1, 0}, the abortive close: what close() returned, and how
/// long it took.
pub(crate) fn close_abortively(stream: TcpStream) -> (io::Result<()>, Duration) {
    SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER {1, 0}");
    close(stream)
}

/// close(2) on `stream`, with its return value (which dropping a `TcpStream` hides) and how long
/// it blocked.
pub(crate) fn close(stream: TcpStream) -> (io::Result<()>, Duration) {
    let fd = stream.into_raw_fd();
    // No fork may overlap the close: a child between fork and exec would keep the socket open,
    // and close() would send nothing.
    let (rc, took) = netcase::fork::close_now(|| {
        let start = Instant::now();
        // SAFETY: `into_raw_fd` gave up ownership of fd; it is closed once, here.
        let rc = unsafe { libc::close(fd) };
        (rc, start.elapsed())
    });
    let result = if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    };
    (result, took)
}

/// Asserts that `result` failed with `errno`.
fn assert_errno<T: std::fmt::Debug>(result: &io::Result<T>, errno: i32, what: &str) {
    match result {
        Err(e) => assert_eq!(
            e.raw_os_error(),
            Some(errno),
            "{what}: expected {}, got {e}",
            io::Error::from_raw_os_error(errno)
        ),
        Ok(v) => panic!(
            "{what}: expected {}, got Ok({v:?})",
            io::Error::from_raw_os_error(errno)
        ),
    }
}

async fn default_close(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let expectation = expectation("linger_default_close.expect", &())?;
    let recording = net.record(&["client", "server"]).await?;
    let c = connect(&net, case.family(), PORT).await?;
    let (client_host, server_host) = (net.host("client")?, net.host("server")?);
    // The client ends in TIME_WAIT: it must not lose it to a reset from veth's reordering.
    keep_time_wait(client_host).await?;

    let client = c.client;
    let (closed, took) = client_host.run(move || close(client)).await?;
    closed.expect("close() without SO_LINGER returns 0");
    let server = c.server;
    let (eof, server) = server_host
        .run(move || {
            let mut buf = [0u8; 16];
            ((&server).read(&mut buf), server)
        })
        .await?;
    assert_eq!(
        eof.expect("the server's read"),
        0,
        "the client's FIN is EOF"
    );
    let (closed, _) = server_host.run(move || close(server)).await?;
    closed.expect("the server's close() returns 0");

    // The client closed first: its socket goes FIN_WAIT1, FIN_WAIT2, then TIME_WAIT when the
    // server's FIN arrives; the server's goes CLOSE_WAIT, LAST_ACK, then away.
    let tw = wait_until(
        "the client's socket in TIME_WAIT",
        Duration::from_secs(2),
        || client_host.sockets_matching(Filter::all().remote_port(PORT)),
        |t| t.count(TcpState::TimeWait) == 1,
    )
    .await?;
    assert_eq!(tw.value.len(), 1, "{}", tw.value);
    wait_until(
        "the server's connection gone (LAST_ACK acknowledged)",
        Duration::from_secs(2),
        || server_host.sockets_matching(Filter::all().local_port(PORT)),
        |t| t.iter().all(|s| s.state == TcpState::Listen),
    )
    .await?;
    case.measure("close_ms", &[took.as_secs_f64() * 1e3], "ms");
    drop(c.listener);

    let recorded = recording.stop().await?;
    recorded.check(&net, "client", &expectation)?;
    recorded.check(&net, "server", &expectation)?;
    Ok(())
}

async fn abort(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let expectation = expectation("linger_abort.expect", &())?;
    let recording = net.record(&["client", "server"]).await?;
    let c = connect(&net, case.family(), PORT).await?;
    let (client_host, server_host) = (net.host("client")?, net.host("server")?);
    let client_before = client_host.counters().await?;
    let server_before = server_host.counters().await?;

    let client = c.client;
    let (closed, took) = client_host.run(move || close_abortively(client)).await?;
    closed.expect("close() with SO_LINGER {1, 0} returns 0");

    let server = c.server;
    let (first, second, write) = server_host
        .run(move || {
            server
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("SO_RCVTIMEO");
            let mut buf = [0u8; 16];
            let first = (&server).read(&mut buf);
            let second = (&server).read(&mut buf);
            let write = (&server).write(b"late");
            (first, second, write)
        })
        .await?;
    assert_errno(&first, libc::ECONNRESET, "the peer's first read");
    assert_eq!(
        second.expect("the peer's second read"),
        0,
        "the reset was reported once; then the socket reads as closed"
    );
    assert_errno(&write, libc::EPIPE, "the peer's write after the reset");

    // No TIME_WAIT, nor any other socket of the connection, on either side.
    let client_left = client_host
        .sockets_matching(Filter::all().remote_port(PORT))
        .await?;
    assert!(client_left.is_empty(), "{client_left}");
    let server_left = server_host
        .sockets_matching(Filter::all().local_port(PORT))
        .await?;
    assert!(
        server_left.iter().all(|s| s.state == TcpState::Listen),
        "{server_left}"
    );

    let client_delta = client_host.counters().await?.since(&client_before)?;
    let server_delta = server_host.counters().await?.since(&server_before)?;
    // tcp_close() counts a zero-linger abort as TCPAbortOnData (sic), and tcp_disconnect()
    // sends one reset.
    assert_eq!(
        client_delta.get("TcpExt.TCPAbortOnData")?,
        1,
        "{client_delta}"
    );
    assert_eq!(client_delta.get("Tcp.OutRsts")?, 1, "{client_delta}");
    assert_eq!(client_delta.get("Tcp.EstabResets")?, 1, "{client_delta}");
    assert_eq!(server_delta.get("Tcp.EstabResets")?, 1, "{server_delta}");
    assert_eq!(server_delta.get("Tcp.OutRsts")?, 0, "{server_delta}");
    case.measure("close_ms", &[took.as_secs_f64() * 1e3], "ms");
    drop(c.listener);

    let recorded = recording.stop().await?;
    recorded.check(&net, "client", &expectation)?;
    recorded.check(&net, "server", &expectation)?;
    Ok(())
}

/// How the client's socket is set when it closes with data pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No SO_LINGER.
    Default,
    /// SO_LINGER {1, [`LINGER_S`]}.
    Linger,
    /// The same on a non-blocking socket.
    LingerNonblocking,
}

async fn close_with_pending(case: Arc<Case>, net: Arc<Topology>, mode: Mode) -> Result<()> {
    let expectation = expectation(
        match mode {
            Mode::Default => "linger_default_close_pending.expect",
            Mode::Linger | Mode::LingerNonblocking => "linger_timeout.expect",
        },
        &(),
    )?;
    let recording = net.record(&["client", "server"]).await?;
    let c = connect(&net, case.family(), PORT).await?;
    let (client_host, server_host) = (net.host("client")?, net.host("server")?);
    // The client ends in TIME_WAIT: it must not lose it to a reset from veth's reordering.
    keep_time_wait(client_host).await?;
    // Silent drops of everything the client sends, at the server's ingress: the data and the FIN
    // stay unacknowledged.
    let hole = net.impair("client", "server").await?;
    hole.blackhole()?;
    let client_before = client_host.counters().await?;

    let client = c.client;
    let (closed, took) = client_host
        .run(move || {
            (&client)
                .write_all(&[0x5a; PENDING])
                .expect("write into the send buffer");
            if mode != Mode::Default {
                SockRef::from(&client)
                    .set_linger(Some(Duration::from_secs(LINGER_S)))
                    .expect("SO_LINGER");
            }
            if mode == Mode::LingerNonblocking {
                client.set_nonblocking(true).expect("O_NONBLOCK");
            }
            close(client)
        })
        .await?;
    let returned_at = Instant::now();
    closed.expect("close() returns 0");
    case.measure("close_ms", &[took.as_secs_f64() * 1e3], "ms");

    let linger = Duration::from_secs(LINGER_S);
    // Under emulation every edge below moves by the emulation's allowance (nothing elsewhere).
    let emulation = netcase::kernel()?.emulation();
    if mode == Mode::Default {
        // Nothing to wait for but a scheduler: 100 ms is far more than a close() takes here.
        assert!(
            took < Duration::from_millis(100) + emulation,
            "close() took {took:?}"
        );
    } else {
        // sk_lingertime is LINGER_S * HZ jiffies, armed between ticks: up to a jiffy early. The
        // wait's timer fires at that time or up to one timer-wheel granule later (8 jiffies,
        // 32 ms at HZ=250, for 0.25 s to 2 s), and the thread then needs a core: 150 ms above
        // covers both on a loaded 2-core machine.
        let hz = client_host.tcp_settings().await?.hz;
        assert!(
            took + hz.jiffy() + emulation >= linger
                && took <= linger + Duration::from_millis(150) + emulation,
            "close() with SO_LINGER {{1, {LINGER_S}}} blocked {took:?}, not {linger:?}"
        );
    }

    // The socket is an orphan now: FIN_WAIT1, its data and FIN unacknowledged, retransmitting.
    let orphan = client_host
        .sockets_matching(Filter::all().remote_port(PORT))
        .await?;
    let socket = orphan
        .iter()
        .next()
        .unwrap_or_else(|| panic!("no orphan left after close(): {orphan}"));
    assert_eq!(orphan.len(), 1, "{orphan}");
    assert_eq!(socket.state, TcpState::FinWait1, "{orphan}");
    assert_eq!(
        socket.send_q as usize,
        PENDING + 1,
        "the data and the FIN unacknowledged: {orphan}"
    );
    assert_eq!(
        socket.timer.map(|t| t.kind),
        Some(TimerKind::Retransmit),
        "{orphan}"
    );
    if mode != Mode::Default {
        assert!(
            socket.retransmits >= 2,
            "retransmissions in {linger:?}: {orphan}"
        );
    }
    let client_delta = client_host.counters().await?.since(&client_before)?;
    assert_eq!(client_delta.get("Tcp.OutRsts")?, 0, "{client_delta}");

    let mut retransmitted = socket.retransmits;
    if mode == Mode::Default {
        // Let the orphan show that it keeps trying: one retransmission timeout (tcp_rto_min,
        // 200 ms) into the blackhole before the path comes back.
        let seen = wait_until(
            "the orphan's first retransmission",
            Duration::from_secs(2),
            || client_host.sockets_matching(Filter::all().remote_port(PORT)),
            |t| t.iter().any(|s| s.retransmits >= 1),
        )
        .await?;
        retransmitted = seen.value.iter().map(|s| s.retransmits).max().unwrap_or(0);
    }
    case.measure(
        "retransmissions_before_clear",
        &[f64::from(retransmitted)],
        "segments",
    );

    // The path comes back: the orphan's next retransmission delivers everything, then its FIN.
    hole.clear()?;

    let server = c.server;
    let (got, eof_at) = server_host
        .run(move || {
            server
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("SO_RCVTIMEO");
            let mut all = Vec::new();
            let got = (&server).read_to_end(&mut all).map(|_| all);
            (got, Instant::now())
        })
        .await?;
    let got = got.expect("the server reads the data and the FIN");
    assert_eq!(got.len(), PENDING, "every octet written before close()");
    assert!(got.iter().all(|b| *b == 0x5a));
    case.measure(
        "delivered_after_close_ms",
        &[(eof_at - returned_at).as_secs_f64() * 1e3],
        "ms",
    );
    assert!(hole.counts()?.dropped >= 2, "{:?}", hole.counts()?);

    // The server closes in turn; the orphan finishes as any active closer does, in TIME_WAIT.
    wait_until(
        "the client's orphan in TIME_WAIT",
        Duration::from_secs(2),
        || client_host.sockets_matching(Filter::all().remote_port(PORT)),
        |t| t.len() == 1 && t.count(TcpState::TimeWait) == 1,
    )
    .await?;
    let client_delta = client_host.counters().await?.since(&client_before)?;
    assert_eq!(client_delta.get("Tcp.OutRsts")?, 0, "{client_delta}");
    drop(c.listener);

    let recorded = recording.stop().await?;
    recorded.check(&net, "client", &expectation)?;
    Ok(())
}

async fn unread_data(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let expectation = expectation("linger_unread_data.expect", &())?;
    let recording = net.record(&["client", "server"]).await?;
    let c = connect(&net, case.family(), PORT).await?;
    let (client_host, server_host) = (net.host("client")?, net.host("server")?);

    let server = c.server;
    let server = server_host
        .run(move || {
            (&server).write_all(b"hello").expect("the server's write");
            server
        })
        .await?;
    wait_until(
        "five octets in the client's receive queue",
        Duration::from_secs(2),
        || {
            client_host
                .sockets_matching(Filter::all().state(TcpState::Established).remote_port(PORT))
        },
        |t| t.iter().any(|s| s.recv_q == 5),
    )
    .await?;
    let client_before = client_host.counters().await?;

    let client = c.client;
    let (closed, took) = client_host.run(move || close(client)).await?;
    closed.expect("close() with unread data returns 0");

    let (first, server) = server_host
        .run(move || {
            server
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("SO_RCVTIMEO");
            let mut buf = [0u8; 16];
            ((&server).read(&mut buf), server)
        })
        .await?;
    assert_errno(&first, libc::ECONNRESET, "the peer's read");
    drop(server);

    let client_left = client_host
        .sockets_matching(Filter::all().remote_port(PORT))
        .await?;
    assert!(client_left.is_empty(), "no TIME_WAIT: {client_left}");
    let client_delta = client_host.counters().await?.since(&client_before)?;
    assert_eq!(
        client_delta.get("TcpExt.TCPAbortOnClose")?,
        1,
        "{client_delta}"
    );
    assert_eq!(client_delta.get("Tcp.OutRsts")?, 1, "{client_delta}");
    case.measure("close_ms", &[took.as_secs_f64() * 1e3], "ms");
    drop(c.listener);

    let recorded = recording.stop().await?;
    recorded.check(&net, "client", &expectation)?;
    recorded.check(&net, "server", &expectation)?;
    Ok(())
}
