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

use std::{
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use netcase::{
    Result, Topology,
    capture::Zero,
    case::{Case, CaseInfo, Shape},
    decode::{Flags, Segment, segments},
    expect::{Expectation, Line},
    impair::{Feature, Packets, Which},
    observe::{Filter, TcpState, TimerKind, wait_until},
    rules::{self, SynSchedule, TCP_RTO_MAX, TCP_TIMEOUT_INIT},
    sysctl,
};
use socket2::{Domain, Protocol, Socket, Type};

use crate::{
    BOTH, Def,
    common::{SCHEDULING, WAKEUP, at, expectation, ms},
};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[
    &REFUSED,
    &SYN_RETRIES_1,
    &SYN_RETRIES_2,
    &SYN_RETRIES_3,
    &LINEAR_2,
    &SYNCNT_DEFAULT_LINEAR,
];

/// The port the server listens on, or does not.
const PORT: u16 = 7300;

/// A connect() to a port nobody listens on.
///
/// No claim of the notes covers it; it is the contrast to the silent drops below: the server's
/// kernel answers the SYN with a RST that acknowledges it, and connect() fails with ECONNREFUSED
/// within one round trip, with no retransmission and no timer.
pub static REFUSED: Def = Def {
    info: CaseInfo {
        name: "silent_drops::refused_at_once",
        summary: "a SYN to a closed port is answered by RST: ECONNREFUSED in one round trip, no retransmission",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[],
        expected: Duration::from_millis(300),
    },
    body: |case, net| Box::pin(refused(case, net)),
};

/// `tcp_syn_retries = 1`, no linear timeouts: SYNs at 0 and 1 s, ETIMEDOUT at 3 s.
pub static SYN_RETRIES_1: Def = Def {
    info: CaseInfo {
        name: "silent_drops::syn_retries_1_exponential",
        summary: "tcp_syn_retries=1, tcp_syn_linear_timeouts=0: 2 SYNs (0, 1 s), ETIMEDOUT at 3 s",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_secs(4),
    },
    body: |case, net| {
        Box::pin(syn_case(
            case,
            net,
            Setting {
                retries: Retries::Sysctl(1),
                linear: Some(0),
            },
        ))
    },
};

/// `tcp_syn_retries = 2`, no linear timeouts: SYNs at 0, 1, 3 s, ETIMEDOUT at 7 s.
pub static SYN_RETRIES_2: Def = Def {
    info: CaseInfo {
        name: "silent_drops::syn_retries_2_exponential",
        summary: "tcp_syn_retries=2, tcp_syn_linear_timeouts=0: 3 SYNs (0, 1, 3 s), ETIMEDOUT at 7 s",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_secs(8),
    },
    body: |case, net| {
        Box::pin(syn_case(
            case,
            net,
            Setting {
                retries: Retries::Sysctl(2),
                linear: Some(0),
            },
        ))
    },
};

/// `tcp_syn_retries = 3`, no linear timeouts: SYNs at 0, 1, 3, 7 s, ETIMEDOUT at 15 s (the
/// harness's fixtures/expect/syn_retries.expect describes the same).
pub static SYN_RETRIES_3: Def = Def {
    info: CaseInfo {
        name: "silent_drops::syn_retries_3_exponential",
        summary: "tcp_syn_retries=3, tcp_syn_linear_timeouts=0: 4 SYNs (0, 1, 3, 7 s), ETIMEDOUT at 15 s",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_secs(16),
    },
    body: |case, net| {
        Box::pin(syn_case(
            case,
            net,
            Setting {
                retries: Retries::Sysctl(3),
                linear: Some(0),
            },
        ))
    },
};

/// `tcp_syn_retries = 2` with `tcp_syn_linear_timeouts = 2`: the first three gaps are 1 s, then
/// the timeout doubles: SYNs at 0, 1, 2, 3, 5 s, ETIMEDOUT at 9 s, where the count (2 + 2
/// retransmissions) and the time budget (7 s) have both run out.
pub static LINEAR_2: Def = Def {
    info: CaseInfo {
        name: "silent_drops::syn_retries_2_linear_2",
        summary: "tcp_syn_retries=2, tcp_syn_linear_timeouts=2: 5 SYNs (0, 1, 2, 3, 5 s), ETIMEDOUT at 9 s",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[
            Feature::Bpf,
            Feature::sysctl(sysctl::TCP_SYN_LINEAR_TIMEOUTS),
        ],
        expected: Duration::from_secs(10),
    },
    body: |case, net| {
        Box::pin(syn_case(
            case,
            net,
            Setting {
                retries: Retries::Sysctl(2),
                linear: Some(2),
            },
        ))
    },
};

/// The socket's `TCP_SYNCNT = 2` replaces `tcp_syn_retries` (left at 6), with the host's default
/// `tcp_syn_linear_timeouts` (4 on 6.5 and later): SYNs at 0, 1, 2, 3, 4, 5 s and ETIMEDOUT at
/// 7 s: the time budget of two exponential retries ends it before the count (2 + 4) does.
pub static SYNCNT_DEFAULT_LINEAR: Def = Def {
    info: CaseInfo {
        name: "silent_drops::tcp_syncnt_2_default_linear",
        summary: "TCP_SYNCNT=2 over tcp_syn_retries=6, default linear timeouts: 1 s apart, ETIMEDOUT at the 7 s budget",
        shape: Shape::Pair,
        families: BOTH,
        needs: &[Feature::Bpf],
        expected: Duration::from_secs(8),
    },
    body: |case, net| {
        Box::pin(syn_case(
            case,
            net,
            Setting {
                retries: Retries::Socket {
                    syncnt: 2,
                    sysctl: 6,
                },
                linear: None,
            },
        ))
    },
};

/// Where the retry count comes from.
#[derive(Debug, Clone, Copy)]
enum Retries {
    /// `net.ipv4.tcp_syn_retries` on the client.
    Sysctl(u8),
    /// The socket's `TCP_SYNCNT`, with the sysctl set to another value it must override.
    Socket { syncnt: u8, sysctl: u8 },
}

/// One SYN-schedule setting.
#[derive(Debug, Clone, Copy)]
struct Setting {
    retries: Retries,
    /// `tcp_syn_linear_timeouts` to set, or `None` for the host's default.
    linear: Option<u8>,
}

/// What a blocking connect() returned, and when it was called and returned (wall clock, as the
/// capture's timestamps are).
struct Connected {
    result: io::Result<Socket>,
    called: SystemTime,
    returned: SystemTime,
}

/// A blocking connect() to `addr`, with `TCP_SYNCNT` if given; run it inside the client.
fn connect(addr: SocketAddr, syncnt: Option<u8>) -> Connected {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .expect("a TCP socket");
    if let Some(count) = syncnt {
        set_int(
            &socket,
            libc::IPPROTO_TCP,
            libc::TCP_SYNCNT,
            i32::from(count),
        )
        .expect("TCP_SYNCNT");
    }
    let called = SystemTime::now();
    let result = socket.connect(&addr.into()).map(|()| socket);
    Connected {
        result,
        called,
        returned: SystemTime::now(),
    }
}

/// setsockopt of an int option.
pub(crate) fn set_int(socket: &Socket, level: i32, option: i32, value: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a c_int value of the size given, on an open socket.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

async fn refused(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let (client, server) = (net.host("client")?, net.host("server")?);
    let addr = net.socket_addr("server", case.family(), PORT)?;
    let vars = client.settings().await?;
    let expected = expectation("silent_drops_refused.expect", &vars)?;
    let (client_before, server_before) = (client.counters().await?, server.counters().await?);

    let recording = net.record(&["client", "server"]).await?;
    let connected = client.run(move || connect(addr, None)).await?;
    let recorded = recording.stop().await?;

    let took = connected
        .returned
        .duration_since(connected.called)
        .unwrap_or_default();
    let err = connected
        .result
        .expect_err("connect() to a closed port must fail");
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ECONNREFUSED),
        "connect() to a closed port: {err}"
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

    recorded.check(&net, "client", &expected)?;
    recorded.check(&net, "server", &expected)?;

    // Nothing is left of the attempt on either side.
    let left = client.sockets_matching(Filter::all().port(PORT)).await?;
    assert!(left.is_empty(), "client sockets left: {left:?}");
    let client_delta = client.counters().await?.since(&client_before)?;
    let server_delta = server.counters().await?.since(&server_before)?;
    assert_eq!(client_delta.get("Tcp.ActiveOpens")?, 1);
    assert_eq!(
        client_delta.get("Tcp.AttemptFails")?,
        1,
        "SYN_SENT -> CLOSE"
    );
    assert_eq!(client_delta.get("Tcp.RetransSegs")?, 0);
    assert_eq!(client_delta.get("TcpExt.TCPTimeouts")?, 0);
    assert_eq!(
        server_delta.get("Tcp.OutRsts")?,
        1,
        "the server's kernel sent one RST"
    );
    Ok(())
}

async fn syn_case(case: Arc<Case>, net: Arc<Topology>, setting: Setting) -> Result<()> {
    let client = net.host("client")?;
    let kernel = netcase::kernel()?;

    // The kernel's knobs, set as the case says, then read back for the rule. A kernel without
    // tcp_syn_linear_timeouts (before 6.5) behaves as 0: every backoff doubles.
    let (syncnt, sysctl_retries, retries) = match setting.retries {
        Retries::Sysctl(n) => (None, n, n),
        Retries::Socket { syncnt, sysctl } => (Some(syncnt), sysctl, syncnt),
    };
    client.set(sysctl::TCP_SYN_RETRIES, sysctl_retries).await?;
    if let Some(n) = setting.linear {
        client.set(sysctl::TCP_SYN_LINEAR_TIMEOUTS, n).await?;
    }
    let linear = client.get(sysctl::TCP_SYN_LINEAR_TIMEOUTS).await?;
    let settings = client.tcp_settings().await?;
    let rto_max = settings
        .value(sysctl::TCP_RTO_MAX_MS)
        .map(|ms| Duration::from_millis(u64::from(ms)))
        .unwrap_or(TCP_RTO_MAX);
    let rule = rules::syn_schedule(
        u32::from(retries),
        u32::from(linear),
        TCP_TIMEOUT_INIT,
        rto_max,
    );
    case.note(format!(
        "tcp_syn_retries={sysctl_retries}, TCP_SYNCNT={syncnt:?}, tcp_syn_linear_timeouts={linear}: \
         the rule says SYNs at {:?}, ETIMEDOUT at {:?}",
        rule.sends, rule.gives_up
    ));
    // In words, for a comparison of kernels: the schedule, and why where a kernel's own default
    // decided it.
    let why = if linear > 0 {
        format!(" (a linear phase of {linear} timeouts, then doubling)")
    } else if setting.linear.is_none() && !kernel.has(sysctl::TCP_SYN_LINEAR_TIMEOUTS) {
        " (no linear phase: this kernel has no tcp_syn_linear_timeouts)".to_owned()
    } else {
        String::new()
    };
    let secs = |d: &[Duration]| {
        d.iter()
            .map(|d| format!("{}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    case.behaviour(
        "SYN schedule",
        &format!(
            "{} SYNs at {} s, ETIMEDOUT at {} s{why}",
            rule.syns(),
            secs(&rule.sends),
            rule.gives_up.as_secs_f64()
        ),
    );
    case.figure(
        "syn_sends_s",
        &rule
            .sends
            .iter()
            .map(Duration::as_secs_f64)
            .collect::<Vec<_>>(),
        "s",
    );
    case.figure("etimedout_s", &[rule.gives_up.as_secs_f64()], "s");

    let addr = net.socket_addr("server", case.family(), PORT)?;
    // Someone listens: only the drops keep the connection from being made.
    let listener = net
        .host("server")?
        .run(move || std::net::TcpListener::bind(addr))
        .await?
        .expect("listen on the server");
    let drops = net.impair("client", "server").await?;
    drops.drop(Packets::syn(), Which::All)?;

    let before = client.counters().await?;
    let recording = net.record(&["client"]).await?;
    let attempt = client.run(move || connect(addr, syncnt));

    // While it waits: one SYN_SENT socket whose retransmission timer runs, never longer than the
    // longest timeout of the schedule.
    let longest = rule
        .gaps()
        .into_iter()
        .chain([rule.gives_up - *rule.sends.last().unwrap_or(&Duration::ZERO)])
        .max()
        .unwrap_or(TCP_TIMEOUT_INIT);
    let seen = wait_until(
        "the client's SYN_SENT socket with its first retransmission out",
        rule.gives_up,
        || client.sockets_matching(Filter::all().state(TcpState::SynSent).port(PORT)),
        |t| t.iter().any(|s| s.retransmits >= 1),
    )
    .await?;
    let socket = seen.value.sockets()[0];
    let timer = socket.timer.expect("a SYN_SENT socket has a running timer");
    assert_eq!(timer.kind, TimerKind::Retransmit, "{socket}");
    assert!(
        timer.remaining <= longest,
        "{socket}: timer beyond {longest:?}"
    );

    let connected = attempt.await?;
    let recording = recording.stop().await?;
    let err = connected
        .result
        .expect_err("connect() with every SYN dropped must fail");
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ETIMEDOUT),
        "connect() with every SYN dropped: {err}"
    );

    // The SYNs as the client sent them, from the connect() call.
    let packets = recording
        .on("client")?
        .packets(&net, Zero::At(connected.called));
    let syns: Vec<&Segment> = segments(&packets)
        .filter(|s| s.from == "client" && s.flags.contains(Flags::SYN))
        .collect();
    let sends: Vec<Duration> = syns.iter().map(|s| at(s) - at(syns[0])).collect();
    let gaps: Vec<Duration> = sends.windows(2).map(|w| w[1] - w[0]).collect();
    let gave_up = connected
        .returned
        .duration_since(connected.called)
        .unwrap_or_default()
        - at(syns[0]);
    case.measure(
        "syn_sends_ms",
        &sends.iter().copied().map(ms).collect::<Vec<_>>(),
        "ms",
    );
    case.measure(
        "syn_gaps_ms",
        &gaps.iter().copied().map(ms).collect::<Vec<_>>(),
        "ms",
    );
    case.measure("etimedout_after_ms", &[ms(gave_up)], "ms");

    assert_eq!(
        syns.len(),
        rule.syns(),
        "SYNs sent {sends:?}, the rule says {:?}",
        rule.sends
    );
    assert!(
        syns.iter().all(|s| s.rel_seq == 0 && s.flags == Flags::SYN),
        "every SYN is the same SYN: {syns:?}"
    );
    // Each timeout is a kernel timer, within both edges of its slack (a jiffy early; its
    // timer-wheel granularity, a jiffy and scheduling late; more under emulation). The last one
    // ends in ETIMEDOUT instead of a SYN.
    let last = *sends.last().unwrap_or(&Duration::ZERO);
    let measured = gaps.iter().copied().chain([gave_up - last]);
    let nominal = rule
        .gaps()
        .into_iter()
        .chain([rule.gives_up - last_send(&rule)]);
    let timeouts = rule.syns();
    for (i, (got, want)) in measured.zip(nominal).enumerate() {
        let mut slack = kernel.timer_slack(want);
        if i + 1 == timeouts {
            // The last one is seen when connect() returns, not on the wire.
            slack.late += WAKEUP;
        }
        assert!(
            slack.admits(want, got),
            "timeout {} lasted {got:?}; the rule says {}: sends {sends:?}, ETIMEDOUT at \
             {gave_up:?}; rule {rule:?}",
            i + 1,
            slack.describe(want)
        );
    }
    // The same, as an expectation over the capture (times from the first SYN), within the
    // widest edge of any gap's slack.
    let tolerance = rule
        .gaps()
        .into_iter()
        .map(|g| {
            let slack = kernel.timer_slack(g);
            slack.late.max(slack.early)
        })
        .max()
        .unwrap_or(SCHEDULING);
    let mut line = Line::segment("client", "server", Flags::SYN)
        .seq(0)
        .at(Duration::ZERO);
    if rule.syns() > 1 {
        line = line.gaps(rule.gaps());
    }
    let expected = Expectation::new()
        .tolerance(tolerance)
        .line(line)
        .line(Line::forbidden("client", "server", Flags::SYN));
    recording.check(&net, "client", &expected)?;

    // Every SYN reached the server's ingress and was dropped there; the client's sends all
    // succeeded (no ENOBUFS): the drop was silent.
    let counts = drops.counts()?;
    assert_eq!(counts.dropped, rule.syns() as u64, "{counts:?}");
    let delta = client.counters().await?.since(&before)?;
    let retransmissions = rule.retransmissions() as i64;
    assert_eq!(delta.get("Tcp.ActiveOpens")?, 1);
    assert_eq!(delta.get("Tcp.AttemptFails")?, 1);
    assert_eq!(delta.get("Tcp.RetransSegs")?, retransmissions);
    assert_eq!(delta.get("TcpExt.TCPSynRetrans")?, retransmissions);
    // Each firing counts, the last one (which gives up) too.
    assert_eq!(delta.get("TcpExt.TCPTimeouts")?, retransmissions + 1);
    assert_eq!(delta.get("TcpExt.TCPAbortOnTimeout")?, 1);
    let left = client.sockets_matching(Filter::all().port(PORT)).await?;
    assert!(left.is_empty(), "client sockets left: {left:?}");
    drop(listener);
    Ok(())
}

fn last_send(rule: &SynSchedule) -> Duration {
    *rule.sends.last().unwrap_or(&Duration::ZERO)
}
