//! The kernel's counters of one host: /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6.
//!
//! Every counter is named `Group.Name`, the group being the file's line prefix (`TcpExt`, `IpExt`,
//! `Tcp`, `Ip`, `Udp`, ...) or, for snmp6, the prefix of the name (`Ip6`, `Icmp6`, `Udp6`,
//! `UdpLite6`). A lookup also takes the bare name when only one group has it
//! (`ListenOverflows`) and nstat's form (`TcpExtListenOverflows`).

use std::{fmt, fs::File, io::Read, time::Instant};

use crate::error::{Error, Result};

/// The files read, below /proc/thread-self/net, and whether a host may lack them.
const FILES: [(&str, bool); 3] = [("netstat", false), ("snmp", false), ("snmp6", true)];

/// The prefixes of /proc/net/snmp6 names, longest first where one begins another.
const SNMP6_GROUPS: [&str; 4] = ["UdpLite6", "Icmp6", "Udp6", "Ip6"];

/// A snapshot of every counter of one host.
#[derive(Clone)]
pub struct Counters {
    host: String,
    taken: Instant,
    /// `Group.Name` and value, in the files' order.
    entries: Vec<(String, i64)>,
    /// Where the name part of each entry starts (after the dot).
    dots: Vec<u8>,
}

impl Counters {
    /// The host the counters were read on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// When they were read.
    pub fn taken(&self) -> Instant {
        self.taken
    }

    /// The value of the counter `name` (`TcpExt.ListenOverflows`, `ListenOverflows` or
    /// `TcpExtListenOverflows`), or an error naming close matches.
    ///
    /// Most are event counts; a few are gauges (`Tcp.CurrEstab`) or constants (`Tcp.MaxConn` is
    /// -1).
    pub fn get(&self, name: &str) -> Result<i64> {
        self.index(name).map(|i| self.entries[i].1)
    }

    /// Every counter as `(Group.Name, value)`, in the kernel's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// The counters of `group` (for example `TcpExt`) as `(Name, value)`.
    pub fn group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        self.entries
            .iter()
            .zip(&self.dots)
            .filter(move |((n, _), dot)| &n[..usize::from(**dot)] == group)
            .map(|((n, v), dot)| (&n[usize::from(*dot) + 1..], *v))
    }

    /// How many counters.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none (never, on a kernel with TCP).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What changed from `before` to `after`: see [`Delta`]. Both must come from one host.
    pub fn delta(before: &Counters, after: &Counters) -> Result<Delta> {
        if before.host != after.host {
            return Err(Error::MismatchedSnapshots {
                what: "counters".to_owned(),
                before: before.host.clone(),
                after: after.host.clone(),
            });
        }
        let mut changes = Vec::new();
        let aligned = before.entries.len() == after.entries.len();
        for (i, (name, value)) in after.entries.iter().enumerate() {
            let old = match before.entries.get(i) {
                Some((n, v)) if aligned && n == name => *v,
                _ => before
                    .entries
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0, |(_, v)| *v),
            };
            if *value != old {
                changes.push((i, value.wrapping_sub(old)));
            }
        }
        Ok(Delta {
            after: after.clone(),
            changes,
        })
    }

    /// What changed since `before`: `Counters::delta(before, self)`.
    pub fn since(&self, before: &Counters) -> Result<Delta> {
        Counters::delta(before, self)
    }

    fn index(&self, name: &str) -> Result<usize> {
        if let Some(i) = self.entries.iter().position(|(n, _)| n == name) {
            return Ok(i);
        }
        let bare: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.name_part(i) == name)
            .collect();
        match bare.as_slice() {
            [i] => return Ok(*i),
            [] => {}
            many => {
                let names: Vec<&str> = many.iter().map(|&i| self.entries[i].0.as_str()).collect();
                return Err(self.unknown(
                    name,
                    format!(
                        "several groups have it: say which, one of {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        if let Some(i) = (0..self.entries.len()).find(|&i| {
            let (full, dot) = (&self.entries[i].0, usize::from(self.dots[i]));
            name.len() + 1 == full.len()
                && name.starts_with(&full[..dot])
                && name[dot..] == full[dot + 1..]
        }) {
            return Ok(i);
        }
        let close = self.close_to(name);
        let hint = if close.is_empty() {
            String::new()
        } else {
            format!("did you mean {}? ", close.join(", "))
        };
        Err(self.unknown(
            name,
            format!(
                "{hint}counters are named Group.Name as in /proc/net/netstat, /proc/net/snmp \
                 and /proc/net/snmp6, for example TcpExt.ListenOverflows, Tcp.OutRsts, \
                 Ip6.InReceives; this host has {} of them",
                self.entries.len()
            ),
        ))
    }

    fn name_part(&self, i: usize) -> &str {
        &self.entries[i].0[usize::from(self.dots[i]) + 1..]
    }

    fn unknown(&self, name: &str, why: String) -> Error {
        Error::UnknownCounter {
            host: self.host.clone(),
            name: name.to_owned(),
            why,
        }
    }

    /// Up to five names within a small edit distance of `name`, closest first.
    fn close_to(&self, name: &str) -> Vec<&str> {
        let wanted = name.to_ascii_lowercase();
        let bare = wanted.rsplit('.').next().unwrap_or(&wanted).to_owned();
        let mut scored: Vec<(usize, &str)> = (0..self.entries.len())
            .filter_map(|i| {
                let full = self.entries[i].0.as_str();
                let d = distance(&wanted, &full.to_ascii_lowercase())
                    .min(distance(&bare, &self.name_part(i).to_ascii_lowercase()));
                (d <= (bare.len() / 4).max(2)).then_some((d, full))
            })
            .collect();
        scored.sort();
        scored.into_iter().take(5).map(|(_, n)| n).collect()
    }
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} counters of host {}", self.entries.len(), self.host)?;
        let nonzero: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        write!(f, " (non-zero: {})", nonzero.join(" "))
    }
}

/// The counters that changed between two snapshots of one host, and by how much.
#[derive(Clone)]
pub struct Delta {
    after: Counters,
    /// Index into `after.entries` and the change.
    changes: Vec<(usize, i64)>,
}

impl Delta {
    /// The host.
    pub fn host(&self) -> &str {
        &self.after.host
    }

    /// The change of counter `name` (0 when it did not change), or an error when no counter has
    /// that name.
    pub fn get(&self, name: &str) -> Result<i64> {
        let i = self.after.index(name)?;
        Ok(self
            .changes
            .iter()
            .find(|(j, _)| *j == i)
            .map_or(0, |(_, d)| *d))
    }

    /// Only the counters that changed, as `(Group.Name, change)`, in the kernel's order.
    pub fn changes(&self) -> impl Iterator<Item = (&str, i64)> {
        self.changes
            .iter()
            .map(|(i, d)| (self.after.entries[*i].0.as_str(), *d))
    }

    /// The changed counters of `group` (for example `Tcp`), as `(Name, change)`.
    pub fn group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        self.changes.iter().filter_map(move |(i, d)| {
            let dot = usize::from(self.after.dots[*i]);
            let full = &self.after.entries[*i].0;
            (&full[..dot] == group).then(|| (&full[dot + 1..], *d))
        })
    }

    /// How many counters changed.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Checks that each named counter moved by exactly its amount (0 for "did not move"); the
    /// error lists every counter that did not, and everything that changed.
    ///
    /// ```no_run
    /// # fn demo(delta: netcase::observe::Delta) -> netcase::Result<()> {
    /// delta.moved([("TcpExt.TCPAbortOnData", 1), ("Tcp.OutRsts", 1), ("Tcp.EstabResets", 1)])?;
    /// # Ok(()) }
    /// ```
    pub fn moved<'a>(&self, expected: impl IntoIterator<Item = (&'a str, i64)>) -> Result<()> {
        let mut wrong = Vec::new();
        for (name, by) in expected {
            let got = self.get(name)?;
            if got != by {
                wrong.push(format!("{name} moved by {got}, not {by}"));
            }
        }
        self.verdict(wrong)
    }

    /// Checks [`Delta::moved`], and that no other counter of `group` (`Tcp`, `TcpExt`) moved.
    pub fn moved_only<'a>(
        &self,
        group: &str,
        expected: impl IntoIterator<Item = (&'a str, i64)> + Clone,
    ) -> Result<()> {
        let mut wrong = Vec::new();
        let named: Vec<usize> = expected
            .clone()
            .into_iter()
            .map(|(name, _)| self.after.index(name))
            .collect::<Result<_>>()?;
        for (i, d) in &self.changes {
            let dot = usize::from(self.after.dots[*i]);
            let full = &self.after.entries[*i].0;
            if &full[..dot] == group && !named.contains(i) {
                wrong.push(format!("{full} moved by {d}, not 0"));
            }
        }
        for (name, by) in expected {
            let got = self.get(name)?;
            if got != by {
                wrong.push(format!("{name} moved by {got}, not {by}"));
            }
        }
        self.verdict(wrong)
    }

    fn verdict(&self, wrong: Vec<String>) -> Result<()> {
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(Error::Counters {
                host: self.after.host.clone(),
                wrong: wrong.join("; "),
                changed: self.to_string(),
            })
        }
    }
}

impl fmt::Display for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return write!(f, "no counter changed on host {}", self.after.host);
        }
        write!(f, "on host {}:", self.after.host)?;
        for (name, d) in self.changes() {
            write!(f, " {name} {d:+}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Reads the counters of the calling thread's network namespace.
pub(crate) fn read(host: &str) -> Result<Counters> {
    let taken = Instant::now();
    let mut text = String::with_capacity(12 << 10);
    let mut counters = Counters {
        host: host.to_owned(),
        taken,
        entries: Vec::with_capacity(400),
        dots: Vec::with_capacity(400),
    };
    for (file, optional) in FILES {
        let path = format!("/proc/thread-self/net/{file}");
        text.clear();
        match File::open(&path).and_then(|mut f| f.read_to_string(&mut text)) {
            Ok(_) => {}
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("reading {path} on host {host}"), e)),
        }
        let parsed = if file == "snmp6" {
            parse_snmp6(&text, &mut counters)
        } else {
            parse_paired(&text, &mut counters)
        };
        parsed.map_err(|why| {
            Error::io(
                format!("parsing {path} on host {host}"),
                std::io::Error::other(why),
            )
        })?;
    }
    Ok(counters)
}

fn push(c: &mut Counters, group: &str, name: &str, value: &str) -> Result<(), String> {
    let value = value
        .parse::<i64>()
        .or_else(|_| value.parse::<u64>().map(|v| v as i64))
        .map_err(|_| format!("counter {group}.{name} has the value {value:?}"))?;
    let mut full = String::with_capacity(group.len() + 1 + name.len());
    full.push_str(group);
    full.push('.');
    full.push_str(name);
    c.entries.push((full, value));
    c.dots.push(group.len() as u8);
    Ok(())
}

/// Parses netstat/snmp: for each group, a line of names and a line of values, both prefixed
/// `Group:`.
fn parse_paired(text: &str, c: &mut Counters) -> Result<(), String> {
    let mut lines = text.lines();
    while let Some(names) = lines.next() {
        let values = lines
            .next()
            .ok_or_else(|| format!("a line of names without values: {names:?}"))?;
        let (group, names) = names
            .split_once(':')
            .ok_or_else(|| format!("no group in {names:?}"))?;
        let (group2, values) = values
            .split_once(':')
            .ok_or_else(|| format!("no group in {values:?}"))?;
        if group != group2 || group.len() > usize::from(u8::MAX) {
            return Err(format!("names of {group} followed by values of {group2}"));
        }
        let (mut names, mut values) = (names.split_whitespace(), values.split_whitespace());
        loop {
            match (names.next(), values.next()) {
                (Some(n), Some(v)) => push(c, group, n, v)?,
                (None, None) => break,
                _ => return Err(format!("{group} has as many names as values")),
            }
        }
    }
    Ok(())
}

/// Parses snmp6: one `Name value` per line, the group being the name's prefix.
fn parse_snmp6(text: &str, c: &mut Counters) -> Result<(), String> {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let group = SNMP6_GROUPS
            .iter()
            .find(|g| name.len() > g.len() && name.starts_with(*g))
            .copied()
            .unwrap_or("Ip6");
        let rest = name.strip_prefix(group).unwrap_or(name);
        push(c, group, rest, value)?;
    }
    Ok(())
}

/// The Levenshtein distance between two ASCII strings.
fn distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(host: &str, overflows: i64, rsts: i64) -> Counters {
        let mut c = Counters {
            host: host.to_owned(),
            taken: Instant::now(),
            entries: Vec::new(),
            dots: Vec::new(),
        };
        let paired = format!(
            "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 {overflows} 3\n\
             Tcp: RtoAlgorithm MaxConn OutRsts InErrs\nTcp: 1 -1 {rsts} 0\n\
             Udp: InDatagrams InErrors\nUdp: 5 0\nIcmp: InMsgs InErrors\nIcmp: 1 0\n"
        );
        parse_paired(&paired, &mut c).unwrap();
        parse_snmp6(
            "Ip6InReceives                   \t12\nIcmp6InType133 2\nUdpLite6InErrors 0\n",
            &mut c,
        )
        .unwrap();
        c
    }

    #[test]
    fn names_are_group_dot_name() {
        let c = sample("h", 2, 7);
        assert_eq!(c.get("TcpExt.ListenOverflows").unwrap(), 2);
        assert_eq!(c.get("ListenOverflows").unwrap(), 2);
        assert_eq!(c.get("TcpExtListenOverflows").unwrap(), 2);
        assert_eq!(c.get("Tcp.MaxConn").unwrap(), -1);
        assert_eq!(c.get("Ip6.InReceives").unwrap(), 12);
        assert_eq!(c.get("Ip6InReceives").unwrap(), 12);
        assert_eq!(c.get("Icmp6.InType133").unwrap(), 2);
        assert_eq!(c.get("UdpLite6.InErrors").unwrap(), 0);
        assert_eq!(c.group("Tcp").count(), 4);
    }

    #[test]
    fn unknown_and_ambiguous_names_say_what_to_use() {
        let c = sample("server", 0, 0);
        let err = c.get("TcpExt.ListenOverflow").unwrap_err().to_string();
        assert!(
            err.contains("\"TcpExt.ListenOverflow\"")
                && err.contains("host server")
                && err.contains("did you mean TcpExt.ListenOverflows"),
            "{err}"
        );
        let err = c.get("InErrors").unwrap_err().to_string();
        assert!(
            err.contains("Udp.InErrors") && err.contains("Icmp.InErrors"),
            "{err}"
        );
    }

    #[test]
    fn a_delta_names_only_what_changed() {
        let (before, after) = (sample("h", 2, 7), sample("h", 5, 7));
        let d = Counters::delta(&before, &after).unwrap();
        assert_eq!(
            d.changes().collect::<Vec<_>>(),
            [("TcpExt.ListenOverflows", 3)]
        );
        assert_eq!(d.get("OutRsts").unwrap(), 0);
        assert!(d.get("NoSuchCounter").is_err());
        assert_eq!(d.to_string(), "on host h: TcpExt.ListenOverflows +3");
        assert!(Counters::delta(&before, &sample("other", 0, 0)).is_err());
    }

    #[test]
    fn malformed_files_are_refused() {
        let mut c = sample("h", 0, 0);
        assert!(parse_paired("Tcp: A B\nTcp: 1\n", &mut c).is_err());
        assert!(parse_paired("Tcp: A\nUdp: 1\n", &mut c).is_err());
        assert!(parse_paired("Tcp: A\n", &mut c).is_err());
    }

    #[test]
    fn edit_distance() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }
}
