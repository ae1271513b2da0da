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

use std::time::{Duration, Instant};

use netcase::{Family, Topology};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

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
        clean.push(transfer(&net, 9100 + 2 * round).await?);
        let idle = net.impair("client", "server").await?;
        filtered.push(transfer(&net, 9101 + 2 * round).await?);
        idle.remove(&net).await?;
    }
    let (clean, filtered) = (median(&mut clean), median(&mut filtered));
    println!(
        "install_median_us={:.0} remove_median_us={:.0} idle_filter_cost_percent={:.1}",
        micros(median_duration(&mut install)),
        micros(median_duration(&mut remove)),
        (clean - filtered) / clean * 100.0
    );
    Ok(())
}

/// Sends BYTES from client to server; the speed in megabits per second.
async fn transfer(net: &Topology, port: u16) -> netcase::Result<f64> {
    let addr = net.socket_addr("server", Family::V4, port)?;
    let listener = net
        .host("server")?
        .spawn(async move { TcpListener::bind(addr).await })
        .await?
        .map_err(|e| netcase::Error::Io {
            what: format!("binding {addr}"),
            source: e,
        })?;
    let sink = net.host("server")?.spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            match stream.read(&mut buf).await? {
                0 => return Ok::<_, std::io::Error>(total),
                n => total += n as u64,
            }
        }
    });
    let start = Instant::now();
    net.host("client")?
        .spawn(async move {
            let mut stream = TcpStream::connect(addr).await?;
            let buf = vec![0x5a_u8; 64 * 1024];
            let mut left = BYTES;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                stream.write_all(&buf[..n]).await?;
                left -= n as u64;
            }
            stream.shutdown().await
        })
        .await?
        .map_err(|e| netcase::Error::Io {
            what: "sending".to_owned(),
            source: e,
        })?;
    let received = sink.await?.map_err(|e| netcase::Error::Io {
        what: "receiving".to_owned(),
        source: e,
    })?;
    assert_eq!(received, BYTES);
    Ok(received as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e6)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_duration(values: &mut [Duration]) -> Duration {
    values.sort_unstable();
    values[values.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
