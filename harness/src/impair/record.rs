//! What an impairment dropped, packet by packet, from its program's own record (`bpf.rs`): the
//! bug report draws these drops where they happened instead of inferring them from
//! retransmissions.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, SystemTime},
};

use super::{Packets, Which, bpf};
use crate::packets::decode::{Flags, Frame};

/// One packet an impairment dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// When the program dropped it (the kernel's CLOCK_MONOTONIC, put on the wall clock).
    pub at: SystemTime,
    /// The impaired direction, as `client>server (server eth0)`.
    pub link: String,
    /// Why: the setting that dropped it (`blackhole`, `loss 5% (seed 1)`, `rule: SYNs, the 1st`).
    pub why: String,
    /// The frame, its first octets as recorded and zeros up to its length on the wire.
    pub frame: Frame,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dropped at {} by {}", self.link, self.why)
    }
}

/// What each setting an impairment had dropped packets for: the program's `rules` indexes it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Setting {
    all: Option<String>,
    loss: Option<String>,
    rule: Option<String>,
}

impl Setting {
    pub(crate) fn blackhole() -> Setting {
        Setting {
            all: Some("blackhole".to_owned()),
            ..Setting::default()
        }
    }

    pub(crate) fn with_loss(&self, percent: f64, seed: u32) -> Setting {
        let loss = format!("loss {percent}% (seed {seed})");
        Setting {
            all: (percent >= 100.0).then(|| loss.clone()),
            loss: Some(loss),
            rule: self.rule.clone(),
        }
    }

    pub(crate) fn with_rule(&self, packets: Packets, which: Which) -> Setting {
        Setting {
            rule: Some(format!("rule: {packets}, {which}")),
            ..self.clone()
        }
    }

    /// What dropped a packet for reason `why` (the program's `WHY_*`).
    fn describe(&self, why: u32) -> String {
        let found = match why {
            bpf::WHY_ALL => &self.all,
            bpf::WHY_RULE => &self.rule,
            bpf::WHY_LOSS => &self.loss,
            _ => &None,
        };
        found
            .clone()
            .unwrap_or_else(|| format!("a setting since changed (reason {why})"))
    }
}

impl fmt::Display for Packets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            bpf::RULE_TRANSPORT => f.write_str("TCP and UDP packets")?,
            bpf::RULE_UDP => f.write_str("UDP datagrams")?,
            _ if self.mask == Flags::empty() => f.write_str("TCP segments")?,
            _ if self.mask == Flags::from_bits(0xff) => {
                write!(f, "TCP segments with flags {} exactly", self.value)?
            }
            _ => write!(
                f,
                "TCP segments with flags {} (looking at {})",
                self.value, self.mask
            )?,
        }
        match self.payload {
            bpf::PAYLOAD_EMPTY if self.rule == bpf::RULE_TCP => f.write_str(" without data")?,
            bpf::PAYLOAD_DATA if self.rule == bpf::RULE_TCP => f.write_str(" with data")?,
            _ => {}
        }
        match self.family {
            Some(family) => write!(f, " over {family}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Which::All => f.write_str("every one"),
            Which::EveryNth(n) => write!(f, "every {}", ordinal(*n)),
            Which::Nth(n) => write!(f, "the {} only", ordinal(*n)),
        }
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The program's records as drops: times on the wall clock, reasons in words.
pub(crate) fn drops(link: &str, records: &[bpf::Record], settings: &[Setting]) -> Vec<Dropped> {
    let (wall, mono) = (
        SystemTime::now(),
        nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
            t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
        }),
    );
    records
        .iter()
        .map(|r| {
            let mut data = r.data[..(r.len as usize).min(bpf::RECORDED)].to_vec();
            // The rest of the frame was not kept: zeros stand for its payload, so that the
            // decoder reads the headers of a frame of the length it had.
            data.resize(r.len as usize, 0);
            let at = wall - Duration::from_nanos(mono.saturating_sub(r.at_ns));
            Dropped {
                at,
                link: link.to_owned(),
                why: settings
                    .get(r.rules as usize)
                    .map_or_else(|| format!("reason {}", r.why), |s| s.describe(r.why)),
                frame: Frame {
                    at,
                    data,
                    wire_len: r.len,
                },
            }
        })
        .collect()
}

/// Drops recorded for each output directory ([`crate::capture::output_dir`]) until its bundle is
/// written or its test ends.
static KEPT: Mutex<Vec<(PathBuf, Dropped)>> = Mutex::new(Vec::new());

/// Keeps `drops` for the bundle of the test whose files go to `dir`.
pub(crate) fn keep(dir: &Path, drops: Vec<Dropped>) {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    kept.extend(drops.into_iter().map(|d| (dir.to_owned(), d)));
}

/// Takes the drops kept for `dir`, oldest first.
pub fn take(dir: &Path) -> Vec<Dropped> {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut *kept)
        .into_iter()
        .partition(|(d, _)| d == dir);
    *kept = others;
    let mut mine: Vec<Dropped> = mine.into_iter().map(|(_, d)| d).collect();
    mine.sort_by_key(|d| d.at);
    mine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_say_what_dropped_a_packet() {
        let rule = Setting::default().with_rule(Packets::syn(), Which::Nth(1));
        assert_eq!(
            rule.describe(bpf::WHY_RULE),
            "rule: TCP segments with flags S (looking at SFR.), the 1st only"
        );
        let lossy = rule.with_loss(5.0, 7);
        assert_eq!(lossy.describe(bpf::WHY_LOSS), "loss 5% (seed 7)");
        assert_eq!(lossy.describe(bpf::WHY_RULE), rule.describe(bpf::WHY_RULE));
        assert_eq!(Setting::blackhole().describe(bpf::WHY_ALL), "blackhole");
        assert_eq!(
            Packets::pure_ack().only(crate::Family::V6).to_string(),
            "TCP segments with flags . (looking at SFR.) without data over IPv6"
        );
        assert_eq!(Which::EveryNth(2).to_string(), "every 2nd");
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(23), "23rd");
    }
}
