//! The kernel-behaviour cases of netcase: one module per behaviour, each case defined once (a
//! [`netcase::case::Def`]) and run by two runners.
//!
//! - `cargo test -p netcase-cases` (as root): `tests/suite/` makes one test per case and family
//!   from [`cases`], its topology built as the case declares, run with [`netcase::case::run`].
//! - the `netcase` command (`src/bin/netcase/main.rs`): [`netcase::cli`] over [`BEHAVIOURS`], which
//!   lists the cases and runs them with their reports, here and on other kernels.
//!
//! A body asserts what the running kernel did and returns `Err` or panics when it did not. A
//! behaviour module never imports another: what two share is in the harness, or in `common`;
//! the claims of the notes they check are in `claims`.

pub use netcase::case::{BOTH, Def, run, run_with};

pub mod backlog;
pub mod claims;
mod common;
pub mod keepalive;
pub mod linger;
pub mod retransmit;
pub mod silent_drops;
pub mod socket_addresses;
pub mod time_wait;

/// Every behaviour's cases, in the order `netcase list` shows them.
pub static BEHAVIOURS: &[&[&Def]] = &[
    backlog::ALL,
    silent_drops::ALL,
    linger::ALL,
    time_wait::ALL,
    keepalive::ALL,
    socket_addresses::ALL,
    retransmit::ALL,
];

/// Every case, in the order `netcase list` shows them.
pub fn cases() -> impl Iterator<Item = &'static Def> {
    BEHAVIOURS.iter().flat_map(|b| b.iter().copied())
}

/// The case named `name`.
pub fn find(name: &str) -> Option<&'static Def> {
    cases().find(|d| d.info.name == name)
}
