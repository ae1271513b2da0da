//! A host's local ports used up by connections it closes first: one connection per port, each
//! port then held by a TIME_WAIT socket, and connect() fails with EADDRNOTAVAIL; more
//! connections than said is an error.

use std::time::Duration;

use netcase::{
    Family, Result, Topology,
    fixtures::pair,
    observe::TcpState,
    require_privileges,
    sysctl::{self, PortRange},
};
use rstest::rstest;

#[rstest]
#[tokio::test]
async fn ports_are_used_up_one_per_port(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let client = net.host("client")?;
    let range = PortRange {
        low: 44000,
        high: 44003,
    };
    client.set(sysctl::IP_LOCAL_PORT_RANGE, range).await?;
    client.set_tw_reuse(0, Duration::from_millis(500)).await?;
    let server = net.host("server")?;
    let served = server
        .serve(net.socket_addr("server", family, 7100)?)
        .await?;

    let used = client.use_up_ports(served.addr(), 4).await?;
    assert_eq!(used.closed.len(), 4, "{used:?}");
    let held = &used.held;
    assert_eq!(held.local_ports(), Vec::from_iter(range.ports()), "{held}");
    assert_eq!(held.count(TcpState::TimeWait), 4, "{held}");
    assert!(held.time_wait_entered().is_some(), "{held}");
    assert!(used.first() <= used.refused_at);

    // Towards another port the four are free again; expecting two is an error.
    let other = server
        .serve(net.socket_addr("server", family, 7101)?)
        .await?;
    let too_many = client.use_up_ports(other.addr(), 2).await;
    let error = too_many.expect_err("four connections where two were expected");
    assert!(
        error.to_string().contains("more than the 2 expected"),
        "{error}"
    );
    Ok(())
}
