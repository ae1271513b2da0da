//! A snapshot of the settings that decide a host's TCP behaviour, for reports and for computing
//! expected values: every `net.ipv4.tcp_*` sysctl, `net.core.somaxconn`,
//! `net.ipv4.ip_local_port_range`, the kernel release and the kernel's HZ.

use std::{
    collections::BTreeMap,
    fmt,
    io::Read,
    path::PathBuf,
    sync::OnceLock,
    time::{Duration, Instant},
};

use crate::{
    error::{Error, Result},
    sysctl::{self, PortRange, Sysctl, SysctlValue},
};

/// How long a socket stays in TIME_WAIT: `TCP_TIMEWAIT_LEN` in include/net/tcp.h, fixed in the
/// kernel (no sysctl changes it).
pub const TCP_TIMEWAIT_LEN: Duration = Duration::from_secs(60);

/// The kernel's timer frequency, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hz {
    /// Ticks per second (`CONFIG_HZ`).
    pub value: u32,
    /// Where the value came from.
    pub source: HzSource,
}

/// Where [`Hz`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HzSource {
    /// `CONFIG_HZ` in the kernel's build configuration, at this path (/proc/config.gz or
    /// /boot/config-RELEASE).
    KernelConfig(PathBuf),
    /// Measured: the `jiffies` line of /proc/timer_list advanced by `jiffies` over `over`, and the
    /// rate was rounded to the nearest of the frequencies Linux offers (100, 250, 300, 1000).
    Measured {
        /// Jiffies counted.
        jiffies: u64,
        /// Wall time measured over.
        over: Duration,
    },
}

impl Hz {
    /// One tick: the granularity of every TCP timer.
    pub fn jiffy(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / u64::from(self.value.max(1)))
    }
}

impl fmt::Display for Hz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            HzSource::KernelConfig(path) => {
                write!(f, "{} (CONFIG_HZ in {})", self.value, path.display())
            }
            HzSource::Measured { jiffies, over } => {
                write!(
                    f,
                    "{} (measured: {jiffies} jiffies in {over:?})",
                    self.value
                )
            }
        }
    }
}

/// The kernel's HZ, found once per process: from the kernel's build configuration where it is
/// readable, otherwise measured from /proc/timer_list over 200 ms.
///
/// `getconf CLK_TCK` is no help: it is USER_HZ, always 100.
pub fn hz() -> Result<Hz> {
    static HZ: OnceLock<std::result::Result<Hz, String>> = OnceLock::new();
    HZ.get_or_init(find_hz)
        .clone()
        .map_err(|why| Error::io("finding the kernel's HZ", std::io::Error::other(why)))
}

fn find_hz() -> std::result::Result<Hz, String> {
    let release = kernel_release().map_err(|e| e.to_string())?;
    let boot = PathBuf::from(format!("/boot/config-{release}"));
    if let Some(value) = std::fs::read_to_string(&boot)
        .ok()
        .and_then(|t| config_hz(&t))
    {
        return Ok(Hz {
            value,
            source: HzSource::KernelConfig(boot),
        });
    }
    let proc = PathBuf::from("/proc/config.gz");
    if let Ok(file) = std::fs::File::open(&proc) {
        let mut text = String::new();
        let read = flate2::read::GzDecoder::new(file).read_to_string(&mut text);
        if let Some(value) = read.ok().and_then(|_| config_hz(&text)) {
            return Ok(Hz {
                value,
                source: HzSource::KernelConfig(proc),
            });
        }
    }
    measure_hz()
}

fn config_hz(config: &str) -> Option<u32> {
    config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_HZ="))
        .and_then(|v| v.trim().parse().ok())
}

fn jiffies_now() -> std::result::Result<u64, String> {
    let text = std::fs::read_to_string("/proc/timer_list")
        .map_err(|e| format!("no kernel config with CONFIG_HZ, and /proc/timer_list: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("jiffies: "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no jiffies line in /proc/timer_list".to_owned())
}

fn measure_hz() -> std::result::Result<Hz, String> {
    let (j0, t0) = (jiffies_now()?, Instant::now());
    std::thread::sleep(Duration::from_millis(200));
    let (j1, t1) = (jiffies_now()?, Instant::now());
    let (jiffies, over) = (j1.saturating_sub(j0), t1 - t0);
    let rate = jiffies as f64 / over.as_secs_f64();
    let value = [100u32, 250, 300, 1000]
        .into_iter()
        .min_by(|a, b| {
            (f64::from(*a) - rate)
                .abs()
                .total_cmp(&(f64::from(*b) - rate).abs())
        })
        .unwrap_or(250);
    Ok(Hz {
        value,
        source: HzSource::Measured { jiffies, over },
    })
}

fn kernel_release() -> Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .map_err(|e| Error::io("reading /proc/sys/kernel/osrelease", e))
}

/// The TCP settings of one host.
#[derive(Debug, Clone)]
pub struct Settings {
    host: String,
    /// By path below /proc/sys, for example `net/ipv4/tcp_fin_timeout`.
    sysctls: BTreeMap<String, String>,
    /// The kernel release, as `uname -r` prints it.
    pub kernel: String,
    /// The kernel's timer frequency.
    pub hz: Hz,
}

impl Settings {
    /// The host the settings were read on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Every setting, by path below /proc/sys (`net/ipv4/tcp_fin_timeout`), values trimmed.
    pub fn sysctls(&self) -> &BTreeMap<String, String> {
        &self.sysctls
    }

    /// A setting's text, by path (`net/ipv4/tcp_fin_timeout`), dotted name
    /// (`net.ipv4.tcp_fin_timeout`) or file name (`tcp_fin_timeout`).
    pub fn get(&self, name: &str) -> Result<&str> {
        let path = name.replace('.', "/");
        self.sysctls
            .get(&path)
            .or_else(|| {
                self.sysctls
                    .iter()
                    .find(|(k, _)| k.rsplit('/').next() == Some(name))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
            .ok_or_else(|| Error::UnknownSysctl {
                host: self.host.clone(),
                path: name.to_owned(),
                why: format!(
                    "not in the snapshot, which holds net/ipv4/tcp_*, net/ipv4/ip_local_port_range \
                     and net/core/somaxconn ({} settings)",
                    self.sysctls.len()
                ),
            })
    }

    /// A typed setting, for example [`sysctl::TCP_FIN_TIMEOUT`].
    pub fn value<T: SysctlValue>(&self, knob: Sysctl<T>) -> Result<T> {
        let text = self.get(knob.path())?;
        sysctl::parse(&self.host, knob, text)
    }

    /// `net.core.somaxconn`: the most a listen() backlog can be, in connections.
    pub fn somaxconn(&self) -> Result<u32> {
        self.value(sysctl::SOMAXCONN)
    }

    /// `net.ipv4.ip_local_port_range`.
    pub fn ip_local_port_range(&self) -> Result<PortRange> {
        self.value(sysctl::IP_LOCAL_PORT_RANGE)
    }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "host {}: kernel {}, HZ {}",
            self.host, self.kernel, self.hz
        )?;
        for (k, v) in &self.sysctls {
            writeln!(f, "  {} = {v}", k.replace('/', "."))?;
        }
        Ok(())
    }
}

/// Reads the settings of the calling thread's network namespace.
pub(crate) fn read(host: &str) -> Result<Settings> {
    let mut sysctls = BTreeMap::new();
    let dir = "/proc/sys/net/ipv4";
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("listing {dir} on host {host}"), e))?;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if !file.starts_with("tcp_") && file != "ip_local_port_range" {
            continue;
        }
        // Write-only files are not settings.
        if let Ok(value) = std::fs::read_to_string(entry.path()) {
            sysctls.insert(format!("net/ipv4/{file}"), value.trim().to_owned());
        }
    }
    let somaxconn = sysctl::SOMAXCONN.path();
    sysctls.insert(somaxconn.to_owned(), sysctl::read_raw(host, somaxconn)?);
    Ok(Settings {
        host: host.to_owned(),
        sysctls,
        kernel: kernel_release()?,
        hz: hz()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_config_hz() {
        assert_eq!(
            config_hz("# x\nCONFIG_HZ_250=y\nCONFIG_HZ=250\n"),
            Some(250)
        );
        assert_eq!(config_hz("CONFIG_HZ_1000=y\n"), None);
    }

    #[test]
    fn hz_of_this_kernel_is_a_linux_frequency() {
        let hz = hz().unwrap();
        assert!([100, 250, 300, 1000].contains(&hz.value), "{hz}");
        assert_eq!(
            Hz {
                value: 250,
                source: HzSource::Measured {
                    jiffies: 0,
                    over: Duration::ZERO
                }
            }
            .jiffy(),
            Duration::from_millis(4)
        );
    }
}
