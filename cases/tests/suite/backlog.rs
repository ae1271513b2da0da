//! Backlog refusal: see `netcase_cases::backlog`.

use netcase::{Family, Result, Topology, fixtures::pair, require_privileges};
use netcase_cases::{backlog, run};
use rstest::rstest;

#[rstest]
#[tokio::test]
async fn completions_per_backlog(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&backlog::COMPLETIONS_PER_BACKLOG, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn somaxconn_truncates(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&backlog::SOMAXCONN_TRUNCATES, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn accept_frees_a_slot(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&backlog::ACCEPT_FREES_A_SLOT, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn full_queue_drops_final_ack(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&backlog::FULL_QUEUE_DROPS_FINAL_ACK, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn abort_on_overflow(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&backlog::ABORT_ON_OVERFLOW, family, pair.await?).await
}

#[rstest]
#[tokio::test]
async fn half_open_limit(
    #[future] pair: Result<Topology>,
    #[values(Family::V4, Family::V6)] family: Family,
) -> Result<()> {
    require_privileges!();
    run(&backlog::HALF_OPEN_LIMIT, family, pair.await?).await
}
