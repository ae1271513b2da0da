use netcase::{Family, Topology};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn smoke() {
    let t0 = std::time::Instant::now();
    let net = Topology::pair().await.unwrap();
    eprintln!("pair built in {:?}", t0.elapsed());
    for family in Family::BOTH {
        let addr = net.socket_addr("server", family, 7000).unwrap();
        let listener = net
            .host("server")
            .unwrap()
            .spawn(async move { tokio::net::TcpListener::bind(addr).await.unwrap() })
            .await
            .unwrap();
        let server = net.host("server").unwrap().spawn(async move {
            let (mut s, peer) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(b"world").await.unwrap();
            peer
        });
        let t1 = std::time::Instant::now();
        let client = net
            .host("client")
            .unwrap()
            .spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.write_all(b"hello").await.unwrap();
                let mut buf = [0u8; 5];
                s.read_exact(&mut buf).await.unwrap();
                (s.local_addr().unwrap(), buf)
            })
            .await
            .unwrap();
        eprintln!(
            "{family}: {:?} in {:?}, server saw {:?}",
            client,
            t1.elapsed(),
            server.await.unwrap()
        );
    }
    let out = net
        .host("server")
        .unwrap()
        .output({
            let mut c = net.host("server").unwrap().command("ip");
            c.args(["-br", "addr"]);
            c
        })
        .await
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    let t2 = std::time::Instant::now();
    drop(net);
    eprintln!("teardown {:?}", t2.elapsed());
}
