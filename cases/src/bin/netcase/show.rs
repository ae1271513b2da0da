//! `netcase show DIR/CASE`: a case's bundle, for a terminal.

use std::{path::Path, process::ExitCode};

use netcase::report::CaseResult;

/// Prints the verdict, the expectation checks, the timeline, the counter changes and the
/// settings of the bundle in `dir`.
pub fn show(dir: &Path) -> ExitCode {
    let json = match std::fs::read_to_string(dir.join("result.json")) {
        Ok(json) => json,
        Err(e) => {
            eprintln!(
                "netcase: {} is not a case's bundle (no result.json: {e}); give a directory \
                 inside a run's output, for example target/netcase/report/<case>.v4",
                dir.display()
            );
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
    println!(
        "{} {} over {} in {:.2} s (kernel {}, netcase {} {})",
        result.verdict,
        result.case,
        result.family,
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
