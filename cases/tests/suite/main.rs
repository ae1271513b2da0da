//! Every test of this package in one binary, with a harness of its own (libtest-mimic): one test
//! per case and family, made from the registry ([`netcase_cases::cases`]), the registry's checks,
//! the `netcase` command end to end (`command`) and the kernel matrix under qemu (`matrix`).
//!
//! One binary because cargo runs test binaries one after another, and one case waits 60 s on
//! TIME_WAIT, a timer no sysctl shortens: everything else runs while it waits. The cases start
//! longest first, so that the suite takes about as long as its longest case; 16 at a time unless
//! `--test-threads` or `RUST_TEST_THREADS` says otherwise (`.cargo/config.toml`: the cases
//! mostly wait on kernel timers, and more than that at once on two cores delays their wake-ups
//! beyond what their timings allow).
//!
//! A case's test is named `<case>::family_<i>_Family__<V4|V6>`, `i` counting the case's own
//! families from 1 (as rstest named them), so `cargo test time_wait::` and
//! `cargo test -- --exact backlog::somaxconn_truncates::family_1_Family__V4` work as before.
//!
//! The long tier's cases ([`Tier::Long`]: over a minute each) are ignored tests, as cargo
//! marks what runs only on request: `cargo test --workspace -- --include-ignored` runs them
//! with everything else (longest first, so in parallel with the rest), `-- --ignored` alone.

use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};
use netcase::{
    Family,
    case::{Def, Tier},
    privileges,
};

mod command;
mod matrix;
mod pages;
mod registry;

/// How many tests run at once unless told otherwise.
const THREADS: usize = 16;

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // The build that made this binary may still be writing its gigabytes back to disk: written
    // back while the cases run, they delay the kernel's timers and softirqs (a SYN-ACK 55 ms
    // late, seen right after a rebuild). Wait for them first; seconds at most, nothing when
    // nothing is dirty.
    nix::unistd::sync();
    if args.test_threads.is_none() {
        args.test_threads = Some(
            std::env::var("RUST_TEST_THREADS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(THREADS),
        );
    }
    let mut defs: Vec<&'static Def> = netcase_cases::cases().collect();
    // Longest first (a stable sort: the registry's order otherwise), the matrix's tests (which
    // wait about 15 s on qemu guests) among them.
    defs.sort_by_key(|d| std::cmp::Reverse(d.info.expected));
    let (long, short): (Vec<_>, Vec<_>) = defs
        .into_iter()
        .partition(|d| d.info.expected > matrix::EXPECTED);
    let mut trials: Vec<Trial> = long.into_iter().flat_map(case_trials).collect();
    trials.extend(matrix::trials());
    trials.extend(short.into_iter().flat_map(case_trials));
    trials.extend(command::trials());
    // Chromium, last: kept away from the timing cases at the start (a fresh machine's first
    // Chromium builds its font cache, seconds of both CPUs).
    trials.extend(pages::trials());
    trials.extend(registry::trials());
    libtest_mimic::run(&args, trials).exit_code()
}

/// The name of `def`'s test over its `index`th family (from 0).
pub fn test_name(def: &Def, index: usize, family: Family) -> String {
    let v = match family {
        Family::V4 => "V4",
        Family::V6 => "V6",
    };
    format!("{}::family_{}_Family__{v}", def.info.name, index + 1)
}

/// One test per family of `def`.
fn case_trials(def: &'static Def) -> Vec<Trial> {
    def.info
        .families
        .iter()
        .enumerate()
        .map(|(i, &family)| {
            let name = test_name(def, i, family);
            Trial::test(name.clone(), move || {
                on_thread(&name, move || run_case(def, family))
            })
            .with_ignored_flag(def.info.tier == Tier::Long)
        })
        .collect()
}

/// Builds `def`'s topology and runs it over `family`, as `#[netcase::test]` runs a test: a
/// failure leaves the case's bug-report bundle in its output directory, from the captures the
/// case made itself (no capture of every link end: 16 cases at once cannot spare it).
fn run_case(def: &'static Def, family: Family) -> Result<(), Failed> {
    if !privileges::can_run(privileges::TOPOLOGY) {
        return Ok(());
    }
    let info = netcase::TestInfo {
        name: def.info.name,
        summary: def.info.summary,
        package: env!("CARGO_PKG_NAME"),
        krate: env!("CARGO_CRATE_NAME"),
        file: file!(),
        line: line!(),
        capture_all: false,
    };
    netcase::bundle::run(
        info,
        Box::pin(async move {
            let net = def.info.shape.build().await?;
            netcase_cases::run(def, family, net).await
        }),
    )
    .map_err(|e| Failed::from(e.to_string()))
}

/// Runs `test` on a thread named `name`, as libtest does: the harness names a test's output
/// directory (and its SKIP line) after its thread. A panic fails the test with its message.
pub fn on_thread(
    name: &str,
    test: impl FnOnce() -> Result<(), Failed> + Send + 'static,
) -> Result<(), Failed> {
    let joined = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(test)
        .map_err(|e| Failed::from(format!("starting the test's thread: {e}")))?
        .join();
    match joined {
        Ok(verdict) => verdict,
        Err(panic) => Err(Failed::from(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned()),
        )),
    }
}

/// A plain test (a function that panics to fail) named `name`, on a thread of that name.
pub fn plain(name: &str, test: fn()) -> Trial {
    let thread = name.to_owned();
    Trial::test(name, move || {
        on_thread(&thread, move || {
            test();
            Ok(())
        })
    })
}
