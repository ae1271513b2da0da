//! What the running kernel is and has, so that a test expects what *this* kernel does: its
//! release and version, its HZ, whether its clock is emulated, and which sysctls a test host's
//! namespace has.
//!
//! Found once per process ([`kernel`]): the sysctls are listed in a fresh network namespace of
//! their own, since a namespace does not show every sysctl the root namespace has (on 6.1,
//! `net.core.rmem_default` is global and absent from every other namespace).
//!
//! A missing sysctl is a fact about the kernel, not an error: [`crate::network::sysctl::Sysctl`] declares
//! in which version a knob came and how the kernel behaved before it, and [`crate::Host::set`]
//! and [`crate::Host::get`] follow that.

use std::{collections::BTreeSet, path::Path, sync::OnceLock, time::Duration};

use crate::{
    error::{Error, Result},
    network::sysctl::Sysctl,
    rules,
};

mod chain;
mod hz;
mod timers;
pub(crate) mod version;

pub(crate) use hz::kernel_release;
pub use hz::{Hz, HzSource, hz};
pub use version::Version;

/// The oldest kernel the suite's cases are written for and tried on (Debian 12's 6.1). On an
/// older kernel netcase still runs, and says once that its cases may fail for reasons of their
/// own rather than of the kernel.
pub const OLDEST_SUPPORTED: Version = Version {
    major: 6,
    minor: 1,
    patch: 0,
};

/// How the kernel's clock runs against real time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clock {
    /// On hardware, or hardware virtualisation (KVM): timers and timestamps follow real time.
    Real,
    /// Emulated (qemu's TCG, named on the kernel command line as `netcase.emulation=tcg` by
    /// `netcase kernels`, or `NETCASE_EMULATION=tcg` in the environment): every instruction is
    /// interpreted, a vCPU thread may wait milliseconds for the host's CPU, and so a timestamp
    /// may be taken that much after the event it marks.
    Emulated(String),
}

/// The running kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// As `uname -r` prints it.
    pub release: String,
    /// The leading numbers of the release.
    pub version: Version,
    /// Its timer frequency.
    pub hz: Hz,
    /// Whether its clock is emulated.
    pub clock: Clock,
    /// Paths below /proc/sys (`net/ipv4/tcp_syn_linear_timeouts`) that a fresh network
    /// namespace has.
    sysctls: BTreeSet<String>,
}

/// [`Kernel::fresh_listener_looks_flooded`] `ticks` jiffies after boot at `hz`.
fn flooded_at(ticks: i64, hz: i64) -> Option<bool> {
    // jiffies from their wrap, as the kernel's 32-bit comparisons see them.
    let jiffies = i64::from((ticks - 300 * hz) as u32 as i32);
    let (from, to) = (-hz, 120 * hz);
    if (jiffies - from).abs() <= hz || (jiffies - to).abs() <= hz {
        return None;
    }
    Some((from..=to).contains(&jiffies))
}

/// How far from a timer's nominal expiry its effect may be observed: both edges, each with its
/// cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slack {
    /// How much earlier than nominal.
    pub early: Duration,
    /// How much later than nominal.
    pub late: Duration,
}

impl Slack {
    /// Whether `seen` lies within this slack of `nominal`.
    pub fn admits(&self, nominal: Duration, seen: Duration) -> bool {
        seen + self.early >= nominal && seen <= nominal + self.late
    }

    /// The window as text, for messages: `1s (early by at most 4ms, late by at most 56ms)`.
    pub fn describe(&self, nominal: Duration) -> String {
        format!(
            "{nominal:?} (early by at most {:?}, late by at most {:?})",
            self.early, self.late
        )
    }
}

/// How late the scheduler may run a timer's softirq, or wake the thread that observes its effect,
/// on a loaded two-core machine running the suite in parallel, beyond the timer wheel's own
/// rounding.
pub const SCHEDULING: Duration = Duration::from_millis(20);

/// Under emulation, how much later than the event it marks a timestamp may be taken, on either
/// side of a measured interval (so a gap can read short by as much as it can read long): a vCPU
/// thread waits for the host's CPU, and the guest's devices and timers are emulated in software.
/// Seen in the Debian guests under TCG with two guests on two host CPUs: timer gaps 3 ms short,
/// 30 ms long.
pub const EMULATION: Duration = Duration::from_millis(50);

impl Kernel {
    /// Whether a test host's namespace has the sysctl `knob`.
    pub fn has<T>(&self, knob: Sysctl<T>) -> bool {
        self.has_path(knob.path())
    }

    /// Whether a test host's namespace has /proc/sys/`path`.
    pub fn has_path(&self, path: &str) -> bool {
        self.sysctls.contains(path.trim_matches('/'))
    }

    /// The sysctls a test host's namespace has, by path below /proc/sys.
    pub fn sysctls(&self) -> impl Iterator<Item = &str> {
        self.sysctls.iter().map(String::as_str)
    }

    /// Whether this kernel is `version` or later.
    pub fn at_least(&self, version: Version) -> bool {
        self.version >= version
    }

    /// One tick of its timers.
    pub fn jiffy(&self) -> Duration {
        self.hz.jiffy()
    }

    /// Whether a listener whose SYN queue never overflowed counts now as one that overflowed
    /// moments ago, so that an ACK reaching it is checked as a SYN cookie (`TcpExt.
    /// SyncookiesFailed` +1, then the usual reset); `None` within a second of the window's edges.
    ///
    /// `tcp_synq_no_recent_overflow` takes a listener as flooded while jiffies lie between its
    /// last overflow stamp (0 for one that never overflowed) less a second and that stamp plus
    /// `TCP_SYNCOOKIE_VALID` (2 minutes), in 32 bits; jiffies start 300 s before they wrap
    /// (`INITIAL_JIFFIES`). So every fresh listener is "flooded" from 299 to 420 s after boot
    /// (where the matrix's guests are, a few minutes into their run) and for two minutes after
    /// every later wrap (every 2^32 jiffies: 49.7 days at HZ=1000).
    pub fn fresh_listener_looks_flooded(&self) -> Option<bool> {
        let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
        let hz = i64::from(self.hz.value);
        flooded_at(now.tv_sec() * hz + now.tv_nsec() * hz / 1_000_000_000, hz)
    }

    /// Whether its clock is emulated.
    pub fn emulated(&self) -> bool {
        matches!(self.clock, Clock::Emulated(_))
    }

    /// What emulation adds to either edge of a timing check: [`EMULATION`] where the clock is
    /// emulated, nothing elsewhere (so that a check is as tight on real hardware as the kernel
    /// allows).
    pub fn emulation(&self) -> Duration {
        if self.emulated() {
            EMULATION
        } else {
            Duration::ZERO
        }
    }

    /// Both edges of a kernel timer of `timeout`, armed when an event the test timestamps happens
    /// (a segment captured, a call returned) and observed through another such event:
    ///
    /// - early: one jiffy, because a timer counts whole ticks from the tick before it was armed
    ///   (`expires = jiffies + timeout`), so it fires up to a tick sooner than `timeout` after
    ///   the moment of arming; under emulation also [`EMULATION`], for a first timestamp taken
    ///   late.
    /// - late: the timer wheel's granularity at that timeout ([`rules::wheel_granularity`]:
    ///   `calc_index()` rounds every expiry up to it), one more jiffy for arming within a tick,
    ///   and [`SCHEDULING`] for the softirq and the observing thread; under emulation also
    ///   [`EMULATION`].
    pub fn timer_slack(&self, timeout: Duration) -> Slack {
        let emulation = self.emulation();
        Slack {
            early: self.jiffy() + emulation,
            late: rules::late_by_at_most(timeout, self.hz.value, SCHEDULING) + emulation,
        }
    }

    /// How much later than a timestamp taken on one thread an event another thread timestamps
    /// may seem to happen even when the kernel did both at once, and how much earlier: the clocks
    /// are read microseconds apart on the host ([`SCHEDULING`] late, 2 ms early), much more under
    /// emulation.
    pub fn observation_slack(&self) -> Slack {
        let emulation = self.emulation();
        Slack {
            early: Duration::from_millis(2) + emulation,
            late: SCHEDULING + emulation,
        }
    }

    /// One line about this kernel for reports: release, HZ, clock.
    pub fn describe(&self) -> String {
        let clock = match &self.clock {
            Clock::Real => String::new(),
            Clock::Emulated(how) => format!(", clock emulated ({how})"),
        };
        format!("Linux {} (HZ={}){clock}", self.release, self.hz.value)
    }

    /// When this kernel is older than [`OLDEST_SUPPORTED`], what a user should know.
    pub fn unsupported(&self) -> Option<String> {
        (self.version < OLDEST_SUPPORTED).then(|| {
            format!(
                "kernel {} is older than the oldest netcase's cases are written for ({}): a case \
                 may fail for reasons of its own, not of the kernel; your own tests are not \
                 affected",
                self.release, OLDEST_SUPPORTED
            )
        })
    }
}

/// The running kernel, found on first use (a few milliseconds) and remembered.
pub fn kernel() -> Result<&'static Kernel> {
    static FOUND: OnceLock<std::result::Result<Kernel, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| find().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|why| {
            Error::io(
                "finding the running kernel's facts",
                std::io::Error::other(why.clone()),
            )
        })
}

fn find() -> Result<Kernel> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .map_err(|e| Error::io("reading /proc/sys/kernel/osrelease", e))?;
    let version = Version::parse(&release).ok_or_else(|| {
        Error::io(
            "reading the kernel's version",
            std::io::Error::other(format!("release {release:?} does not start with a.b")),
        )
    })?;
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let clock = emulation(&cmdline, std::env::var("NETCASE_EMULATION").ok().as_deref())
        .map_or(Clock::Real, Clock::Emulated);
    // In a namespace of its own, on a thread of its own; without the privileges to make one, the
    // process's own namespace is the next best answer.
    let sysctls = std::thread::spawn(|| {
        let _ = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET);
        let mut found = BTreeSet::new();
        list(Path::new("/proc/sys"), "net", &mut found);
        found
    })
    .join()
    .unwrap_or_default();
    Ok(Kernel {
        release,
        version,
        hz: hz()?,
        clock,
        sysctls,
    })
}

/// Whether the clock is emulated: `netcase.emulation=HOW` on the kernel command line, or `how`
/// from the environment.
fn emulation(cmdline: &str, env: Option<&str>) -> Option<String> {
    env.filter(|v| !v.is_empty() && *v != "0" && *v != "no")
        .map(str::to_owned)
        .or_else(|| {
            cmdline
                .split_whitespace()
                .find_map(|w| w.strip_prefix("netcase.emulation="))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        })
}

/// Adds every file below `root`/`dir` to `found`, as paths relative to `root`. Per-device
/// directories (`conf/lo`, `neigh/lo`) are listed too: they are what a link end gets.
fn list(root: &Path, dir: &str, found: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = format!("{dir}/{}", entry.file_name().to_string_lossy());
        match entry.file_type() {
            Ok(t) if t.is_dir() => list(root, &name, found),
            Ok(_) => {
                found.insert(name);
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn fresh_listeners_look_flooded_in_the_two_minutes_after_jiffies_wrap() {
        let at = |seconds: f64, hz: i64| flooded_at((seconds * hz as f64) as i64, hz);
        for hz in [100, 250, 1000] {
            assert_eq!(at(10.0, hz), Some(false), "just booted, HZ={hz}");
            assert_eq!(at(299.5, hz), None, "at the edge");
            assert_eq!(at(350.0, hz), Some(true), "just after the wrap, HZ={hz}");
            assert_eq!(at(420.5, hz), None, "at the other edge");
            assert_eq!(at(425.0, hz), Some(false), "two minutes later");
        }
        // The next wrap, 2^32 jiffies on: 49.7 days at HZ=1000.
        let next = (1i64 << 32) + 300 * 1000;
        assert_eq!(flooded_at(next + 60 * 1000, 1000), Some(true));
    }

    /// This machine's kernel as if it ran at HZ=250 on real hardware, for timing arithmetic.
    pub(crate) fn real_at_250_hz() -> Kernel {
        let mut k = kernel().unwrap().clone();
        k.hz = Hz {
            value: 250,
            source: HzSource::Measured {
                jiffies: 0,
                over: Duration::ZERO,
            },
        };
        k.clock = Clock::Real;
        k
    }

    #[test]
    fn emulation_comes_from_the_command_line_or_the_environment() {
        assert_eq!(emulation("console=ttyS0 quiet", None), None);
        assert_eq!(
            emulation("console=ttyS0 netcase.emulation=tcg quiet", None),
            Some("tcg".to_owned())
        );
        assert_eq!(emulation("", Some("tcg")), Some("tcg".to_owned()));
        assert_eq!(emulation("", Some("0")), None);
    }

    #[test]
    fn this_kernel_lists_its_namespace_sysctls() {
        let k = kernel().unwrap();
        assert!(k.has_path("net/ipv4/tcp_syn_retries"), "{:?}", k.sysctls);
        assert!(k.has(crate::network::sysctl::TCP_SYN_RETRIES));
        assert!(!k.has_path("net/ipv4/no_such_knob"));
        assert!(k.version >= Version::new(3, 0));
    }

    #[test]
    fn timer_slack_has_both_edges() {
        let mut k = tests::real_at_250_hz();
        let s = k.timer_slack(Duration::from_secs(1));
        assert_eq!(s.early, Duration::from_millis(4));
        assert_eq!(s.late, Duration::from_millis(56));
        assert!(s.admits(Duration::from_secs(1), Duration::from_millis(997)));
        assert!(!s.admits(Duration::from_secs(1), Duration::from_millis(995)));
        assert!(!s.admits(Duration::from_secs(1), Duration::from_millis(1057)));
        k.clock = Clock::Emulated("tcg".to_owned());
        let s = k.timer_slack(Duration::from_secs(1));
        assert_eq!(s.early, Duration::from_millis(54));
    }
}
