//! The harness's own tests, one module per part, in one binary: cargo runs test binaries one
//! after another, and within one binary they run in parallel (they mostly wait on the kernel).
//! `leaks.rs` stays a binary of its own: it inspects the whole process (its mounts, its
//! children) and runs itself as a child to be killed.

mod capture;
mod expect_fuzz;
mod expect_golden;
mod hosts;
mod impair;
mod network;
mod observe;
mod shape;
