//! A topology: hosts joined by links, built in one call and torn down when dropped.
//!
//! ```no_run
//! # async fn demo() -> netcase::Result<()> {
//! use netcase::{Family, Topology};
//! let net = Topology::builder()
//!     .host("client")
//!     .router("router")
//!     .host("server")
//!     .link("client", "router")
//!     .link_with("router", "server", |l| l.mtu(1280))
//!     .build()
//!     .await?;
//! let server = net.addr("server", Family::V6)?;
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    os::fd::RawFd,
    time::Duration,
};

use futures::{
    FutureExt,
    future::{join_all, try_join_all},
};
use ipnet::IpNet;
use tokio::sync::oneshot;

use crate::{
    error::{Error, Result},
    network::addr::{self, Family},
    network::host::{FirstJob, Host, JobContext},
    network::netlink::{self, VethEnd},
    network::ready,
    privileges,
};

/// How long a new link may take to report carrier. Set-up normally takes well under a millisecond;
/// this bounds a kernel that never brings the link up.
const LINK_UP_DEADLINE: Duration = Duration::from_secs(5);

/// The MTU of a link unless set, in octets.
pub const DEFAULT_MTU: u32 = 1500;
/// The smallest MTU a link accepts, in octets: IPv6 needs 1280 (RFC 8200), IPv4 68 (RFC 791).
const MIN_MTU_V6: u32 = 1280;
const MIN_MTU_V4: u32 = 68;
/// The largest MTU of a veth, in octets.
const MAX_MTU: u32 = 65535;
/// Linux interface names hold at most 15 bytes (`IFNAMSIZ` - 1); host names appear in them.
const MAX_HOST_NAME: usize = 15;

/// How a link is made, before it exists.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    ends: [String; 2],
    mtu: u32,
    offloads: bool,
    v4: Addressing,
    v6: Addressing,
}

/// Where the addresses of one family on a link come from.
#[derive(Debug, Clone)]
enum Addressing {
    /// Chosen by the harness from the link's number.
    Automatic,
    /// Given as `address/prefix`, one for each end.
    Given([String; 2]),
    /// The link has no address of this family.
    Without,
}

impl LinkSpec {
    fn new(a: &str, b: &str) -> Self {
        LinkSpec {
            ends: [a.to_owned(), b.to_owned()],
            mtu: DEFAULT_MTU,
            offloads: false,
            v4: Addressing::Automatic,
            v6: Addressing::Automatic,
        }
    }

    /// The MTU of both ends, in octets (default 1500).
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = mtu;
        self
    }

    /// Keeps segmentation and checksum offloads on. Off by default, so that captures show the
    /// segments a wire would carry, with their real checksums.
    pub fn offloads(mut self, on: bool) -> Self {
        self.offloads = on;
        self
    }

    /// IPv4 addresses for the two ends, in the order the link names them, as `address/prefix`
    /// within 198.18.0.0/15. Chosen by the harness unless given.
    pub fn v4(mut self, a: &str, b: &str) -> Self {
        self.v4 = Addressing::Given([a.to_owned(), b.to_owned()]);
        self
    }

    /// IPv6 addresses for the two ends, as `address/prefix` within 2001:db8::/32.
    pub fn v6(mut self, a: &str, b: &str) -> Self {
        self.v6 = Addressing::Given([a.to_owned(), b.to_owned()]);
        self
    }

    /// No address of `family` on this link.
    pub fn without(mut self, family: Family) -> Self {
        match family {
            Family::V4 => self.v4 = Addressing::Without,
            Family::V6 => self.v6 = Addressing::Without,
        }
        self
    }

    fn label(&self) -> String {
        format!("{}-{}", self.ends[0], self.ends[1])
    }
}

/// Declares hosts and links; [`TopologyBuilder::build`] creates them.
#[derive(Debug, Default, Clone)]
pub struct TopologyBuilder {
    hosts: Vec<HostSpec>,
    links: Vec<LinkSpec>,
}

#[derive(Debug, Clone)]
struct HostSpec {
    name: String,
    router: bool,
}

impl HostSpec {
    fn new(name: &str, router: bool) -> Self {
        HostSpec {
            name: name.to_owned(),
            router,
        }
    }
}

impl TopologyBuilder {
    /// Declares a host.
    pub fn host(mut self, name: &str) -> Self {
        self.hosts.push(HostSpec::new(name, false));
        self
    }

    /// Declares several hosts.
    pub fn hosts<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        self.hosts
            .extend(names.into_iter().map(|n| HostSpec::new(n, false)));
        self
    }

    /// Declares a router: a host that forwards IPv4 and IPv6. Every host linked to it gets a route
    /// to the whole test range through it, so any two hosts behind it reach each other.
    pub fn router(mut self, name: &str) -> Self {
        self.hosts.push(HostSpec::new(name, true));
        self
    }

    /// Links two hosts with a veth pair, with addresses chosen by the harness.
    pub fn link(self, a: &str, b: &str) -> Self {
        self.link_with(a, b, |l| l)
    }

    /// Links two hosts, with settings: `.link_with("a", "b", |l| l.mtu(9000))`.
    pub fn link_with(mut self, a: &str, b: &str, spec: impl FnOnce(LinkSpec) -> LinkSpec) -> Self {
        self.links.push(spec(LinkSpec::new(a, b)));
        self
    }

    /// Checks the declaration and creates every host and link. Returns once every link reports
    /// carrier and every address is usable; on any error, whatever was created is gone again.
    pub async fn build(self) -> Result<Topology> {
        privileges::check(privileges::TOPOLOGY)?;
        let net = Topology::create(self.plan()?).await?;
        // Under #[netcase::test], watched from now for the bug report should the test fail.
        crate::bundle::built(&net).await;
        Ok(net)
    }

    /// Checks names, links, addresses and MTUs, and decides every name, index and address.
    fn plan(&self) -> Result<Plan> {
        let mut index_of: HashMap<&str, usize> = HashMap::new();
        for (i, host) in self.hosts.iter().enumerate() {
            check_host_name(&host.name)?;
            if index_of.insert(&host.name, i).is_some() {
                return Err(Error::DuplicateHost(host.name.clone()));
            }
        }
        let mut links_of_host = vec![0u32; self.hosts.len()];
        let mut joined = HashMap::new();
        let mut subnets: Vec<(IpNet, String)> = Vec::new();
        let mut links = Vec::with_capacity(self.links.len());
        for (n, spec) in self.links.iter().enumerate() {
            let label = spec.label();
            let [a, b] = self.host_indexes(spec, &index_of)?;
            if a == b {
                return Err(bad_link(&label, "a link joins two different hosts"));
            }
            if let Some(first) = joined.insert((a.min(b), a.max(b)), label.clone()) {
                return Err(bad_link(
                    &label,
                    &format!("{first} already joins these two hosts"),
                ));
            }
            if self.hosts[a].router && self.hosts[b].router {
                return Err(bad_link(
                    &label,
                    "links between two routers are not supported: a path crosses at most one router",
                ));
            }
            check_mtu(spec, &label)?;
            let mut addrs = Vec::new();
            for (family, addressing) in [(Family::V4, &spec.v4), (Family::V6, &spec.v6)] {
                if let Some(pair) = link_addresses(n, &label, family, addressing, &mut subnets)? {
                    addrs.push(pair);
                }
            }
            let ends = [(0, a), (1, b)].map(|(side, host)| {
                let nth = links_of_host[host];
                links_of_host[host] += 1;
                LinkEnd {
                    host: self.hosts[host].name.clone(),
                    host_index: host,
                    ifname: format!("eth{nth}"),
                    ifindex: end_index(n, side),
                    addrs: addrs.iter().map(|pair| pair[side]).collect(),
                }
            });
            links.push(Link {
                ends,
                mtu: spec.mtu,
                offloads: spec.offloads,
            });
        }
        let routes = routes_through_routers(&self.hosts, &links);
        Ok(Plan {
            hosts: self.hosts.clone(),
            links,
            routes,
        })
    }

    /// The indexes of the two hosts a link names.
    fn host_indexes(&self, spec: &LinkSpec, index_of: &HashMap<&str, usize>) -> Result<[usize; 2]> {
        let [a, b] = spec.ends.clone().map(|end| {
            index_of
                .get(end.as_str())
                .copied()
                .ok_or_else(|| Error::UnknownHost {
                    context: format!("link {}", spec.label()),
                    known: self
                        .hosts
                        .iter()
                        .map(|h| h.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    name: end,
                })
        });
        Ok([a?, b?])
    }
}

fn bad_link(label: &str, why: &str) -> Error {
    Error::BadLink {
        link: label.to_owned(),
        why: why.to_owned(),
    }
}

/// Checks that the link's MTU fits a veth and, with IPv6, IPv6's minimum.
fn check_mtu(spec: &LinkSpec, label: &str) -> Result<()> {
    let ipv6 = !matches!(spec.v6, Addressing::Without);
    let min = if ipv6 { MIN_MTU_V6 } else { MIN_MTU_V4 };
    if (min..=MAX_MTU).contains(&spec.mtu) {
        return Ok(());
    }
    Err(Error::MtuOutOfRange {
        mtu: spec.mtu,
        link: label.to_owned(),
        why: format!(
            "a veth carries {min}..={MAX_MTU} octets{}",
            if ipv6 {
                " with IPv6 (IPv6 needs 1280; `.without(Family::V6)` allows 68)"
            } else {
                ""
            }
        ),
    })
}

/// The two addresses of `family` on the `n`th link, if it has that family; `subnets` holds the
/// subnets of the links before it, which this one must not overlap.
fn link_addresses(
    n: usize,
    label: &str,
    family: Family,
    addressing: &Addressing,
    subnets: &mut Vec<(IpNet, String)>,
) -> Result<Option<[IpNet; 2]>> {
    let pair = match addressing {
        Addressing::Without => return Ok(None),
        Addressing::Given([x, y]) => addr::parse_pair(label, family, [x, y])?,
        Addressing::Automatic => addr::automatic(n, family).ok_or_else(|| Error::BadAddress {
            addr: "(automatic)".to_owned(),
            link: label.to_owned(),
            why: format!(
                "the harness numbers at most {} links; give this link's addresses with .v4()/.v6()",
                addr::MAX_AUTO_LINKS
            ),
        })?,
    };
    let subnet = pair[0].trunc();
    if let Some((other, owner)) = subnets
        .iter()
        .find(|(s, _)| s.contains(&subnet) || subnet.contains(s))
    {
        return Err(Error::BadAddress {
            addr: pair[0].to_string(),
            link: label.to_owned(),
            why: format!("its subnet {subnet} overlaps {other} of link {owner}"),
        });
    }
    subnets.push((subnet, label.to_owned()));
    Ok(Some(pair))
}

/// The routes a plan adds: each host linked to a router reaches the whole test range through it.
fn routes_through_routers(hosts: &[HostSpec], links: &[Link]) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::new();
    for link in links {
        for (me, other) in [(0, 1), (1, 0)] {
            let (host, peer) = (&link.ends[me], &link.ends[other]);
            if hosts[host.host_index].router || !hosts[peer.host_index].router {
                continue;
            }
            for gateway in &peer.addrs {
                let family = Family::of(gateway.addr());
                let taken = routes
                    .iter()
                    .any(|r| r.host_index == host.host_index && Family::of(r.via) == family);
                if !taken {
                    routes.push(Route {
                        host_index: host.host_index,
                        destination: family.test_range(),
                        via: gateway.addr(),
                    });
                }
            }
        }
    }
    routes
}

/// The interface index of end `side` (0 or 1) of the `n`th link (from 0).
///
/// Unique in the whole topology, so the two ends of a link never share an index: the kernel
/// handles a carrier change at once only on a device whose index differs from its peer's
/// (`linkwatch_urgent_event`), and otherwise batches it for up to a second.
fn end_index(n: usize, side: usize) -> u32 {
    netlink::LOOPBACK_INDEX + 1 + 2 * n as u32 + side as u32
}

fn check_host_name(name: &str) -> Result<()> {
    let bad = |why| Error::BadHostName {
        name: name.to_owned(),
        why,
    };
    if name.is_empty() {
        return Err(bad("a host needs a name"));
    }
    if name.len() > MAX_HOST_NAME {
        return Err(bad(
            "at most 15 characters (it names pcap files and threads)",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad("only letters, digits, '-' and '_' (it names files)"));
    }
    Ok(())
}

struct Plan {
    hosts: Vec<HostSpec>,
    links: Vec<Link>,
    routes: Vec<Route>,
}

#[derive(Debug, Clone)]
struct Route {
    host_index: usize,
    destination: IpNet,
    via: IpAddr,
}

/// A link between two hosts: a veth pair.
#[derive(Debug, Clone)]
pub struct Link {
    ends: [LinkEnd; 2],
    mtu: u32,
    offloads: bool,
}

impl Link {
    /// The two ends, in the order the link was declared.
    pub fn ends(&self) -> &[LinkEnd; 2] {
        &self.ends
    }

    /// The end on host `name`.
    pub fn end(&self, host: &str) -> Result<&LinkEnd> {
        self.ends
            .iter()
            .find(|e| e.host == host)
            .ok_or_else(|| Error::UnknownHost {
                name: host.to_owned(),
                context: format!("link {}-{}", self.ends[0].host, self.ends[1].host),
                known: format!("{}, {}", self.ends[0].host, self.ends[1].host),
            })
    }

    /// The MTU of both ends, in octets.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    fn label(&self) -> String {
        format!("{}-{}", self.ends[0].host, self.ends[1].host)
    }

    fn veth_end<'a>(&self, end: &'a LinkEnd) -> VethEnd<'a> {
        VethEnd {
            name: &end.ifname,
            index: end.ifindex,
            mtu: self.mtu,
            offloads: self.offloads,
        }
    }
}

/// One end of a link: an interface inside a host.
#[derive(Debug, Clone)]
pub struct LinkEnd {
    host: String,
    host_index: usize,
    ifname: String,
    ifindex: u32,
    addrs: Vec<IpNet>,
}

impl LinkEnd {
    /// The host this end is in.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The interface name inside the host (`eth0`, `eth1`, ... in the order of the host's links).
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The interface index inside the host.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The address of `family` on this end, with its prefix, if the link has that family.
    pub fn net(&self, family: Family) -> Option<IpNet> {
        self.addrs
            .iter()
            .copied()
            .find(|n| Family::of(n.addr()) == family)
    }

    /// Every address of this end, without prefix.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.addrs.iter().map(|n| n.addr())
    }

    /// The address of `family` on this end, if the link has that family.
    pub fn addr(&self, family: Family) -> Option<IpAddr> {
        self.net(family).map(|n| n.addr())
    }
}

/// Hosts and links, ready to use. Dropping it tears everything down.
pub struct Topology {
    hosts: Vec<Host>,
    links: Vec<Link>,
    routes: Vec<Route>,
    /// Which topology of this process it is, counting from 1: the bug report of a
    /// `#[netcase::test]` follows the first one its test builds.
    serial: u64,
}

impl Topology {
    /// Which topology of this process it is (see the field).
    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }

    /// Starts declaring a topology.
    pub fn builder() -> TopologyBuilder {
        TopologyBuilder::default()
    }

    /// Two hosts, `client` and `server`, on one link.
    pub async fn pair() -> Result<Topology> {
        Self::builder()
            .hosts(["client", "server"])
            .link("client", "server")
            .build()
            .await
    }

    /// `client` and `server`, each linked to `router`, which forwards between them.
    pub async fn routed() -> Result<Topology> {
        Self::builder()
            .host("client")
            .router("router")
            .host("server")
            .link("client", "router")
            .link("router", "server")
            .build()
            .await
    }

    /// The host called `name`.
    pub fn host(&self, name: &str) -> Result<&Host> {
        self.hosts
            .iter()
            .find(|h| h.name() == name)
            .ok_or_else(|| self.unknown_host(name, "this topology"))
    }

    /// Every host, in the order they were declared.
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.iter()
    }

    /// Every link, in the order they were declared.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// The link between hosts `a` and `b`, in either order.
    pub fn link(&self, a: &str, b: &str) -> Result<&Link> {
        for name in [a, b] {
            if self.host(name).is_err() {
                return Err(self.unknown_host(name, &format!("link {a}-{b}")));
            }
        }
        self.links
            .iter()
            .find(|l| {
                let [x, y] = [&l.ends[0].host, &l.ends[1].host];
                (x == a && y == b) || (x == b && y == a)
            })
            .ok_or_else(|| bad_link(&format!("{a}-{b}"), "no such link in this topology"))
    }

    /// The address of host `name` in `family`: that of its first link that has one.
    pub fn addr(&self, name: &str, family: Family) -> Result<IpAddr> {
        self.host(name)?;
        self.links
            .iter()
            .flat_map(|l| &l.ends)
            .filter(|e| e.host == name)
            .find_map(|e| e.addr(family))
            .ok_or_else(|| Error::BadAddress {
                addr: format!("({family})"),
                link: format!("any link of host {name}"),
                why: format!("host {name} has no {family} address"),
            })
    }

    /// The routes the harness gave host `name` whose gateway is on `end`'s subnet.
    pub(crate) fn routes_via(&self, end: &LinkEnd) -> Vec<(IpNet, IpAddr)> {
        self.routes
            .iter()
            .filter(|r| r.host_index == end.host_index)
            .filter(|r| end.addrs.iter().any(|a| a.contains(&r.via)))
            .map(|r| (r.destination, r.via))
            .collect()
    }

    /// The socket address of host `name` in `family`, at `port`.
    pub fn socket_addr(&self, name: &str, family: Family, port: u16) -> Result<SocketAddr> {
        Ok(SocketAddr::new(self.addr(name, family)?, port))
    }

    fn unknown_host(&self, name: &str, context: &str) -> Error {
        Error::UnknownHost {
            name: name.to_owned(),
            context: context.to_owned(),
            known: self
                .hosts
                .iter()
                .map(Host::name)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Creates the hosts and links of a checked plan. Whatever exists when a step fails is torn
    /// down before the error is returned.
    ///
    /// Each host builds its part on its own thread as soon as it exists, without waiting for the
    /// others: the host that holds a link's first end creates the veth pair once the second host
    /// has told it its namespace (the peer goes straight into that namespace), then tells the
    /// second host; each host then configures its ends and waits until they are usable.
    async fn create(plan: Plan) -> Result<Topology> {
        let mut work: Vec<HostWork> = plan.hosts.iter().map(|_| HostWork::default()).collect();
        for link in &plan.links {
            let [a, b] = &link.ends;
            let (netns_tx, netns_rx) = oneshot::channel();
            let (created_tx, created_rx) = oneshot::channel();
            work[b.host_index].tell_netns.push(netns_tx);
            work[a.host_index].creates.push(Creation {
                link: link.clone(),
                peer: b.host.clone(),
                peer_netns: netns_rx,
                created: created_tx,
            });
            work[b.host_index]
                .awaits
                .push((link.label(), a.host.clone(), created_rx));
            for (side, end) in link.ends.iter().enumerate() {
                work[end.host_index].ends.push(EndSetup {
                    end: end.clone(),
                    offloads: link.offloads,
                    mtu: link.mtu,
                    created_down: side == 1,
                });
            }
        }
        for route in &plan.routes {
            work[route.host_index]
                .routes
                .push((route.destination, route.via));
        }
        let mut built = Vec::with_capacity(plan.hosts.len());
        let hosts = join_all(plan.hosts.iter().zip(work).map(|(spec, work)| {
            let (done_tx, done_rx) = oneshot::channel();
            built.push(done_rx);
            let name = spec.name.clone();
            let first: FirstJob = Box::new(move |context| {
                Box::pin(async move {
                    let _ = done_tx.send(work.run(&context, &name).await);
                })
            });
            Host::create(&spec.name, spec.router, first)
        }))
        .await;
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut net = Topology {
            hosts: Vec::with_capacity(hosts.len()),
            links: plan.links,
            routes: plan.routes,
            serial: SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        };
        // From here, every host that started is torn down by `net`'s Drop if a step fails.
        let mut errors = Vec::new();
        for host in hosts {
            match host {
                Ok(h) => net.hosts.push(h),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            for (host, done) in net.hosts.iter().zip(built) {
                match done.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => errors.push(e),
                    Err(_) => errors.push(Error::HostGone(host.name().to_owned())),
                }
            }
        }
        // A host whose peer failed to create their link fails too; report the cause.
        errors.sort_by_key(|e| matches!(e, Error::PeerFailed { .. }));
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(net),
        }
    }
}

/// A veth pair a host creates, and whom to tell.
struct Creation {
    link: Link,
    peer: String,
    /// The peer host's namespace, once it exists; its `Host`, and so the fd, outlives the build.
    peer_netns: oneshot::Receiver<RawFd>,
    created: oneshot::Sender<()>,
}

/// One of a host's link ends, as it is set up.
struct EndSetup {
    end: LinkEnd,
    offloads: bool,
    mtu: u32,
    /// The second end of a veth is created down (see [`netlink::create_veth`]).
    created_down: bool,
}

/// Everything one host does to build its part of a topology.
#[derive(Default)]
struct HostWork {
    /// The hosts that create a link to this one, and wait for its namespace.
    tell_netns: Vec<oneshot::Sender<RawFd>>,
    creates: Vec<Creation>,
    /// The links whose first end another host creates: (link, that host, its signal).
    awaits: Vec<(String, String, oneshot::Receiver<()>)>,
    ends: Vec<EndSetup>,
    routes: Vec<(IpNet, IpAddr)>,
}

impl HostWork {
    /// Runs on the host's thread.
    ///
    /// Netlink requests go out together and the kernel handles them in order, so loopback and the
    /// ends are up before their addresses are added, and addresses exist before routes through
    /// them: one round trip instead of one per request.
    async fn run(mut self, context: &JobContext, host: &str) -> Result<()> {
        let netlink = &context.netlink;
        for tell in self.tell_netns.drain(..) {
            let _ = tell.send(context.netns);
        }
        // Subscribe first: every change from here on is seen.
        let mut watch = ready::Watch::new(host, self.ends.iter().any(|s| s.mtu < MIN_MTU_V6))?;
        // The veth pairs first: their peers wait for them. Loopback comes up with the ends.
        try_join_all(self.creates.iter_mut().map(|c| async {
            let peer_netns = (&mut c.peer_netns).await.map_err(|_| Error::PeerFailed {
                link: c.link.label(),
                host: c.peer.clone(),
            })?;
            let [a, b] = &c.link.ends;
            netlink::create_veth(
                netlink,
                host,
                c.link.veth_end(a),
                c.link.veth_end(b),
                &c.peer,
                peer_netns,
            )
            .await
        }))
        .await?;
        for creation in self.creates {
            let _ = creation.created.send(());
        }
        for (link, creator, created) in self.awaits {
            created.await.map_err(|_| Error::PeerFailed {
                link,
                host: creator,
            })?;
        }
        for setup in self.ends.iter().filter(|s| !s.offloads) {
            netlink::disable_tx_checksum(host, &setup.end.ifname)?;
        }
        let ifnames: Vec<String> = self.ends.iter().map(|s| s.end.ifname.clone()).collect();
        crate::network::host::steer_ends(host, context.netns, &ifnames)?;
        let up = self
            .ends
            .iter()
            .filter(|s| s.created_down)
            .map(|s| s.end.ifindex)
            .chain([netlink::LOOPBACK_INDEX])
            .map(|index| netlink::set_up(netlink, host, index).boxed());
        let addresses = self.ends.iter().flat_map(|s| {
            s.end
                .addrs
                .iter()
                .map(|a| netlink::add_address(netlink, host, s.end.ifindex, *a).boxed())
        });
        let routes = self
            .routes
            .iter()
            .map(|(dest, via)| netlink::add_route(netlink, host, *dest, *via).boxed());
        try_join_all(up.chain(addresses).chain(routes)).await?;
        let ready: Vec<ready::End> = self
            .ends
            .iter()
            .map(|s| ready::End {
                index: s.end.ifindex,
                name: &s.end.ifname,
                ipv6: s.mtu >= MIN_MTU_V6,
            })
            .collect();
        ready::wait_usable(netlink, host, &ready, &mut watch, LINK_UP_DEADLINE).await
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if !self.hosts.is_empty() {
            // Under #[netcase::test], kept until the test's verdict is known (its bug report
            // reads the hosts' sockets and counters), then dropped again, for good.
            let net = Topology {
                hosts: std::mem::take(&mut self.hosts),
                links: std::mem::take(&mut self.links),
                routes: std::mem::take(&mut self.routes),
                serial: self.serial,
            };
            if let Some(mut net) = crate::bundle::park(net) {
                (self.hosts, self.links, self.routes) = (
                    std::mem::take(&mut net.hosts),
                    std::mem::take(&mut net.links),
                    std::mem::take(&mut net.routes),
                );
            }
        }
        // Ask every host to stop first, then wait: the threads wind down in parallel.
        for host in &mut self.hosts {
            host.begin_shutdown();
        }
        for host in &mut self.hosts {
            host.join();
        }
    }
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topology")
            .field("hosts", &self.hosts)
            .field("links", &self.links)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_err(b: TopologyBuilder) -> String {
        match b.plan() {
            Ok(_) => panic!("the plan was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_declarations_name_the_offending_item() {
        let two = || Topology::builder().hosts(["a", "b"]);
        let cases = [
            (two().host("a"), "duplicate host name \"a\""),
            (
                two().link("a", "c"),
                "unknown host \"c\" in link a-c; the hosts are: a, b",
            ),
            (two().link("a", "a"), "bad link a-a"),
            (two().link("a", "b").link("b", "a"), "a-b already joins"),
            (
                two().link_with("a", "b", |l| l.mtu(1000)),
                "MTU 1000 on link a-b",
            ),
            (
                two().link_with("a", "b", |l| l.mtu(70_000)),
                "MTU 70000 on link a-b",
            ),
            (
                two().link_with("a", "b", |l| l.v4("198.18.0.1/24", "198.18.1.2/24")),
                "does not fit the prefix",
            ),
            (
                two()
                    .host("c")
                    .link("a", "b")
                    .link_with("b", "c", |l| l.v4("198.18.0.5/24", "198.18.0.6/24")),
                "overlaps 198.18.0.0/24 of link a-b",
            ),
            (
                Topology::builder().host("bad name"),
                "bad host name \"bad name\"",
            ),
            (
                Topology::builder().host("a-very-long-hostname"),
                "at most 15",
            ),
            (
                Topology::builder()
                    .router("r1")
                    .router("r2")
                    .link("r1", "r2"),
                "at most one router",
            ),
        ];
        for (builder, expected) in cases {
            let err = plan_err(builder);
            assert!(err.contains(expected), "expected {expected:?} in: {err}");
        }
    }

    /// A build that fails in the kernel, after its hosts exist, leaves no namespace behind.
    #[tokio::test]
    async fn a_failed_build_undoes_what_it_created() -> Result<()> {
        crate::require_privileges!();
        let mut plan = Topology::builder()
            .hosts(["undo-a", "undo-b", "undo-c"])
            .link("undo-a", "undo-b")
            .link("undo-a", "undo-c")
            .plan()?;
        // Two interfaces of host a with one index: the kernel refuses the second (EEXIST).
        plan.links[1].ends[0].ifindex = plan.links[0].ends[0].ifindex;
        let err = Topology::create(plan).await.unwrap_err().to_string();
        // Host a creates both links at once: whichever the kernel handles second fails.
        assert!(
            err.contains("create veth eth")
                && err.contains("on host undo-a")
                && err.contains("File exists"),
            "{err}"
        );
        // Each namespace was held only by its host's thread (joined when the host went) and by
        // the threads of `Host::run` calls, which end just after they hand over their result:
        // none of them may be left once those have ended. Polled every millisecond for at most
        // a second (an ending thread needs a core; the whole suite loads both).
        let undo_threads = || -> Result<Vec<String>> {
            Ok(std::fs::read_dir("/proc/thread-self/..")
                .map_err(|e| Error::io("listing this process's threads", e))?
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .filter(|comm| comm.starts_with("netcase-undo-"))
                .collect())
        };
        let gone = crate::observe::wait_until(
            "the threads of hosts undo-a, undo-b and undo-c to end",
            Duration::from_secs(1),
            || async { undo_threads() },
            |threads: &Vec<String>| threads.is_empty(),
        );
        gone.await?;
        Ok(())
    }

    #[test]
    fn small_mtu_is_allowed_without_ipv6() {
        let b = Topology::builder()
            .hosts(["a", "b"])
            .link_with("a", "b", |l| l.mtu(576).without(Family::V6));
        assert!(b.plan().is_ok());
    }

    #[test]
    fn plan_numbers_interfaces_per_host_and_routes_through_the_router() {
        let plan = Topology::builder()
            .host("client")
            .router("router")
            .host("server")
            .link("client", "router")
            .link("router", "server")
            .plan()
            .unwrap();
        let router_ends: Vec<_> = plan
            .links
            .iter()
            .flat_map(|l| &l.ends)
            .filter(|e| e.host == "router")
            .map(|e| (e.ifname.clone(), e.ifindex))
            .collect();
        assert_eq!(router_ends, [("eth0".into(), 3), ("eth1".into(), 4)]);
        let routes: Vec<String> = plan
            .routes
            .iter()
            .map(|r| {
                format!(
                    "{} {} via {}",
                    plan.hosts[r.host_index].name, r.destination, r.via
                )
            })
            .collect();
        assert_eq!(
            routes,
            [
                "client 198.18.0.0/15 via 198.18.0.2",
                "client 2001:db8::/32 via 2001:db8::2",
                "server 198.18.0.0/15 via 198.18.1.1",
                "server 2001:db8::/32 via 2001:db8:0:1::1",
            ]
        );
    }
}
