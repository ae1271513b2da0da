//! Measures how fast a host's kernel state is read: its socket table with 10,000 sockets in
//! TIME_WAIT, and its counters.
//!
//! ```text
//! cargo run --release -p netcase --example observe_bench [-- --sockets N]
//! sockets=10000 sockets_read_ms=.. counters_read_us=.. empty_sockets_read_ms=..
//! ```
//!
//! The client of a `pair` opens N connections to the server and closes each first, so the N
//! TIME_WAIT sockets are the client's. Each figure is the median of several reads: the socket
//! table 21 times, the counters 1001 times. `empty_sockets_read_ms` reads the server's table,
//! which holds one listener: the floor set by the kernel's walk of its hash tables.

use std::{
    io::Read,
    net::{TcpListener, TcpStream},
    time::{Duration, Instant},
};

use netcase::{
    Family, Topology,
    observe::{Filter, TcpState, wait_until},
    sysctl,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = match args.as_slice() {
        [] => Some(10_000),
        [flag, n] if flag == "--sockets" => n.parse::<u32>().ok().filter(|n| *n > 0),
        _ => None,
    };
    let Some(count) = count else {
        eprintln!("usage: observe_bench [--sockets N]   (N > 0)");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(e) = runtime.block_on(bench(count)) {
        eprintln!("observe_bench: {e}");
        std::process::exit(1);
    }
}

async fn bench(count: u32) -> netcase::Result<()> {
    let net = Topology::pair().await?;
    let (client, server) = (net.host("client")?, net.host("server")?);
    let ports = client.get(sysctl::IP_LOCAL_PORT_RANGE).await?;
    if ports.len() < count + 100 {
        client
            .set(
                sysctl::IP_LOCAL_PORT_RANGE,
                sysctl::PortRange {
                    low: 1024,
                    high: 65535,
                },
            )
            .await?;
    }
    // Without RFC 1337's protection (tcp_rfc1337) a reset kills a TIME_WAIT socket, and the
    // server sends some: its delayed ACK of the client's FIN can reach the client after its own
    // FIN (veth delivers each on the sending CPU's backlog, and the two leave from different
    // CPUs); TIME_WAIT answers that late ACK, and the closed server answers with a reset that
    // TIME_WAIT accepts. About half the runs here lost a few dozen sockets that way.
    client.set(sysctl::TCP_RFC1337, true).await?;
    if client.get(sysctl::TCP_MAX_TW_BUCKETS).await? < count + 100 {
        client.set(sysctl::TCP_MAX_TW_BUCKETS, count + 100).await?;
    }

    let addr = net.socket_addr("server", Family::V4, 9000)?;
    // A backlog for every connection, so that no SYN meets a full accept queue (and waits 1 s to
    // be retransmitted) while the server catches up.
    server.set(sysctl::SOMAXCONN, count + 100).await?;
    let backlog = i32::try_from(count + 100).unwrap_or(i32::MAX);
    let listener = server
        .run(move || {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            socket.bind(&addr.into())?;
            socket.listen(backlog)?;
            std::io::Result::Ok(TcpListener::from(socket))
        })
        .await?
        .expect("listen");
    // The server reads each connection to its end before closing it, so the client always
    // closes first and keeps the TIME_WAIT socket.
    let accepting = server.run(move || {
        for _ in 0..count {
            let (mut stream, _) = listener.accept()?;
            let mut buf = [0u8; 16];
            while stream.read(&mut buf)? > 0 {}
        }
        std::io::Result::Ok(listener)
    });
    let connecting = client.run(move || {
        for _ in 0..count {
            drop(TcpStream::connect(addr)?);
        }
        std::io::Result::Ok(())
    });
    let start = Instant::now();
    connecting.await?.expect("connect");
    let _listener = accepting.await?.expect("accept");
    let opened = start.elapsed();
    let filled = wait_until(
        "every client socket in TIME_WAIT",
        Duration::from_secs(30),
        || client.sockets_matching(Filter::all().state(TcpState::TimeWait)),
        |t| t.len() >= count as usize,
    )
    .await?;
    let sockets = filled.value.len();

    let mut reads = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        let table = client.sockets().await?;
        reads.push(start.elapsed());
        assert!(table.len() >= sockets);
    }
    let sockets_read = median(&mut reads);

    let mut empty = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        let table = server.sockets().await?;
        empty.push(start.elapsed());
        assert_eq!(table.count(TcpState::Listen), 1);
    }
    let empty_read = median(&mut empty);

    let mut counters = Vec::new();
    for _ in 0..1001 {
        let start = Instant::now();
        let c = client.counters().await?;
        counters.push(start.elapsed());
        assert!(c.get("Tcp.ActiveOpens")? >= i64::from(count));
    }
    let counters_read = median(&mut counters);

    println!(
        "sockets={sockets} sockets_read_ms={:.2} counters_read_us={:.0} empty_sockets_read_ms={:.2} \
         open_close_s={:.2}",
        sockets_read.as_secs_f64() * 1e3,
        counters_read.as_secs_f64() * 1e6,
        empty_read.as_secs_f64() * 1e3,
        opened.as_secs_f64(),
    );
    Ok(())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
