//! A kernel-behaviour case: what it declares about itself, and what it leaves behind while it runs.
//!
//! A case is defined once (in the `netcase-cases` crate) as a [`CaseInfo`] and a body, and run by
//! two runners: `cargo test` (an rstest test per case, its topology from a fixture) and the
//! `netcase` command. Both give the body a [`Case`]: the family to run over, and a place to put
//! the figures it measured and the notes a reader needs. The runners write those into the case's
//! report.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{Family, Topology, impair::Feature};

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
}

impl CaseInfo {
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

    /// Where its files go (pcaps, the report): [`crate::capture::output_dir`].
    pub fn dir(&self) -> PathBuf {
        crate::capture::output_dir()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Found> {
        self.found.lock().unwrap_or_else(|e| e.into_inner())
    }
}
