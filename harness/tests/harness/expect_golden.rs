//! Expectations against hand-built timelines: the example files under fixtures/expect hold for
//! the exchanges they describe, and each way of failing prints the side-by-side report kept in a
//! golden file next to them.

use std::{collections::BTreeMap, fs, path::PathBuf};

use netcase::{
    decode::{Flags, Segment},
    expect::{Expectation, Reason},
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/expect")
}

/// A segment `ms` milliseconds after the zero: `way` is `from>to`, `flags` tcpdump's letters.
fn seg(ms: f64, way: &str, flags: &str, seq: u32, ack: u32, len: u32) -> Segment {
    let (from, to) = way.split_once('>').expect("from>to");
    let flags = flags.chars().fold(Flags::empty(), |f, c| {
        f | match c {
            'S' => Flags::SYN,
            'F' => Flags::FIN,
            'P' => Flags::PSH,
            'R' => Flags::RST,
            '.' => Flags::ACK,
            _ => panic!("flag {c}"),
        }
    });
    let addr = |host: &str| match host {
        "client" => "198.18.0.1:40000".parse().expect("address"),
        _ => "198.18.0.2:8080".parse().expect("address"),
    };
    Segment {
        at_ns: (ms * 1e6) as i64,
        from: from.to_owned(),
        to: to.to_owned(),
        src: addr(from),
        dst: addr(to),
        flags,
        seq: 7_000_000u32.wrapping_add(seq),
        ack: 9_000_000u32.wrapping_add(ack),
        rel_seq: seq,
        rel_ack: ack,
        len,
        window: if from == "client" { 502 } else { 509 },
        options: Default::default(),
    }
}

/// "hello" and both FINs, as Linux sends them over a veth link.
fn hello_and_close() -> Vec<Segment> {
    vec![
        seg(0.0, "client>server", "S", 0, 0, 0),
        seg(0.031, "server>client", "S.", 0, 1, 0),
        seg(0.045, "client>server", ".", 1, 1, 0),
        seg(0.120, "client>server", "P.", 1, 1, 5),
        seg(0.131, "server>client", ".", 1, 6, 0),
        seg(0.204, "server>client", "F.", 1, 6, 0),
        seg(0.251, "client>server", "F.", 6, 2, 0),
        seg(0.262, "server>client", ".", 2, 7, 0),
    ]
}

fn parse(name: &str, text: &str) -> Expectation {
    Expectation::parse(text, name, &()).unwrap_or_else(|e| panic!("{e}"))
}

/// Compares `actual` with fixtures/expect/`name`.golden.
///
/// `NETCASE_BLESS=1 cargo test -p netcase --test expect_golden` rewrites the golden files from
/// what the code prints now, instead of comparing: do it after changing the report on purpose,
/// then read the diff of fixtures/expect/*.golden before committing it.
fn golden(name: &str, actual: &str) {
    let path = fixtures().join(format!("{name}.golden"));
    if std::env::var("NETCASE_BLESS").is_ok_and(|v| v == "1") {
        fs::write(&path, actual).expect("write the golden file");
        return;
    }
    let expected = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with NETCASE_BLESS=1", path.display()));
    assert_eq!(
        actual,
        expected,
        "the report differs from {}; if the change is intended, rerun with NETCASE_BLESS=1",
        path.display()
    );
}

#[test]
fn the_example_files_parse_and_the_handshake_holds() {
    let vars: BTreeMap<String, String> = [
        ("tcp_keepalive_time", "2"),
        ("tcp_keepalive_probes", "3"),
        ("tcp_keepalive_intvl", "1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into_iter()
    .collect();
    // Every fixture parses; the cases' own files use variables of their own, so here any
    // variable reads as 2 (what is checked is the syntax).
    struct AnyVariable;
    impl netcase::expect::Vars for AnyVariable {
        fn var(&self, _: &str) -> Option<&str> {
            Some("2")
        }
    }
    let mut parsed = 0;
    for entry in fs::read_dir(fixtures()).expect("fixtures/expect") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "expect") {
            let e = Expectation::load(&path, &AnyVariable).unwrap_or_else(|e| panic!("{e}"));
            assert!(!e.lines().is_empty());
            parsed += 1;
        }
    }
    assert!(parsed >= 3, "only {parsed} example files");

    let handshake = Expectation::load(fixtures().join("handshake.expect"), &vars).expect("parse");
    handshake
        .check(&hello_and_close())
        .expect("the handshake holds");
    let mut reset = hello_and_close();
    reset.push(seg(300.0, "server>client", "R.", 2, 7, 0));
    assert_eq!(
        handshake.check(&reset).unwrap_err().reason(),
        &Reason::Forbidden
    );

    let syns = |ms: &[f64]| -> Vec<Segment> {
        ms.iter()
            .map(|&m| seg(m, "client>server", "S", 0, 0, 0))
            .collect()
    };
    let retries = Expectation::load(fixtures().join("syn_retries.expect"), &vars).expect("parse");
    retries
        .check(&syns(&[0.0, 1004.0, 3012.0, 7200.0]))
        .expect("three retries");
    let four = syns(&[0.0, 1004.0, 3012.0, 7200.0, 15_000.0]);
    assert_eq!(
        retries.check(&four).unwrap_err().reason(),
        &Reason::Forbidden
    );

    let keepalive = Expectation::load(fixtures().join("keepalive.expect"), &vars).expect("parse");
    let probe = |ms: f64| seg(ms, "client>server", ".", 0, 1, 0);
    let timeline = [
        seg(0.0, "client>server", ".", 1, 1, 0),
        probe(2000.0),
        probe(3000.0),
        probe(4000.0),
        seg(5000.0, "client>server", "R.", 1, 1, 0),
    ];
    keepalive
        .check(&timeline)
        .expect("three probes, then a reset");
}

#[test]
fn late() {
    let e = parse(
        "late.expect",
        "# The SYN's first retransmission, one initial RTO (TCP_TIMEOUT_INIT) later.\n\
         @0     client>server S\n\
         +1s    client>server S\n",
    );
    let timeline = [
        seg(0.0, "client>server", "S", 0, 0, 0),
        seg(1412.0, "client>server", "S", 0, 0, 0),
    ];
    let m = e
        .check(&timeline)
        .unwrap_err()
        .with_pcap("target/netcase/late/client-eth0.pcap")
        .with_loss("0 frames dropped by the kernel");
    assert_eq!(m.line(), 3);
    golden("late", &m.to_string());
}

#[test]
fn wrong_flags() {
    let e = parse(
        "wrong_flags.expect",
        "@0     client>server S\n\
         +0     server>client S. ack 1\n\
         +0     client>server . seq 1 ack 1\n",
    );
    // Nothing listens: the server answers with a reset.
    let timeline = [
        seg(0.0, "client>server", "S", 0, 0, 0),
        seg(0.02, "server>client", "R.", 0, 1, 0),
    ];
    let m = e.check(&timeline).unwrap_err();
    assert_eq!(m.line(), 2);
    golden("wrong_flags", &m.to_string());
}

#[test]
fn missing() {
    let e = parse(
        "missing.expect",
        "@0     client>server S\n\
         +0     server>client S. ack 1\n\
         +0     client>server . seq 1 ack 1\n\
         *      client>server P. seq 1 ack 1 len 5\n\
         +0     server>client . seq 1 ack 6\n\
         *      server>client F. seq 1 ack 6\n",
    );
    // The data is never acknowledged: the server's side stays silent.
    let mut timeline = hello_and_close();
    timeline.truncate(4);
    let m = e.check(&timeline).unwrap_err();
    assert_eq!((m.line(), m.reason()), (5, &Reason::Missing));
    golden("missing", &m.to_string());
}

#[test]
fn unexpected() {
    let e = parse(
        "unexpected.expect",
        "unlisted forbidden\n\
         @0     client>server S\n\
         *      server>client S. ack 1\n\
         +0     client>server . seq 1 ack 1\n",
    );
    // The first SYN-ACK was lost on the way: the client retransmitted its SYN.
    let timeline = [
        seg(0.0, "client>server", "S", 0, 0, 0),
        seg(1003.0, "client>server", "S", 0, 0, 0),
        seg(1003.02, "server>client", "S.", 0, 1, 0),
        seg(1003.04, "client>server", ".", 1, 1, 0),
    ];
    let m = e.check(&timeline).unwrap_err();
    assert_eq!((m.line(), m.reason()), (3, &Reason::Unexpected));
    golden("unexpected", &m.to_string());
}

#[test]
fn forbidden_appeared() {
    let e = parse(
        "forbidden.expect",
        "@0     client>server S\n\
         +0     server>client S. ack 1\n\
         +0     client>server . seq 1 ack 1\n\
         !server>client R.\n\
         *      client>server P. seq 1 ack 1 len 5\n",
    );
    let timeline = [
        seg(0.0, "client>server", "S", 0, 0, 0),
        seg(0.03, "server>client", "S.", 0, 1, 0),
        seg(0.05, "client>server", ".", 1, 1, 0),
        seg(0.07, "server>client", "R.", 1, 1, 0),
        seg(0.10, "client>server", "P.", 1, 1, 5),
        seg(0.12, "server>client", "R", 1, 0, 0),
    ];
    let m = e.check(&timeline).unwrap_err();
    assert_eq!((m.line(), m.reason()), (4, &Reason::Forbidden));
    golden("forbidden", &m.to_string());
}
