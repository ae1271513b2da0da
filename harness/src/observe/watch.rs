//! Watching hosts through an act: their counters and every packet on their links, from
//! [`Topology::watch`] to [`Watch::stop`], then checked in one statement each.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology, expectation: &netcase::expect::Expectation)
//! # -> netcase::Result<()> {
//! let watch = net.watch(&["client", "server"]).await?;
//! // ... act ...
//! let seen = watch.stop().await?;
//! seen.counters("client")?.moved([("TcpExt.TCPAbortOnData", 1), ("Tcp.OutRsts", 1)])?;
//! seen.check(net, expectation)?;            // every watched host's capture
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use crate::{
    error::{Error, Result},
    expect::Expectation,
    network::Topology,
    observe::{Counters, Delta},
    packets::capture::{Recorded, Recording},
};

/// Counters and captures of some hosts, from [`Topology::watch`] on.
pub struct Watch<'a> {
    net: &'a Topology,
    hosts: Vec<String>,
    before: BTreeMap<String, Counters>,
    recording: Recording,
}

/// What a [`Watch`] saw: each host's counter changes and the captures.
pub struct Seen {
    hosts: Vec<String>,
    deltas: BTreeMap<String, Delta>,
    /// The captures (pcaps written as [`Recording::stop`] writes them).
    pub recorded: Recorded,
}

impl Topology {
    /// Starts watching `hosts`: their counters now, and a capture on each of their link ends.
    pub async fn watch(&self, hosts: &[&str]) -> Result<Watch<'_>> {
        let mut before = BTreeMap::new();
        for &name in hosts {
            before.insert(name.to_owned(), self.host(name)?.counters().await?);
        }
        let recording = self.record(hosts).await?;
        Ok(Watch {
            net: self,
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            before,
            recording,
        })
    }
}

impl Watch<'_> {
    /// The counters of `host` when the watch began.
    pub fn before(&self, host: &str) -> Result<&Counters> {
        self.before.get(host).ok_or_else(|| self.unknown(host))
    }

    /// Stops the captures, then reads every watched host's counters.
    pub async fn stop(self) -> Result<Seen> {
        let recorded = self.recording.stop().await?;
        let mut deltas = BTreeMap::new();
        for (name, before) in &self.before {
            let after = self.net.host(name)?.counters().await?;
            deltas.insert(name.clone(), after.since(before)?);
        }
        Ok(Seen {
            hosts: self.hosts,
            deltas,
            recorded,
        })
    }

    fn unknown(&self, host: &str) -> Error {
        unknown(host, &self.hosts)
    }
}

impl Seen {
    /// How the counters of `host` changed while it was watched.
    pub fn counters(&self, host: &str) -> Result<&Delta> {
        self.deltas
            .get(host)
            .ok_or_else(|| unknown(host, &self.hosts))
    }

    /// Checks the capture of every watched host against `expectation` (times from each
    /// capture's first SYN).
    pub fn check(&self, net: &Topology, expectation: &Expectation) -> Result<()> {
        for host in &self.hosts {
            self.recorded.check(net, host, expectation)?;
        }
        Ok(())
    }

    /// Checks the capture of `host` against `expectation`.
    pub fn check_on(&self, net: &Topology, host: &str, expectation: &Expectation) -> Result<()> {
        self.recorded.check(net, host, expectation)
    }
}

fn unknown(host: &str, watched: &[String]) -> Error {
    Error::UnknownHost {
        name: host.to_owned(),
        context: "this watch".to_owned(),
        known: watched.join(", "),
    }
}
