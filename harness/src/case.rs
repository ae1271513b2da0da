//! A kernel-behaviour case: what it declares about itself, and what it leaves behind while it runs.
//!
//! A case is defined once, as a [`Def`]: what it declares ([`CaseInfo`]) and its body, an async
//! function of the running [`Case`] and the topology built for it:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use netcase::{Result, Topology, body, case::{Case, Def}, impair::Feature};
//!
//! /// SO_LINGER {1, 0}: close() sends a reset instead of a FIN.
//! pub static ABORT: Def = Def::new(
//!     "linger::zero_aborts_with_reset",
//!     "SO_LINGER {1, 0}: close() sends RST, no TIME_WAIT",
//!     body!(abort),
//! )
//! .needs(&[Feature::Bpf])
//! .expected(Duration::from_millis(200));
//!
//! async fn abort(case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
//!     Ok(())
//! }
//! ```
//!
//! Runners give the body a [`Case`]: the family to run over, and a place to put the figures it
//! measured and the notes a reader needs; they write those into the case's report. [`run`] is
//! the runner of a cargo test; the `netcase` command has its own, with bundles.

use std::{
    future::Future,
    path::PathBuf,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{Family, Result, Topology, claims::Finding, impair::Feature};

/// A case's body: the running case and its topology, to a verdict. The topology is shared so
/// that a runner can still read its hosts' counters and sockets when the body has finished.
pub type Body = fn(Arc<Case>, Arc<Topology>) -> Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// A case's body from an async function of `(Arc<Case>, Arc<Topology>)`, with any further
/// arguments after them: `body!(abort)`, `body!(syn_case, Setting { .. })`.
#[macro_export]
macro_rules! body {
    ($f:path $(, $arg:expr)* $(,)?) => {
        |case, net| ::std::boxed::Box::pin($f(case, net $(, $arg)*))
    };
}

/// Both families, IPv4 first: what a case runs over unless it says otherwise.
pub const BOTH: &[Family] = &[Family::V4, Family::V6];

/// One case: what it declares, and its body.
pub struct Def {
    /// What it declares about itself.
    pub info: CaseInfo,
    /// What it does.
    pub body: Body,
}

impl Def {
    /// A case named `behaviour::what`, with a one-line `summary`: over both families, on a
    /// [`Shape::Pair`], needing nothing, expected to take a second, until said otherwise.
    pub const fn new(name: &'static str, summary: &'static str, body: Body) -> Def {
        Def {
            info: CaseInfo::named(name, summary),
            body,
        }
    }

    /// On a [`Shape::Routed`] topology.
    pub const fn routed(mut self) -> Def {
        self.info.shape = Shape::Routed;
        self
    }

    /// Over these families only.
    pub const fn families(mut self, families: &'static [Family]) -> Def {
        self.info.families = families;
        self
    }

    /// Needing these kernel features: without one it is a SKIP that names it.
    pub const fn needs(mut self, needs: &'static [Feature]) -> Def {
        self.info.needs = needs;
        self
    }

    /// Expected to take about this long here (for progress displays and the hang limit).
    pub const fn expected(mut self, expected: Duration) -> Def {
        self.info.expected = expected;
        self
    }

    /// What it shows of the claims of its suite's source (the README's claims table).
    pub const fn shows(mut self, findings: &'static [Finding]) -> Def {
        self.info.shows = findings;
        self
    }

    /// In the [`Tier::Long`]: run only on request.
    pub const fn long(mut self) -> Def {
        self.info.tier = Tier::Long;
        self
    }
}

/// When a case runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Every run: `cargo test`, `netcase run`, the matrix.
    Default,
    /// Cases that take over a minute (a kernel's untouched default timers, for example): only
    /// on request — `cargo test -- --include-ignored` (or `--ignored`: these alone), `netcase
    /// run --long`, `netcase kernels --long`. They run in parallel with the rest, so the tier
    /// adds about its longest case to a run.
    Long,
}

/// The topology a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `client` and `server` on one link ([`Topology::pair`]).
    Pair,
    /// `client` - `router` - `server` ([`Topology::routed`]).
    Routed,
}

impl Shape {
    /// Builds the topology.
    pub async fn build(self) -> crate::Result<Topology> {
        match self {
            Shape::Pair => Topology::pair().await,
            Shape::Routed => Topology::routed().await,
        }
    }
}

/// What a case declares about itself, for `netcase list` and for reports.
#[derive(Debug, Clone, Copy)]
pub struct CaseInfo {
    /// Its name, as `behaviour::what` (for example `backlog::completions_per_backlog`).
    pub name: &'static str,
    /// One line: what it shows.
    pub summary: &'static str,
    /// The topology it runs on.
    pub shape: Shape,
    /// The families it runs over.
    pub families: &'static [Family],
    /// The kernel features it needs beyond a topology.
    pub needs: &'static [Feature],
    /// How long it takes here, about (for progress displays, not a limit).
    pub expected: Duration,
    /// When it runs.
    pub tier: Tier,
    /// What it shows of claims ([`crate::claims`]).
    pub shows: &'static [Finding],
}

impl CaseInfo {
    /// What a case named `name` with `summary` declares until it says otherwise: over both
    /// families, on a [`Shape::Pair`], needing nothing, expected to take a second.
    pub const fn named(name: &'static str, summary: &'static str) -> CaseInfo {
        CaseInfo {
            name,
            summary,
            shape: Shape::Pair,
            families: BOTH,
            needs: &[],
            expected: Duration::from_secs(1),
            tier: Tier::Default,
            shows: &[],
        }
    }

    /// The features it needs that this kernel lacks.
    pub fn missing(&self) -> Vec<Feature> {
        let found = crate::impair::features();
        self.needs
            .iter()
            .copied()
            .filter(|f| !found.has(*f))
            .collect()
    }
}

/// What decides a figure's value, and so whether two kernels' values may be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The kernel decides it, the same on every run: a count, an errno, a length, a setting, a
    /// timer's nominal value that the case checked the kernel kept to. Two kernels that differ
    /// in it behave differently: the kernel comparison marks it.
    #[default]
    Kernel,
    /// A measure of the machine as much as of the kernel: a latency, how long a call took, a
    /// timer's observed firing. Shown, never compared: emulation slows such figures 10-100 fold.
    Machine,
}

/// One measured figure: what the case found, for reports and for comparing kernels.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Its name, in snake case (for example `syn_gaps`).
    pub name: String,
    /// The values measured (one, or a series such as the gaps between retransmissions).
    pub values: Vec<f64>,
    /// The unit (`ms`, `s`, `connections`, ...).
    pub unit: String,
    /// What decides it.
    pub kind: Kind,
}

/// A behaviour the case saw the kernel follow, in words: which rule applied on this kernel
/// (`SYN schedule`: `a linear phase of 4 timeouts, then doubling`). Two kernels whose texts
/// differ behave differently, and the comparison says so in these words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behaviour {
    /// What it is about, a few words.
    pub topic: String,
    /// What this kernel does, one line.
    pub text: String,
}

/// A running case: the family it runs over, and what it leaves for its report.
#[derive(Debug)]
pub struct Case {
    info: &'static CaseInfo,
    family: Family,
    seed: u64,
    found: Mutex<Found>,
}

/// Whether figures and notes stay out of stderr: under the netcase command (which sets
/// NETCASE_OUT) they go to the report instead.
fn quiet() -> bool {
    std::env::var_os("NETCASE_OUT").is_some()
}

/// What a case measured and noted while it ran.
#[derive(Debug, Default, Clone)]
pub struct Found {
    /// Figures, in the order measured.
    pub figures: Vec<Figure>,
    /// Notes, in the order written.
    pub notes: Vec<String>,
    /// The rules the kernel followed, in the order recorded.
    pub behaviours: Vec<Behaviour>,
    /// Socket tables at checkpoints: label, host, one line per socket.
    pub checkpoints: Vec<(String, String, Vec<String>)>,
}

impl Case {
    /// A case about to run over `family`, with random choices drawn from `seed`.
    pub fn new(info: &'static CaseInfo, family: Family, seed: u64) -> Arc<Case> {
        Arc::new(Case {
            info,
            family,
            seed,
            found: Mutex::new(Found::default()),
        })
    }

    /// What the case declares about itself.
    pub fn info(&self) -> &'static CaseInfo {
        self.info
    }

    /// The family it runs over.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The seed for its random choices (impairment loss, for example).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Records a figure the kernel decides ([`Kind::Kernel`]: a count, an errno, a length, a
    /// timer's nominal value the case checked), with its unit; printed at once, so that a
    /// passing `cargo test -- --nocapture` shows what the kernel did.
    pub fn figure(&self, name: &str, values: &[f64], unit: &str) {
        self.record(name, values, unit, Kind::Kernel);
    }

    /// Records a figure that measures the machine as much as the kernel ([`Kind::Machine`]: a
    /// latency, an observed timer firing); reports show it, kernel comparisons never mark it.
    pub fn measure(&self, name: &str, values: &[f64], unit: &str) {
        self.record(name, values, unit, Kind::Machine);
    }

    fn record(&self, name: &str, values: &[f64], unit: &str, kind: Kind) {
        eprintln!(
            "figure {}[{}] {name} = {values:?} {unit}",
            self.info.name, self.family
        );
        self.lock().figures.push(Figure {
            name: name.to_owned(),
            values: values.to_vec(),
            unit: unit.to_owned(),
            kind,
        });
    }

    /// Records which rule the kernel followed, in words (`SYN schedule`, `no linear phase: this
    /// kernel has no tcp_syn_linear_timeouts`): a kernel comparison shows it where kernels
    /// differ.
    pub fn behaviour(&self, topic: &str, text: &str) {
        if !quiet() {
            eprintln!(
                "behaviour {}[{}] {topic}: {text}",
                self.info.name, self.family
            );
        }
        self.lock().behaviours.push(Behaviour {
            topic: topic.to_owned(),
            text: text.to_owned(),
        });
    }

    /// Records a note for the reader of its report (what the kernel did that the classic
    /// description does not say, for example).
    pub fn note(&self, text: impl Into<String>) {
        let text = text.into();
        if !quiet() {
            eprintln!("note {}[{}] {text}", self.info.name, self.family);
        }
        self.lock().notes.push(text);
    }

    /// Records every host's socket table now, under `label` (for example `after close`), for
    /// the report: a reader sees the states and timers at the moments the case cares about.
    pub async fn checkpoint(&self, net: &Topology, label: &str) -> crate::Result<()> {
        for host in net.hosts() {
            let table = host.sockets().await?;
            let lines = table.iter().map(|s| s.to_string()).collect();
            self.lock()
                .checkpoints
                .push((label.to_owned(), host.name().to_owned(), lines));
        }
        Ok(())
    }

    /// What it measured and noted so far.
    pub fn found(&self) -> Found {
        self.lock().clone()
    }

    /// Where its files go (pcaps, the report): [`crate::packets::capture::output_dir`].
    pub fn dir(&self) -> PathBuf {
        crate::packets::capture::output_dir()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Found> {
        self.found.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs `def` as `case` on `net` (built as `def.info.shape` says) and returns its verdict.
///
/// A kernel that lacks a feature the case declares, or that turns out to lack what the body
/// needs ([`crate::Error::skip_reason`]), gives [`crate::Error::Skip`] with the reason: runners
/// report it as SKIP, never as PASS. A case that hangs fails instead of stalling its runner:
/// after four times its expected duration, and half a minute for a loaded machine.
pub async fn run_with(def: &'static Def, case: Arc<Case>, net: Arc<Topology>) -> Result<()> {
    use futures::FutureExt;
    let missing = def.info.missing();
    if !missing.is_empty() {
        let why = missing
            .iter()
            .map(|f| f.missing())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(crate::Error::Skip(format!(
            "this kernel cannot run it: {why}"
        )));
    }
    let limit = def.info.expected * 4 + Duration::from_secs(30);
    let body = std::panic::AssertUnwindSafe((def.body)(case, net)).catch_unwind();
    let verdict = match tokio::time::timeout(limit, body).await {
        Ok(Ok(verdict)) => verdict,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => Err(crate::Error::Timeout {
            what: format!("case {} to finish", def.info.name),
            waited: limit,
            last: format!(
                "still running; it is expected to take about {:?}",
                def.info.expected
            ),
        }),
    };
    match verdict {
        Err(e) if !matches!(e, crate::Error::Skip(_)) => match e.skip_reason() {
            Some(why) => Err(crate::Error::Skip(why)),
            None => Err(e),
        },
        other => other,
    }
}

/// Runs `def` over `family` on `net`, as a cargo test does. A case that fails, with an error or
/// a panic, keeps its pcaps and expectation checks in its output directory.
///
/// A case that cannot run on this kernel prints one `SKIP` line with the reason and returns
/// `Ok` (libtest has no verdict of its own for it); under `CI=true` it fails instead.
pub async fn run(def: &'static Def, family: Family, net: Topology) -> Result<()> {
    static OLD_KERNEL: std::sync::Once = std::sync::Once::new();
    OLD_KERNEL.call_once(|| {
        if let Some(warning) = crate::kernel().ok().and_then(|k| k.unsupported()) {
            eprintln!("netcase: {warning}");
        }
    });
    let dir = crate::capture::output_dir();
    crate::capture::hold_output(&dir);
    let released = Release(Some(dir));
    let verdict = run_with(def, Case::new(&def.info, family, 0), Arc::new(net)).await;
    released.finish(verdict.is_err());
    match verdict {
        Err(crate::Error::Skip(why)) => {
            let missing = def.info.missing();
            let known = |f: &Feature| crate::privileges::known_missing(&f.name());
            if !missing.is_empty() && missing.iter().all(known) {
                let test = std::thread::current()
                    .name()
                    .unwrap_or("this test")
                    .to_owned();
                crate::privileges::skipped(
                    &test,
                    &format!("{why} (known to this machine: NETCASE_KNOWN_MISSING)"),
                );
            } else {
                crate::privileges::cannot_run(&why);
            }
            Ok(())
        }
        other => other,
    }
}

/// Releases a held output directory, keeping its files if the case failed or panicked.
struct Release(Option<PathBuf>);

impl Release {
    fn finish(mut self, failed: bool) {
        if let Some(dir) = self.0.take() {
            crate::capture::release_output(&dir, failed);
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        // Still set only when the case panicked.
        if let Some(dir) = self.0.take() {
            crate::capture::release_output(&dir, true);
        }
    }
}

/// A body that does nothing, for tests of what cases declare.
#[cfg(test)]
pub(crate) async fn nothing(_: Arc<Case>, _: Arc<Topology>) -> Result<()> {
    Ok(())
}
