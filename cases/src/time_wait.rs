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
    collections::HashMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use netcase::{
    Host, Result, Topology, body,
    case::{Case, Def},
    kernel::Slack,
    network::{
        Call, Close, Options, closing::ClosedFirst, ports::UsedUp, repair::SequenceNumbers,
        serve::Server,
    },
    observe::{
        Counters, Filter, Socket, SocketTable, TCP_TIMEWAIT_LEN, TcpState,
        TcpState::{Listen, TimeWait},
        Timer, TimerKind, Watch, wait_until, wait_until_every,
    },
    packets::inject::RawSegment,
    rules::{self, TwReuse},
    sysctl::{self, PortRange, Sysctl},
};
use nix::errno::Errno;

use netcase::claims::Finding;

use crate::claims;
use crate::common::{SCHEDULING, expectation, keep_time_wait, ms};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[
    &HELD_BY_ACTIVE_CLOSER,
    &EXHAUSTION,
    &REUSE_LOOPBACK_ONLY,
    &REUSE,
    &REUSE_WITHOUT_TIMESTAMPS,
    &PORTS_COME_BACK,
    &ASSASSINATED,
    &BIND_INTO_EXHAUSTED_RANGE,
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

/// `tcp_tw_reuse_delay` set on the client: long enough that the whole range is used up well
/// within it, short enough to keep the cases fast.
const REUSE_DELAY: Duration = Duration::from_millis(500);

/// Whoever sends the first FIN holds TIME_WAIT, its timer starting at `TCP_TIMEWAIT_LEN`; a
/// zero-linger close leaves none anywhere.
pub static HELD_BY_ACTIVE_CLOSER: Def = Def::new(
    "time_wait::held_by_active_closer",
    "the side that sends the first FIN holds TIME_WAIT for TCP_TIMEWAIT_LEN; a zero-linger close holds none",
    body!(held_by_active_closer),
).shows(&[
    Finding::confirms(&claims::TW_ACTIVE_CLOSER),
    Finding::confirms(&claims::TW_ENTRY),
    Finding::qualifies(
        &claims::TW_2MSL,
        "Linux: TCP_TIMEWAIT_LEN, 60 s, whatever MSL; no knob changes it",
    ),
    Finding::confirms(&claims::TW_LINUX_MINUTE),
])
.expected(Duration::from_millis(300));

/// With `tcp_tw_reuse=0`, a client with 8 ephemeral ports opens and closes 8 connections to
/// one server; the 9th connect() fails at once with EADDRNOTAVAIL, sending nothing, and keeps
/// failing while the TIME_WAIT sockets last.
pub static EXHAUSTION: Def = Def::new(
    "time_wait::exhaustion_without_reuse",
    "tcp_tw_reuse=0: one connection per ephemeral port, then connect() fails with EADDRNOTAVAIL",
    body!(refused, 0, 1),
)
.shows(&[Finding::confirms(&claims::TW_LIMITS_RATE)])
.expected(Duration::from_millis(1200));

/// `tcp_tw_reuse=2` (the default) allows reuse for loopback traffic only: between two hosts it
/// is the same as 0.
pub static REUSE_LOOPBACK_ONLY: Def = Def::new(
    "time_wait::reuse_loopback_only",
    "tcp_tw_reuse=2 (the default): no reuse between two hosts, connect() fails with EADDRNOTAVAIL",
    body!(refused, 2, 1),
)
.shows(&[Finding::qualifies(
    &claims::TW_LIMITS_RATE,
    "tcp_tw_reuse=2, the default, reuses TIME_WAIT ports on loopback only",
)])
.expected(Duration::from_millis(1200));

/// `tcp_tw_reuse=1` with timestamps: connect() fails while every TIME_WAIT socket is younger
/// than `tcp_tw_reuse_delay`, then takes over each of them.
pub static REUSE: Def = Def::new(
    "time_wait::reuse_after_delay",
    "tcp_tw_reuse=1 with timestamps: TIME_WAIT ports are reused once tcp_tw_reuse_delay old",
    body!(reused),
)
.shows(&[Finding::qualifies(
    &claims::TW_LIMITS_RATE,
    "tcp_tw_reuse=1 with timestamps reuses a TIME_WAIT port once it is tcp_tw_reuse_delay old",
)])
.expected(Duration::from_millis(700));

/// `tcp_tw_reuse=1` without timestamps (`tcp_timestamps=0` on the client): no reuse; PAWS is
/// what makes reuse safe, and without it `tcp_twsk_unique` refuses.
pub static REUSE_WITHOUT_TIMESTAMPS: Def = Def::new(
    "time_wait::reuse_needs_timestamps",
    "tcp_tw_reuse=1 with tcp_timestamps=0: no reuse, connect() fails with EADDRNOTAVAIL",
    body!(refused, 1, 0),
)
.shows(&[Finding::confirms(&claims::TW_LIMITS_RATE)])
.expected(Duration::from_millis(1200));

/// The long one: 16 ports used up at once come back when their TIME_WAIT sockets go, 60 s (plus
/// the timer wheel's rounding) later, and not before: 16 connections per TIME_WAIT period, the
/// notes' arithmetic (ports / TCP_TIMEWAIT_LEN).
pub static PORTS_COME_BACK: Def = Def::new(
    "time_wait::ports_come_back",
    "exhausted ports come back after TCP_TIMEWAIT_LEN: the sustained rate is ports / 60 s",
    body!(ports_come_back),
).shows(&[
    Finding::qualifies(
        &claims::TW_470_PER_SECOND,
        "ports / TCP_TIMEWAIT_LEN, per destination address and port (not per client): 28,232 / 60 s = 470 with the default range",
    ),
    Finding::confirms(&claims::TW_LINUX_MINUTE),
])
.expected(Duration::from_secs(63));

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
pub static ASSASSINATED: Def = Def::new(
    "time_wait::assassinated",
    "tcp_rfc1337=0 (the default): a stray ACK draws a reset that kills TIME_WAIT and frees its port; tcp_rfc1337=1 ignores it",
    body!(assassinated),
).shows(&[
    Finding::qualifies(
        &claims::TW_LINUX_MINUTE,
        "a stray segment's reset ends it early (tcp_rfc1337=0, the default)",
    ),
])
.expected(Duration::from_millis(800));

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

/// How long a wait for the kernel to act on what is already under way may take here: a
/// segment on its way, a timer of milliseconds; hundreds of them on a loaded machine.
const WITHIN: Duration = Duration::from_secs(2);

async fn held_by_active_closer(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let expectation = expectation("time_wait_held_by_active_closer.expect", &())?;
    let (client, server, kernel) = (net.host("client")?, net.host("server")?, netcase::kernel()?);
    let at = |port| net.socket_addr("server", case.family(), port);
    // Both ends hold TIME_WAIT in turn: neither may lose it to a reset from veth's reordering.
    keep_time_wait(client).await?;
    keep_time_wait(server).await?;
    let recording = net.record(&["client", "server"]).await?;

    // 1. The client closes first.
    let served = server.serve(at(PORT)?).await?;
    let made = client.open_and_close(served.addr()).await?;
    let (_, closed) = made.expect("connect()");
    let table = client.sockets_matching(to_port(PORT)).await?;
    let timer = tw_timer(table.find(closed.local, served.addr())?);
    // The timer was set to TCP_TIMEWAIT_LEN when the socket entered TIME_WAIT, as the server's
    // FIN arrived, after the client began to close; what is left is less by the time since,
    // counted in whole jiffies (one lost to rounding at each end), and by a tick that came late
    // (jiffies behind the clock when the timer was armed: SCHEDULING).
    // At most this long when the kernel sampled the timer (see `read_end`).
    let since = table.read_end().saturating_duration_since(closed.began);
    let slack = 2 * kernel.jiffy() + SCHEDULING + kernel.emulation();
    assert_started_at_len(timer.remaining, since, slack);
    let timer_s = (timer.remaining + since).as_secs_f64();
    case.measure("time_wait_timer_s", &[timer_s], "s");
    // The server, the passive closer, keeps nothing once its FIN is acknowledged.
    let server_end = Filter::all()
        .local_port(PORT)
        .remote_port(closed.local.port());
    server.wait_for_no_socket(server_end, WITHIN).await?;

    // 2. The server closes first: the server holds TIME_WAIT, the client nothing.
    let conn = net
        .connect("client", "server", case.family(), PORT + 1)
        .await?;
    assert_eq!(conn.server.close(Close::Now).await?.result, Ok(()));
    assert_eq!(conn.client.read(1).await?, Ok(vec![]), "the server's FIN");
    assert_eq!(conn.client.close(Close::Now).await?.result, Ok(()));
    let on_server = Filter::all().local_port(PORT + 1);
    let held = server
        .wait_for_state(on_server, TimeWait, 1, WITHIN)
        .await?;
    let held = held.value;
    assert_eq!(held.len(), 2, "the listener and the TIME_WAIT: {held}");
    client.wait_for_no_socket(to_port(PORT + 1), WITHIN).await?;
    drop(conn.listener);

    // 3. A zero-linger close: a reset, and TIME_WAIT on neither side.
    let conn = net
        .connect("client", "server", case.family(), PORT + 2)
        .await?;
    assert_eq!(conn.client.close(Close::Abort).await?.result, Ok(()));
    assert_eq!(conn.server.read(1).await?, Err(Errno::ECONNRESET));
    drop(conn.server);
    let client_left = client.sockets_matching(to_port(PORT + 2)).await?;
    assert!(client_left.is_empty(), "{client_left}");
    let on_server = Filter::all().local_port(PORT + 2);
    let server_left = server.sockets_matching(on_server).await?;
    let listening = server_left.count(Listen);
    assert_eq!(listening, server_left.len(), "{server_left}");
    drop(conn.listener);

    recording.stop().await?.check(&net, "client", &expectation)
}

/// The cases without reuse (`tcp_tw_reuse` and `tcp_timestamps` on the client as given): no
/// TIME_WAIT socket is ever taken over, and connect() keeps failing.
async fn refused(case: Arc<Case>, net: Arc<Topology>, reuse: u8, timestamps: u8) -> Result<()> {
    let expectation = expectation("time_wait_exhausted.expect", &())?;
    let range = Exhausted::of(&case, &net, reuse, timestamps).await?;
    let attempt = || try_connect(range.client, range.server.addr());
    // None of the TIME_WAIT sockets may be taken over, however old: keep trying for twice
    // the longest wait of the reuse rule (the kernel would have allowed reuse after one).
    // Polled every 5 ms.
    let (every, longer) = (Duration::from_millis(5), range.rule.longest() * 2);
    let tried = wait_until_every(REUSING, longer, every, attempt, Result::is_ok).await;
    match tried {
        Err(netcase::Error::Timeout { .. }) => {}
        Err(e) => return Err(e),
        Ok(seen) => panic!(
            "tcp_tw_reuse={reuse}, tcp_timestamps={timestamps}: a TIME_WAIT port was reused \
             after {:?}: {:?}",
            seen.at - range.first(),
            seen.value
        ),
    }
    assert_eq!(attempt().await?, Err(Errno::EADDRNOTAVAIL), "still refused");

    let seen = range.watch.stop().await?;
    seen.counters("client")?.moved([("TcpExt.TWRecycled", 0)])?;
    seen.check_on(&net, "client", &expectation)
}

/// `tcp_tw_reuse=1` with timestamps: refused until the rule allows the first reuse, then every
/// TIME_WAIT socket taken over.
async fn reused(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let expectation = expectation("time_wait_reused.expect", &())?;
    let range = Exhausted::of(&case, &net, 1, 1).await?;
    let (rule, kernel) = (range.rule, netcase::kernel()?);
    let attempt = || try_connect(range.client, range.server.addr());
    // Where kernels differ: when a TIME_WAIT socket may be taken over.
    case.behaviour("TIME_WAIT reuse", &rule.describe());
    // Not yet: the rule allows none of the TIME_WAIT sockets yet.
    let early = attempt().await?;
    let checked = rules::monotonic(Instant::now());
    let allowed_first = rule.allowed_at(rules::monotonic(range.first()));
    assert!(
        checked < allowed_first,
        "the early connect() ended {:?} after the first moment of reuse ({}): the case was too \
         slow to see a refusal before it",
        checked - allowed_first,
        rule.describe()
    );
    assert_eq!(early, Err(Errno::EADDRNOTAVAIL), "before reuse is allowed");
    // Then the oldest one is taken over as soon as the rule allows.
    let first = wait_until(REUSING, rule.longest() * 3, attempt, Result::is_ok).await?;
    let after = first.at.saturating_duration_since(range.entered());
    case.measure("reused_after_ms", &[ms(after)], "ms");
    // Not before the rule's moment for the first socket: after a delay, from its entry into
    // TIME_WAIT as its timer shows it (whole jiffies: 2 jiffies early at most); at the next
    // second, from the second the round ran in by this clock (it started well into one: the
    // timer's estimate would carry the lag of the kernel's ticks). Not later than that moment
    // plus a probe's window and the observation's slack (scheduling, and emulation where the
    // clock is emulated) plus 80 ms for the connect() of the probe.
    let allowed = rule.allowed_at(rules::monotonic(match rule {
        TwReuse::AfterDelay(_) => range.entered(),
        TwReuse::NextSecond => range.first(),
    }));
    let (seen, slack) = (rules::monotonic(first.at), kernel.observation_slack());
    assert!(
        seen + 2 * kernel.jiffy() >= allowed
            && seen <= allowed + first.window + slack.late + Duration::from_millis(80),
        "the first reuse came {after:?} after the first TIME_WAIT, {:?} from the rule's moment \
         ({})",
        seen.abs_diff(allowed),
        rule.describe()
    );
    // More follow, as TIME_WAIT sockets pass the delay: as many as the range has ports.
    let mut reused_ports = vec![first.value.expect("reused")];
    while reused_ports.len() < SMALL_RANGE.len() as usize {
        let next = wait_until(REUSING, rule.longest(), attempt, Result::is_ok).await?;
        reused_ports.push(next.value.expect("reused"));
    }
    // Every one of them took over a TIME_WAIT socket (the range has no free port): the
    // kernel counts each in TWRecycled. Which socket it takes is the port search's choice
    // (connect() tries even ports first), not necessarily the oldest.
    let in_range = |p: &u16| (SMALL_RANGE.low..=SMALL_RANGE.high).contains(p);
    assert!(reused_ports.iter().all(in_range), "{reused_ports:?}");
    let seen = range.watch.stop().await?;
    let recycled = i64::from(SMALL_RANGE.len());
    seen.counters("client")?
        .moved([("TcpExt.TWRecycled", recycled)])?;
    seen.check_on(&net, "client", &expectation)
}

async fn ports_come_back(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (client, kernel) = (net.host("client")?, netcase::kernel()?);
    // The notes' arithmetic, with this kernel's default range.
    let default = client.get(sysctl::IP_LOCAL_PORT_RANGE).await?;
    let note_rate = f64::from(default.len()) / TCP_TIMEWAIT_LEN.as_secs_f64();
    let (low, high) = (f64::from(default.low), f64::from(default.high));
    case.figure("default_port_range", &[low, high], "port");
    case.figure("default_sustained_rate", &[note_rate], "connections/s");
    case.note(format!(
        "default ip_local_port_range {low} {high} ({} ports; the notes say 32768 61000): at most \
         {note_rate:.1} new connections per second to one destination without tcp_tw_reuse",
        default.len()
    ));

    client.set(sysctl::IP_LOCAL_PORT_RANGE, LONG_RANGE).await?;
    client.set(sysctl::TCP_TW_REUSE, 0).await?;
    keep_time_wait(client).await?;
    let ports = LONG_RANGE.len() as usize;
    let addr = net.socket_addr("server", case.family(), PORT)?;
    let to = net.host("server")?.serve(addr).await?;
    let first_round = client.use_up_ports(to.addr(), ports).await?.closed;
    let started = first_round[0].began;

    // Each TIME_WAIT socket, by cookie: its port and when its timer is due.
    let time_waits = to_port(PORT).state(TimeWait);
    let table = client.sockets_matching(time_waits.clone()).await?;
    assert_eq!(table.len(), ports, "{table}");
    let due_at = |s: &Socket| table.read_at() + tw_timer(s).remaining;
    let due: HashMap<u64, (u16, Instant)> = (table.iter())
        .map(|s| (s.cookie, (s.local.port(), due_at(s))))
        .collect();
    // Wait for them to go, trying to connect all the while: connect() must fail until a socket
    // has gone, and then succeed once per port that came back. Polled every 20 ms, with a
    // deadline from the first close.
    let poll = Duration::from_millis(20);
    let deadline = TCP_TIMEWAIT_LEN + Duration::from_secs(5);
    let within = deadline.saturating_sub(started.elapsed());
    let (addr, cookies) = (to.addr(), Vec::from_iter(due.keys().copied()));
    let back = || async move { Ok(client.use_up_ports(addr, ports).await?.closed) };
    let gone = client.wait_for_each_gone(time_waits, &cookies, poll, within, back);
    let (gone, back) = gone.await?;
    let mut second_round = back.concat();
    // The last sockets may go between a table read and the connect() attempts: one more round.
    second_round.extend(client.use_up_ports(to.addr(), ports).await?.closed);
    assert_eq!(second_round.len(), ports, "a connection per port back");

    // Each socket lasted TCP_TIMEWAIT_LEN from its entry, plus what the timer wheel adds: a
    // 60 s timer sits at level 3, whose buckets are 512 jiffies wide (2.048 s at HZ=250), and
    // fires at the end of its bucket; plus the poll interval and scheduling (200 ms).
    // Early: the entry is timed from before the client's close (50 ms covers the thread that
    // timestamps it). Emulation adds to both edges.
    let (granule, emulation) = (kernel.jiffy() * 512, kernel.emulation());
    let lasted = Slack {
        early: Duration::from_millis(50) + emulation,
        late: granule + poll + Duration::from_millis(200) + emulation,
    };
    let closed_at: HashMap<u16, Instant> = (first_round.iter())
        .map(|c| (c.local.port(), c.began))
        .collect();
    let mut lifetimes = Vec::new();
    for (cookie, (port, due_at)) in &due {
        let lifetime = gone[cookie] - closed_at[port];
        lifetimes.push(lifetime.as_secs_f64());
        let expected = lasted.describe(TCP_TIMEWAIT_LEN);
        let as_expected = lasted.admits(TCP_TIMEWAIT_LEN, lifetime);
        assert!(
            as_expected,
            "port {port}: TIME_WAIT lasted {lifetime:?}, not {expected}"
        );
        let before_due = due_at.saturating_duration_since(gone[cookie]);
        let in_time = gone[cookie] + poll + kernel.jiffy() + emulation >= *due_at;
        assert!(in_time, "port {port}: gone {before_due:?} before due");
    }
    lifetimes.sort_by(f64::total_cmp);
    case.measure("time_wait_s", &lifetimes, "s");
    let first_back = second_round.iter().map(|c| c.began).min();
    let back_after = first_back.expect("a second round") - started;
    case.measure("ports_back_after_s", &[back_after.as_secs_f64()], "s");
    // No port came back before the first TIME_WAIT socket had lasted TCP_TIMEWAIT_LEN.
    let not_before = back_after + lasted.early >= TCP_TIMEWAIT_LEN;
    assert!(
        not_before,
        "ports back {back_after:?} after the first TIME_WAIT"
    );
    let rate = ports as f64 / (lifetimes.iter().sum::<f64>() / lifetimes.len() as f64);
    case.measure("sustained_rate", &[rate], "connections/s");
    let nominal = ports as f64 / TCP_TIMEWAIT_LEN.as_secs_f64();
    let near = (rate - nominal).abs() <= nominal * 0.04;
    assert!(near, "{rate}/s from {ports} ports, not {ports} / 60 s");
    Ok(())
}

async fn assassinated(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (client, server, kernel) = (net.host("client")?, net.host("server")?, netcase::kernel()?);
    let at = |port| net.socket_addr("server", case.family(), port);
    let rfc1337 = client.get(sysctl::TCP_RFC1337).await?;
    assert!(!rfc1337, "tcp_rfc1337 is off in a new namespace");
    client.set(sysctl::IP_LOCAL_PORT_RANGE, ONE_PORT).await?;
    // No reuse: connect() must see the TIME_WAIT socket, not take it over.
    client.set(sysctl::TCP_TW_REUSE, 0).await?;
    // A TIME_WAIT socket answers out-of-window segments at most once per tcp_invalid_ratelimit
    // (500 ms by default); should veth's reordering make it answer a late ACK while the
    // connections close, the stray segment must not find it rate-limited.
    client.set(TCP_INVALID_RATELIMIT, 0).await?;
    // Both connections close with tcp_rfc1337 = 1, so that only the stray segment can touch them.
    keep_time_wait(client).await?;
    let stray_seq = 2u32.wrapping_sub(BEHIND).to_string();
    let vars = [("stray_seq", stray_seq.as_str())];
    let expectation = expectation("time_wait_assassinated.expect", &vars)?;
    let recording = net.record(&["client", "server"]).await?;

    // Two connections from the one port, to two server ports, each closed by the client first.
    // The first port keeps its listener (which answers the duplicate ACK with the reset: an ACK
    // to a LISTEN socket gets one); the second's listener closes with its connection (no socket
    // at all: the reset comes from the kernel).
    let killed_to = server.serve(at(PORT)?).await?;
    let killed = Ended::of(client, killed_to.addr()).await?;
    let kept_to = server.serve_one(at(PORT + 1)?).await?;
    let kept = Ended::of(client, kept_to.addr()).await?;
    kept_to.finished().await?;
    assert_eq!((killed.port(), kept.port()), (ONE_PORT.low, ONE_PORT.low));
    // The server's ends are gone once the client's last ACKs arrive: nothing but the first port's
    // listener is left.
    let listener = |s: &Socket| s.state == Listen && s.local.port() == PORT;
    let only_the_listener = |t: &SocketTable| t.iter().all(listener);
    let what = "the server's ends of both connections gone";
    wait_until(what, WITHIN, || server.sockets(), only_the_listener).await?;
    // What the TIME_WAIT timer shows when read `since` the client began to close: it started at
    // TCP_TIMEWAIT_LEN as the server's FIN arrived, after that, counted in whole jiffies, less a
    // tick that came late (SCHEDULING), and the emulation's allowance where the clock is emulated.
    let slack = 2 * kernel.jiffy() + SCHEDULING + kernel.emulation();

    // 1. tcp_rfc1337 = 0, the default, set explicitly: the stray ACK to the first connection.
    client.set(sysctl::TCP_RFC1337, false).await?;
    let stray = killed.stray_ack(&net, slack).await?;
    let gone = client.wait_for_no_socket(killed.filter(), WITHIN).await?.at;
    let counted = stray.counted(&net, "tcp_rfc1337=0", true).await;
    let killed_after = gone.saturating_duration_since(stray.sent_at);
    case.measure("killed_after_ms", &[ms(killed_after)], "ms");
    // The timer as last read before the stray ACK, run down to the kill: at least what TIME_WAIT
    // had left (the stray ACK itself restarted it at TCP_TIMEWAIT_LEN, as part 2 shows).
    let timer_left = stray.timer_due().saturating_duration_since(gone);
    case.measure("timer_left_when_killed_s", &[timer_left.as_secs_f64()], "s");
    let lived = gone.saturating_duration_since(killed.closed.began);
    case.note(format!(
        "tcp_rfc1337=0: TIME_WAIT killed {killed_after:?} after the stray ACK, {lived:?} into \
         it, with {timer_left:?} of its timer left"
    ));
    counted?;
    // Its port is free at once (the new connection closed with SO_LINGER {1, 0}: no TIME_WAIT).
    let again = client.connect(killed.to).await?;
    let again = again.expect("connect() right after the kill");
    assert_eq!(again.local()?.port(), ONE_PORT.low);
    assert_eq!(again.close(Close::Abort).await?.result, Ok(()));

    // 2. tcp_rfc1337 = 1: the same stray ACK to the second connection, once its timer has run
    // long enough that a restart would show.
    client.set(sysctl::TCP_RFC1337, true).await?;
    let ripe = |tw: &Option<(Socket, Instant)>| tw.as_ref().is_none_or(run_down);
    let what = "the second TIME_WAIT timer run down a little";
    wait_until(what, WITHIN, || kept.time_wait(client), ripe).await?;
    let stray = kept.stray_ack(&net, slack).await?;
    // Both segments in: the stray ACK and the reset (the client counts each before it handles it).
    let answered = client.wait_for_counter(&stray.client, "Tcp.InSegs", 2, WITHIN);
    answered.await?;
    stray.counted(&net, "tcp_rfc1337=1", false).await?;
    let after = kept.time_wait(client).await?;
    let (after, read_after) = after.expect("the TIME_WAIT socket survives the reset");
    assert_eq!(after.cookie, stray.tw.cookie, "the same TIME_WAIT socket");
    // Still running, and restarted: the out-of-window ACK set it to TCP_TIMEWAIT_LEN again
    // (`inet_twsk_reschedule`), which the reset left alone.
    let (before, restarted) = (stray.timer().remaining, tw_timer(&after).remaining);
    let timers = [before, restarted].map(|d| d.as_secs_f64());
    case.measure("timer_after_stray_s", &timers, "s");
    let since = read_after.saturating_duration_since(stray.sent_at);
    assert!(restarted > before, "not restarted: {timers:?} s");
    assert_started_at_len(restarted, since, slack);
    let refused = client.connect(kept.to).await?.err();
    assert_eq!(refused, Some(Errno::EADDRNOTAVAIL), "TIME_WAIT kept");

    let recorded = recording.stop().await?;
    recorded.check(&net, "client", &expectation)?;
    // Still there after everything the capture shows.
    let last = kept.time_wait(client).await?.map(|(s, _)| s.cookie);
    assert_eq!(last, Some(stray.tw.cookie), "kept to the end");
    Ok(())
}

/// What a look for reuse waits for.
const REUSING: &str = "a connect() that reuses a TIME_WAIT port";

/// The client's sockets to the server's `port`.
fn to_port(port: u16) -> Filter {
    Filter::all().remote_port(port)
}

/// The exhaustion cases once the client's range is used up.
struct Exhausted<'a> {
    /// The client host.
    client: &'a Host,
    /// The server the connections went to.
    server: Server,
    /// Counters and captures of both hosts, from before the first connection.
    watch: Watch<'a>,
    /// When this kernel allows a TIME_WAIT socket to be taken over.
    rule: TwReuse,
    /// The connections that used the range up, and the client's sockets to the server then.
    used: UsedUp,
}

impl<'a> Exhausted<'a> {
    /// The exhaustion cases' set-up and first act: the client's range narrowed to
    /// [`SMALL_RANGE`], `tcp_tw_reuse` and `tcp_timestamps` set on the client as given, then
    /// connections opened and closed by the client until connect() fails ([`checked`]).
    async fn of(case: &Case, net: &'a Topology, reuse: u8, timestamps: u8) -> Result<Self> {
        let client = net.host("client")?;
        client.set(sysctl::IP_LOCAL_PORT_RANGE, SMALL_RANGE).await?;
        client.set(sysctl::TCP_TIMESTAMPS, timestamps).await?;
        keep_time_wait(client).await?;
        let rule = client.set_tw_reuse(reuse, REUSE_DELAY).await?;
        let addr = net.socket_addr("server", case.family(), PORT)?;
        let server = net.host("server")?.serve(addr).await?;
        let watch = net.watch(&["client", "server"]).await?;
        // The range is to be used up before the rule allows any of its sockets to be taken over.
        rule.fresh_period().await?;
        let used = client.use_up_ports(server.addr(), SMALL_RANGE.len() as usize);
        let used = checked(case, used.await?, rule);
        Ok(Self {
            client,
            server,
            watch,
            rule,
            used,
        })
    }

    /// When the first connection began to close (its socket entered TIME_WAIT after).
    fn first(&self) -> Instant {
        self.used.first()
    }

    /// When the first socket entered TIME_WAIT, by the kernel's clock (its timer).
    fn entered(&self) -> Instant {
        let entered = self.used.held.time_wait_entered();
        entered.expect("TIME_WAIT timers")
    }
}

/// Checks the range used up as the exhaustion cases need it: one connection per port, every
/// port in TIME_WAIT, all before the rule allowed the first TIME_WAIT socket to be taken over.
fn checked(case: &Case, used: UsedUp, rule: TwReuse) -> UsedUp {
    let (done, held, first) = (&used.closed, &used.held, used.first());
    let (n, ports) = (done.len(), SMALL_RANGE.len() as usize);
    assert_eq!(n, ports, "one connection per port: {done:?}");
    case.figure("connections_before_refusal", &[n as f64], "connections");
    let in_time = rules::monotonic(used.refused_at) < rule.allowed_at(rules::monotonic(first));
    let (took, rule) = (used.refused_at - first, rule.describe());
    case.measure("range_used_up_ms", &[ms(took)], "ms");
    let late = format!("the range took {took:?} to use up, past the first moment of reuse");
    let why = "the case cannot tell reuse from none";
    assert!(in_time, "{late} ({rule}): {why}");
    let all = Vec::from_iter(SMALL_RANGE.ports());
    assert_eq!(held.local_ports(), all, "every port in TIME_WAIT: {held}");
    assert_eq!(held.count(TcpState::TimeWait), n, "{held}");
    used
}

/// connect() from the client to `to`: the port it got (the connection closed first again, as
/// every other connection of the case), or the errno.
async fn try_connect(client: &Host, to: SocketAddr) -> Result<Call<u16>> {
    let made = client.open_and_close(to).await?;
    Ok(made.map(|(_, c)| c.local.port()))
}

/// The TIME_WAIT timer of `socket`, which must be in TIME_WAIT.
fn tw_timer(socket: &Socket) -> Timer {
    assert_eq!(socket.state, TcpState::TimeWait, "{socket}");
    let timer =
        (socket.timer).unwrap_or_else(|| panic!("a TIME_WAIT socket without a timer: {socket}"));
    assert_eq!(timer.kind, TimerKind::TimeWait, "{socket}");
    timer
}

/// Checks that a TIME_WAIT timer with `left` to run, read `since` the moment it started at the
/// latest, started at `TCP_TIMEWAIT_LEN`: no more than that is left, nor less than that less
/// `since` and `slack` (the caller says what the slack covers).
fn assert_started_at_len(left: Duration, since: Duration, slack: Duration) {
    assert!(
        left <= TCP_TIMEWAIT_LEN && left + since + slack >= TCP_TIMEWAIT_LEN,
        "TIME_WAIT timer {left:?}, read {since:?} after it started: not {TCP_TIMEWAIT_LEN:?}"
    );
}

/// Whether the timer of a TIME_WAIT socket (as read at some moment) has run at least
/// [`RESTART_VISIBLE`].
fn run_down((socket, _): &(Socket, Instant)) -> bool {
    tw_timer(socket).remaining + RESTART_VISIBLE <= TCP_TIMEWAIT_LEN
}

/// A connection of [`ASSASSINATED`], closed by the client first.
struct Ended {
    /// The server's address.
    to: SocketAddr,
    /// How the client closed it (its local address, when it began).
    closed: ClosedFirst,
    /// The client socket's last sequence numbers: what its TIME_WAIT socket copied as
    /// `tw_snd_nxt` and `tw_rcv_nxt` (the server's FIN counted).
    seqs: SequenceNumbers,
}

/// A stray segment sent to a TIME_WAIT socket: the socket as it was read just before, both
/// hosts' counters before it, and when it left.
struct Stray {
    tw: Socket,
    read_at: Instant,
    client: Counters,
    server: Counters,
    sent_at: Instant,
    /// Whether the server's listener took the client's ACK for a SYN cookie (`None`: near the
    /// edge of that window): [`netcase::Kernel::fresh_listener_looks_flooded`].
    flooded: Option<bool>,
}

/// `net.ipv4.tcp_invalid_ratelimit`: how often at most a socket answers a segment it cannot
/// accept, in milliseconds (500 by default).
const TCP_INVALID_RATELIMIT: Sysctl<u32> = Sysctl::new("net/ipv4/tcp_invalid_ratelimit");

/// No counter at all, for [`netcase::observe::Delta::moved_only`].
const NOTHING: [(&str, i64); 0] = [];

impl Ended {
    /// A connection from the client to `to`, closed by the client first.
    async fn of(client: &Host, to: SocketAddr) -> Result<Ended> {
        let (sock, closed) = client.open_and_close(to).await?.expect("connect()");
        let seqs = sock.sequence_numbers()?;
        Ok(Ended { to, closed, seqs })
    }

    /// The client's port.
    fn port(&self) -> u16 {
        self.closed.local.port()
    }

    /// Its TIME_WAIT socket on the client, by its ports.
    fn filter(&self) -> Filter {
        let ports = Filter::all()
            .local_port(self.port())
            .remote_port(self.to.port());
        ports.state(TimeWait)
    }

    /// Its TIME_WAIT socket on `client`, if there is one, and when the table was read.
    async fn time_wait(&self, client: &Host) -> Result<Option<(Socket, Instant)>> {
        let table = client.sockets_matching(self.filter()).await?;
        let socket = table.get(self.closed.local, self.to);
        Ok(socket.map(|s| (*s, table.read_end())))
    }

    /// Checks its TIME_WAIT socket as the stray ACK will find it: its timer started at
    /// TCP_TIMEWAIT_LEN (within `slack`) and it holds the client's only port; then reads both
    /// hosts' counters and sends the stray ACK from the server: `BEHIND` octets before the
    /// socket's `rcv_nxt`, acknowledging its `snd_nxt`.
    async fn stray_ack(&self, net: &Topology, slack: Duration) -> Result<Stray> {
        let (client, server) = (net.host("client")?, net.host("server")?);
        let (tw, read_at) = self.time_wait(client).await?.expect("its TIME_WAIT socket");
        let since = read_at.saturating_duration_since(self.closed.began);
        assert_started_at_len(tw_timer(&tw).remaining, since, slack);
        let refused = client.connect(self.to).await?.err();
        let what = "connect() while TIME_WAIT holds the only port";
        assert_eq!(refused, Some(Errno::EADDRNOTAVAIL), "{what}");
        let (client_before, server_before) = (client.counters().await?, server.counters().await?);
        let (seq, ack) = (self.seqs.rcv_nxt.wrapping_sub(BEHIND), self.seqs.snd_nxt);
        let segment = RawSegment::pure_ack(self.to, self.closed.local, seq, ack);
        Ok(Stray {
            tw,
            read_at,
            client: client_before,
            server: server_before,
            sent_at: server.inject(&segment).await?,
            flooded: netcase::kernel()?.fresh_listener_looks_flooded(),
        })
    }
}

impl Stray {
    /// The TIME_WAIT socket's timer as read before the segment.
    fn timer(&self) -> Timer {
        tw_timer(&self.tw)
    }

    /// When that timer was due, as read.
    fn timer_due(&self) -> Instant {
        self.read_at + self.timer().remaining
    }

    /// Checks what each half counts: the client takes in the stray ACK and the reset and sends
    /// its duplicate ACK; the server takes in that ACK and sends the reset. No counter records
    /// the kill: the same counts with the TIME_WAIT socket killed and kept. (`TcpExt.TW` counts
    /// TIME_WAIT timers that expire, `TcpExt.TWKilled` early expiries, neither an
    /// assassination.) `listener`: whether the duplicate ACK reaches a listener on the server
    /// (the first connection's port), or no socket at all (the second's).
    async fn counted(&self, net: &Topology, half: &str, listener: bool) -> Result<()> {
        let client = net.host("client")?.counters().await?.since(&self.client)?;
        let server = net.host("server")?.counters().await?.since(&self.server)?;
        let server_moved = [("Tcp.InSegs", 1), ("Tcp.OutSegs", 1), ("Tcp.OutRsts", 1)];
        // A listener checks the ACK as a SYN cookie only in the minutes after jiffies wrap (a
        // guest a few minutes after boot); near that window's edges, either. With no socket
        // there is no listener to check it: the kernel answers with the reset alone (this
        // machine's case, 411 s after boot, counted the first half's cookie and not the second's).
        let cookie = match (listener, self.flooded) {
            (false, _) => 0,
            (true, Some(flooded)) => i64::from(flooded),
            (true, None) => server.get("TcpExt.SyncookiesFailed")?.clamp(0, 1),
        };
        for counted in [
            client.moved_only("Tcp", [("Tcp.InSegs", 2), ("Tcp.OutSegs", 1)]),
            client.moved_only("TcpExt", NOTHING),
            server.moved_only("Tcp", server_moved),
            server.moved_only("TcpExt", [("TcpExt.SyncookiesFailed", cookie)]),
        ] {
            counted.unwrap_or_else(|e| panic!("{half}: {e}"));
        }
        Ok(())
    }
}

/// With every ephemeral port held in TIME_WAIT towards the server, connect() choosing a port
/// fails with EADDRNOTAVAIL and bind() fails with EADDRINUSE, to a port in use or to port 0; and
/// SO_REUSEADDR helps bind() only past a TIME_WAIT socket that had it too.
///
/// The notes say "TIME_WAIT state on client, combined with limited number of ephermeral ports
/// available for TCP connections severely limits the rate at which new connections to the server
/// can be created". Linux confirms it for connect() and bind() alike, each with its own errno:
/// connect() on an unbound socket searches `ip_local_port_range` in `__inet_hash_connect` and
/// fails with EADDRNOTAVAIL when no port has a free 4-tuple; bind() checks the port's bucket in
/// `inet_csk_get_port`, where every TIME_WAIT socket on the port conflicts (`inet_bind_conflict`)
/// and bind() fails with EADDRINUSE; with port 0 `inet_csk_find_open_port` finds no port free of
/// conflicts, and bind() fails with EADDRINUSE too. SO_REUSEADDR lifts the conflict only when
/// both sockets have it (`sk->sk_reuse && sk2->sk_reuse`; a TIME_WAIT socket keeps its socket's
/// `sk_reuse` as `tw_reuse`, `inet_twsk_alloc`): the range's TIME_WAIT sockets came from sockets
/// without it and still refuse bind(). One connection from a socket with SO_REUSEADDR bound to
/// [`OUTSIDE`] leaves a TIME_WAIT socket that a second such socket can bind past; connect()
/// from it to the same server then takes the TIME_WAIT socket over although `tcp_tw_reuse = 0`:
/// `tcp_twsk_unique` asks `tcp_tw_reuse` only of a port connect() chose (`!twp ||`); for a port
/// bound by the user it asks only that the old connection used timestamps, and starts the new
/// one's sequence numbers at the old `snd_nxt` + 65535 + 2 (counted as `TWRecycled`).
pub static BIND_INTO_EXHAUSTED_RANGE: Def = Def::new(
    "time_wait::bind_into_exhausted_range",
    "ports held in TIME_WAIT: connect() fails with EADDRNOTAVAIL, bind() with EADDRINUSE; SO_REUSEADDR on both sockets lets bind() and connect() take one over",
    body!(bind_into_exhausted_range),
).shows(&[
    Finding::qualifies(
        &claims::TW_LIMITS_RATE,
        "bind() too (EADDRINUSE); SO_REUSEADDR on both sockets lets a bound connect() take a TIME_WAIT socket over",
    ),
])
.expected(Duration::from_millis(500));

/// The port outside [`SMALL_RANGE`] that [`BIND_INTO_EXHAUSTED_RANGE`] binds to with
/// SO_REUSEADDR.
const OUTSIDE: u16 = 41100;

/// How far after the old connection's `snd_nxt` a connection that takes over its TIME_WAIT
/// socket starts (`tcp_twsk_unique`: its initial sequence number is `tw_snd_nxt + 65535 + 2`).
const TAKEOVER_SEQ_GAP: u32 = 65535 + 2;

/// The bind() calls that fail with EADDRINUSE in [`BIND_INTO_EXHAUSTED_RANGE`]: the port, whether
/// the socket has SO_REUSEADDR, and what the call is.
const REFUSED_BINDS: [(u16, bool, &str); 5] = [
    (0, false, "bind() choosing a port"),
    (0, true, "bind() choosing a port, with SO_REUSEADDR"),
    (SMALL_RANGE.low, false, "bind() to a port in TIME_WAIT"),
    (
        SMALL_RANGE.low,
        true,
        "bind() with SO_REUSEADDR past a TIME_WAIT socket without it",
    ),
    (
        OUTSIDE,
        false,
        "bind() without SO_REUSEADDR past a TIME_WAIT socket with it",
    ),
];

async fn bind_into_exhausted_range(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (client, family) = (net.host("client")?, case.family());
    client.set(sysctl::IP_LOCAL_PORT_RANGE, SMALL_RANGE).await?;
    client.set(sysctl::TCP_TIMESTAMPS, 1).await?; // tcp_twsk_unique needs them for a takeover
    keep_time_wait(client).await?;
    client.set_tw_reuse(0, REUSE_DELAY).await?; // no reuse for connect() choosing a port
    let to = net.socket_addr("server", family, PORT)?;
    let _server = net.host("server")?.serve(to).await?;
    let bind = async |port, reuse| client.bind(at(&net, family, port)?, with(reuse)).await;
    let watch = net.watch(&["client", "server"]).await?;

    // The first TIME_WAIT socket comes from a socket with SO_REUSEADDR, bound outside the range.
    let old = bind(OUTSIDE, true).await?.expect("bind() to a free port");
    assert_eq!(old.connect(to).await?, Ok(()), "connect() from {old:?}");
    old.close_first().await?;
    let old_seq = old.sequence_numbers()?; // as its TIME_WAIT socket copied them
    // Closed, as a program would: the CLOSE socket keeps its port (SOCK_BINDPORT_LOCK), and
    // leaving TCP_REPAIR cleared its SO_REUSEADDR (SK_NO_REUSE), which would refuse bind().
    old.close(Close::Now).await?;
    let used = client.use_up_ports(to, SMALL_RANGE.len() as usize).await?;
    let (range, held) = (SMALL_RANGE.ports(), &used.held);
    assert_eq!(used.closed.len(), range.len(), "one connection per port");
    let ports = Vec::from_iter(range.chain([OUTSIDE]));
    assert_eq!(held.local_ports(), ports, "{held}");
    assert_eq!(held.count(TimeWait), ports.len(), "{held}");

    let (refused, what) = (client.connect(to).await?.err(), "connect() choosing a port");
    assert_eq!(refused, Some(Errno::EADDRNOTAVAIL), "{what}");
    for (port, reuse, what) in REFUSED_BINDS {
        let refused = bind(port, reuse).await?.err();
        assert_eq!(refused, Some(Errno::EADDRINUSE), "{what}");
    }
    // Both with SO_REUSEADDR: bind() passes, and connect() takes the TIME_WAIT socket over.
    let new = bind(OUTSIDE, true).await?.expect("SO_REUSEADDR on both");
    assert_eq!(new.connect(to).await?, Ok(()), "connect() from {new:?}");
    let new_seq = new.sequence_numbers()?;
    let gap = new_seq.snd_nxt.wrapping_sub(1 + old_seq.snd_nxt); // its SYN took one
    case.figure("takeover_seq_gap", &[f64::from(gap)], "octets");
    assert_eq!(gap, TAKEOVER_SEQ_GAP, "tcp_twsk_unique");
    new.close_first().await?;
    let after = client.sockets_matching(to_port(PORT)).await?;
    assert_eq!(after.local_ports(), ports, "the same ports again: {after}");
    assert_eq!(after.count(TimeWait), ports.len(), "{after}");

    let seen = watch.stop().await?;
    let opens = ports.len() as i64 + 1;
    let client_moved = [("TcpExt.TWRecycled", 1), ("Tcp.ActiveOpens", opens)];
    seen.counters("client")?.moved(client_moved)?;
    let server_moved = [("Tcp.PassiveOpens", opens)];
    seen.counters("server")?.moved(server_moved)?;
    let expected = expectation("time_wait_bind_into_exhausted_range.expect", &())?;
    seen.check_on(&net, "client", &expected)
}

/// Socket options with SO_REUSEADDR on or off.
fn with(reuse_address: bool) -> Options {
    Options {
        reuse_address,
        ..Options::new()
    }
}

/// The client's address in `family` with `port`.
fn at(net: &Topology, family: netcase::Family, port: u16) -> Result<SocketAddr> {
    net.socket_addr("client", family, port)
}
