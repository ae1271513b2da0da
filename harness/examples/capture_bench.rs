//! Measures what capturing costs a bulk transfer.
//!
//! ```text
//! cargo run --release -p netcase --example capture_bench -- --megabytes 200
//! packets=N dropped=D capture_mbps=X uncaptured_mbps=Y
//! ```
//!
//! Sends the given amount (default 200 MB) from client to server over TCP on a `pair`, three
//! times without capture and five times capturing both link ends, alternating, and prints the
//! frames of one captured transfer, the frames the kernel dropped from all captures, and the
//! median speed of each kind in megabits per second. A transfer's speed on this machine varies by
//! tens of percent from one run to the next; medians of alternating runs compare like with like.

#[path = "common/bulk.rs"]
mod bulk;

use bulk::{median, transfer};
use netcase::Topology;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let megabytes = match args.as_slice() {
        [] => Some(200),
        [flag, n] if flag == "--megabytes" => n.parse::<u64>().ok().filter(|n| *n > 0),
        _ => None,
    };
    let Some(megabytes) = megabytes else {
        eprintln!("usage: capture_bench [--megabytes N]   (N > 0, default 200)");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(e) = runtime.block_on(bench(megabytes * 1_000_000)) {
        eprintln!("capture_bench: {e}");
        std::process::exit(1);
    }
}

const ROUNDS: u16 = 5;

async fn bench(bytes: u64) -> netcase::Result<()> {
    let net = Topology::pair().await?;
    let (mut captured, mut uncaptured) = (Vec::new(), Vec::new());
    let (mut packets, mut dropped) = (0, 0);
    for round in 0..ROUNDS {
        uncaptured.push(transfer(&net, bytes, 9000 + 2 * round).await?);
        let recording = net.record(&["client", "server"]).await?;
        captured.push(transfer(&net, bytes, 9001 + 2 * round).await?);
        let recorded = recording.stop().await?;
        packets = recorded.captures().iter().map(|c| c.frames.len()).sum();
        dropped += recorded.dropped();
    }
    println!(
        "packets={packets} dropped={dropped} capture_mbps={:.0} uncaptured_mbps={:.0}",
        median(&mut captured),
        median(&mut uncaptured)
    );
    Ok(())
}
