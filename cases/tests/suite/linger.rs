//! SO_LINGER: see `netcase_cases::linger`.

use netcase::{Family, Result, Topology, fixtures::pair, require_privileges};
use netcase_cases::{linger, run};
use rstest::rstest;

#[rstest]
#[tokio::test]
async fn default_close(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&linger::DEFAULT_CLOSE, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn zero_aborts_with_reset(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&linger::ABORT, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn default_close_delivers_later(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&linger::DEFAULT_CLOSE_DELIVERS, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn timeout_returns_zero_and_keeps_the_data(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&linger::LINGER_TIMEOUT, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn nonblocking_still_blocks(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&linger::LINGER_NONBLOCKING, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn unread_data_resets(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&linger::UNREAD_DATA, family, pair.await?).await
}
