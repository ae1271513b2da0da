//! Starting programs: without holding sockets open behind a test's back, and without leaving them
//! behind when this process dies, however it dies.
//!
//! # Forks and closes
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
//!
//! # Nothing outlives the process
//!
//! Every child gets the kernel's parent-death signal, SIGKILL (`PR_SET_PDEATHSIG`), between fork
//! and exec, and then checks that its parent is still the process that forked it (`getppid()`
//! against the pid taken before the fork): a parent that died before the `prctl` sent no signal,
//! and the child exits instead of exec'ing. Only the kernel acts once a process is SIGKILLed:
//! a subreaper collects orphans only while it lives itself, and a pidfd needs someone alive to
//! use it. The death signal holds however the process ends.
//!
//! The kernel sends that signal when the *thread* that forked the child exits, not when its
//! process does (`forget_original_parent`: the child moves to a sibling thread and is signalled
//! all the same). cargo test's test threads, a case's threads and scoped worker threads end
//! while the programs they started may rightly live on (a test hands a [`std::process::Child`]
//! to another thread, a matrix's guest outlives the thread that asked for it). So [`spawn`] does
//! not fork on the calling thread: it hands the command to one thread of this module, started on
//! first use and never ended, which forks every child and hands the [`Child`] back. Its death
//! signal therefore means "the process died". The child starts in the network namespace of the
//! thread that called [`spawn`], as with `Command::spawn` (the forking thread enters it for the
//! fork and comes back).
//!
//! One exception, on purpose: [`crate::Host::start`] forks on the host's own thread, which lives
//! exactly as long as the host, so that the death signal ties the program to the host: it dies
//! when the host is torn down or when the process dies.
//!
//! A child's own children are its own affair: a program that forks (apt-get, chromium) passes the
//! signal on, or not, as it does when its parent dies anyway. `netcase`'s own child runs start
//! their children here in turn.
//!
//! The death signal and the check are one more `pre_exec` closure on the command, added by each
//! call (a command spawned twice carries two: harmless); a command with a `pre_exec` is started
//! with fork and exec rather than `posix_spawn`, a millisecond or two more.

use std::{
    fs::File,
    io,
    os::{
        fd::{AsRawFd, OwnedFd},
        unix::process::CommandExt,
    },
    process::{Child, Command, Output, Stdio},
    sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError, mpsc},
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

/// Counts `fork` (which forks and waits for the child's exec) as a fork under way, once no
/// [`close_now`] runs.
fn counted<T>(fork: impl FnOnce() -> T) -> T {
    let mut now = under();
    while now.closes > 0 {
        now = CHANGED.wait(now).unwrap_or_else(PoisonError::into_inner);
    }
    now.forks += 1;
    drop(now);
    let _leaving = Leaving(|u| u.forks -= 1);
    fork()
}

/// Makes the child of `command` die (SIGKILL) when the thread that forks it ends, and exit
/// before its exec when the process `parent` is no longer its parent.
fn die_with_parent(command: &mut Command, parent: libc::pid_t) {
    // SAFETY: the closure runs in the forked child before exec and makes only two system calls,
    // prctl and getppid, which are async-signal-safe; it allocates nothing (an error made from
    // an errno does not allocate).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                // The parent died between the fork and the prctl: no signal will come.
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Spawns `command` while no [`close_now`] runs. The child dies (SIGKILL) when this process
/// dies, however it dies; it starts in the calling thread's network namespace.
///
/// It is forked by a thread of this module, not by the caller's: see the module's documentation.
pub fn spawn(command: &mut Command) -> io::Result<Child> {
    let spawner = spawner()?;
    // The caller's namespace, when it is not the process's (a host's thread, or a thread that
    // entered one): the spawner forks from inside it.
    let here = std::fs::read_link("/proc/thread-self/ns/net").ok();
    let netns = match (&here, &spawner.home) {
        (Some(here), Some(home)) if here != home => {
            Some(OwnedFd::from(File::open("/proc/thread-self/ns/net")?))
        }
        _ => None,
    };
    // The command travels to the spawner and back; an empty one holds its place meanwhile.
    let taken = std::mem::replace(command, Command::new(""));
    let (reply, answer) = mpsc::sync_channel(1);
    let sent = spawner
        .requests
        .send(Request {
            command: taken,
            netns,
            reply,
        })
        .map_err(|mpsc::SendError(r)| {
            *command = r.command;
            io::Error::other("the thread that starts programs is gone")
        });
    sent?;
    let (returned, child) = answer
        .recv()
        .map_err(|_| io::Error::other("the thread that starts programs ended during a fork"))?;
    *command = returned;
    child
}

/// Spawns `command` from the calling thread while no [`close_now`] runs: the child dies when this
/// thread ends (or the process dies). For a thread that lives exactly as long as what the child
/// belongs to: a host's.
pub(crate) fn spawn_here(command: &mut Command) -> io::Result<Child> {
    die_with_parent(command, std::process::id() as libc::pid_t);
    counted(|| command.spawn())
}

/// A command for the spawner, with the namespace to fork it in and where to send it back.
struct Request {
    command: Command,
    netns: Option<OwnedFd>,
    reply: mpsc::SyncSender<(Command, io::Result<Child>)>,
}

/// The thread that forks every child of [`spawn`].
struct Spawner {
    requests: mpsc::Sender<Request>,
    /// The process's network namespace (`net:[inode]`), which the spawner stays in between forks;
    /// `None` without /proc.
    home: Option<std::path::PathBuf>,
}

/// The spawner, started on first use.
fn spawner() -> io::Result<&'static Spawner> {
    static SPAWNER: OnceLock<Result<Spawner, String>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (requests, received) = mpsc::channel();
            let (started, is_started) = mpsc::sync_channel(1);
            std::thread::Builder::new()
                .name("netcase-fork".to_owned())
                .spawn(move || serve(&received, &started))
                .map_err(|e| format!("starting the thread that starts programs: {e}"))?;
            let home = is_started
                .recv()
                .map_err(|_| "the thread that starts programs ended at once".to_owned())??;
            Ok(Spawner { requests, home })
        })
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))
}

/// The spawner's life: enter the process's network namespace (a thread starts in its creator's,
/// maybe a host's, which it would otherwise keep alive for ever), then fork what comes.
fn serve(
    requests: &mpsc::Receiver<Request>,
    started: &mpsc::SyncSender<Result<Option<std::path::PathBuf>, String>>,
) {
    let home_link = std::fs::read_link("/proc/self/ns/net").ok();
    let home = match enter_home(home_link.as_ref()) {
        Ok(home) => home,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    let _ = started.send(Ok(home_link));
    let parent = std::process::id() as libc::pid_t;
    for Request {
        mut command,
        netns,
        reply,
    } in requests
    {
        die_with_parent(&mut command, parent);
        let child = match (&netns, &home) {
            (Some(there), Some(home)) => in_namespace(there, home, || counted(|| command.spawn())),
            _ => counted(|| command.spawn()),
        };
        let _ = reply.send((command, child));
    }
}

/// Opens the process's network namespace and moves this thread into it, when it is elsewhere.
fn enter_home(home_link: Option<&std::path::PathBuf>) -> Result<Option<OwnedFd>, String> {
    let Some(home_link) = home_link else {
        return Ok(None);
    };
    let home = File::open("/proc/self/ns/net")
        .map(OwnedFd::from)
        .map_err(|e| format!("opening /proc/self/ns/net: {e}"))?;
    let here = std::fs::read_link("/proc/thread-self/ns/net").ok();
    if here.as_ref() != Some(home_link) {
        setns(&home).map_err(|e| format!("entering the process's network namespace: {e}"))?;
    }
    Ok(Some(home))
}

/// Runs `fork` with this thread inside the namespace `there`, then back in `home`.
fn in_namespace(
    there: &OwnedFd,
    home: &OwnedFd,
    fork: impl FnOnce() -> io::Result<Child>,
) -> io::Result<Child> {
    setns(there)?;
    let child = fork();
    // Coming back cannot fail where going there worked (the same capability, a namespace this
    // thread held a moment ago); if it did, every later fork would start in the wrong place.
    setns(home).expect("the thread that starts programs returns to the process's namespace");
    child
}

fn setns(netns: &OwnedFd) -> io::Result<()> {
    // SAFETY: setns with a valid descriptor, on this thread only.
    if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
    use std::{
        io::{BufRead, BufReader, Write},
        path::Path,
        sync::mpsc,
        thread,
        time::{Duration, Instant},
    };

    use super::*;

    /// A child started from a thread that then ends lives on: its death signal is the process's
    /// end, not the thread's. (Forked by the calling thread, `cat` would be SIGKILLed as the
    /// thread exits, and could not echo the line sent after that.)
    #[test]
    fn a_child_outlives_the_thread_that_started_it() {
        let (child, tid) = thread::spawn(|| {
            let child = spawn(
                Command::new("cat")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped()),
            );
            // SAFETY: gettid has no preconditions.
            (child, unsafe { libc::gettid() })
        })
        .join()
        .unwrap();
        let mut child = child.expect("cat starts");
        // The thread is gone once the kernel has released it: any death signal is sent by then.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/self/task/{tid}")).exists() {
            assert!(Instant::now() < deadline, "thread {tid} never went away");
            // A poll of /proc, with the deadline above.
            thread::sleep(Duration::from_millis(1));
        }
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"still here\n").unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "still here\n");
        drop(stdin);
        assert!(child.wait().unwrap().success());
    }

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
