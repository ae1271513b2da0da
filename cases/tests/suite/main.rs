//! Every test of this package in one binary: the kernel-behaviour cases (one module per
//! behaviour), the registry's checks, the `netcase` command end to end (`command`) and the kernel
//! matrix under qemu (`matrix`).
//!
//! One binary because cargo runs test binaries one after another, and the TIME_WAIT cases wait
//! 60 s on a timer no sysctl shortens: everything else runs while they wait (the tests mostly
//! wait on kernel timers; `.cargo/config.toml` gives libtest enough threads).

mod backlog;
mod command;
mod keepalive;
mod linger;
mod matrix;
mod registry;
mod silent_drops;
mod socket_addresses;
mod time_wait;
