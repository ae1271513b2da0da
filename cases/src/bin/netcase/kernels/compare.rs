//! The comparison of kernels: one row per case and family, one column per kernel, each cell the
//! verdict and the figures the case measured there; every difference between kernels marked.
//! A difference is the product of a kernel matrix, not a failure.
//!
//! Figures are the same on two kernels when every value agrees within
//! [`RELATIVE_TOLERANCE`] of the larger (timings move with scheduling, and far more under
//! emulation) or, for durations, within one jiffy at HZ=250 (4 ms); whole numbers of
//! connections or packets must agree exactly below 10.

use std::fmt::Write as _;

use netcase::report::{CaseResult, FigureRecord, Verdict};
use serde::Serialize;

/// How far two measured values may be apart and still count as the same, as a fraction of the
/// larger.
pub const RELATIVE_TOLERANCE: f64 = 0.10;

/// One kernel's column.
#[derive(Debug, Clone, Serialize)]
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
    /// Whether this cell differs from the row's first cell that ran.
    pub differs: bool,
}

/// One row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The case.
    pub case: String,
    /// `v4` or `v6`.
    pub family: String,
    /// One cell per column.
    pub cells: Vec<Cell>,
    /// Whether any cell differs.
    pub differs: bool,
}

/// The whole comparison: `comparison.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Always `netcase/comparison/1`.
    pub schema: String,
    /// The columns.
    pub kernels: Vec<Column>,
    /// The rows, in the order the cases ran.
    pub rows: Vec<Row>,
    /// The relative tolerance figures are compared with.
    pub tolerance: f64,
    /// What stopped the matrix before every kernel had run (`SIGTERM`, `Ctrl-C (SIGINT)`): the
    /// comparison holds what came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
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
                            differs: false,
                        }
                    })
                    .collect();
                // A cell a stop left without a result says nothing about its kernel.
                let compared = |c: &Cell| c.verdict.is_some_and(|v| v != Verdict::Interrupted);
                let reference = cells.iter().find(|c| compared(c)).cloned();
                if let Some(reference) = reference {
                    for cell in &mut cells {
                        cell.differs = compared(cell) && !same(&reference, cell);
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
            schema: "netcase/comparison/1".to_owned(),
            kernels: kernels.iter().map(|k| k.column.clone()).collect(),
            rows,
            tolerance: RELATIVE_TOLERANCE,
            stopped: None,
        }
    }

    /// The rows where kernels differ.
    pub fn differences(&self) -> usize {
        self.rows.iter().filter(|r| r.differs).count()
    }

    /// As text: a table, differences marked `*`, then the columns' details.
    pub fn text(&self) -> String {
        let head: Vec<String> = self.kernels.iter().map(label).collect();
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.cells.iter().map(cell_text).collect())
            .collect();
        let first = self
            .rows
            .iter()
            .map(|r| r.case.len() + r.family.len() + 3)
            .max()
            .unwrap_or(4)
            .max(4);
        let widths: Vec<usize> = (0..head.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|row| row[i].chars().count() + 2)
                    .chain([head[i].chars().count()])
                    .max()
                    .unwrap_or(8)
            })
            .collect();
        let mut out = self.stopped.as_ref().map_or_else(String::new, |why| {
            format!("INTERRUPTED by {why}: not every kernel ran to its end\n\n")
        });
        let _ = write!(out, "{:<first$}", "case");
        for (h, w) in head.iter().zip(&widths) {
            let _ = write!(out, "  {h:<w$}");
        }
        out.push('\n');
        for (row, texts) in self.rows.iter().zip(&cells) {
            let _ = write!(out, "{:<first$}", format!("{} [{}]", row.case, row.family));
            for ((cell, text), w) in row.cells.iter().zip(texts).zip(&widths) {
                let mark = if cell.differs { "* " } else { "  " };
                let _ = write!(out, "  {:<w$}", format!("{mark}{text}"));
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "\n{} of {} rows differ between kernels (* marks a cell that differs from the row's \
             first kernel; figures within {:.0}% or a 4 ms jiffy count as the same)",
            self.differences(),
            self.rows.len(),
            RELATIVE_TOLERANCE * 100.0
        );
        for k in &self.kernels {
            let _ = writeln!(
                out,
                "{}: {} ({}){}, run {:.1} s{}",
                k.name,
                k.release,
                k.emulation,
                k.boot_to_first_case_s
                    .map_or_else(String::new, |s| format!(", boot to first case {s:.1} s")),
                k.wall_s,
                k.broken
                    .as_ref()
                    .map_or_else(String::new, |b| format!(", BROKEN: {b}"))
            );
        }
        out
    }

    /// As a self-contained HTML page.
    pub fn html(&self) -> String {
        let mut out = String::from(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>netcase kernel \
             comparison</title>\n<style>body{font-family:sans-serif;margin:2em}\
             table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;\
             vertical-align:top;font-size:90%}td.differs{background:#ffe08a;font-weight:bold}\
             .PASS{color:#070}.FAIL{color:#b00}.SKIP{color:#777}tr.differs th{background:#ffe08a}\
             .fig{font-family:monospace;font-weight:normal}</style></head><body>\n\
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
            "<p>{} of {} rows differ between kernels (highlighted). A difference is a change of \
             behaviour, not a failure of the run. Figures within {:.0}% (durations also within a 4 ms jiffy) count as the same.</p>",
            self.differences(),
            self.rows.len(),
            RELATIVE_TOLERANCE * 100.0
        );
        out.push_str("<table>\n<tr><th>case</th>");
        for k in &self.kernels {
            let _ = write!(
                out,
                "<th>{}<br><span class=\"fig\">{} · {}{}</span></th>",
                escape(&k.name),
                escape(&k.release),
                escape(&k.emulation),
                k.boot_to_first_case_s
                    .map_or_else(String::new, |s| format!(" · boot {s:.1} s"))
            );
        }
        out.push_str("</tr>\n");
        for row in &self.rows {
            let class = if row.differs {
                " class=\"differs\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<tr{class}><th style=\"text-align:left\">{} [{}]</th>",
                escape(&row.case),
                escape(&row.family)
            );
            for (k, cell) in self.kernels.iter().zip(&row.cells) {
                let class = if cell.differs {
                    " class=\"differs\""
                } else {
                    ""
                };
                let verdict = cell.verdict.map_or("—".to_owned(), |v| v.to_string());
                let link = cell.verdict.map(|_| {
                    format!(
                        "{}/{}/README.md",
                        k.name,
                        CaseResult::dir_name(&row.case, &row.family)
                    )
                });
                let _ = write!(
                    out,
                    "<td{class}><a class=\"{verdict}\" href=\"{}\">{verdict}</a>",
                    escape(link.as_deref().unwrap_or("#"))
                );
                if let Some(reason) = &cell.reason {
                    let _ = write!(out, "<br><small>{}</small>", escape(reason));
                }
                for f in &cell.figures {
                    let _ = write!(out, "<br><span class=\"fig\">{}</span>", escape(&figure(f)));
                }
                out.push_str("</td>");
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n<ul>\n");
        for k in &self.kernels {
            let _ = writeln!(
                out,
                "<li><a href=\"{0}/index.html\">{0}</a>: {1}, {2}, run {3:.1} s{4}</li>",
                escape(&k.name),
                escape(&k.release),
                escape(&k.emulation),
                k.wall_s,
                k.broken
                    .as_ref()
                    .map_or_else(String::new, |b| format!(", <b>broken</b>: {}", escape(b)))
            );
        }
        out.push_str("</ul>\n</body></html>\n");
        out
    }
}

fn label(k: &Column) -> String {
    format!("{} ({})", k.name, k.emulation)
}

fn cell_text(cell: &Cell) -> String {
    let Some(verdict) = cell.verdict else {
        return "—".to_owned();
    };
    let mut text = verdict.to_string();
    if verdict == Verdict::Skip
        && let Some(reason) = &cell.reason
    {
        let _ = write!(text, " ({})", shorten(reason, 40));
    }
    if verdict == Verdict::Fail
        && let Some(reason) = &cell.reason
    {
        let _ = write!(text, " ({})", shorten(reason, 60));
    }
    for f in &cell.figures {
        let _ = write!(text, " {}", figure(f));
    }
    text
}

fn figure(f: &FigureRecord) -> String {
    let values: Vec<String> = f.values.iter().map(|v| short(*v)).collect();
    format!("{}={} {}", f.name, values.join(","), f.unit)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Whether two cells say the same: the same verdict and the same figures (within tolerance).
fn same(a: &Cell, b: &Cell) -> bool {
    a.verdict == b.verdict
        && a.figures.len() == b.figures.len()
        && a.figures.iter().zip(&b.figures).all(|(x, y)| {
            x.name == y.name
                && x.unit == y.unit
                && x.values.len() == y.values.len()
                && x.values
                    .iter()
                    .zip(&y.values)
                    .all(|(u, v)| close(*u, *v, &x.unit))
        })
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

/// Whether two measured values in `unit` count as the same.
pub fn close(a: f64, b: f64, unit: &str) -> bool {
    let larger = a.abs().max(b.abs());
    // Durations also within one jiffy at HZ=250 (4 ms): scheduling, and emulation, move a
    // sub-millisecond return by that much.
    let jiffy = match unit {
        "ms" => 4.0,
        "s" => 0.004,
        "us" | "µs" => 4000.0,
        _ => 0.0,
    };
    if (a - b).abs() <= jiffy {
        return true;
    }
    let whole = a.fract() == 0.0 && b.fract() == 0.0;
    if whole && larger < 10.0 {
        return a == b;
    }
    (a - b).abs() <= RELATIVE_TOLERANCE * larger
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(case: &str, verdict: Verdict, figures: &[(&str, &[f64])]) -> CaseResult {
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
            .map(|(n, v)| FigureRecord {
                name: (*n).to_owned(),
                values: v.to_vec(),
                unit: "ms".to_owned(),
            })
            .collect();
        if verdict == Verdict::Skip {
            r.reason = Some("this kernel has no sch_netem qdisc".to_owned());
        }
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
    fn values_read_short() {
        assert_eq!(short(3.108_619_999_999_999_7), "3.109");
        assert_eq!(short(0.14421), "0.1442");
        assert_eq!(short(4096.0), "4096");
        assert_eq!(short(60.54), "60.54");
    }

    #[test]
    fn values_compare_with_tolerance_and_counts_exactly() {
        assert!(close(1000.0, 1040.0, "ms"));
        assert!(!close(1000.0, 2000.0, "ms"));
        assert!(close(0.14, 3.9, "ms"), "within a jiffy");
        assert!(!close(14.1, 41.6, "ms"));
        assert!(!close(3.0, 4.0, "connections"));
        assert!(close(0.0, 0.0, "connections"));
    }

    #[test]
    fn differences_are_marked_per_cell_and_row() {
        let a = kernel(
            "this-kernel",
            vec![
                result("syn::gaps", Verdict::Pass, &[("gaps", &[1000.0, 2000.0])]),
                result("same::one", Verdict::Pass, &[("n", &[3.0])]),
                result("netem::needed", Verdict::Skip, &[]),
            ],
        );
        let b = kernel(
            "6.1.0",
            vec![
                result("syn::gaps", Verdict::Pass, &[("gaps", &[1000.0, 1000.0])]),
                result("same::one", Verdict::Pass, &[("n", &[3.0])]),
                result("netem::needed", Verdict::Pass, &[]),
                result("only::here", Verdict::Fail, &[]),
            ],
        );
        let c = Comparison::new(&[a, b]);
        assert_eq!(c.rows.len(), 4);
        assert!(c.rows[0].differs && c.rows[0].cells[1].differs && !c.rows[0].cells[0].differs);
        assert!(!c.rows[1].differs);
        assert!(c.rows[2].differs, "a skip on one kernel is a difference");
        assert!(c.rows[3].cells[0].verdict.is_none() && !c.rows[3].differs);
        assert_eq!(c.differences(), 2);
        let text = c.text();
        assert!(text.contains("* PASS gaps=1000,1000 ms"), "{text}");
        assert!(
            text.contains("SKIP (this kernel has no sch_netem qdisc)"),
            "{text}"
        );
        assert!(text.contains("2 of 4 rows differ"), "{text}");
        let html = c.html();
        assert!(html.contains("class=\"differs\""));
        assert!(html.contains("6.1.0/syn.gaps.v4/README.md"));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["rows"][0]["cells"][1]["differs"], true);
        assert_eq!(json["kernels"][1]["emulation"], "tcg");
    }
}
