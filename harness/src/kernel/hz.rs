//! The kernel's timer frequency (HZ): from its build configuration, or measured.

use std::{
    fmt,
    io::Read,
    path::PathBuf,
    sync::OnceLock,
    time::{Duration, Instant},
};

use crate::error::{Error, Result};

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

/// The running kernel's release, as `uname -r` prints it.
pub(crate) fn kernel_release() -> Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .map_err(|e| Error::io("reading /proc/sys/kernel/osrelease", e))
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
