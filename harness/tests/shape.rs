//! Shaping a direction of a link (rate limits with tbf, delay and the rest with netem), out of
//! the sender's sight; and what this kernel says it can do.

use std::{
    net::UdpSocket,
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use netcase::{
    Error, Family, Result, Topology,
    fixtures::pair,
    impair::{Feature, Shaping, features},
    require_privileges, require_program,
};
use rstest::rstest;

#[path = "../examples/common/bulk.rs"]
#[allow(dead_code)]
mod bulk;

/// The probe finds the eBPF classifier (every impairment needs it) and agrees with the kernel
/// about netem: where the probe says there is none, shaping that needs it is refused by name.
#[rstest]
#[tokio::test]
async fn the_probe_tells_what_the_kernel_can_do(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let found = features();
    assert!(found.has(Feature::Bpf), "{found:?}");
    let rule = net.impair("client", "server").await?;
    let delay = Shaping {
        delay: Duration::from_millis(20),
        ..Shaping::default()
    };
    match rule.shape(&net, delay).await {
        Ok(()) => assert!(found.has(Feature::Netem) && found.has(Feature::Ifb)),
        Err(Error::Unsupported { what, link, why }) => {
            assert!(!found.has(Feature::Netem) || !found.has(Feature::Ifb));
            assert!(
                what.contains("netem") && what.contains("delay 20ms"),
                "{what}"
            );
            assert_eq!(link, "client>server (server eth0)");
            assert!(why.contains("sch_netem") || why.contains("ifb"), "{why}");
        }
        Err(other) => panic!("neither shaped nor refused: {other}"),
    }
    Ok(())
}

/// Bad shapings are refused with the field that is wrong, and leave the path clean.
#[rstest]
#[tokio::test]
async fn bad_shapings_are_refused_by_name(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let rule = net.impair("client", "server").await?;
    for (shaping, says) in [
        (
            Shaping {
                loss: 150.0,
                ..Shaping::default()
            },
            "loss of 150% is not a percentage",
        ),
        (
            Shaping {
                delay: Duration::from_secs(3600),
                ..Shaping::default()
            },
            "absurd",
        ),
        (
            Shaping {
                rate: Some(0),
                ..Shaping::default()
            },
            "blackhole",
        ),
    ] {
        let err = rule.shape(&net, shaping).await.expect_err(says);
        assert!(matches!(err, Error::BadLink { .. }), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    // Nothing was set up: no qdisc shaped a packet, and the path carries a transfer.
    bulk::transfer(&net, 1_000_000, 8000).await?;
    let shaped = rule.shaping_counts(&net).await?;
    assert_eq!(
        (shaped.sent, shaped.dropped),
        (0, 0),
        "the path is shaped after refusals: {shaped:?}"
    );
    assert!(rule.counts()?.seen > 0, "the transfer passed the program");
    Ok(())
}

/// A rate limit of 40 Mbit/s (tbf, on the receiving side's ifb) paces a bulk transfer to that
/// rate; removing it brings the link's speed back (beyond twice the limit).
#[rstest]
#[tokio::test]
async fn a_rate_limit_paces_a_transfer(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let rule = net.impair("client", "server").await?;
    // A limit well below what the link carries unshaped here: 40 Mbit/s, or a quarter of that
    // where it carries less than 160 (a qemu TCG guest carried 77-94 Mbit/s).
    let unshaped = bulk::transfer(&net, 5_000_000, 8003).await?;
    let rate = ((unshaped / 4.0).min(40.0) * 1e6) as u64;
    rule.shape(
        &net,
        Shaping {
            rate: Some(rate),
            ..Shaping::default()
        },
    )
    .await?;
    let speed = bulk::transfer(&net, 5_000_000, 8001).await?;
    // Goodput: a full 1514-octet frame carries 1448 octets of data (TCP timestamps on), 95.6%;
    // tbf's burst lets the first 10 ms through at once.
    let limit = rate as f64 / 1e6;
    assert!(
        (0.80 * limit..=1.02 * limit).contains(&speed),
        "{speed:.1} Mbit/s under a {limit} Mbit/s limit"
    );
    rule.shape(&net, Shaping::default()).await?;
    let speed = bulk::transfer(&net, 5_000_000, 8002).await?;
    assert!(
        speed > 2.0 * limit,
        "{speed:.1} Mbit/s after the limit was lifted"
    );
    rule.remove(&net).await?;
    Ok(())
}

/// Sends `count` datagrams of 1000 octets from client to server as fast as it can, with
/// IP_RECVERR on (so that a drop on the client's own egress comes back as ENOBUFS), and returns how many sends failed
/// with ENOBUFS and how many datagrams the server received.
async fn flood(net: &Topology, count: u32, port: u16) -> Result<(u32, u32)> {
    let server_addr = net.socket_addr("server", Family::V4, port)?;
    let socket = net
        .host("server")?
        .run(move || UdpSocket::bind(server_addr))
        .await?
        .expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let receiver = net.host("server")?.run(move || {
        let mut buf = [0u8; 1000];
        let mut got = 0;
        while socket.recv_from(&mut buf).is_ok() {
            got += 1;
        }
        got
    });
    let enobufs = net
        .host("client")?
        .run(move || {
            let socket = UdpSocket::bind("0.0.0.0:0").expect("bind");
            // A send buffer deeper than any queue on the path: the socket stays charged for a
            // datagram until it is delivered or dropped, even across namespaces, so with a small
            // buffer the sender would be paced by the limit instead of losing datagrams to it.
            for (level, option, value) in [
                (libc::IPPROTO_IP, libc::IP_RECVERR, 1),
                (libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 16 << 20),
            ] {
                let value: libc::c_int = value;
                // SAFETY: setsockopt with a c_int of the size given, on an open socket.
                let rc = unsafe {
                    libc::setsockopt(
                        socket.as_raw_fd(),
                        level,
                        option,
                        (&value as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
                assert_eq!(
                    rc,
                    0,
                    "setsockopt {option}: {}",
                    std::io::Error::last_os_error()
                );
            }
            let mut enobufs = 0;
            for _ in 0..count {
                if let Err(e) = socket.send_to(&[0x5a; 1000], server_addr) {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOBUFS), "{e}");
                    enobufs += 1;
                }
            }
            enobufs
        })
        .await?;
    Ok((enobufs, receiver.await?))
}

/// The contrast DESIGN.md warns about: a rate limit on the sender's own egress (set here with
/// iproute2's `tc`, as a user might) makes its sends fail with ENOBUFS; the harness's rate limit,
/// on the receiving side, drops as much without the sender seeing any of it.
#[rstest]
#[tokio::test]
async fn shaping_drops_are_invisible_to_the_sender(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let tc = require_program!("tc", "iproute2");
    // busybox's tc (a guest's initramfs has it) cannot add a tbf qdisc: iproute2's is needed.
    let version = std::process::Command::new(&tc).arg("-V").output();
    if !version.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("iproute2")) {
        netcase::privileges::cannot_run(&"tc here is not iproute2's (apt-get install iproute2)");
        return Ok(());
    }
    let net = pair.await?;
    let (sent, rate) = (3000, "8mbit");
    let client = net.host("client")?;
    let ifname = net
        .link("client", "server")?
        .end("client")?
        .ifname()
        .to_owned();
    let mut add = client.command(&tc);
    add.args(["qdisc", "add", "dev", &ifname, "root", "tbf", "rate", rate]);
    add.args(["burst", "10kb", "limit", "30kb"]);
    let out = client.output(add).await?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (enobufs, received) = flood(&net, sent, 8100).await?;
    assert!(
        enobufs > 0,
        "no ENOBUFS from the sender's own egress ({received} received)"
    );
    let mut del = client.command(&tc);
    del.args(["qdisc", "del", "dev", &ifname, "root"]);
    assert!(client.output(del).await?.status.success());

    let rule = net.impair("client", "server").await?;
    let shaping = Shaping {
        rate: Some(8_000_000),
        ..Shaping::default()
    };
    rule.shape(&net, shaping).await?;
    let start = Instant::now();
    let (enobufs, received) = flood(&net, sent, 8101).await?;
    assert_eq!(enobufs, 0, "the sender saw the receiving side's drops");
    assert!(
        received < sent * 9 / 10,
        "the limit dropped nothing: {received} of {sent} arrived in {:?}",
        start.elapsed()
    );
    // The shaping qdisc counted what it dropped: every datagram it did not pass on, but those
    // the receiving host's backlog (netdev_max_backlog) dropped before the program saw them.
    let shaped = rule.shaping_counts(&net).await?;
    let seen = rule.counts()?.seen;
    assert_eq!(shaped.queued, 0, "{shaped:?}");
    assert!(
        shaped.sent >= u64::from(received),
        "{shaped:?}, {received} received"
    );
    assert_eq!(
        shaped.sent + shaped.dropped,
        seen,
        "{shaped:?}, the program saw {seen}"
    );
    Ok(())
}

/// Netem, where the kernel has it: a delay of 50 ms shows in the connect time, and correlated
/// loss of 30% measures 30 ± 2% over 10,000 datagrams. Where it has not, the same requests are
/// refused as unsupported (this machine's kernel has no sch_netem).
#[rstest]
#[tokio::test]
async fn netem_delays_and_loses_or_is_refused(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let rule = net.impair("client", "server").await?;
    let delay = Shaping {
        delay: Duration::from_millis(50),
        ..Shaping::default()
    };
    if !features().has(Feature::Netem) {
        let err = rule
            .shape(&net, delay)
            .await
            .expect_err("netem without sch_netem");
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        return Ok(());
    }
    rule.shape(&net, delay).await?;
    let addr = net.socket_addr("server", Family::V4, 8200)?;
    let _listener = net
        .host("server")?
        .run(move || std::net::TcpListener::bind(addr))
        .await?
        .expect("bind");
    let connect = net
        .host("client")?
        .run(move || {
            let start = Instant::now();
            std::net::TcpStream::connect(addr).map(|_| start.elapsed())
        })
        .await?
        .expect("connect");
    // The SYN crosses client>server and waits 50 ms; the SYN-ACK's direction is not shaped.
    // Late by up to 40 ms of thread start and wake-ups, and more under emulation (a qemu TCG
    // guest, where this ran at 106-120 ms).
    let late = Duration::from_millis(40) + netcase::kernel()?.emulation();
    assert!(
        (Duration::from_millis(50)..Duration::from_millis(50) + late).contains(&connect),
        "connect took {connect:?} with a 50 ms delay on the SYN's direction"
    );
    rule.shape(
        &net,
        Shaping {
            loss: 30.0,
            loss_correlation: 25.0,
            ..Shaping::default()
        },
    )
    .await?;
    flood(&net, 10_000, 8201).await?;
    // What netem itself dropped: under emulation the receiving socket drops some datagrams too.
    let shaped = rule.shaping_counts(&net).await?;
    let loss = 100.0 * shaped.dropped as f64 / (shaped.sent + shaped.dropped) as f64;
    // Correlated loss drops fewer than the nominal 30%: netem's draws are a running mix of
    // fresh random numbers and the previous draw (get_crandom in sch_netem.c), whose spread is
    // narrower than a uniform's, so fewer fall below the loss threshold (24-26% measured on
    // Debian's 6.1 and 6.12). Within 2 points of what that generator gives (a binomial spread
    // of 0.5 points over 10,000 datagrams, a little more for the correlation).
    let expected = netem_correlated_loss(30.0, 25.0);
    assert!(
        (loss - expected).abs() <= 2.0,
        "{loss}% lost; netem's correlated draws give {expected:.1}%"
    );
    Ok(())
}

/// The share of packets (in percent) netem drops with `loss` percent at `correlation` percent:
/// its own generator (get_crandom), over a million draws of a xorshift64 stream.
fn netem_correlated_loss(loss: f64, correlation: f64) -> f64 {
    let threshold = (loss / 100.0 * f64::from(u32::MAX)).round() as u64;
    let rho = (correlation / 100.0 * f64::from(u32::MAX)).round() as u64 + 1;
    let (mut state, mut last, mut dropped) = (0x9e37_79b9_7f4a_7c15_u64, 0u64, 0u32);
    const DRAWS: u32 = 1_000_000;
    for _ in 0..DRAWS {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let value = state >> 32;
        last = (value * ((1 << 32) - rho) + last * rho) >> 32;
        dropped += u32::from(threshold >= last);
    }
    100.0 * f64::from(dropped) / f64::from(DRAWS)
}
