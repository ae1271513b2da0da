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
    sync::Arc,
    time::{Duration, SystemTime},
};

use netcase::{
    Result, Topology, body,
    capture::Zero,
    case::{Case, Def},
    decode::{Flags, Segment, segments},
    impair::{Feature, Packets, Which},
    network::{Close, Options},
    observe::{self, Filter, Seen, Socket, TcpInfo, TcpState, TimerKind},
    rules::{self, Sends},
};
use nix::errno::Errno;

use netcase::claims::Finding;

use crate::claims;
use crate::common::{SCHEDULING, WAKEUP, at, expectation, ms};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[
    &ANSWERED,
    &UNANSWERED,
    &SYSCTLS,
    &USER_TIMEOUT,
    &PEER_LOST_STATE_DATA,
    &PEER_LOST_STATE_PROBE,
    &DATA_IN_FLIGHT,
];

/// The port the server listens on.
const PORT: u16 = 7400;

/// One second, the shortest keepalive timer (`TCP_KEEPIDLE`, `TCP_KEEPINTVL` count whole seconds).
const ONE: Duration = Duration::from_secs(1);

/// Probes answered by a peer that is there.
pub static ANSWERED: Def = Def::new(
    "keepalive::probes_answered",
    "keepalive probes are ACKs at snd_una-1 with no data, answered at once, and sent every TCP_KEEPIDLE while answered",
    body!(answered),
).shows(&[
    Finding::qualifies(
        &claims::KA_PROBE,
        "no data, ACK flag, at snd_una - 1 so that the peer must answer",
    ),
])
.expected(Duration::from_secs(5));

/// Probes that vanish, with the socket options.
pub static UNANSWERED: Def = Def::new(
    "keepalive::unanswered_probes_time_out",
    "TCP_KEEPIDLE=1, INTVL=1, CNT=3, probes dropped: 3 probes, a RST at 4 s, read() fails with ETIMEDOUT",
    body!(
        unanswered,
        Unanswered {
            options: Options::new().keepalive(ONE, ONE, 3),
            sysctls: None,
            file: "keepalive_unanswered.expect",
        }
    ),
).shows(&[
    Finding::confirms(&claims::KA_DETECTS),
])
.needs(&[Feature::Bpf])
.expected(Duration::from_secs(5));

/// Probes that vanish, with the host's sysctls shortened instead.
pub static SYSCTLS: Def = Def::new(
    "keepalive::sysctl_defaults_time_out",
    "tcp_keepalive_time=1, intvl=1, probes=2 on the host, only SO_KEEPALIVE on the socket: 2 probes, RST and ETIMEDOUT at 3 s",
    body!(
        unanswered,
        Unanswered {
            options: Options::new().keepalive_by_sysctls(),
            sysctls: Some((ONE, ONE, 2)),
            file: "keepalive_sysctls.expect",
        }
    ),
).shows(&[
    Finding::confirms(&claims::KA_DETECTS),
])
.needs(&[Feature::Bpf])
.expected(Duration::from_secs(4));

/// TCP_USER_TIMEOUT replaces the probe count.
pub static USER_TIMEOUT: Def = Def::new(
    "keepalive::user_timeout_replaces_keepcnt",
    "TCP_USER_TIMEOUT=2.5 s with TCP_KEEPCNT=10: the first keepalive firing past 2.5 s (3 s) resets, after 2 probes",
    body!(
        unanswered,
        Unanswered {
            options: Options::new()
                .keepalive(ONE, ONE, 10)
                .user_timeout(Duration::from_millis(2500)),
            sysctls: None,
            file: "keepalive_unanswered.expect",
        }
    ),
).shows(&[
    Finding::qualifies(
        &claims::KA_DETECTS,
        "with TCP_USER_TIMEOUT the first probe firing past the timeout ends it, whatever TCP_KEEPCNT",
    ),
])
.needs(&[Feature::Bpf])
.expected(Duration::from_secs(4));

/// The notes' scenario, the survivor sending data.
pub static PEER_LOST_STATE_DATA: Def = Def::new(
    "keepalive::peer_lost_state_then_data",
    "the peer forgets the connection while the path is down; data sent after the path is back draws a RST: ECONNRESET, then EOF, then EPIPE",
    body!(
        peer_lost_state,
        Survivor {
            options: Options::new(),
            data: Some(b"hello"),
            file: "keepalive_peer_lost_data.expect",
        }
    ),
).shows(&[
    Finding::confirms(&claims::KA_RST_ON_DATA),
])
.needs(&[Feature::Bpf])
.expected(Duration::from_millis(500));

/// The notes' scenario, the survivor only probing.
pub static PEER_LOST_STATE_PROBE: Def = Def::new(
    "keepalive::peer_lost_state_then_probe",
    "the same with keepalive and no data: the first probe after the path is back draws a RST, and read() fails with ECONNRESET, not ETIMEDOUT",
    body!(
        peer_lost_state,
        Survivor {
            options: Options::new().keepalive(ONE, ONE, 5),
            data: None,
            file: "keepalive_peer_lost_probe.expect",
        }
    ),
).shows(&[
    Finding::qualifies(
        &claims::KA_DETECTS,
        "when the peer is back without the connection, the first probe draws a RST: ECONNRESET, not ETIMEDOUT",
    ),
])
.needs(&[Feature::Bpf])
.expected(Duration::from_secs(3));

/// Where an unanswered case takes its keepalive settings from, and what it expects on the wire.
struct Unanswered {
    /// The client socket's options: SO_KEEPALIVE, and `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
    /// `TCP_KEEPCNT`, `TCP_USER_TIMEOUT` where the case sets them.
    options: Options,
    /// The host's `tcp_keepalive_time`, `tcp_keepalive_intvl` (whole seconds) and
    /// `tcp_keepalive_probes`, if the case sets them ([`netcase::Host::set_keepalive_defaults`]).
    sysctls: Option<(Duration, Duration, u32)>,
    /// The expectation file.
    file: &'static str,
}

/// The survivor of the notes' scenario: how its socket is set, and what it does once the path is
/// back.
struct Survivor {
    /// Its socket's options: none, or keepalive with TCP_KEEPIDLE=1, TCP_KEEPINTVL=1,
    /// TCP_KEEPCNT=5.
    options: Options,
    /// What it sends once the path is back, if anything (then only a probe can find out).
    data: Option<&'static [u8]>,
    /// The expectation file.
    file: &'static str,
}

/// The client's keepalive probes in `seen`'s capture, in milliseconds from the first SYN: ACKs
/// alone, no data, one before what the client has sent (relative 0 on a connection that sent
/// nothing).
fn probe_times(net: &Topology, seen: &Seen) -> Result<Vec<f64>> {
    let packets = seen.recorded.on("client")?.packets(net, Zero::FirstSyn);
    let probe =
        |s: &&Segment| s.from == "client" && s.flags == Flags::ACK && s.len == 0 && s.rel_seq == 0;
    Ok(segments(&packets)
        .filter(probe)
        .map(|s| ms(at(s)))
        .collect())
}

/// How long before `until` the client's capture in `seen` saw the server's SYN-ACK.
fn since_syn_ack(net: &Topology, seen: &Seen, until: SystemTime) -> Result<Duration> {
    let packets = seen.recorded.on("client")?.packets(net, Zero::At(until));
    let syn_ack = segments(&packets).find(|s| s.flags == Flags::SYN | Flags::ACK);
    let at_ns = syn_ack.expect("the SYN-ACK in the client's capture").at_ns;
    Ok(Duration::from_nanos(at_ns.unsigned_abs()))
}

/// In the client's capture in `seen`: when the server's last RST without ACK (a reset from a
/// kernel that knows no such connection) came, from the first SYN, and how long after the
/// client's last segment before it, which drew it.
fn reset_times(net: &Topology, seen: &Seen) -> Result<(Duration, Duration)> {
    let packets = seen.recorded.on("client")?.packets(net, Zero::FirstSyn);
    let all: Vec<&Segment> = segments(&packets).collect();
    let from_server = |s: &&Segment| s.from == "server" && s.flags == Flags::RST;
    let reset = all.iter().rposition(from_server).expect("the server's RST");
    let drew = all[..reset].iter().rfind(|s| s.from == "client");
    let drew = drew.expect("what drew the RST");
    Ok((at(all[reset]), at(all[reset]) - at(drew)))
}

async fn answered(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (idle, interval, count) = (2 * ONE, ONE, 3);
    let (client, kernel) = (net.host("client")?, netcase::kernel()?);
    let watch = net.watch(&["client"]).await?;
    let options = Options::new().keepalive(idle, interval, count);
    let conn = net.connect_with("client", "server", case.family(), PORT, options);
    let conn = conn.await?;
    let ka = observe::keepalive(&conn.client)?;
    assert_eq!(
        (ka.enabled, ka.idle, ka.interval, ka.count),
        (true, idle, interval, count)
    );

    // Two probes, each answered: the kernel counts each probe it sends.
    let late = rules::late_by_at_most(idle, kernel.hz.value, SCHEDULING);
    let within = idle * 2 + late * 4 + kernel.emulation() * 2;
    let before = watch.before("client")?;
    let sent = client
        .wait_for_counter(before, "TcpExt.TCPKeepAlive", 2, within)
        .await?;
    // The second answer: the client's socket has no probe out and heard from its peer since the
    // second probe went out, which was after `sent.earliest()` (last_ack_recv counts whole
    // milliseconds of jiffies: one jiffy of slack). Not "just now": the counters may be read a
    // few hundred milliseconds after the probe on a loaded machine.
    let (second_probe_after, jiffy) = (sent.earliest(), kernel.jiffy());
    let heard =
        |i: &TcpInfo| i.probes == 0 && i.last_ack_recv <= second_probe_after.elapsed() + jiffy;
    let what = "the second probe answered";
    let answer = conn
        .client
        .wait_for_info(what, Duration::from_millis(500), heard);
    assert_eq!(answer.await?.value.state, TcpState::Established);
    let table = client.sockets_matching(Filter::all().port(PORT)).await?;
    let socket = table.find(conn.client.local()?, conn.client.peer()?)?;
    let timer = socket.timer.map(|t| t.kind);
    assert_eq!(
        timer,
        Some(TimerKind::Keepalive),
        "a keepalive timer runs: {socket}"
    );
    assert_eq!(socket.retransmits, 0, "answered: no probe out; {socket}");

    let seen = watch.stop().await?;
    let expected = expectation("keepalive_answered.expect", &ka.vars())?;
    seen.check_on(&net, "client", &expected)?;
    case.measure("probe_times_ms", &probe_times(&net, &seen)?, "ms");
    let moved = [("TcpExt.TCPKeepAlive", 2), ("TcpExt.TCPAbortOnTimeout", 0)];
    seen.counters("client")?.moved(moved)
}

async fn unanswered(case: Arc<Case>, net: Arc<Topology>, set: Unanswered) -> Result<()> {
    let (client, kernel) = (net.host("client")?, netcase::kernel()?);
    if let Some((idle, interval, count)) = set.sysctls {
        client.set_keepalive_defaults(idle, interval, count).await?;
    }
    let drops = net.impair("client", "server").await?;
    let watch = net.watch(&["client"]).await?;
    let conn = net.connect_with("client", "server", case.family(), PORT, set.options.clone());
    let conn = conn.await?;
    let (local, remote) = (conn.client.local()?, conn.client.peer()?);
    // What the socket reports: its own options, or the host's sysctls where it set none.
    let ka = observe::keepalive(&conn.client)?;
    let why = "a socket reports its keepalive options, else the host's tcp_keepalive_* sysctls";
    assert_eq!(ka, client.keepalive_for(&set.options).await?, "{why}");
    let rule = ka.schedule();
    case.note(format!("{ka}: the rule says {rule}"));
    // From now on every segment to the server vanishes at its ingress.
    drops.drop(Packets::tcp(), Which::All)?;

    // While it probes: the keepalive timer runs and sock_diag counts the probes out.
    let (between, what) = (Filter::between(local, remote), "the first probe counted");
    let probing =
        client.wait_for_socket(between.clone(), what, rule.gives_up, |s| s.retransmits >= 1);
    let (failure, probing) = futures::join!(conn.client.read_failure(), probing);
    let socket = probing?.value;
    let state = (socket.state, socket.timer.map(|t| t.kind));
    let probing = (TcpState::Established, Some(TimerKind::Keepalive));
    assert_eq!(state, probing, "{socket}");
    let (failure, seen) = (failure?, watch.stop().await?);
    // The error is reported once; the connection is then closed: end of file, and writes fail.
    failure.assert_reported_once(Errno::ETIMEDOUT);

    // From the SYN-ACK (the last segment received: its processing armed the keepalive timer in
    // `tcp_finish_connect`), by the capture's clock, to read()'s return. Not from connect()'s
    // return: under load that thread woke up to 125 ms late, and it seemed to give up early.
    let gave_up = since_syn_ack(&net, &seen, failure.at)?;
    case.measure("etimedout_after_ms", &[ms(gave_up)], "ms");
    // A chain of timers (Kernel::chain_slack): early by at most a jiffy (only the first is armed
    // between ticks, the others are re-armed as a tick runs them); late by each timer's wheel
    // granularity, a jiffy and scheduling, and by the reader's wake-up. Emulation adds to both.
    kernel.assert_chain(&rule.timers(), gave_up, WAKEUP, "read(): ETIMEDOUT");

    // The probes and the RST on the wire: the files name the socket's timers, or the host's.
    let mut vars = client.settings().await?;
    vars.extend(ka.vars());
    seen.check_on(&net, "client", &expectation(set.file, &vars)?)?;
    let probe_times = probe_times(&net, &seen)?;
    case.measure("probe_times_ms", &probe_times, "ms");
    assert_eq!(probe_times.len(), rule.probes.len(), "{probe_times:?}");
    let (counts, probes_and_rst) = (drops.counts()?, rule.probes.len() as u64 + 1);
    assert_eq!(counts.dropped, probes_and_rst, "all dropped: {counts:?}");
    // One RST, the one it sends when it gives up.
    seen.counters("client")?.moved(rule.counters())?;
    let left = client.sockets_matching(between).await?;
    assert!(left.is_empty(), "the connection is gone: {left:?}");
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
    let keepalive = survivor.options.keepalive.is_some();
    let to_server = net.impair("client", "server").await?;
    let to_client = net.impair("server", "client").await?;
    let watch = net.watch(&["client"]).await?;
    let conn = net.connect_with("client", "server", case.family(), PORT, survivor.options);
    let conn = conn.await?;
    let (local, remote) = (conn.client.local()?, conn.client.peer()?);

    // The path goes down; the server's host forgets the connection.
    to_server.drop(Packets::tcp(), Which::All)?;
    to_client.drop(Packets::tcp(), Which::All)?;
    conn.server.close(Close::Abort).await?;
    conn.listener.close().await?;
    let left = server.sockets_matching(Filter::all().port(PORT)).await?;
    let forgot = left.is_empty();
    assert!(
        forgot,
        "the server must keep nothing of the connection: {left:?}"
    );
    to_client.wait_for_dropped(1, ONE).await?;
    let table = client.sockets_matching(Filter::all().port(PORT)).await?;
    let socket = *table.find(local, remote)?;
    // The client never heard of it. Without keepalive nothing runs: the connection would stay
    // ESTABLISHED for ever.
    let timer = keepalive.then_some(TimerKind::Keepalive);
    let state = (socket.state, socket.timer.map(|t| t.kind));
    assert_eq!(state, (TcpState::Established, timer), "{socket}");
    if keepalive {
        // Let one probe vanish before the path comes back.
        to_server.wait_for_dropped(1, 3 * ONE).await?;
    }
    to_server.clear()?;
    to_client.clear()?;
    if let Some(data) = survivor.data {
        let sent = conn.client.write(data).await?;
        assert_eq!(
            sent,
            Ok(data.len()),
            "the write that meets the dead connection"
        );
    }
    // The RST resets the client's connection.
    let closed = conn.client.wait_for_state(TcpState::Close, 3 * ONE).await?;
    assert!(closed.elapsed < 3 * ONE);
    let failure = conn.client.read_failure().await?;
    let seen = watch.stop().await?;
    failure.assert_reported_once(Errno::ECONNRESET);
    seen.check_on(&net, "client", &expectation(survivor.file, &())?)?;

    // When the RST came, from the first SYN, and how long after what drew it.
    let (reset_at, drawn_after) = reset_times(&net, &seen)?;
    case.measure("reset_at_ms", &[ms(reset_at)], "ms");
    case.measure("reset_after_trigger_ms", &[ms(drawn_after)], "ms");
    // A reset, not a timeout.
    let moved = [("EstabResets", 1), ("InErrs", 0), ("TCPAbortOnTimeout", 0)];
    seen.counters("client")?.moved(moved)?;
    let left = client.sockets_matching(Filter::all().port(PORT)).await?;
    assert!(left.get(local, remote).is_none(), "{left:?}");
    Ok(())
}

/// TCP_USER_TIMEOUT with data the peer never acknowledges, not an idle connection.
///
/// The notes say nothing of TCP_USER_TIMEOUT; tcp(7) says it "specifies the maximum amount of
/// time in milliseconds that transmitted data may remain unacknowledged [...] before TCP will
/// forcibly close the corresponding connection and return ETIMEDOUT". Linux refutes the "transmitted"
/// part: it counts the timeout from `retrans_stamp`, which `tcp_retransmit_skb` sets at the first
/// retransmission by the RTO timer (net/ipv4/tcp_output.c), not from the first send, and the tail
/// loss probe before it (`tcp_send_loss_probe`, `net.ipv4.tcp_early_retrans`) does not set it. So the
/// data stays unacknowledged for the probe timeout, one RTO, then TCP_USER_TIMEOUT: about 1.9 s for a
/// 1.5 s timeout on veth. In between the RTO doubles from the connection's (`tcp_retransmit_timer`);
/// `tcp_clamp_rto_to_user_timeout` (net/ipv4/tcp_timer.c, since 4.19: on 6.1, 6.12 and 6.18) cuts
/// the last timer short so that `tcp_write_timeout` (`retransmits_timed_out`) gives up at the
/// timeout itself. Giving up (`tcp_write_err`) sends nothing, no RST, and the socket's error is
/// ETIMEDOUT.
pub static DATA_IN_FLIGHT: Def = Def::new(
    "keepalive::user_timeout_with_data_in_flight",
    "TCP_USER_TIMEOUT=1.5 s, 5 octets dropped: a loss probe, RTOs doubling, ETIMEDOUT 1.5 s after the first RTO retransmission, no RST",
    body!(data_in_flight),
)
.needs(&[Feature::Bpf])
.expected(Duration::from_secs(2));

/// The gaps between a lone segment's sends when nothing is acknowledged: the tail loss probe
/// 2 srtt + TCP_RTO_MIN after the send (one segment out), or at the RTO if sooner
/// (`tcp_schedule_loss_probe`); `rto` later the RTO timer's first retransmission (which sets
/// `retrans_stamp`); then doubling while the next would come before `retrans_stamp +
/// user_timeout`. The firing that gives up is not in it (`tcp_clamp_rto_to_user_timeout`).
fn data_gaps(info: &TcpInfo, user_timeout: Duration) -> Vec<Duration> {
    let (rto, mut since) = (info.rto, Duration::ZERO);
    let mut gaps = vec![(info.rtt * 2 + rules::TCP_RTO_MIN).min(rto), rto];
    while since + rto * (1 << (gaps.len() - 1)) < user_timeout {
        since += rto * (1 << (gaps.len() - 1));
        gaps.push(rto * (1 << (gaps.len() - 1)));
    }
    gaps
}

/// Asserts that read() failed (at `failed`) `user_timeout` after the third of `data` (the first
/// retransmission by the RTO timer: `retrans_stamp`). The last timer is clamped to what is left,
/// so not early by more than a jiffy; late by that timer's slack and read()'s wake-up.
fn assert_gave_up(
    case: &Case,
    net: &Topology,
    (seen, data): (&Seen, &Sends),
    user_timeout: Duration,
    failed: SystemTime,
) -> Result<()> {
    let kernel = netcase::kernel()?;
    let captured = seen.recorded.on("client")?;
    let until_read = captured.sent(net, Zero::At(failed), Packets::data());
    let after = Duration::from_nanos(until_read[2].at_ns.unsigned_abs());
    let last = data.at[data.at.len() - 1] - data.at[2];
    let mut slack = kernel.timer_slack(user_timeout - last);
    slack.late += WAKEUP;
    case.measure("etimedout_after_first_rto_ms", &[ms(after)], "ms");
    let says = slack.describe(user_timeout);
    assert!(slack.admits(user_timeout, after), "{after:?}, not {says}");
    Ok(())
}

async fn data_in_flight(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (user_timeout, kernel) = (Duration::from_millis(1500), netcase::kernel()?);
    let client = net.host("client")?;
    let drops = net.impair("client", "server").await?;
    let watch = net.watch(&["client"]).await?;
    let options = Options::new().user_timeout(user_timeout);
    let conn = net.connect_with("client", "server", case.family(), PORT, options);
    let conn = conn.await?;
    let between = Filter::between(conn.client.local()?, conn.client.peer()?);
    let gaps = data_gaps(&conn.client.info()?, user_timeout);
    drops.drop(Packets::tcp(), Which::All)?;
    assert_eq!(conn.client.write(b"hello").await?, Ok(5), "buffered");

    // While it retransmits: ESTABLISHED, the retransmission timer running.
    let what = "the first retransmission by the RTO timer";
    let resent = |s: &Socket| s.retransmits >= 1;
    let resent = client.wait_for_socket(between.clone(), what, user_timeout, resent);
    let (failure, resent) = futures::join!(conn.client.read_failure(), resent);
    let socket = resent?.value;
    let state = (socket.state, socket.timer.map(|t| t.kind));
    let retransmitting = (TcpState::Established, Some(TimerKind::Retransmit));
    assert_eq!(state, retransmitting, "{socket}");
    let (failure, seen) = (failure?, watch.stop().await?);
    failure.assert_reported_once(Errno::ETIMEDOUT);

    // The sends: the data, the probe, the RTO's; each gap within both edges of its slack.
    let captured = seen.recorded.on("client")?;
    let data = captured.sends(&net, Zero::FirstSyn, Packets::data());
    data.measure(&case, "data");
    assert_eq!(data.len(), gaps.len() + 1, "{data}; the rule says {gaps:?}");
    kernel.assert_timeouts(&gaps, &data.gaps(), Duration::ZERO, &data.to_string());
    assert_gave_up(&case, &net, (&seen, &data), user_timeout, failure.at)?;

    let (resends, pto) = (
        (data.len() - 1).to_string(),
        ms(gaps[0]).round().to_string(),
    );
    let vars = [("resends", resends.as_str()), ("pto", pto.as_str())];
    let expected = expectation("keepalive_data_in_flight.expect", &vars)?;
    seen.check_on(&net, "client", &expected)?;
    // Each resend counted, each RTO firing a timeout (the one giving up too); no RST.
    let n = data.len() as i64 - 1;
    seen.counters("client")?.moved([
        ("TcpExt.TCPLossProbes", 1),
        ("Tcp.RetransSegs", n),
        ("TcpExt.TCPTimeouts", n),
        ("TcpExt.TCPAbortOnTimeout", 1),
        ("Tcp.EstabResets", 1),
        ("Tcp.OutRsts", 0),
    ])?;
    let left = client.sockets_matching(between).await?;
    assert!(left.is_empty(), "the connection is gone: {left:?}");
    Ok(())
}
