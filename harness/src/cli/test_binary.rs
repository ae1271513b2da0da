//! `netcase tests BINARY [--out DIR] [-- ARGS...]`: a cargo test binary's tests as a run
//! directory ([`crate::test_binary`]), a line per test and a summary on stdout.

use std::process::ExitCode;

use super::{Suite, TestsArgs, bad_input};
use crate::{
    report::{CaseResult, Verdict},
    stop,
    test_binary::{self, Options},
};

/// Runs `netcase tests` with `args`; its results say `suite`'s commit ran them.
pub fn command(suite: &Suite, args: TestsArgs) -> ExitCode {
    stop::install();
    let options = Options {
        args: args.args,
        tool: suite.tool(),
        ..Options::new(args.binary, args.out)
    };
    println!(
        "netcase tests: {}{}{}",
        options.binary.display(),
        if options.args.is_empty() { "" } else { " " },
        options.args.join(" ")
    );
    let run = match test_binary::run(&options) {
        Ok(run) => run,
        Err(e) => {
            if let Some(signal) = stop::requested() {
                eprintln!("netcase: {e}");
                return ExitCode::from(stop::exit_code(signal));
            }
            return bad_input(&e);
        }
    };
    for r in &run.results {
        println!(
            "{} {}{}",
            r.verdict,
            CaseResult::label(&r.case, &r.family),
            r.reason
                .as_ref()
                .map_or_else(String::new, |why| format!(": {why}"))
        );
    }
    println!(
        "\n{} passed, {} failed, {} skipped{}, in {:.1} s; the test binary ended with {}",
        run.count(Verdict::Pass),
        run.count(Verdict::Fail),
        run.count(Verdict::Skip),
        match run.count(Verdict::Interrupted) {
            0 => String::new(),
            n => format!(", {n} stopped"),
        },
        run.wall_s,
        run.status
    );
    println!(
        "report: {} (summary.json, junit.xml, one directory per test)",
        run.out.join("index.html").display()
    );
    if let Some(signal) = stop::requested() {
        ExitCode::from(stop::exit_code(signal))
    } else if run.count(Verdict::Fail) > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
