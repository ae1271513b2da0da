//! What a case run leaves behind: a bundle per case that a maintainer can read without running
//! anything, and a summary of the whole run (JSON, JUnit, an offline HTML index).
//!
//! A case's bundle, in `<out>/<case>.<family>/`:
//!
//! | file | what |
//! |---|---|
//! | `result.json` | the verdict and everything below, machine-readable ([`CaseResult`], schema `fixtures/report/result.schema.json`) |
//! | `README.md` | what the case shows, its verdict, and the command that reruns exactly it |
//! | `*.pcap` | every capture the case made (classic pcap, nanosecond timestamps) |
//! | `check-<host>.txt` | each expectation the case checked: the file and the result, side by side on a mismatch |
//! | `timeline.txt` | every capture decoded, one line per frame, TCP segments with their ports; then what impairments dropped ([`crate::impair::record`]) and by which rule |
//! | `ladder.svg` | the client–server exchange as a ladder diagram ([`ladder`]): a colour per connection, drops ending in a cross |
//! | `counters.txt` | each host's counters that changed during the case |
//! | `sockets.txt` | each host's socket table at the case's checkpoints and at its end |
//! | `settings.txt` | each host's settings (net.ipv4.*, net.core.*), the kernel release and HZ |
//!
//! Beside the bundles, a run's `run.json` ([`run`]) says whether it finished, and its
//! `summary.json`, `junit.xml` and `index.html` ([`write_summary`]) are rewritten as its cases
//! finish: a run that was stopped or killed leaves them as far as it got.

pub mod ladder;
pub mod run;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    Topology,
    error::{Error, Result},
    packets::decode,
};

/// The schema identifier every `result.json` carries.
pub const RESULT_SCHEMA: &str = "netcase/result/1";

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// It ran and the kernel did what it asserts.
    Pass,
    /// It ran and something differed, or it could not finish.
    Fail,
    /// It could not run here (a kernel feature is missing); the reason says which.
    Skip,
    /// The run was stopped (Ctrl-C) before it finished.
    Interrupted,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
            Verdict::Interrupted => "STOP",
        })
    }
}

/// One measured figure, as in [`crate::case::Figure`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureRecord {
    /// Its name.
    pub name: String,
    /// The values.
    pub values: Vec<f64>,
    /// Their unit.
    pub unit: String,
    /// What decides them (results written before kinds existed read as `kernel`).
    #[serde(default)]
    pub kind: crate::case::Kind,
}

/// A rule the kernel followed, as in [`crate::case::Behaviour`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BehaviourRecord {
    /// What it is about.
    pub topic: String,
    /// What this kernel does.
    pub text: String,
}

/// The socket table of one host at one moment of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// What moment (`end`, or the label the case gave).
    pub label: String,
    /// The host.
    pub host: String,
    /// Its TCP sockets, one line each, as [`crate::observe::Socket`] prints them.
    pub sockets: Vec<String>,
}

/// The kernel a case ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kernel {
    /// `uname -r`.
    pub release: String,
    /// `uname -v`.
    pub version: String,
    /// The kernel's HZ, and how it was found.
    pub hz: String,
    /// A hash (FNV-1a, 64 bits, hex) of the kernel's configuration (/proc/config.gz or
    /// /boot/config-RELEASE), or `unknown`.
    pub config_hash: String,
}

/// The netcase that ran a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// The crate version.
    pub version: String,
    /// The git commit it was built from, or `unknown`.
    pub commit: String,
}

/// Everything about one run of one case over one family: `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Always [`RESULT_SCHEMA`].
    pub schema: String,
    /// The case's name (`behaviour::what`).
    pub case: String,
    /// Its one-line summary.
    pub summary: String,
    /// `v4` or `v6`.
    pub family: String,
    /// How it ended.
    pub verdict: Verdict,
    /// Why it failed or was skipped, in one line.
    pub reason: Option<String>,
    /// The whole error, with an expectation's side-by-side report when there is one.
    pub error: Option<String>,
    /// How long it took, in seconds.
    pub duration_s: f64,
    /// How long it is expected to take, in seconds.
    pub expected_s: f64,
    /// The seed of its random choices.
    pub seed: u64,
    /// What it measured.
    pub figures: Vec<FigureRecord>,
    /// What it noted for the reader.
    pub notes: Vec<String>,
    /// The rules the kernel followed, in words.
    #[serde(default)]
    pub behaviours: Vec<BehaviourRecord>,
    /// Each host's counters that changed during the case: host, then counter, then change.
    pub counters: BTreeMap<String, BTreeMap<String, i64>>,
    /// Socket tables at the case's checkpoints and at its end.
    pub checkpoints: Vec<Checkpoint>,
    /// Each host's settings (net.ipv4.*, net.core.*), host then sysctl then value.
    pub settings: BTreeMap<String, BTreeMap<String, String>>,
    /// The kernel.
    pub kernel: Kernel,
    /// The netcase that ran it.
    pub netcase: Tool,
    /// The command that reruns exactly this case with exactly these settings.
    pub rerun: String,
    /// The bundle's files, relative to its directory.
    pub files: Vec<String>,
}

impl CaseResult {
    /// The result of a case run that has not begun (or never came back): a failure with nothing
    /// recorded, which the run then fills in. `rerun` is the command that reruns it.
    pub fn unfinished(
        info: &crate::case::CaseInfo,
        family: &str,
        seed: u64,
        kernel: Kernel,
        netcase: Tool,
        rerun: String,
    ) -> CaseResult {
        CaseResult {
            schema: RESULT_SCHEMA.to_owned(),
            case: info.name.to_owned(),
            summary: info.summary.to_owned(),
            family: family.to_owned(),
            verdict: Verdict::Fail,
            reason: None,
            error: None,
            duration_s: 0.0,
            expected_s: info.expected.as_secs_f64(),
            seed,
            figures: Vec::new(),
            notes: Vec::new(),
            behaviours: Vec::new(),
            counters: BTreeMap::new(),
            checkpoints: Vec::new(),
            settings: BTreeMap::new(),
            kernel,
            netcase,
            rerun,
            files: Vec::new(),
        }
    }

    /// The bundle directory's name: the case name with `::` as `.`, then the family; a test of
    /// one's own whose family is not known ([`NO_FAMILY`]) is its name alone, as
    /// `#[netcase::test]` names its output directory.
    pub fn dir_name(case: &str, family: &str) -> String {
        let case = case.replace("::", ".");
        if family == NO_FAMILY {
            case
        } else {
            format!("{case}.{family}")
        }
    }

    /// The case and its family as lists print them, `backlog::zero [v4]`; a test of one's own
    /// whose family is not known ([`NO_FAMILY`]) is its name alone.
    pub fn label(case: &str, family: &str) -> String {
        if family == NO_FAMILY {
            case.to_owned()
        } else {
            format!("{case} [{family}]")
        }
    }
}

/// The family of a result that has none: a test of one's own (`#[netcase::test]`, a test of a
/// binary run by `netcase tests`) that is not one of a pair of tests over `Family::V4` and
/// `Family::V6` ([`crate::bundle::family_of`]).
pub const NO_FAMILY: &str = "-";

/// Reads the running kernel's identity.
pub fn kernel() -> Kernel {
    let field = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
            .map_or("unknown".to_owned(), |s| s.trim().to_owned())
    };
    let release = field("osrelease");
    let config = read_gz("/proc/config.gz")
        .or_else(|| std::fs::read(format!("/boot/config-{release}")).ok());
    Kernel {
        version: field("version"),
        hz: crate::observe::hz().map_or_else(|e| format!("unknown ({e})"), |hz| hz.to_string()),
        config_hash: config.map_or("unknown".to_owned(), |c| format!("{:016x}", fnv1a(&c))),
        release,
    }
}

fn read_gz(path: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// FNV-1a, 64 bits: a stable fingerprint, not a cryptographic hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Writes a case's bundle into `dir` (which already holds its pcaps and check files): the
/// timeline and ladder diagram from the pcaps (host names from `net`), the text files, then
/// `result.json` and `README.md`. Fills `result.files`.
pub fn write_bundle(dir: &Path, net: Option<&Topology>, result: &mut CaseResult) -> Result<()> {
    let io = |what: &str, e| Error::io(format!("{what} in {}", dir.display()), e);
    std::fs::create_dir_all(dir).map_err(|e| io("creating the bundle", e))?;
    let names = |ip| net.and_then(|n| n.host_of(ip)).map(str::to_owned);
    let mut timeline = String::new();
    let mut ladder_segments = Vec::new();
    // The ladder's time base: the client capture's first frame, then its first SYN.
    let mut ladder_base = None;
    for pcap in files_with(dir, ".pcap") {
        let frames = match crate::packets::pcap::read(&pcap) {
            Ok(frames) => frames,
            Err(e) => {
                let _ = writeln!(timeline, "== {}: unreadable: {e}\n", file_name(&pcap));
                continue;
            }
        };
        let zero = frames.first().map_or(std::time::UNIX_EPOCH, |f| f.at);
        let packets = decode::decode(&frames, &names, zero);
        let _ = writeln!(
            timeline,
            "== {} ({} frames, times from its first frame)",
            file_name(&pcap),
            packets.len()
        );
        for packet in &packets {
            let _ = writeln!(timeline, "{packet:#}");
        }
        timeline.push('\n');
        if ladder_segments.is_empty() && file_name(&pcap).starts_with("client-") {
            // The client's view, with times from its first SYN.
            let syn = decode::segments(&packets)
                .find(|s| s.flags.contains(decode::Flags::SYN))
                .map_or(0, |s| s.at_ns);
            ladder_base = Some((zero, syn, frames));
            ladder_segments = decode::segments(&packets)
                .cloned()
                .map(|mut s| {
                    s.at_ns -= syn;
                    s
                })
                .collect();
        }
    }
    if timeline.is_empty() {
        timeline.push_str("(the case captured nothing)\n");
    }
    let drops = crate::impair::record::take(dir);
    let mut dropped = Vec::new();
    if !drops.is_empty() {
        let (zero, syn, mut frames) = ladder_base.unwrap_or((drops[0].at, 0, Vec::new()));
        // Decoded after the client's capture, so that sequence numbers count from the same
        // initial ones.
        let captured = frames.len();
        frames.extend(drops.iter().map(|d| d.frame.clone()));
        let decoded = decode::decode(&frames, &names, zero);
        let _ = writeln!(
            timeline,
            "== dropped by impairments ({}, from their programs' records; times as in the client's capture)",
            drops.len()
        );
        for (packet, drop) in decoded[captured..].iter().zip(&drops) {
            let _ = writeln!(timeline, "{packet:#}  {drop}");
        }
        dropped.extend(
            decode::segments(&decoded[captured..])
                .cloned()
                .map(|mut s| {
                    s.at_ns -= syn;
                    s
                }),
        );
        timeline.push('\n');
    }
    let title = title(result);
    let svg = ladder::svg(&title, "client", "server", &ladder_segments, &dropped);
    let mut counters = String::new();
    for (host, changes) in &result.counters {
        let _ = writeln!(counters, "== {host}");
        for (name, change) in changes {
            let _ = writeln!(counters, "{name:<40} {change:+}");
        }
        counters.push('\n');
    }
    let mut sockets = String::new();
    for checkpoint in &result.checkpoints {
        let _ = writeln!(sockets, "== {} on {}", checkpoint.label, checkpoint.host);
        for line in &checkpoint.sockets {
            let _ = writeln!(sockets, "{line}");
        }
        sockets.push('\n');
    }
    let mut settings = format!(
        "kernel {} ({}), HZ {}, config {}\nnetcase {} ({})\n\n",
        result.kernel.release,
        result.kernel.version,
        result.kernel.hz,
        result.kernel.config_hash,
        result.netcase.version,
        result.netcase.commit
    );
    for (host, values) in &result.settings {
        let _ = writeln!(settings, "== {host}");
        for (name, value) in values {
            let _ = writeln!(settings, "{name} = {value}");
        }
        settings.push('\n');
    }
    for (name, text) in [
        ("timeline.txt", timeline),
        ("ladder.svg", svg),
        ("counters.txt", counters),
        ("sockets.txt", sockets),
        ("settings.txt", settings),
        ("README.md", readme(result)),
    ] {
        std::fs::write(dir.join(name), text).map_err(|e| io(&format!("writing {name}"), e))?;
    }
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| io("listing the bundle", e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .chain(["result.json".to_owned()])
        .collect();
    files.sort();
    files.dedup();
    result.files = files;
    let json = serde_json::to_string_pretty(result).expect("a result serialises");
    std::fs::write(dir.join("result.json"), json + "\n").map_err(|e| io("writing result.json", e))
}

/// `case over family`; a test of one's own whose family is not known (`-`) is its name alone.
fn title(r: &CaseResult) -> String {
    if r.family == NO_FAMILY {
        r.case.clone()
    } else {
        format!("{} over {}", r.case, r.family)
    }
}

fn readme(r: &CaseResult) -> String {
    let mut out = format!("# {}: {}\n\n", title(r), r.verdict);
    if let Some(reason) = &r.reason {
        let _ = writeln!(out, "**Why:** {reason}\n");
    }
    let _ = writeln!(
        out,
        "Rerun exactly this, as root:\n\n```sh\n{}\n```\n\n{}\n",
        r.rerun, r.summary
    );
    let expected = if r.expected_s > 0.0 {
        format!(" (expected about {:.1} s)", r.expected_s)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "Ran in {:.2} s{expected} on kernel {} (HZ {}), netcase {} ({}).\n",
        r.duration_s, r.kernel.release, r.kernel.hz, r.netcase.version, r.netcase.commit
    );
    if !r.figures.is_empty() {
        out.push_str("## Figures\n\n| figure | values | unit |\n|---|---|---|\n");
        for f in &r.figures {
            let values: Vec<String> = f.values.iter().map(|v| format!("{v}")).collect();
            let _ = writeln!(out, "| {} | {} | {} |", f.name, values.join(", "), f.unit);
        }
        out.push('\n');
    }
    if !r.notes.is_empty() {
        out.push_str("## Notes\n\n");
        for note in &r.notes {
            let _ = writeln!(out, "- {note}");
        }
        out.push('\n');
    }
    if let Some(error) = &r.error {
        let _ = writeln!(out, "## Error\n\n```text\n{error}\n```\n");
    }
    out.push_str(
        "## Files\n\n\
         - `ladder.svg`: the client–server exchange, a colour per connection (its legend names the ports); red dashed arrows were sent again later\n\
         - `timeline.txt`: every capture decoded; `*.pcap`: the captures (tshark, Wireshark)\n\
         - `check-<host>.txt`: the expectation checked against a host's capture, and its result\n\
         - `counters.txt`: counters that changed, per host; `sockets.txt`: socket tables\n\
         - `settings.txt`: every host's settings and the kernel; `result.json`: all of it, as data\n",
    );
    out
}

impl CaseResult {
    /// Adds what `net`'s hosts show at the end: each one's counters that moved since `before`
    /// (host by host), and its socket table as the checkpoint `end`. Best effort: a host that
    /// cannot be read is left out.
    pub async fn read_end(
        &mut self,
        net: &Topology,
        before: &BTreeMap<String, crate::observe::Counters>,
    ) {
        for host in net.hosts() {
            let name = host.name().to_owned();
            if let Ok(after) = host.counters().await
                && let Some(delta) = before.get(&name).and_then(|b| after.since(b).ok())
            {
                let changes = delta.changes().map(|(n, v)| (n.to_owned(), v)).collect();
                self.counters.insert(name.clone(), changes);
            }
            if let Ok(table) = host.sockets().await {
                self.checkpoints.push(Checkpoint {
                    label: "end".to_owned(),
                    host: name,
                    sockets: table.iter().map(|s| s.to_string()).collect(),
                });
            }
        }
    }
}

/// The message a panic carried (a `String` or a `&str`), if it carried one.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
}

/// Where a panic happened, as `file:line`, and its message, as a panic hook sees them.
pub(crate) fn panic_seen(info: &std::panic::PanicHookInfo<'_>) -> (String, String) {
    let at = info
        .location()
        .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
    (panic_text(info.payload()).unwrap_or_default(), at)
}

/// The first line of `text`, trimmed and cut at 160 characters: a failure's reason in a table.
pub(crate) fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line.to_owned()
    }
}

fn files_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// What a whole run leaves next to the bundles: `summary.json`, `junit.xml` and `index.html`,
/// with the run's state from the `run.json` beside them, when there is one.
pub fn write_summary(out: &Path, results: &[CaseResult], wall_s: f64) -> Result<()> {
    let record = run::RunRecord::read(out).ok().flatten();
    write_summary_of(out, results, wall_s, record.as_ref())
}

/// [`write_summary`] for the run `record` (which may be newer than its `run.json`: a run writes
/// its summary first and its end state last). Each file is replaced whole (a temporary file and a
/// rename), so that a run killed while writing leaves the previous version, never half of one.
pub fn write_summary_of(
    out: &Path,
    results: &[CaseResult],
    wall_s: f64,
    record: Option<&run::RunRecord>,
) -> Result<()> {
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    let summary = serde_json::json!({
        "schema": "netcase/summary/1",
        "state": record.map(|r| r.state),
        "planned": record.map(|r| r.parts.len()),
        "wall_s": wall_s,
        "passed": count(Verdict::Pass),
        "failed": count(Verdict::Fail),
        "skipped": count(Verdict::Skip),
        "interrupted": count(Verdict::Interrupted),
        "kernel": results.first().map(|r| &r.kernel),
        "cases": results.iter().map(|r| serde_json::json!({
            "case": r.case,
            "family": r.family,
            "verdict": r.verdict,
            "duration_s": r.duration_s,
            "reason": r.reason,
            "bundle": CaseResult::dir_name(&r.case, &r.family),
            "figures": r.figures,
        })).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&summary).expect("a summary serialises");
    run::write_atomic(&out.join("summary.json"), (text + "\n").as_bytes())?;
    run::write_atomic(&out.join("junit.xml"), junit(results, wall_s).as_bytes())?;
    let state = record.map(|r| r.describe(results.len()));
    run::write_atomic(
        &out.join("index.html"),
        index(out, results, wall_s, state.as_deref()).as_bytes(),
    )
}

fn junit(results: &[CaseResult], wall_s: f64) -> String {
    let failures = results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Interrupted))
        .count();
    let skipped = results
        .iter()
        .filter(|r| r.verdict == Verdict::Skip)
        .count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"netcase\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{wall_s:.3}\">\n<testsuite name=\"netcase\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{wall_s:.3}\">\n",
        results.len(),
        results.len()
    );
    for r in results {
        let (class, name) = r.case.rsplit_once("::").unwrap_or(("netcase", &r.case));
        let family = if r.family == NO_FAMILY {
            String::new()
        } else {
            format!("[{}]", r.family)
        };
        let _ = write!(
            out,
            "  <testcase classname=\"{}\" name=\"{}{family}\" time=\"{:.3}\"",
            ladder::escape(class),
            ladder::escape(name),
            r.duration_s
        );
        let reason = ladder::escape(r.reason.as_deref().unwrap_or(""));
        match r.verdict {
            Verdict::Pass => out.push_str("/>\n"),
            Verdict::Skip => {
                let _ = writeln!(out, ">\n    <skipped message=\"{reason}\"/>\n  </testcase>");
            }
            Verdict::Fail | Verdict::Interrupted => {
                let _ = writeln!(
                    out,
                    ">\n    <failure message=\"{reason}\">{}</failure>\n  </testcase>",
                    ladder::escape(r.error.as_deref().unwrap_or(""))
                );
            }
        }
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}

/// The verdict filter's script: a checkbox per verdict shows or hides its rows and sections.
/// Without scripts the page shows everything.
const FILTER_SCRIPT: &str = "<script>\n\
for (const box of document.querySelectorAll('#filter input')) {\n\
  box.addEventListener('change', () => {\n\
    for (const el of document.querySelectorAll('[data-verdict=' + box.value + ']')) {\n\
      el.hidden = !box.checked;\n\
    }\n\
  });\n\
}\n\
</script>\n";

/// A case's key figures for the index, one line each: those the kernel decides first, at most
/// three.
fn key_figures(r: &CaseResult) -> Vec<String> {
    let mut figures: Vec<&FigureRecord> = r.figures.iter().collect();
    figures.sort_by_key(|f| f.kind != crate::case::Kind::Kernel);
    figures
        .iter()
        .take(3)
        .map(|f| {
            let values: Vec<String> = f.values.iter().take(4).map(|&v| compact(v)).collect();
            let more = if f.values.len() > 4 { ", …" } else { "" };
            format!("{} = {}{more} {}", f.name, values.join(", "), f.unit)
        })
        .collect()
}

/// A figure's value in at most three decimals, without trailing zeros.
fn compact(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn index(out: &Path, results: &[CaseResult], wall_s: f64, state: Option<&str>) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>netcase report</title>\n<style>body{{font-family:sans-serif;font-size:15px;margin:2em;max-width:1100px}}table{{border-collapse:collapse;width:100%;table-layout:fixed}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}}th.case{{width:30%}}th.family{{width:4em}}th.verdict{{width:5em}}th.seconds{{width:5em}}td.figures{{font-family:monospace;font-size:13px}}.pass{{color:#166534}}.fail,.stop{{color:#b91c1c}}.skip{{color:#92400e}}section{{margin-top:2em}}section svg{{max-width:100%;height:auto}}#filter label{{margin-right:1.2em}}</style></head><body>\n<h1>netcase report</h1>\n<p>{} cases in {wall_s:.1} s on kernel {}.</p>\n",
        results.len(),
        ladder::escape(
            &results
                .first()
                .map_or("?".into(), |r| r.kernel.release.clone())
        )
    );
    if let Some(state) = state {
        let class = if state.starts_with("finished") {
            "pass"
        } else {
            "stop"
        };
        let _ = writeln!(
            html,
            "<p id=\"state\" class=\"{class}\">{}{}</p>",
            ladder::escape(state),
            if state.starts_with("running") {
                " (written as cases finish: if it runs no more, it was killed; \
                 <code>netcase show</code> on this directory tells)"
            } else {
                ""
            }
        );
    }
    html.push_str("<p id=\"filter\">Show:");
    for verdict in [
        Verdict::Fail,
        Verdict::Pass,
        Verdict::Skip,
        Verdict::Interrupted,
    ] {
        let n = results.iter().filter(|r| r.verdict == verdict).count();
        let class = verdict.to_string().to_lowercase();
        let _ = write!(
            html,
            " <label class=\"{class}\"><input type=\"checkbox\" value=\"{class}\" checked> {verdict} ({n})</label>"
        );
    }
    // Failures first, then the rest in the order they ran.
    let mut results: Vec<&CaseResult> = results.iter().collect();
    results.sort_by_key(|r| !matches!(r.verdict, Verdict::Fail | Verdict::Interrupted));
    html.push_str("</p>\n<table><tr><th class=\"case\">case</th><th class=\"family\">family</th><th class=\"verdict\">verdict</th><th class=\"seconds\">seconds</th><th>key figures</th><th>why (first line)</th></tr>\n");
    for r in &results {
        let dir = CaseResult::dir_name(&r.case, &r.family);
        let class = r.verdict.to_string().to_lowercase();
        let _ = writeln!(
            html,
            "<tr data-verdict=\"{class}\"><td><a href=\"#{dir}\">{}</a></td><td>{}</td><td class=\"{class}\">{}</td><td>{:.2}</td><td class=\"figures\">{}</td><td>{}</td></tr>",
            // Case names break after `::` and `_` only.
            ladder::escape(&r.case)
                .replace("::", "::<wbr>")
                .replace('_', "_<wbr>"),
            r.family,
            r.verdict,
            r.duration_s,
            key_figures(r)
                .iter()
                .map(|f| ladder::escape(f))
                .collect::<Vec<_>>()
                .join("<br>"),
            ladder::escape(&first_line(r.reason.as_deref().unwrap_or("")))
        );
    }
    html.push_str("</table>\n");
    for r in &results {
        let dir = CaseResult::dir_name(&r.case, &r.family);
        let svg = std::fs::read_to_string(out.join(&dir).join("ladder.svg")).unwrap_or_default();
        // A case that never ran here (stopped before it started, lost with its guest) has a
        // row in the summary but no bundle to link to.
        let links = if out.join(&dir).join("result.json").is_file() {
            format!(
                "<a href=\"{dir}/README.md\">README</a> · <a href=\"{dir}/result.json\">result.json</a> · <a href=\"{dir}/timeline.txt\">timeline</a> · <a href=\"{dir}/counters.txt\">counters</a> · <a href=\"{dir}/settings.txt\">settings</a>"
            )
        } else {
            format!(
                "no bundle: {}",
                ladder::escape(r.reason.as_deref().unwrap_or("it did not run"))
            )
        };
        let class = r.verdict.to_string().to_lowercase();
        let _ = writeln!(
            html,
            "<section id=\"{dir}\" data-verdict=\"{class}\"><h2>{}: <span class=\"{class}\">{}</span></h2>\n<p>{}</p>\n<p>{links}</p>\n{svg}</section>",
            ladder::escape(&title(r)),
            r.verdict,
            ladder::escape(&r.summary),
        );
    }
    html.push_str(FILTER_SCRIPT);
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_reference_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn bundle_names_and_verdicts_read_well() {
        assert_eq!(
            CaseResult::dir_name("backlog::zero", "v6"),
            "backlog.zero.v6"
        );
        assert_eq!(
            CaseResult::dir_name("mine::connects", NO_FAMILY),
            "mine.connects"
        );
        assert_eq!(
            CaseResult::label("backlog::zero", "v4"),
            "backlog::zero [v4]"
        );
        assert_eq!(
            CaseResult::label("mine::connects", NO_FAMILY),
            "mine::connects"
        );
        assert_eq!(Verdict::Interrupted.to_string(), "STOP");
        assert_eq!(serde_json::to_string(&Verdict::Skip).unwrap(), "\"skip\"");
    }
}
