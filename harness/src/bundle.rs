//! The bug-report bundle of any test written with the harness: a test marked
//! `#[netcase::test]` (instead of `#[tokio::test]`) that fails or panics leaves in
//! `target/netcase/<test>/` the same bundle `netcase run` leaves for a built-in case — a README
//! whose first lines say what failed and how to rerun it, the pcaps, timeline, ladder, counters,
//! socket tables, settings and `result.json`. A test that passes leaves nothing.
//!
//! ```no_run
//! use netcase::{Family, Result, Topology};
//!
//! /// The client connects.
//! #[netcase::test]
//! async fn connects() -> Result<()> {
//!     netcase::require_privileges!();
//!     let net = Topology::pair().await?;
//!     net.connect("client", "server", Family::V4, 7000).await?;
//!     Ok(())
//! }
//! ```
//!
//! How: [`run`] runs the test's body on a current-thread tokio runtime (as `#[tokio::test]`
//! does) with this module's record of the test on its thread. The first topology built there is
//! recorded from birth (its hosts' counters, a capture of every link end) and, when the test
//! drops it, parked rather than torn down, so that once the verdict is known its socket tables
//! and counters can still be read. Then the bundle is written (on a failure) and the topology
//! goes. (Later topologies of the same test come and go as usual: a test that builds one per
//! iteration keeps one alive, not all.) libtest tells a test nothing of its own verdict, hence the attribute: it is the
//! one place that sees both an `Err` the test returns and a panic.

use std::{
    cell::RefCell, collections::BTreeMap, future::Future, panic::AssertUnwindSafe, path::Path,
    pin::Pin, time::Instant,
};

use futures::FutureExt as _;

use crate::{
    Topology,
    observe::Counters,
    packets::capture::{self, Recording},
    report::{self, first_line},
};

/// What `#[netcase::test]` knows of the test it marks, at compile time.
#[derive(Debug, Clone, Copy)]
pub struct TestInfo {
    /// The function's name.
    pub name: &'static str,
    /// The first line of its doc comment, or empty.
    pub summary: &'static str,
    /// The package (`CARGO_PKG_NAME`), for the rerun command.
    pub package: &'static str,
    /// The test target's crate (`CARGO_CRATE_NAME`), for the rerun command.
    pub krate: &'static str,
    /// Where the function is.
    pub file: &'static str,
    /// Its line.
    pub line: u32,
    /// Whether the first topology it builds is captured whole, every link end from birth, for
    /// the bug report (`#[netcase::test]`: yes). A runner of tests that record what they check
    /// themselves (the suite's cases) says no: a capture of every link end of every test running
    /// costs the machine what timing tests cannot spare.
    pub capture_all: bool,
}

/// How a test's body ended: `()` or a `Result`, as libtest accepts.
pub trait Outcome {
    /// What went wrong, when it did.
    fn failure(&self) -> Option<String>;
}

impl Outcome for () {
    fn failure(&self) -> Option<String> {
        None
    }
}

impl<E: std::fmt::Display> Outcome for std::result::Result<(), E> {
    fn failure(&self) -> Option<String> {
        self.as_ref().err().map(|e| e.to_string())
    }
}

/// A topology built during the test, watched from birth.
struct Watched {
    /// The topology's [`Topology::serial`].
    serial: u64,
    before: BTreeMap<String, Counters>,
    recording: Option<Recording>,
    /// Why it could not be watched in full, for the bundle's notes.
    trouble: Vec<String>,
}

#[derive(Default)]
struct Active {
    /// The first topology the test built, as recorded from birth.
    watched: Option<Watched>,
    /// That topology, once the test dropped it.
    parked: Option<Topology>,
    /// The last panic's message and place, as the hook saw it.
    panic: Option<(String, String)>,
    /// [`TestInfo::capture_all`].
    capture_all: bool,
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

/// Records `net`, just built, for the bundle of the test running on this thread, if that test
/// is a `#[netcase::test]`: its hosts' counters now, and a capture of every link end. Best effort: what cannot be read is noted in the bundle, the test goes on.
pub(crate) async fn built(net: &Topology) {
    // The first topology only: the bundle shows one, and a test that builds many (a loop of
    // them) must not keep them all alive until its end.
    let first = ACTIVE.with(|a| a.borrow().as_ref().is_some_and(|a| a.watched.is_none()));
    if !first {
        return;
    }
    let mut watched = Watched {
        serial: net.serial(),
        before: BTreeMap::new(),
        recording: None,
        trouble: Vec::new(),
    };
    for host in net.hosts() {
        let name = host.name().to_owned();
        match host.counters().await {
            Ok(c) => drop(watched.before.insert(name, c)),
            Err(e) => watched.trouble.push(format!("counters of {name}: {e}")),
        }
    }
    let capture_all = ACTIVE.with(|a| a.borrow().as_ref().is_some_and(|a| a.capture_all));
    if capture_all {
        let names: Vec<String> = net.hosts().map(|h| h.name().to_owned()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        match net
            .record_shaped(&names, crate::packets::ring::BACKGROUND)
            .await
        {
            Ok(r) => watched.recording = Some(r),
            Err(e) => watched.trouble.push(format!("no capture: {e}")),
        }
    }
    ACTIVE.with(|a| {
        if let Some(active) = a.borrow_mut().as_mut() {
            active.watched = Some(watched);
        }
    });
}

/// Keeps `net` (the fields of a topology being dropped) until the running `#[netcase::test]`
/// knows its verdict, if it is the topology that test's bug report follows; gives it back
/// otherwise, to be torn down now.
pub(crate) fn park(net: Topology) -> Option<Topology> {
    ACTIVE.with(|a| match a.borrow_mut().as_mut() {
        Some(active)
            if active.parked.is_none()
                && active
                    .watched
                    .as_ref()
                    .is_some_and(|w| w.serial == net.serial()) =>
        {
            active.parked = Some(net);
            None
        }
        _ => Some(net),
    })
}

/// Runs a `#[netcase::test]`'s body and returns its outcome, leaving the bundle when it failed
/// or panicked (the panic then goes on). Called by the attribute's expansion, not by hand.
pub fn run<T: Outcome>(info: TestInfo, body: Pin<Box<dyn Future<Output = T> + '_>>) -> T {
    install_panic_hook();
    let dir = capture::output_dir();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime");
    let _ = std::fs::remove_dir_all(&dir);
    capture::hold_output(&dir);
    ACTIVE.with(|a| {
        *a.borrow_mut() = Some(Active {
            capture_all: info.capture_all,
            ..Active::default()
        })
    });
    let start = Instant::now();
    let (outcome, failed) = runtime.block_on(async {
        let outcome = AssertUnwindSafe(body).catch_unwind().await;
        let duration = start.elapsed().as_secs_f64();
        let active = ACTIVE.with(|a| a.borrow_mut().take()).unwrap_or_default();
        let failure = match &outcome {
            Ok(value) => value.failure().map(|e| (e, None)),
            Err(panic) => Some(panic_failure(&**panic, active.panic.clone())),
        };
        let failed = failure.is_some();
        if let Some((error, place)) = failure {
            let written = write(info, &dir, active, &error, place, duration).await;
            match written {
                Ok(readme) => eprintln!("netcase: bug report: {}", readme.display()),
                Err(e) => eprintln!(
                    "netcase: the bug report in {} is incomplete: {e}",
                    dir.display()
                ),
            }
        } else {
            // Recordings stop unwritten, parked topologies go: nothing is left.
            drop(active);
        }
        (outcome, failed)
    });
    capture::release_output(&dir, failed);
    match outcome {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The bundle of a failed test: its README's path.
async fn write(
    info: TestInfo,
    dir: &Path,
    mut active: Active,
    error: &str,
    place: Option<String>,
    duration: f64,
) -> crate::Result<std::path::PathBuf> {
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or(info.name)
        .to_owned();
    let family = family_of(&test);
    let target = if info.krate == info.package.replace('-', "_") {
        "--lib".to_owned()
    } else {
        format!("--test {}", info.krate)
    };
    let rerun = format!(
        "cargo test -p {} {target} -- --exact '{test}' --include-ignored",
        info.package
    );
    let place = place.unwrap_or_else(|| {
        format!(
            "returned as an error by the test ({}:{})",
            info.file, info.line
        )
    });
    let summary = if info.summary.is_empty() {
        format!("{} ({}:{})", info.name, info.file, info.line)
    } else {
        info.summary.to_owned()
    };
    let case = crate::case::CaseInfo::named(info.name, info.summary);
    let tool = report::Tool {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: "unknown".to_owned(),
    };
    let mut result =
        report::CaseResult::unfinished(&case, family, 0, report::kernel(), tool, rerun);
    result.case = test.clone();
    result.summary = summary;
    result.reason = Some(format!("{} — {place}", first_line(error)));
    result.error = Some(error.to_owned());
    result.duration_s = duration;
    result.expected_s = 0.0;
    let net = active.parked.take();
    if let Some(mut watched) = active.watched.take() {
        result.notes.append(&mut watched.trouble);
        if let Some(recording) = watched.recording.take() {
            match recording.stop().await {
                Ok(recorded) => drop(recorded),
                Err(e) => result
                    .notes
                    .push(format!("the whole-test capture failed: {e}")),
            }
        }
        if let Some(net) = &net {
            for host in net.hosts() {
                let name = host.name().to_owned();
                // As the test left them (read at the start, they would cost every passing test).
                match host.settings().await {
                    Ok(s) => drop(result.settings.insert(name.clone(), s)),
                    Err(e) => result.notes.push(format!("settings of {name}: {e}")),
                }
            }
            result.read_end(net, &watched.before).await;
        } else {
            result.notes.push(
                "the test still held its topology when it ended: no socket tables or counters"
                    .to_owned(),
            );
        }
    } else {
        result
            .notes
            .push("the test built no topology: there is nothing on the wire to show".to_owned());
    }
    report::write_bundle(dir, net.as_ref(), &mut result)?;
    drop(net);
    drop(active);
    Ok(dir.join("README.md"))
}

/// The family of the test named `test`, as its bundle records it: `v4` or `v6` for one of the
/// tests `#[rstest]` makes of a `Family` parameter (`connects::family_2_Family__V6`), otherwise
/// [`report::NO_FAMILY`].
pub fn family_of(test: &str) -> &'static str {
    if test.contains("Family__V6") {
        "v6"
    } else if test.contains("Family__V4") {
        "v4"
    } else {
        report::NO_FAMILY
    }
}

/// A panic's message and where it happened (from the hook, when it saw this one).
fn panic_failure(
    panic: &(dyn std::any::Any + Send),
    seen: Option<(String, String)>,
) -> (String, Option<String>) {
    let message =
        report::panic_text(panic).unwrap_or_else(|| "a panic without a message".to_owned());
    let place = seen
        .filter(|(m, _)| *m == message)
        .map(|(_, at)| format!("panicked at {at}"));
    (message, place.or_else(|| Some("panicked".to_owned())))
}

/// Records where a panic on a `#[netcase::test]`'s thread happened, then lets the hook that was
/// there before (libtest's, or the default) report it as usual.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let seen = report::panic_seen(info);
            let _ = ACTIVE.try_with(|a| {
                if let Ok(mut a) = a.try_borrow_mut()
                    && let Some(active) = a.as_mut()
                {
                    active.panic = Some(seen);
                }
            });
            previous(info);
        }));
    });
}
