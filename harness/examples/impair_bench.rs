//! Measures what impairments cost.
//!
//! ```text
//! cargo run --release -p netcase --example impair_bench
//! install_median_us=X remove_median_us=Y idle_filter_cost_percent=Z
//! ```
//!
//! Installs and removes a blackhole on a `pair` link 200 times (loading the eBPF program,
//! attaching it, setting it to drop everything; then detaching it), and compares the speed of a
//! 200 MB transfer through an idle filter (attached, dropping nothing) with the speed without one:
//! medians of five alternating rounds.

#[path = "common/bulk.rs"]
mod bulk;

use std::time::{Duration, Instant};

use bulk::{median, transfer};
use netcase::Topology;

const INSTALLS: usize = 200;
const ROUNDS: u16 = 5;
const BYTES: u64 = 200_000_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(e) = runtime.block_on(bench()) {
        eprintln!("impair_bench: {e}");
        std::process::exit(1);
    }
}

async fn bench() -> netcase::Result<()> {
    let net = Topology::pair().await?;
    let (mut install, mut remove) = (Vec::new(), Vec::new());
    for _ in 0..INSTALLS {
        let start = Instant::now();
        let hole = net.impair("client", "server").await?;
        hole.blackhole()?;
        install.push(start.elapsed());
        let start = Instant::now();
        hole.remove(&net).await?;
        remove.push(start.elapsed());
    }
    let (mut clean, mut filtered) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        clean.push(transfer(&net, BYTES, 9100 + 2 * round).await?);
        let idle = net.impair("client", "server").await?;
        filtered.push(transfer(&net, BYTES, 9101 + 2 * round).await?);
        idle.remove(&net).await?;
    }
    let (clean, filtered) = (median(&mut clean), median(&mut filtered));
    println!(
        "install_median_us={:.0} remove_median_us={:.0} idle_filter_cost_percent={:.1}",
        micros(median(&mut install)),
        micros(median(&mut remove)),
        (clean - filtered) / clean * 100.0
    );
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
