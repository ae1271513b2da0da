//! The network: hosts (anonymous namespaces with a thread each), the veth links between them,
//! their addresses and routes, the per-host settings, and everything that runs inside a host.
//!
//! The first stage of the data flow: a [`Topology`] is built here and handed to a test only
//! when it is ready; everything after it (packets, impairments, observations) works on it.

pub mod addr;
pub mod closing;
mod failure;
pub mod family;
pub mod fork;
pub(crate) mod host;
pub mod leaks;
pub(crate) mod netlink;
pub mod ports;
pub(crate) mod ready;
pub mod repair;
pub mod serve;
pub mod sockaddr;
pub mod socket;
pub mod sysctl;
mod timeout;
pub(crate) mod topology;

pub use failure::Failure;
pub use family::Family;
pub use host::{Host, Process};
pub use socket::{Call, Close, Closed, Connection, Listener, Options, Sock};
pub use topology::{DEFAULT_MTU, Link, LinkEnd, LinkSpec, Topology, TopologyBuilder};
