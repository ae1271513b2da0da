//! Breaking a link on purpose: packets of one direction dropped where the sender cannot see it.
//!
//! An [`Impairment`] is the eBPF drop program (`impair/bpf.rs`) attached as a direct-action
//! classifier to the receiving end's ingress (clsact qdisc). A drop there is silent, as on a real
//! network: the sending socket gets no ENOBUFS, which a drop on its own egress would give it.
//!
//! [`Impairment::shape`] adds what a queue does (delay, jitter, reordering, duplication, rate
//! limits) with netem or tbf, out of the sender's sight too (`impair/shape.rs`). [`features`] tells what
//! this kernel can do; asking for more is an [`Error::Unsupported`] that names what is missing.

pub(crate) mod bpf;
mod probe;
pub mod record;
mod shape;
mod wait;

pub use probe::{Feature, Features, features};
pub use record::Dropped;
pub use shape::Shaping;

use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage,
};
use netlink_packet_route::{
    RouteNetlinkMessage,
    tc::{TcAttribute, TcBpfFlags, TcFilterBpfOption, TcHandle, TcMessage, TcOption},
};

use rtnetlink::LinkUnspec;

use bpf::{DropProgram, State};

use crate::{
    Family, Topology,
    error::{Error, Result},
    network::{host::Host, ready},
    packets::decode::{Flags, Segment},
};

/// `TC_H_CLSACT`, the clsact qdisc's parent, and its ingress hook `TC_H_MIN_INGRESS`.
const CLSACT: TcHandle = TcHandle {
    major: 0xffff,
    minor: 0xfff1,
};
const CLSACT_INGRESS: TcHandle = TcHandle {
    major: 0xffff,
    minor: 0xfff2,
};
/// The priority of netcase's filter; one per ingress.
const PRIORITY: u32 = 1;
/// The priority of the filter behind it that redirects packets to be shaped to an ifb.
const REDIRECT_PRIORITY: u16 = 2;

/// Which packets a rule picks, on the impaired direction: TCP segments by their flags and by
/// whether they carry data, UDP datagrams, or both; of one family or of either.
///
/// Neighbour discovery, ARP and ICMP are never picked, so that counting "every Nth packet" gives
/// the same packets on every run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packets {
    rule: u32,
    mask: Flags,
    value: Flags,
    payload: u32,
    family: Option<Family>,
}

impl Packets {
    const CONTROL: Flags = Flags::from_bits(
        Flags::SYN.bits() | Flags::ACK.bits() | Flags::FIN.bits() | Flags::RST.bits(),
    );

    fn tcp_where(mask: Flags, value: Flags, payload: u32) -> Packets {
        Packets {
            rule: bpf::RULE_TCP,
            mask,
            value,
            payload,
            family: None,
        }
    }

    /// Every TCP segment and every UDP datagram.
    pub fn transport() -> Packets {
        Packets {
            rule: bpf::RULE_TRANSPORT,
            ..Packets::tcp()
        }
    }

    /// Every UDP datagram.
    pub fn udp() -> Packets {
        Packets {
            rule: bpf::RULE_UDP,
            ..Packets::tcp()
        }
    }

    /// Every TCP segment.
    pub fn tcp() -> Packets {
        Packets::tcp_where(Flags::empty(), Flags::empty(), bpf::PAYLOAD_ANY)
    }

    /// TCP segments with exactly these flags set, and no other (`exactly(Flags::SYN)` is a SYN
    /// without ECN bits, not a SYN-ACK).
    pub fn exactly(flags: Flags) -> Packets {
        Packets::tcp_where(Flags::from_bits(0xff), flags, bpf::PAYLOAD_ANY)
    }

    /// TCP segments with at least these flags set.
    pub fn with(flags: Flags) -> Packets {
        Packets::tcp_where(flags, flags, bpf::PAYLOAD_ANY)
    }

    /// Connection requests: SYN without ACK (ECN bits allowed).
    pub fn syn() -> Packets {
        Packets::tcp_where(Packets::CONTROL, Flags::SYN, bpf::PAYLOAD_ANY)
    }

    /// Connection answers: SYN and ACK (ECN bits allowed).
    pub fn syn_ack() -> Packets {
        let value = Flags::from_bits(Flags::SYN.bits() | Flags::ACK.bits());
        Packets::tcp_where(Packets::CONTROL, value, bpf::PAYLOAD_ANY)
    }

    /// Segments with FIN set (with or without data).
    pub fn fin() -> Packets {
        Packets::with(Flags::FIN)
    }

    /// Segments with RST set.
    pub fn rst() -> Packets {
        Packets::with(Flags::RST)
    }

    /// Pure acknowledgements: ACK alone among SYN, FIN and RST, and no data (a keepalive probe
    /// with no data, a window update and a duplicate ACK are pure ACKs too).
    pub fn pure_ack() -> Packets {
        Packets::tcp_where(Packets::CONTROL, Flags::ACK, bpf::PAYLOAD_EMPTY)
    }

    /// Segments that carry data, whatever their flags.
    pub fn data() -> Packets {
        Packets::tcp_where(Flags::empty(), Flags::empty(), bpf::PAYLOAD_DATA)
    }

    /// Only TCP segments that carry data, among those it picks: `Packets::fin().carrying_data()`
    /// is a FIN sent with data (a retransmission that collapsed the data and the FIN into one).
    pub fn carrying_data(self) -> Packets {
        Packets {
            payload: bpf::PAYLOAD_DATA,
            ..self
        }
    }

    /// Only packets of `family`.
    pub fn only(self, family: Family) -> Packets {
        Packets {
            family: Some(family),
            ..self
        }
    }

    /// Whether the rule picks this captured TCP segment: the test the eBPF program makes, for
    /// checking a capture against what an impairment was told to do.
    pub fn picks(&self, segment: &Segment) -> bool {
        if self.family.is_some_and(|f| f != segment.family()) {
            return false;
        }
        match self.rule {
            bpf::RULE_TRANSPORT => true,
            bpf::RULE_TCP => {
                segment.flags.bits() & self.mask.bits() == self.value.bits()
                    && match self.payload {
                        bpf::PAYLOAD_EMPTY => segment.len == 0,
                        bpf::PAYLOAD_DATA => segment.len > 0,
                        _ => true,
                    }
            }
            _ => false,
        }
    }
}

/// Which of the packets a rule picks are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Every one.
    All,
    /// The Nth, the 2Nth, ... (N from 1).
    EveryNth(u32),
    /// Only the Nth (N from 1), once.
    Nth(u32),
}

impl Which {
    /// Whether the `n`th picked packet (from 1) is dropped.
    pub fn drops(&self, n: u64) -> bool {
        match *self {
            Which::All => true,
            Which::EveryNth(every) => every != 0 && n % u64::from(every) == 0,
            Which::Nth(nth) => n == u64::from(nth),
        }
    }
}

/// What an impairment's program counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Packets that reached the receiving end, dropped or not, a count.
    pub seen: u64,
    /// Packets dropped, a count.
    pub dropped: u64,
    /// Packets the rule picked, dropped or not, a count.
    pub matched: u64,
}

/// What an impairment's shaping qdisc (netem or tbf) counted, from the kernel's qdisc statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShapingCounts {
    /// Packets it passed on, a count.
    pub sent: u64,
    /// Packets it dropped (netem's loss, a rate limit's full queue), a count.
    pub dropped: u64,
    /// Packets waiting in it now, a count.
    pub queued: u64,
}

/// Drops on one direction of a link, from one host to the other, at the receiving end.
pub struct Impairment {
    link: String,
    host: String,
    index: u32,
    mtu: u32,
    program: DropProgram,
    /// Whether the ifb device for [`Impairment::shape`] exists.
    shaper: std::sync::atomic::AtomicBool,
    /// Every setting it has had, indexed by the program's `rules`: what dropped each packet.
    settings: std::sync::Mutex<Vec<record::Setting>>,
    /// Where the test's files go: its drops are kept for that bundle when it goes.
    dir: std::path::PathBuf,
}

/// The ifb device that shapes a link end's arriving packets: its index is the end's plus this.
const IFB_INDEX_BASE: u32 = 10_000;

impl Topology {
    /// Attaches a drop program to the link from `from` to `to`, at `to`'s ingress. It drops
    /// nothing until told to ([`Impairment::blackhole`], [`Impairment::loss`]).
    pub async fn impair(&self, from: &str, to: &str) -> Result<Impairment> {
        let link = self.link(from, to)?;
        let mtu = link.mtu();
        let end = link.end(to)?;
        let (index, link) = (
            end.ifindex(),
            format!("{from}>{to} ({to} {})", end.ifname()),
        );
        let program = DropProgram::load()
            .map_err(|e| Error::io(format!("loading the drop program for {link}"), e))?;
        let prog_fd = program.prog_fd();
        let (what, host) = (link.clone(), to.to_owned());
        netlink(self.host(to)?, move |handle| async move {
            let clsact = qdisc(index, CLSACT, "clsact");
            request(
                &handle,
                RouteNetlinkMessage::NewQueueDiscipline(clsact),
                NLM_F_CREATE | NLM_F_EXCL,
            )
            .await
            .map_err(tc_error(&host, format!("add a clsact qdisc on {what}")))?;
            request(
                &handle,
                RouteNetlinkMessage::NewTrafficFilter(filter(index, prog_fd)),
                NLM_F_CREATE | NLM_F_EXCL,
            )
            .await
            .map_err(tc_error(
                &host,
                format!("attach the drop program on {what}"),
            ))
        })
        .await?;
        Ok(Impairment {
            link,
            host: to.to_owned(),
            index,
            mtu,
            program,
            shaper: std::sync::atomic::AtomicBool::new(false),
            settings: std::sync::Mutex::new(vec![record::Setting::default()]),
            dir: crate::capture::output_dir(),
        })
    }
}

impl Topology {
    /// Pulls the cable of the link between `a` and `b` out of `b`'s end: `a`'s interface reports
    /// NO-CARRIER, as when a cable is unplugged, and `b`'s goes down.
    ///
    /// A veth cannot lose its carrier with both ends up (this kernel refuses `carrier off` and
    /// `protodown` on it), so the unplugged end is taken down. Both hosts keep their addresses
    /// (`keep_addr_on_down`); routes through the link go, as on a real host, and
    /// [`Topology::plug_cable`] puts them back.
    pub async fn pull_cable(&self, a: &str, b: &str) -> Result<()> {
        self.cable(a, b, false).await
    }

    /// Plugs the cable pulled by [`Topology::pull_cable`] back in, and returns once both ends can
    /// carry traffic again.
    pub async fn plug_cable(&self, a: &str, b: &str) -> Result<()> {
        self.cable(a, b, true).await
    }

    async fn cable(&self, a: &str, b: &str, plug: bool) -> Result<()> {
        let link = self.link(a, b)?;
        let (near, far) = (link.end(a)?.clone(), link.end(b)?.clone());
        let routes = self.routes_via(&far);
        let ipv6 = link.mtu() >= 1280;
        let doing = if plug { "plugging" } else { "pulling" };
        let what = format!("{doing} the cable of {a}-{b} at {b}");
        netlink(self.host(b)?, move |handle| async move {
            let mut watch = ready::Watch::new(far.host(), !ipv6)?;
            let message = if plug {
                LinkUnspec::new_with_index(far.ifindex()).up().build()
            } else {
                LinkUnspec::new_with_index(far.ifindex()).down().build()
            };
            handle
                .link()
                .set(message)
                .execute()
                .await
                .map_err(tc_error(far.host(), what))?;
            if !plug {
                return Ok(());
            }
            for (destination, via) in &routes {
                crate::network::netlink::add_route(&handle, far.host(), *destination, *via).await?;
            }
            let end = ready::End {
                index: far.ifindex(),
                name: far.ifname(),
                ipv6,
            };
            ready::wait_usable(&handle, far.host(), &[end], &mut watch, UP_DEADLINE).await
        })
        .await?;
        if plug {
            // The near end regains its carrier with the far end; wait for it there too.
            netlink(self.host(a)?, move |handle| async move {
                let mut watch = ready::Watch::new(near.host(), !ipv6)?;
                let end = ready::End {
                    index: near.ifindex(),
                    name: near.ifname(),
                    ipv6,
                };
                ready::wait_usable(&handle, near.host(), &[end], &mut watch, UP_DEADLINE).await
            })
            .await?;
        }
        Ok(())
    }
}

/// How long a plugged cable may take to carry traffic again.
const UP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

impl Impairment {
    /// Drops every packet: the peer has vanished, as far as this direction can tell.
    pub fn blackhole(&self) -> Result<()> {
        self.update(
            |_| record::Setting::blackhole(),
            |s| {
                s.all = 1;
                s.threshold = 0;
            },
        )
    }

    /// Drops each packet with probability `percent` / 100, drawn from a generator seeded with
    /// `seed`: the same packets in the same order meet the same fate on every run.
    pub fn loss(&self, percent: f64, seed: u32) -> Result<()> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(Error::BadLink {
                link: self.link.clone(),
                why: format!("loss of {percent}% is not a percentage (0 to 100)"),
            });
        }
        // xorshift32 never leaves 0: a zero seed would draw nothing but zeros.
        let seed = if seed == 0 { 0x9e37_79b9 } else { seed };
        let threshold = (percent / 100.0 * f64::from(u32::MAX)).round() as u32;
        self.update(
            |was| was.with_loss(percent, seed),
            |s| {
                s.all = u32::from(percent >= 100.0);
                s.threshold = threshold;
                s.state = seed;
            },
        )
    }

    /// Drops the `packets` that `which` names, counting from now; packets the rule leaves
    /// still meet the random loss, if any. Replaces the rule there was.
    pub fn drop(&self, packets: Packets, which: Which) -> Result<()> {
        let (nth, once) = match which {
            Which::All => (0, false),
            Which::EveryNth(0) | Which::Nth(0) => {
                return Err(Error::BadLink {
                    link: self.link.clone(),
                    why: format!("{which:?}: packets are counted from 1"),
                });
            }
            Which::EveryNth(n) => (n, false),
            Which::Nth(n) => (n, true),
        };
        self.update(
            |was| was.with_rule(packets, which),
            |s| {
                s.rule = packets.rule;
                s.flags_mask = u32::from(packets.mask.bits());
                s.flags_value = u32::from(packets.value.bits());
                s.payload = packets.payload;
                s.family = match packets.family {
                    None => 0,
                    Some(Family::V4) => 4,
                    Some(Family::V6) => 6,
                };
                s.nth = nth;
                s.once = u32::from(once);
                s.matched = 0;
            },
        )
    }

    /// Lets every packet through again; the counts stay.
    pub fn clear(&self) -> Result<()> {
        self.update(
            |_| record::Setting::default(),
            |s| {
                s.all = 0;
                s.threshold = 0;
                s.rule = bpf::RULE_OFF;
            },
        )
    }

    /// Shapes every packet of this direction as `shaping` says, replacing the shaping there
    /// was; `Shaping::default()` stops shaping (packets queued until then still arrive, but for
    /// those a change between netem and tbf finds queued: a new qdisc starts empty). Drops,
    /// loss and counts apply first, to packets as they arrive.
    ///
    /// Anything but a pure rate limit needs netem; a rate limit alone uses tbf. When the kernel
    /// lacks what is needed, this fails with [`Error::Unsupported`] and the path stays as it was.
    pub async fn shape(&self, net: &Topology, shaping: Shaping) -> Result<()> {
        use std::sync::atomic::Ordering;
        shaping.validate().map_err(|why| Error::BadLink {
            link: self.link.clone(),
            why,
        })?;
        if shaping.is_none() {
            return self.update(Clone::clone, |s| s.redirect = 0);
        }
        let (kind, needed) = if shaping.needs_netem() {
            ("netem", Feature::Netem)
        } else {
            ("tbf", Feature::Tbf)
        };
        let features = features();
        for feature in [needed, Feature::Ifb] {
            if !features.has(feature) {
                return Err(Error::Unsupported {
                    what: format!("shape packets with {kind} ({shaping})"),
                    link: self.link.clone(),
                    why: format!(
                        "{}; {}",
                        feature.missing(),
                        "drops, loss and blackholes work without it"
                    ),
                });
            }
        }
        let options = match shaping.rate {
            Some(rate) if kind == "tbf" => shape::tbf_options(rate, self.mtu),
            _ => shape::netem_options(&shaping),
        };
        let (index, ifb, mtu, create) = (
            self.index,
            IFB_INDEX_BASE + self.index,
            self.mtu,
            !self.shaper.load(Ordering::Relaxed),
        );
        let (what, host) = (
            format!("{kind} on {} ({shaping})", self.link),
            self.host.clone(),
        );
        netlink(net.host(&self.host)?, move |handle| async move {
            if create {
                let name = format!("ifb{ifb}");
                match shape::create_ifb(&handle, ifb, &name, mtu).await {
                    Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => {}
                    other => other.map_err(tc_error(&host, format!("create {name} for {what}")))?,
                }
                match shape::redirect_to_ifb(&handle, index, REDIRECT_PRIORITY, ifb).await {
                    Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => {}
                    other => other.map_err(tc_error(&host, format!("redirect to {name}")))?,
                }
            }
            let mut root = root_qdisc(ifb, kind);
            root.attributes.push(options);
            request(
                &handle,
                RouteNetlinkMessage::NewQueueDiscipline(root),
                NLM_F_CREATE | NLM_F_REPLACE,
            )
            .await
            .map_err(tc_error(&host, format!("set {what}")))
        })
        .await?;
        self.shaper.store(true, Ordering::Relaxed);
        self.update(Clone::clone, |s| s.redirect = ifb)
    }

    /// What the shaping qdisc has counted since the first [`Impairment::shape`] (zeros if this
    /// impairment never shaped).
    pub async fn shaping_counts(&self, net: &Topology) -> Result<ShapingCounts> {
        use netlink_packet_route::tc::TcStats2;
        if !self.shaper.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(ShapingCounts::default());
        }
        let ifb = IFB_INDEX_BASE + self.index;
        let (what, host) = (
            format!("read the shaping statistics of {}", self.link),
            self.host.clone(),
        );
        let handle = net.host(&self.host)?.netlink();
        net.host(&self.host)?
            .spawn(async move {
                let mut counts = ShapingCounts::default();
                let mut qdiscs = handle.clone().qdisc().get().index(ifb as i32).execute();
                while let Some(message) = qdiscs
                    .try_next()
                    .await
                    .map_err(tc_error(&host, what.clone()))?
                {
                    if message.header.parent != TcHandle::ROOT {
                        continue;
                    }
                    for attribute in &message.attributes {
                        let TcAttribute::Stats2(stats) = attribute else {
                            continue;
                        };
                        for stat in stats {
                            match stat {
                                TcStats2::Basic(basic) => counts.sent = u64::from(basic.packets),
                                TcStats2::Queue(queue) => {
                                    counts.dropped = u64::from(queue.drops);
                                    counts.queued = u64::from(queue.qlen);
                                }
                                _ => {}
                            }
                        }
                    }
                }
                Ok(counts)
            })
            .await?
    }

    /// What the program has counted since it was attached.
    pub fn counts(&self) -> Result<Counts> {
        let state = self.read()?;
        Ok(Counts {
            seen: state.seen,
            dropped: state.dropped,
            matched: state.matched,
        })
    }

    /// Detaches the program: the qdisc and filter are deleted and the path is as it was built.
    /// (Dropping an `Impairment` without removing it leaves it in place until the topology goes.)
    pub async fn remove(self, net: &Topology) -> Result<()> {
        let (index, what, host) = (self.index, self.link.clone(), self.host.clone());
        let shaper = self
            .shaper
            .load(std::sync::atomic::Ordering::Relaxed)
            .then_some(IFB_INDEX_BASE + index);
        netlink(net.host(&self.host)?, move |handle| async move {
            let clsact = qdisc(index, CLSACT, "clsact");
            request(&handle, RouteNetlinkMessage::DelQueueDiscipline(clsact), 0)
                .await
                .map_err(tc_error(
                    &host,
                    format!("remove the clsact qdisc of {what}"),
                ))?;
            if let Some(ifb) = shaper {
                handle.link().del(ifb).execute().await.map_err(tc_error(
                    &host,
                    format!("remove the shaping device of {what}"),
                ))?;
            }
            Ok(())
        })
        .await
    }

    fn read(&self) -> Result<State> {
        self.program
            .state()
            .map_err(|e| Error::io(format!("reading the drop counts of {}", self.link), e))
    }

    /// The packets it dropped, oldest first: the last [`bpf::RING`] of them, as its program
    /// recorded them (when, why, the frame's headers).
    pub fn drops(&self) -> Result<Vec<Dropped>> {
        let dropped = self.read()?.dropped;
        let records = self
            .program
            .records(dropped)
            .map_err(|e| Error::io(format!("reading the drops of {}", self.link), e))?;
        let settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        Ok(record::drops(&self.link, &records, &settings))
    }

    /// Changes the setting (`describe`: what it is now, from what it was) and the program's state.
    fn update(
        &self,
        describe: impl FnOnce(&record::Setting) -> record::Setting,
        change: impl FnOnce(&mut State),
    ) -> Result<()> {
        let mut state = self.read()?;
        change(&mut state);
        {
            let mut settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
            let now = describe(settings.last().unwrap_or(&record::Setting::default()));
            state.rules = settings.len() as u32;
            settings.push(now);
        }
        self.program
            .set_state(&state)
            .map_err(|e| Error::io(format!("changing the impairment of {}", self.link), e))
    }
}

impl Drop for Impairment {
    /// Keeps what it dropped for the test's bug report ([`record::take`]).
    fn drop(&mut self) {
        if let Ok(drops) = self.drops()
            && !drops.is_empty()
        {
            record::keep(&self.dir, drops);
        }
    }
}

/// A qdisc message for interface `index`.
fn qdisc(index: u32, parent: TcHandle, kind: &str) -> TcMessage {
    let mut msg = TcMessage::with_index(index as i32);
    msg.header.parent = parent;
    msg.header.handle = TcHandle {
        major: 0xffff,
        minor: 0,
    };
    msg.attributes.push(TcAttribute::Kind(kind.to_owned()));
    msg
}

/// A root qdisc message for interface `index`, without a handle (the kernel gives one). With a
/// handle, a request to replace the root qdisc by one of another kind (netem by tbf) would name
/// the one there and be refused as a change of kind (EINVAL, `tc_modify_qdisc`); without, the
/// kernel replaces it, as `tc qdisc replace dev X root ..` does.
fn root_qdisc(index: u32, kind: &str) -> TcMessage {
    let mut msg = qdisc(index, TcHandle::ROOT, kind);
    msg.header.handle = TcHandle { major: 0, minor: 0 };
    msg
}

/// The cls_bpf filter running `prog_fd` in direct-action mode on every protocol, at ingress.
fn filter(index: u32, prog_fd: i32) -> TcMessage {
    let mut msg = TcMessage::with_index(index as i32);
    msg.header.parent = CLSACT_INGRESS;
    // tcm_info: priority above, protocol (network order) below.
    msg.header.info = (PRIORITY << 16) | u32::from((libc::ETH_P_ALL as u16).to_be());
    msg.attributes.push(TcAttribute::Kind("bpf".to_owned()));
    msg.attributes.push(TcAttribute::Options(vec![
        TcOption::Bpf(TcFilterBpfOption::ProgFd(prog_fd as u32)),
        TcOption::Bpf(TcFilterBpfOption::ProgName("netcase_drop".to_owned())),
        TcOption::Bpf(TcFilterBpfOption::Flags(TcBpfFlags::DirectAction)),
    ]));
    msg
}

async fn request(
    handle: &rtnetlink::Handle,
    message: RouteNetlinkMessage,
    flags: u16,
) -> std::result::Result<(), rtnetlink::Error> {
    let mut req = NetlinkMessage::from(message);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    let mut responses = handle.clone().request(req)?;
    while let Some(message) = responses.next().await {
        if let netlink_packet_core::NetlinkPayload::Error(e) = message.payload
            && e.code.is_some()
        {
            return Err(rtnetlink::Error::NetlinkError(e));
        }
    }
    Ok(())
}

/// Runs `work` on `host`'s thread with the host's netlink connection.
async fn netlink<F, Fut>(host: &Host, work: F) -> Result<()>
where
    F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let handle = host.netlink();
    host.spawn(async move { work(handle).await }).await?
}

/// A failed tc request, named.
fn tc_error(host: &str, op: String) -> impl FnOnce(rtnetlink::Error) -> Error {
    let host = host.to_owned();
    move |source| Error::Netlink { op, host, source }
}
