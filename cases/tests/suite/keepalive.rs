//! Keepalive: see `netcase_cases::keepalive`.

use netcase::{Family, Result, Topology, fixtures::pair, require_privileges};
use netcase_cases::{keepalive, run};
use rstest::rstest;

#[rstest]
#[tokio::test]
async fn probes_answered(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&keepalive::ANSWERED, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn unanswered_probes_time_out(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&keepalive::UNANSWERED, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn sysctl_defaults_time_out(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&keepalive::SYSCTLS, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn user_timeout_replaces_keepcnt(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&keepalive::USER_TIMEOUT, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn peer_lost_state_then_data(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&keepalive::PEER_LOST_STATE_DATA, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn peer_lost_state_then_probe(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&keepalive::PEER_LOST_STATE_PROBE, family, pair.await?).await
}
