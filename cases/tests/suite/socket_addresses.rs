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

#[rstest]
#[tokio::test]
async fn lengths_in_and_out(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&socket_addresses::LENGTHS, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn wildcard_reached_on_every_address(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&socket_addresses::WILDCARD, family, pair.await?).await
}

/// IPv6 only: the case is an IPv6 listener's (its IPv4 client is part of it).
#[rstest]
#[tokio::test]
async fn v4_mapped_on_a_v6_wildcard(
    #[future] pair: Result<Topology>,
    #[values(Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&socket_addresses::V4_MAPPED, family, pair.await?).await
}

/// IPv4 only: the special addresses are IPv4's.
#[rstest]
#[tokio::test]
async fn special_ipv4_addresses(
    #[future] pair: Result<Topology>,
    #[values(Family::V4)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&socket_addresses::SPECIAL_IPV4, family, pair.await?).await
}

/// Family-less: unix sockets; runs once, under IPv4.
#[rstest]
#[tokio::test]
async fn unix_lengths(
    #[future] pair: Result<Topology>,
    #[values(Family::V4)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&socket_addresses::UNIX, family, pair.await?).await
}
