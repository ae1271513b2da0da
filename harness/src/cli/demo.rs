//! `netcase demo`: builds the two common topologies, runs a TCP exchange over each family on
//! each, and prints what it measured and the captured segments.

use std::time::{Duration, Instant};

use crate::{Family, Topology, capture::Zero, decode::segments};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Runs the demo over `families` and prints it.
pub async fn demo(families: &[Family]) -> crate::Result<()> {
    println!("netcase demo: kernel {}", kernel_release());
    println!(
        "{:<8} {:<6} {:>9} {:>12} {:>9}  path",
        "topology", "family", "setup_ms", "handshake_ms", "rtt_ms"
    );
    let mut timelines = Vec::new();
    for shape in ["pair", "routed"] {
        let start = Instant::now();
        let net = match shape {
            "pair" => Topology::pair().await?,
            _ => Topology::routed().await?,
        };
        let setup = start.elapsed();
        for &family in families {
            let recording = net.record(&["client"]).await?;
            let (handshake, rtt) = exchange(&net, family).await?;
            let recorded = recording.stop().await?;
            let packets = recorded.on("client")?.packets(&net, Zero::FirstSyn);
            timelines.push((
                format!("{shape} {family}, as captured on client"),
                segments(&packets)
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            ));
            let path: Vec<String> = net
                .hosts()
                .map(|h| {
                    let addr = net.addr(h.name(), family).map(|a| a.to_string());
                    format!("{} {}", h.name(), addr.unwrap_or_default())
                })
                .collect();
            println!(
                "{shape:<8} {family:<6} {:>9.3} {:>12.3} {:>9.3}  {}",
                ms(setup),
                ms(handshake),
                ms(rtt),
                path.join(" -> ")
            );
        }
    }
    for (title, lines) in timelines {
        println!("\n{title}:");
        for line in lines {
            println!("  {line}");
        }
    }
    Ok(())
}

/// Connects client to server and bounces one byte: the time to connect, and one round trip.
async fn exchange(net: &Topology, family: Family) -> crate::Result<(Duration, Duration)> {
    let addr = net.socket_addr("server", family, 7)?;
    let server = net.host("server")?;
    let listener = server
        .spawn(async move { TcpListener::bind(addr).await })
        .await?
        .map_err(|e| io(format!("binding {addr} on server"), e))?;
    let echo = server.spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let byte = stream.read_u8().await?;
        stream.write_u8(byte).await
    });
    let timed = net
        .host("client")?
        .spawn(async move {
            let start = Instant::now();
            let mut stream = TcpStream::connect(addr).await?;
            let handshake = start.elapsed();
            let start = Instant::now();
            stream.write_u8(42).await?;
            stream.read_u8().await?;
            Ok::<_, std::io::Error>((handshake, start.elapsed()))
        })
        .await?
        .map_err(|e| io(format!("talking to {addr} from client"), e))?;
    echo.await?
        .map_err(|e| io(format!("echoing on {addr}"), e))?;
    Ok(timed)
}

fn io(what: String, source: std::io::Error) -> crate::Error {
    crate::Error::Io { what, source }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
