//! The `netcase` command end to end: a fast case's bundle holds every file it promises, its
//! result.json validates against the documented schema, its pcap opens in tshark, its ladder
//! diagram renders in headless Chromium, the index links every case; bad input exits 2, and
//! Ctrl-C stops a run cleanly.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use netcase::{require_privileges, require_program};
use serde_json::Value;

/// This module's tests.
pub fn trials() -> Vec<libtest_mimic::Trial> {
    let mut trials: Vec<libtest_mimic::Trial> = [
        (
            "command::a_run_leaves_a_complete_bundle",
            a_run_leaves_a_complete_bundle as fn(),
        ),
        (
            "command::dropped_syns_are_drawn_where_the_filter_dropped_them",
            dropped_syns_are_drawn_where_the_filter_dropped_them as fn(),
        ),
        (
            "command::the_validator_refuses_what_the_schema_forbids",
            the_validator_refuses_what_the_schema_forbids as fn(),
        ),
        (
            "command::the_ladder_and_the_index_render_in_chromium",
            the_ladder_and_the_index_render_in_chromium as fn(),
        ),
        (
            "command::bad_input_exits_2_with_one_clear_line",
            bad_input_exits_2_with_one_clear_line as fn(),
        ),
        (
            "command::a_killed_run_is_shown_as_interrupted",
            a_killed_run_is_shown_as_interrupted as fn(),
        ),
        (
            "command::tests_writes_a_users_test_binary_as_a_run",
            tests_writes_a_users_test_binary_as_a_run as fn(),
        ),
    ]
    .into_iter()
    .map(|(name, test)| crate::plain(name, test))
    .collect();
    for (i, (signal, name)) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")]
        .into_iter()
        .enumerate()
    {
        let test = format!(
            "command::a_signal_stops_the_run_cleanly::signal_{}_libc__{name}",
            i + 1
        );
        let thread = test.clone();
        trials.push(libtest_mimic::Trial::test(test, move || {
            crate::on_thread(&thread, move || {
                a_signal_stops_the_run_cleanly(signal);
                Ok(())
            })
        }));
    }
    trials
}

const FAST: &str = "socket_addresses::seen_by_both_ends";

pub fn netcase(args: &[&str]) -> Output {
    netcase::fork::output(Command::new(env!("CARGO_BIN_EXE_netcase")).args(args))
        .expect("the netcase binary runs")
}

/// `netcase run ARGS --out OUT`, which must succeed; what it printed.
pub fn run_ok(args: &[&str], out: &Path) -> String {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().expect("a UTF-8 path")]);
    let run = netcase(&all);
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "netcase {all:?}: {stdout}\n{stderr}");
    stdout
}

fn out_dir(name: &str) -> PathBuf {
    let dir = netcase::capture::output_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// A case whose impairment drops every SYN: the bundle's timeline lists each drop from the
/// program's record, with the rule that made it, and the ladder ends each of those SYNs in a
/// cross before the server.
fn dropped_syns_are_drawn_where_the_filter_dropped_them() {
    require_privileges!();
    let out = out_dir("drops");
    let case = "silent_drops::syn_retries_1_exponential";
    run_ok(&[case, "--family", "v4"], &out);
    let bundle = out.join("silent_drops.syn_retries_1_exponential.v4");
    let timeline = std::fs::read_to_string(bundle.join("timeline.txt")).unwrap();
    let why = "dropped at client>server (server eth0) by rule: TCP segments with flags S";
    let listed: Vec<&str> = timeline.lines().filter(|l| l.contains(why)).collect();
    assert_eq!(listed.len(), 2, "both SYNs (tcp_syn_retries=1): {timeline}");
    assert!(
        listed.iter().all(|l| l.contains(">server:7300 S seq 0")),
        "{listed:?}"
    );
    let ladder = std::fs::read_to_string(bundle.join("ladder.svg")).unwrap();
    assert_eq!(ladder.matches(">dropped</tspan>").count(), 2, "{ladder}");
    let _ = std::fs::remove_dir_all(&out);
}

fn a_run_leaves_a_complete_bundle() {
    require_privileges!();
    let tshark = require_program!("tshark", "tshark");
    let out = out_dir("report");
    let stdout = run_ok(&[FAST, "--family", "v6"], &out);
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
    let bundle = out.join("socket_addresses.seen_by_both_ends.v6");
    for file in [
        "result.json",
        "README.md",
        "timeline.txt",
        "ladder.svg",
        "counters.txt",
        "sockets.txt",
        "settings.txt",
        "client-eth0.pcap",
        "server-eth0.pcap",
    ] {
        assert!(
            bundle.join(file).is_file(),
            "{file} missing from {}",
            bundle.display()
        );
    }
    for file in ["summary.json", "junit.xml", "index.html"] {
        assert!(
            out.join(file).is_file(),
            "{file} missing from {}",
            out.display()
        );
    }
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("result.json")).unwrap())
            .expect("result.json parses");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("report/result.schema.json")).unwrap(),
    )
    .expect("the schema parses");
    if let Err(e) = validate(&schema, &result, "result") {
        panic!("result.json does not follow its schema: {e}");
    }
    assert_eq!(result["verdict"], "pass");
    assert_eq!(
        result["rerun"],
        format!("netcase run '{FAST}' --family v6 --seed 1")
    );
    let readme = std::fs::read_to_string(bundle.join("README.md")).unwrap();
    assert!(readme.contains("netcase run 'socket_addresses::seen_by_both_ends' --family v6"));
    let timeline = std::fs::read_to_string(bundle.join("timeline.txt")).unwrap();
    // Each segment names its ports: connections can be told apart.
    let syn = a_line_reads(&timeline, "client:", ">server:6000 S seq 0");
    assert!(syn, "{timeline}");

    let opened = netcase::fork::output(
        Command::new(tshark)
            .args(["-r"])
            .arg(bundle.join("client-eth0.pcap")),
    )
    .expect("tshark runs");
    let text = String::from_utf8_lossy(&opened.stdout);
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert!(text.contains("[SYN]"), "{text}");

    let show = netcase(&["show", bundle.to_str().unwrap()]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success());
    assert!(
        shown.starts_with(&format!("PASS {FAST} over v6")),
        "{shown}"
    );
    assert!(shown.contains("---- timeline.txt"), "{shown}");

    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"seen_by_both_ends[v6]\""), "{junit}");
}

/// Checks `value` against the subset of JSON Schema the result schema uses (type, enum,
/// required, properties, additionalProperties, items); the error names the path.
fn validate(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{path}: bad type in the schema")),
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = allowed
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"));
        if !ok {
            return Err(format!("{path}: a {actual}, the schema wants {allowed:?}"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {options:?}"));
    }
    if let Value::Object(object) = value {
        if let Some(Value::Array(required)) = schema.get("required") {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    return Err(format!("{path}: {key} is missing"));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in object {
            let sub = format!("{path}.{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(s) => validate(s, item, &sub)?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => return Err(format!("{sub}: not in the schema")),
                    Some(s @ Value::Object(_)) => validate(s, item, &sub)?,
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(s, item, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn the_validator_refuses_what_the_schema_forbids() {
    let schema: Value = serde_json::from_str(
        r#"{"type":"object","required":["a"],"additionalProperties":false,
            "properties":{"a":{"type":"string","enum":["x"]},"b":{"type":"array","items":{"type":"integer"}}}}"#,
    )
    .unwrap();
    let check = |json: &str| validate(&schema, &serde_json::from_str(json).unwrap(), "r");
    assert!(check(r#"{"a":"x","b":[1,2]}"#).is_ok());
    assert!(check(r#"{"b":[]}"#).unwrap_err().contains("a is missing"));
    assert!(check(r#"{"a":"y"}"#).unwrap_err().contains("not one of"));
    assert!(
        check(r#"{"a":"x","c":1}"#)
            .unwrap_err()
            .contains("r.c: not in the schema")
    );
    assert!(
        check(r#"{"a":"x","b":[1.5]}"#)
            .unwrap_err()
            .contains("r.b[0]")
    );
}

/// Headless Chromium, as root, without the network.
/// Headless Chromium at the lowest CPU priority (`nice -n 19`): it renders for seconds on both
/// CPUs, and the cases running beside it in this binary measure kernel timers.
pub fn chromium(chromium: &Path, profile: &Path) -> Command {
    let mut command = Command::new("nice");
    command.args(["-n", "19"]).arg(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// The ladder diagram of a real run renders to a picture of its declared size with ink on it;
/// the index opens and links every case. Keeps fixtures/report/ladder-example.png fresh with
/// NETCASE_BLESS=1.
fn the_ladder_and_the_index_render_in_chromium() {
    require_privileges!();
    let browser = require_program!("chromium", "chromium");
    let out = out_dir("render");
    // The two cases named seen_*: one on a pair, one through a router.
    run_ok(&["socket_addresses::seen_", "--family", "v4"], &out);
    let bundle = out.join("socket_addresses.seen_through_a_router.v4");
    let svg = std::fs::read_to_string(bundle.join("ladder.svg")).unwrap();
    let attr = |name: &str| -> u32 {
        let at = svg.find(&format!("{name}=\"")).expect("a size") + name.len() + 2;
        svg[at..].split('"').next().unwrap().parse().unwrap()
    };
    let (width, height) = (attr("width"), attr("height"));
    let png = out.join("ladder.png");
    let profile = out.join("chromium-profile");
    let rendered = netcase::fork::output(
        chromium(&browser, &profile)
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("file://{}", bundle.join("ladder.svg").display())),
    )
    .expect("chromium runs");
    assert!(
        png.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("a frame");
    assert_eq!((frame.width, frame.height), (width, height));
    let step = frame.color_type.samples();
    let ink = pixels[..frame.buffer_size()]
        .chunks(step)
        .filter(|p| p[..3].iter().any(|&c| c < 128))
        .count();
    let share = ink as f64 / f64::from(width * height);
    assert!(
        (0.005..0.5).contains(&share),
        "dark pixels: {:.2}% of the picture",
        share * 100.0
    );
    if std::env::var("NETCASE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::copy(&png, fixtures().join("report/ladder-example.png")).unwrap();
    }

    let dom = netcase::fork::output(
        chromium(&browser, &profile)
            .args(["--dump-dom", "--enable-logging=stderr", "--v=0"])
            .arg(format!("file://{}", out.join("index.html").display())),
    )
    .expect("chromium runs");
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success(), "{log}");
    assert!(
        !log.contains("Uncaught") && !log.contains("CONSOLE"),
        "{log}"
    );
    for bundle in [
        "socket_addresses.seen_by_both_ends.v4",
        "socket_addresses.seen_through_a_router.v4",
    ] {
        assert!(
            html.contains(&format!("href=\"{bundle}/README.md\"")),
            "{bundle} not linked"
        );
        assert!(
            html.contains(&format!("id=\"{bundle}\"")),
            "{bundle} has no section"
        );
    }
    assert_eq!(html.matches("<svg").count(), 2, "one ladder per case");
}

fn bad_input_exits_2_with_one_clear_line() {
    let unknown = netcase(&["run", "socket_adresses"]);
    assert_eq!(unknown.status.code(), Some(2));
    let line = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        line.contains("no case matches \"socket_adresses\""),
        "{line}"
    );
    assert!(line.contains("closest: socket_addresses::"), "{line}");

    let unwritable = netcase(&["run", FAST, "--out", "/proc/netcase-report"]);
    assert_eq!(unwritable.status.code(), Some(2));
    let line = String::from_utf8_lossy(&unwritable.stderr);
    assert!(
        line.contains("cannot write the output directory /proc/netcase-report"),
        "{line}"
    );

    for args in [
        &["run", "--family", "v5"][..],
        &["run", "--jobs", "0"],
        &["frobnicate"],
    ] {
        let bad = netcase(args);
        assert_eq!(bad.status.code(), Some(2), "{args:?}");
    }
    let show = netcase(&["show", "/nonexistent"]);
    assert_eq!(show.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&show.stderr).contains("is not a case's bundle"));
}

/// Starts `netcase run` with a minute-long case and a fast one into `out`, and returns once the
/// fast one is in the summary.
fn run_until_the_fast_case_is_done(out: &Path) -> std::process::Child {
    let mut child = netcase::fork::spawn(
        Command::new(env!("CARGO_BIN_EXE_netcase"))
            .args(["run", LONG, FAST, "--family", "v4", "--jobs", "2"])
            .args(["--out", out.to_str().unwrap()])
            .stdout(std::process::Stdio::null()),
    )
    .expect("netcase starts");
    // Done once the summary and the index, rewritten in that order as each case finishes, list
    // it (a kill between the two would find no index yet).
    let fast_done = || {
        let lists = |file: &str, what: &str| {
            std::fs::read_to_string(out.join(file)).is_ok_and(|s| s.contains(what))
        };
        lists("summary.json", "\"socket_addresses.seen_by_both_ends.v4\"")
            && lists(
                "index.html",
                "socket_addresses.seen_by_both_ends.v4/README.md",
            )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fast_done() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the fast case never finished");
        }
        // A poll of another process's output file, with the deadline above.
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

const LONG: &str = "time_wait::ports_come_back";

/// Ctrl-C or SIGTERM: with a fast case finished and a minute-long one running, the run stops
/// within seconds, exits 130 or 143, and the report has the finished case as passed and the long
/// one as interrupted, and says why it stopped. (The topologies are the process's own
/// namespaces: they go with it.)
fn a_signal_stops_the_run_cleanly(signal: i32) {
    require_privileges!();
    let out = out_dir(&format!("interrupted-{signal}"));
    let mut child = run_until_the_fast_case_is_done(&out);
    let sent = Instant::now();
    // SAFETY: kill with the pid of the child this test started.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().expect("netcase ends");
    let took = sent.elapsed();
    assert_eq!(
        status.code(),
        Some(128 + signal),
        "exit status after {signal}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let verdict = |case: &str| {
        summary["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["case"] == case)
            .map(|c| c["verdict"].clone())
    };
    assert_eq!(verdict(FAST), Some(Value::from("pass")), "{summary}");
    assert_eq!(verdict(LONG), Some(Value::from("interrupted")), "{summary}");
    assert_eq!(summary["interrupted"], 1, "{summary}");
    assert_eq!(summary["state"], "interrupted", "{summary}");
    let why = if signal == libc::SIGINT {
        "Ctrl-C (SIGINT)"
    } else {
        "SIGTERM"
    };
    let show = netcase(&["show", out.to_str().unwrap()]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown.starts_with("interrupted: the run (pid ")
            && shown.contains(&format!("was stopped by {why}")),
        "{shown}"
    );
}

/// SIGKILL: nothing can be written, yet the directory says the run did not finish: `netcase show`
/// calls it interrupted (its run.json says running, for a process that is gone), for the run,
/// for a finished case and for the case that was running; the index is there as far as it got.
fn a_killed_run_is_shown_as_interrupted() {
    require_privileges!();
    let out = out_dir("killed");
    let mut child = run_until_the_fast_case_is_done(&out);
    let pid = child.id();
    child.kill().expect("SIGKILL");
    child.wait().expect("netcase ends");

    let show = netcase(&["show", out.to_str().unwrap()]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success(), "{shown}");
    let first = shown.lines().next().unwrap_or("");
    assert!(
        first.starts_with(&format!("interrupted: the run (pid {pid}, started "))
            && first.ends_with("ended without finishing — killed?; 1 of 2 have results"),
        "{shown}"
    );
    assert!(
        shown.contains("socket_addresses.seen_by_both_ends.v4  PASS"),
        "{shown}"
    );
    assert!(shown.contains("time_wait.ports_come_back.v4"), "{shown}");

    let case = netcase(&[
        "show",
        out.join("socket_addresses.seen_by_both_ends.v4")
            .to_str()
            .unwrap(),
    ]);
    let case = String::from_utf8_lossy(&case.stdout);
    assert!(case.starts_with("its run: interrupted: "), "{case}");
    assert!(
        case.contains("PASS socket_addresses::seen_by_both_ends"),
        "{case}"
    );
    let running = netcase(&[
        "show",
        out.join("time_wait.ports_come_back.v4").to_str().unwrap(),
    ]);
    let running = String::from_utf8_lossy(&running.stdout);
    assert!(
        running.starts_with("time_wait.ports_come_back.v4: no result")
            && running.contains("killed?"),
        "{running}"
    );
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        index.contains("socket_addresses.seen_by_both_ends.v4/README.md"),
        "the index as far as the run got"
    );
}

/// Whether a line of `text` starts (after its time) with `from`, a port, then `to`.
fn a_line_reads(text: &str, from: &str, to: &str) -> bool {
    text.lines().any(|line| {
        line.split_once(' ').is_some_and(|(_, rest)| {
            rest.strip_prefix(from).is_some_and(|rest| {
                let digits = rest.trim_start_matches(|c: char| c.is_ascii_digit());
                digits.len() < rest.len() && digits.starts_with(to)
            })
        })
    })
}

/// The example user crate's test binary (fixtures/user-crate, `tests/kernel_behaviour.rs`), as
/// cargo built it beside this package's `netcase` (`target/debug/deps/kernel_behaviour-HASH`):
/// the newest, when several builds left one. `cargo test --workspace` builds it before it runs
/// any test; nothing is built here.
fn example_binary() -> Option<PathBuf> {
    let deps = Path::new(env!("CARGO_BIN_EXE_netcase"))
        .parent()?
        .join("deps");
    std::fs::read_dir(deps)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.starts_with("kernel_behaviour-") && !n.contains('.'))
        })
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
}

/// `netcase tests` on the example user crate's test binary, its ignored test included: a line
/// per test, a directory per test named as the test (no family), and the run's files. Its second
/// test asserts the linear SYN timeouts of 6.5 and later: it passes where the kernel has them and
/// fails (exit 1) where it has not.
fn tests_writes_a_users_test_binary_as_a_run() {
    require_privileges!();
    let Some(binary) = example_binary() else {
        netcase::privileges::cannot_run(
            &"the example crate's test binary is not built (cargo test -p netcase-example-user --no-run)",
        );
        return;
    };
    let out = out_dir("tests");
    let run = netcase(&[
        "tests",
        binary.to_str().expect("a UTF-8 path"),
        "--out",
        out.to_str().expect("a UTF-8 path"),
        "--",
        "--include-ignored",
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let linear = netcase::kernel()
        .expect("this kernel")
        .has(netcase::sysctl::TCP_SYN_LINEAR_TIMEOUTS);
    assert_eq!(
        run.status.code(),
        Some(if linear { 0 } else { 1 }),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.lines().any(|l| l == "PASS connects"), "{stdout}");
    let second = if linear {
        "PASS syn_timeouts_are_linear"
    } else {
        "FAIL syn_timeouts_are_linear: "
    };
    assert!(stdout.lines().any(|l| l.starts_with(second)), "{stdout}");
    assert!(
        stdout.contains("the test binary ended with exit status: "),
        "{stdout}"
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let bundles: Vec<&str> = summary["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bundle"].as_str().unwrap())
        .collect();
    assert_eq!(bundles, ["connects", "syn_timeouts_are_linear"]);
    assert_eq!(summary["cases"][0]["family"], "-");
    for bundle in bundles {
        let result = out.join(bundle).join("result.json");
        assert!(result.is_file(), "{}", result.display());
    }
    for file in ["junit.xml", "index.html", "run.json", "stdout.txt"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let show = netcase(&["show", out.to_str().unwrap()]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(shown.starts_with("finished: "), "{shown}");
    assert!(
        shown.contains("the program it ran ended with exit status: "),
        "{shown}"
    );

    let missing = netcase(&["tests", "/nonexistent-test-binary"]);
    assert_eq!(missing.status.code(), Some(2));
    let line = String::from_utf8_lossy(&missing.stderr);
    assert!(
        line.contains("/nonexistent-test-binary: no such file"),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
