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
//!   [`ABORT`]; the unsent data is discarded, the reset at the first octet never sent
//!   ([`DISCARDS_UNSENT`]).
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
    sync::Arc,
    time::{Duration, SystemTime},
};

use netcase::{
    Result, Topology, body,
    capture::Zero,
    case::{Case, Def},
    impair::{Feature, Packets, Which},
    network::{Close, Connection, Options, socket::Stalled},
    observe::{
        Filter, Socket, TcpState,
        TcpState::{FinWait1, FinWait2, TimeWait},
        TimerKind::Retransmit,
    },
};
use nix::errno::Errno;

use netcase::claims::Finding;

use crate::claims;
use crate::common::{WAKEUP, expectation, keep_time_wait, ms};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[
    &DEFAULT_CLOSE,
    &ABORT,
    &DEFAULT_CLOSE_DELIVERS,
    &LINGER_TIMEOUT,
    &LINGER_NONBLOCKING,
    &UNREAD_DATA,
    &ACKNOWLEDGED,
    &DISCARDS_UNSENT,
];

/// The server's port in every case of this file.
const PORT: u16 = 7000;

/// The linger time the timeout cases set (`l_linger`, whole seconds).
const LINGER: Duration = Duration::from_secs(2);

/// The octets written into a blackholed path before close().
const PENDING: usize = 1000;

/// The peer's SO_RCVBUF and SO_SNDBUF (the kernel doubles them): a window that closes after a few
/// segments the peer never reads.
const PEER_BUFFER: usize = 16 * 1024;
/// The writer's: room for everything it writes, so that write() returns with data unsent.
const WRITER_BUFFER: usize = 256 * 1024;
/// What the writer writes: more than the peer's window.
const WRITTEN: usize = 64 * 1024;

/// How long a wait may take for what the kernel does within a round trip or one retransmission
/// timeout (`tcp_rto_min`, 200 ms): a deadline, not an expectation.
const WITHIN: Duration = Duration::from_secs(2);

/// How long a read may block on a reset that is on its way (a round trip): a deadline, so that a
/// reset that never comes fails the read with EAGAIN instead of hanging the case.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// How long the server's read may wait for the orphan's data once the path is back (its next
/// retransmission, a second or so after close()): a deadline.
const DELIVERY_LIMIT: Duration = Duration::from_secs(10);

/// A default close by the client: FIN from each side, and the client, which closed first, ends in
/// TIME_WAIT while the server's socket is gone.
pub static DEFAULT_CLOSE: Def = Def::new(
    "linger::default_close",
    "a default close sends a FIN; the side that closes first ends in TIME_WAIT",
    body!(default_close),
)
.shows(&[
    Finding::confirms(&claims::LINGER_OFF),
    Finding::confirms(&claims::TW_ACTIVE_CLOSER),
])
.expected(Duration::from_millis(200));

/// `l_onoff = 1, l_linger = 0`: close() sends a reset instead of a FIN and leaves no TIME_WAIT;
/// the peer's next read fails with ECONNRESET, the one after reads end of file, and a write
/// fails with EPIPE.
pub static ABORT: Def = Def::new(
    "linger::zero_aborts_with_reset",
    "SO_LINGER {1, 0}: close() sends RST, no FIN, no TIME_WAIT; the peer reads ECONNRESET",
    body!(abort),
)
.shows(&[Finding::confirms(&claims::LINGER_ZERO)])
.expected(Duration::from_millis(200));

/// Without SO_LINGER, close() returns at once with data unacknowledged; the socket lives on as
/// an orphan in FIN_WAIT1 and delivers the data once the path is back.
pub static DEFAULT_CLOSE_DELIVERS: Def = Def::new(
    "linger::default_close_delivers_later",
    "without SO_LINGER close() returns at once and the orphaned socket still delivers the data",
    body!(
        close_pending,
        Close::Now,
        "linger_default_close_pending.expect"
    ),
)
.shows(&[Finding::confirms(&claims::LINGER_OFF)])
.needs(&[Feature::Bpf])
.expected(Duration::from_millis(800));

/// `l_linger = 2` with data the peer cannot acknowledge (the path is blackholed): close() blocks
/// 2 s and returns 0; nothing is reset, and the data is delivered after close() returned.
///
/// The notes: "the kernel waits until all the data is sent and acknowledged by peer TCP, or the
/// linger time expires". Linux returns 0 when the time expires (an error is what some BSDs
/// return) and keeps the data: the orphan retransmits it, and closes normally.
pub static LINGER_TIMEOUT: Def = Def::new(
    "linger::timeout_returns_zero_and_keeps_the_data",
    "SO_LINGER {1, 2} towards an unreachable peer: close() blocks 2 s, returns 0, the data still arrives later",
    body!(close_pending, Close::Linger(LINGER), "linger_timeout.expect"),
).shows(&[
    Finding::confirms(&claims::LINGER_ON_BLOCKS),
    Finding::qualifies(
        &claims::LINGER_WAITS_FOR_ACK,
        "when the time expires close() returns 0 and the orphaned socket still delivers the data",
    ),
])
.needs(&[Feature::Bpf])
.expected(Duration::from_millis(3500));

/// The same on a non-blocking socket.
///
/// The notes: "If a socket is set as nonblocking, it will not wait for close to complete even
/// if linger time is nonzero". Linux ignores O_NONBLOCK here: `inet_release` hands
/// `sk_lingertime` to `tcp_close`, which waits in `sk_stream_wait_close`; close() blocks the
/// whole linger time, as on a blocking socket.
pub static LINGER_NONBLOCKING: Def = Def::new(
    "linger::nonblocking_still_blocks",
    "SO_LINGER {1, 2} on a non-blocking socket: close() still blocks 2 s (the notes say it does not wait)",
    body!(
        close_pending,
        Close::LingerNonblocking(LINGER),
        "linger_timeout.expect"
    ),
).shows(&[
    Finding::refutes(
        &claims::LINGER_NONBLOCKING,
        "close() blocks for the linger time on a non-blocking socket too (tcp_close ignores O_NONBLOCK)",
    ),
])
.needs(&[Feature::Bpf])
.expected(Duration::from_millis(3500));

/// close() with data received but not read: Linux sends a reset instead of a FIN (RFC 2525,
/// 2.17, "Failure to RST on close with data pending"), counts `TCPAbortOnClose`, and keeps no
/// TIME_WAIT, though SO_LINGER is off.
pub static UNREAD_DATA: Def = Def::new(
    "linger::unread_data_resets",
    "close() with unread received data sends RST instead of FIN, without SO_LINGER",
    body!(unread_data),
).shows(&[
    Finding::qualifies(
        &claims::LINGER_OFF,
        "with unread received data close() sends RST, not FIN, and nothing is delivered after it (RFC 2525)",
    ),
])
.expected(Duration::from_millis(200));

async fn default_close(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (client, server) = (net.host("client")?, net.host("server")?);
    // The client ends in TIME_WAIT: it must not lose it to a reset from veth's reordering.
    keep_time_wait(client).await?;
    let watch = net.watch(&["client", "server"]).await?;
    let conn = net.connect("client", "server", case.family(), PORT).await?;
    let client_port = conn.client.local()?.port();

    let closed = conn.client.close(Close::Now).await?;
    assert_eq!(closed.result, Ok(()), "close() without SO_LINGER returns 0");
    let eof = conn.server.read(16).await?;
    assert_eq!(eof, Ok(vec![]), "the client's FIN is EOF to the server");
    let server_closed = conn.server.close(Close::Now).await?;
    assert_eq!(
        server_closed.result,
        Ok(()),
        "the server's close() returns 0"
    );

    // The client closed first: its socket goes FIN_WAIT1, FIN_WAIT2, then TIME_WAIT when the
    // server's FIN arrives; the server's goes CLOSE_WAIT, LAST_ACK, then away.
    let to_server = Filter::all().remote_port(PORT);
    let tw = client
        .wait_for_state(to_server, TcpState::TimeWait, 1, WITHIN)
        .await?;
    assert_eq!(tw.value.len(), 1, "{}", tw.value);
    let accepted = Filter::all().local_port(PORT).remote_port(client_port);
    server.wait_for_no_socket(accepted, WITHIN).await?;
    case.measure("close_ms", &[ms(closed.took)], "ms");

    let seen = watch.stop().await?;
    seen.check(&net, &expectation("linger_default_close.expect", &())?)
}

async fn abort(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (client, server) = (net.host("client")?, net.host("server")?);
    let watch = net.watch(&["client", "server"]).await?;
    let conn = net.connect("client", "server", case.family(), PORT).await?;

    let closed = conn.client.close(Close::Abort).await?;
    assert_eq!(
        closed.result,
        Ok(()),
        "close() with SO_LINGER {{1, 0}} returns 0"
    );
    conn.server.set_timeout(READ_LIMIT)?;
    // The peer's next read fails with ECONNRESET, once; then it reads as closed, and its write
    // fails with EPIPE.
    let failure = conn.server.read_failure().await?;
    failure.assert_reported_once(Errno::ECONNRESET);

    // No TIME_WAIT, nor any other socket of the connection, on either side.
    let client_left = client
        .sockets_matching(Filter::all().remote_port(PORT))
        .await?;
    assert!(client_left.is_empty(), "{client_left}");
    let server_left = server
        .sockets_matching(Filter::all().local_port(PORT))
        .await?;
    let only_listening = server_left.iter().all(|s| s.state == TcpState::Listen);
    assert!(only_listening, "{server_left}");

    let seen = watch.stop().await?;
    // tcp_close() counts a zero-linger abort as TCPAbortOnData (sic), and tcp_disconnect()
    // sends one reset.
    let moved = [("TCPAbortOnData", 1), ("OutRsts", 1), ("EstabResets", 1)];
    seen.counters("client")?.moved(moved)?;
    seen.counters("server")?
        .moved([("EstabResets", 1), ("OutRsts", 0)])?;
    case.measure("close_ms", &[ms(closed.took)], "ms");
    seen.check(&net, &expectation("linger_abort.expect", &())?)
}

/// The client writes [`PENDING`] octets into a blackholed path and closes as `how` says; then
/// the path comes back. The client's capture is checked against `fixtures/expect/<file>`.
async fn close_pending(case: Arc<Case>, net: Arc<Topology>, how: Close, file: &str) -> Result<()> {
    let (client, kernel, linger) = (net.host("client")?, netcase::kernel()?, how.linger());
    // The client ends in TIME_WAIT: it must not lose it to a reset from veth's reordering.
    keep_time_wait(client).await?;
    let watch = net.watch(&["client", "server"]).await?;
    let conn = net.connect("client", "server", case.family(), PORT).await?;
    // Silent drops of all the client sends, at the server's ingress: data and FIN unacknowledged.
    let hole = net.impair("client", "server").await?;
    hole.blackhole()?;
    let pending = [0x5a; PENDING];
    let closed = conn.client.write_all_then_close(&pending, how).await?;
    let closed = closed.expect("write into the send buffer");
    assert_eq!(closed.result, Ok(()), "close() returns 0");
    case.measure("close_ms", &[ms(closed.took)], "ms");
    // sk_lingertime is l_linger * HZ jiffies, armed between ticks: up to a jiffy early. Its timer
    // fires then or up to a timer-wheel granule later (8 jiffies, 32 ms at HZ=250, for 0.25-2 s),
    // and the thread needs a core: 150 ms covers both on a loaded 2-core machine. Without
    // SO_LINGER only a scheduler: 100 ms. Under emulation, its allowance on every edge.
    let late = Duration::from_millis(if linger.is_some() { 150 } else { 100 });
    let (nominal, took, emulation) = (linger.unwrap_or_default(), closed.took, kernel.emulation());
    let in_time =
        took + kernel.jiffy() + emulation >= nominal && took <= nominal + late + emulation;
    assert!(in_time, "close({how:?}) blocked {took:?}, not {nominal:?}");
    // An orphan now, the client's only socket to the server: FIN_WAIT1, data and FIN unacked,
    // retransmitting; with SO_LINGER already twice while close() blocked (at 200, 600 ms);
    // without, let it show it keeps trying: one tcp_rto_min (200 ms) before the path is back.
    let to_server = Filter::all().remote_port(PORT);
    let orphan = client.only_socket(to_server.clone()).await?;
    let seen = (orphan.state, orphan.send_q, orphan.timer.map(|t| t.kind));
    let orphaned = (FinWait1, PENDING as u32 + 1, Some(Retransmit));
    assert_eq!(seen, orphaned, "{orphan}");
    let (least, within) = linger.map_or((1, WITHIN), |_| (2, Duration::ZERO));
    let what = format!("{least} retransmission(s) of the orphan, {orphan}");
    let retransmitted = |s: &Socket| s.retransmits >= least;
    let retried = client.wait_for_socket(to_server.clone(), &what, within, retransmitted);
    let retried = [f64::from(retried.await?.value.retransmits)];
    case.measure("retransmissions_before_clear", &retried, "segments");
    // Counted when sent, not yet dropped: the path clears once the hole has dropped them, the
    // data and the FIN in one (a 6.12 guest's first one crossed the link after the clear).
    let collapsed = Packets::fin().carrying_data();
    hole.wait_for_dropped_of(collapsed, least.into(), WITHIN)
        .await?;

    // The path comes back: the orphan's next retransmission delivers everything, then its FIN.
    hole.clear()?;
    conn.server.set_timeout(DELIVERY_LIMIT)?;
    let (got, end) = conn.server.read_to_end().await?;
    assert_eq!(end, Ok(()), "the server reads the data and the FIN");
    let all = got == [0x5a; PENDING];
    assert!(all, "every octet written before close(), not {got:?}");
    case.measure("delivered_after_close_ms", &[ms(closed.at.elapsed())], "ms");
    let dropped = hole.counts()?;
    assert!(dropped.dropped >= 2, "{dropped:?}");
    // The server closes in turn; the orphan finishes as any active closer does, in TIME_WAIT.
    conn.server.close(Close::Now).await?;
    let tw = client.wait_for_state(to_server, TimeWait, 1, WITHIN);
    let tw = tw.await?.value;
    assert_eq!(tw.len(), 1, "{tw}");

    let seen = watch.stop().await?;
    seen.counters("client")?.moved([("Tcp.OutRsts", 0)])?;
    seen.check_on(&net, "client", &expectation(file, &())?)
}

async fn unread_data(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let client = net.host("client")?;
    let watch = net.watch(&["client", "server"]).await?;
    let conn = net.connect("client", "server", case.family(), PORT).await?;
    let (local, remote) = (conn.client.local()?, conn.client.peer()?);

    assert_eq!(
        conn.server.write_all(b"hello").await?,
        Ok(()),
        "the server's write"
    );
    let what = "five octets in the client's receive queue";
    let queued = |s: &Socket| s.state == TcpState::Established && s.recv_q == 5;
    client
        .wait_for_socket(Filter::between(local, remote), what, WITHIN, queued)
        .await?;

    let closed = conn.client.close(Close::Now).await?;
    assert_eq!(closed.result, Ok(()), "close() with unread data returns 0");
    conn.server.set_timeout(READ_LIMIT)?;
    let read = conn.server.read(16).await?;
    assert_eq!(read, Err(Errno::ECONNRESET), "the peer's read");
    let client_left = client
        .sockets_matching(Filter::all().remote_port(PORT))
        .await?;
    assert!(client_left.is_empty(), "no TIME_WAIT: {client_left}");

    let seen = watch.stop().await?;
    seen.counters("client")?
        .moved([("TcpExt.TCPAbortOnClose", 1), ("Tcp.OutRsts", 1)])?;
    case.measure("close_ms", &[ms(closed.took)], "ms");
    seen.check(&net, &expectation("linger_unread_data.expect", &())?)
}

/// `l_linger = 2` with a peer that acknowledges: close() returns as soon as the FIN is
/// acknowledged, not after 2 s. The client's first FIN is lost, so that the data's ACK and the
/// FIN's ACK come a retransmission apart (about `tcp_rto_min`, 200 ms) and the capture tells
/// which one close() waited for.
///
/// The notes: "If there is any pending data in the socket send buffer, the kernel waits until all
/// the data is sent and acknowledged by peer TCP, or the linger time expires". Linux waits for
/// more than the data: `tcp_close` sends the FIN and `sk_stream_wait_close` sleeps while
/// `sk_stream_closing` (FIN_WAIT1, CLOSING, LAST_ACK), until the ACK of the FIN moves the socket
/// to FIN_WAIT2 (`tcp_rcv_state_process`) and wakes it; close() then returns 0 at once.
pub static ACKNOWLEDGED: Def = Def::new(
    "linger::returns_when_acknowledged",
    "SO_LINGER {1, 2} with a peer that acknowledges: close() returns when the FIN is acknowledged, not after 2 s",
    body!(acknowledged),
).shows(&[
    Finding::qualifies(
        &claims::LINGER_WAITS_FOR_ACK,
        "close() returns when the FIN is acknowledged, not only the data (sk_stream_wait_close)",
    ),
])
.needs(&[Feature::Bpf])
.expected(Duration::from_millis(500));

async fn acknowledged(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (client, kernel) = (net.host("client")?, netcase::kernel()?);
    // The client ends in TIME_WAIT: it must not lose it to a reset from veth's reordering.
    keep_time_wait(client).await?;
    let watch = net.watch(&["client", "server"]).await?;
    let conn = net.connect("client", "server", case.family(), PORT).await?;
    let lost = net.impair("client", "server").await?;
    lost.drop(Packets::fin(), Which::Nth(1))?;
    let (data, linger) = ([0x5a; PENDING], Close::Linger(LINGER));
    let closed = conn.client.write_all_then_close(&data, linger).await?;
    let closed = closed.expect("write into the send buffer");
    let returned = SystemTime::now() - closed.at.elapsed();
    assert_eq!(closed.result, Ok(()), "close() returns 0");
    assert!(closed.took < LINGER, "close() blocked {:?}", closed.took);
    case.measure("close_ms", &[ms(closed.took)], "ms");
    // Acknowledged, the socket is in FIN_WAIT2, an orphan now that close() returned.
    let to_server = Filter::all().remote_port(PORT);
    let orphan = client.only_socket(to_server.clone()).await?;
    assert_eq!((orphan.state, orphan.send_q), (FinWait2, 0), "{orphan}");
    conn.server.set_timeout(READ_LIMIT)?;
    let (got, end) = conn.server.read_to_end().await?;
    assert_eq!((got.len(), end), (PENDING, Ok(())), "the data, then EOF");
    conn.server.close(Close::Now).await?;
    let time_wait = client.wait_for_state(to_server, TimeWait, 1, WITHIN);
    time_wait.await?;

    let seen = watch.stop().await?;
    // One retransmission, of the lost FIN: a tail loss probe (`tcp_schedule_loss_probe`, with
    // one segment out: TCP_RTO_MIN, 200 ms, after the data's ACK), before the RTO fires.
    let counters = seen.counters("client")?;
    counters.moved([("RetransSegs", 1), ("OutRsts", 0)])?;
    counters.moved([("TCPLossProbes", 1), ("TCPTimeouts", 0)])?;
    let expected = expectation("linger_acknowledged.expect", &())?;
    seen.check_on(&net, "client", &expected)?;
    // The ACKs of the data and of the FIN, dated by the client's capture (negative: before
    // close() returned).
    let client_saw = seen.recorded.on("client")?;
    let fins = client_saw.sent(&net, Zero::FirstSyn, Packets::fin()).len();
    case.figure("fins_sent", &[fins as f64], "segments");
    let acked = |n| client_saw.acked_at(&net, Zero::At(returned), "server", n);
    let (data_ack, fin_ack) = (acked(PENDING as u32 + 1), acked(PENDING as u32 + 2));
    let (data_ack, fin_ack) = (data_ack.expect("data ACK"), fin_ack.expect("FIN ACK"));
    case.measure("returned_after_fin_ack_ms", &[-fin_ack as f64 / 1e6], "ms");
    // close() returns after the FIN's ACK arrives (less the 2 ms the capture's and this thread's
    // clocks may differ), and as soon as its thread is woken (WAKEUP); under emulation, its
    // allowance on both edges. The data's ACK alone, a retransmission (200 ms) before, does not
    // end it.
    let early = kernel.observation_slack().early.as_nanos() as i64;
    let late = (WAKEUP + kernel.emulation()).as_nanos() as i64;
    let in_time = -late <= fin_ack && fin_ack <= early && data_ack < -late;
    assert!(
        in_time,
        "ACKs {fin_ack} ns (FIN), {data_ack} ns (data) after close()"
    );
    Ok(())
}

/// `l_linger = 0` with data still unsent: the peer never reads and has closed its window, so
/// the writer's queue holds what it could not send. close() returns 0 at once and sends one
/// reset at `snd_nxt`, the first octet never sent; the rest is never sent. The peer reads what it
/// had received, every octet, then ECONNRESET, then end of file; neither side keeps a socket.
///
/// The notes: "l_linger = 0, TCP aborts connection, discards any data still remaining in the
/// socket send buffer and sends RST to peer". Linux does so: `__tcp_close` (net/ipv4/tcp.c, in
/// `tcp_close` on 6.1) calls `tcp_disconnect`, which sends the reset (`tcp_send_active_reset`,
/// at `tcp_acceptable_seq`: `snd_nxt` while that is inside the peer's window) and purges the
/// write queue (`tcp_write_queue_purge`), and counts `TCPAbortOnData`. What the peer had
/// received is not discarded: `tcp_reset` purges only its write queue, and `tcp_recvmsg` hands
/// out queued data before it reports `sk_err`.
pub static DISCARDS_UNSENT: Def = Def::new(
    "linger::zero_discards_unsent",
    "SO_LINGER {1, 0} with unsent data: one RST at snd_nxt, the rest discarded; the peer reads what it had, then ECONNRESET",
    body!(discards_unsent),
).shows(&[
    Finding::confirms(&claims::LINGER_ZERO),
])
.expected(Duration::from_millis(300));

async fn discards_unsent(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (client, server, kernel) = (net.host("client")?, net.host("server")?, netcase::kernel()?);
    let watch = net.watch(&["client", "server"]).await?;
    let small = Options::new().buffers(PEER_BUFFER, PEER_BUFFER);
    let roomy = Options::new().buffers(WRITER_BUFFER, WRITER_BUFFER);
    let conn = net.connect_both("client", "server", case.family(), PORT, roomy, small);
    let Connection {
        client: sock,
        server: peer,
        ..
    } = conn.await?;
    let data = [0x5a; WRITTEN];
    let stalled = sock.write_into_shut_window(&peer, &data, WITHIN).await?;
    let Stalled { held, unsent, .. } = stalled;
    assert!(held > 0 && unsent == WRITTEN - held, "{stalled:?}");

    let accepted = Filter::between(peer.local()?, peer.peer()?);
    let closed = sock.close(Close::Abort).await?;
    assert_eq!(closed.result, Ok(()), "close() with SO_LINGER {{1, 0}}");
    // The reset is sent within the call, nothing waited for: zero, both edges those of timing
    // one thread's call by its own clock.
    let took = closed.took;
    let at_once = kernel.observation_slack().admits(Duration::ZERO, took);
    assert!(at_once, "close() took {took:?}");
    // The reset has killed the peer's socket (tcp_done) before it reads: data, then the error.
    server.wait_for_no_socket(accepted, WITHIN).await?;
    let left = client.sockets_matching(Filter::all().remote_port(PORT));
    let left = left.await?;
    assert!(left.is_empty(), "no orphan, no TIME_WAIT: {left}");
    peer.set_timeout(READ_LIMIT)?;
    let (got, end) = peer.read_to_end().await?;
    assert!(
        got == data[..held],
        "the {held} octets held, not {}",
        got.len()
    );
    assert_eq!(end, Err(Errno::ECONNRESET), "the read after the data");
    assert_eq!(peer.read(1).await?, Ok(vec![]), "then end of file");

    let seen = watch.stop().await?;
    let moved = [("TCPAbortOnData", 1), ("OutRsts", 1), ("EstabResets", 1)];
    seen.counters("client")?.moved(moved)?;
    let moved = [
        ("EstabResets", 1),
        ("OutRsts", 0),
        ("TCPToZeroWindowAdv", 1),
    ];
    seen.counters("server")?.moved(moved)?;
    let segments = (held / stalled.info.snd_mss as usize) as f64;
    case.figure("held_segments", &[segments], "segments");
    case.measure("close_ms", &[ms(took)], "ms");
    let held = held.to_string();
    let expected = expectation("linger_zero_discards_unsent.expect", &[("held", &*held)])?;
    seen.check(&net, &expected)
}
