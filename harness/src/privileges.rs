//! What a test needs from the process and the machine, checked before anything is created:
//! capabilities, and external programs.

use crate::error::{Error, Result};

/// A Linux capability, by its number in `linux/capability.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// The capability's name, for messages.
    pub name: &'static str,
    /// Its bit in the capability sets.
    pub bit: u32,
}

/// Creating links, addresses, routes and qdiscs, and writing per-namespace sysctls.
pub const CAP_NET_ADMIN: Capability = Capability {
    name: "CAP_NET_ADMIN",
    bit: 12,
};
/// Creating network namespaces (`unshare`) and entering them (`setns`).
pub const CAP_SYS_ADMIN: Capability = Capability {
    name: "CAP_SYS_ADMIN",
    bit: 21,
};
/// Loading eBPF programs (the impairment layer's drop program).
pub const CAP_BPF: Capability = Capability {
    name: "CAP_BPF",
    bit: 39,
};

/// What building a topology needs.
pub const TOPOLOGY: &[Capability] = &[CAP_NET_ADMIN, CAP_SYS_ADMIN];

/// Checks that the process's effective capability set holds every capability in `needed`.
pub fn check(needed: &[Capability]) -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| Error::io("reading /proc/self/status", e))?;
    let effective = effective_set(&status).ok_or_else(|| {
        Error::io(
            "parsing CapEff in /proc/self/status",
            std::io::Error::other("no CapEff line"),
        )
    })?;
    let missing: Vec<&str> = needed
        .iter()
        .filter(|cap| effective & (1u64 << cap.bit) == 0)
        .map(|cap| cap.name)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Privileges {
            missing: missing.join(", "),
        })
    }
}

fn effective_set(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Whether this run is in CI (`CI=true`), where a test that cannot run must fail, not skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Decides whether a test that needs `needed` can run.
///
/// Returns `true` when the privileges are there. Otherwise prints one line naming the test, what is
/// missing and how to run instead, and returns `false`; under `CI=true` it panics with that line,
/// so that a privileged CI never passes by skipping.
pub fn can_run(needed: &[Capability]) -> bool {
    match check(needed) {
        Ok(()) => true,
        Err(e) => {
            cannot_run(&e);
            false
        }
    }
}

/// Says in one line why the current test cannot run; under `CI=true`, fails it with that line.
pub fn cannot_run(why: &dyn std::fmt::Display) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    if in_ci() {
        panic!("{test}: cannot run under CI=true: {why}");
    }
    skipped(test, &why.to_string());
}

/// Says that `test` did not run, and why, where a person running `cargo test` sees it: one `SKIP`
/// line on the process's stderr at once, and a count of such tests, with their reasons, after the
/// test harness's own summary.
///
/// libtest has no verdict for a test that decides at run time that it cannot run, and it
/// captures what a passing test prints with `eprintln!`: the line is written to the stderr file
/// itself, past the capture, and the count is printed when the process exits (an `atexit`
/// handler, after libtest's `test result:` line). Under nextest, which runs each test in a
/// process of its own and keeps a passing test's output, both show with `--success-output`.
pub fn skipped(test: &str, why: &str) {
    use std::io::Write as _;
    static SKIPPED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    extern "C" fn summary() {
        let skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
        if skipped.is_empty() {
            return;
        }
        let mut out = format!(
            "netcase: {} test{} could not run here and {} reported as passed (CI=true fails them):\n",
            skipped.len(),
            if skipped.len() == 1 { "" } else { "s" },
            if skipped.len() == 1 { "is" } else { "are" },
        );
        for line in skipped.iter() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }
    let line = format!("{test}: {why}");
    let _ = writeln!(std::io::stderr().lock(), "SKIP {line}");
    SKIPPED.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    AT_EXIT.call_once(|| {
        // SAFETY: registers a function with no arguments that only formats and writes to
        // stderr; atexit has no other precondition.
        unsafe { libc::atexit(summary) };
    });
}

/// Whether `NETCASE_KNOWN_MISSING` (names as `netcase list` shows them, separated by commas)
/// lists the kernel feature `name`: a CI machine whose kernel is known to lack it declares so
/// (this project's has no sch_netem; the matrix's guests run those cases), and a case skipped
/// for such features alone prints its SKIP line without failing, under `CI=true` too.
pub fn known_missing(name: &str) -> bool {
    std::env::var("NETCASE_KNOWN_MISSING")
        .is_ok_and(|list| list.split(',').any(|known| known.trim() == name))
}

/// Finds `program` on PATH. When it is missing, prints one line naming the test, the program and
/// the Debian `package` that has it, and returns `None`; under `CI=true` it panics with that line.
pub fn program(program: &str, package: &str) -> Option<std::path::PathBuf> {
    let found = on_path(program);
    if found.is_none() {
        cannot_run(&not_installed(program, package));
    }
    found
}

/// Where `program` is on PATH.
fn on_path(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

fn not_installed(program: &str, package: &str) -> String {
    format!("{program} is not installed (apt-get install {package})")
}

/// What a test returns when it cannot run: `()`, or `Ok(())` for tests that return a `Result`.
pub trait Skipped {
    /// The value to return.
    fn skipped() -> Self;
}

impl Skipped for () {
    fn skipped() -> Self {}
}

impl<E> Skipped for std::result::Result<(), E> {
    fn skipped() -> Self {
        Ok(())
    }
}

/// Returns early from a test (with a one-line reason) when the process cannot build topologies.
///
/// Under `CI=true` the test fails instead. Put it first in every test that builds a topology.
#[macro_export]
macro_rules! require_privileges {
    () => {
        if !$crate::privileges::can_run($crate::privileges::TOPOLOGY) {
            return $crate::privileges::Skipped::skipped();
        }
    };
}

/// Evaluates to the path of `program`, or returns early from the test (with a one-line reason)
/// when it is not installed; under `CI=true` the test fails instead.
#[macro_export]
macro_rules! require_program {
    ($program:expr, $package:expr) => {
        match $crate::privileges::program($program, $package) {
            Some(path) => path,
            None => return $crate::privileges::Skipped::skipped(),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_found_on_the_path_or_named_with_its_package() {
        assert!(on_path("sh").is_some());
        assert_eq!(on_path("netcase-no-such-program"), None);
        assert_eq!(
            not_installed("netcase-no-such-program", "nothing"),
            "netcase-no-such-program is not installed (apt-get install nothing)"
        );
    }

    #[test]
    fn parses_the_effective_set() {
        let status = "Name:\tx\nCapPrm:\t0000000000000000\nCapEff:\t0000000000201000\n";
        let eff = effective_set(status).unwrap();
        assert_ne!(eff & (1 << CAP_NET_ADMIN.bit), 0);
        assert_ne!(eff & (1 << CAP_SYS_ADMIN.bit), 0);
        assert_eq!(eff & (1 << CAP_BPF.bit), 0);
        assert_eq!(effective_set("Name:\tx\n"), None);
    }
}
