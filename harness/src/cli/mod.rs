//! The `netcase` command over a suite of cases: list them, run them with their reports, show a
//! run's output, build the demo topologies, run the cases on other kernels under qemu.
//!
//! ```text
//! netcase list [FILTER...]
//! netcase run [FILTER...] [--family v4|v6|both] [--out DIR] [--jobs N] [--seed S] [--long]
//! netcase claims [--results DIR]
//! netcase show DIR | DIR/CASE
//! netcase demo [--family v4|v6|both]
//! netcase kernels --kernel PATH_OR_DEB... [--modules DIR...] [FILTER...] [--family ..]
//!                 [--out DIR] [--accel ..] [--parallel N] [--timeout SECS]
//!                 [--max-expected SECS] [--no-host] [--long]
//!                 [--reference K | --first-difference] [--fresh-reference]
//!                 [--test-binary BINARY [-- ARGS...]]
//! netcase tests BINARY [--out DIR] [-- ARGS...]
//! ```
//!
//! The command is [`main`] over a [`Suite`]: the registry of cases and where their files are.
//! The `netcase` binary of this workspace is that call over its own cases; anyone can build the
//! same command over theirs, with the `cli` feature of this crate:
//!
//! ```no_run
//! use std::process::ExitCode;
//! use netcase::{body, case::Def, cli::Suite};
//! # async fn handshake(
//! #     _: std::sync::Arc<netcase::case::Case>,
//! #     _: std::sync::Arc<netcase::Topology>,
//! # ) -> netcase::Result<()> { Ok(()) }
//!
//! static HANDSHAKE: Def = Def::new("mine::handshake", "my server completes it", body!(handshake));
//! static SUITE: Suite = Suite {
//!     fixtures: &[concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")],
//!     ..Suite::new(&[&[&HANDSHAKE]])
//! };
//!
//! fn main() -> ExitCode {
//!     netcase::cli::main(&SUITE)
//! }
//! ```
//!
//! Exit status: 0 when every case passed (or was skipped), 1 when one failed, 2 for bad input
//! (an unknown case or option, an unwritable output directory, no privileges), 130 when stopped
//! by Ctrl-C, 143 by SIGTERM (`run` and `kernels`: both write what they have before they exit).

mod demo;
mod kernels;
mod run;
mod show;
mod test_binary;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    Family,
    case::{Def, Tier},
    claims::Claim,
    impair::features,
    kernels::{Accel, family_name},
    privileges,
    report::{Tool, Verdict, run::writable},
    stop,
};

/// The cases a command runs, and where their files are.
#[derive(Clone, Copy)]
pub struct Suite {
    /// Every case, one slice per behaviour, in the order `netcase list` shows them.
    pub behaviours: &'static [&'static [&'static Def]],
    /// The claims of the source the cases check ([`crate::claims`]), for `netcase claims`.
    pub claims: &'static [&'static Claim],
    /// The directories the cases read at run time (their expectation fixtures), each by the
    /// path they read it at (`concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures")`):
    /// `netcase kernels` puts them in every guest at that path.
    pub fixtures: &'static [&'static str],
    /// Cargo's target directory, for the kernel cache of `netcase kernels`
    /// ([`crate::kernels::cache_dir`]); relative paths are from the current directory.
    pub target: &'static str,
    /// The git commit the command was built from, for its reports (`unknown` if not known).
    pub commit: &'static str,
}

impl Suite {
    /// The suite of `behaviours`, without fixtures, its kernel cache under `./target`, its
    /// commit unknown.
    pub const fn new(behaviours: &'static [&'static [&'static Def]]) -> Suite {
        Suite {
            behaviours,
            claims: &[],
            fixtures: &[],
            target: "target",
            commit: "unknown",
        }
    }

    /// Every case, in the order `netcase list` shows them.
    pub fn cases(&self) -> impl Iterator<Item = &'static Def> + use<> {
        self.behaviours.iter().flat_map(|b| b.iter().copied())
    }

    /// The cases whose names contain one of `filters` (every case without filters), the
    /// [`Tier::Long`] ones only if `long`; or the error line for the first filter that matches
    /// nothing (with the closest names), or only long cases without `long`.
    pub fn select(&self, filters: &[String], long: bool) -> Result<Vec<&'static Def>, String> {
        let wanted =
            |d: &Def, f: &str| d.info.name.contains(f) && (long || d.info.tier != Tier::Long);
        for filter in filters {
            if !self.cases().any(|d| wanted(d, filter)) {
                return Err(
                    if self.cases().any(|d| d.info.name.contains(filter.as_str())) {
                        format!(
                            "{filter:?} matches only cases of the long tier (over a minute each): \
                         add --long to run them"
                        )
                    } else {
                        format!(
                            "no case matches {filter:?}; closest: {} (see `netcase list`)",
                            self.closest(filter).join(", ")
                        )
                    },
                );
            }
        }
        Ok(self
            .cases()
            .filter(|d| long || d.info.tier != Tier::Long)
            .filter(|d| filters.is_empty() || filters.iter().any(|f| wanted(d, f)))
            .collect())
    }

    /// The three case names closest to `wanted` (edit distance against the whole name and
    /// its parts).
    pub fn closest(&self, wanted: &str) -> Vec<&'static str> {
        let mut scored: Vec<(usize, &'static str)> = self
            .cases()
            .map(|d| {
                let name = d.info.name;
                let best = std::iter::once(name)
                    .chain(name.split("::"))
                    .map(|part| distance(wanted, part))
                    .min()
                    .unwrap_or(usize::MAX);
                (best, name)
            })
            .collect();
        scored.sort();
        scored.into_iter().take(3).map(|(_, n)| n).collect()
    }

    /// The cases expected to take at most `max_expected`, and with `long` those of the long
    /// tier: what `netcase kernels` runs without filters (under TCG everything runs several
    /// times slower, but a long case waits on the kernel's timers, which run at their pace).
    pub fn quick(&self, max_expected: Duration, long: bool) -> Vec<&'static Def> {
        self.cases()
            .filter(|d| match d.info.tier {
                Tier::Default => d.info.expected <= max_expected,
                Tier::Long => long,
            })
            .collect()
    }

    /// What the reports say ran the cases: this crate's version, the suite's commit.
    fn tool(&self) -> Tool {
        Tool {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: self.commit.to_owned(),
        }
    }
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// Proves what the Linux kernel's TCP stack does.
///
/// Runs kernel-behaviour cases on isolated networks of namespaces, on this kernel or on others
/// under qemu, and leaves a report per case.
#[derive(Debug, Parser)]
#[command(
    name = "netcase",
    version,
    subcommand_required = true,
    arg_required_else_help = true,
    after_help = "A FILTER picks the cases whose name contains it (for example `backlog` or \
                  `time_wait::`).\n\
                  Exit status: 0 all passed (or skipped), 1 a case failed, 2 bad input, \
                  130 Ctrl-C, 143 SIGTERM."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lists the cases, the families and kernel features each needs, and what it shows.
    ///
    /// `here` says whether this kernel has the features.
    List {
        /// Only the cases whose name contains one of these.
        #[arg(value_name = "FILTER")]
        filters: Vec<String>,
    },
    /// Runs the cases in parallel, with a report per case.
    ///
    /// As root. A live display while they run; in the output directory, a bundle per case
    /// (result.json, README.md, pcaps, timeline, ladder diagram, counters, sockets, settings),
    /// and summary.json, junit.xml and index.html, rewritten as each case finishes.
    #[command(
        after_help = "A FILTER picks the cases whose name contains it; none runs them all.\n\
                            Exit status: 0 all passed (or skipped), 1 a case failed, 2 bad \
                            input, 130 Ctrl-C, 143 SIGTERM (the report then holds what finished, \
                            the rest marked interrupted)."
    )]
    Run(RunArgs),
    /// Writes the claims table (Markdown): every claim of the suite's source, the cases that
    /// check it and their verdicts.
    ///
    /// With --results, the verdicts of that run of `netcase run` (a case that failed or was
    /// skipped there says so); without, what each case asserts.
    Claims {
        /// A `netcase run` output directory (its summary.json).
        #[arg(long, value_name = "DIR")]
        results: Option<PathBuf>,
    },
    /// Shows a run's output directory, or one case's bundle in it.
    ///
    /// For a directory of `run` or `kernels`: whether the run finished, was stopped or was
    /// killed, then one line per case. For a bundle: the verdict, the expectation checks, the
    /// timeline, the counter changes and the settings.
    Show {
        /// A run's --out directory, or a case's directory in it.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Builds the two common topologies and measures a TCP exchange over each.
    ///
    /// A pair, and client-router-server: the time to build each, the handshake, a round trip,
    /// and the captured segments.
    Demo {
        /// The families to run over.
        #[arg(long, value_enum, default_value_t = Families::Both)]
        family: Families,
    },
    /// Runs the cases on other kernels under qemu, and compares them with this one.
    ///
    /// Each kernel boots under qemu (KVM when it boots it, TCG otherwise) with an initramfs
    /// built around this program; the cases' bundles come back over the serial console. Then
    /// comparison.{json,html}, differences.md and a table on stdout.
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        after_help = "A kernel is a Linux build tree (arch/x86/boot/bzImage, .config, \
                      include/config/kernel.release; its modules with --modules), a bzImage or \
                      vmlinuz (its modules found next to it, as `dpkg -x` lays them out), a \
                      directory holding such a tree, a .deb, or a Debian package name \
                      (linux-image-6.1.0-57-cloud-amd64, fetched with `apt-get download` and \
                      unpacked into the kernel cache, never installed). Its configuration is \
                      checked before it boots: one that lacks what every case needs is not \
                      booted.\n\
                      Exit status: 0 every kernel delivered its results and no case failed \
                      (differences of behaviour are the product), 1 a case failed or a guest \
                      broke down, 2 bad input, 130 Ctrl-C, 143 SIGTERM.\n\
                      With --reference (for `git bisect run`): 0 every --kernel behaves like \
                      the reference (the same verdicts, no difference of behaviour), 1 one \
                      behaves differently, 125 one cannot be tested (it did not boot, lacks a \
                      config option the cases need, or skipped a case the reference ran), 255 \
                      bad input or a reference that cannot be tested (which stops a bisection \
                      instead of marking the commit bad).\n\
                      With --first-difference: 0 every kernel behaves like the first, 1 a \
                      difference was found (the pair and the rows are printed), 2 bad input."
    )]
    Kernels(Box<KernelsArgs>),
    /// Runs a cargo test binary and writes its tests as a run directory, as `run` writes its
    /// cases.
    ///
    /// Any libtest binary (`cargo test --no-run` names them): a directory per test with its
    /// result.json (a failed #[netcase::test]'s bug-report bundle as it left it), and
    /// summary.json, junit.xml, index.html and run.json. A test that printed `SKIP NAME: why`
    /// is SKIP, an ignored one SKIP `ignored`.
    #[command(
        after_help = "ARGS go to the test binary: a filter, --exact, --skip, --include-ignored, \
                      --ignored, --test-threads N (not --format, --quiet or --list).\n\
                      Exit status: 0 no test failed, 1 a test failed, 2 bad input (no such \
                      binary, not a libtest binary, or it ended before it reported any test), \
                      130 Ctrl-C, 143 SIGTERM."
    )]
    Tests(TestsArgs),
}

/// `netcase tests`'s options.
#[derive(Debug, clap::Args)]
struct TestsArgs {
    /// The test binary: target/debug/deps/NAME-HASH, as `cargo test --no-run` prints it.
    #[arg(value_name = "BINARY")]
    binary: PathBuf,
    /// The output directory: one directory per test, and the run's summary and index.
    #[arg(long, value_name = "DIR", default_value = "target/netcase/tests")]
    out: PathBuf,
    /// Arguments for the test binary, after `--`.
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

/// `netcase run`'s options.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Only the cases whose name contains one of these.
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
    /// The families to run each case over (those of them it declares).
    #[arg(long, value_enum, default_value_t = Families::Both)]
    family: Families,
    /// The output directory: one directory per case, and the run's summary and index.
    #[arg(long, value_name = "DIR", default_value = "target/netcase/report")]
    out: PathBuf,
    /// How many cases run at once, from 1 to 64 (they wait on kernel timers, not the CPU).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = jobs)]
    jobs: usize,
    /// The seed of the cases' random choices (impairment loss, for example).
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Also the long tier: cases of over a minute each (`netcase list` marks them), run in
    /// parallel with the rest, each besides the --jobs ones.
    #[arg(long)]
    long: bool,
}

/// `netcase kernels`'s options.
#[derive(Debug, clap::Args)]
struct KernelsArgs {
    /// The guest's half of the matrix, run by its /init.
    #[command(subcommand)]
    guest: Option<Guest>,
    /// A kernel to boot (repeat it for several): a build tree, a bzImage or vmlinuz, a dpkg
    /// tree, a .deb or a linux-image-* package name.
    #[arg(long = "kernel", value_name = "PATH_OR_DEB", required = true)]
    kernels: Vec<String>,
    /// The modules of a kernel built with some (repeat it for several): the DIR of `make
    /// modules_install INSTALL_MOD_PATH=DIR`; each kernel takes the one with
    /// lib/modules/<its release>.
    #[arg(long = "modules", value_name = "DIR")]
    modules: Vec<PathBuf>,
    /// Only the cases whose name contains one of these; without, the cases expected to take
    /// at most --max-expected.
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
    /// The families to run each case over (those of them it declares).
    #[arg(long, value_enum, default_value_t = Families::Both)]
    family: Families,
    /// The output directory: one directory per kernel (this one's is `this-kernel`) and the
    /// comparison.
    #[arg(long, value_name = "DIR", default_value = "target/netcase/matrix")]
    out: PathBuf,
    /// How qemu runs the guests: `auto` tries KVM and falls back to TCG.
    #[arg(long, value_enum, default_value_t = Accelerator::Auto)]
    accel: Accelerator,
    /// How many guests boot at once, from 1 to 16.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = guests)]
    parallel: usize,
    /// How long a guest may run, in seconds [default: 180 + 8 × the cases' expected time].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    timeout: Option<Duration>,
    /// Without filters, the cases expected to take at most this long, in seconds.
    #[arg(long, value_name = "SECS", default_value = "1.5", value_parser = seconds)]
    max_expected: Duration,
    /// Leave out this kernel's run (the comparison's first column).
    #[arg(long)]
    no_host: bool,
    /// Also the long tier (cases of over a minute each), whatever --max-expected says.
    #[arg(long)]
    long: bool,
    /// Compare every --kernel with this kernel instead of with this machine's: exit 0 when
    /// each behaves like it, 1 when one differs, 125 when one cannot be tested (for `git
    /// bisect run`).
    #[arg(long, value_name = "PATH_OR_DEB", conflicts_with_all = ["first_difference", "no_host"])]
    reference: Option<String>,
    /// Boot the reference (or the first of --first-difference's kernels) even when its results
    /// are kept from an earlier run with the same kernel, netcase and cases.
    #[arg(long)]
    fresh_reference: bool,
    /// The --kernel list is in order (oldest first): find by bisection the first kernel that
    /// behaves differently from the first one, and print the pair and what differs.
    #[arg(long)]
    first_difference: bool,
    /// Run this cargo test binary's tests in every guest instead of the cases (the arguments
    /// after `--` go to it: a filter, --exact, --include-ignored).
    #[arg(long, value_name = "BINARY", conflicts_with_all = ["filters", "long", "max_expected"])]
    test_binary: Option<PathBuf>,
    /// A directory the tests read at run time (their expectation files, fixtures), copied into
    /// every guest at the same path; repeat it for several.
    #[arg(long, value_name = "DIR", requires = "test_binary")]
    files: Vec<PathBuf>,
    /// The test binary's arguments.
    #[arg(last = true, value_name = "TEST_ARGS", requires = "test_binary")]
    test_args: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Guest {
    /// Writes DIR's files and the end marker to stdout in the serial protocol.
    #[command(hide = true)]
    Stream {
        /// The guest's output directory.
        dir: PathBuf,
        /// The boot's nonce, from the kernel command line.
        nonce: String,
        /// `netcase run`'s exit status.
        #[arg(allow_hyphen_values = true)]
        status: String,
    },
}

/// The families a command runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Families {
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
    /// IPv4, then IPv6.
    Both,
}

impl Families {
    fn list(self) -> Vec<Family> {
        match self {
            Families::V4 => vec![Family::V4],
            Families::V6 => vec![Family::V6],
            Families::Both => Family::BOTH.to_vec(),
        }
    }
}

/// `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Accelerator {
    /// KVM when it boots the kernel, TCG otherwise.
    Auto,
    /// Hardware virtualisation (/dev/kvm).
    Kvm,
    /// Software emulation: slower, works everywhere.
    Tcg,
}

impl Accelerator {
    fn accel(self) -> Option<Accel> {
        match self {
            Accelerator::Auto => None,
            Accelerator::Kvm => Some(Accel::Kvm),
            Accelerator::Tcg => Some(Accel::Tcg),
        }
    }
}

fn jobs(value: &str) -> Result<usize, String> {
    number_from_1_to(value, 64)
}

fn guests(value: &str) -> Result<usize, String> {
    number_from_1_to(value, 16)
}

fn number_from_1_to(value: &str, most: usize) -> Result<usize, String> {
    value
        .parse()
        .ok()
        .filter(|n| (1..=most).contains(n))
        .ok_or_else(|| format!("a number from 1 to {most}"))
}

fn seconds(value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && *s < 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "a number of seconds, above 0 and below a day".to_owned())
}

/// Runs the `netcase` command over `suite` with this process's arguments, and returns its exit
/// status (see the module's documentation).
pub fn main(suite: &Suite) -> ExitCode {
    // First, before anything else: a SIGTERM that `netcase kernels` passes on to its child
    // `netcase run` as that run starts must stop the run, not kill it.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|c| c == "run" || c == "tests")
    {
        stop::install();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors exit 2; --help and --version 0.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match cli.command {
        Command::List { filters } => list(suite, &filters),
        Command::Claims { results } => claims(suite, results.as_deref()),
        Command::Run(args) => run_command(suite, args),
        Command::Show { dir } => show::show(&dir),
        Command::Demo { family } => demo_command(&family.list()),
        Command::Kernels(args) => kernels::command(suite, *args),
        Command::Tests(args) => test_binary::command(suite, args),
    }
}

/// The exit status of bad input, after its line.
fn bad_input(why: &str) -> ExitCode {
    eprintln!("netcase: {why}");
    ExitCode::from(2)
}

fn list(suite: &Suite, filters: &[String]) -> ExitCode {
    let selected = match suite.select(filters, true) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let found = features();
    let width = selected
        .iter()
        .map(|d| d.info.name.len())
        .max()
        .unwrap_or(4);
    println!(
        "{:<width$}  families  needs            here  tier     summary",
        "case"
    );
    for def in selected {
        let info = &def.info;
        let families: Vec<&str> = info.families.iter().map(|f| family_name(*f)).collect();
        let needs: Vec<String> = info.needs.iter().map(|f| f.name()).collect();
        let here = if info.needs.iter().all(|f| found.has(*f)) {
            "yes"
        } else {
            "no"
        };
        let tier = match info.tier {
            Tier::Default => "-",
            Tier::Long => "long",
        };
        println!(
            "{:<width$}  {:<8}  {:<15}  {:<4}  {tier:<7}  {}",
            info.name,
            families.join(","),
            if needs.is_empty() {
                "-".to_owned()
            } else {
                needs.join(",")
            },
            here,
            info.summary
        );
    }
    ExitCode::SUCCESS
}

fn claims(suite: &Suite, results: Option<&std::path::Path>) -> ExitCode {
    let ran = match results.map(crate::claims::read_summary).transpose() {
        Ok(ran) => ran,
        Err(e) => return bad_input(&e),
    };
    let cases: Vec<&'static Def> = suite.cases().collect();
    print!(
        "{}",
        crate::claims::table(suite.claims, &cases, ran.as_ref())
    );
    ExitCode::SUCCESS
}

fn run_command(suite: &Suite, args: RunArgs) -> ExitCode {
    stop::install();
    let selected = match suite.select(&args.filters, args.long) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    if let Err(e) = writable(&args.out) {
        return bad_input(&e);
    }
    if let Err(e) = privileges::check(privileges::TOPOLOGY) {
        return bad_input(&e.to_string());
    }
    let out = std::fs::canonicalize(&args.out).unwrap_or(args.out);
    // SAFETY: set before any thread of this process starts (the signal thread reads no
    // environment); cases read them from their threads.
    unsafe {
        std::env::set_var("NETCASE_OUT", &out);
        std::env::set_var("NETCASE_KEEP", "1");
    }
    if let Some(warning) = crate::kernel().ok().and_then(|k| k.unsupported()) {
        eprintln!("netcase: {warning}");
    }
    let families = args.family.list();
    let jobs: Vec<run::Job> = selected
        .iter()
        .flat_map(|def| {
            families
                .iter()
                .filter(|f| def.info.families.contains(f))
                .map(|&family| run::Job { def, family })
        })
        .collect();
    if jobs.is_empty() {
        return bad_input("the selected cases do not run over that family");
    }
    let results = run::run(run::Options {
        jobs,
        out,
        parallel: args.jobs,
        seed: args.seed,
        tool: suite.tool(),
    });
    if let Some(signal) = stop::requested() {
        ExitCode::from(stop::exit_code(signal))
    } else if results.iter().any(|r| r.verdict == Verdict::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn demo_command(families: &[Family]) -> ExitCode {
    if let Err(e) = privileges::check(privileges::TOPOLOGY) {
        return bad_input(&e.to_string());
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("netcase: cannot start a tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(demo::demo(families)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netcase: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{body, case::nothing};
    use clap::CommandFactory;

    static ADDRESSES: Def = Def::new("addresses::seen", "both ends", body!(nothing));
    static BACKLOG: Def =
        Def::new("backlog::full", "a full queue", body!(nothing)).expected(Duration::from_secs(5));
    static SCHEDULE: Def = Def::new("silent::schedule", "untouched", body!(nothing))
        .expected(Duration::from_secs(130))
        .long();
    static SUITE: Suite = Suite::new(&[&[&ADDRESSES], &[&BACKLOG], &[&SCHEDULE]]);

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("netcase").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("backlog", "backlog"), 0);
        assert_eq!(distance("baclog", "backlog"), 1);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn an_unknown_filter_names_the_closest_cases() {
        let Err(err) = SUITE.select(&["adresses".to_owned()], false) else {
            panic!("a misspelt filter matched");
        };
        assert!(err.starts_with("no case matches \"adresses\"; closest: addresses::seen"));
        let picked = SUITE.select(&["backlog".to_owned()], false).unwrap();
        assert_eq!(picked.len(), 1);
        assert_eq!(SUITE.select(&[], false).unwrap().len(), 2);
        assert_eq!(SUITE.quick(Duration::from_millis(1500), false).len(), 1);
    }

    #[test]
    fn the_long_tier_runs_only_on_request() {
        let Err(err) = SUITE.select(&["schedule".to_owned()], false) else {
            panic!("a long case ran without --long");
        };
        assert!(err.contains("add --long"), "{err}");
        assert_eq!(
            SUITE.select(&["schedule".to_owned()], true).unwrap().len(),
            1
        );
        assert_eq!(SUITE.select(&[], true).unwrap().len(), 3);
        // --long adds the tier whatever --max-expected says.
        let quick = SUITE.quick(Duration::from_millis(1500), true);
        assert_eq!(
            quick.iter().map(|d| d.info.name).collect::<Vec<_>>(),
            ["addresses::seen", "silent::schedule"]
        );
        let Command::Run(args) = parse(&["run", "--long"]).unwrap().command else {
            panic!("not run");
        };
        assert!(args.long);
    }

    #[test]
    fn run_keeps_its_defaults_and_refuses_bad_values() {
        let Command::Run(args) = parse(&["run"]).unwrap().command else {
            panic!("not run");
        };
        assert_eq!(args.family, Families::Both);
        assert_eq!(args.out, PathBuf::from("target/netcase/report"));
        assert_eq!((args.jobs, args.seed), (8, 1));
        let Command::Run(args) = parse(&["run", "a", "b", "--family", "v6", "--jobs", "64"])
            .unwrap()
            .command
        else {
            panic!("not run");
        };
        assert_eq!(args.filters, ["a", "b"]);
        assert_eq!((args.family, args.jobs), (Families::V6, 64));
        for bad in [
            &["run", "--family", "v5"][..],
            &["run", "--jobs", "0"],
            &["run", "--jobs", "65"],
            &["run", "--seed", "x"],
            &["run", "--bogus"],
            &["frobnicate"],
            &["show"],
            &[],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
        assert_eq!(parse(&["--help"]).unwrap_err().exit_code(), 0);
    }

    #[test]
    fn help_and_version_exit_0_and_every_option_is_described() {
        for asked in [
            &["--help"][..],
            &["--version"],
            &["run", "--help"],
            &["kernels", "--help"],
            &["list", "--help"],
            &["show", "--help"],
            &["claims", "--help"],
            &["tests", "--help"],
        ] {
            assert_eq!(parse(asked).unwrap_err().exit_code(), 0, "{asked:?}");
        }
        use clap::CommandFactory;
        let cli = Cli::command();
        for command in cli.get_subcommands() {
            for arg in command.get_arguments() {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(
                    !help.trim().is_empty(),
                    "netcase {} {}: no help",
                    command.get_name(),
                    arg.get_id()
                );
            }
        }
    }

    #[test]
    fn kernels_options_parse_and_refuse_bad_input() {
        let Command::Kernels(k) = parse(&[
            "kernels",
            "--kernel",
            "a.deb",
            "--kernel",
            "linux-image-x",
            "--modules",
            "/m1",
            "--modules",
            "/m2",
            "socket_addresses::",
            "--accel",
            "tcg",
            "--family",
            "v4",
            "--no-host",
        ])
        .unwrap()
        .command
        else {
            panic!("not kernels");
        };
        assert_eq!(k.kernels, ["a.deb", "linux-image-x"]);
        assert_eq!(k.modules, [PathBuf::from("/m1"), PathBuf::from("/m2")]);
        assert_eq!(k.filters, ["socket_addresses::"]);
        assert_eq!(k.accel.accel(), Some(Accel::Tcg));
        assert!(k.no_host);
        assert_eq!(k.max_expected, Duration::from_millis(1500));
        assert_eq!((k.parallel, k.timeout), (2, None));
        for bad in [
            &["kernels", "socket_addresses::"][..],
            &["kernels", "--kernel", "k", "--accel", "xen"],
            &["kernels", "--kernel", "k", "--bogus"],
            &["kernels", "--kernel", "k", "--timeout", "0"],
            &["kernels", "--kernel", "k", "--parallel", "17"],
        ] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn tests_takes_a_binary_and_passes_on_what_follows_the_dashes() {
        let Command::Tests(t) = parse(&["tests", "target/debug/deps/x-0123"])
            .unwrap()
            .command
        else {
            panic!("not tests");
        };
        assert_eq!(t.binary, PathBuf::from("target/debug/deps/x-0123"));
        assert_eq!(t.out, PathBuf::from("target/netcase/tests"));
        assert!(t.args.is_empty());
        let Command::Tests(t) = parse(&[
            "tests",
            "bin",
            "--out",
            "o",
            "--",
            "m::",
            "--exact",
            "--include-ignored",
        ])
        .unwrap()
        .command
        else {
            panic!("not tests");
        };
        assert_eq!(t.out, PathBuf::from("o"));
        assert_eq!(t.args, ["m::", "--exact", "--include-ignored"]);
        for bad in [
            &["tests"][..],
            &["tests", "bin", "--exact"],
            &["tests", "a", "b"],
        ] {
            assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn a_reference_a_first_difference_and_a_test_binary_parse() {
        let Command::Kernels(k) = parse(&[
            "kernels",
            "--reference",
            "ref",
            "--kernel",
            ".",
            "--test-binary",
            "/t/b",
            "--",
            "syn",
            "--include-ignored",
        ])
        .unwrap()
        .command
        else {
            panic!("not kernels");
        };
        assert_eq!(k.reference.as_deref(), Some("ref"));
        assert_eq!(k.test_binary, Some(PathBuf::from("/t/b")));
        assert_eq!(k.test_args, ["syn", "--include-ignored"]);
        assert!(k.filters.is_empty());
        let first = [
            "kernels",
            "--first-difference",
            "--kernel",
            "a",
            "--kernel",
            "b",
        ];
        assert!(
            parse(&first)
                .is_ok_and(|c| matches!(c.command, Command::Kernels(k) if k.first_difference))
        );
        // One mode at a time; a test binary's arguments need a test binary; not with cases.
        let both = [
            "kernels",
            "--reference",
            "r",
            "--first-difference",
            "--kernel",
            "a",
        ];
        assert!(parse(&both).is_err());
        assert!(parse(&["kernels", "--kernel", "a", "--", "x"]).is_err());
        let mixed = ["kernels", "--kernel", "a", "--test-binary", "b", "backlog"];
        assert!(parse(&mixed).is_err());
    }

    #[test]
    fn the_guests_half_takes_its_three_words() {
        let Command::Kernels(k) = parse(&["kernels", "stream", "/out", "n0nce", "-1"])
            .unwrap()
            .command
        else {
            panic!("not kernels");
        };
        let Some(Guest::Stream { dir, nonce, status }) = k.guest else {
            panic!("not stream");
        };
        assert_eq!(
            (dir, nonce.as_str(), status.as_str()),
            (PathBuf::from("/out"), "n0nce", "-1")
        );
        assert!(parse(&["kernels", "stream", "/out"]).is_err());
    }
}
