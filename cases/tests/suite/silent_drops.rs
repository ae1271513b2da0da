//! Silent drops versus refusal: see `netcase_cases::silent_drops`.

use netcase::{Family, Result, Topology, fixtures::pair, require_privileges};
use netcase_cases::{run, silent_drops};
use rstest::rstest;

#[rstest]
#[tokio::test]
async fn refused_at_once(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&silent_drops::REFUSED, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn syn_retries_1_exponential(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&silent_drops::SYN_RETRIES_1, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn syn_retries_2_exponential(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&silent_drops::SYN_RETRIES_2, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn syn_retries_3_exponential(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&silent_drops::SYN_RETRIES_3, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn syn_retries_2_linear_2(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&silent_drops::LINEAR_2, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn tcp_syncnt_2_default_linear(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&silent_drops::SYNCNT_DEFAULT_LINEAR, family, pair.await?).await
}
