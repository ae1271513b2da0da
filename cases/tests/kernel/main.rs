//! The kernel-behaviour cases, one module per behaviour, in one test binary so that they run in
//! parallel (they mostly wait on kernel timers).

mod backlog;
mod keepalive;
mod linger;
mod silent_drops;
mod socket_addresses;
mod time_wait;
