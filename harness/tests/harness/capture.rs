//! Capturing a real exchange: the pcaps the harness writes read back as what was captured, decode
//! into the segments of a TCP connection, and agree with tshark, a dissector nobody here wrote.

use std::{process::Command, time::Duration};

use netcase::{
    Family, Result, Topology,
    capture::Zero,
    decode::{Flags, Segment, segments},
    expect::Expectation,
    fixtures::pair,
    observe::{Filter, wait_until},
    pcap, require_privileges, require_program,
};
use rstest::rstest;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Client connects, sends "hello", the server reads it and closes, then the client closes.
async fn hello_and_close(net: &Topology, family: Family) -> Result<()> {
    let addr = net.socket_addr("server", family, 8080)?;
    let listener = net
        .host("server")?
        .spawn(async move { TcpListener::bind(addr).await })
        .await?
        .expect("bind");
    let server = net.host("server")?.spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = [0; 5];
        stream.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"hello");
        // Dropping the stream closes it: the server sends its FIN first.
    });
    net.host("client")?
        .spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.write_all(b"hello").await.expect("write");
            let mut rest = Vec::new();
            stream
                .read_to_end(&mut rest)
                .await
                .expect("read to the server's FIN");
            assert!(rest.is_empty());
        })
        .await?;
    server.await?;
    // The client's close() returns before its FIN and the server's last ACK have crossed the
    // link: the client's socket is gone once that ACK has reached it, so both captures hold the
    // whole exchange when the caller stops them.
    let client = net.host("client")?;
    wait_until(
        "the client's socket closed by the server's last ACK",
        Duration::from_secs(5),
        || client.sockets_matching(Filter::all().remote_port(8080)),
        |t| t.is_empty(),
    )
    .await?;
    Ok(())
}

fn flags_of(segs: &[&Segment]) -> Vec<String> {
    segs.iter()
        .map(|s| format!("{}>{} {}", s.from, s.to, s.flags))
        .collect()
}

#[rstest]
#[tokio::test]
async fn a_captured_exchange_round_trips_and_decodes(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let recording = net.record(&["client", "server"]).await?;
    hello_and_close(&net, family).await?;
    let recorded = recording.stop().await?;
    assert_eq!(recorded.dropped(), 0);

    for captured in recorded.captures() {
        assert!(captured.stats.received >= captured.frames.len() as u64);
    }
    // The files hold exactly what was captured, nanoseconds included.
    for (file, captured) in recorded.files().iter().zip(recorded.captures()) {
        assert_eq!(pcap::read(file).expect("read back"), captured.frames);
    }
    // Both ends of the link saw the same TCP segments.
    let client = recorded.on("client")?.packets(&net, Zero::FirstSyn);
    let server = recorded.on("server")?.packets(&net, Zero::FirstSyn);
    let (c, s): (Vec<&Segment>, Vec<&Segment>) =
        (segments(&client).collect(), segments(&server).collect());
    assert_eq!(flags_of(&c), flags_of(&s));

    // The connection as Linux runs it: handshake, data, the server's FIN first.
    let first = c.first().expect("segments");
    assert_eq!(
        (first.at_ns, first.flags, first.rel_seq),
        (0, Flags::SYN, 0)
    );
    assert_eq!(first.family(), family);
    assert!(
        c.windows(2).all(|w| w[0].at_ns <= w[1].at_ns),
        "timestamps go forward"
    );
    let find = |from: &str, flags: Flags, from_index: usize| {
        c.iter()
            .enumerate()
            .skip(from_index)
            .find(|(_, seg)| seg.from == from && seg.flags == flags)
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("no {from} {flags} after #{from_index} in\n{}", lines(&c)))
    };
    let syn_ack = find("server", Flags::SYN | Flags::ACK, 1);
    assert_eq!((c[syn_ack].rel_seq, c[syn_ack].rel_ack), (0, 1));
    let data = find("client", Flags::PSH | Flags::ACK, syn_ack);
    assert_eq!((c[data].rel_seq, c[data].len, c[data].rel_ack), (1, 5, 1));
    let server_fin = find("server", Flags::FIN | Flags::ACK, data);
    assert_eq!((c[server_fin].rel_seq, c[server_fin].rel_ack), (1, 6));
    let client_fin = find("client", Flags::FIN | Flags::ACK, server_fin);
    assert_eq!((c[client_fin].rel_seq, c[client_fin].rel_ack), (6, 2));
    assert_eq!(
        c.last().map(|l| (l.from.as_str(), l.flags, l.rel_ack)),
        Some(("server", Flags::ACK, 7))
    );
    if family == Family::V4 {
        assert_eq!(first.options.mss, Some(1460), "MSS of a 1500-octet link");
    } else {
        assert_eq!(
            first.options.mss,
            Some(1440),
            "MSS of a 1500-octet link over IPv6"
        );
    }
    Ok(())
}

fn lines(segs: &[&Segment]) -> String {
    segs.iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// tshark dissects the harness's pcaps: its flags, raw sequence and acknowledgement numbers and
/// payload lengths agree with the harness's decoder, packet by packet.
#[rstest]
#[tokio::test]
async fn tshark_agrees_with_the_decoder(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let tshark = require_program!("tshark", "tshark");
    let net = pair.await?;
    let recording = net.record(&["client"]).await?;
    hello_and_close(&net, family).await?;
    let recorded = recording.stop().await?;
    let file = &recorded.files()[0];
    let out = netcase::fork::output(
        Command::new(tshark)
            .args(["-n", "-r"])
            .arg(file)
            .args(["-Y", "tcp", "-T", "fields", "-E", "separator=,"])
            .args([
                "-e",
                "tcp.flags",
                "-e",
                "tcp.seq_raw",
                "-e",
                "tcp.ack_raw",
                "-e",
                "tcp.len",
            ]),
    )
    .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let packets = recorded.on("client")?.packets(&net, Zero::FirstFrame);
    let ours: Vec<String> = segments(&packets)
        .map(|s| {
            let ack = if s.flags.contains(Flags::ACK) {
                s.ack
            } else {
                0
            };
            format!("0x{:04x},{},{},{}", s.flags.bits(), s.seq, ack, s.len)
        })
        .collect();
    assert!(ours.len() >= 7, "{ours:?}");
    assert_eq!(theirs, ours);
    Ok(())
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/expect")
        .join(name)
}

/// The exchange, captured for real, matches its expectation file on both families; the file's
/// numbers are the relative ones any Linux connection has.
#[rstest]
#[tokio::test]
async fn a_real_exchange_matches_its_expectation_file(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let settings = net.host("client")?.settings().await?;
    let expectation = Expectation::load(fixture("handshake.expect"), &settings)?;
    let recording = net.record(&["client", "server"]).await?;
    hello_and_close(&net, family).await?;
    let recorded = recording.stop().await?;
    recorded.check(&net, "client", &expectation)?;
    recorded.check(&net, "server", &expectation)?;
    Ok(())
}

/// A wrong expectation fails with the side-by-side report, which names the kept pcap.
#[rstest]
#[tokio::test]
async fn a_wrong_expectation_reports_side_by_side_and_keeps_the_pcap(
    #[future] pair: Result<Topology>,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    // The server closes first; this claims the client does.
    let wrong = Expectation::parse(
        "@0 client>server S\n* client>server F. seq 6 ack 1\n",
        "wrong.expect",
        &(),
    )?;
    let recording = net.record(&["client"]).await?;
    hello_and_close(&net, Family::V4).await?;
    let recorded = recording.stop().await?;
    let err = recorded.check(&net, "client", &wrong).unwrap_err();
    let report = err.to_string();
    assert!(matches!(err, netcase::Error::Expectation(_)), "{report}");
    assert!(
        report.starts_with("wrong.expect:2: wrong ack (expected 1, got 2)"),
        "{report}"
    );
    let pcap = recorded.files()[0].display().to_string();
    assert!(report.contains(&format!("capture: {pcap}")), "{report}");
    assert!(
        report.contains(">>") && report.contains("client>server F. seq 6 ack 2"),
        "{report}"
    );
    drop(recorded);
    assert!(
        std::path::Path::new(&pcap).exists(),
        "a failed check keeps its pcap"
    );
    // The kept pcap and its check file go with their directory.
    std::fs::remove_dir_all(std::path::Path::new(&pcap).parent().expect("its directory"))
        .expect("clean up the kept pcap");
    Ok(())
}
