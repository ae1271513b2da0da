//! The `netcase` command: list and run the kernel-behaviour cases, and show their bundles.
//!
//! ```text
//! netcase list [FILTER]
//! netcase run [FILTER...] [--family v4|v6|both] [--out DIR] [--jobs N] [--seed S]
//! netcase show DIR | DIR/CASE
//! netcase demo [--family v4|v6|both]
//! netcase kernels --kernel PATH_OR_DEB... [FILTER...]
//! ```
//!
//! Exit status: 0 when every case passed (or was skipped), 1 when one failed, 2 for bad input
//! (an unknown case, an unwritable output directory, no privileges), 130 when stopped by Ctrl-C,
//! 143 by SIGTERM (`run` and `kernels`: both write what they have before they exit).

mod demo;
mod kernels;
mod run;
mod show;
mod stop;

use std::{path::PathBuf, process::ExitCode};

use netcase::{Family, impair::features, privileges};
use netcase_cases::{Def, cases};

const USAGE: &str = "usage:
  netcase list [FILTER]
  netcase run [FILTER...] [--family v4|v6|both] [--out DIR] [--jobs N] [--seed S]
  netcase show DIR | DIR/CASE
  netcase demo [--family v4|v6|both]
  netcase kernels --kernel PATH_OR_DEB... [FILTER...]
A FILTER picks the cases whose name contains it (for example `backlog` or `time_wait::`).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => list(&args[1..]),
        Some("run") => run_command(&args[1..]),
        Some("show") => match &args[1..] {
            [dir] => show::show(&PathBuf::from(dir)),
            _ => usage("show takes one directory"),
        },
        Some("demo") => demo_command(&args[1..]),
        Some("kernels") => kernels::command(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => usage(&format!("unknown command {other:?}")),
        None => usage("no command"),
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("netcase: {why}\n{USAGE}");
    ExitCode::from(2)
}

/// The cases whose names contain one of `filters` (every case without filters), or the error
/// line for the first filter that matches nothing, with the closest names.
fn select(filters: &[String]) -> Result<Vec<&'static Def>, String> {
    for filter in filters {
        if !cases().any(|d| d.info.name.contains(filter.as_str())) {
            return Err(format!(
                "no case matches {filter:?}; closest: {} (see `netcase list`)",
                closest(filter).join(", ")
            ));
        }
    }
    Ok(cases()
        .filter(|d| filters.is_empty() || filters.iter().any(|f| d.info.name.contains(f.as_str())))
        .collect())
}

/// The three case names closest to `wanted` (edit distance against the whole name and its
/// parts).
fn closest(wanted: &str) -> Vec<&'static str> {
    let mut scored: Vec<(usize, &'static str)> = cases()
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

fn list(args: &[String]) -> ExitCode {
    let selected = match select(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netcase: {e}");
            return ExitCode::from(2);
        }
    };
    let found = features();
    let width = selected
        .iter()
        .map(|d| d.info.name.len())
        .max()
        .unwrap_or(4);
    println!(
        "{:<width$}  families  needs            here  summary",
        "case"
    );
    for def in selected {
        let info = &def.info;
        let families: Vec<&str> = info.families.iter().map(|f| run::family_name(*f)).collect();
        let needs: Vec<String> = info.needs.iter().map(|f| f.name()).collect();
        let here = if info.needs.iter().all(|f| found.has(*f)) {
            "yes"
        } else {
            "no"
        };
        println!(
            "{:<width$}  {:<8}  {:<15}  {:<4}  {}",
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

fn run_command(args: &[String]) -> ExitCode {
    // First: a SIGTERM passed on by `netcase kernels` as this run starts must stop it, not kill it.
    stop::install();
    let mut filters = Vec::new();
    let (mut families, mut out, mut parallel, mut seed) = (
        Family::BOTH.to_vec(),
        PathBuf::from("target/netcase/report"),
        8,
        1u64,
    );
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let parsed: Result<(), String> = match arg.as_str() {
            "--family" => value("--family").and_then(|v| {
                families = match v.as_str() {
                    "v4" => vec![Family::V4],
                    "v6" => vec![Family::V6],
                    "both" => Family::BOTH.to_vec(),
                    other => return Err(format!("--family {other:?}: say v4, v6 or both")),
                };
                Ok(())
            }),
            "--out" => value("--out").map(|v| out = PathBuf::from(v)),
            "--jobs" => value("--jobs").and_then(|v| match v.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => {
                    parallel = n;
                    Ok(())
                }
                _ => Err(format!("--jobs {v:?}: a number from 1 to 64")),
            }),
            "--seed" => value("--seed").and_then(|v| {
                v.parse()
                    .map(|s| seed = s)
                    .map_err(|_| format!("--seed {v:?}: a whole number"))
            }),
            flag if flag.starts_with("--") => Err(format!("unknown option {flag:?}")),
            filter => {
                filters.push(filter.to_owned());
                Ok(())
            }
        };
        if let Err(e) = parsed {
            return usage(&e);
        }
    }
    let selected = match select(&filters) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netcase: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = run::writable(&out) {
        eprintln!("netcase: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = privileges::check(privileges::TOPOLOGY) {
        eprintln!("netcase: {e}");
        return ExitCode::from(2);
    }
    let out = std::fs::canonicalize(&out).unwrap_or(out);
    // SAFETY: set before any thread of this process starts; cases read them from their threads.
    unsafe {
        std::env::set_var("NETCASE_OUT", &out);
        std::env::set_var("NETCASE_KEEP", "1");
    }
    if let Some(warning) = netcase::kernel().ok().and_then(|k| k.unsupported()) {
        eprintln!("netcase: {warning}");
    }
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
        eprintln!("netcase: the selected cases do not run over that family");
        return ExitCode::from(2);
    }
    let results = run::run(run::Options {
        jobs,
        out,
        parallel,
        seed,
    });
    if let Some(signal) = stop::requested() {
        ExitCode::from(stop::exit_code(signal))
    } else if results
        .iter()
        .any(|r| r.verdict == netcase::report::Verdict::Fail)
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn demo_command(args: &[String]) -> ExitCode {
    let families = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["--family", "both"] => Family::BOTH.to_vec(),
        ["--family", "v4"] => vec![Family::V4],
        ["--family", "v6"] => vec![Family::V6],
        _ => return usage("demo takes --family v4|v6|both"),
    };
    if let Err(e) = privileges::check(privileges::TOPOLOGY) {
        eprintln!("netcase: {e}");
        return ExitCode::from(2);
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
    match runtime.block_on(demo::demo(&families)) {
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

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("backlog", "backlog"), 0);
        assert_eq!(distance("baclog", "backlog"), 1);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn an_unknown_filter_names_the_closest_cases() {
        let Err(err) = select(&["socket_adresses".to_owned()]) else {
            panic!("a misspelt filter matched");
        };
        assert!(err.contains("no case matches \"socket_adresses\""), "{err}");
        assert!(err.contains("socket_addresses::"), "{err}");
    }
}
