//! Socket addresses: see `netcase_cases::socket_addresses`.

use netcase::{
    Family, Result, Topology,
    fixtures::{pair, routed},
    require_privileges,
};
use netcase_cases::{run, socket_addresses};
use rstest::rstest;

#[rstest]
#[tokio::test]
async fn seen_by_both_ends(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&socket_addresses::DIRECT, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn seen_through_a_router(
    #[future] routed: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&socket_addresses::ROUTED, family, routed.await?).await
}
