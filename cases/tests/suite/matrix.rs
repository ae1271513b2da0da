//! `netcase kernels` end to end: a Debian cloud kernel boots under qemu (KVM when it works
//! here, TCG otherwise), one fast case runs inside, its bundle comes back over the serial
//! console, and the comparison with this kernel is written.
//!
//! The kernel is `$NETCASE_TEST_KERNEL` (a vmlinuz, a dpkg tree, a .deb or a package name), or
//! else Debian's `linux-image-cloud-amd64`, fetched with `apt-get download` into
//! `target/netcase/kernels/` (never installed). Without qemu, busybox or the package, the test
//! says why and skips; under `CI=true` it fails instead (`.ci/run` installs them).
//!
//! Nothing outlives `netcase kernels`: SIGKILL, SIGTERM and Ctrl-C during this kernel's part and
//! during a guest's run leave no process of it behind, and the stopped ones exit 143 and 130
//! with what came back written.

use std::{
    io::{BufRead, BufReader},
    os::unix::process::{CommandExt, ExitStatusExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use netcase::{require_privileges, require_program};
use serde_json::Value;

/// About how long this module's tests take (they wait on qemu guests).
pub const EXPECTED: std::time::Duration = std::time::Duration::from_secs(15);

/// This module's tests.
pub fn trials() -> Vec<libtest_mimic::Trial> {
    [
        (
            "matrix::a_debian_kernel_runs_a_case_under_qemu",
            a_debian_kernel_runs_a_case_under_qemu as fn(),
        ),
        (
            "matrix::stopping_the_matrix_during_this_kernels_part_leaves_nothing",
            stopping_the_matrix_during_this_kernels_part_leaves_nothing as fn(),
        ),
        (
            "matrix::stopping_the_matrix_during_a_guest_leaves_nothing",
            stopping_the_matrix_during_a_guest_leaves_nothing as fn(),
        ),
    ]
    .into_iter()
    .map(|(name, test)| crate::plain(name, test))
    .collect()
}

const FAST: &str = "socket_addresses::seen_by_both_ends";

/// `netcase kernels` at the lowest CPU priority, as the suite runs Chromium: these tests start
/// with the longest cases, and their initramfs builds (strip, gzip of ~10 MB) are seconds of CPU
/// at the moment those cases measure their first timers (a SYN-ACK seen 79 ms late there). The
/// guests' qemu is at that priority already; the cases these matrices run on this kernel are
/// no timing cases (`FAST`) or are stopped halfway.
fn kernels_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_netcase"));
    command.arg("kernels");
    // SAFETY: between fork and exec, one async-signal-safe system call; nothing allocated.
    unsafe {
        command.pre_exec(|| match libc::setpriority(libc::PRIO_PROCESS, 0, 19) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    command
}

/// The kernel the tests boot, or `None` (after a SKIP line) when it is not available.
fn test_kernel() -> Option<String> {
    let kernel = std::env::var("NETCASE_TEST_KERNEL")
        .unwrap_or_else(|_| "linux-image-cloud-amd64".to_owned());
    if !Path::new(&kernel).exists() && !apt_has(&kernel) {
        netcase::privileges::cannot_run(&format!(
            "the kernel package {kernel} is not available (apt-get update, or set \
             NETCASE_TEST_KERNEL to a vmlinuz, a dpkg tree or a .deb)"
        ));
        return None;
    }
    Some(kernel)
}

fn a_debian_kernel_runs_a_case_under_qemu() {
    require_privileges!();
    require_program!("qemu-system-x86_64", "qemu-system-x86");
    require_program!("busybox", "busybox-static");
    require_program!("xz", "xz-utils");
    let Some(kernel) = test_kernel() else { return };
    let out = netcase::capture::output_dir().join("matrix");
    let _ = std::fs::remove_dir_all(&out);
    let started = Instant::now();
    let run = netcase::fork::output(
        kernels_command()
            .args(["--kernel", &kernel, FAST, "--family", "v4", "--out"])
            .arg(&out),
    )
    .expect("the netcase binary runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    eprintln!(
        "{stdout}\n{stderr}\nwall time {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(run.status.success(), "{stdout}\n{stderr}");

    let comparison: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap())
            .unwrap();
    let kernels = comparison["kernels"].as_array().unwrap();
    assert_eq!(kernels.len(), 2, "this kernel and the guest: {comparison}");
    assert_eq!(kernels[0]["emulation"], "host");
    let guest = &kernels[1];
    assert!(
        ["kvm", "tcg"].contains(&guest["emulation"].as_str().unwrap()),
        "{guest}"
    );
    assert!(guest["broken"].is_null(), "{guest}");
    assert!(
        guest["boot_to_first_case_s"].as_f64().unwrap() > 0.0,
        "{guest}"
    );
    let row = &comparison["rows"][0];
    assert_eq!(row["case"], FAST);
    assert_eq!(row["cells"][1]["verdict"], "pass", "{row}");

    // The guest's bundle is the same as `netcase run` leaves, with the guest's kernel in it.
    let release = guest["name"].as_str().unwrap();
    let bundle = out
        .join(release)
        .join("socket_addresses.seen_by_both_ends.v4");
    for file in [
        "result.json",
        "README.md",
        "timeline.txt",
        "ladder.svg",
        "client-eth0.pcap",
    ] {
        assert!(
            bundle.join(file).is_file(),
            "{} has no {file}",
            bundle.display()
        );
    }
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("result.json")).unwrap())
            .unwrap();
    assert_eq!(result["kernel"]["release"], release);
    assert_ne!(result["kernel"]["hz"].as_str().unwrap_or(""), "");
    for file in ["summary.json", "junit.xml", "index.html", "console.log"] {
        assert!(out.join(release).join(file).is_file(), "no {file}");
    }
    assert!(out.join("comparison.html").is_file());
}

/// Whether apt knows `package` (a package name, not a path).
fn apt_has(package: &str) -> bool {
    package.starts_with("linux-image-")
        && netcase::fork::output(Command::new("apt-cache").args([
            "show",
            "--no-all-versions",
            package,
        ]))
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// Where `netcase kernels` is stopped.
#[derive(Debug, Clone, Copy)]
enum During {
    /// While this kernel's `netcase run` runs its case (a 16 s one).
    ThisKernel,
    /// Once the guest has started its case (a 4 s one that prints nothing meanwhile, so that a
    /// qemu left behind is not ended by writing to a closed console), `--no-host`.
    Guest,
}

/// One process: its pid, its start time (clock ticks since boot: tells it from a later process
/// with the same pid) and its command line.
#[derive(Debug, Clone, PartialEq)]
struct Proc {
    pid: u32,
    start: u64,
    cmdline: String,
}

/// Field `n` (1-based, as proc(5) counts) of /proc/PID/stat, and the state (field 3).
fn stat_field(pid: u32, n: usize) -> Option<(String, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some((after.first()?.to_string(), after.get(n - 3)?.to_string()))
}

/// Whether `p` still runs (a zombie waiting to be reaped does not).
fn alive(p: &Proc) -> bool {
    stat_field(p.pid, 22).is_some_and(|(state, start)| state != "Z" && start == p.start.to_string())
}

/// Every live descendant of `root`, found through /proc's parent links.
fn descendants(root: u32) -> Vec<Proc> {
    let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat_field(pid, 4)?.1.parse().ok()?)))
        .collect();
    let mut found = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid) in &all {
            if found.contains(ppid) && !found.contains(pid) {
                found.push(*pid);
                grew = true;
            }
        }
    }
    found
        .into_iter()
        .skip(1)
        .filter_map(|pid| {
            let start = stat_field(pid, 22)?.1.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            Some(Proc {
                pid,
                start,
                cmdline,
            })
        })
        .filter(alive)
        .collect()
}

/// Starts `netcase kernels` (in a process group of its own, as a shell starts a job), stops it
/// with `signal` at the moment `during` names, and checks that none of its processes outlives it
/// by more than 2 s, that a stopped matrix exits 128 + the signal within seconds, and that its
/// directory says how it ended.
/// Its files go to `base/<during>-<signal>`.
fn stop_the_matrix(kernel: &str, base: &Path, during: During, signal: i32) {
    let name = match signal {
        libc::SIGKILL => "sigkill",
        libc::SIGTERM => "sigterm",
        _ => "sigint",
    };
    let out = base.join(format!("{during:?}-{name}"));
    let _ = std::fs::remove_dir_all(&out);
    let mut command = kernels_command();
    command
        .args(["--kernel", kernel, "--accel", "tcg", "--family", "v4"])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .process_group(0);
    match during {
        // 16 s of timers: it is still running when the signal comes.
        During::ThisKernel => command.arg("silent_drops::syn_retries_3_exponential"),
        During::Guest => command.args(["backlog::completions_per_backlog", "--no-host"]),
    };
    let mut child = netcase::fork::spawn(&mut command).expect("netcase kernels starts");
    let pid = child.id();
    let (lines, said) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });

    // The moment: this kernel's `netcase run` running, or the guest's case, with qemu.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut announced = false;
    let ours = loop {
        assert!(
            Instant::now() < deadline,
            "{during:?}: the moment never came; {:?}",
            child.try_wait()
        );
        while let Ok(line) = said.try_recv() {
            announced |= line.starts_with("this kernel: netcase run");
        }
        let ours = descendants(pid);
        let ready = match during {
            // (With its run.json: it catches signals from before it writes it.)
            During::ThisKernel => {
                announced
                    && ours
                        .iter()
                        .any(|p| p.cmdline.contains(" run silent_drops::"))
                    && out.join("this-kernel/run.json").is_file()
            }
            During::Guest => {
                ours.iter()
                    .any(|p| p.cmdline.starts_with("qemu-system-x86_64"))
                    && console_logs(&out)
                        .iter()
                        .any(|log| log.contains("\nstart backlog::"))
            }
        };
        if ready {
            break ours;
        }
        // A poll of another process's progress, with the deadline above.
        std::thread::sleep(Duration::from_millis(20));
    };

    let sent = Instant::now();
    let target = if signal == libc::SIGINT {
        // Ctrl-C in a terminal: the whole foreground process group.
        -(pid as i32)
    } else {
        pid as i32
    };
    // SAFETY: kill with the pid (or process group) of the child this test started.
    assert_eq!(unsafe { libc::kill(target, signal) }, 0);
    let status = child.wait().expect("netcase kernels ends");
    let took = sent.elapsed();
    let stdout = reader.join().unwrap();
    let what = format!("{during:?}, {name}: {status:?} after {took:?}\n{stdout}");
    eprintln!("{what}");
    match signal {
        libc::SIGKILL => assert_eq!(status.signal(), Some(libc::SIGKILL), "{what}"),
        _ => {
            assert_eq!(status.code(), Some(128 + signal), "{what}");
            assert!(took < Duration::from_secs(10), "{what}");
        }
    }

    // Nothing of it outlives it by more than 2 s.
    let gone_by = Instant::now() + Duration::from_secs(2);
    while ours.iter().any(alive) && Instant::now() < gone_by {
        // A poll of the processes' ends, with the 2 s deadline above.
        std::thread::sleep(Duration::from_millis(10));
    }
    let left: Vec<&Proc> = ours.iter().filter(|p| alive(p)).collect();
    assert!(left.is_empty(), "{what}\nstill running 2 s later: {left:?}");

    // The directory says how the matrix ended.
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let show = netcase::fork::output(
        Command::new(env!("CARGO_BIN_EXE_netcase"))
            .arg("show")
            .arg(&out),
    )
    .unwrap();
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success(), "{shown}");
    if signal == libc::SIGKILL {
        assert_eq!(run["state"], "running", "{run}");
        assert!(
            shown.starts_with("interrupted: ") && shown.contains("killed?"),
            "{shown}"
        );
        return;
    }
    let why = if signal == libc::SIGTERM {
        "SIGTERM"
    } else {
        "Ctrl-C (SIGINT)"
    };
    assert_eq!(run["state"], "interrupted", "{run}");
    assert_eq!(run["why"], why, "{run}");
    assert!(shown.contains(&format!("stopped by {why}")), "{shown}");
    let comparison: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap())
            .unwrap();
    assert_eq!(comparison["stopped"], why, "{comparison}");
    let column = &comparison["kernels"][0];
    assert_eq!(
        column["broken"],
        format!("stopped by {why}"),
        "{comparison}"
    );
    let part = match during {
        During::ThisKernel => "this-kernel".to_owned(),
        During::Guest => column["name"].as_str().unwrap().to_owned(),
    };
    // This kernel's run wrote its own partial results; a guest's are written for it.
    let part_run: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(&part).join("run.json")).unwrap())
            .unwrap();
    assert_eq!(part_run["state"], "interrupted", "{part_run}");
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(&part).join("summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["interrupted"], 1, "{summary}");
}

/// The console logs of the guests under `out`.
fn console_logs(out: &Path) -> Vec<String> {
    std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("console.log"))
        .filter_map(|p: PathBuf| std::fs::read_to_string(p).ok())
        .collect()
}

/// SIGKILL, SIGTERM and Ctrl-C while this kernel's `netcase run` runs: the child run dies with
/// the matrix, or gets the signal and writes its partial results first.
fn stopping_the_matrix_during_this_kernels_part_leaves_nothing() {
    require_privileges!();
    require_program!("busybox", "busybox-static");
    let Some(kernel) = test_kernel() else { return };
    let base = netcase::capture::output_dir();
    std::thread::scope(|scope| {
        for signal in [libc::SIGKILL, libc::SIGTERM, libc::SIGINT] {
            let (kernel, base) = (&kernel, &base);
            scope.spawn(move || stop_the_matrix(kernel, base, During::ThisKernel, signal));
        }
    });
}

/// SIGKILL, SIGTERM and Ctrl-C while a guest runs its case: qemu dies with the matrix, or is
/// killed by it, and the guest's column says it was stopped.
fn stopping_the_matrix_during_a_guest_leaves_nothing() {
    require_privileges!();
    require_program!("qemu-system-x86_64", "qemu-system-x86");
    require_program!("busybox", "busybox-static");
    require_program!("xz", "xz-utils");
    let Some(kernel) = test_kernel() else { return };
    let base = netcase::capture::output_dir();
    std::thread::scope(|scope| {
        for signal in [libc::SIGKILL, libc::SIGTERM, libc::SIGINT] {
            let (kernel, base) = (&kernel, &base);
            scope.spawn(move || stop_the_matrix(kernel, base, During::Guest, signal));
        }
    });
}
