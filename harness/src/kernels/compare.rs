//! The comparison of kernels: one row per case and family, one column per kernel, each cell the
//! verdict and what the case found there; every change of *behaviour* marked, and said in words.
//! A difference is the product of a kernel matrix, not a failure.
//!
//! What counts as behaviour is what the cases declare so ([`crate::case::Kind`]):
//!
//! - a figure the kernel decides (a count, an errno, a length, a timer's nominal value the case
//!   checked the kernel kept to) is compared exactly: it is the same on every run of one kernel;
//! - a rule the case saw the kernel follow, in words (`SYN schedule: no linear phase ...`), is
//!   compared as text;
//! - a verdict that differs (runs here, is skipped there for a missing feature, fails) is a
//!   difference too;
//! - a figure that measures the machine (a latency, a call's duration, an observed firing under
//!   emulation) is shown and never compared: emulation slows such figures 10 to 100 fold.
//!
//! Every marked cell carries one line per change: what changed, in the case's own words.

use std::fmt::Write as _;

use crate::{
    case::Kind,
    report::{BehaviourRecord, CaseResult, FigureRecord, NO_FAMILY, Verdict},
};
use serde::{Deserialize, Serialize};

/// One kernel's column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    /// Its directory under the output (`this-kernel`, or the release).
    pub name: String,
    /// The kernel's release as the cases saw it.
    pub release: String,
    /// How it ran: `host` (this machine), `kvm` or `tcg`.
    pub emulation: String,
    /// Boot to the first case's start, in seconds (guests only).
    pub boot_to_first_case_s: Option<f64>,
    /// How long its run took, in seconds.
    pub wall_s: f64,
    /// Why the whole kernel's run broke down, when it did.
    pub broken: Option<String>,
}

/// One kernel's results: its column head and its cases.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The column.
    pub column: Column,
    /// Its results.
    pub results: Vec<CaseResult>,
}

/// One cell.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The verdict, or `None` when the case did not run on that kernel.
    pub verdict: Option<Verdict>,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// What it measured.
    pub figures: Vec<FigureRecord>,
    /// The rules it saw the kernel follow.
    pub behaviours: Vec<BehaviourRecord>,
    /// Whether this cell's behaviour differs from the row's first cell that ran.
    pub differs: bool,
    /// What differs, one line each, in the case's words.
    pub changes: Vec<String>,
}

/// One row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The case.
    pub case: String,
    /// `v4` or `v6`, or [`NO_FAMILY`] for a test of one's own (`netcase tests`).
    pub family: String,
    /// One cell per column.
    pub cells: Vec<Cell>,
    /// Whether any cell differs.
    pub differs: bool,
}

/// The whole comparison: `comparison.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Always `netcase/comparison/2`.
    pub schema: String,
    /// The columns.
    pub kernels: Vec<Column>,
    /// The rows, in the order the cases ran.
    pub rows: Vec<Row>,
    /// What stopped the matrix before every kernel had run (`SIGTERM`, `Ctrl-C (SIGINT)`): the
    /// comparison holds what came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl Row {
    /// The case and its family as the text and tables print them ([`CaseResult::label`]).
    pub fn label(&self) -> String {
        CaseResult::label(&self.case, &self.family)
    }
}

impl Comparison {
    /// Lines up `kernels`' results.
    pub fn new(kernels: &[Kernel]) -> Comparison {
        let mut keys: Vec<(String, String)> = Vec::new();
        for k in kernels {
            for r in &k.results {
                let key = (r.case.clone(), r.family.clone());
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        let rows = keys
            .into_iter()
            .map(|(case, family)| {
                let mut cells: Vec<Cell> = kernels
                    .iter()
                    .map(|k| {
                        let found = k
                            .results
                            .iter()
                            .find(|r| r.case == case && r.family == family);
                        Cell {
                            verdict: found.map(|r| r.verdict),
                            reason: found.and_then(|r| r.reason.clone()),
                            figures: found.map(|r| r.figures.clone()).unwrap_or_default(),
                            behaviours: found.map(|r| r.behaviours.clone()).unwrap_or_default(),
                            differs: false,
                            changes: Vec::new(),
                        }
                    })
                    .collect();
                // A cell a stop left without a result says nothing about its kernel.
                let compared = |c: &Cell| c.verdict.is_some_and(|v| v != Verdict::Interrupted);
                let reference = cells
                    .iter()
                    .position(compared)
                    .map(|i| (i, cells[i].clone()));
                if let Some((at, reference)) = reference {
                    let against = &kernels[at].column.name;
                    for (i, cell) in cells.iter_mut().enumerate() {
                        if i != at && compared(cell) {
                            cell.changes = changes(&reference, cell, against);
                            cell.differs = !cell.changes.is_empty();
                        }
                    }
                }
                let differs = cells.iter().any(|c| c.differs);
                Row {
                    case,
                    family,
                    cells,
                    differs,
                }
            })
            .collect();
        Comparison {
            schema: "netcase/comparison/2".to_owned(),
            kernels: kernels.iter().map(|k| k.column.clone()).collect(),
            rows,
            stopped: None,
        }
    }

    /// The rows where kernels behave differently.
    pub fn differences(&self) -> usize {
        self.rows.iter().filter(|r| r.differs).count()
    }

    /// How many cells have `verdict`, per column.
    pub fn count(&self, verdict: Verdict) -> Vec<usize> {
        (0..self.kernels.len())
            .map(|i| {
                self.rows
                    .iter()
                    .filter(|r| r.cells[i].verdict == Some(verdict))
                    .count()
            })
            .collect()
    }

    /// Every FAIL, and every case a stop cut short, as `kernel: case [family]: reason`.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for row in &self.rows {
            for (k, cell) in self.kernels.iter().zip(&row.cells) {
                if matches!(cell.verdict, Some(Verdict::Fail | Verdict::Interrupted)) {
                    out.push(format!(
                        "{}: {}: {}",
                        k.name,
                        row.label(),
                        cell.reason.as_deref().unwrap_or("no reason given")
                    ));
                }
            }
        }
        out
    }

    /// As text: one line per kernel with its counts, a table of verdicts (`*` where the
    /// behaviour differs from the first kernel), then what differs, row by row.
    pub fn text(&self) -> String {
        let mut out = self.stopped.as_ref().map_or_else(String::new, |why| {
            format!("INTERRUPTED by {why}: not every kernel ran to its end\n\n")
        });
        let (pass, fail, skip) = (
            self.count(Verdict::Pass),
            self.count(Verdict::Fail),
            self.count(Verdict::Skip),
        );
        for (i, k) in self.kernels.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}: {} ({}): {} PASS, {} FAIL, {} SKIP, run {:.1} s{}{}",
                k.name,
                k.release,
                k.emulation,
                pass[i],
                fail[i],
                skip[i],
                k.wall_s,
                k.boot_to_first_case_s
                    .map_or_else(String::new, |s| format!(", boot to first case {s:.1} s")),
                k.broken
                    .as_ref()
                    .map_or_else(String::new, |b| format!(", BROKEN: {b}"))
            );
        }
        out.push('\n');
        let first = self
            .rows
            .iter()
            .map(|r| r.label().len())
            .max()
            .unwrap_or(4)
            .max(4);
        let heads: Vec<String> = self.kernels.iter().map(|k| short_name(&k.name)).collect();
        let width = heads.iter().map(|h| h.len()).max().unwrap_or(4).max(6) + 2;
        let _ = write!(out, "{:<first$}", "case");
        for h in &heads {
            let _ = write!(out, "  {h:<width$}");
        }
        out.push('\n');
        for row in &self.rows {
            let _ = write!(out, "{:<first$}", row.label());
            for cell in &row.cells {
                let verdict = cell.verdict.map_or("—".to_owned(), |v| v.to_string());
                let mark = if cell.differs { "* " } else { "  " };
                let _ = write!(out, "  {:<width$}", format!("{mark}{verdict}"));
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "\n{} of {} rows differ in behaviour between kernels (against {}; figures that measure \
             the machine are not compared):",
            self.differences(),
            self.rows.len(),
            self.kernels.first().map_or("—", |k| k.name.as_str())
        );
        for row in self.rows.iter().filter(|r| r.differs) {
            let _ = writeln!(out, "  {}", row.label());
            for (k, cell) in self.kernels.iter().zip(&row.cells) {
                for change in &cell.changes {
                    let _ = writeln!(out, "    {}: {change}", short_name(&k.name));
                }
            }
        }
        out
    }

    /// The differences as a Markdown table, for a README: one row per case and family that
    /// differs, one column per kernel, each cell what that kernel does there.
    pub fn markdown(&self) -> String {
        let mut out = String::from("| case | ");
        out.push_str(
            &self
                .kernels
                .iter()
                .map(|k| format!("{} ({})", k.release, k.emulation))
                .collect::<Vec<_>>()
                .join(" | "),
        );
        out.push_str(" |\n|---|");
        out.push_str(&"---|".repeat(self.kernels.len()));
        out.push('\n');
        for row in self.rows.iter().filter(|r| r.differs) {
            let family = if row.family == NO_FAMILY {
                String::new()
            } else {
                format!(" [{}]", row.family)
            };
            let _ = write!(out, "| `{}`{family} |", row.case);
            for cell in &row.cells {
                // What this kernel does: what changed where it differs, otherwise the rules
                // the case saw it follow (or its verdict, when it recorded none).
                let text = if cell.differs {
                    cell.changes.join("; ")
                } else if !cell.behaviours.is_empty() {
                    cell.behaviours
                        .iter()
                        .map(|b| format!("{}: {}", b.topic, b.text))
                        .collect::<Vec<_>>()
                        .join("; ")
                } else {
                    cell.verdict.map_or("—".to_owned(), |v| v.to_string())
                };
                let _ = write!(out, " {} |", text.replace('|', "\\|"));
            }
            out.push('\n');
        }
        if self.differences() == 0 {
            out.push_str("| (no case behaves differently) |");
            out.push_str(&" |".repeat(self.kernels.len()));
            out.push('\n');
        }
        out
    }

    /// As a self-contained HTML page that stays readable with any number of kernel columns: a
    /// fixed layout that wraps long text, the changes in words beside the row, and the figures
    /// that measure the machine folded away.
    pub fn html(&self) -> String {
        let mut out = String::from(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>netcase kernel \
             comparison</title>\n<style>body{font-family:sans-serif;margin:1.5em}\
             table{border-collapse:collapse;table-layout:fixed;width:100%}\
             td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;font-size:14px;\
             overflow-wrap:anywhere;text-align:left}th.case{width:18%}th.what{width:24%}\
             td.differs{background:#ffe08a}.PASS{color:#070}.FAIL,.STOP{color:#b00}.SKIP{color:#777}\
             .fig{font-family:monospace;font-size:13px}details{color:#555}\
             ul.what{margin:0;padding-left:1.2em}</style></head><body>\n\
             <h1>netcase: the cases on several kernels</h1>\n",
        );
        if let Some(why) = &self.stopped {
            let _ = writeln!(
                out,
                "<p><b>Interrupted by {}</b>: not every kernel ran to its end; this is what \
                 came back.</p>",
                escape(why)
            );
        }
        let _ = writeln!(
            out,
            "<p>{} of {} rows differ in behaviour between kernels (highlighted, against the first \
             column; what changed is said in the last column). A difference is a change of \
             behaviour, not a failure of the run. Figures that measure the machine (latencies, \
             durations, observed firings) are shown folded and never compared.</p>",
            self.differences(),
            self.rows.len(),
        );
        let (pass, fail, skip) = (
            self.count(Verdict::Pass),
            self.count(Verdict::Fail),
            self.count(Verdict::Skip),
        );
        out.push_str("<table>\n<tr><th class=\"case\">case</th>");
        for (i, k) in self.kernels.iter().enumerate() {
            let _ = write!(
                out,
                "<th><a href=\"{0}/index.html\">{0}</a><br><span class=\"fig\">{1} · {2}{3}<br>\
                 {4} PASS · {5} FAIL · {6} SKIP{7}</span></th>",
                escape(&k.name),
                escape(&k.release),
                escape(&k.emulation),
                k.boot_to_first_case_s
                    .map_or_else(String::new, |s| format!(" · boot {s:.1} s")),
                pass[i],
                fail[i],
                skip[i],
                k.broken
                    .as_ref()
                    .map_or_else(String::new, |b| format!("<br><b>broken</b>: {}", escape(b)))
            );
        }
        out.push_str("<th class=\"what\">what differs</th></tr>\n");
        for row in &self.rows {
            let _ = write!(out, "<tr><th>{}</th>", escape(&row.label()));
            for (k, cell) in self.kernels.iter().zip(&row.cells) {
                out.push_str(&cell_html(k, row, cell));
            }
            out.push_str("<td><ul class=\"what\">");
            for (k, cell) in self.kernels.iter().zip(&row.cells) {
                for change in &cell.changes {
                    let _ = write!(
                        out,
                        "<li><b>{}</b>: {}</li>",
                        escape(&short_name(&k.name)),
                        escape(change)
                    );
                }
            }
            out.push_str("</ul></td></tr>\n");
        }
        out.push_str("</table>\n</body></html>\n");
        out
    }
}

/// What differs between `reference` (on the kernel `against`) and `cell`, one line each: the
/// verdict first; then, where both passed, each rule in words and each kernel-decided figure.
fn changes(reference: &Cell, cell: &Cell, against: &str) -> Vec<String> {
    let reason = |c: &Cell| {
        c.reason
            .clone()
            .unwrap_or_else(|| "no reason given".to_owned())
    };
    if cell.verdict != reference.verdict {
        return vec![match (reference.verdict, cell.verdict) {
            (_, Some(Verdict::Skip)) => format!("not run here: {}", reason(cell)),
            (Some(Verdict::Skip), _) => format!(
                "runs here ({}), not on {against}: {}",
                cell.verdict.map_or("—".to_owned(), |v| v.to_string()),
                reason(reference)
            ),
            (_, Some(Verdict::Fail)) => format!("FAIL here: {}", reason(cell)),
            (_, Some(Verdict::Interrupted)) => "stopped before it finished".to_owned(),
            (Some(Verdict::Fail), Some(v)) => {
                format!("{v} here, FAIL on {against}: {}", reason(reference))
            }
            (a, b) => format!(
                "{} here, {} on {against}",
                b.map_or("—".to_owned(), |v| v.to_string()),
                a.map_or("—".to_owned(), |v| v.to_string())
            ),
        }];
    }
    if cell.verdict != Some(Verdict::Pass) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut topics: Vec<&str> = reference
        .behaviours
        .iter()
        .chain(&cell.behaviours)
        .map(|b| b.topic.as_str())
        .collect();
    topics.dedup();
    let mut seen = Vec::new();
    for topic in topics {
        if seen.contains(&topic) {
            continue;
        }
        seen.push(topic);
        let text = |c: &Cell| {
            c.behaviours
                .iter()
                .find(|b| b.topic == topic)
                .map(|b| b.text.clone())
        };
        let (a, b) = (text(reference), text(cell));
        if a != b {
            out.push(format!(
                "{topic}: {}",
                b.unwrap_or_else(|| "not recorded".to_owned())
            ));
        }
    }
    let kernel = |c: &Cell| -> Vec<FigureRecord> {
        c.figures
            .iter()
            .filter(|f| f.kind == Kind::Kernel)
            .cloned()
            .collect()
    };
    let (a, b) = (kernel(reference), kernel(cell));
    for f in &b {
        match a.iter().find(|g| g.name == f.name) {
            Some(g) if g.values == f.values && g.unit == f.unit => {}
            Some(g) => out.push(format!(
                "{}: {} ({against} {})",
                f.name,
                values(f),
                values(g)
            )),
            None => out.push(format!(
                "{}: {} (not measured on {against})",
                f.name,
                values(f)
            )),
        }
    }
    for g in a.iter().filter(|g| !b.iter().any(|f| f.name == g.name)) {
        out.push(format!(
            "{}: not measured here ({against} {})",
            g.name,
            values(g)
        ));
    }
    out
}

fn cell_html(k: &Column, row: &Row, cell: &Cell) -> String {
    let Some(verdict) = cell.verdict else {
        return "<td>—</td>".to_owned();
    };
    let class = if cell.differs {
        " class=\"differs\""
    } else {
        ""
    };
    let link = format!(
        "{}/{}/README.md",
        k.name,
        CaseResult::dir_name(&row.case, &row.family)
    );
    let mut out = format!(
        "<td{class}><a class=\"{verdict}\" href=\"{}\">{verdict}</a>",
        escape(&link)
    );
    if verdict != Verdict::Pass
        && let Some(reason) = &cell.reason
    {
        let _ = write!(out, "<br><small>{}</small>", escape(reason));
    }
    for f in cell.figures.iter().filter(|f| f.kind == Kind::Kernel) {
        let _ = write!(
            out,
            "<br><span class=\"fig\">{}={}</span>",
            escape(&f.name),
            escape(&values(f))
        );
    }
    let machine: Vec<&FigureRecord> = cell
        .figures
        .iter()
        .filter(|f| f.kind == Kind::Machine)
        .collect();
    if !machine.is_empty() {
        out.push_str("<details><summary>measured</summary>");
        for f in machine {
            let _ = write!(
                out,
                "<span class=\"fig\">{}={}</span><br>",
                escape(&f.name),
                escape(&values(f))
            );
        }
        out.push_str("</details>");
    }
    out.push_str("</td>");
    out
}

/// A column's name as a table head: a release up to its first `-` or `+`
/// (`6.12.117+deb12-cloud-amd64` as `6.12.117`), `this-kernel` as it is.
fn short_name(name: &str) -> String {
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.split(['-', '+']).next().unwrap_or(name).to_owned()
    } else {
        name.to_owned()
    }
}

/// A figure's values and unit as people read them.
fn values(f: &FigureRecord) -> String {
    let values: Vec<String> = f.values.iter().map(|v| short(*v)).collect();
    format!("{} {}", values.join(","), f.unit)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A value as people read it: whole numbers as they are, others to four significant digits
/// (3.1086199999999997 as 3.109).
fn short(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
    format!("{v:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(case: &str, verdict: Verdict, figures: &[(&str, &[f64], Kind)]) -> CaseResult {
        let mut r: CaseResult = serde_json::from_value(serde_json::json!({
            "schema": "netcase/result/1", "case": case, "summary": "", "family": "v4",
            "verdict": verdict, "reason": null, "error": null, "duration_s": 0.1,
            "expected_s": 0.1, "seed": 1, "figures": [], "notes": [], "counters": {},
            "checkpoints": [], "settings": {},
            "kernel": {"release": "r", "version": "v", "hz": "250", "config_hash": "x"},
            "netcase": {"version": "0", "commit": "c"}, "rerun": "", "files": []
        }))
        .unwrap();
        r.figures = figures
            .iter()
            .map(|(n, v, kind)| FigureRecord {
                name: (*n).to_owned(),
                values: v.to_vec(),
                unit: "ms".to_owned(),
                kind: *kind,
            })
            .collect();
        if verdict == Verdict::Skip {
            r.reason = Some("this kernel has no sch_netem qdisc".to_owned());
        }
        r
    }

    fn behaving(mut r: CaseResult, text: &str) -> CaseResult {
        r.behaviours.push(BehaviourRecord {
            topic: "SYN schedule".to_owned(),
            text: text.to_owned(),
        });
        r
    }

    fn kernel(name: &str, results: Vec<CaseResult>) -> Kernel {
        Kernel {
            column: Column {
                name: name.to_owned(),
                release: name.to_owned(),
                emulation: "tcg".to_owned(),
                boot_to_first_case_s: Some(9.5),
                wall_s: 20.0,
                broken: None,
            },
            results,
        }
    }

    #[test]
    fn a_test_without_a_family_is_named_without_brackets() {
        let mut here = result("connects", Verdict::Pass, &[]);
        here.family = NO_FAMILY.to_owned();
        let mut there = result("connects", Verdict::Fail, &[]);
        there.family = NO_FAMILY.to_owned();
        there.reason = Some("2 SYNs".to_owned());
        let c = Comparison::new(&[
            kernel("this-kernel", vec![here]),
            kernel("6.1.0", vec![there]),
        ]);
        assert_eq!(c.failures(), ["6.1.0: connects: 2 SYNs"]);
        let text = c.text();
        assert!(
            text.contains("\nconnects  ") && text.contains("\n  connects\n"),
            "{text}"
        );
        assert!(!text.contains('['), "{text}");
        assert!(c.markdown().contains("| `connects` |"), "{}", c.markdown());
        let html = c.html();
        assert!(html.contains("<tr><th>connects</th>"), "{html}");
        assert!(html.contains("6.1.0/connects/README.md"), "{html}");
    }

    #[test]
    fn values_read_short() {
        assert_eq!(short(3.108_619_999_999_999_7), "3.109");
        assert_eq!(short(0.14421), "0.1442");
        assert_eq!(short(4096.0), "4096");
        assert_eq!(short(60.54), "60.54");
        assert_eq!(short_name("6.12.117+deb12-cloud-amd64"), "6.12.117");
        assert_eq!(short_name("6.1.0-57-cloud-amd64"), "6.1.0");
        assert_eq!(short_name("this-kernel"), "this-kernel");
    }

    #[test]
    fn behaviour_is_marked_and_said_machine_figures_never() {
        use Kind::{Kernel as K, Machine as M};
        let a = kernel(
            "this-kernel",
            vec![
                behaving(
                    result("syn::gaps", Verdict::Pass, &[("syns", &[6.0], K)]),
                    "a linear phase of 4 timeouts",
                ),
                result(
                    "same::one",
                    Verdict::Pass,
                    &[("n", &[3.0], K), ("rtt", &[0.1], M)],
                ),
                result("netem::needed", Verdict::Skip, &[]),
            ],
        );
        let b = kernel(
            "6.1.0-57-cloud-amd64",
            vec![
                behaving(
                    result("syn::gaps", Verdict::Pass, &[("syns", &[3.0], K)]),
                    "no linear phase (this kernel has no tcp_syn_linear_timeouts)",
                ),
                result(
                    "same::one",
                    Verdict::Pass,
                    &[("n", &[3.0], K), ("rtt", &[9.0], M)],
                ),
                result("netem::needed", Verdict::Pass, &[]),
                result("only::here", Verdict::Fail, &[]),
            ],
        );
        let c = Comparison::new(&[a, b]);
        assert_eq!(c.rows.len(), 4);
        let syn = &c.rows[0];
        assert!(syn.differs && syn.cells[1].differs && !syn.cells[0].differs);
        assert_eq!(
            syn.cells[1].changes,
            [
                "SYN schedule: no linear phase (this kernel has no tcp_syn_linear_timeouts)",
                "syns: 3 ms (this-kernel 6 ms)"
            ]
        );
        assert!(!c.rows[1].differs, "a machine figure is never compared");
        assert!(c.rows[2].differs, "a skip on one kernel is a difference");
        assert_eq!(
            c.rows[2].cells[1].changes,
            ["runs here (PASS), not on this-kernel: this kernel has no sch_netem qdisc"]
        );
        assert!(c.rows[3].cells[0].verdict.is_none() && !c.rows[3].differs);
        assert_eq!(c.differences(), 2);
        assert_eq!(
            c.failures(),
            ["6.1.0-57-cloud-amd64: only::here [v4]: no reason given"]
        );
        let text = c.text();
        assert!(text.contains("2 of 4 rows differ"), "{text}");
        assert!(
            text.contains("    6.1.0: SYN schedule: no linear phase"),
            "{text}"
        );
        let html = c.html();
        assert!(html.contains("class=\"differs\""));
        assert!(html.contains("table-layout:fixed"));
        assert!(html.contains("6.1.0-57-cloud-amd64/syn.gaps.v4/README.md"));
        assert!(html.contains("<summary>measured</summary>"));
        let md = c.markdown();
        assert!(md.contains("| `syn::gaps` [v4] |"), "{md}");
        assert!(!md.contains("same::one"), "{md}");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["rows"][0]["cells"][1]["differs"], true);
        assert_eq!(json["kernels"][1]["emulation"], "tcg");
    }
}
