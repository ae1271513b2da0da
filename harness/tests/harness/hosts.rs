//! What a test can do on a host: settings that stay in that host, blocking code, real programs.

use std::time::{Duration, Instant};

use netcase::{
    Error, Family, Result, Topology,
    fixtures::pair,
    require_privileges, require_program,
    sysctl::{self, PortRange},
};
use rstest::rstest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads a sysctl in the root namespace, from this test's own thread (which never leaves it).
fn root_sysctl(path: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .expect("root sysctl")
        .trim()
        .to_owned()
}

#[rstest]
#[tokio::test]
async fn a_sysctl_changes_only_its_own_host(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let (client, server) = (net.host("client")?, net.host("server")?);
    let root_before = root_sysctl(sysctl::TCP_SYN_RETRIES.path());
    let server_before = server.get(sysctl::TCP_SYN_RETRIES).await?;

    let changed = if server_before == 2 { 3 } else { 2 };
    client.set(sysctl::TCP_SYN_RETRIES, changed).await?;
    client
        .set(
            sysctl::IP_LOCAL_PORT_RANGE,
            PortRange {
                low: 40000,
                high: 40009,
            },
        )
        .await?;

    assert_eq!(client.get(sysctl::TCP_SYN_RETRIES).await?, changed);
    assert_eq!(server.get(sysctl::TCP_SYN_RETRIES).await?, server_before);
    assert_eq!(root_sysctl(sysctl::TCP_SYN_RETRIES.path()), root_before);
    assert_eq!(client.get(sysctl::IP_LOCAL_PORT_RANGE).await?.len(), 10);
    assert_eq!(
        client.get_raw("net/ipv4/ip_local_port_range").await?,
        "40000\t40009"
    );
    Ok(())
}

/// A host's settings snapshot has the values the typed reads give, by file name.
#[rstest]
#[tokio::test]
async fn settings_snapshot_names_every_value(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let host = net.host("client")?;
    host.set(sysctl::TCP_KEEPALIVE_INTVL, 7).await?;
    let settings = host.settings().await?;
    assert_eq!(
        settings.get("tcp_keepalive_intvl").map(String::as_str),
        Some("7")
    );
    assert_eq!(
        settings.get("somaxconn"),
        Some(&host.get(sysctl::SOMAXCONN).await?.to_string())
    );
    assert_eq!(
        settings.get("tcp_syn_retries"),
        Some(&host.get(sysctl::TCP_SYN_RETRIES).await?.to_string())
    );
    Ok(())
}

/// Every typed sysctl exists in a host on this kernel, and parses as its type.
#[rstest]
#[tokio::test]
async fn every_typed_sysctl_reads_in_a_host(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let host = net.host("server")?;
    for path in sysctl::KNOWN {
        host.get_raw(path).await?;
    }
    assert!(host.get(sysctl::SOMAXCONN).await? > 0);
    assert!(!host.get(sysctl::TCP_CONGESTION_CONTROL).await?.is_empty());
    // A router forwards; an end host does not.
    assert!(!host.get(sysctl::IP_FORWARD).await?);
    Ok(())
}

#[rstest]
#[tokio::test]
async fn bad_sysctls_are_named(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let host = net.host("client")?;
    let err = host.get_raw("net/ipv4/tcp_no_such_knob").await.unwrap_err();
    assert!(matches!(err, Error::UnknownSysctl { .. }), "{err:?}");
    assert!(
        err.to_string().contains("net/ipv4/tcp_no_such_knob")
            && err.to_string().contains("host client")
    );

    let err = host.set_raw("kernel/hostname", "x").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("only net/... sysctls are per-namespace"),
        "{err}"
    );

    let err = host
        .set_raw("net/ipv4/tcp_syn_retries", "many")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SysctlValue { .. }), "{err:?}");
    assert!(err.to_string().contains("refused \"many\""), "{err}");
    Ok(())
}

/// Blocking socket code runs inside a host with `run`.
#[rstest]
#[tokio::test]
async fn blocking_code_runs_inside_a_host(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let addr = net.socket_addr("server", Family::V6, 5000)?;
    let listener = net
        .host("server")?
        .run(move || std::net::TcpListener::bind(addr))
        .await?;
    let listener = listener.expect("bind");
    let accepted = net.host("server")?.run(move || {
        let (mut s, peer) = listener.accept().expect("accept");
        std::io::Write::write_all(&mut s, b"hi").expect("write");
        peer
    });
    let local = net
        .host("client")?
        .run(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            let mut buf = [0; 2];
            std::io::Read::read_exact(&mut s, &mut buf).expect("read");
            assert_eq!(&buf, b"hi");
            s.local_addr().expect("local addr")
        })
        .await?;
    assert_eq!(accepted.await?, local);
    assert_eq!(local.ip(), net.addr("client", Family::V6)?);
    Ok(())
}

/// A panic inside a host fails the test with the panic's own message.
#[rstest]
#[tokio::test]
async fn a_panic_on_a_host_reaches_the_test(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let task = net
        .host("server")?
        .spawn(async { panic!("inside the server") });
    let panic = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(task))
        .await
        .expect_err("the panic reaches the caller");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"inside the server"));
    // The host survives a panicking task.
    assert_eq!(net.host("server")?.spawn(async { 7 }).await?, 7);
    Ok(())
}

/// A real program runs inside a host: nc listens on the server, the client talks to it.
#[rstest]
#[tokio::test]
async fn an_external_program_serves_inside_a_host(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let nc = require_program!("nc", "netcat-openbsd");
    let net = pair.await?;
    let server = net.host("server")?;
    let mut cmd = server.command(nc);
    cmd.args(["-l", "-N", "4000"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut nc = server.start(cmd).await?;
    let addr = net.socket_addr("server", Family::V4, 4000)?;
    let sent = net.host("client")?.spawn(async move {
        // nc starts listening a moment after it starts: retry until it accepts, with a deadline.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut stream = loop {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => panic!("nc never listened on {addr}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        };
        stream.write_all(b"from the client\n").await.expect("write");
        stream.shutdown().await.expect("shutdown");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.expect("read");
    });
    sent.await?;
    let mut out = String::new();
    std::io::Read::read_to_string(nc.child_mut().stdout.as_mut().expect("stdout"), &mut out)
        .expect("nc's output");
    assert_eq!(out, "from the client\n");
    Ok(())
}

/// A process started on a host lives in the host's namespace and dies with the host.
#[tokio::test]
async fn a_hosts_processes_die_with_it() -> Result<()> {
    require_privileges!();
    let net = Topology::pair().await?;
    let host = net.host("server")?;
    let mut sleep = host.command("sleep");
    sleep.arg("1000");
    let mut process = host.start(sleep).await?;
    let pid = process.pid();
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("the process's netns");
    assert_eq!(
        ns.to_string_lossy(),
        format!("net:[{}]", host.netns_inode()?)
    );

    drop(net);
    // The host's thread has ended, and PR_SET_PDEATHSIG killed the process with it.
    let status = process.child_mut().wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    Ok(())
}

/// `fork::spawn` forks on a thread of its own, yet the child starts where the caller is: a
/// program started from inside a host without `Host::command` runs in the host's namespace, and
/// one started from a test's thread in the process's.
#[tokio::test]
async fn a_spawned_program_starts_in_the_callers_namespace() -> Result<()> {
    require_privileges!();
    let net = Topology::pair().await?;
    let host = net.host("server")?;
    let readlink = || {
        let out =
            netcase::fork::output(std::process::Command::new("readlink").arg("/proc/self/ns/net"))
                .expect("readlink runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let inside = host.run(readlink).await?;
    assert_eq!(inside, format!("net:[{}]", host.netns_inode()?));
    let outside = readlink();
    let ours = std::fs::read_link("/proc/self/ns/net").expect("our namespace");
    assert_eq!(outside, ours.to_string_lossy());
    Ok(())
}

/// Looking up what a topology does not have names what was asked for and what there is.
#[rstest]
#[tokio::test]
async fn bad_lookups_are_named(#[future] pair: Result<Topology>) -> Result<()> {
    require_privileges!();
    let net = pair.await?;
    let err = net.host("sever").unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown host \"sever\" in this topology; the hosts are: client, server"
    );
    let err = net.link("client", "router").unwrap_err().to_string();
    assert!(
        err.contains("unknown host \"router\" in link client-router"),
        "{err}"
    );
    let err = net
        .link("client", "server")?
        .end("router")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown host \"router\""), "{err}");

    let v4_only = Topology::builder()
        .hosts(["a", "b"])
        .link_with("a", "b", |l| l.without(Family::V6))
        .build()
        .await?;
    let err = v4_only.addr("a", Family::V6).unwrap_err().to_string();
    assert!(err.contains("host a has no IPv6 address"), "{err}");
    assert!(v4_only.addr("a", Family::V4)?.is_ipv4());
    Ok(())
}
