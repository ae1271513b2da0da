//! The kernel-behaviour cases of netcase: one module per behaviour, each case defined once and run
//! by two runners.
//!
//! - `cargo test -p netcase-cases` (as root): `tests/suite/<behaviour>.rs` has one rstest test
//!   per case and family, its topology from the harness's fixtures, calling [`run`]. The
//!   behaviours share one test binary, so that their cases run in parallel.
//! - the `netcase` command (`src/bin/netcase/`): lists [`cases`] and runs them with their reports.
//!
//! A case is a [`Def`]: what it declares ([`CaseInfo`]) and its body, an async function of the
//! running [`Case`] (its family, where its figures go) and the topology built for it. The body
//! asserts what the running kernel did and returns `Err` or panics when it did not.

use std::{future::Future, pin::Pin, sync::Arc};

use netcase::{
    Family, Result, Topology,
    case::{Case, CaseInfo},
};

pub mod backlog;
mod common;
pub mod keepalive;
pub mod linger;
pub mod silent_drops;
pub mod socket_addresses;
pub mod time_wait;

/// A case's body: the running case and its topology, to a verdict. The topology is shared so
/// that the runner can still read its hosts' counters and sockets when the body has finished.
pub type Body = fn(Arc<Case>, Arc<Topology>) -> Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// One case: what it declares, and its body.
pub struct Def {
    /// What it declares about itself.
    pub info: CaseInfo,
    /// What it does.
    pub body: Body,
}

/// Both families, for [`CaseInfo::families`].
pub const BOTH: &[Family] = &[Family::V4, Family::V6];

/// Every behaviour's cases, in the order `netcase list` shows them.
pub static BEHAVIOURS: &[&[&Def]] = &[
    backlog::ALL,
    silent_drops::ALL,
    linger::ALL,
    time_wait::ALL,
    keepalive::ALL,
    socket_addresses::ALL,
];

/// Every case, in the order `netcase list` shows them.
pub fn cases() -> impl Iterator<Item = &'static Def> {
    BEHAVIOURS.iter().flat_map(|b| b.iter().copied())
}

/// The case named `name`.
pub fn find(name: &str) -> Option<&'static Def> {
    cases().find(|d| d.info.name == name)
}

/// Runs `def` as `case` on `net` (built as `def.info.shape` says) and returns its verdict.
///
/// A kernel that lacks a feature the case declares, or that turns out to lack what the body
/// needs ([`netcase::Error::skip_reason`]), gives [`netcase::Error::Skip`] with the reason: the
/// runners report it as SKIP, never as PASS.
pub async fn run_with(def: &'static Def, case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    let missing = def.info.missing();
    if !missing.is_empty() {
        let why = missing
            .iter()
            .map(|f| f.missing())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(netcase::Error::Skip(format!(
            "this kernel cannot run it: {why}"
        )));
    }
    match attempt(def, case, net)
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    {
        Err(e) if !matches!(e, netcase::Error::Skip(_)) => match e.skip_reason() {
            Some(why) => Err(netcase::Error::Skip(why)),
            None => Err(e),
        },
        other => other,
    }
}

/// One run of the body, its panic caught. A case that hangs fails instead of stalling the suite
/// (cargo test has no timeout of its own): after four times its expected duration, and half a
/// minute for a loaded machine.
async fn attempt(
    def: &'static Def,
    case: Arc<Case>,
    net: Arc<Topology>,
) -> std::result::Result<Result<()>, Box<dyn std::any::Any + Send>> {
    use futures::FutureExt;
    let limit = def.info.expected * 4 + std::time::Duration::from_secs(30);
    let body = std::panic::AssertUnwindSafe((def.body)(case, net)).catch_unwind();
    match tokio::time::timeout(limit, body).await {
        Ok(verdict) => verdict,
        Err(_) => Ok(Err(netcase::Error::Timeout {
            what: format!("case {} to finish", def.info.name),
            waited: limit,
            last: format!(
                "still running; it is expected to take about {:?}",
                def.info.expected
            ),
        })),
    }
}

/// Runs `def` over `family` on `net`, for a cargo test. A case that fails, with an error or a
/// panic, keeps its pcaps and expectation checks in its output directory.
///
/// A case that cannot run on this kernel prints one `SKIP` line with the reason and returns
/// `Ok` (libtest has no verdict of its own for it); under `CI=true` it fails instead.
pub async fn run(def: &'static Def, family: Family, net: Topology) -> Result<()> {
    static OLD_KERNEL: std::sync::Once = std::sync::Once::new();
    OLD_KERNEL.call_once(|| {
        if let Some(warning) = netcase::kernel().ok().and_then(|k| k.unsupported()) {
            eprintln!("netcase: {warning}");
        }
    });
    let dir = netcase::capture::output_dir();
    netcase::capture::hold_output(&dir);
    let released = Release(Some(dir));
    let verdict = run_with(def, Case::new(&def.info, family, 0), Arc::new(net)).await;
    released.finish(verdict.is_err());
    match verdict {
        Err(netcase::Error::Skip(why)) => {
            netcase::privileges::cannot_run(&why);
            Ok(())
        }
        other => other,
    }
}

/// Releases a held output directory, keeping its files if the case failed or panicked.
struct Release(Option<std::path::PathBuf>);

impl Release {
    fn finish(mut self, failed: bool) {
        if let Some(dir) = self.0.take() {
            netcase::capture::release_output(&dir, failed);
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        // Still set only when the case panicked.
        if let Some(dir) = self.0.take() {
            netcase::capture::release_output(&dir, true);
        }
    }
}
