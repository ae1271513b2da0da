//! Shaping a direction of a link: delay, jitter, reordering, duplication, correlated loss
//! (netem) and rate limits (netem, or tbf where netem is missing).
//!
//! The qdisc does not sit on the sender's egress, where its drops would be the sender's own
//! (ENOBUFS, local congestion): the receiving end's eBPF program redirects each arriving packet
//! to an ifb device in the receiving host, the qdisc runs on that device's egress, and ifb hands
//! the packet back to the receiving interface as if it had just arrived. Neither end can tell.
//! A capture on the receiving interface sees a packet when it arrives, before the shaping.
//!
//! One thing still reaches the sender: veth keeps a packet's socket reference across namespaces,
//! so a sender's socket stays charged for a packet while it waits in the shaping queue. A sender
//! whose SO_SNDBUF is smaller than the queue is paced by a rate limit (its sends block) rather
//! than losing packets to it, as it would behind a real router. Give it a deeper buffer to see
//! the drops.

use std::time::Duration;

use netlink_packet_core::DefaultNla;
use netlink_packet_route::tc::TcAttribute;
use rtnetlink::{LinkIfb, LinkMessageBuilder};

/// `TCA_OPTIONS`, the attribute a qdisc's own parameters travel in.
const TCA_OPTIONS: u16 = 2;
/// The psched clock: one tick is 64 ns (`PSCHED_SHIFT`).
const PSCHED_TICK_NS: u128 = 64;
/// The longest delay netcase accepts: beyond it, a test is waiting, not testing.
pub(crate) const LONGEST_DELAY: Duration = Duration::from_secs(60);
/// Netem's queue, in packets: room for a second of a gigabit link's full-size frames.
const NETEM_LIMIT: u32 = 100_000;

/// What to do to every packet of a direction, beyond dropping: [`super::Impairment::shape`].
///
/// Percentages are in percent (0 to 100); a correlation, also in percent, is how much each
/// random draw depends on the previous one (netem's Markov correlation). Everything but a pure
/// rate limit needs `sch_netem`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Shaping {
    /// Added to every packet's travel time.
    pub delay: Duration,
    /// Each packet's delay varies by up to this much either way (uniformly), netem's jitter.
    pub jitter: Duration,
    /// How much each packet's jitter follows the previous one's, in percent.
    pub delay_correlation: f64,
    /// Random loss, in percent, drawn by netem (use [`super::Impairment::loss`] for
    /// uncorrelated, seeded loss that every kernel can do).
    pub loss: f64,
    /// How much each loss draw follows the previous one's, in percent (bursty loss). Netem mixes
    /// each draw with the previous one (get_crandom), which narrows their spread: fewer packets
    /// than `loss` percent are lost (30% at 25% correlation loses about 25%).
    pub loss_correlation: f64,
    /// Packets sent twice, in percent.
    pub duplicate: f64,
    /// Packets sent at once, ahead of the delayed others, in percent (needs a delay).
    pub reorder: f64,
    /// How much each reordering draw follows the previous one's, in percent.
    pub reorder_correlation: f64,
    /// A rate limit, in bits per second (of Ethernet frames); `None` for the link's own speed.
    pub rate: Option<u64>,
}

impl Shaping {
    /// Whether this shaping needs netem (anything but a rate limit).
    pub(crate) fn needs_netem(&self) -> bool {
        let none = Shaping {
            rate: self.rate,
            ..Shaping::default()
        };
        *self != none
    }

    /// Whether it does nothing at all.
    pub(crate) fn is_none(&self) -> bool {
        *self == Shaping::default()
    }

    /// Checks every field; the error says which is wrong and why.
    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        for (name, value) in [
            ("delay_correlation", self.delay_correlation),
            ("loss", self.loss),
            ("loss_correlation", self.loss_correlation),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("reorder_correlation", self.reorder_correlation),
        ] {
            if !(0.0..=100.0).contains(&value) {
                return Err(format!("{name} of {value}% is not a percentage (0 to 100)"));
            }
        }
        if self.delay > LONGEST_DELAY {
            return Err(format!(
                "a delay of {:?} is absurd for a test (at most {LONGEST_DELAY:?})",
                self.delay
            ));
        }
        if self.jitter > self.delay {
            return Err(format!(
                "a jitter of {:?} is larger than the delay of {:?}: some packets would need a \
                 negative delay",
                self.jitter, self.delay
            ));
        }
        if self.reorder > 0.0 && self.delay.is_zero() {
            return Err(
                "reordering sends some packets ahead of delayed others: give a delay too".into(),
            );
        }
        match self.rate {
            Some(0) => Err("a rate of 0 bit/s is a blackhole: use blackhole()".into()),
            Some(rate) if rate < 8_000 => Err(format!(
                "a rate of {rate} bit/s is below 1 kB/s: one full-size frame would take over a \
                 second"
            )),
            _ => Ok(()),
        }
    }
}

/// A probability in percent as netem's scale (0 to `u32::MAX`).
fn probability(percent: f64) -> u32 {
    (percent / 100.0 * f64::from(u32::MAX)).round() as u32
}

/// Appends one netlink attribute (`struct nlattr` and its payload, padded to 4 octets).
fn nla(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    out.extend_from_slice(&(4 + payload.len() as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

/// Netem's `TCA_OPTIONS`: a `struct tc_netem_qopt`, then nested attributes (not a plain nest:
/// the kernel skips the struct first).
pub(crate) fn netem_options(shaping: &Shaping) -> TcAttribute {
    const TCA_NETEM_CORR: u16 = 1;
    const TCA_NETEM_REORDER: u16 = 3;
    const TCA_NETEM_RATE: u16 = 6;
    const TCA_NETEM_RATE64: u16 = 8;
    const TCA_NETEM_LATENCY64: u16 = 10;
    const TCA_NETEM_JITTER64: u16 = 11;
    let ticks = |d: Duration| (d.as_nanos() / PSCHED_TICK_NS).min(u128::from(u32::MAX)) as u32;
    let mut out = words(&[
        ticks(shaping.delay),
        NETEM_LIMIT,
        probability(shaping.loss),
        // gap 1: any packet may be reordered (the kernel reorders only with a gap).
        u32::from(shaping.reorder > 0.0),
        probability(shaping.duplicate),
        ticks(shaping.jitter),
    ]);
    nla(
        &mut out,
        TCA_NETEM_CORR,
        &words(&[
            probability(shaping.delay_correlation),
            probability(shaping.loss_correlation),
            0,
        ]),
    );
    if shaping.reorder > 0.0 {
        let reorder = words(&[
            probability(shaping.reorder),
            probability(shaping.reorder_correlation),
        ]);
        nla(&mut out, TCA_NETEM_REORDER, &reorder);
    }
    if let Some(rate) = shaping.rate {
        let bytes = rate / 8;
        // struct tc_netem_rate: rate (bytes/s), packet_overhead, cell_size, cell_overhead.
        let low = u32::try_from(bytes).unwrap_or(u32::MAX);
        nla(&mut out, TCA_NETEM_RATE, &words(&[low, 0, 0, 0]));
        if bytes > u64::from(u32::MAX) {
            nla(&mut out, TCA_NETEM_RATE64, &bytes.to_ne_bytes());
        }
    }
    let nanos = |d: Duration| (d.as_nanos() as i64).to_ne_bytes();
    nla(&mut out, TCA_NETEM_LATENCY64, &nanos(shaping.delay));
    nla(&mut out, TCA_NETEM_JITTER64, &nanos(shaping.jitter));
    TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, out))
}

/// Tbf's `TCA_OPTIONS` for a rate limit of `rate` bits per second on a link of `mtu` octets:
/// a burst of 10 ms of traffic (at least two full frames) and a queue of 100 ms (at least three
/// bursts), as a router's buffer.
pub(crate) fn tbf_options(rate: u64, mtu: u32) -> TcAttribute {
    const TCA_TBF_PARMS: u16 = 1;
    const TCA_TBF_RATE64: u16 = 4;
    const TCA_TBF_BURST: u16 = 6;
    const TC_LINKLAYER_ETHERNET: u8 = 1;
    let bytes = rate / 8;
    let frame = u64::from(mtu) + 14;
    let burst = (bytes / 100).max(2 * frame).min(u64::from(u32::MAX));
    let limit = (bytes / 10).max(3 * burst).min(u64::from(u32::MAX));
    // struct tc_ratespec: cell_log, linklayer, overhead, cell_align, mpu, rate.
    let mut rate_spec = vec![0, TC_LINKLAYER_ETHERNET, 0, 0, 0, 0, 0, 0];
    rate_spec.extend_from_slice(&u32::try_from(bytes).unwrap_or(u32::MAX).to_ne_bytes());
    // struct tc_tbf_qopt: rate, peakrate (none), limit, buffer (from the burst), mtu.
    let mut parms = rate_spec;
    parms.extend_from_slice(&[0; 12]);
    parms.extend_from_slice(&words(&[limit as u32, 0, 0]));
    let mut out = Vec::new();
    nla(&mut out, TCA_TBF_PARMS, &parms);
    if bytes > u64::from(u32::MAX) {
        nla(&mut out, TCA_TBF_RATE64, &bytes.to_ne_bytes());
    }
    nla(&mut out, TCA_TBF_BURST, &(burst as u32).to_ne_bytes());
    TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, out))
}

/// Creates an ifb device `name` with index `index`, up, in the namespace of `handle`.
pub(crate) async fn create_ifb(
    handle: &rtnetlink::Handle,
    index: u32,
    name: &str,
    mtu: u32,
) -> std::result::Result<(), rtnetlink::Error> {
    let message = LinkMessageBuilder::<LinkIfb>::new(name)
        .index(index)
        .mtu(mtu)
        .up()
        .build();
    handle.link().add(message).execute().await
}

/// Adds, behind the drop program on interface `index`'s ingress (at `priority`, a number above
/// the program's), the filter that feeds the ifb device `ifb`: u32 matching every packet, with
/// a mirred action redirecting it to the device's egress. The program hands it only the packets
/// to shape (`TC_ACT_UNSPEC`); mirred marks them as redirected, which ifb requires (a
/// `bpf_redirect` did not before 6.8, and ifb dropped them all).
pub(crate) async fn redirect_to_ifb(
    handle: &rtnetlink::Handle,
    index: u32,
    priority: u16,
    ifb: u32,
) -> std::result::Result<(), rtnetlink::Error> {
    handle
        .traffic_filter(index as i32)
        .add()
        .ingress()
        .priority(priority)
        .protocol((libc::ETH_P_ALL as u16).to_be())
        .redirect(ifb)?
        .execute()
        .await
}

/// The fields that are set, as `delay 50ms, jitter 10ms, loss 1%`.
impl std::fmt::Display for Shaping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (name, value) in [("delay", self.delay), ("jitter", self.jitter)] {
            if !value.is_zero() {
                parts.push(format!("{name} {value:?}"));
            }
        }
        for (name, value) in [
            ("delay correlation", self.delay_correlation),
            ("loss", self.loss),
            ("loss correlation", self.loss_correlation),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("reorder correlation", self.reorder_correlation),
        ] {
            if value != 0.0 {
                parts.push(format!("{name} {value}%"));
            }
        }
        if let Some(rate) = self.rate {
            parts.push(format!("rate {rate} bit/s"));
        }
        if parts.is_empty() {
            f.write_str("no shaping")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(attribute: TcAttribute) -> Vec<u8> {
        match attribute {
            TcAttribute::Other(nla) => {
                let mut buf = vec![0; netlink_packet_core::Emitable::buffer_len(&nla)];
                netlink_packet_core::Emitable::emit(&nla, &mut buf);
                buf[4..].to_vec()
            }
            other => panic!("not raw options: {other:?}"),
        }
    }

    #[test]
    fn netem_options_lay_out_as_the_kernel_reads_them() {
        let shaping = Shaping {
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            loss: 25.0,
            reorder: 50.0,
            ..Shaping::default()
        };
        let b = bytes(netem_options(&shaping));
        let word = |at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().unwrap());
        assert_eq!(word(0), 50_000_000 / 64, "latency in psched ticks");
        assert_eq!(word(4), NETEM_LIMIT);
        assert_eq!(word(8), u32::MAX / 4 + 1, "25% of the u32 scale");
        assert_eq!(word(12), 1, "gap");
        assert_eq!(word(20), 10_000_000 / 64, "jitter in psched ticks");
        // TCA_NETEM_CORR: 4 + 12 octets, type 1.
        assert_eq!(
            (
                u16::from_ne_bytes([b[24], b[25]]),
                u16::from_ne_bytes([b[26], b[27]])
            ),
            (16, 1)
        );
        // TCA_NETEM_REORDER follows, then LATENCY64 and JITTER64 (4 + 8 each) end it.
        assert_eq!(u16::from_ne_bytes([b[42], b[43]]), 3);
        let end = b.len();
        assert_eq!(u16::from_ne_bytes([b[end - 10], b[end - 9]]), 11);
        let jitter = i64::from_ne_bytes(b[end - 8..].try_into().unwrap());
        assert_eq!(jitter, 10_000_000);
        assert_eq!(b.len() % 4, 0);
    }

    #[test]
    fn tbf_options_carry_rate_burst_and_limit() {
        let b = bytes(tbf_options(8_000_000, 1500));
        // TCA_TBF_PARMS: 4 + 36 octets; the rate (bytes/s) ends the first tc_ratespec.
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), 40);
        assert_eq!(u32::from_ne_bytes(b[12..16].try_into().unwrap()), 1_000_000);
        assert_eq!(
            u32::from_ne_bytes(b[28..32].try_into().unwrap()),
            100_000,
            "limit: 100 ms"
        );
        // TCA_TBF_BURST: 10 ms of traffic.
        assert_eq!(u16::from_ne_bytes([b[42], b[43]]), 6);
        assert_eq!(u32::from_ne_bytes(b[44..48].try_into().unwrap()), 10_000);
    }

    #[test]
    fn bad_shapings_say_what_is_wrong() {
        let bad = [
            (
                Shaping {
                    loss: 101.0,
                    ..Shaping::default()
                },
                "loss of 101%",
            ),
            (
                Shaping {
                    duplicate: -1.0,
                    ..Shaping::default()
                },
                "duplicate of -1%",
            ),
            (
                Shaping {
                    delay: Duration::from_secs(3600),
                    ..Shaping::default()
                },
                "absurd",
            ),
            (
                Shaping {
                    delay: Duration::from_millis(1),
                    jitter: Duration::from_millis(2),
                    ..Shaping::default()
                },
                "negative delay",
            ),
            (
                Shaping {
                    reorder: 10.0,
                    ..Shaping::default()
                },
                "give a delay",
            ),
            (
                Shaping {
                    rate: Some(0),
                    ..Shaping::default()
                },
                "blackhole",
            ),
            (
                Shaping {
                    loss: f64::NAN,
                    ..Shaping::default()
                },
                "not a percentage",
            ),
        ];
        for (shaping, why) in bad {
            let err = shaping.validate().expect_err(why);
            assert!(err.contains(why), "{err}");
        }
        assert!(
            Shaping {
                rate: Some(10_000_000),
                ..Shaping::default()
            }
            .validate()
            .is_ok()
        );
        assert!(
            !Shaping {
                rate: Some(1),
                ..Shaping::default()
            }
            .needs_netem()
        );
        assert!(
            Shaping {
                delay: Duration::from_millis(1),
                ..Shaping::default()
            }
            .needs_netem()
        );
    }
}
