//! Measures how fast topologies are built and torn down.
//!
//! ```text
//! cargo run --release -p netcase --example setup_bench -- --pairs 200
//! pairs=200 setup_median_ms=.. setup_p95_ms=.. teardown_median_ms=..
//! cargo run --release -p netcase --example setup_bench -- --hosts 256
//! hosts=256 setup_ms=.. teardown_ms=..
//! ```
//!
//! `--pairs N` builds and drops N `pair` topologies one after another (two hosts, one link, IPv4
//! and IPv6 addresses, up and usable). `--hosts N` builds one star: N hosts behind one router.

use std::time::{Duration, Instant};

use netcase::Topology;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [flag, n] if flag == "--pairs" || flag == "--hosts" => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| (flag.as_str(), n)),
        _ => None,
    };
    let Some((mode, n)) = parsed else {
        eprintln!("usage: setup_bench --pairs N | --hosts N   (N > 0)");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        match mode {
            "--pairs" => pairs(n).await,
            _ => star(n).await,
        }
    });
    if let Err(e) = result {
        eprintln!("setup_bench: {e}");
        std::process::exit(1);
    }
}

async fn pairs(n: usize) -> netcase::Result<()> {
    // One warm-up build, not counted: the first pays for loading code and allocating pools.
    drop(Topology::pair().await?);
    let mut setup = Vec::with_capacity(n);
    let mut teardown = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let net = Topology::pair().await?;
        setup.push(start.elapsed());
        let start = Instant::now();
        drop(net);
        teardown.push(start.elapsed());
    }
    println!(
        "pairs={n} setup_median_ms={:.3} setup_p95_ms={:.3} teardown_median_ms={:.3}",
        ms(percentile(&mut setup, 50)),
        ms(percentile(&mut setup, 95)),
        ms(percentile(&mut teardown, 50)),
    );
    Ok(())
}

async fn star(n: usize) -> netcase::Result<()> {
    let names: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
    let mut builder = Topology::builder().router("router");
    for name in &names {
        builder = builder.host(name).link("router", name);
    }
    let start = Instant::now();
    let net = builder.build().await?;
    let setup = start.elapsed();
    let start = Instant::now();
    drop(net);
    println!(
        "hosts={n} setup_ms={:.1} teardown_ms={:.1}",
        ms(setup),
        ms(start.elapsed())
    );
    Ok(())
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort_unstable();
    samples[(samples.len() - 1) * p / 100]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
