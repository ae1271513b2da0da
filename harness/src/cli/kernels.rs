//! `netcase kernels`: the matrix ([`crate::kernels`]) over the suite's cases, and its guest's
//! half, `netcase kernels stream DIR NONCE STATUS`, which writes DIR's files and the end marker
//! to stdout in the [`crate::kernels::serial`] protocol.

use std::{io::Write, path::Path, process::ExitCode};

use super::{Guest, KernelsArgs, Suite, bad_input};
use crate::{
    kernels::{self, Likeness, Mode, Ran, serial},
    stop,
};

/// Runs `netcase kernels` with `args` over `suite`'s cases.
pub fn command(suite: &Suite, args: KernelsArgs) -> ExitCode {
    if let Some(Guest::Stream { dir, nonce, status }) = &args.guest {
        return stream(dir, nonce, status);
    }
    let bisecting = args.reference.is_some();
    let bad_input = |e: &str| match bisecting {
        // `git bisect run` takes 1 to 127 but 125 for a bad commit: bad input must stop it.
        true => {
            eprintln!("netcase: {e}");
            ExitCode::from(255)
        }
        false => bad_input(e),
    };
    let cases = if args.test_binary.is_some() {
        Vec::new()
    } else if args.filters.is_empty() {
        suite.quick(args.max_expected, args.long)
    } else {
        match suite.select(&args.filters, args.long) {
            Ok(cases) => cases,
            Err(e) => return bad_input(&e),
        }
    };
    if let Some(missing) = args.files.iter().find(|d| !d.is_dir()) {
        return bad_input(&format!("--files {}: no such directory", missing.display()));
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return bad_input(&format!("finding this program: {e}")),
    };
    let options = kernels::Options {
        cases,
        families: args.family.list(),
        out: args.out,
        modules: args.modules,
        accel: args.accel.accel(),
        parallel: args.parallel,
        timeout: args.timeout,
        host: !args.no_host,
        fixtures: (suite.fixtures.iter().map(Into::into))
            .chain(args.files.iter().cloned())
            .collect(),
        tool: suite.tool(),
        binary: args.test_binary.map(|path| kernels::TestBinary {
            path,
            args: args.test_args,
        }),
        fresh_reference: args.fresh_reference,
        mode: match (args.reference, args.first_difference) {
            (Some(reference), _) => Mode::Reference(reference),
            (None, true) => Mode::FirstDifference,
            (None, false) => Mode::Matrix,
        },
        ..kernels::Options::new(args.kernels, exe, Path::new(suite.target))
    };
    stop::install();
    let outcome = kernels::run(&options);
    if let Some(signal) = stop::requested() {
        if let Err(e) = outcome {
            eprintln!("netcase: {e}");
        }
        return ExitCode::from(stop::exit_code(signal));
    }
    match outcome {
        Ok(Ran::Matrix { clean: true })
        | Ok(Ran::Against(Likeness::Same))
        | Ok(Ran::FirstDifference(None)) => ExitCode::SUCCESS,
        Ok(Ran::Matrix { clean: false })
        | Ok(Ran::Against(Likeness::Differs))
        | Ok(Ran::FirstDifference(Some(_))) => ExitCode::FAILURE,
        Ok(Ran::Against(Likeness::Untestable(_))) => ExitCode::from(125),
        Err(e) => bad_input(&e),
    }
}

/// The guest's half: `stream DIR NONCE STATUS`.
fn stream(dir: &Path, nonce: &str, status: &str) -> ExitCode {
    let status = status.parse().unwrap_or(-1);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match serial::send(&mut out, nonce, dir, status) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The end marker still goes out: the host must learn the run is over.
            let _ = writeln!(out, "{} {nonce} end {status}", serial::PREFIX);
            eprintln!("netcase: streaming {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
