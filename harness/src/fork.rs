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
//! So the harness starts every child with [`spawn`] or [`output`], which count themselves from fork to
//! exec (`Command::spawn` returns once the child has exec'd), and code whose close() must act at
//! once runs it inside [`close_now`], which no fork overlaps. Tests that start their own programs
//! next to such code use [`spawn`] and [`output`] too.

use std::{
    io,
    process::{Child, Command, Output, Stdio},
    sync::{Condvar, Mutex, MutexGuard, PoisonError},
};

/// How many closes and forks are under way. A close waits for forks to finish (they take
/// milliseconds); a fork waits while any close runs, and a close never waits for a fork that is
/// itself waiting: a close with SO_LINGER blocks for seconds, and other closes must not queue
/// behind it.
#[derive(Default)]
struct Under {
    closes: usize,
    forks: usize,
}

static UNDER: Mutex<Under> = Mutex::new(Under {
    closes: 0,
    forks: 0,
});
static CHANGED: Condvar = Condvar::new();

fn under() -> MutexGuard<'static, Under> {
    UNDER.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts itself out when dropped, however the work ended.
struct Leaving(fn(&mut Under));

impl Drop for Leaving {
    fn drop(&mut self) {
        (self.0)(&mut under());
        CHANGED.notify_all();
    }
}

/// Spawns `command` while no [`close_now`] runs.
pub fn spawn(command: &mut Command) -> io::Result<Child> {
    let mut now = under();
    while now.closes > 0 {
        now = CHANGED.wait(now).unwrap_or_else(PoisonError::into_inner);
    }
    now.forks += 1;
    drop(now);
    let _leaving = Leaving(|u| u.forks -= 1);
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
    let mut now = under();
    while now.forks > 0 {
        now = CHANGED.wait(now).unwrap_or_else(PoisonError::into_inner);
    }
    now.closes += 1;
    drop(now);
    let _leaving = Leaving(|u| u.closes -= 1);
    close()
}

#[cfg(test)]
mod tests {
    use std::{sync::mpsc, thread, time::Duration};

    use super::*;

    /// A close that blocks (SO_LINGER) holds off forks, but not other closes, even while a fork
    /// waits for it; the fork goes ahead once the closes are done.
    #[test]
    fn closes_do_not_queue_behind_a_waiting_fork() {
        let (entered, is_entered) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let lingering = thread::spawn(move || {
            close_now(|| {
                entered.send(()).unwrap();
                released.recv().unwrap();
            })
        });
        is_entered.recv().unwrap();
        let (spawned, has_spawned) = mpsc::channel();
        let forking = thread::spawn(move || {
            let child = spawn(Command::new("true").stdout(Stdio::null()));
            spawned.send(child.map(|mut c| c.wait())).unwrap();
        });
        // The fork waits for the lingering close...
        assert!(
            has_spawned
                .recv_timeout(Duration::from_millis(200))
                .is_err()
        );
        // ...and another close does not wait for the fork.
        let (closed, has_closed) = mpsc::channel();
        thread::spawn(move || close_now(|| closed.send(()).unwrap()));
        has_closed
            .recv_timeout(Duration::from_secs(10))
            .expect("a second close ran while the first lingered and a fork waited");
        release.send(()).unwrap();
        lingering.join().unwrap();
        let status = has_spawned
            .recv_timeout(Duration::from_secs(10))
            .expect("the fork went ahead after the closes");
        assert!(status.unwrap().unwrap().success());
        forking.join().unwrap();
    }
}
