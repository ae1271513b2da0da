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

use std::time::Instant;

use netcase::{Family, Topology};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const CHUNK: usize = 64 * 1024;

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

fn median(speeds: &mut [f64]) -> f64 {
    speeds.sort_by(f64::total_cmp);
    speeds[speeds.len() / 2]
}

/// Sends `bytes` from client to server and returns the speed, in megabits per second.
async fn transfer(net: &Topology, bytes: u64, port: u16) -> netcase::Result<f64> {
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
        let mut buf = vec![0u8; CHUNK];
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
            let buf = vec![0x5a_u8; CHUNK];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
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
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(received, bytes, "the server received everything");
    Ok(received as f64 * 8.0 / seconds / 1e6)
}
