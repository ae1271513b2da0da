//! One boot of a kernel under qemu: its console read line by line, with deadlines, and qemu
//! stopped (by the PID this process started) however the boot ends: killed at its deadline, at
//! once on Ctrl-C or SIGTERM ([`crate::stop`]), and by its parent-death signal if this process
//! dies ([`crate::fork`]).

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use super::serial::{self, Finished, Parser, StreamError, Timing};

/// How qemu runs the guest's instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation (/dev/kvm).
    Kvm,
    /// Software emulation (TCG): slower, works everywhere.
    Tcg,
}

impl Accel {
    /// Its qemu name.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Whether /dev/kvm can be opened for reading and writing (KVM may still fail to boot a
/// kernel: the caller falls back to TCG when the guest does not reach its /init).
pub fn kvm_openable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// One boot.
pub struct Boot<'a> {
    /// The kernel image.
    pub vmlinuz: &'a Path,
    /// The initramfs.
    pub initrd: &'a Path,
    /// The nonce of the result protocol.
    pub nonce: &'a str,
    /// The accelerator.
    pub accel: Accel,
    /// Guest memory, in MiB.
    pub memory_mib: u32,
    /// Guest CPUs.
    pub cpus: u32,
    /// How long the guest has to reach its /init's `begin`, from qemu's start.
    pub boot_deadline: Duration,
    /// How long the whole boot may take, from qemu's start.
    pub deadline: Duration,
    /// Where the console goes (protocol data lines left out).
    pub console_log: &'a Path,
}

/// How a boot went.
pub struct Booted {
    /// Its verdict.
    pub outcome: Result<Finished, StreamError>,
    /// When its milestones came.
    pub timing: Timing,
    /// How long qemu ran.
    pub wall: Duration,
}

/// The qemu program for x86-64 guests.
pub const QEMU: &str = "qemu-system-x86_64";

/// Boots `boot` and reads its console to the end of the result stream or a deadline.
pub fn boot(boot: &Boot) -> Result<Booted, String> {
    // netcase.emulation tells the cases inside that the guest's clock is emulated (under TCG),
    // so that their timing rules allow for it (`netcase::kernel::Clock`).
    let emulation = match boot.accel {
        Accel::Tcg => " netcase.emulation=tcg",
        Accel::Kvm => "",
    };
    // no_timer_check: at boot an x86 kernel busy-waits ten ticks and panics ("IO-APIC + timer
    // doesn't work!") unless more than four timer interrupts came meanwhile
    // (arch/x86/kernel/apic/io_apic.c, timer_irq_works); an emulated CPU on a loaded host can
    // miss that window (seen with three guests on two cores during the test suite). The timer
    // works; the cases' own timing checks show it.
    let append = format!(
        "console=ttyS0 panic=-1 loglevel=1 quiet mitigations=off no_timer_check \
         netcase.nonce={}{emulation}",
        boot.nonce
    );
    let mut command = Command::new(QEMU);
    command
        .arg("-kernel")
        .arg(boot.vmlinuz)
        .arg("-initrd")
        .arg(boot.initrd)
        .args(["-append", &append])
        .args([
            "-nographic",
            "-no-reboot",
            "-nodefaults",
            "-serial",
            "stdio",
        ])
        .args(["-m", &boot.memory_mib.to_string()])
        .args(["-smp", &boot.cpus.to_string()])
        .args(["-accel", boot.accel.name()]);
    if boot.accel == Accel::Tcg {
        command.args(["-cpu", "max"]);
    }
    // The guest at the lowest CPU priority: under emulation its timing means nothing, and it must
    // not take the CPUs from cases that measure this kernel's timers meanwhile (this kernel's
    // column of the matrix, or a test suite around it). Idle CPUs still run it at full speed.
    // (`netcase::fork::spawn` adds the parent-death signal after it.)
    // SAFETY: the closure runs in the child between fork and exec and makes one system call,
    // setpriority, which is async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::setpriority(libc::PRIO_PROCESS, 0, 19) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = crate::fork::spawn(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .map_err(|e| format!("starting {QEMU}: {e} (apt-get install qemu-system-x86)"))?;
    // Killed at once on a stop: the readers then see the console close, and the boot ends.
    let registered = match crate::stop::register(&child, crate::stop::How::Kill) {
        Ok(r) => r,
        Err(e) => {
            stop(&mut child, Duration::ZERO);
            return Err(format!("watching {QEMU} (pidfd_open): {e}"));
        }
    };
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let readers = [
        spawn_reader(Box::new(stdout), tx.clone()),
        spawn_reader(Box::new(stderr), tx),
    ];
    let mut log = std::fs::File::create(boot.console_log)
        .map_err(|e| format!("creating {}: {e}", boot.console_log.display()))?;
    let _ = writeln!(
        log,
        "# {QEMU} -accel {} -append {append}",
        boot.accel.name()
    );
    let mut parser = Parser::new(boot.nonce);
    let (outcome, timing) = serial::collect(
        &rx,
        &mut parser,
        started,
        boot.boot_deadline,
        boot.deadline,
        &mut log,
    );
    // After its end marker the guest powers off at once; give it a moment, then stop it.
    let grace = if outcome.is_ok() {
        Duration::from_secs(10)
    } else {
        Duration::ZERO
    };
    stop(&mut child, grace);
    drop(registered);
    let wall = started.elapsed();
    drop(rx);
    for reader in readers {
        let _ = reader.join();
    }
    Ok(Booted {
        outcome,
        timing,
        wall,
    })
}

/// Waits up to `grace` for qemu to exit, then kills it (SIGKILL to the PID it was started with)
/// and reaps it.
fn stop(child: &mut Child, grace: Duration) {
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        // A poll of the process, not a wait for the kernel: std has no wait with a timeout.
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn spawn_reader(
    stream: Box<dyn std::io::Read + Send>,
    lines: mpsc::Sender<String>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\r', '\n']).to_owned();
                    if lines.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// A fresh nonce: 16 hex digits from the clock and the process id.
pub fn nonce() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = now.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32);
    format!("{:016x}", serial::fnv1a(&seed.to_le_bytes()))
}

/// Where the memo of a KVM that does not boot stock kernels is kept, by host kernel release.
pub fn kvm_memo(cache: &Path) -> PathBuf {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    cache.join(format!("kvm-does-not-boot-on-{release}"))
}
