//! The kernel-behaviour cases of netcase, one file per behaviour under `tests/`.
//!
//! Each case builds its own topology with the harness's fixtures, acts with real sockets, and
//! asserts what the running kernel did, over IPv4 and IPv6. Run them with
//! `cargo test -p netcase-cases` as root.
