//! What the benchmarks share: a bulk TCP transfer between the hosts of a `pair`, and medians.
//! Included by each example with `#[path = "common/bulk.rs"] mod bulk;`.

use std::time::Instant;

use netcase::{Family, Topology};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// The size of each write and read, in octets.
const CHUNK: usize = 64 * 1024;

/// The middle value (the upper one of an even count).
pub fn median<T: PartialOrd + Copy>(values: &mut [T]) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    values[values.len() / 2]
}

/// Sends `bytes` from client to server and returns the speed, in megabits per second.
pub async fn transfer(net: &Topology, bytes: u64, port: u16) -> netcase::Result<f64> {
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
