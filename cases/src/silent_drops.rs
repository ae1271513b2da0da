//! Silent drops versus refusal: what connect() sees when nobody listens on the port (the peer's
//! kernel refuses at once), and when its SYNs vanish on the path (the client retransmits on a
//! schedule, then gives up).
//!
//! The schedule is [`netcase::rules::syn_schedule`]: the retransmission timer starts at
//! `TCP_TIMEOUT_INIT` (1 s); it stays there for the first `tcp_syn_linear_timeouts + 1` gaps
//! (kernels 6.5 and later; the sysctl defaults to 4), then doubles; connect() fails with
//! ETIMEDOUT at the first firing where the retransmissions reach `tcp_syn_retries +
//! tcp_syn_linear_timeouts`, or where the time since the first SYN reaches what `tcp_syn_retries`
//! exponential backoffs would take (`tcp_model_timeout`). The classic description ("the timeout
//! doubles; after tcp_syn_retries retransmissions connect() fails") holds only with
//! `tcp_syn_linear_timeouts = 0`: with linear timeouts the kernel sends more SYNs in the same
//! time budget.
//!
//! The drops are made by the impairment layer at the server's ingress, for SYNs only
//! (`Packets::syn()`), so that neighbour discovery still works and the client's own sends never
//! fail (a drop on its egress would give it ENOBUFS).

use std::{sync::Arc, time::Duration};

use netcase::{
    Host, Result, Topology, body,
    capture::Zero,
    case::{Case, Def},
    decode::Flags,
    impair::{Feature, Packets, Which},
    network::Options,
    observe::{Filter, Socket, TcpState, TimerKind},
    rules::SynSchedule,
    sysctl,
};
use nix::errno::Errno;

use crate::common::{WAKEUP, expectation, ms};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[
    &REFUSED,
    &SYN_RETRIES_1,
    &SYN_RETRIES_2,
    &SYN_RETRIES_3,
    &LINEAR_2,
    &SYNCNT_DEFAULT_LINEAR,
    &DEFAULT_SCHEDULE,
];

/// `TCP_SYN_RETRIES` (include/net/tcp.h): `tcp_syn_retries` in a fresh namespace.
const TCP_SYN_RETRIES: u8 = 6;

/// The port the server listens on, or does not.
const PORT: u16 = 7300;

/// A connect() to a port nobody listens on.
///
/// No claim of the notes covers it; it is the contrast to the silent drops below: the server's
/// kernel answers the SYN with a RST that acknowledges it, and connect() fails with ECONNREFUSED
/// within one round trip, with no retransmission and no timer.
pub static REFUSED: Def = Def::new(
    "silent_drops::refused_at_once",
    "a SYN to a closed port is answered by RST: ECONNREFUSED in one round trip, no retransmission",
    body!(refused),
)
.expected(Duration::from_millis(300));

/// `tcp_syn_retries = 1`, no linear timeouts: SYNs at 0 and 1 s, ETIMEDOUT at 3 s.
pub static SYN_RETRIES_1: Def = Def::new(
    "silent_drops::syn_retries_1_exponential",
    "tcp_syn_retries=1, tcp_syn_linear_timeouts=0: 2 SYNs (0, 1 s), ETIMEDOUT at 3 s",
    body!(syn_case, Setting::sysctls(1, 0)),
)
.needs(&[Feature::Bpf])
.expected(Duration::from_secs(4));

/// `tcp_syn_retries = 2`, no linear timeouts: SYNs at 0, 1, 3 s, ETIMEDOUT at 7 s.
pub static SYN_RETRIES_2: Def = Def::new(
    "silent_drops::syn_retries_2_exponential",
    "tcp_syn_retries=2, tcp_syn_linear_timeouts=0: 3 SYNs (0, 1, 3 s), ETIMEDOUT at 7 s",
    body!(syn_case, Setting::sysctls(2, 0)),
)
.needs(&[Feature::Bpf])
.expected(Duration::from_secs(8));

/// `tcp_syn_retries = 3`, no linear timeouts: SYNs at 0, 1, 3, 7 s, ETIMEDOUT at 15 s (the
/// harness's fixtures/expect/syn_retries.expect describes the same).
pub static SYN_RETRIES_3: Def = Def::new(
    "silent_drops::syn_retries_3_exponential",
    "tcp_syn_retries=3, tcp_syn_linear_timeouts=0: 4 SYNs (0, 1, 3, 7 s), ETIMEDOUT at 15 s",
    body!(syn_case, Setting::sysctls(3, 0)),
)
.needs(&[Feature::Bpf])
.expected(Duration::from_secs(16));

/// `tcp_syn_retries = 2` with `tcp_syn_linear_timeouts = 2`: the first three gaps are 1 s, then
/// the timeout doubles: SYNs at 0, 1, 2, 3, 5 s, ETIMEDOUT at 9 s, where the count (2 + 2
/// retransmissions) and the time budget (7 s) have both run out.
pub static LINEAR_2: Def = Def::new(
    "silent_drops::syn_retries_2_linear_2",
    "tcp_syn_retries=2, tcp_syn_linear_timeouts=2: 5 SYNs (0, 1, 2, 3, 5 s), ETIMEDOUT at 9 s",
    body!(syn_case, Setting::sysctls(2, 2)),
)
.needs(&[
    Feature::Bpf,
    Feature::sysctl(sysctl::TCP_SYN_LINEAR_TIMEOUTS),
])
.expected(Duration::from_secs(10));

/// The socket's `TCP_SYNCNT = 2` replaces `tcp_syn_retries` (left at 6), with the host's default
/// `tcp_syn_linear_timeouts` (4 on 6.5 and later): SYNs at 0, 1, 2, 3, 4, 5 s and ETIMEDOUT at
/// 7 s: the time budget of two exponential retries ends it before the count (2 + 4) does.
pub static SYNCNT_DEFAULT_LINEAR: Def = Def::new(
    "silent_drops::tcp_syncnt_2_default_linear",
    "TCP_SYNCNT=2 over tcp_syn_retries=6, default linear timeouts: 1 s apart, ETIMEDOUT at the 7 s budget",
    body!(
        syn_case,
        Setting {
            syn_retries: Some(6),
            syncnt: Some(2),
            linear: None,
        }
    ),
)
.needs(&[Feature::Bpf])
.expected(Duration::from_secs(8));

/// The kernel's own defaults, untouched: `tcp_syn_retries` = `TCP_SYN_RETRIES` (6) and
/// `tcp_syn_linear_timeouts` at its default (4, from 6.5; none before), as every fresh network
/// namespace has them.
///
/// The notes do not state the schedule; the classic description is "the timeout doubles from
/// 1 s; after tcp_syn_retries retransmissions connect() fails": 7 SYNs over 63 s, ETIMEDOUT at
/// 127 s. That is what 6.1 does. From 6.5 the first four retransmissions come 1 s apart and the
/// budget (`tcp_model_timeout` of 6 exponential retries, 127 s) still ends it: 11 SYNs (0, 1, 2,
/// 3, 4, 5, 7, 11, 19, 35, 67 s) and ETIMEDOUT at 131 s, when the first firing after the budget
/// comes. The long tier: over two minutes.
pub static DEFAULT_SCHEDULE: Def = Def::new(
    "silent_drops::default_syn_schedule",
    "the untouched defaults (tcp_syn_retries=6, default linear timeouts): ETIMEDOUT after about 130 s",
    body!(syn_case, Setting::DEFAULTS),
)
.needs(&[Feature::Bpf])
.expected(Duration::from_secs(132))
.long();

/// One SYN-schedule setting.
#[derive(Debug, Clone, Copy)]
struct Setting {
    /// `net.ipv4.tcp_syn_retries` to set on the client, or `None` for the kernel's default
    /// (`TCP_SYN_RETRIES`, which the case checks it has).
    syn_retries: Option<u8>,
    /// The socket's `TCP_SYNCNT`, which replaces `tcp_syn_retries`, if set.
    syncnt: Option<u8>,
    /// `tcp_syn_linear_timeouts` to set, or `None` for the host's default.
    linear: Option<u8>,
}

impl Setting {
    /// `tcp_syn_retries` and `tcp_syn_linear_timeouts` set, no `TCP_SYNCNT`.
    const fn sysctls(syn_retries: u8, linear: u8) -> Setting {
        Setting {
            syn_retries: Some(syn_retries),
            syncnt: None,
            linear: Some(linear),
        }
    }

    /// Nothing set: the kernel's defaults.
    const DEFAULTS: Setting = Setting {
        syn_retries: None,
        syncnt: None,
        linear: None,
    };
}

async fn refused(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let client = net.host("client")?;
    let addr = net.socket_addr("server", case.family(), PORT)?;
    let expected = expectation("silent_drops_refused.expect", &client.settings().await?)?;

    let watch = net.watch(&["client", "server"]).await?;
    let connected = client.connect_timed(addr, Options::new()).await?;
    let seen = watch.stop().await?;

    let took = connected.took();
    assert_eq!(
        connected.errno(),
        Some(Errno::ECONNREFUSED),
        "a closed port"
    );
    case.measure("refused_after_ms", &[ms(took)], "ms");
    // No timer is involved: the refusal takes one round trip on a veth (microseconds) and a
    // thread wake-up (seen at 280 ms on two loaded cores running every test at once), below
    // TCP_TIMEOUT_INIT, when a retransmission would have gone out. (The capture check below
    // also finds the one SYN and its reset.)
    assert!(
        took < Duration::from_millis(900),
        "ECONNREFUSED took {took:?}: a retransmission (TCP_TIMEOUT_INIT = 1 s) would mean the RST was lost"
    );
    seen.check(&net, &expected)?;

    // Nothing is left of the attempt on either side: SYN_SENT -> CLOSE, no retransmission, and
    // the server's kernel sent one RST.
    let left = client.sockets_matching(Filter::all().port(PORT)).await?;
    assert!(left.is_empty(), "client sockets left: {left:?}");
    seen.counters("client")?.moved([
        ("Tcp.ActiveOpens", 1),
        ("Tcp.AttemptFails", 1),
        ("Tcp.RetransSegs", 0),
        ("TcpExt.TCPTimeouts", 0),
    ])?;
    seen.counters("server")?.moved([("Tcp.OutRsts", 1)])?;
    Ok(())
}

async fn syn_case(case: Arc<Case>, net: Arc<Topology>, setting: Setting) -> Result<()> {
    let (client, kernel) = (net.host("client")?, netcase::kernel()?);
    // The kernel's knobs, set as the case says; the rule they give, stated in the report.
    let rule = set_knobs(&case, client, setting).await?;

    // Someone listens: only the drops keep the connection from being made.
    let addr = net.socket_addr("server", case.family(), PORT)?;
    let _listener = net.host("server")?.listen(addr, 128).await?;
    let drops = net.impair("client", "server").await?;
    drops.drop(Packets::syn(), Which::All)?;
    let watch = net.watch(&["client"]).await?;
    let options = setting
        .syncnt
        .map_or(Options::new(), |n| Options::new().syncnt(n));
    let attempt = client.connect_timed(addr, options);

    // While it waits: one SYN_SENT socket whose retransmission timer runs, never longer than the
    // longest timeout of the schedule.
    let syn_sent = Filter::all().state(TcpState::SynSent).port(PORT);
    let what = "the client's SYN_SENT socket with its first retransmission out";
    let resent = |s: &Socket| s.retransmits >= 1;
    let socket = client.wait_for_socket(syn_sent, what, rule.gives_up, resent);
    let (socket, longest) = (socket.await?.value, rule.longest());
    let t = socket.timer.expect("a SYN_SENT socket has a running timer");
    assert_eq!(t.kind, TimerKind::Retransmit, "{socket}");
    assert!(t.remaining <= longest, "{socket}: timer beyond {longest:?}");

    let (connected, seen) = (attempt.await?, watch.stop().await?);
    assert_eq!(connected.errno(), Some(Errno::ETIMEDOUT), "SYNs dropped");

    // The SYNs as the client sent them, from the connect() call; the last timeout is seen when
    // connect() returns.
    let (zero, syn) = (Zero::At(connected.called), Packets::with(Flags::SYN));
    let syns = seen.recorded.on("client")?.sends(&net, zero, syn);
    let gave_up = connected.took() - syns.first();
    syns.measure(&case, "syn");
    case.measure("etimedout_after_ms", &[ms(gave_up)], "ms");
    assert_eq!(syns.len(), rule.syns(), "SYNs {syns}; {rule}");
    let same = syns.all(|s| s.rel_seq == 0 && s.flags == Flags::SYN);
    assert!(same, "every SYN is the same SYN: {syns:?}");
    // Each timeout is a kernel timer, within both edges of its slack (a jiffy early; its
    // timer-wheel granularity, a jiffy and scheduling late; more under emulation). The last one
    // ends in ETIMEDOUT instead of a SYN, seen when connect() returns: WAKEUP later still.
    syns.assert_timeouts(kernel, &rule.timeouts(), gave_up, WAKEUP, &rule);
    // The same, as an expectation over the capture (times from the first SYN), within the
    // widest edge of any gap's slack.
    seen.check(&net, &rule.expectation("client", "server", kernel))?;

    // Every SYN reached the server's ingress and was dropped there; the client's sends all
    // succeeded (no ENOBUFS): the drop was silent. Each firing of the timer counts in
    // TCPTimeouts, the last one (which gives up) too.
    let counts = drops.counts()?;
    assert_eq!(counts.dropped, rule.syns() as u64, "{counts:?}");
    seen.counters("client")?.moved(rule.counters())?;
    let left = client.sockets_matching(Filter::all().port(PORT)).await?;
    assert!(left.is_empty(), "client sockets left: {left:?}");
    Ok(())
}

/// Sets the client's knobs as `setting` says, then reads back the rule they give
/// ([`netcase::Host::syn_schedule`]: a kernel without tcp_syn_linear_timeouts, before 6.5,
/// behaves as 0, every backoff doubling) and states it in the case's report: a note with the
/// knobs, the schedule in words for a comparison of kernels (with why, where a kernel's own
/// default decided it), and its times as figures the kernel decides.
async fn set_knobs(case: &Case, client: &Host, setting: Setting) -> Result<SynSchedule> {
    let syncnt = setting.syncnt;
    match setting.syn_retries {
        Some(n) => client.set(sysctl::TCP_SYN_RETRIES, n).await?,
        // A fresh namespace starts from the kernel's constant (include/net/tcp.h).
        None => assert_eq!(
            client.get(sysctl::TCP_SYN_RETRIES).await?,
            TCP_SYN_RETRIES,
            "tcp_syn_retries in a fresh namespace"
        ),
    }
    let retries = client.get(sysctl::TCP_SYN_RETRIES).await?;
    if let Some(n) = setting.linear {
        client.set(sysctl::TCP_SYN_LINEAR_TIMEOUTS, n).await?;
    }
    let linear = client.get(sysctl::TCP_SYN_LINEAR_TIMEOUTS).await?;
    let rule = client.syn_schedule(syncnt).await?;
    case.note(format!(
        "tcp_syn_retries={retries}, TCP_SYNCNT={syncnt:?}, tcp_syn_linear_timeouts={linear}: \
         the rule says SYNs at {:?}, ETIMEDOUT at {:?}",
        rule.sends, rule.gives_up
    ));
    let why = if linear > 0 {
        format!(" (a linear phase of {linear} timeouts, then doubling)")
    } else if setting.linear.is_none() && !netcase::kernel()?.has(sysctl::TCP_SYN_LINEAR_TIMEOUTS) {
        " (no linear phase: this kernel has no tcp_syn_linear_timeouts)".to_owned()
    } else {
        String::new()
    };
    case.behaviour("SYN schedule", &format!("{rule}{why}"));
    let in_s = |d: &[Duration]| d.iter().map(Duration::as_secs_f64).collect::<Vec<_>>();
    case.figure("syn_sends_s", &in_s(&rule.sends), "s");
    case.figure("etimedout_s", &in_s(&[rule.gives_up]), "s");
    Ok(rule)
}
