//! TIME_WAIT: see `netcase_cases::time_wait`.

use netcase::{Family, Result, Topology, fixtures::pair, require_privileges};
use netcase_cases::{run, time_wait};
use rstest::rstest;

#[rstest]
#[tokio::test]
async fn held_by_active_closer(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&time_wait::HELD_BY_ACTIVE_CLOSER, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn exhaustion_without_reuse(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&time_wait::EXHAUSTION, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn reuse_loopback_only(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&time_wait::REUSE_LOOPBACK_ONLY, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn reuse_after_delay(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&time_wait::REUSE, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn reuse_needs_timestamps(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&time_wait::REUSE_WITHOUT_TIMESTAMPS, family, pair.await?).await
}

// `time_wait::ports_come_back` is in main.rs, under `_60s`: it must start first.

#[rstest]
#[tokio::test]
async fn assassinated(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&time_wait::ASSASSINATED, family, pair.await?).await
}
