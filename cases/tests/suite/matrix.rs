//! `netcase kernels` end to end: a Debian cloud kernel boots under qemu (KVM when it works
//! here, TCG otherwise), one fast case runs inside, its bundle comes back over the serial
//! console, and the comparison with this kernel is written.
//!
//! The kernel is `$NETCASE_TEST_KERNEL` (a vmlinuz, a dpkg tree, a .deb or a package name), or
//! else Debian's `linux-image-cloud-amd64`, fetched with `apt-get download` into
//! `target/netcase/kernels/` (never installed). Without qemu, busybox or the package, the test
//! says why and skips; under `CI=true` it fails instead (`.ci/run` installs them).

use std::{path::Path, process::Command, time::Instant};

use netcase::{require_privileges, require_program};
use serde_json::Value;

const FAST: &str = "socket_addresses::seen_by_both_ends";

#[test]
fn a_debian_kernel_runs_a_case_under_qemu() {
    require_privileges!();
    require_program!("qemu-system-x86_64", "qemu-system-x86");
    require_program!("busybox", "busybox-static");
    require_program!("xz", "xz-utils");
    let kernel = std::env::var("NETCASE_TEST_KERNEL")
        .unwrap_or_else(|_| "linux-image-cloud-amd64".to_owned());
    if !Path::new(&kernel).exists() && !apt_has(&kernel) {
        netcase::privileges::cannot_run(&format!(
            "the kernel package {kernel} is not available (apt-get update, or set \
             NETCASE_TEST_KERNEL to a vmlinuz, a dpkg tree or a .deb)"
        ));
        return;
    }
    let out = netcase::capture::output_dir().join("matrix");
    let _ = std::fs::remove_dir_all(&out);
    let started = Instant::now();
    let run = netcase::fork::output(
        Command::new(env!("CARGO_BIN_EXE_netcase"))
            .args([
                "kernels", "--kernel", &kernel, FAST, "--family", "v4", "--out",
            ])
            .arg(&out),
    )
    .expect("the netcase binary runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    eprintln!(
        "{stdout}\n{stderr}\nwall time {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(run.status.success(), "{stdout}\n{stderr}");

    let comparison: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap())
            .unwrap();
    let kernels = comparison["kernels"].as_array().unwrap();
    assert_eq!(kernels.len(), 2, "this kernel and the guest: {comparison}");
    assert_eq!(kernels[0]["emulation"], "host");
    let guest = &kernels[1];
    assert!(
        ["kvm", "tcg"].contains(&guest["emulation"].as_str().unwrap()),
        "{guest}"
    );
    assert!(guest["broken"].is_null(), "{guest}");
    assert!(
        guest["boot_to_first_case_s"].as_f64().unwrap() > 0.0,
        "{guest}"
    );
    let row = &comparison["rows"][0];
    assert_eq!(row["case"], FAST);
    assert_eq!(row["cells"][1]["verdict"], "pass", "{row}");

    // The guest's bundle is the same as `netcase run` leaves, with the guest's kernel in it.
    let release = guest["name"].as_str().unwrap();
    let bundle = out
        .join(release)
        .join("socket_addresses.seen_by_both_ends.v4");
    for file in [
        "result.json",
        "README.md",
        "timeline.txt",
        "ladder.svg",
        "client-eth0.pcap",
    ] {
        assert!(
            bundle.join(file).is_file(),
            "{} has no {file}",
            bundle.display()
        );
    }
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("result.json")).unwrap())
            .unwrap();
    assert_eq!(result["kernel"]["release"], release);
    assert_ne!(result["kernel"]["hz"].as_str().unwrap_or(""), "");
    for file in ["summary.json", "junit.xml", "index.html", "console.log"] {
        assert!(out.join(release).join(file).is_file(), "no {file}");
    }
    assert!(out.join("comparison.html").is_file());
}

/// Whether apt knows `package` (a package name, not a path).
fn apt_has(package: &str) -> bool {
    package.starts_with("linux-image-")
        && netcase::fork::output(Command::new("apt-cache").args([
            "show",
            "--no-all-versions",
            package,
        ]))
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}
