//! `netcase show DIR`: a run's output directory (`netcase run`'s or `netcase kernels`'s), or one
//! case's bundle in it, for a terminal. Either way it says first whether the run finished, was
//! stopped, or was killed ([`crate::report::run`]).

use std::{path::Path, process::ExitCode};

use crate::report::{
    CaseResult, Verdict,
    run::{RunRecord, Status},
};

/// Shows `dir`: a case's bundle, a run's output directory, or a case's directory that a stopped
/// run left without a result.
pub fn show(dir: &Path) -> ExitCode {
    if dir.join("result.json").is_file() {
        return bundle(dir);
    }
    match RunRecord::read(dir) {
        Ok(Some(record)) => return run(dir, &record),
        Ok(None) => {}
        Err(e) => {
            eprintln!("netcase: {e}");
            return ExitCode::from(2);
        }
    }
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    if let Some(parent) = dir.parent()
        && let Ok(Some(record)) = RunRecord::read(parent)
        && record.parts.contains(&name)
    {
        println!("{name}: no result: its run did not finish it");
        println!("{}", record.describe(done(parent, &record)));
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "netcase: {} is not a case's bundle (no result.json) nor a run's output directory (no \
         run.json); give a run's --out directory, for example target/netcase/report, or a \
         directory inside it, for example target/netcase/report/<case>.v4",
        dir.display()
    );
    ExitCode::from(2)
}

/// How many of `record`'s parts in `dir` have results: a case's result.json, or a kernel's
/// summary.json.
fn done(dir: &Path, record: &RunRecord) -> usize {
    record
        .parts
        .iter()
        .filter(|p| {
            let part = dir.join(p);
            part.join("result.json").is_file() || part.join("summary.json").is_file()
        })
        .count()
}

/// A run's output directory: its state, then one line per part (a case, or a kernel's run).
fn run(dir: &Path, record: &RunRecord) -> ExitCode {
    println!("{}", record.describe(done(dir, record)));
    println!("command: {}", record.command.join(" "));
    if let Some(status) = &record.exit_status {
        println!("the program it ran ended with {status}");
    }
    let width = record.parts.iter().map(String::len).max().unwrap_or(0);
    // What the summary says of a case without a bundle (one a stop left without a result).
    let summary: serde_json::Value = std::fs::read_to_string(dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let summarised = |part: &str| {
        summary["cases"]
            .as_array()?
            .iter()
            .find(|c| c["bundle"] == part)
            .map(|c| {
                let verdict = serde_json::from_value::<Verdict>(c["verdict"].clone())
                    .map_or_else(|_| "?".to_owned(), |v| v.to_string());
                format!("{verdict} {}", c["reason"].as_str().unwrap_or(""))
            })
    };
    for part in &record.parts {
        let path = dir.join(part);
        let line = if let Some(result) = read_result(&path) {
            format!(
                "{} {:.2}s{}",
                result.verdict,
                result.duration_s,
                result
                    .reason
                    .as_ref()
                    .map_or_else(String::new, |r| format!(": {r}"))
            )
        } else if let Ok(Some(sub)) = RunRecord::read(&path) {
            sub.describe(done(&path, &sub))
        } else if path.join("summary.json").is_file() {
            "results in summary.json".to_owned()
        } else if let Some(line) = summarised(part) {
            line
        } else if record.status() == Status::Running {
            "—    not yet".to_owned()
        } else {
            "—    no result".to_owned()
        };
        println!("{part:<width$}  {line}");
    }
    for file in ["comparison.html", "index.html"] {
        if dir.join(file).is_file() {
            println!("report: {}", dir.join(file).display());
            break;
        }
    }
    ExitCode::SUCCESS
}

fn read_result(dir: &Path) -> Option<CaseResult> {
    serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).ok()?).ok()
}

/// Prints the verdict, the expectation checks, the timeline, the counter changes and the
/// settings of the bundle in `dir`; first, when its run did not finish, the run's state.
fn bundle(dir: &Path) -> ExitCode {
    if let Some(parent) = dir.parent()
        && let Ok(Some(record)) = RunRecord::read(parent)
        && record.status() != Status::Finished
    {
        println!("its run: {}\n", record.describe(done(parent, &record)));
    }
    let json = match std::fs::read_to_string(dir.join("result.json")) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("netcase: reading {}/result.json: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    let result: CaseResult = match serde_json::from_str(&json) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("netcase: {}/result.json does not parse: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    let over = if result.family == crate::report::NO_FAMILY {
        String::new()
    } else {
        format!(" over {}", result.family)
    };
    println!(
        "{} {}{over} in {:.2} s (kernel {}, netcase {} {})",
        result.verdict,
        result.case,
        result.duration_s,
        result.kernel.release,
        result.netcase.version,
        result.netcase.commit
    );
    println!("{}", result.summary);
    if let Some(error) = &result.error {
        println!("\n{error}");
    }
    for f in &result.figures {
        println!("figure {} = {:?} {}", f.name, f.values, f.unit);
    }
    for note in &result.notes {
        println!("note: {note}");
    }
    println!("rerun: {}", result.rerun);
    for file in &result.files {
        if file.starts_with("check-") {
            section(dir, file);
        }
    }
    for file in [
        "timeline.txt",
        "counters.txt",
        "sockets.txt",
        "settings.txt",
    ] {
        section(dir, file);
    }
    ExitCode::SUCCESS
}

fn section(dir: &Path, file: &str) {
    if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
        println!("\n---- {file}\n{}", text.trim_end());
    }
}
