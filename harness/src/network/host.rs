//! A host: an anonymous network namespace with a thread of its own that runs a tokio runtime.
//!
//! The namespace exists only as long as the host holds it: an fd to `/proc/thread-self/ns/net`
//! and the host's thread, which lives inside it. Nothing is named, nothing is mounted, and nothing
//! appears in the root namespace, so a test process that dies, however it dies, leaves nothing.

use std::{
    fs::File,
    future::Future,
    os::{
        fd::{AsFd, AsRawFd, OwnedFd, RawFd},
        unix::process::CommandExt,
    },
    path::Path,
    process::{Child, Command, Output},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use futures::future::BoxFuture;
use nix::sched::{CloneFlags, setns, unshare};
use tokio::sync::oneshot;

use crate::{
    error::{Error, Result},
    network::sysctl::{self, Sysctl, SysctlValue},
};

/// Settings every host gets before its links exist, so that IPv6 is quiet and usable at once.
///
/// Without them every new link-local address stays tentative for a random time of up to
/// `rtr_solicit_delay` (1 s) before duplicate-address detection even starts, even with
/// `dad_transmits` at 0; a router cannot send a neighbour solicitation without a usable link-local
/// address, so the first packet it forwards is silently lost. Router solicitations are noise in
/// every capture, and nothing here answers them.
///
/// `keep_addr_on_down` keeps a link's IPv6 addresses while it is down, as IPv4 does, so that a
/// pulled cable plugged back in finds its addresses where they were.
const QUIET_IPV6: &[(&str, &str)] = &[
    ("net/ipv6/conf/default/accept_dad", "0"),
    ("net/ipv6/conf/default/router_solicitations", "0"),
    ("net/ipv6/conf/default/keep_addr_on_down", "1"),
];

/// How long a torn-down host waits for blocking work still running on its runtime, before it
/// abandons it.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// One isolated host of a topology.
///
/// Futures given to [`Host::spawn`] run on the host's own thread, inside its namespace: a socket
/// created in them belongs to the host. Create sockets inside the future, not before it.
pub struct Host {
    name: Arc<str>,
    netns: Arc<OwnedFd>,
    runtime: tokio::runtime::Handle,
    netlink: rtnetlink::Handle,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Work a host starts on its own thread as soon as it is ready.
pub(crate) type FirstJob = Box<dyn FnOnce(JobContext) -> BoxFuture<'static, ()> + Send>;

/// What a [`FirstJob`] gets to work with.
pub(crate) struct JobContext {
    /// The host's netlink connection.
    pub netlink: rtnetlink::Handle,
    /// The host's namespace; the fd stays open as long as the [`Host`] exists.
    pub netns: RawFd,
}

/// What the host's thread hands back once its namespace and runtime exist.
struct Started {
    netns: OwnedFd,
    runtime: tokio::runtime::Handle,
    netlink: rtnetlink::Handle,
}

impl Host {
    /// Creates a host: a new namespace on a thread of its own. The topology brings its loopback up.
    ///
    /// `router` turns IPv4 and IPv6 forwarding on.
    ///
    /// `first` starts on the host's thread as soon as the host is ready, before this returns: a
    /// topology's hosts build their parts without waiting for each other or for the caller.
    pub(crate) async fn create(name: &str, router: bool, first: FirstJob) -> Result<Host> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let thread_name = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(format!("netcase-{name}"))
            .spawn(move || host_thread(&thread_name, router, first, ready_tx, shutdown_rx))
            .map_err(|e| Error::io(format!("starting the thread of host {name}"), e))?;
        let started = match ready_rx.await {
            Ok(result) => result,
            Err(_) => Err(Error::io(
                format!("starting host {name}"),
                std::io::Error::other("the host's thread ended before it was ready"),
            )),
        };
        match started {
            Ok(s) => Ok(Host {
                name: name.into(),
                netns: Arc::new(s.netns),
                runtime: s.runtime,
                netlink: s.netlink,
                shutdown: Some(shutdown_tx),
                thread: Some(thread),
            }),
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }

    /// The host's netlink connection, served by its own thread. Use it from [`Host::spawn`]:
    /// one socket per host, not one per request.
    pub(crate) fn netlink(&self) -> rtnetlink::Handle {
        self.netlink.clone()
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's network namespace, for `setns` and for netlink's `IFLA_NET_NS_FD`.
    pub fn netns(&self) -> impl AsFd + '_ {
        self.netns.as_fd()
    }

    /// The inode of the host's network namespace, as `ls -l /proc/PID/ns/net` shows it.
    pub fn netns_inode(&self) -> Result<u64> {
        let stat = nix::sys::stat::fstat(self.netns.as_fd())
            .map_err(|e| Error::io(format!("fstat of host {}'s namespace", self.name), e.into()))?;
        Ok(stat.st_ino)
    }

    /// Runs `future` on the host's thread, inside its namespace, and returns its output.
    ///
    /// A panic in the future is resumed in the caller, so the test fails with the original message.
    pub fn spawn<F>(&self, future: F) -> impl Future<Output = Result<F::Output>> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.runtime.spawn(future);
        let name = self.name.clone();
        async move {
            match task.await {
                Ok(out) => Ok(out),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => Err(Error::HostGone(name.to_string())),
            }
        }
    }

    /// Runs a blocking closure inside the host's namespace, on a thread of its own, and returns
    /// its result. For code that uses blocking sockets.
    pub fn run<F, T>(&self, f: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let netns = self.netns.clone();
        let name = self.name.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("netcase-{name}-run"))
            .spawn(move || {
                let result = setns(netns.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|e| {
                        Error::io(format!("entering the namespace of host {name}"), e.into())
                    })
                    .map(|()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
                let _ = tx.send(result);
            });
        let name = self.name.clone();
        async move {
            spawned.map_err(|e| Error::io(format!("starting a thread for host {name}"), e))?;
            match rx.await {
                Ok(Ok(Ok(value))) => Ok(value),
                Ok(Ok(Err(panic))) => std::panic::resume_unwind(panic),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(Error::HostGone(name.to_string())),
            }
        }
    }

    /// A command that runs `program` inside the host's namespace.
    ///
    /// The child enters the namespace between fork and exec. Start it with [`Host::start`] to tie
    /// its life to the host's, or spawn it yourself with [`crate::network::fork::spawn`] to tie it to this
    /// process's (see there why not with `Command::spawn`). Either way it gets SIGKILL when the
    /// thread that forked it ends (`PR_SET_PDEATHSIG`, set here too for a command spawned
    /// otherwise).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        let netns = self.netns.clone();
        // SAFETY: the closure runs in the forked child before exec and makes only two system calls,
        // setns and prctl, which are async-signal-safe; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Starts `command` (from [`Host::command`]) from the host's thread: the process is killed when
    /// the host is torn down, when the returned [`Process`] is dropped, or when the test process dies.
    pub async fn start(&self, mut command: Command) -> Result<Process> {
        let program = command.get_program().to_string_lossy().into_owned();
        let what = format!("starting {program:?} on host {}", self.name);
        // Forked by the host's thread, which lives as long as the host: its end is the child's
        // death signal (see `fork`).
        let child = self
            .spawn(async move { crate::network::fork::spawn_here(&mut command) })
            .await?
            .map_err(|e| Error::io(what, e))?;
        Ok(Process { child, program })
    }

    /// Runs `command` (from [`Host::command`]) to completion and returns its output.
    pub async fn output(&self, mut command: Command) -> Result<Output> {
        let what = format!("running {:?} on host {}", command.get_program(), self.name);
        self.run(move || crate::network::fork::output(&mut command))
            .await?
            .map_err(|e| Error::io(what, e))
    }

    /// Sets a typed sysctl in this host only.
    ///
    /// On a kernel without the knob, setting it to the value the kernel behaves as without it
    /// ([`Sysctl::absent_means`]) changes nothing and succeeds; any other value is
    /// [`Error::MissingSysctl`], whose [`Error::skip_reason`] a case's runner reports as SKIP.
    pub async fn set<T: SysctlValue>(&self, knob: Sysctl<T>, value: T) -> Result<()> {
        let text = value.to_sysctl();
        match self.set_raw(knob.path(), &text).await {
            Err(Error::UnknownSysctl { .. }) if self.lacks(knob) => {
                if knob.absent_value() == Some(text.as_str()) {
                    Ok(())
                } else {
                    Err(self.missing(knob, Some(&text)))
                }
            }
            other => other,
        }
    }

    /// Reads a typed sysctl of this host; on a kernel without the knob, the value the kernel
    /// behaves as ([`Sysctl::absent_means`]), or [`Error::MissingSysctl`] when no value says it.
    pub async fn get<T: SysctlValue>(&self, knob: Sysctl<T>) -> Result<T> {
        let text = match self.get_raw(knob.path()).await {
            Err(Error::UnknownSysctl { .. }) if self.lacks(knob) => knob
                .absent_value()
                .map(str::to_owned)
                .ok_or_else(|| self.missing(knob, None))?,
            other => other?,
        };
        sysctl::parse(&self.name, knob, &text)
    }

    /// Whether this kernel lacks `knob` in a host's namespace.
    fn lacks<T>(&self, knob: Sysctl<T>) -> bool {
        crate::kernel::kernel().is_ok_and(|k| !k.has(knob))
    }

    fn missing<T>(&self, knob: Sysctl<T>, wanted: Option<&str>) -> Error {
        Error::MissingSysctl {
            host: self.name.to_string(),
            path: knob.path().to_owned(),
            why: knob.missing(wanted),
        }
    }

    /// Writes `value` to /proc/sys/`path` in this host only; `path` is below `net/`.
    pub async fn set_raw(&self, path: &str, value: &str) -> Result<()> {
        let (name, path, value) = (self.name.clone(), path.to_owned(), value.to_owned());
        self.spawn(async move { sysctl::write_raw(&name, &path, &value) })
            .await?
    }

    /// Reads /proc/sys/`path` in this host, trimmed; `path` is below `net/`.
    pub async fn get_raw(&self, path: &str) -> Result<String> {
        let (name, path) = (self.name.clone(), path.to_owned());
        self.spawn(async move { sysctl::read_raw(&name, &path) })
            .await?
    }

    /// The host's TCP/IP settings by name, for expectations and reports: every file of
    /// /proc/sys/net/ipv4 and net/core in the host's namespace, named as the file is
    /// (`tcp_syn_retries`, `somaxconn`, ...), values trimmed.
    pub async fn settings(&self) -> Result<std::collections::BTreeMap<String, String>> {
        let name = self.name.clone();
        self.spawn(async move {
            let mut settings = std::collections::BTreeMap::new();
            for dir in ["net/ipv4", "net/core"] {
                let path = format!("/proc/sys/{dir}");
                let entries = std::fs::read_dir(&path)
                    .map_err(|e| Error::io(format!("listing {path} on host {name}"), e))?;
                for entry in entries.flatten() {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    // Directories (conf/, neigh/) and write-only files are not settings.
                    if let Ok(value) = std::fs::read_to_string(entry.path()) {
                        settings.insert(file, value.trim().to_owned());
                    }
                }
            }
            Ok(settings)
        })
        .await?
    }

    /// Asks the host's thread to stop; [`Host::join`] waits for it.
    pub(crate) fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the host's thread has ended: its runtime, its tasks, its sockets, the processes
    /// it started, and with them its namespace are gone.
    pub(crate) fn join(&mut self) {
        self.begin_shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.join();
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("name", &self.name).finish()
    }
}

fn host_thread(
    name: &str,
    router: bool,
    first: FirstJob,
    ready: oneshot::Sender<Result<Started>>,
    shutdown: oneshot::Receiver<()>,
) {
    let runtime = match enter_new_namespace(name).and_then(|()| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io(format!("building the runtime of host {name}"), e))
    }) {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    runtime.block_on(async {
        match prepare(name, router, runtime.handle().clone()).await {
            Ok(started) => {
                let context = JobContext {
                    netlink: started.netlink.clone(),
                    netns: started.netns.as_raw_fd(),
                };
                if ready.send(Ok(started)).is_ok() {
                    tokio::spawn(first(context));
                    let _ = shutdown.await;
                }
            }
            Err(e) => {
                let _ = ready.send(Err(e));
            }
        }
    });
    // Tasks still running are dropped here, closing their sockets. Blocking work gets a grace
    // period; the thread's exit then kills every process it started (PR_SET_PDEATHSIG).
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
}

/// Moves the calling thread into a new, anonymous network namespace.
fn enter_new_namespace(name: &str) -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| {
        Error::io(
            format!("creating the network namespace of host {name} (unshare CLONE_NEWNET)"),
            e.into(),
        )
    })
}

/// Where a namespace's devices take their RPS CPU mask from when they are created.
const RPS_DEFAULT_MASK: &str = "net/core/rps_default_mask";

/// Makes every device the host gets later receive on one CPU, in order, as a single-queue NIC
/// does: RPS to one CPU (`net.core.rps_default_mask`, a setting of each namespace on this kernel),
/// the hosts taking the CPUs in turn.
///
/// A veth hands a packet to its peer on the *sending* CPU's backlog, and one connection's
/// segments leave from two CPUs: a delayed ACK from the timer's softirq on one, the FIN from
/// close() on the other. Without RPS the FIN can overtake the ACK, a reordering no real link makes
/// within a flow, and the kernel's answers to it surfaced as rare failures under load: a TIME_WAIT
/// socket killed by the peer's reset (RFC 1337, shown on purpose by the case
/// `time_wait::assassinated`), a FIN dropped by the peer's socket while it was turning into
/// TIME_WAIT on the other CPU, then resent 200 ms later. One CPU per receiving host, rather than
/// flows spread over all of them, also keeps the receive path serial as on a single-queue NIC:
/// spread, two SYNs to one listener were processed at once and both passed its backlog check. A
/// kernel without the setting (it came in 6.2) gets the same through each link end's own
/// `rps_cpus` once the ends exist: [`steer_ends`].
fn steer_flows(name: &str) -> Result<()> {
    if !Path::new("/proc/sys").join(RPS_DEFAULT_MASK).exists() {
        return Ok(());
    }
    sysctl::write_raw(name, RPS_DEFAULT_MASK, &cpu_mask(next_cpu()))
}

/// The CPU the next host receives on: the hosts take the CPUs in turn.
fn next_cpu() -> usize {
    static NEXT_CPU: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    NEXT_CPU.fetch_add(1, Ordering::Relaxed) % cpus
}

/// On a kernel without `net.core.rps_default_mask` (before 6.2), steers the receive queue of each
/// of `ifnames` in the namespace `netns` to one CPU, as [`steer_flows`] does elsewhere: it writes
/// their `queues/rx-0/rps_cpus`. That file is in sysfs, which shows the devices of the namespace
/// that mounted it, so a short-lived thread enters the namespace, makes a private mount namespace
/// of its own (`unshare(CLONE_NEWNS)`, propagation private: nothing reaches the machine's
/// mounts), mounts sysfs there and writes; its mounts go with it.
pub(crate) fn steer_ends(host: &str, netns: RawFd, ifnames: &[String]) -> Result<()> {
    if Path::new("/proc/sys").join(RPS_DEFAULT_MASK).exists() || ifnames.is_empty() {
        return Ok(());
    }
    let mask = cpu_mask(next_cpu());
    let (host, ifnames) = (host.to_owned(), ifnames.to_vec());
    // SAFETY: the fd stays open for the call: the host that owns it outlives the build.
    let netns = unsafe { std::os::fd::BorrowedFd::borrow_raw(netns) }.try_clone_to_owned();
    let netns =
        netns.map_err(|e| Error::io(format!("duplicating the namespace fd of host {host}"), e))?;
    std::thread::spawn(move || -> Result<()> {
        use nix::mount::{MsFlags, mount};
        let what = |step: &str| format!("steering host {host}'s receive queues to one CPU: {step}");
        setns(&netns, CloneFlags::CLONE_NEWNET)
            .map_err(|e| Error::io(what("entering its namespace"), e.into()))?;
        unshare(CloneFlags::CLONE_NEWNS)
            .map_err(|e| Error::io(what("unshare(CLONE_NEWNS)"), e.into()))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| Error::io(what("making the mount namespace private"), e.into()))?;
        mount(
            Some("sysfs"),
            "/sys",
            Some("sysfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| Error::io(what("mounting sysfs"), e.into()))?;
        for ifname in &ifnames {
            let path = format!("/sys/class/net/{ifname}/queues/rx-0/rps_cpus");
            std::fs::write(&path, &mask)
                .map_err(|e| Error::io(what(&format!("writing {mask} to {path}")), e))?;
        }
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| {
        Err(Error::io(
            "steering receive queues to one CPU",
            std::io::Error::other("the thread panicked"),
        ))
    })
}

/// The mask of CPU `cpu` alone as the kernel writes one: hexadecimal, in comma-separated groups
/// of 32 bits, the highest first.
fn cpu_mask(cpu: usize) -> String {
    let groups = cpu / 32 + 1;
    (0..groups)
        .rev()
        .map(|g| {
            let word: u32 = if g == cpu / 32 { 1 << (cpu % 32) } else { 0 };
            format!("{word:08x}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs on the host's thread, inside its namespace: the namespace fd, netlink, settings.
async fn prepare(name: &str, router: bool, runtime: tokio::runtime::Handle) -> Result<Started> {
    let netns: OwnedFd = File::open("/proc/thread-self/ns/net")
        .map_err(|e| Error::io(format!("opening the namespace of host {name}"), e))?
        .into();
    let (connection, netlink, _) = rtnetlink::new_connection()
        .map_err(|e| Error::io(format!("opening a netlink socket on host {name}"), e))?;
    tokio::spawn(connection);
    for (path, value) in QUIET_IPV6 {
        sysctl::write_raw(name, path, value)?;
    }
    steer_flows(name)?;
    if router {
        sysctl::write_raw(name, sysctl::IP_FORWARD.path(), "1")?;
        sysctl::write_raw(name, sysctl::IPV6_FORWARDING.path(), "1")?;
    }
    Ok(Started {
        netns,
        runtime,
        netlink,
    })
}

/// A process started inside a host. Dropping it kills the process (SIGKILL) and reaps it.
#[derive(Debug)]
pub struct Process {
    child: Child,
    program: String,
}

impl Process {
    /// The process id, in the root PID namespace.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The underlying child, for its pipes and for waiting.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) -> Result<std::process::ExitStatus> {
        let what = format!("killing {:?} (pid {})", self.program, self.child.id());
        // kill() fails only when the process has already exited, which wait() then reports.
        let _ = self.child.kill();
        self.child.wait().map_err(|e| Error::io(what, e))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::cpu_mask;

    #[test]
    fn cpu_masks_are_written_as_the_kernel_writes_them() {
        assert_eq!(cpu_mask(0), "00000001");
        assert_eq!(cpu_mask(1), "00000002");
        assert_eq!(cpu_mask(31), "80000000");
        assert_eq!(cpu_mask(32), "00000001,00000000");
        assert_eq!(cpu_mask(69), "00000020,00000000,00000000");
    }
}
