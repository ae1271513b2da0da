//! However a test ends, it leaves nothing behind: no namespace, interface, process or mount.

use std::{
    io::{BufRead, BufReader},
    os::unix::process::ExitStatusExt,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use netcase::{Topology, leaks::netns_holders, require_privileges};

/// What the root namespace and the mount table look like: interfaces, named namespaces, mounts.
#[derive(Debug, PartialEq)]
struct RootState {
    interfaces: Vec<String>,
    named_netns: Vec<String>,
    mounts: usize,
}

fn root_state() -> RootState {
    // The main thread never leaves the root namespace, and /proc/self/net follows the main thread.
    let dev = std::fs::read_to_string("/proc/self/net/dev").expect("/proc/self/net/dev");
    let mut interfaces: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_owned())
        .collect();
    interfaces.sort();
    let mut named_netns: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    named_netns.sort();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .count();
    RootState {
        interfaces,
        named_netns,
        mounts,
    }
}

/// Waits until `done` holds, polling every millisecond, or panics with `what` after 5 s.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn assert_no_holders(inodes: &[u64]) {
    for &inode in inodes {
        let holders = netns_holders(inode);
        assert!(
            holders.is_empty(),
            "namespace net:[{inode}] is still held by {holders:?}"
        );
    }
}

/// Runs `future` on a runtime of its own, as a synchronous test would.
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// A routed topology with a long-running process on its server, and the inodes of its namespaces.
async fn routed_with_a_process() -> (Topology, netcase::Process, Vec<u64>) {
    let net = Topology::routed().await.expect("routed");
    let inodes = net
        .hosts()
        .map(|h| h.netns_inode().expect("inode"))
        .collect();
    let server = net.host("server").expect("server");
    let mut sleep = server.command("sleep");
    sleep.arg("1000");
    let process = server.start(sleep).await.expect("sleep");
    (net, process, inodes)
}

/// A test that panics with a routed topology and a running process: unwinding tears it all down
/// before the panic reaches the test harness, in the same process.
#[test]
fn a_panicking_test_leaves_nothing() {
    require_privileges!();
    let before = root_state();
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::panic::catch_unwind(move || {
        block_on(async {
            let (net, process, inodes) = routed_with_a_process().await;
            tx.send((inodes, process.pid())).expect("send");
            let _alive = (net, process);
            panic!("the test failed here");
        })
    });
    let panic = outcome.expect_err("the test panicked");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the test failed here"));
    let (inodes, pid) = rx.recv().expect("the topology was built");
    assert_eq!(inodes.len(), 3);
    assert_no_holders(&inodes);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} survived"
    );
    assert_eq!(root_state(), before);
}

const CHILD: &str = "NETCASE_KILLED_CHILD";

/// A test process killed with SIGKILL runs no destructor at all; the kernel alone must clean up.
/// The test runs itself as a child that builds a topology, starts a process inside it and
/// another one with `fork::spawn` from a thread that has ended since, reports, and waits to be
/// killed.
#[test]
fn a_killed_test_process_leaves_nothing() {
    if std::env::var_os(CHILD).is_some() {
        return killed_child();
    }
    require_privileges!();
    let before = root_state();
    // Orphans of the child are re-parented to this process, so it can see how they died.
    // SAFETY: prctl with integer arguments only.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0);
    let mut child = netcase::fork::spawn(
        Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "a_killed_test_process_leaves_nothing",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    )
    .expect("start the child");
    let mut report = String::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("the child's output");
        if let Some(rest) = line.strip_prefix("READY ") {
            report = rest.to_owned();
            break;
        }
    }
    assert!(
        !report.is_empty(),
        "the child ended without building its topology"
    );
    let numbers: Vec<u64> = report
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    let (sleep_pid, spawned_pid, inodes) = (
        numbers[0] as libc::pid_t,
        numbers[1] as libc::pid_t,
        &numbers[2..],
    );
    assert_eq!(inodes.len(), 3);

    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    // The process the child started inside a host died with it (PR_SET_PDEATHSIG).
    let mut wstatus = 0;
    wait_for("the orphaned process to die", || {
        // SAFETY: waitpid on a pid that is (now) our child, with a valid status pointer.
        unsafe { libc::waitpid(sleep_pid, &mut wstatus, libc::WNOHANG) == sleep_pid }
    });
    assert!(libc::WIFSIGNALED(wstatus) && libc::WTERMSIG(wstatus) == libc::SIGKILL);
    // So did the one `fork::spawn` started for a thread that had ended long before.
    wait_for("the process fork::spawn started to die", || {
        // SAFETY: as above.
        unsafe { libc::waitpid(spawned_pid, &mut wstatus, libc::WNOHANG) == spawned_pid }
    });
    assert!(libc::WIFSIGNALED(wstatus) && libc::WTERMSIG(wstatus) == libc::SIGKILL);

    assert_no_holders(inodes);
    assert_eq!(root_state(), before);
}

fn killed_child() {
    block_on(async {
        let (_net, process, inodes) = routed_with_a_process().await;
        // Never waited for: this process is killed first, and the test's parent reaps it.
        #[allow(clippy::zombie_processes)]
        let spawned = std::thread::spawn(|| {
            netcase::fork::spawn(Command::new("sleep").arg("1000")).expect("sleep starts")
        })
        .join()
        .expect("the thread that started sleep");
        let inodes: Vec<String> = inodes.iter().map(u64::to_string).collect();
        println!(
            "READY {} {} {}",
            process.pid(),
            spawned.id(),
            inodes.join(" ")
        );
        // Wait to be killed: stdin stays open until then.
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        unreachable!("the parent kills this process and never closes its stdin");
    });
}
