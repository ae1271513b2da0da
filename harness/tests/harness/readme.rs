//! The README's "Writing a test", exactly: if it stops compiling or passing, so does this.

use netcase::{
    Family, Result, Topology, expect::Expectation, network::Close, observe::Filter,
    require_privileges,
};
use nix::errno::Errno;
use rstest::rstest;

/// SO_LINGER {1, 0}: close() sends a reset instead of a FIN and leaves no TIME_WAIT; the peer
/// reads ECONNRESET once, then end of file, and its write fails with EPIPE.
#[rstest]
#[netcase::test] // a tokio test that leaves a bug report when it fails
async fn abortive_close_resets_the_peer(
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = Topology::pair().await?; // client and server on one link, ready
    let watch = net.watch(&["client", "server"]).await?; // counters and captures, both ends
    let conn = net.connect("client", "server", family, 7000).await?;

    let closed = conn.client.close(Close::Abort).await?; // SO_LINGER {1, 0}, then close()
    assert_eq!(closed.result, Ok(()));
    assert_eq!(conn.server.read(16).await?, Err(Errno::ECONNRESET));
    assert_eq!(conn.server.read(16).await?, Ok(vec![])); // the reset is reported once
    assert_eq!(conn.server.write(b"late").await?, Err(Errno::EPIPE));
    let client = net.host("client")?;
    let left = client
        .sockets_matching(Filter::all().remote_port(7000))
        .await?;
    assert!(left.is_empty(), "no TIME_WAIT, no socket at all: {left}");

    let seen = watch.stop().await?;
    // tcp_close() counts a zero-linger close as TCPAbortOnData; tcp_disconnect() sends a reset.
    seen.counters("client")?
        .moved([("TCPAbortOnData", 1), ("OutRsts", 1), ("EstabResets", 1)])?;
    seen.counters("server")?
        .moved([("EstabResets", 1), ("OutRsts", 0)])?;
    let wire = "@0 client>server S
                +0 server>client S. ack 1
                +0 client>server . seq 1 ack 1
                !client>server F.
                *  client>server R. seq 1 ack 1
                !server>client R.";
    seen.check(&net, &Expectation::parse(wire, "abort", &())?)
}
