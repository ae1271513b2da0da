//! Starting programs without holding sockets open behind a test's back.
//!
//! A child process holds a copy of every descriptor of this process from fork() until its exec()
//! closes the close-on-exec ones (Rust opens every descriptor close-on-exec). A socket that
//! another thread closes in that window stays open in the child, so close() does nothing visible:
//! no FIN, no reset, no SO_LINGER wait; the kernel acts when the child execs, tens of
//! milliseconds later on a loaded machine. cargo test runs a binary's tests as threads of one
//! process, so one test starting `ip` or `tshark` can silently change what another test's close()
//! does: the server closes first instead of the client, and TIME_WAIT lands on the other end.
//!
//! So the harness starts every child with [`spawn`] or [`output`], which hold a lock from fork to
//! exec (`Command::spawn` returns once the child has exec'd), and code whose close() must act at
//! once runs it inside [`close_now`], which no fork overlaps. Tests that start their own programs
//! next to such code use [`spawn`] and [`output`] too.

use std::{
    io,
    process::{Child, Command, Output, Stdio},
    sync::{PoisonError, RwLock},
};

/// Held shared by closes that must act at once, exclusively by a fork until its exec.
static CLOSING: RwLock<()> = RwLock::new(());

/// Spawns `command` while no [`close_now`] runs.
pub fn spawn(command: &mut Command) -> io::Result<Child> {
    let _forking = CLOSING.write().unwrap_or_else(PoisonError::into_inner);
    command.spawn()
}

/// Runs `command` to completion with [`spawn`] and collects its output, as `Command::output`
/// does: stdin from /dev/null, stdout and stderr captured.
pub fn output(command: &mut Command) -> io::Result<Output> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn(command)?.wait_with_output()
}

/// Runs `close` (which closes sockets whose close() must act at once: send the FIN or the reset,
/// or wait for SO_LINGER) while no child of this process is between fork and exec.
pub fn close_now<T>(close: impl FnOnce() -> T) -> T {
    let _no_fork = CLOSING.read().unwrap_or_else(PoisonError::into_inner);
    close()
}
