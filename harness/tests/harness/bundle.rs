//! `#[netcase::test]`: a test of one's own that fails or panics leaves the bug-report bundle in
//! its output directory; one that passes leaves nothing.

use std::{path::PathBuf, thread};

use netcase::{
    Family, Result, TestInfo, Topology, expect::Expectation, network::Close, privileges,
};

/// The test under test: the README's abortive close, with an expectation that claims a FIN.
async fn claims_a_fin(family: Family) -> Result<()> {
    let net = Topology::pair().await?;
    let watch = net.watch(&["client"]).await?;
    let conn = net.connect("client", "server", family, 7000).await?;
    let second = net.connect("client", "server", family, 7001).await?;
    conn.client.close(Close::Abort).await?;
    second.client.close(Close::Abort).await?;
    let seen = watch.stop().await?;
    let wrong = "@0 client>server S\n* client>server F.\n";
    seen.check(
        &net,
        &Expectation::parse(wrong, "claims_a_fin.expect", &())?,
    )
}

/// Runs `body` as `#[netcase::test]` runs a test's, on a thread named `name` (as libtest names
/// it); its output directory, emptied first, and whether it panicked.
fn run_as<T: netcase::bundle::Outcome + Send + 'static>(
    name: &str,
    body: impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = T>>> + Send + 'static,
) -> (PathBuf, thread::Result<T>) {
    let info = TestInfo {
        name: "claims_a_fin",
        summary: "The README's abortive close, claiming a FIN.",
        package: "netcase",
        krate: "harness",
        file: file!(),
        line: line!(),
        capture_all: true,
    };
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let dir = netcase::capture::output_dir();
            let _ = std::fs::remove_dir_all(&dir);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                netcase::bundle::run(info, body())
            }));
            (dir, outcome)
        })
        .expect("a thread")
        .join()
        .expect("the thread returns")
}

fn read(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file} in the bundle: {e}"))
}

#[test]
fn a_failing_test_leaves_the_bundle_naming_the_mismatch() {
    if !privileges::can_run(privileges::TOPOLOGY) {
        return;
    }
    let name = "bundle.claims_a_fin::family_2_Family__V6";
    let (dir, outcome) = run_as(name, || Box::pin(claims_a_fin(Family::V6)));
    let error = outcome
        .expect("no panic")
        .expect_err("the expectation is wrong");
    assert!(matches!(error, netcase::Error::Expectation(_)), "{error}");
    let readme = read(&dir, "README.md");
    let head: Vec<&str> = readme.lines().take(8).collect();
    assert_eq!(head[0], format!("# {name} over v6: FAIL"), "{readme}");
    assert!(
        head[2].starts_with("**Why:** claims_a_fin.expect:2: ")
            && head[2]
                .contains("returned as an error by the test (harness/tests/harness/bundle.rs:"),
        "the first lines say what failed and where: {readme}"
    );
    assert!(
        head.contains(
            &format!("cargo test -p netcase --test harness -- --exact '{name}' --include-ignored")
                .as_str()
        ),
        "and how to rerun it: {readme}"
    );
    let ladder = read(&dir, "ladder.svg");
    assert_eq!(
        ladder.matches(" ⇄ server:700").count(),
        2,
        "two connections in the legend: {ladder}"
    );
    assert!(
        ladder.contains("url(#head1)"),
        "the second in a colour of its own"
    );
    let timeline = read(&dir, "timeline.txt");
    assert!(
        timeline.contains(">server:7000 S"),
        "ports in the timeline: {timeline}"
    );
    assert!(read(&dir, "counters.txt").contains("OutRsts"));
    assert!(read(&dir, "sockets.txt").contains("== end on server"));
    assert!(read(&dir, "settings.txt").contains("tcp_syn_retries = "));
    assert!(read(&dir, "check-client.txt").contains("claims_a_fin.expect"));
    let result: serde_json::Value = serde_json::from_str(&read(&dir, "result.json")).expect("json");
    assert_eq!(result["verdict"], "fail");
    assert!(dir.join("client-eth0.pcap").exists() && dir.join("server-eth0.pcap").exists());
    std::fs::remove_dir_all(&dir).expect("clean up the bundle");
}

#[test]
fn a_panicking_test_leaves_the_bundle_naming_the_assertion() {
    if !privileges::can_run(privileges::TOPOLOGY) {
        return;
    }
    let name = "bundle.panics::family_1_Family__V4";
    let (dir, outcome) = run_as(name, || {
        Box::pin(async {
            let net = Topology::pair().await.expect("a pair");
            net.connect("client", "server", Family::V4, 7000)
                .await
                .expect("connected");
            assert_eq!(1 + 1, 3, "arithmetic");
        })
    });
    assert!(outcome.is_err(), "the panic goes on to the test harness");
    let readme = read(&dir, "README.md");
    let why = readme.lines().nth(2).unwrap_or_default();
    assert!(
        why.starts_with("**Why:** assertion `left == right` failed: arithmetic — panicked at harness/tests/harness/bundle.rs:"),
        "{readme}"
    );
    // Written once the panic has unwound the test: its sockets closed (the client's in TIME_WAIT).
    let sockets = read(&dir, "sockets.txt");
    assert!(sockets.contains("198.18.0.2:7000"), "{sockets}");
    std::fs::remove_dir_all(&dir).expect("clean up the bundle");
}

#[test]
fn a_passing_test_leaves_nothing() {
    if !privileges::can_run(privileges::TOPOLOGY) {
        return;
    }
    let (dir, outcome) = run_as("bundle.passes", || {
        Box::pin(async {
            let net = Topology::pair().await?;
            let watch = net.watch(&["client"]).await?;
            net.connect("client", "server", Family::V4, 7000).await?;
            watch
                .stop()
                .await?
                .counters("client")?
                .moved([("ActiveOpens", 1)])?;
            Ok::<(), netcase::Error>(())
        })
    });
    outcome.expect("no panic").expect("it passes");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// Only the first topology a test builds is kept until the verdict: a later one goes when the
/// test drops it (a test that builds one per iteration keeps one alive, not all).
#[test]
fn only_the_first_topology_waits_for_the_verdict() {
    if !privileges::can_run(privileges::TOPOLOGY) {
        return;
    }
    let (dir, outcome) = run_as("bundle.two_topologies", || {
        Box::pin(async {
            let first = Topology::pair().await?;
            let inode = |net: &Topology| net.host("client").and_then(|h| h.netns_inode());
            let first_ns = inode(&first)?;
            drop(first);
            let second = Topology::pair().await?;
            let second_ns = inode(&second)?;
            drop(second);
            // Wait for the second's namespace to go (its host threads end as it is dropped).
            let gone = |ns| netcase::leaks::netns_holders(ns).is_empty();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while !gone(second_ns) && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert!(gone(second_ns), "the second topology is torn down at once");
            assert!(!gone(first_ns), "the first waits for the verdict");
            Ok::<(), netcase::Error>(())
        })
    });
    outcome.expect("no panic").expect("it passes");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}
