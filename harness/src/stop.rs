//! Stopping a long run on Ctrl-C and SIGTERM: the first asks the run to stop, and stops the
//! programs this process started for it; a second ends the process at once.
//!
//! `netcase run` and the kernel matrix ([`crate::kernels`]) ask [`requested`] between steps and
//! [`register`] the programs they start; [`install`] makes the signals ask. A program that drives
//! them from code asks with [`request`] instead.
//!
//! The signals are received by a thread of their own (`signal-hook`'s iterator: the handler only
//! writes to a pipe), so what a stop does runs as ordinary code. Programs to stop are registered
//! by a pidfd, which names the process itself, not its pid: a child reaped meanwhile, its pid
//! reused, cannot be hit by mistake. Each is stopped as registered: a guest (qemu) is killed at
//! once, a child `netcase run` gets the same signal (it writes its partial results) and is killed
//! if it has not ended after a grace period.
//!
//! A SIGKILL cannot be caught: then the children die by their parent-death signal
//! ([`crate::fork`]), and the output directory's `run.json` still says `running` for a process
//! that is gone, which `netcase show` reports as killed.

use std::{
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    process::Child,
    sync::{
        Mutex, Once, PoisonError,
        atomic::{AtomicI32, Ordering},
    },
    time::Duration,
};

use signal_hook::{
    consts::{SIGINT, SIGTERM},
    iterator::Signals,
};

/// The signal that asked this process to stop, or 0.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The programs to stop with the run.
static REGISTERED: Mutex<Vec<(u64, OwnedFd, How)>> = Mutex::new(Vec::new());

/// How a registered program is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// SIGKILL at once: it has nothing to save (a guest, a download).
    Kill,
    /// The signal this process got, then SIGKILL if it still runs after the grace period: a
    /// child run that writes its partial results.
    Forward(Duration),
}

/// Starts receiving SIGINT and SIGTERM (once; later calls do nothing).
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let mut signals = match Signals::new([SIGINT, SIGTERM]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("netcase: cannot catch SIGINT and SIGTERM ({e}): they will kill at once");
                return;
            }
        };
        let spawned = std::thread::Builder::new()
            .name("netcase-signals".to_owned())
            .spawn(move || {
                for signal in signals.forever() {
                    if !request(signal) {
                        // A second one: leave now. The kernel frees every namespace with the
                        // process, and the children die by their parent-death signal.
                        // SAFETY: _exit ends the process without running anything else.
                        unsafe { libc::_exit(exit_code(signal).into()) };
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("netcase: cannot start the thread that receives signals: {e}");
        }
    });
}

/// Asks the run to stop as `signal` would (SIGINT or SIGTERM): [`requested`] says so from now
/// on, and the registered programs are stopped. `false` when a stop was asked for already (this
/// one then does nothing).
pub fn request(signal: i32) -> bool {
    // Under the lock: a program registered meanwhile is either stopped here or sees the stop
    // when it registers, never both.
    let registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    if SIGNAL
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return false;
    }
    for (_, pidfd, how) in registered.iter() {
        stop_one(pidfd, *how, signal);
    }
    true
}

/// The signal that asked this process to stop, once one did.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// The signal as a person names it.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "Ctrl-C (SIGINT)",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// The exit status of a process ended by `signal`, as a shell reports it: 128 + its number
/// (130 for SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(255)
}

/// A registered program; dropping it unregisters it.
#[must_use = "the program is unregistered when this is dropped"]
pub struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        REGISTERED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(id, _, _)| *id != self.0);
    }
}

/// Registers `child` to be stopped as `how` says when a stop is asked for, or stops it now if
/// one was asked for already. Call it right after the spawn, before anything reaps the child.
pub fn register(child: &Child, how: How) -> std::io::Result<Registered> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // SAFETY: pidfd_open with a pid and no flags; it returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just opened and belongs to nothing else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    // Under the lock: a stop either sees this entry or was seen here.
    if let Some(signal) = requested() {
        stop_one(&pidfd, how, signal);
    }
    registered.push((id, pidfd, how));
    Ok(Registered(id))
}

fn stop_one(pidfd: &OwnedFd, how: How, signal: i32) {
    match how {
        How::Kill => send(pidfd, libc::SIGKILL),
        How::Forward(grace) => {
            send(pidfd, signal);
            if let Ok(pidfd) = pidfd.try_clone() {
                // A deadline, not a wait for an event: past it the child is killed whatever it
                // is doing (a pidfd of an ended process only answers ESRCH).
                std::thread::spawn(move || {
                    std::thread::sleep(grace);
                    send(&pidfd, libc::SIGKILL);
                });
            }
        }
    }
}

fn send(pidfd: &OwnedFd, signal: i32) {
    // SAFETY: pidfd_send_signal with a valid pidfd, no siginfo and no flags. An ended process
    // answers ESRCH, which changes nothing.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_are_as_a_shell_reports_them() {
        assert_eq!(exit_code(SIGINT), 130);
        assert_eq!(exit_code(SIGTERM), 143);
        assert_eq!(name(SIGTERM), "SIGTERM");
    }
}
