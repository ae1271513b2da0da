//! Any cargo test binary as a run directory: a libtest test binary (`target/debug/deps/NAME-HASH`,
//! as `cargo test --no-run` names it) is run, and what it reports is written as `netcase run`
//! writes its cases — a directory per test with its `result.json`, and the run's `summary.json`,
//! `junit.xml`, `index.html` and `run.json` ([`crate::report`]) — so that the tests of any crate
//! written with the harness are read, shown and compared across kernels as the built-in cases
//! are. `netcase tests BINARY [--out DIR] [-- ARGS...]` is this module's command.
//!
//! ```no_run
//! use netcase::test_binary::{self, Options};
//! let binary = "target/debug/deps/kernel_behaviour-0123456789abcdef";
//! let run = test_binary::run(&Options {
//!     args: vec!["--include-ignored".to_owned()],
//!     ..Options::new(binary.into(), "target/netcase/tests".into())
//! })?;
//! println!("{} tests; the binary ended with {}", run.results.len(), run.status);
//! # Ok::<(), String>(())
//! ```
//!
//! How: the binary's `--list`, with the same arguments, names its tests first (the run's parts,
//! and the tests a crash or a stop leaves without a verdict). Then it runs as a child process
//! ([`crate::fork::spawn`]: it dies with this process however it dies; [`crate::stop`]: a stop
//! passes the signal on to it) with `NETCASE_OUT` naming a scratch directory in the output
//! directory ([`SCRATCH`]), its stdout and stderr read whole (and kept, as `stdout.txt` and
//! `stderr.txt`). Stable libtest has no machine-readable output, so its plain one is read
//! ([`parse`]):
//!
//! - `test NAME ... ok` is PASS, unless the test said on stderr that it could not run (`SKIP
//!   NAME: why`, [`crate::privileges::skipped`], which libtest reports `ok`): SKIP, with that
//!   reason;
//! - `test NAME ... FAILED` is FAIL. A `#[netcase::test]` that failed left its bundle in the
//!   scratch directory: that bundle becomes the test's directory, its `result.json` as the test
//!   wrote it (its `rerun` the `cargo test` command that reruns it). Otherwise the result is
//!   made of what libtest printed in the test's `---- NAME stdout ----` section: the panic's (or
//!   the returned error's) first line as the reason, the whole section as the error;
//! - `test NAME ... ignored` is SKIP, its reason `ignored` and the one `#[ignore = "..."]` gives:
//!   the run directory holds every test the arguments select and says why one did not run, as
//!   libtest's own summary counts it (`--include-ignored` runs them);
//! - a test the binary listed but never reported is FAIL, with how the binary ended (a crash), or
//!   STOP after a stop.
//!
//! A test's family is the one its name says (`…_Family__V6`, [`crate::bundle::family_of`]), or
//! none ([`crate::report::NO_FAMILY`]): its directory is then its name with `::` as `.`, as under `cargo test`,
//! and lists print it without brackets. Its `rerun` is `BINARY 'NAME' --exact
//! --include-ignored`. libtest reports no test's duration on stable: `duration_s` is the
//! bundle's, or 0.
//!
//! What it cannot read: `--format`, `--quiet` and `--list` change the output (they are refused);
//! with `--nocapture` a test's own printing can split its result line, and its failure section
//! is empty; a binary with `harness = false` is read as far as it prints what libtest prints.

use std::{
    collections::BTreeMap,
    io::Read,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use crate::{
    bundle::family_of,
    report::{
        self, CaseResult, Tool, Verdict, first_line,
        run::{RunRecord, writable},
    },
    stop,
};

/// The scratch directory, in the output directory, that the binary's `NETCASE_OUT` names while it
/// runs: its failed tests' bundles are moved from there; it is removed at the end.
pub const SCRATCH: &str = ".netcase-out";

/// How long the binary has, once a stop's signal is passed on to it, before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// How long the binary's output may stay open once it has ended (a program it started that
/// holds its stdout): what came by then is read.
const DRAIN: Duration = Duration::from_secs(2);

/// What to run, and where the run directory goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// The libtest test binary.
    pub binary: PathBuf,
    /// Its arguments: a filter, `--exact`, `--skip`, `--include-ignored`, `--ignored`,
    /// `--test-threads N`...
    pub args: Vec<String>,
    /// The output directory: one directory per test, and the run's summary and index.
    pub out: PathBuf,
    /// Environment variables for the binary, beside this process's own and `NETCASE_OUT`.
    pub env: Vec<(String, String)>,
    /// What the results this process writes say ran them.
    pub tool: Tool,
}

impl Options {
    /// `binary` without arguments, into `out`, written by this crate's version (commit unknown).
    pub fn new(binary: PathBuf, out: PathBuf) -> Options {
        Options {
            binary,
            args: Vec::new(),
            out,
            env: Vec::new(),
            tool: Tool {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                commit: "unknown".to_owned(),
            },
        }
    }
}

/// A run of a test binary, written.
#[derive(Debug)]
pub struct Run {
    /// One per test, in the order the binary lists them.
    pub results: Vec<CaseResult>,
    /// How the binary ended (101 when a test failed, as libtest exits).
    pub status: ExitStatus,
    /// How long the whole run took, in seconds.
    pub wall_s: f64,
    /// The output directory, absolute.
    pub out: PathBuf,
}

impl Run {
    /// How many results have `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.results.iter().filter(|r| r.verdict == verdict).count()
    }
}

/// Runs the test binary of `options` and writes its run directory. An error is bad input (no
/// such binary, not a libtest binary, arguments it refuses, an unwritable directory) or a binary
/// that ended before it reported any test (a crash at its start): the line to show, naming the
/// binary. A stop ([`crate::stop`]) ends the binary and writes what it reported, the rest STOP.
pub fn run(options: &Options) -> Result<Run, String> {
    let started = Instant::now();
    let shown = options.binary.display().to_string();
    if let Some(arg) = options.args.iter().find(|a| refused(a)) {
        return Err(format!(
            "{arg} changes the output netcase reads from {shown}: leave it out"
        ));
    }
    if !options.binary.is_file() {
        return Err(format!(
            "{shown}: no such file (a test binary, as `cargo test --no-run` names it)"
        ));
    }
    writable(&options.out)?;
    let out = std::fs::canonicalize(&options.out).unwrap_or(options.out.clone());
    let names = list(options)?;
    let parts: Vec<String> = names
        .iter()
        .map(|n| CaseResult::dir_name(n, family_of(n)))
        .collect();
    // Only this run's directories: an earlier run's would pass for a test this one never ran.
    for part in parts.iter().map(String::as_str).chain([SCRATCH]) {
        let _ = std::fs::remove_dir_all(out.join(part));
    }
    let mut record = RunRecord::start(std::env::args().collect(), parts);
    record.write(&out).map_err(|e| e.to_string())?;
    let scratch = out.join(SCRATCH);
    let ran = execute(options, &scratch);
    let (status, stdout, stderr) = match ran {
        Ok(ran) => ran,
        Err(e) => return Err(failed(&out, &mut record, e)),
    };
    let wall_s = started.elapsed().as_secs_f64();
    record.exit_status = Some(status.to_string());
    let _ = std::fs::write(out.join("stdout.txt"), &stdout);
    let _ = std::fs::write(out.join("stderr.txt"), &stderr);
    let parsed = parse(&stdout, &names);
    let signal = stop::requested();
    if parsed.running.is_none() && signal.is_none() {
        let why = format!(
            "{shown} ended with {status} before it reported any test{}",
            last_lines(&stderr)
        );
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(failed(&out, &mut record, why));
    }
    let skips = skips(&stderr, &names);
    let mut all = names.clone();
    for (name, _) in &parsed.tests {
        if !all.contains(name) {
            all.push(name.clone());
        }
    }
    let unreported = match signal {
        Some(signal) => (
            Verdict::Interrupted,
            format!(
                "stopped by {} before the binary reported it",
                stop::name(signal)
            ),
            None,
        ),
        None => (
            Verdict::Fail,
            format!("the test binary ended with {status} before it reported this test"),
            Some(format!(
                "{shown} ended with {status} before it reported this test{}",
                last_lines(&stderr)
            )),
        ),
    };
    let context = Context {
        options,
        out: &out,
        scratch: &scratch,
        kernel: report::kernel(),
        summary: format!("a test of {}", crate_of(&options.binary)),
    };
    let results: Vec<CaseResult> = all
        .iter()
        .map(|name| {
            let reported = parsed.tests.iter().find(|(n, _)| n == name).map(|(_, r)| r);
            let outcome = match reported {
                Some(Reported::Ok) => match skips.get(name) {
                    Some(why) => (Verdict::Skip, Some(why.clone()), None),
                    None => (Verdict::Pass, None, None),
                },
                Some(Reported::Failed) => {
                    let section = parsed.failures.get(name).map(String::as_str);
                    let section = section.unwrap_or("");
                    (
                        Verdict::Fail,
                        Some(reason_of(section)),
                        Some(section.to_owned()),
                    )
                }
                Some(Reported::Ignored(why)) => (
                    Verdict::Skip,
                    Some(
                        why.as_ref()
                            .map_or("ignored".to_owned(), |w| format!("ignored: {w}")),
                    ),
                    None,
                ),
                None => (
                    unreported.0,
                    Some(unreported.1.clone()),
                    unreported.2.clone(),
                ),
            };
            context.result(name, outcome)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&scratch);
    // The summary first, the end state last: a run.json that says finished has its summary.
    record.end(signal.map(|s| stop::name(s).to_owned()));
    report::write_summary_of(&out, &results, wall_s, Some(&record))
        .and_then(|()| record.write(&out))
        .map_err(|e| e.to_string())?;
    Ok(Run {
        results,
        status,
        wall_s,
        out,
    })
}

/// Ends `record` with the error `why` (the run wrote no results), and gives `why` back.
fn failed(out: &Path, record: &mut RunRecord, why: String) -> String {
    record.end(Some(format!("an error ({why})")));
    let _ = report::write_summary_of(out, &[], 0.0, Some(record));
    let _ = record.write(out);
    why
}

/// Whether libtest's argument `arg` changes the output this module reads.
fn refused(arg: &str) -> bool {
    ["--format", "--list", "--quiet", "--help"]
        .iter()
        .any(|a| arg == *a || arg.starts_with(&format!("{a}=")))
        || arg == "-q"
        || arg == "-h"
}

/// The tests the binary runs with `options.args`, from its `--list`.
fn list(options: &Options) -> Result<Vec<String>, String> {
    let shown = options.binary.display();
    let output = crate::fork::output(
        Command::new(&options.binary)
            .arg("--list")
            .args(&options.args)
            .envs(options.env.iter().map(|(k, v)| (k, v))),
    )
    .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{shown} --list {} ended with {}{}",
            options.args.join(" "),
            output.status,
            last_lines(&String::from_utf8_lossy(&output.stderr))
        ));
    }
    parse_list(&stdout).ok_or_else(|| {
        format!("{shown} is not a libtest test binary: its --list names no test and no count")
    })
}

/// The test names of libtest's `--list` output (`NAME: test`, then `N tests, M benchmarks`), or
/// `None` when it is not one (neither a test nor the count).
pub fn parse_list(stdout: &str) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut counted = false;
    for line in stdout.lines().map(strip_ansi) {
        if let Some(name) = line
            .strip_suffix(": test")
            .or_else(|| line.strip_suffix(": benchmark"))
        {
            names.push(name.to_owned());
        } else if line.ends_with(" benchmarks") || line.ends_with(" benchmark") {
            counted = true;
        }
    }
    (counted || !names.is_empty()).then_some(names)
}

/// Runs the binary; how it ended, its stdout and its stderr.
fn execute(options: &Options, scratch: &Path) -> Result<(ExitStatus, String, String), String> {
    let shown = options.binary.display();
    std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let mut child = crate::fork::spawn(
        Command::new(&options.binary)
            .args(&options.args)
            .env("NETCASE_OUT", scratch)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a terminal's Ctrl-C reaches this process only, which passes
            // it on once.
            .process_group(0),
    )
    .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let registered = match stop::register(&child, stop::How::Forward(GRACE)) {
        Ok(registered) => registered,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("watching {shown} (pidfd_open): {e}"));
        }
    };
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let status = child.wait();
    drop(registered);
    let status = status.map_err(|e| format!("waiting for {shown}: {e}"))?;
    let text = |drained: Option<Drained>| drained.map_or_else(String::new, Drained::take);
    Ok((status, text(stdout), text(stderr)))
}

/// A pipe read to its end on a thread of its own.
struct Drained {
    bytes: Arc<Mutex<Vec<u8>>>,
    ended: mpsc::Receiver<()>,
}

fn drain(mut pipe: impl Read + Send + 'static) -> Drained {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let (done, ended) = mpsc::channel();
    let into = bytes.clone();
    std::thread::spawn(move || {
        let mut chunk = [0; 64 * 1024];
        while let Ok(n @ 1..) = pipe.read(&mut chunk) {
            into.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&chunk[..n]);
        }
        let _ = done.send(());
    });
    Drained { bytes, ended }
}

impl Drained {
    /// What came, once the pipe has ended or [`DRAIN`] has passed (the program that still holds
    /// it, a test's child, is left to it).
    fn take(self) -> String {
        let _ = self.ended.recv_timeout(DRAIN);
        let bytes = std::mem::take(&mut *self.bytes.lock().unwrap_or_else(|e| e.into_inner()));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// ` : ` and the last non-empty lines of `stderr` (at most three), or nothing.
fn last_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = &lines[lines.len().saturating_sub(3)..];
    if last.is_empty() {
        String::new()
    } else {
        format!(": {}", last.join(" / "))
    }
}

/// The test target a binary was built from: its file name without cargo's `-HASH`.
fn crate_of(binary: &Path) -> String {
    let name = binary
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    match name.rsplit_once('-') {
        Some((stem, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            stem.to_owned()
        }
        _ => name,
    }
}

/// What every test's result shares.
struct Context<'a> {
    options: &'a Options,
    out: &'a Path,
    scratch: &'a Path,
    kernel: report::Kernel,
    summary: String,
}

impl Context<'_> {
    /// The result of the test `name`, its directory written: the bundle it left when it failed,
    /// or one made of `(verdict, reason, error)` and the files it left.
    fn result(&self, name: &str, (verdict, reason, error): Outcome) -> CaseResult {
        let family = family_of(name);
        let dir = self.out.join(CaseResult::dir_name(name, family));
        let left = self.scratch.join(name.replace("::", "."));
        if left.is_dir() && std::fs::rename(&left, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&left);
        }
        if verdict == Verdict::Fail
            && let Some(kept) = kept_bundle(&dir, name, family)
        {
            return kept;
        }
        let info = crate::case::CaseInfo::named("", "");
        let rerun = format!(
            "{} '{name}' --exact --include-ignored",
            self.options.binary.display()
        );
        let mut result = CaseResult {
            case: name.to_owned(),
            summary: self.summary.clone(),
            verdict,
            reason: reason.as_deref().map(first_line),
            error: error.or_else(|| reason.filter(|r| r.trim() != first_line(r))),
            expected_s: 0.0,
            ..CaseResult::unfinished(
                &info,
                family,
                0,
                self.kernel.clone(),
                self.options.tool.clone(),
                rerun,
            )
        };
        if let Err(e) = report::write_bundle(&dir, None, &mut result) {
            result.verdict = Verdict::Fail;
            result.reason = Some(first_line(&e.to_string()));
        }
        result
    }
}

/// How a test ended: its verdict, the reason, the whole error.
type Outcome = (Verdict, Option<String>, Option<String>);

/// The bundle a failed `#[netcase::test]` left in `dir`: its `result.json`, kept as the test wrote
/// it but for the fields that place it in this run (its name, family, verdict and files), which
/// are written back if they differ. `None` when there is none, or it does not parse.
fn kept_bundle(dir: &Path, name: &str, family: &str) -> Option<CaseResult> {
    let path = dir.join("result.json");
    let mut kept: CaseResult = serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let placed = (name, family, Verdict::Fail, &files);
    if (
        kept.case.as_str(),
        kept.family.as_str(),
        kept.verdict,
        &kept.files,
    ) != placed
    {
        kept.case = name.to_owned();
        kept.family = family.to_owned();
        kept.verdict = Verdict::Fail;
        kept.files = files;
        let json = serde_json::to_string_pretty(&kept).expect("a result serialises");
        let _ = std::fs::write(&path, json + "\n");
    }
    Some(kept)
}

/// How libtest reported one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    /// `ok` (a benchmark run as a test too).
    Ok,
    /// `FAILED`.
    Failed,
    /// `ignored`, with the reason `#[ignore = "..."]` gives.
    Ignored(Option<String>),
}

/// What libtest's plain output says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// `running N tests`, once the binary got that far.
    pub running: Option<usize>,
    /// Each `test NAME ... RESULT` line, in order.
    pub tests: Vec<(String, Reported)>,
    /// Each failed test's `---- NAME stdout ----` section, without its head.
    pub failures: BTreeMap<String, String>,
    /// Whether the closing `test result:` line came.
    pub finished: bool,
}

/// Reads libtest's plain output. `names` are the binary's tests (from its `--list`): a result
/// line names a test followed by its mode (`NAME - should panic`), which they tell apart; with
/// none, ` - should panic` is taken off.
pub fn parse(stdout: &str, names: &[String]) -> Parsed {
    let mut parsed = Parsed::default();
    // The section being read: its test and its lines.
    let mut section: Option<(String, Vec<String>)> = None;
    // Past the results: the failures and successes, their sections and lists.
    let mut past = false;
    let close = |section: &mut Option<(String, Vec<String>)>, parsed: &mut Parsed| {
        if let Some((name, lines)) = section.take() {
            let text = lines.join("\n");
            let text = text.trim_matches('\n');
            let entry = parsed.failures.entry(name).or_default();
            if !entry.is_empty() {
                entry.push('\n');
            }
            entry.push_str(text);
        }
    };
    for line in stdout.lines().map(strip_ansi) {
        if let Some(name) = section_head(&line) {
            close(&mut section, &mut parsed);
            section = Some((name.to_owned(), Vec::new()));
            past = true;
        } else if line == "failures:" || line == "successes:" || line.starts_with("test result: ") {
            close(&mut section, &mut parsed);
            past = true;
            parsed.finished |= line.starts_with("test result: ");
        } else if let Some((_, lines)) = &mut section {
            lines.push(line);
        } else if !past {
            if let Some(n) = running(&line) {
                parsed.running = Some(n);
            } else if let Some(test) = result_line(&line, names) {
                parsed.tests.push(test);
            }
        }
    }
    close(&mut section, &mut parsed);
    // Only the failures' sections (`--show-output` prints the successes' too).
    let failed: Vec<&String> = parsed
        .tests
        .iter()
        .filter(|(_, r)| *r == Reported::Failed)
        .map(|(n, _)| n)
        .collect();
    parsed.failures.retain(|name, _| failed.contains(&name));
    parsed
}

/// `running N tests` (or `1 test`): N.
fn running(line: &str) -> Option<usize> {
    let count = line.strip_prefix("running ")?;
    let count = count
        .strip_suffix(" tests")
        .or_else(|| count.strip_suffix(" test"))?;
    count.parse().ok()
}

/// `---- NAME stdout ----` (or `stderr`): NAME.
fn section_head(line: &str) -> Option<&str> {
    let inner = line.strip_prefix("---- ")?.strip_suffix(" ----")?;
    inner
        .strip_suffix(" stdout")
        .or_else(|| inner.strip_suffix(" stderr"))
}

/// `test NAME ... RESULT`, NAME possibly followed by its mode (`- should panic`).
fn result_line(line: &str, names: &[String]) -> Option<(String, Reported)> {
    let (shown, result) = line.strip_prefix("test ")?.split_once(" ... ")?;
    let result = result.trim_end();
    let reported = if result == "ok" || result.starts_with("ok ") || result.starts_with("bench:") {
        Reported::Ok
    } else if result.starts_with("FAILED") {
        Reported::Failed
    } else if result == "ignored" {
        Reported::Ignored(None)
    } else if let Some(why) = result.strip_prefix("ignored, ") {
        Reported::Ignored(Some(why.to_owned()))
    } else {
        return None;
    };
    // Benchmarks' names are padded.
    let shown = shown.trim_end();
    let name = if names.is_empty() {
        shown.strip_suffix(" - should panic").unwrap_or(shown)
    } else if names.iter().any(|n| n == shown) {
        shown
    } else {
        names
            .iter()
            .filter(|n| {
                shown
                    .strip_prefix(n.as_str())
                    .is_some_and(|mode| mode.starts_with(" - "))
            })
            .max_by_key(|n| n.len())
            .map_or(shown, String::as_str)
    };
    Some((name.to_owned(), reported))
}

/// The `SKIP NAME: why` lines of the binary's stderr ([`crate::privileges::skipped`]), by test:
/// the first for each. `names` are the binary's tests: a line is the longest that fits; with
/// none, NAME ends at the first `: `.
pub fn skips(stderr: &str, names: &[String]) -> BTreeMap<String, String> {
    let mut skips = BTreeMap::new();
    for line in stderr.lines().map(strip_ansi) {
        let Some(rest) = line.strip_prefix("SKIP ") else {
            continue;
        };
        let found = if names.is_empty() {
            rest.split_once(": ")
        } else {
            names
                .iter()
                .filter_map(|n| {
                    Some((
                        n.as_str(),
                        rest.strip_prefix(n.as_str())?.strip_prefix(": ")?,
                    ))
                })
                .max_by_key(|(n, _)| n.len())
        };
        if let Some((name, why)) = found {
            skips
                .entry(name.to_owned())
                .or_insert_with(|| why.trim().to_owned());
        }
    }
    skips
}

/// A failed test's reason, from its section: the first panic's message and where it was
/// (`one is not two — panicked at tests/x.rs:5:9`), an error the test returned (`Error: …`), or
/// else the section's first line.
pub fn reason_of(section: &str) -> String {
    let lines: Vec<&str> = section.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        // `thread 'NAME' (TID) panicked at FILE:LINE:COL:`, the message on the lines after.
        if line.starts_with("thread '")
            && let Some((_, at)) = line.split_once(" panicked at ")
        {
            let message = lines
                .get(i + 1)
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .unwrap_or("a panic without a message");
            return format!("{} — panicked at {}", message, at.trim_end_matches(':'));
        }
        if let Some(error) = line.strip_prefix("Error: ") {
            return format!("{} — returned as an error", first_line(error));
        }
    }
    lines
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty())
        .map_or_else(
            || "it failed; libtest printed nothing for it".to_owned(),
            first_line,
        )
}

/// `line` without terminal colour sequences (`ESC [ ... m`), which `--color always` adds.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters, then a final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libtest's output (Rust 1.95, RUST_BACKTRACE=1) for a file of tests that pass, fail by a
    /// panic and by an error, are ignored with a reason and without, should panic, and sit in a
    /// module.
    const OUTPUT: &str = "
running 8 tests
test ignored_plain ... ignored
test ignored_reason ... ignored, asserts 6.12: run with --include-ignored
test errs ... FAILED
test m::inner ... ok
test panics ... FAILED
test passes ... ok
test should - should panic ... ok
test m::slow ... ok

failures:

---- errs stdout ----
some output
Error: \"it went wrong\\nsecond line\"

---- panics stdout ----

thread 'panics' (1746) panicked at t.rs:2:34:
assertion `left == right` failed: one is not two
  left: 1
 right: 2
stack backtrace:
   0: __rustc::rust_begin_unwind
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.


failures:
    errs
    panics

test result: FAILED. 4 passed; 2 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.30s

";

    const LIST: &str = "errs: test\nignored_plain: test\nignored_reason: test\nm::inner: test\n\
                        m::slow: test\npanics: test\npasses: test\nshould: test\n\n\
                        8 tests, 0 benchmarks\n";

    fn names() -> Vec<String> {
        parse_list(LIST).expect("a list")
    }

    #[test]
    fn the_list_names_every_test_and_anything_else_is_not_one() {
        let names = names();
        assert_eq!(names.len(), 8);
        assert_eq!(names[3], "m::inner");
        assert_eq!(parse_list("0 tests, 0 benchmarks\n"), Some(Vec::new()));
        assert_eq!(parse_list(""), None);
        assert_eq!(parse_list("Usage: true\n"), None);
    }

    #[test]
    fn results_failures_and_ignored_tests_are_read() {
        let parsed = parse(OUTPUT, &names());
        assert_eq!(parsed.running, Some(8));
        assert!(parsed.finished);
        let find = |name: &str| {
            parsed
                .tests
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, r)| r.clone())
        };
        assert_eq!(parsed.tests.len(), 8);
        assert_eq!(find("passes"), Some(Reported::Ok));
        assert_eq!(find("m::inner"), Some(Reported::Ok));
        assert_eq!(
            find("should"),
            Some(Reported::Ok),
            "its mode is not its name"
        );
        assert_eq!(find("panics"), Some(Reported::Failed));
        assert_eq!(find("ignored_plain"), Some(Reported::Ignored(None)));
        assert_eq!(
            find("ignored_reason"),
            Some(Reported::Ignored(Some(
                "asserts 6.12: run with --include-ignored".to_owned()
            )))
        );
        // The failures' names listed after their sections are not results.
        assert_eq!(find("    errs"), None);
        assert_eq!(
            parsed.failures.keys().collect::<Vec<_>>(),
            ["errs", "panics"]
        );
        let panics = &parsed.failures["panics"];
        assert!(panics.starts_with("thread 'panics' (1746) panicked at t.rs:2:34:"));
        assert!(panics.ends_with("for a verbose backtrace."), "{panics}");
        assert_eq!(
            reason_of(panics),
            "assertion `left == right` failed: one is not two — panicked at t.rs:2:34"
        );
        assert_eq!(
            reason_of(&parsed.failures["errs"]),
            "\"it went wrong\\nsecond line\" — returned as an error"
        );
        assert_eq!(reason_of(""), "it failed; libtest printed nothing for it");
        assert_eq!(reason_of("\nsomething odd\nmore"), "something odd");
    }

    #[test]
    fn without_a_list_the_mode_is_taken_off_and_colours_are_ignored() {
        let coloured = "running 2 tests\ntest a::b - should panic ... \u{1b}[32mok\u{1b}[0m\n\
                        test c ... \u{1b}[31mFAILED\u{1b}[0m\n";
        let parsed = parse(coloured, &[]);
        assert_eq!(
            parsed.tests,
            [
                ("a::b".to_owned(), Reported::Ok),
                ("c".to_owned(), Reported::Failed)
            ]
        );
        assert!(!parsed.finished && parsed.failures.is_empty());
        // A binary that ended before its tests.
        assert_eq!(parse("", &[]), Parsed::default());
    }

    #[test]
    fn successes_sections_are_not_failures() {
        let output = "running 1 test\ntest a ... ok\n\nsuccesses:\n\n---- a stdout ----\nhello\n\n\
                      successes:\n    a\n\ntest result: ok. 1 passed\n";
        let parsed = parse(output, &["a".to_owned()]);
        assert_eq!(parsed.tests, [("a".to_owned(), Reported::Ok)]);
        assert!(parsed.failures.is_empty());
    }

    #[test]
    fn skip_lines_name_their_test_even_with_colons_in_it() {
        let names = vec!["m::inner".to_owned(), "m::inner::deeper".to_owned()];
        let stderr = "noise\nSKIP m::inner: CAP_NET_ADMIN is missing: run as root\n\
                      SKIP m::inner::deeper: tshark is not installed\n\
                      SKIP m::inner: a second line is not kept\n\
                      SKIP elsewhere: not a test of this binary\n";
        let skips = skips(stderr, &names);
        assert_eq!(skips.len(), 2);
        assert_eq!(skips["m::inner"], "CAP_NET_ADMIN is missing: run as root");
        assert_eq!(skips["m::inner::deeper"], "tshark is not installed");
        let unnamed = super::skips("SKIP x::y: why: because\n", &[]);
        assert_eq!(unnamed["x::y"], "why: because");
    }

    #[test]
    fn arguments_that_change_the_output_are_refused() {
        for arg in [
            "--format",
            "--format=json",
            "-q",
            "--quiet",
            "--list",
            "--help",
        ] {
            assert!(refused(arg), "{arg}");
        }
        for arg in [
            "--exact",
            "--include-ignored",
            "--nocapture",
            "format",
            "-Zunstable-options",
        ] {
            assert!(!refused(arg), "{arg}");
        }
    }

    #[test]
    fn a_binary_is_named_after_its_test_target() {
        assert_eq!(
            crate_of(Path::new(
                "target/debug/deps/kernel_behaviour-0123456789abcdef"
            )),
            "kernel_behaviour"
        );
        assert_eq!(crate_of(Path::new("/bin/my-tests")), "my-tests");
        assert_eq!(last_lines("a\n\nb\nc\nd\n"), ": b / c / d");
        assert_eq!(last_lines("\n"), "");
    }
}
