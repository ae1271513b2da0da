//! Retransmission: the timeout a connection derives from the round trips it measured, and the
//! retransmission it times with it.
//!
//! RFC 6298, which the classic descriptions follow, sets `RTO = SRTT + max(G, 4·RTTVAR)` with a
//! floor of one second (Linux: `TCP_RTO_MIN`, 200 ms). Linux keeps the smoothed round trip
//! (`srtt`) as the RFC does, but the variance term it adds is `rttvar_us`, which it never lets
//! fall below the minimum RTO (`tcp_rtt_estimator`: each round trip's `mdev_max_us` starts at
//! `tcp_rto_min_us`; `__tcp_set_rto`: `srtt + rttvar`). So the RTO is `srtt + max(tcp_rto_min,
//! 4·rttvar)`, never less than `srtt + tcp_rto_min`, where the RFC's `max(srtt + 4·rttvar,
//! rto_min)` floors the total: on a steady 100 ms path, over 300 ms where the RFC's formula gives
//! 200 ms. [`RTO_FOLLOWS_THE_RTT`] shows it in TCP_INFO and on the wire.

use std::{sync::Arc, time::Duration};

use netcase::{
    Result, Topology, body,
    capture::Zero,
    case::{Case, Def},
    decode,
    impair::{Feature, Packets, Shaping, Which},
    sysctl,
};

use crate::common::{at, expectation, ms};

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[&RTO_FOLLOWS_THE_RTT];

/// The server's port.
const PORT: u16 = 7500;

/// The delay netem adds to the client's segments on their way in to the server: the round trip
/// the client measures (its acknowledgements come back at once).
const DELAY: Duration = Duration::from_millis(100);

/// Round trips measured before the loss, one segment each: enough for `srtt` to settle within
/// a millisecond of the path's delay.
const SAMPLES: usize = 8;

/// With a 100 ms delay on the path (netem), the RTO TCP_INFO shows is `srtt` plus the larger of
/// `tcp_rto_min` and the measured deviation, and a data segment dropped once is retransmitted
/// that long after it was sent.
pub static RTO_FOLLOWS_THE_RTT: Def = Def::new(
    "retransmit::rto_follows_the_rtt",
    "RTO = srtt + max(tcp_rto_min, 4·rttvar): with 100 ms of delay, over 300 ms, not RFC 6298's 200 ms",
    body!(rto_follows_the_rtt),
)
.needs(&[Feature::Bpf, Feature::Netem, Feature::Ifb])
.expected(Duration::from_secs(3));

async fn rto_follows_the_rtt(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let kernel = netcase::kernel()?;
    let client = net.host("client")?;
    // The retransmission timer alone: no tail loss probe (tcp_early_retrans = 0) fires first.
    client.set(sysctl::TCP_EARLY_RETRANS, 0).await?;
    let rto_min = Duration::from_micros(client.get(sysctl::TCP_RTO_MIN_US).await?.into());
    let path = net.impair("client", "server").await?;
    path.shape(
        &net,
        Shaping {
            delay: DELAY,
            ..Shaping::default()
        },
    )
    .await?;
    let conn = net.connect("client", "server", case.family(), PORT).await?;
    // Round trips, one segment at a time, each answered by the server at once (its reply carries
    // the acknowledgement: no delayed ACK in the sample). After each, the variance the kernel
    // keeps (TCP_INFO's rttvar is mdev_us / 4), for the bounds below.
    let mut most_var = conn.client.info()?.rttvar;
    for _ in 0..SAMPLES {
        assert_eq!(conn.client.write(b"s").await?, Ok(1));
        assert_eq!(conn.server.read(1).await?, Ok(b"s".to_vec()));
        assert_eq!(conn.server.write(b"e").await?, Ok(1));
        assert_eq!(conn.client.read(1).await?, Ok(b"e".to_vec()));
        most_var = most_var.max(conn.client.info()?.rttvar);
    }
    let info = conn.client.info()?;
    assert_eq!(info.unacked, 0, "every round trip acknowledged: {info:?}");
    // Linux: rto = srtt + rttvar_us, where rttvar_us is at least tcp_rto_min and at least the
    // deviation measured (4 x TCP_INFO's rttvar), and decays no lower than that per round trip
    // (tcp_rtt_estimator); icsk_rto counts whole jiffies, rounded up (usecs_to_jiffies).
    let low = info.rtt + rto_min.max(4 * info.rttvar);
    let high = info.rtt + rto_min.max(4 * most_var) + kernel.jiffy();
    assert!(
        info.rto >= low && info.rto <= high,
        "RTO {:?} with srtt {:?} (rttvar now {:?}, at most {most_var:?}): not srtt + \
         max(tcp_rto_min {rto_min:?}, 4 x rttvar), {low:?} to {high:?}",
        info.rto,
        info.rtt,
        info.rttvar
    );
    // RFC 6298's max(srtt + 4 x rttvar, rto_min) would be below srtt + tcp_rto_min whenever the
    // path is steadier than tcp_rto_min / 4: Linux floors the variance term, not the total.
    assert!(info.rto >= info.rtt + rto_min);
    case.behaviour(
        "RTO",
        "srtt + max(tcp_rto_min, 4 x rttvar): the variance term is floored",
    );
    case.measure("srtt_ms", &[ms(info.rtt)], "ms");
    case.measure("rto_ms", &[ms(info.rto)], "ms");

    // One data segment lost: its retransmission comes one RTO after it was sent.
    let watch = net.watch(&["client"]).await?;
    path.drop(Packets::data(), Which::Nth(1))?;
    assert_eq!(conn.client.write(b"lost once").await?, Ok(9));
    assert_eq!(conn.server.read(16).await?, Ok(b"lost once".to_vec()));
    // The server's acknowledgement reaches the client (delayed on the path) before the capture
    // ends.
    let acked = |i: &netcase::observe::TcpInfo| i.unacked == 0;
    conn.client
        .wait_for_info("the retransmission acknowledged", info.rto * 4, acked)
        .await?;
    let seen = watch.stop().await?;
    seen.check_on(&net, "client", &expectation("retransmit_rto.expect", &())?)?;
    let packets = seen.recorded.on("client")?.packets(&net, Zero::FirstFrame);
    let sent: Vec<Duration> = decode::segments(&packets)
        .filter(|s| s.from == "client" && s.len == 9)
        .map(at)
        .collect();
    assert_eq!(
        sent.len(),
        2,
        "the segment and its one retransmission: {sent:?}"
    );
    let gap = sent[1] - sent[0];
    let slack = kernel.timer_slack(info.rto);
    assert!(
        slack.admits(info.rto, gap),
        "retransmitted after {gap:?}, RTO {}",
        slack.describe(info.rto)
    );
    case.measure("retransmitted_after_ms", &[ms(gap)], "ms");
    seen.counters("client")?.moved([
        ("Tcp.RetransSegs", 1),
        ("TcpExt.TCPTimeouts", 1),
        ("TcpExt.TCPLossProbes", 0),
    ])?;
    assert_eq!(path.counts()?.dropped, 1);
    case.figure("rto_min_ms", &[ms(rto_min)], "ms");
    Ok(())
}
