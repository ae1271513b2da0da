//! `netcase kernels`: the cases on other kernels under qemu, and a comparison with this one.
//!
//! ```text
//! netcase kernels --kernel PATH_OR_DEB... [FILTER...] [--family v4|v6|both] [--out DIR]
//!                 [--accel auto|kvm|tcg] [--parallel N] [--timeout SECS] [--max-expected SECS]
//!                 [--no-host]
//! ```
//!
//! A kernel is a `vmlinuz` file (its modules found next to it, as `dpkg -x` lays them out:
//! `boot/vmlinuz-R` and `lib/modules/R`), a directory holding such a tree, a `.deb`, or a Debian
//! package name (`linux-image-6.1.0-56-cloud-amd64`, fetched with `apt-get download`). Packages
//! are unpacked with `dpkg -x` into `target/netcase/kernels/`, never installed.
//!
//! For each kernel an initramfs is built ([`initramfs`]), booted under qemu ([`qemu`]: KVM when
//! it boots the kernel, TCG otherwise), the selected cases run inside with `netcase run`, and
//! their bundles come back over the serial console ([`serial`]) into `OUT/<release>/`, the
//! same bundle as `netcase run` writes. This kernel's run goes to `OUT/this-kernel/`. Then
//! `OUT/comparison.{json,html}`, `OUT/differences.md` (the rows whose behaviour differs, as a
//! Markdown table) and a table on stdout ([`compare`]).
//!
//! Without filters, the default subset is the cases expected to take at most `--max-expected`
//! seconds (1.5): under TCG everything runs several times slower.
//!
//! Exit status: 0 when every kernel delivered its results and no case failed (differences of
//! behaviour are the product, and a SKIP for a missing feature is not a failure), 1 when a case
//! failed or a guest broke down (a panic, a hang, a cut stream), 2 for bad input, 130 after
//! Ctrl-C and 143 after SIGTERM.
//!
//! Stopping: Ctrl-C or SIGTERM kills the guests (the qemu processes this process started, by
//! pidfd), passes the signal on to this kernel's `netcase run` (which writes its partial results;
//! it is killed if it has not ended 5 s later), and writes the comparison of what came back, all
//! within seconds. Every program it starts dies with it however it ends, SIGKILL included
//! (`netcase::fork`). `OUT/run.json` says whether the matrix finished ([`report::run`]), as each
//! kernel's directory does for its run.
//!
//! `netcase kernels stream DIR NONCE STATUS` is the guest's half: it writes DIR's files and the
//! end marker to stdout in the [`serial`] protocol.

pub mod compare;
pub mod cpio;
pub mod initramfs;
pub mod modules;
pub mod qemu;
pub mod serial;

use std::{
    collections::BTreeMap,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use netcase::{
    Family,
    report::{self, CaseResult, Verdict, run::RunRecord},
};

use crate::stop;

use compare::{Column, Comparison, Kernel};
use qemu::Accel;

/// Runs `netcase kernels ARGS`.
pub fn command(args: &[String]) -> ExitCode {
    if args.first().map(String::as_str) == Some("stream") {
        return stream(&args[1..]);
    }
    let options = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => return crate::usage(&e),
    };
    stop::install();
    let outcome = matrix(&options);
    if let Some(signal) = stop::requested() {
        if let Err(e) = outcome {
            eprintln!("netcase: {e}");
        }
        return ExitCode::from(stop::exit_code(signal));
    }
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("netcase: {e}");
            ExitCode::from(2)
        }
    }
}

/// The guest's half: `stream DIR NONCE STATUS`.
fn stream(args: &[String]) -> ExitCode {
    let [dir, nonce, status] = args else {
        return crate::usage("kernels stream takes DIR NONCE STATUS");
    };
    let status = status.parse().unwrap_or(-1);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match serial::send(&mut out, nonce, Path::new(dir), status) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The end marker still goes out: the host must learn the run is over.
            use std::io::Write;
            let _ = writeln!(out, "{} {nonce} end {status}", serial::PREFIX);
            eprintln!("netcase: streaming {dir}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `netcase kernels`'s options.
#[derive(Debug)]
struct Options {
    kernels: Vec<String>,
    filters: Vec<String>,
    families: Vec<Family>,
    out: PathBuf,
    accel: Option<Accel>,
    parallel: usize,
    timeout: Option<Duration>,
    max_expected: Duration,
    host: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            kernels: Vec::new(),
            filters: Vec::new(),
            families: Family::BOTH.to_vec(),
            out: PathBuf::from("target/netcase/matrix"),
            accel: None,
            parallel: 2,
            timeout: None,
            max_expected: Duration::from_millis(1500),
            host: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            let seconds = |v: String| {
                v.parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0 && *s < 86_400.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| format!("{v:?}: a number of seconds"))
            };
            match arg.as_str() {
                "--kernel" => o.kernels.push(value("--kernel")?),
                "--out" => o.out = PathBuf::from(value("--out")?),
                "--family" => {
                    o.families = match value("--family")?.as_str() {
                        "v4" => vec![Family::V4],
                        "v6" => vec![Family::V6],
                        "both" => Family::BOTH.to_vec(),
                        other => return Err(format!("--family {other:?}: say v4, v6 or both")),
                    }
                }
                "--accel" => {
                    o.accel = match value("--accel")?.as_str() {
                        "auto" => None,
                        "kvm" => Some(Accel::Kvm),
                        "tcg" => Some(Accel::Tcg),
                        other => return Err(format!("--accel {other:?}: say auto, kvm or tcg")),
                    }
                }
                "--parallel" => {
                    let v = value("--parallel")?;
                    o.parallel = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=16).contains(n))
                        .ok_or_else(|| format!("--parallel {v:?}: a number from 1 to 16"))?;
                }
                "--timeout" => o.timeout = Some(seconds(value("--timeout")?)?),
                "--max-expected" => o.max_expected = seconds(value("--max-expected")?)?,
                "--no-host" => o.host = false,
                flag if flag.starts_with("--") => return Err(format!("unknown option {flag:?}")),
                filter => o.filters.push(filter.to_owned()),
            }
        }
        if o.kernels.is_empty() {
            return Err("kernels needs at least one --kernel PATH_OR_DEB".to_owned());
        }
        Ok(o)
    }
}

/// A kernel to boot.
#[derive(Debug, Clone)]
pub struct Image {
    /// Its release (`uname -r`), also its directory in the output.
    pub release: String,
    /// The kernel image.
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>`, when there is one.
    pub modules: Option<PathBuf>,
    /// `boot/config-<release>`, when there is one.
    pub config: Option<PathBuf>,
}

/// Where kernels are unpacked and initramfs images built: `target/netcase/kernels` of this
/// workspace (or `$NETCASE_KERNEL_CACHE`).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NETCASE_KERNEL_CACHE") {
        return PathBuf::from(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let target = std::fs::canonicalize(&target).unwrap_or(target);
    target.join("netcase/kernels")
}

/// Holds the kernel cache for this process alone until dropped (an exclusive `flock` on
/// `CACHE/.lock`): two matrices at once, or two guests of one, must not download, unpack or
/// strip into the same files together.
fn lock_cache(cache: &Path) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    let path = cache.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("locking {}: {e}", path.display()));
        }
    }
}

/// Finds, fetches or unpacks the kernel `spec` names.
pub fn resolve(spec: &str, cache: &Path) -> Result<Image, String> {
    let path = Path::new(spec);
    if spec.ends_with(".deb") && path.is_file() {
        return from_deb(path, cache, 0);
    }
    if path.is_dir() {
        return from_tree(path);
    }
    if path.is_file() {
        return from_vmlinuz(path);
    }
    if spec.starts_with("linux-image-") && !spec.contains('/') {
        let deb = download(spec, cache)?;
        return from_deb(&deb, cache, 0);
    }
    Err(format!(
        "--kernel {spec:?}: neither a vmlinuz, a directory, a .deb nor a linux-image-* package"
    ))
}

fn from_vmlinuz(path: &Path) -> Result<Image, String> {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let release = file
        .strip_prefix("vmlinuz-")
        .or_else(|| file.strip_prefix("bzImage-"))
        .unwrap_or(&file)
        .to_owned();
    let boot = path.parent().unwrap_or(Path::new("."));
    let root = boot.parent().unwrap_or(Path::new("."));
    let modules = [
        root.join("lib/modules").join(&release),
        root.join("usr/lib/modules").join(&release),
    ]
    .into_iter()
    .find(|p| p.join("kernel").is_dir());
    let config = Some(boot.join(format!("config-{release}"))).filter(|p| p.is_file());
    Ok(Image {
        release,
        vmlinuz: path.to_owned(),
        modules,
        config,
    })
}

fn from_tree(dir: &Path) -> Result<Image, String> {
    let boot = dir.join("boot");
    let mut images: Vec<PathBuf> = std::fs::read_dir(&boot)
        .map_err(|e| format!("{}: no boot/vmlinuz-* ({e})", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    images.sort();
    let vmlinuz = images
        .pop()
        .ok_or_else(|| format!("{}: no boot/vmlinuz-*", dir.display()))?;
    from_vmlinuz(&vmlinuz)
}

/// Unpacks `deb` with `dpkg -x` (once) and finds its kernel; a meta-package is followed to the
/// `linux-image-*` it depends on.
fn from_deb(deb: &Path, cache: &Path, depth: usize) -> Result<Image, String> {
    let stem = deb
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = cache.join(&stem);
    if !dir.join(".unpacked").is_file() {
        let partial = cache.join(format!("{stem}.partial"));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        run(Command::new("dpkg").arg("-x").arg(deb).arg(&partial))?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&partial, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join(".unpacked"), b"")
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    match from_tree(&dir) {
        Ok(image) => Ok(image),
        Err(_) if depth < 2 => {
            let depends = run(Command::new("dpkg-deb")
                .args(["-f"])
                .arg(deb)
                .arg("Depends"))?;
            let next = depends
                .split([',', '|'])
                .map(|d| d.split_whitespace().next().unwrap_or(""))
                .find(|d| d.starts_with("linux-image-"))
                .ok_or_else(|| {
                    format!(
                        "{}: no kernel inside, nor a linux-image-* dependency",
                        deb.display()
                    )
                })?;
            let deb = download(next, cache)?;
            from_deb(&deb, cache, depth + 1)
        }
        Err(e) => Err(e),
    }
}

/// `apt-get download PACKAGE` into the cache (once).
fn download(package: &str, cache: &Path) -> Result<PathBuf, String> {
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    let find = || {
        std::fs::read_dir(&debs).ok().and_then(|entries| {
            entries.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with(&format!("{package}_")) && n.ends_with(".deb")
                })
            })
        })
    };
    if let Some(deb) = find() {
        return Ok(deb);
    }
    eprintln!("netcase: apt-get download {package}");
    run(Command::new("apt-get")
        .args(["download", "-q", package])
        .current_dir(&debs))?;
    find().ok_or_else(|| format!("apt-get download {package} left no .deb"))
}

/// Runs `command` to its end (killed at once on a stop) and returns its standard output.
fn run(command: &mut Command) -> Result<String, String> {
    let program = command.get_program().to_owned();
    let what = |e| format!("{program:?}: {e}");
    let child = netcase::fork::spawn(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .map_err(what)?;
    let registered = stop::register(&child, stop::How::Kill).map_err(what)?;
    let out = child.wait_with_output().map_err(what)?;
    drop(registered);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{:?} {:?}: {}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A case picked: its name, the families it runs over, how long it is expected to take.
type Picked = (&'static str, Vec<Family>, Duration);

/// The cases to run: those the filters pick, or the default subset (expected to take at
/// most `max_expected`), with the families each runs over.
fn selection(options: &Options) -> Result<Vec<Picked>, String> {
    let defs: Vec<_> = if options.filters.is_empty() {
        netcase_cases::cases()
            .filter(|d| d.info.expected <= options.max_expected)
            .collect()
    } else {
        crate::select(&options.filters)?
    };
    let picked: Vec<_> = defs
        .into_iter()
        .map(|d| {
            let families: Vec<Family> = options
                .families
                .iter()
                .copied()
                .filter(|f| d.info.families.contains(f))
                .collect();
            (d.info.name, families, d.info.expected)
        })
        .filter(|(_, f, _)| !f.is_empty())
        .collect();
    if picked.is_empty() {
        return Err("no case selected runs over that family".to_owned());
    }
    Ok(picked)
}

/// Runs the matrix; `Ok(true)` when every kernel delivered its results. `OUT/run.json` says
/// `running` from once the input is checked, and how the matrix ended at its end.
fn matrix(options: &Options) -> Result<bool, String> {
    let started = Instant::now();
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    crate::run::writable(&options.out)?;
    let out = std::fs::canonicalize(&options.out).unwrap_or(options.out.clone());
    let selected = selection(options)?;
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or("busybox is not installed (apt-get install busybox-static)")?;
    let _ = std::fs::remove_file(out.join("comparison.json"));
    let _ = std::fs::remove_file(out.join("comparison.html"));
    let mut record = RunRecord::start(std::env::args().collect(), Vec::new());
    record.write(&out).map_err(|e| e.to_string())?;
    let outcome = kernels(
        options,
        &out,
        &cache,
        &selected,
        busybox,
        &mut record,
        started,
    );
    let why = match (&outcome, stop::requested()) {
        (_, Some(signal)) => Some(stop::name(signal).to_owned()),
        (Err(e), None) => Some(format!("an error ({e})")),
        (Ok(_), None) => None,
    };
    record.end(why);
    if let Err(e) = record.write(&out) {
        eprintln!("netcase: {e}");
    }
    outcome
}

/// The matrix's work, once its input is checked: every kernel's run, then the comparison (of
/// what came back, when a stop was asked for).
fn kernels(
    options: &Options,
    out: &Path,
    cache: &Path,
    selected: &[Picked],
    busybox: PathBuf,
    record: &mut RunRecord,
    started: Instant,
) -> Result<bool, String> {
    let jobs: usize = selected.iter().map(|(_, f, _)| f.len()).sum();
    let mut images = Vec::new();
    let cached = lock_cache(cache)?;
    for kernel in &options.kernels {
        if stop::requested().is_some() {
            break;
        }
        images.push(resolve(kernel, cache)?);
    }
    drop(cached);
    record.parts = options
        .host
        .then(|| "this-kernel".to_owned())
        .into_iter()
        .chain(images.iter().map(|i| i.release.clone()))
        .collect();
    // Only this matrix's results: an earlier one's would pass for a kernel this one never reached.
    for part in &record.parts {
        let _ = std::fs::remove_dir_all(out.join(part));
    }
    record.write(out).map_err(|e| e.to_string())?;
    // The guest runs exactly these cases: their full names, over these families.
    let mut run_args: Vec<String> = selected.iter().map(|(n, _, _)| (*n).to_owned()).collect();
    let family = match options.families.as_slice() {
        [Family::V4] => "v4",
        [Family::V6] => "v6",
        _ => "both",
    };
    run_args.extend(["--family".to_owned(), family.to_owned()]);
    let budget: f64 = selected
        .iter()
        .map(|(_, f, e)| e.as_secs_f64().max(0.5) * f.len() as f64)
        .sum();
    println!(
        "kernel matrix: {} cases ({jobs} runs) on {} kernel(s){}",
        selected.len(),
        images.len(),
        if options.host { " and this one" } else { "" }
    );
    let mut kernels = Vec::new();
    if options.host && stop::requested().is_none() {
        kernels.push(host_run(&run_args, &out.join("this-kernel"))?);
    }
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let workspace = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .unwrap_or_else(|_| PathBuf::from("/"));
    let fixtures = workspace.join("fixtures");
    let shared = Shared {
        exe,
        busybox,
        run_args,
        trees: if fixtures.is_dir() {
            vec![fixtures]
        } else {
            Vec::new()
        },
        dirs: vec![workspace.join("cases")],
        cache: cache.to_owned(),
        out: out.to_owned(),
        accel: options.accel,
        timeout: options.timeout,
        budget_s: budget,
        kvm_lock: Mutex::new(()),
    };
    let queue = Arc::new(Mutex::new(
        images.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let done = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..options.parallel.max(1) {
            let (queue, done, shared) = (queue.clone(), done.clone(), &shared);
            scope.spawn(move || {
                while stop::requested().is_none() {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let Some((index, image)) = next else { return };
                    let kernel = guest_run(shared, &image);
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((index, kernel));
                }
            });
        }
    });
    let mut guests = std::mem::take(&mut *done.lock().unwrap_or_else(|e| e.into_inner()));
    guests.sort_by_key(|(i, _)| *i);
    let all_delivered = guests.iter().all(|(_, k)| k.column.broken.is_none());
    kernels.extend(guests.into_iter().map(|(_, k)| k));
    let mut comparison = Comparison::new(&kernels);
    comparison.stopped = stop::requested().map(|s| stop::name(s).to_owned());
    let json = serde_json::to_string_pretty(&comparison).expect("a comparison serialises");
    std::fs::write(out.join("comparison.json"), json + "\n")
        .and_then(|()| std::fs::write(out.join("comparison.html"), comparison.html()))
        .and_then(|()| std::fs::write(out.join("differences.md"), comparison.markdown()))
        .map_err(|e| format!("writing the comparison in {}: {e}", out.display()))?;
    println!("\n{}", comparison.text());
    let failures = comparison.failures();
    if !failures.is_empty() {
        println!("{} FAIL or cut short by a stop:", failures.len());
        for failure in &failures {
            println!("  {failure}");
        }
    }
    if let Some(signal) = stop::requested() {
        println!(
            "stopped by {}: the comparison holds what came back",
            stop::name(signal)
        );
    }
    println!(
        "matrix wall time {:.1} s; comparison: {} (and comparison.json, differences.md)",
        started.elapsed().as_secs_f64(),
        out.join("comparison.html").display()
    );
    Ok(all_delivered && failures.is_empty())
}

/// How long this kernel's `netcase run` has, once the signal is passed on to it, to write its
/// partial results before it is killed (it takes a second or two to stop its cases).
const HOST_RUN_GRACE: Duration = Duration::from_secs(5);

/// This kernel's column: `netcase run` on the host, as a child process.
fn host_run(run_args: &[String], out: &Path) -> Result<Kernel, String> {
    let _ = std::fs::remove_dir_all(out);
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    println!("this kernel: netcase run ... --out {}", out.display());
    // Its progress and figures go to a log next to its bundles, not between the guests' lines.
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let log = std::fs::File::create(out.join("run.log"))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = netcase::fork::spawn(
        Command::new(exe)
            .arg("run")
            .args(run_args)
            .arg("--out")
            .arg(out)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Its own process group: a terminal's Ctrl-C reaches this process only, which passes
            // it on once (a second one would make the child leave without its results).
            .process_group(0),
    )
    .map_err(|e| format!("running this kernel's cases: {e}"))?;
    let registered = stop::register(&child, stop::How::Forward(HOST_RUN_GRACE))
        .map_err(|e| format!("watching this kernel's cases (pidfd_open): {e}"))?;
    let status = child
        .wait()
        .map_err(|e| format!("waiting for this kernel's cases: {e}"))?;
    drop(registered);
    let wall = started.elapsed().as_secs_f64();
    let mut results = read_results(out);
    let broken = match stop::requested() {
        Some(signal) => {
            let why = format!("stopped by {}", stop::name(signal));
            let missing = missing_jobs(run_args, &results);
            for (case, family) in &missing {
                results.push(stopped(case, family, &report::kernel().release, &why));
            }
            // A run stopped as it started (before it could catch the signal) wrote nothing:
            // its directory still says how it ended.
            let said = RunRecord::read(out).ok().flatten();
            if said.is_none_or(|r| r.state == report::run::State::Running) {
                let parts = missing_jobs(run_args, &[])
                    .iter()
                    .map(|(case, family)| CaseResult::dir_name(case, family))
                    .collect();
                let mut record = RunRecord::start(std::env::args().collect(), parts);
                record.end(Some(stop::name(signal).to_owned()));
                let _ = report::write_summary_of(out, &results, wall, Some(&record));
                let _ = record.write(out);
            }
            Some(why)
        }
        None => (status.code() == Some(2) || results.is_empty())
            .then(|| format!("netcase run exited with {status}")),
    };
    let release = report::kernel().release;
    println!(
        "this kernel ({release}): {} results in {wall:.1} s",
        results.len()
    );
    Ok(Kernel {
        column: Column {
            name: "this-kernel".to_owned(),
            release,
            emulation: "host".to_owned(),
            boot_to_first_case_s: None,
            wall_s: wall,
            broken,
        },
        results,
    })
}

/// What every guest run shares.
struct Shared {
    exe: PathBuf,
    busybox: PathBuf,
    run_args: Vec<String>,
    trees: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    cache: PathBuf,
    out: PathBuf,
    accel: Option<Accel>,
    timeout: Option<Duration>,
    budget_s: f64,
    /// One KVM trial at a time, so that a second guest learns from the first's.
    kvm_lock: Mutex<()>,
}

/// Builds, boots and collects one kernel; a breakdown is recorded in its column, never
/// returned as an error.
fn guest_run(shared: &Shared, image: &Image) -> Kernel {
    let started = Instant::now();
    let dir = shared.out.join(&image.release);
    let mut column = Column {
        name: image.release.clone(),
        release: image.release.clone(),
        emulation: "tcg".to_owned(),
        boot_to_first_case_s: None,
        wall_s: 0.0,
        broken: None,
    };
    let outcome = boot_and_collect(shared, image, &dir, &mut column);
    let mut results = read_results(&dir);
    if let Err(why) = &outcome {
        column.broken = Some(why.clone());
    }
    let signal = stop::requested();
    if let Some(signal) = signal {
        column.broken = Some(format!("stopped by {}", stop::name(signal)));
    }
    // Every case asked for has a row: the ones that did not come back fail with the reason, or
    // are interrupted when a stop was asked for.
    let missing = missing_jobs(&shared.run_args, &results);
    let why = column
        .broken
        .clone()
        .unwrap_or_else(|| "its result did not come back from the guest".to_owned());
    for (case, family) in &missing {
        results.push(match signal {
            Some(_) => stopped(case, family, &image.release, &why),
            None => lost(case, family, &image.release, &why),
        });
    }
    // The run.json this process wrote at the start, unless the guest's own came back instead.
    let ours = RunRecord::read(&dir)
        .ok()
        .flatten()
        .filter(RunRecord::is_this_process);
    if !missing.is_empty() || ours.is_some() {
        let wall = started.elapsed().as_secs_f64();
        let mut record = ours;
        if let Some(record) = &mut record {
            record.end(signal.map(|s| stop::name(s).to_owned()));
        }
        let _ = report::write_summary_of(&dir, &results, wall, record.as_ref());
        if let Some(record) = &record {
            let _ = record.write(&dir);
        }
    }
    column.wall_s = started.elapsed().as_secs_f64();
    println!(
        "{}: {} results, {}{}",
        image.release,
        results.len(),
        column.emulation,
        column
            .broken
            .as_ref()
            .map_or_else(String::new, |b| format!(", BROKEN: {b}"))
    );
    Kernel { column, results }
}

fn boot_and_collect(
    shared: &Shared,
    image: &Image,
    dir: &Path,
    column: &mut Column,
) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Until the guest's own run.json comes back with its bundles, this one says who is at work.
    let parts = missing_jobs(&shared.run_args, &[])
        .iter()
        .map(|(case, family)| CaseResult::dir_name(case, family))
        .collect();
    RunRecord::start(std::env::args().collect(), parts)
        .write(dir)
        .map_err(|e| e.to_string())?;
    let scratch = shared.cache.join("initramfs");
    let cached = lock_cache(&shared.cache)?;
    let built = initramfs::build(&initramfs::Inputs {
        release: &image.release,
        modules: image.modules.as_deref(),
        config: image.config.as_deref(),
        exe: &shared.exe,
        busybox: &shared.busybox,
        run_args: &shared.run_args,
        trees: &shared.trees,
        dirs: &shared.dirs,
        scratch: &scratch,
    })?;
    drop(cached);
    let nonce = qemu::nonce();
    let initrd = scratch.join(format!("{}-{nonce}.cpio.gz", image.release));
    std::fs::write(&initrd, &built.bytes).map_err(|e| format!("{}: {e}", initrd.display()))?;
    println!(
        "{}: initramfs {:.1} MB, modules {}{}",
        image.release,
        built.bytes.len() as f64 / 1e6,
        built.modules.join(" "),
        if built.missing_modules.is_empty() {
            String::new()
        } else {
            format!(
                " (neither built in nor a module: {})",
                built.missing_modules.join(" ")
            )
        }
    );
    let deadline = shared
        .timeout
        .unwrap_or_else(|| Duration::from_secs_f64(180.0 + 8.0 * shared.budget_s));
    let console = dir.join("console.log");
    let attempt = |accel: Accel, boot_deadline: Duration| {
        if let Some(signal) = stop::requested() {
            return Err(format!(
                "stopped by {} before it booted",
                stop::name(signal)
            ));
        }
        qemu::boot(&qemu::Boot {
            vmlinuz: &image.vmlinuz,
            initrd: &initrd,
            nonce: &nonce,
            accel,
            memory_mib: 1024,
            cpus: 2,
            boot_deadline,
            deadline,
            console_log: &console,
        })
    };
    let memo = qemu::kvm_memo(&shared.cache);
    let booted = match shared.accel {
        Some(accel) => attempt(accel, deadline)?,
        None => {
            let guard = shared.kvm_lock.lock().unwrap_or_else(|e| e.into_inner());
            let kvm = qemu::kvm_openable() && !memo.is_file();
            let tried = if kvm {
                // A kernel reaches /init in a second or two under KVM.
                let b = attempt(Accel::Kvm, Duration::from_secs(20))?;
                if matches!(b.outcome, Err(serial::StreamError::NoBoot(_))) {
                    println!(
                        "{}: KVM did not boot it in 20 s; using TCG (remembered in {})",
                        image.release,
                        memo.display()
                    );
                    let _ = std::fs::write(&memo, b"KVM did not boot a stock kernel here\n");
                    None
                } else {
                    Some(b)
                }
            } else {
                None
            };
            drop(guard);
            match tried {
                Some(b) => b,
                None => attempt(Accel::Tcg, Duration::from_secs(180))?,
            }
        }
    };
    let _ = std::fs::remove_file(&initrd);
    column.emulation = if booted.timing.begin.is_some() || shared.accel == Some(Accel::Kvm) {
        // The accelerator that actually ran the boot.
        std::fs::read_to_string(&console)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_owned))
            .and_then(|l| {
                l.split(" -accel ")
                    .nth(1)
                    .map(|r| r.split(' ').next().unwrap_or("").to_owned())
            })
            .unwrap_or_else(|| "tcg".to_owned())
    } else {
        "tcg".to_owned()
    };
    column.boot_to_first_case_s = booted
        .timing
        .first_case
        .or(booted.timing.begin)
        .map(|d| d.as_secs_f64());
    println!(
        "{}: {} boot: /init after {} (guest uptime {}), first case after {}, qemu ran {:.1} s",
        image.release,
        column.emulation,
        secs(booted.timing.begin),
        booted
            .timing
            .begin_uptime_s
            .map_or("?".to_owned(), |u| format!("{u:.1} s")),
        secs(booted.timing.first_case),
        booted.wall.as_secs_f64()
    );
    let finished = booted.outcome.map_err(|e| e.to_string())?;
    for file in &finished.files {
        let path = dir.join(&file.name);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&path, &file.bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if !finished.garbled.is_empty() {
        let list: Vec<String> = finished
            .garbled
            .iter()
            .map(|g| format!("{} ({})", g.name, g.why))
            .collect();
        println!(
            "{}: garbled over the console: {}",
            image.release,
            list.join(", ")
        );
    }
    Ok(())
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("—".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
}

/// Every `result.json` one level under `dir`, in the order of the summary when there is one.
fn read_results(dir: &Path) -> Vec<CaseResult> {
    let mut results: Vec<CaseResult> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("result.json")).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    let order: Vec<String> = std::fs::read_to_string(dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v["cases"].as_array().map(|cases| {
                cases
                    .iter()
                    .filter_map(|c| c["bundle"].as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default();
    results.sort_by_key(|r| {
        let bundle = CaseResult::dir_name(&r.case, &r.family);
        (
            order
                .iter()
                .position(|b| *b == bundle)
                .unwrap_or(usize::MAX),
            bundle,
        )
    });
    results
}

/// The (case, family) runs `run_args` asked for that have no result.
fn missing_jobs(run_args: &[String], results: &[CaseResult]) -> Vec<(String, String)> {
    let family = run_args
        .iter()
        .position(|a| a == "--family")
        .and_then(|i| run_args.get(i + 1))
        .map_or("both", String::as_str);
    let names = run_args.iter().take_while(|a| !a.starts_with("--"));
    let mut missing = Vec::new();
    for name in names {
        let Some(def) = netcase_cases::find(name) else {
            continue;
        };
        for f in def.info.families {
            let f = crate::run::family_name(*f);
            if (family == "both" || family == f)
                && !results.iter().any(|r| r.case == *name && r.family == f)
            {
                missing.push((name.clone(), f.to_owned()));
            }
        }
    }
    missing
}

/// The result of a run that a stop left without one.
fn stopped(case: &str, family: &str, release: &str, why: &str) -> CaseResult {
    CaseResult {
        verdict: Verdict::Interrupted,
        ..lost(case, family, release, why)
    }
}

/// The result of a run that did not come back.
fn lost(case: &str, family: &str, release: &str, why: &str) -> CaseResult {
    let def = netcase_cases::find(case);
    CaseResult {
        schema: report::RESULT_SCHEMA.to_owned(),
        case: case.to_owned(),
        summary: def.map_or("", |d| d.info.summary).to_owned(),
        family: family.to_owned(),
        verdict: Verdict::Fail,
        reason: Some(why.to_owned()),
        error: Some(why.to_owned()),
        duration_s: 0.0,
        expected_s: def.map_or(0.0, |d| d.info.expected.as_secs_f64()),
        seed: 1,
        figures: Vec::new(),
        notes: Vec::new(),
        behaviours: Vec::new(),
        counters: BTreeMap::new(),
        checkpoints: Vec::new(),
        settings: BTreeMap::new(),
        kernel: report::Kernel {
            release: release.to_owned(),
            version: "unknown".to_owned(),
            hz: "unknown".to_owned(),
            config_hash: "unknown".to_owned(),
        },
        netcase: report::Tool {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: env!("NETCASE_COMMIT").to_owned(),
        },
        rerun: format!("netcase kernels --kernel {release} '{case}' --family {family}"),
        files: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_parse_and_refuse_bad_input() {
        let o = Options::parse(&args(&[
            "--kernel",
            "a.deb",
            "--kernel",
            "linux-image-x",
            "socket_addresses::",
            "--accel",
            "tcg",
            "--family",
            "v4",
            "--no-host",
        ]))
        .unwrap();
        assert_eq!(o.kernels, ["a.deb", "linux-image-x"]);
        assert_eq!(o.filters, ["socket_addresses::"]);
        assert_eq!(o.accel, Some(Accel::Tcg));
        assert!(!o.host);
        assert!(Options::parse(&args(&["socket_addresses::"])).is_err());
        assert!(Options::parse(&args(&["--kernel", "k", "--accel", "xen"])).is_err());
        assert!(Options::parse(&args(&["--kernel", "k", "--bogus"])).is_err());
    }

    #[test]
    fn the_default_subset_is_the_fast_cases() {
        let o = Options::parse(&args(&["--kernel", "k"])).unwrap();
        let picked = selection(&o).unwrap();
        assert!(!picked.is_empty());
        assert!(picked.iter().all(|(_, _, e)| *e <= o.max_expected));
        assert!(
            picked
                .iter()
                .any(|(n, _, _)| *n == "socket_addresses::seen_by_both_ends")
        );
    }

    #[test]
    fn a_dpkg_tree_gives_its_release_modules_and_config() {
        let root = std::env::temp_dir().join(format!("netcase-tree-{}", std::process::id()));
        std::fs::create_dir_all(root.join("boot")).unwrap();
        std::fs::create_dir_all(root.join("lib/modules/6.1.0-9-cloud-amd64/kernel")).unwrap();
        std::fs::write(root.join("boot/vmlinuz-6.1.0-9-cloud-amd64"), b"").unwrap();
        std::fs::write(
            root.join("boot/config-6.1.0-9-cloud-amd64"),
            b"CONFIG_HZ=250\n",
        )
        .unwrap();
        let image = resolve(root.to_str().unwrap(), &root).unwrap();
        assert_eq!(image.release, "6.1.0-9-cloud-amd64");
        assert!(
            image
                .modules
                .unwrap()
                .ends_with("lib/modules/6.1.0-9-cloud-amd64")
        );
        assert!(image.config.is_some());
        assert!(resolve("no-such-thing", &root).is_err());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn missing_runs_are_found_per_family() {
        let run_args = args(&["socket_addresses::seen_by_both_ends", "--family", "both"]);
        let missing = missing_jobs(&run_args, &[]);
        assert_eq!(missing.len(), 2);
        let lost = lost(
            &missing[0].0,
            &missing[0].1,
            "6.1",
            "the guest kernel panicked",
        );
        assert_eq!(lost.verdict, Verdict::Fail);
        assert_eq!(missing_jobs(&run_args, &[lost]).len(), 1);
    }
}
