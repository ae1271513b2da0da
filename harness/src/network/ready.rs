//! Deciding that a host's links can carry a test's first packet, by watching the kernel.
//!
//! A link is ready when the kernel has finished bringing it up, not when it says "UP":
//! - the operstate turns UP a moment before the link-watch work attaches the link's qdisc (a
//!   packet sent in between is dropped), and an RTM_GETLINK that does not take the RTNL can read
//!   it in that moment;
//! - the kernel adds the IPv6 link-local address while handling the carrier change, after the
//!   qdisc is attached, so seeing it proves the link can transmit; a router needs it, too, to send
//!   neighbour solicitations for packets it forwards;
//! - each IPv6 address joins its solicited-node multicast group from a work item that runs after
//!   the address is added, even without duplicate-address detection; a neighbour solicitation
//!   that arrives before is dropped, and the asker tries again only after `retrans_time_ms` (1 s).
//!
//! The host subscribes to link and IPv6 address notifications before it changes anything, and
//! looks again at each notification (or every [`RECHECK`] at the latest), so it neither polls
//! hard nor misses the moment.

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv6Addr},
    time::{Duration, Instant},
};

use futures::{StreamExt, TryStreamExt, channel::mpsc::UnboundedReceiver, future::try_join_all};
use netlink_packet_route::{
    address::{AddressAttribute, AddressFlags, AddressHeaderFlags},
    link::State,
};
use rtnetlink::MulticastGroup;

use crate::{
    error::{Error, Result},
    network::netlink,
};

/// The longest the host waits for a notification before it looks again anyway.
///
/// Every change the look waits for comes with a notification (RTM_NEWLINK for the carrier,
/// RTM_NEWADDR when an address's work item completes), so this is a safety net only. Looking more
/// often costs the kernel's own work its CPU: a look takes about 100 µs, and 256 hosts looking
/// every 2 ms keep both cores of a small machine busy and the star's set-up took seconds.
const RECHECK: Duration = Duration::from_millis(20);

type Events = UnboundedReceiver<(
    netlink_packet_core::NetlinkMessage<netlink_packet_route::RouteNetlinkMessage>,
    rtnetlink::sys::SocketAddr,
)>;

/// A subscription to the host's link and IPv6 address notifications. Create it on the host's
/// thread before the changes it is to see; dropping it closes the socket.
pub(crate) struct Watch {
    events: Events,
    connection: tokio::task::JoinHandle<()>,
}

impl Watch {
    ///
    /// IPv6 address notifications tell everything about links that run IPv6 (see the module
    /// documentation); link notifications, which are many more, only matter for links that do
    /// not. Every notification is offered to every subscribed socket on the machine, so a large
    /// topology pays for each subscription of each host.
    pub(crate) fn new(host: &str, links_without_ipv6: bool) -> Result<Watch> {
        let groups: &[MulticastGroup] = if links_without_ipv6 {
            &[MulticastGroup::Ipv6Ifaddr, MulticastGroup::Link]
        } else {
            &[MulticastGroup::Ipv6Ifaddr]
        };
        let (connection, _, events) = rtnetlink::new_multicast_connection(groups)
            .map_err(|e| Error::io(format!("subscribing to link events on host {host}"), e))?;
        Ok(Watch {
            events,
            connection: tokio::spawn(connection),
        })
    }

    /// Waits for the next notification, at most `RECHECK`, then takes every queued one.
    async fn settle(&mut self) {
        let _ = tokio::time::timeout(RECHECK, self.events.next()).await;
        while self.events.try_recv().is_ok() {}
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// One of the host's link ends, as the readiness check sees it.
pub(crate) struct End<'a> {
    /// The interface index.
    pub index: u32,
    /// The interface name, for messages.
    pub name: &'a str,
    /// Whether the link runs IPv6 (the kernel turns it off below 1280 octets).
    pub ipv6: bool,
}

/// Waits until every end can carry traffic: see the module documentation.
///
/// A look costs more the more links the host has (a router's), so the host waits at least as
/// long as its last look took before the next: looking takes at most half of the time.
pub(crate) async fn wait_usable(
    handle: &rtnetlink::Handle,
    host: &str,
    ends: &[End<'_>],
    watch: &mut Watch,
    deadline: Duration,
) -> Result<()> {
    let start = Instant::now();
    let mut up = HashSet::new();
    loop {
        let look = Instant::now();
        // Make the kernel run each link's pending link-watch work first, then read its state.
        let pending: Vec<&End> = ends.iter().filter(|e| !up.contains(&e.index)).collect();
        for end in &pending {
            netlink::sync_carrier(host, end.name)?;
        }
        let states = try_join_all(
            pending
                .iter()
                .map(|e| netlink::oper_state(handle, host, e.index)),
        )
        .await?;
        let mut problems = Vec::new();
        for (end, state) in pending.iter().zip(states) {
            if state == State::Up {
                up.insert(end.index);
            } else {
                problems.push(format!("{} is {state:?}", end.name));
            }
        }
        if problems.is_empty() {
            problems = ipv6_problems(handle, host, ends).await?;
        }
        if problems.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= deadline {
            return Err(Error::Timeout {
                what: format!("the links of host {host} to come up"),
                waited: start.elapsed(),
                last: problems.join(", "),
            });
        }
        let cost = look.elapsed();
        watch.settle().await;
        if cost > Duration::from_millis(1) {
            tokio::time::sleep(cost.saturating_sub(look.elapsed() - cost)).await;
        }
    }
}

/// What still keeps IPv6 on the ends from being usable; empty when nothing does.
async fn ipv6_problems(
    handle: &rtnetlink::Handle,
    host: &str,
    ends: &[End<'_>],
) -> Result<Vec<String>> {
    let links: HashSet<u32> = ends.iter().filter(|e| e.ipv6).map(|e| e.index).collect();
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let addresses: Vec<(u32, Ipv6Addr, bool)> = handle
        .address()
        .get()
        .execute()
        .try_filter_map(|msg| async move {
            let tentative = msg.header.flags.contains(AddressHeaderFlags::Tentative)
                || msg.attributes.iter().any(
                    |a| matches!(a, AddressAttribute::Flags(f) if f.contains(AddressFlags::Tentative)),
                );
            Ok(msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(IpAddr::V6(ip)) => Some((msg.header.index, *ip, tentative)),
                _ => None,
            }))
        })
        .try_collect()
        .await
        .map_err(|source| Error::Netlink {
            op: "list addresses".to_owned(),
            host: host.to_owned(),
            source,
        })?;
    let table = std::fs::read_to_string("/proc/thread-self/net/igmp6")
        .map_err(|e| Error::io(format!("reading the multicast groups of host {host}"), e))?;
    let groups = igmp6_groups(&table);
    let mut problems = Vec::new();
    let mut with_link_local = HashSet::new();
    for (index, ip, tentative) in addresses.iter().filter(|(i, _, _)| links.contains(i)) {
        if ip.is_unicast_link_local() {
            with_link_local.insert(*index);
        }
        if *tentative {
            problems.push(format!("{ip} is tentative"));
        } else if !groups.contains(&(*index, solicited_node(*ip))) {
            problems.push(format!("{ip} is not yet in its solicited-node group"));
        }
    }
    for end in ends
        .iter()
        .filter(|e| e.ipv6 && !with_link_local.contains(&e.index))
    {
        problems.push(format!("{} has no link-local address yet", end.name));
    }
    Ok(problems)
}

/// The solicited-node multicast address of `addr` (RFC 4291 2.7.1): ff02::1:ffXX:XXXX.
fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let low24 = u128::from(addr) & 0xff_ffff;
    Ipv6Addr::from((0xff02_u128 << 112) | 0x1_ff00_0000 | low24)
}

/// The multicast groups in /proc/net/igmp6 (`index name group-in-hex users flags timer` a line),
/// as (interface index, group).
fn igmp6_groups(table: &str) -> HashSet<(u32, Ipv6Addr)> {
    table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let index = fields.next()?.parse().ok()?;
            let group = u128::from_str_radix(fields.nth(1)?, 16).ok()?;
            Some((index, Ipv6Addr::from(group)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicited_node_groups() {
        let addr: Ipv6Addr = "2001:db8:0:1::2".parse().unwrap();
        assert_eq!(solicited_node(addr).to_string(), "ff02::1:ff00:2");
        let ll: Ipv6Addr = "fe80::34c4:e0ff:fe08:5db".parse().unwrap();
        assert_eq!(solicited_node(ll).to_string(), "ff02::1:ff08:5db");
        let table = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n\
                     2    eth0            ff0200000000000000000001ff000002     1 00000004 0\n";
        let groups = igmp6_groups(table);
        assert_eq!(groups.len(), 2);
        assert!(groups.contains(&(2, solicited_node(addr))));
        assert!(!groups.contains(&(1, solicited_node(addr))));
        assert!(!groups.contains(&(2, solicited_node(ll))));
    }
}
