//! A snapshot of the settings that decide a host's TCP behaviour, for reports and for computing
//! expected values: every `net.ipv4.tcp_*` sysctl, `net.core.somaxconn`,
//! `net.ipv4.ip_local_port_range`, the kernel release and the kernel's HZ.

use std::{collections::BTreeMap, fmt, time::Duration};

use crate::{
    error::{Error, Result},
    kernel::{Hz, hz, kernel_release},
    network::sysctl::{self, PortRange, Sysctl, SysctlValue},
};

/// How long a socket stays in TIME_WAIT: `TCP_TIMEWAIT_LEN` in include/net/tcp.h, fixed in the
/// kernel (no sysctl changes it).
pub const TCP_TIMEWAIT_LEN: Duration = Duration::from_secs(60);

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
