//! The harness's own tests, one module per part, in one binary: cargo runs test binaries one
//! after another, and within one binary they run in parallel (they mostly wait on the kernel).
//! `test_binary` runs this binary itself as a user's test binary. Two stay binaries of their own: `leaks.rs` inspects the whole process (its mounts, its
//! children) and runs itself as a child to be killed; `shape.rs` measures throughput, which
//! needs the CPUs to itself (cargo runs it after this binary, alone).

mod bundle;
mod capture;
mod expect_fuzz;
mod expect_golden;
mod hosts;
mod impair;
mod network;
mod observe;
mod ports;
mod readme;
mod test_binary;
mod waits;
