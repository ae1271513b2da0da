//! `netcase kernels`: the cases on other kernels under qemu, and a comparison (being built).

use std::process::ExitCode;

/// Runs `netcase kernels ARGS`.
pub fn command(_args: &[String]) -> ExitCode {
    eprintln!("netcase: kernels is not built yet");
    ExitCode::from(2)
}
