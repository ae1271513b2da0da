//! `netcase::test_binary`: a libtest binary's tests as a run directory. This binary runs itself,
//! as a user's test binary, on the tests of `inner`; they do what their names say only when
//! `INNER` is set (as the run sets it), and pass at once otherwise.

use std::path::{Path, PathBuf};

use netcase::{
    privileges,
    report::{CaseResult, Verdict},
    test_binary::{self, Options, SCRATCH},
};

/// Set in the environment of this binary run as a child: `inner`'s tests do their part.
const INNER: &str = "NETCASE_TEST_BINARY_INNER";

mod inner {
    use netcase::{Family, Result, Topology};

    fn asked() -> bool {
        std::env::var_os(super::INNER).is_some()
    }

    #[netcase::test]
    async fn passes() -> Result<()> {
        if asked() {
            let net = Topology::pair().await?;
            net.connect("client", "server", Family::V4, 7000).await?;
        }
        Ok(())
    }

    /// Connects, then asserts something false: its bundle has the captures.
    #[netcase::test]
    async fn fails_with_its_bundle() -> Result<()> {
        if asked() {
            let net = Topology::pair().await?;
            net.connect("client", "server", Family::V4, 7000).await?;
            assert_eq!(1 + 1, 3, "arithmetic");
        }
        Ok(())
    }

    #[test]
    fn panics_plainly() {
        if asked() {
            panic!("plainly wrong\nand a second line");
        }
    }

    #[test]
    fn skips() {
        if asked() {
            netcase::privileges::skipped("test_binary::inner::skips", "no such feature here");
        }
    }

    #[test]
    #[ignore = "not today"]
    fn ignored() {}
}

fn result<'a>(results: &'a [CaseResult], name: &str) -> &'a CaseResult {
    let name = format!("test_binary::inner::{name}");
    results
        .iter()
        .find(|r| r.case == name)
        .unwrap_or_else(|| panic!("no result for {name}: {results:#?}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_test_binary_becomes_a_run_directory() {
    if !privileges::can_run(privileges::TOPOLOGY) {
        return;
    }
    let out = netcase::capture::output_dir();
    let _ = std::fs::remove_dir_all(&out);
    let exe = std::env::current_exe().expect("this binary");
    let run = test_binary::run(&Options {
        args: vec!["test_binary::inner::".to_owned()],
        env: vec![(INNER.to_owned(), "1".to_owned())],
        ..Options::new(exe.clone(), out.clone())
    })
    .expect("the binary runs");
    assert_eq!(run.status.code(), Some(101), "a test failed");
    let results = &run.results;
    assert_eq!(results.len(), 5, "{results:#?}");
    let verdicts: Vec<(&str, Verdict)> = results
        .iter()
        .map(|r| (r.case.as_str(), r.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("test_binary::inner::fails_with_its_bundle", Verdict::Fail),
            ("test_binary::inner::ignored", Verdict::Skip),
            ("test_binary::inner::panics_plainly", Verdict::Fail),
            ("test_binary::inner::passes", Verdict::Pass),
            ("test_binary::inner::skips", Verdict::Skip),
        ],
        "in the order the binary lists them"
    );
    assert!(results.iter().all(|r| r.family == "-"));

    // The failed #[netcase::test]'s own bundle, moved in whole.
    let bundled = result(results, "fails_with_its_bundle");
    let dir = out.join("test_binary.inner.fails_with_its_bundle");
    let reason = bundled.reason.as_deref().unwrap_or("");
    assert!(
        reason.starts_with("assertion `left == right` failed: arithmetic — panicked at harness/tests/harness/test_binary.rs:"),
        "{reason}"
    );
    assert!(
        bundled
            .rerun
            .starts_with("cargo test -p netcase --test harness -- --exact"),
        "the test's own rerun: {}",
        bundled.rerun
    );
    for file in [
        "client-eth0.pcap",
        "timeline.txt",
        "README.md",
        "ladder.svg",
    ] {
        assert!(
            bundled.files.iter().any(|f| f == file),
            "{file}: {:?}",
            bundled.files
        );
        assert!(dir.join(file).is_file(), "{file}");
    }
    let json: CaseResult =
        serde_json::from_str(&read(&dir.join("result.json"))).expect("its result.json");
    assert_eq!(&json, bundled);

    // A plain #[test]: its result from what libtest printed.
    let plain = result(results, "panics_plainly");
    let reason = plain.reason.as_deref().unwrap_or("");
    assert!(
        reason.starts_with("plainly wrong — panicked at harness/tests/harness/test_binary.rs:"),
        "{reason}"
    );
    assert!(
        plain
            .error
            .as_deref()
            .unwrap_or("")
            .contains("and a second line"),
        "{plain:#?}"
    );
    assert_eq!(
        plain.rerun,
        format!(
            "{} 'test_binary::inner::panics_plainly' --exact --include-ignored",
            exe.display()
        )
    );
    let dir = out.join("test_binary.inner.panics_plainly");
    assert!(read(&dir.join("README.md")).starts_with("# test_binary::inner::panics_plainly: FAIL"));

    let skipped = result(results, "skips");
    assert_eq!(skipped.reason.as_deref(), Some("no such feature here"));
    let ignored = result(results, "ignored");
    assert_eq!(ignored.reason.as_deref(), Some("ignored: not today"));

    // The run's files, as `netcase run` writes them.
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).expect("summary.json");
    assert_eq!(
        (&summary["passed"], &summary["failed"], &summary["skipped"]),
        (&1.into(), &2.into(), &2.into())
    );
    assert_eq!(summary["cases"][3]["bundle"], "test_binary.inner.passes");
    let junit = read(&out.join("junit.xml"));
    assert!(
        junit.contains("classname=\"test_binary::inner\" name=\"passes\""),
        "{junit}"
    );
    let index = read(&out.join("index.html"));
    assert!(
        index.contains("href=\"#test_binary.inner.passes\""),
        "{index}"
    );
    let record = netcase::report::run::RunRecord::read(&out)
        .expect("run.json")
        .expect("run.json");
    assert_eq!(record.state, netcase::report::run::State::Finished);
    assert_eq!(record.exit_status.as_deref(), Some("exit status: 101"));
    assert_eq!(record.parts.len(), 5);
    assert!(!out.join(SCRATCH).exists(), "the scratch directory is gone");
    assert!(read(&out.join("stdout.txt")).contains("test result: FAILED."));
    std::fs::remove_dir_all(&out).expect("clean up");
}

/// A fake test binary: a script that lists tests `a` and `b`, then reports `a` (when `late`) and
/// kills itself.
fn crashing(dir: &Path, late: bool) -> PathBuf {
    let script = dir.join(if late { "late" } else { "early" });
    let report = if late {
        "printf '\\nrunning 2 tests\\ntest a ... ok\\n'"
    } else {
        ":"
    };
    let text = format!(
        "#!/bin/sh\nif [ \"$1\" = --list ]; then printf 'a: test\\nb: test\\n\\n2 tests, 0 benchmarks\\n'; exit 0; fi\n{report}\nkill -SEGV $$\n"
    );
    // Written while no other test's child is between fork and exec: one holding it open for
    // writing would make its exec fail (ETXTBSY).
    netcase::fork::close_now(|| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&script, text)?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
    })
    .expect("the script");
    script
}

#[test]
fn a_binary_that_crashes_is_named_and_its_unreported_tests_fail() {
    let dir = netcase::capture::output_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory");
    let early = crashing(&dir, false);
    let error = test_binary::run(&Options::new(early.clone(), dir.join("early-out")))
        .expect_err("it reported nothing");
    assert!(
        error.starts_with(&format!(
            "{} ended with signal: 11 (SIGSEGV)",
            early.display()
        )) && error.contains("before it reported any test"),
        "{error}"
    );
    let record = netcase::report::run::RunRecord::read(&dir.join("early-out"))
        .expect("run.json")
        .expect("run.json");
    assert!(
        record
            .why
            .as_deref()
            .unwrap_or("")
            .starts_with("an error ("),
        "{record:?}"
    );

    let late = crashing(&dir, true);
    let run = test_binary::run(&Options::new(late.clone(), dir.join("late-out"))).expect("a run");
    let verdicts: Vec<(&str, Verdict)> = run
        .results
        .iter()
        .map(|r| (r.case.as_str(), r.verdict))
        .collect();
    assert_eq!(verdicts, [("a", Verdict::Pass), ("b", Verdict::Fail)]);
    let why = run.results[1].reason.as_deref().unwrap_or("");
    assert!(
        why.starts_with("the test binary ended with signal: 11 (SIGSEGV)")
            && why.ends_with("before it reported this test"),
        "{why}"
    );
    let error = run.results[1].error.as_deref().unwrap_or("");
    assert!(error.starts_with(&late.display().to_string()), "{error}");
    assert!(dir.join("late-out/b/result.json").is_file());

    let error = test_binary::run(&Options::new(dir.join("absent"), dir.join("x")))
        .expect_err("no such binary");
    assert!(error.contains("absent: no such file"), "{error}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}
