//! One connection's socket in one call: found, awaited (by sock_diag or TCP_INFO), read after a
//! reset; an impairment's drops awaited; a time limit on a socket's blocking calls.

use std::time::Duration;

use netcase::{
    Error, Family, Result, Topology,
    fixtures::pair,
    impair::{Packets, Which},
    network::{Close, Options},
    observe::{Filter, TcpState, TimerKind},
    require_privileges,
};
use nix::errno::Errno;
use rstest::rstest;

/// The server's five octets show in the client's receive queue; a condition that never holds
/// times out with an error that names the socket and what was awaited.
#[rstest]
#[tokio::test]
async fn a_socket_is_awaited_by_its_addresses(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let client = net.host("client")?;
    let conn = net.connect("client", "server", family, 7600).await?;
    let (local, remote) = (conn.client.local()?, conn.client.peer()?);
    assert_eq!(conn.server.write_all(b"hello").await?, Ok(()));

    let seen = client
        .wait_for_socket(
            Filter::between(local, remote),
            "five octets queued",
            Duration::from_secs(2),
            |s| s.recv_q == 5,
        )
        .await?;
    assert_eq!(seen.value.state, TcpState::Established);
    assert_eq!(
        (seen.value.local.port(), seen.value.recv_q),
        (local.port(), 5)
    );

    let never = client
        .wait_for_socket(
            Filter::between(local, remote),
            "six octets queued",
            Duration::from_millis(20),
            |s| s.recv_q == 6,
        )
        .await;
    match never {
        Err(Error::Timeout { what, .. }) => {
            assert!(what.contains("six octets queued"), "{what}");
            assert!(what.contains(&local.to_string()), "{what}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    Ok(())
}

/// A keepalive probe into a blackhole: the wait returns once the program has dropped it.
#[rstest]
#[tokio::test]
async fn drops_are_awaited(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let one = Duration::from_secs(1);
    let options = Options::new().keepalive(one, one, 5);
    let conn = net
        .connect_with("client", "server", Family::V4, 7601, options)
        .await?;
    let to_server = net.impair("client", "server").await?;
    to_server.drop(Packets::tcp(), Which::All)?;
    assert_eq!(to_server.counts()?.dropped, 0);

    let seen = to_server
        .wait_for_dropped(1, Duration::from_secs(3))
        .await?;
    assert!(seen.value.dropped >= 1, "{:?}", seen.value);
    let (local, remote) = (conn.client.local()?, conn.client.peer()?);
    let probing = net
        .host("client")?
        .wait_for_socket(
            Filter::between(local, remote),
            "a probe out",
            Duration::from_secs(1),
            |s| s.retransmits >= 1,
        )
        .await?;
    assert_eq!(
        probing.value.timer.map(|t| t.kind),
        Some(TimerKind::Keepalive)
    );
    // By kind, from the program's record: the probe is a pure ACK; no data was dropped.
    let probe = to_server.wait_for_dropped_of(Packets::pure_ack(), 1, one);
    assert!(!probe.await?.value.is_empty());
    let data = Packets::fin().carrying_data();
    let none = to_server.wait_for_dropped_of(data, 1, Duration::from_millis(20));
    match none.await {
        Err(Error::Timeout { what, .. }) => {
            assert!(what.contains("F (looking at F) with data"), "{what}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    Ok(())
}

/// A read the kernel never answers ends with EAGAIN at the limit, instead of hanging.
#[rstest]
#[tokio::test]
async fn a_blocking_call_has_a_time_limit(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let conn = net.connect("client", "server", Family::V4, 7602).await?;
    assert!(
        conn.server.set_timeout(Duration::ZERO).is_err(),
        "zero is no limit"
    );
    let limit = Duration::from_millis(50);
    conn.server.set_timeout(limit)?;
    let start = std::time::Instant::now();
    assert_eq!(conn.server.read(16).await?, Err(Errno::EAGAIN));
    assert!(start.elapsed() >= limit, "{:?}", start.elapsed());
    assert_eq!(
        conn.client.write(b"x").await?,
        Ok(1),
        "the client has no limit"
    );
    assert_eq!(conn.server.read(16).await?, Ok(b"x".to_vec()));
    Ok(())
}

/// The peer aborts: the server's socket reads CLOSE by TCP_INFO, the error comes once, then end
/// of file and EPIPE; its host then has one socket on the port, the listener.
#[rstest]
#[tokio::test]
async fn a_reset_is_awaited_and_read_once(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let server = net.host("server")?;
    let conn = net.connect("client", "server", family, 7603).await?;
    let on_port = Filter::all().port(7603);
    let two = server.only_socket(on_port.clone()).await;
    assert!(matches!(two, Err(Error::NoSocket { .. })), "{two:?}");

    conn.client.close(Close::Abort).await?;
    let reset = conn
        .server
        .wait_for_state(TcpState::Close, Duration::from_secs(2))
        .await?;
    assert_eq!(reset.value.state, TcpState::Close);
    let failure = conn.server.read_failure().await?;
    failure.assert_reported_once(Errno::ECONNRESET);
    assert!(!failure.reported_once(Errno::ETIMEDOUT));
    assert_eq!(server.only_socket(on_port).await?.state, TcpState::Listen);
    Ok(())
}
