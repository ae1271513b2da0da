//! Every test of this package in one binary: the kernel-behaviour cases (one module per
//! behaviour), the registry's checks, the `netcase` command end to end (`command`) and the kernel
//! matrix under qemu (`matrix`).
//!
//! One binary because cargo runs test binaries one after another, and one case waits 60 s on
//! TIME_WAIT, a timer no sysctl shortens: everything else runs while it waits.

mod backlog;
mod command;
mod keepalive;
mod linger;
mod matrix;
mod registry;
mod silent_drops;
mod socket_addresses;
mod time_wait;

/// The case that waits on TIME_WAIT's 60 s, under a name that sorts first. libtest starts tests
/// in name order, one per free thread (`.cargo/config.toml`: 16, more than the CPUs because the
/// cases mostly wait, few enough that their timings hold on two cores); under `time_wait` this
/// one would start last, seconds in, and the suite would wait for it. A filter such as
/// `time_wait::ports_come_back` still finds it.
mod _60s {
    /// TIME_WAIT: see `netcase_cases::time_wait`.
    mod time_wait {
        use netcase::{Family, Result, Topology, fixtures::pair, require_privileges};
        use netcase_cases::{run, time_wait};
        use rstest::rstest;

        #[rstest]
        #[tokio::test]
        async fn ports_come_back(
            #[future] pair: Result<Topology>,
            #[values(Family::V4, Family::V6)] family: Family,
        ) -> Result<()> {
            require_privileges!();
            run(&time_wait::PORTS_COME_BACK, family, pair.await?).await
        }
    }
}
