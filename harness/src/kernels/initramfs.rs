//! The guest's whole userland, as a gzip-compressed cpio archive: busybox and its applets, the
//! kernel's modules the cases need, the `netcase` binary with its shared libraries, the
//! expectation fixtures at the path the cases read them from, and an `/init` that runs the
//! cases and streams their results back over the console.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

use super::{cpio::Archive, modules};

/// Where the guest's `netcase run` writes its bundles.
pub const GUEST_OUT: &str = "/out";

/// What goes into one initramfs.
pub struct Inputs<'a> {
    /// The kernel's release (`uname -r`), for `/lib/modules/<release>` and `/boot/config-*`.
    pub release: &'a str,
    /// Its module tree, when it has one.
    pub modules: Option<&'a Path>,
    /// Its configuration file (`boot/config-<release>`), for HZ and the report.
    pub config: Option<&'a Path>,
    /// The `netcase` binary to run inside.
    pub exe: &'a Path,
    /// A static busybox.
    pub busybox: &'a Path,
    /// A test binary to run inside instead of the cases, put at `/bin/test-binary`.
    pub binary: Option<&'a Path>,
    /// The arguments of `/bin/netcase` inside: `run` with filters, `--family` and `--out`, or
    /// `tests /bin/test-binary --out ...`.
    pub run_args: &'a [String],
    /// Host directories copied to the same path inside (the fixtures).
    pub trees: &'a [PathBuf],
    /// Empty directories made at the same path inside (a path like `cases/../fixtures` needs
    /// `cases` to exist).
    pub dirs: &'a [PathBuf],
    /// Where a stripped copy of the binary may be cached.
    pub scratch: &'a Path,
}

/// What was put in, for the report.
pub struct Built {
    /// The gzip-compressed archive.
    pub bytes: Vec<u8>,
    /// The modules /init loads, in order.
    pub modules: Vec<String>,
    /// The wanted modules the kernel has neither built in nor as modules.
    pub missing_modules: Vec<String>,
}

/// Builds the initramfs.
pub fn build(inputs: &Inputs) -> Result<Built, String> {
    let mut a = Archive::new();
    for dir in [
        "proc",
        "sys",
        "dev",
        "tmp",
        "out",
        "etc/netcase",
        "sbin",
        "usr/bin",
    ] {
        a.dir(dir);
    }
    a.char_device("dev/console", 5, 1);
    a.char_device("dev/null", 1, 3);
    let busybox = std::fs::read(inputs.busybox)
        .map_err(|e| format!("reading {}: {e}", inputs.busybox.display()))?;
    a.file("bin/busybox", 0o755, &busybox);
    for applet in applets(inputs.busybox) {
        if applet != "busybox" && !a.contains(&format!("bin/{applet}")) {
            a.symlink(&format!("bin/{applet}"), "busybox");
        }
    }

    let exe = stripped(inputs.exe, inputs.scratch);
    let binary = std::fs::read(&exe).map_err(|e| format!("reading {}: {e}", exe.display()))?;
    a.file("bin/netcase", 0o755, &binary);
    let mut libraries = shared_libraries(inputs.exe)?;
    if let Some(binary) = inputs.binary {
        // A test binary of a debug build is mostly debug information: 90 MB for a few tests.
        let small = stripped(binary, inputs.scratch);
        let bytes =
            std::fs::read(&small).map_err(|e| format!("reading {}: {e}", small.display()))?;
        a.file("bin/test-binary", 0o755, &bytes);
        for lib in shared_libraries(binary)? {
            if !libraries.contains(&lib) {
                libraries.push(lib);
            }
        }
    }
    for lib in libraries {
        let path = lib.to_string_lossy();
        if !a.contains(&path) {
            let bytes =
                std::fs::read(&lib).map_err(|e| format!("reading {}: {e}", lib.display()))?;
            a.file(&path, 0o755, &bytes);
        }
    }
    for tree in inputs.trees {
        add_tree(&mut a, tree)?;
    }
    for dir in inputs.dirs {
        a.dir(&dir.to_string_lossy());
    }

    let mut loaded = Vec::new();
    let missing;
    if let Some(root) = inputs.modules {
        let tree = modules::Tree::open(root)
            .map_err(|e| format!("reading the modules in {}: {e}", root.display()))?;
        let (closure, absent) = tree.closure(modules::WANTED)?;
        missing = absent;
        for (name, bytes) in closure {
            a.file(
                &format!("lib/modules/{}/{name}.ko", inputs.release),
                0o644,
                &bytes,
            );
            loaded.push(name);
        }
    } else {
        missing = modules::WANTED.iter().map(|m| (*m).to_owned()).collect();
    }
    a.file("etc/netcase/modules", 0o644, loaded.join("\n").as_bytes());
    if let Some(config) = inputs.config {
        let bytes =
            std::fs::read(config).map_err(|e| format!("reading {}: {e}", config.display()))?;
        a.file(&format!("boot/config-{}", inputs.release), 0o644, &bytes);
    }
    a.file(
        "init",
        0o755,
        init_script(inputs.release, inputs.run_args)?.as_bytes(),
    );

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&a.finish())
        .map_err(|e| format!("compressing the initramfs: {e}"))?;
    let bytes = gz
        .finish()
        .map_err(|e| format!("compressing the initramfs: {e}"))?;
    Ok(Built {
        bytes,
        modules: loaded,
        missing_modules: missing,
    })
}

/// The guest's `/init`: mounts, modules, loopback, the `begin` marker, the run, the results
/// over the console, power off. The nonce comes from the kernel command line.
pub fn init_script(release: &str, run_args: &[String]) -> Result<String, String> {
    let mut quoted = Vec::new();
    for arg in run_args {
        if arg.contains('\'') {
            return Err(format!(
                "an argument with a quote cannot go to the guest: {arg:?}"
            ));
        }
        quoted.push(format!("'{arg}'"));
    }
    Ok(format!(
        r#"#!/bin/sh
export PATH=/bin:/sbin:/usr/bin HOME=/ TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# No tmpfs on /tmp: the initramfs is writable already, and the fixtures may sit under /tmp (a
# checkout there), at the path the cases were built to read them from.
# Only emergencies (a panic) on the console: other messages would cut protocol lines.
echo 1 > /proc/sys/kernel/printk
nonce=none
for word in $(cat /proc/cmdline); do
    case "$word" in netcase.nonce=*) nonce="${{word#netcase.nonce=}}" ;; esac
done
for module in $(cat /etc/netcase/modules); do
    insmod "/lib/modules/{release}/$module.ko" || echo "netcase: insmod $module failed"
done
ip link set lo up
echo "@@netcase $nonce begin $(cut -d' ' -f1 /proc/uptime)"
# Through a pipe, netcase prints one plain `start`/verdict line per case (the host times the
# first `start`) instead of a live display.
{{ /bin/netcase {args} </dev/null; echo $? > /tmp/status; }} | cat
status=$(cat /tmp/status)
/bin/netcase kernels stream {GUEST_OUT} "$nonce" "$status"
sync
poweroff -f
"#,
        args = quoted.join(" ")
    ))
}

/// busybox's applets, from `busybox --list`; a minimal set when it cannot say.
fn applets(busybox: &Path) -> Vec<String> {
    crate::fork::output(Command::new(busybox).arg("--list"))
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|list| list.iter().any(|a| a == "sh"))
        .unwrap_or_else(|| {
            [
                "sh", "mount", "cat", "cut", "echo", "insmod", "ip", "poweroff", "sync",
            ]
            .map(str::to_owned)
            .to_vec()
        })
}

/// A copy of `exe` without debug information, cached in `scratch` (a debug build is ~100 MB,
/// stripped ~10 MB: the guest unpacks every byte under emulation); `exe` itself when `strip`
/// is not there.
fn stripped(exe: &Path, scratch: &Path) -> PathBuf {
    let name = exe
        .file_name()
        .map_or("netcase".into(), |n| n.to_string_lossy());
    let copy = scratch.join(format!("{name}.stripped"));
    let newer = |a: &Path, b: &Path| {
        let t = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        matches!((t(a), t(b)), (Some(x), Some(y)) if x >= y)
    };
    if copy.is_file() && newer(&copy, exe) {
        return copy;
    }
    let _ = std::fs::create_dir_all(scratch);
    let ok = crate::fork::output(
        Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(&copy)
            .arg(exe),
    )
    .is_ok_and(|o| o.status.success());
    if ok { copy } else { exe.to_owned() }
}

/// The shared libraries `exe` loads (its interpreter included), from `ldd`.
pub fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>, String> {
    let out = crate::fork::output(Command::new("ldd").arg(exe))
        .map_err(|e| format!("ldd {}: {e}", exe.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && !text.contains("statically linked") {
        return Err(format!(
            "ldd {}: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(parse_ldd(&text))
}

/// The library paths in `ldd` output: `libc.so.6 => /lib/x/libc.so.6 (0x...)` and
/// `/lib64/ld-linux-x86-64.so.2 (0x...)`.
pub fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn add_tree(a: &mut Archive, root: &Path) -> Result<(), String> {
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        a.dir(&dir.to_string_lossy());
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                a.file(&path.to_string_lossy(), 0o644, &bytes);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpio;

    #[test]
    fn ldd_output_gives_every_library_and_the_interpreter() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
            \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f35)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f35)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f35)\n";
        assert_eq!(
            parse_ldd(text),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn init_quotes_the_filters_and_refuses_quotes() {
        let args = ["run", "socket_addresses::", "--out", "/out"].map(str::to_owned);
        let script = init_script("6.1.0-9", &args).unwrap();
        assert!(script.contains("netcase 'run' 'socket_addresses::' '--out' '/out' </dev/null; echo $? > /tmp/status; } | cat"));
        assert!(script.contains("/lib/modules/6.1.0-9/$module.ko"));
        assert!(script.contains("netcase kernels stream /out \"$nonce\" \"$status\""));
        assert!(init_script("x", &["a'b".to_owned()]).is_err());
    }

    /// The whole archive, with this test binary standing in for netcase and a fake module
    /// tree: every piece lands where /init expects it.
    #[test]
    fn an_initramfs_holds_what_init_needs() {
        let scratch =
            std::env::temp_dir().join(format!("netcase-initramfs-{}", std::process::id()));
        let modules = scratch.join("lib/modules/6.1.0-9");
        std::fs::create_dir_all(modules.join("kernel/net")).unwrap();
        std::fs::write(
            modules.join("kernel/net/tcp_diag.ko"),
            b"\0depends=inet_diag\0",
        )
        .unwrap();
        std::fs::write(modules.join("kernel/net/inet_diag.ko"), b"\0depends=\0").unwrap();
        let fixtures = scratch.join("fixtures");
        std::fs::create_dir_all(fixtures.join("expect")).unwrap();
        std::fs::write(fixtures.join("expect/a.expect"), b"client > server S\n").unwrap();
        let exe = std::env::current_exe().unwrap();
        // Any executable stands in for busybox: `--list` fails and the minimal set is used.
        let busybox = PathBuf::from("/bin/true");
        let built = build(&Inputs {
            release: "6.1.0-9",
            modules: Some(&modules),
            config: None,
            exe: &exe,
            busybox: &busybox,
            binary: None,
            run_args: &["socket_addresses::".to_owned()],
            trees: std::slice::from_ref(&fixtures),
            dirs: &[scratch.join("cases")],
            scratch: &scratch,
        })
        .unwrap();
        assert_eq!(built.modules, ["inet_diag", "tcp_diag"]);
        assert!(built.missing_modules.contains(&"veth".to_owned()));
        let mut raw = Vec::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&built.bytes[..])
            .read_to_end(&mut raw)
            .unwrap();
        let entries = cpio::parse(&raw).unwrap();
        let find = |name: &str| {
            entries
                .iter()
                .find(|e| e.name == name.trim_start_matches('/'))
        };
        assert!(find("init").is_some_and(|e| e.mode == 0o100_755));
        assert!(find("bin/netcase").is_some());
        assert!(find("bin/sh").is_some_and(|e| e.is_symlink()));
        assert!(find("dev/console").is_some_and(|e| e.rdev == (5, 1)));
        assert_eq!(
            find("etc/netcase/modules").unwrap().data,
            b"inet_diag\ntcp_diag"
        );
        assert!(find("lib/modules/6.1.0-9/tcp_diag.ko").is_some());
        assert!(find(&fixtures.join("expect/a.expect").to_string_lossy()).is_some());
        assert!(find(&scratch.join("cases").to_string_lossy()).is_some_and(|e| e.is_dir()));
        for lib in shared_libraries(&exe).unwrap() {
            assert!(find(&lib.to_string_lossy()).is_some(), "{}", lib.display());
        }
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
