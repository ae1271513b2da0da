//! The kernel matrix: the cases on other kernels under qemu, and a comparison with this one.
//!
//! A kernel is a `vmlinuz` file, a `dpkg -x` tree, a `.deb` or a Debian package name
//! ([`image`]). For each, an initramfs is built ([`initramfs`]) around the program that runs the
//! cases ([`Options::exe`]: a `netcase` command, [`crate::cli`]), booted under qemu ([`qemu`]:
//! KVM when it boots the kernel, TCG otherwise); the selected cases run inside with `netcase
//! run`, and their bundles come back over the serial console ([`serial`]) into `OUT/<release>/`,
//! the same bundle as `netcase run` writes. This kernel's run goes to `OUT/this-kernel/`. Then
//! `OUT/comparison.{json,html}`, `OUT/differences.md` (the rows whose behaviour differs, as a
//! Markdown table) and a table on stdout ([`compare`]).
//!
//! ```no_run
//! # fn matrix(cases: Vec<&'static netcase::case::Def>) -> Result<bool, String> {
//! use netcase::kernels;
//! let exe = std::env::current_exe().map_err(|e| e.to_string())?;
//! kernels::run(&kernels::Options {
//!     cases,
//!     fixtures: vec!["fixtures".into()],
//!     ..kernels::Options::new(vec!["linux-image-cloud-amd64".to_owned()], exe, "target".as_ref())
//! })
//! # }
//! ```
//!
//! Stopping ([`crate::stop`]): a stop kills the guests (the qemu processes this process
//! started, by pidfd), passes the signal on to this kernel's `netcase run` (which writes its
//! partial results; it is killed if it has not ended 5 s later), and writes the comparison of
//! what came back, all within seconds. Every program it starts dies with it however it ends,
//! SIGKILL included ([`crate::fork`]). `OUT/run.json` says whether the matrix finished
//! ([`crate::report::run`]), as each kernel's directory does for its run.

pub mod compare;
pub mod config;
pub mod cpio;
pub mod image;
pub mod initramfs;
pub mod modules;
pub mod qemu;
pub mod serial;

use std::{
    os::unix::process::CommandExt,
    path::{Component, Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{
    Family,
    case::Def,
    report::{
        self, CaseResult, Tool, Verdict,
        run::{RunRecord, writable},
    },
    stop,
};

use compare::{Column, Comparison, Kernel};
pub use image::{Image, cache_dir, resolve, resolve_with};
pub use qemu::Accel;

/// What a matrix runs, and where.
#[derive(Clone)]
pub struct Options {
    /// The kernels to boot, each as [`resolve`] takes it.
    pub kernels: Vec<String>,
    /// Where `make modules_install INSTALL_MOD_PATH=DIR` put the kernels' modules: each kernel
    /// takes the DIR with `lib/modules/<its release>` ([`resolve_with`]).
    pub modules: Vec<PathBuf>,
    /// The cases to run, in this order; each over those of `families` it declares.
    pub cases: Vec<&'static Def>,
    /// The families to run the cases over.
    pub families: Vec<Family>,
    /// The output directory.
    pub out: PathBuf,
    /// The accelerator, or `None` to try KVM first and fall back to TCG.
    pub accel: Option<Accel>,
    /// How many guests boot at once.
    pub parallel: usize,
    /// How long a guest may run, or `None` for 3 minutes and 8 times the cases' expected time.
    pub timeout: Option<Duration>,
    /// Whether this kernel runs the cases too (the comparison's first column).
    pub host: bool,
    /// The program that runs the cases here and in every guest: it answers `run NAME...
    /// --family F --out DIR` and `kernels stream DIR NONCE STATUS` as a [`crate::cli`] command
    /// does (a command passes `std::env::current_exe()`).
    pub exe: PathBuf,
    /// The directories the cases read at run time (their expectation fixtures), each by the
    /// path they read it at, which may go through `..` (`cases/../fixtures`): every guest has
    /// them at that path.
    pub fixtures: Vec<PathBuf>,
    /// Where kernels are unpacked and initramfs images built ([`cache_dir`]).
    pub cache: PathBuf,
    /// What the results this process makes up (for a run that did not come back) say ran them.
    pub tool: Tool,
}

impl Options {
    /// The matrix of no case yet on `kernels`, run by `exe`, over both families, into
    /// `target/netcase/matrix` (relative to the current directory), two guests at a time, this
    /// kernel too, with the kernel cache under `target` ([`cache_dir`]).
    pub fn new(kernels: Vec<String>, exe: PathBuf, target: &Path) -> Options {
        Options {
            kernels,
            modules: Vec::new(),
            cases: Vec::new(),
            families: Family::BOTH.to_vec(),
            out: PathBuf::from("target/netcase/matrix"),
            accel: None,
            parallel: 2,
            timeout: None,
            host: true,
            exe,
            fixtures: Vec::new(),
            cache: cache_dir(target),
            tool: Tool {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                commit: "unknown".to_owned(),
            },
        }
    }
}

/// A case picked, with the families it runs over here.
type Picked = (&'static Def, Vec<Family>);

/// The cases to run, each with those of `families` it declares; an error when none runs over
/// them.
fn picked(cases: &[&'static Def], families: &[Family]) -> Result<Vec<Picked>, String> {
    let picked: Vec<Picked> = cases
        .iter()
        .map(|&def| {
            let families = families
                .iter()
                .copied()
                .filter(|f| def.info.families.contains(f))
                .collect();
            (def, families)
        })
        .filter(|(_, f): &Picked| !f.is_empty())
        .collect();
    if picked.is_empty() {
        return Err("no case selected runs over that family".to_owned());
    }
    Ok(picked)
}

/// Runs the matrix; `Ok(true)` when every kernel delivered its results and no case failed
/// (differences of behaviour are the product, and a SKIP for a missing feature is not a
/// failure). An error is bad input (an unknown kernel, no busybox, an unwritable directory).
/// `OUT/run.json` says `running` from once the input is checked, and how the matrix ended at
/// its end.
pub fn run(options: &Options) -> Result<bool, String> {
    let started = Instant::now();
    let cache = &options.cache;
    std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    writable(&options.out)?;
    let out = std::fs::canonicalize(&options.out).unwrap_or(options.out.clone());
    let selected = picked(&options.cases, &options.families)?;
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or("busybox is not installed (apt-get install busybox-static)")?;
    let _ = std::fs::remove_file(out.join("comparison.json"));
    let _ = std::fs::remove_file(out.join("comparison.html"));
    let mut record = RunRecord::start(std::env::args().collect(), Vec::new());
    record.write(&out).map_err(|e| e.to_string())?;
    let outcome = kernels(options, &out, &selected, busybox, &mut record, started);
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
    selected: &[Picked],
    busybox: PathBuf,
    record: &mut RunRecord,
    started: Instant,
) -> Result<bool, String> {
    let cache = &options.cache;
    let jobs: usize = selected.iter().map(|(_, f)| f.len()).sum();
    let mut images = Vec::new();
    let cached = image::lock_cache(cache)?;
    for kernel in &options.kernels {
        if stop::requested().is_some() {
            break;
        }
        images.push(resolve_with(kernel, cache, &options.modules)?);
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
    let mut run_args: Vec<String> = selected
        .iter()
        .map(|(d, _)| d.info.name.to_owned())
        .collect();
    let family = match options.families.as_slice() {
        [Family::V4] => "v4",
        [Family::V6] => "v6",
        _ => "both",
    };
    run_args.extend(["--family".to_owned(), family.to_owned()]);
    if selected
        .iter()
        .any(|(d, _)| d.info.tier == crate::case::Tier::Long)
    {
        run_args.push("--long".to_owned());
    }
    let budget: f64 = selected
        .iter()
        .map(|(d, f)| d.info.expected.as_secs_f64().max(0.5) * f.len() as f64)
        .sum();
    println!(
        "kernel matrix: {} cases ({jobs} runs) on {} kernel(s){}",
        selected.len(),
        images.len(),
        if options.host { " and this one" } else { "" }
    );
    let mut kernels = Vec::new();
    if options.host && stop::requested().is_none() {
        kernels.push(host_run(
            options,
            selected,
            &run_args,
            &out.join("this-kernel"),
        )?);
    }
    let (trees, dirs) = guest_paths(&options.fixtures);
    let shared = Shared {
        exe: options.exe.clone(),
        busybox,
        selected,
        tool: &options.tool,
        run_args,
        trees,
        dirs,
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
fn host_run(
    options: &Options,
    selected: &[Picked],
    run_args: &[String],
    out: &Path,
) -> Result<Kernel, String> {
    let _ = std::fs::remove_dir_all(out);
    println!("this kernel: netcase run ... --out {}", out.display());
    // Its progress and figures go to a log next to its bundles, not between the guests' lines.
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let log = std::fs::File::create(out.join("run.log"))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = crate::fork::spawn(
        Command::new(&options.exe)
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
            let release = report::kernel().release;
            for (def, family) in missing_jobs(selected, &results) {
                results.push(stopped(def, family, &release, &why, &options.tool));
            }
            // A run stopped as it started (before it could catch the signal) wrote nothing:
            // its directory still says how it ended.
            let said = RunRecord::read(out).ok().flatten();
            if said.is_none_or(|r| r.state == report::run::State::Running) {
                let parts = missing_jobs(selected, &[])
                    .into_iter()
                    .map(|(def, family)| CaseResult::dir_name(def.info.name, family))
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
struct Shared<'a> {
    exe: PathBuf,
    busybox: PathBuf,
    selected: &'a [Picked],
    tool: &'a Tool,
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
    let missing = missing_jobs(shared.selected, &results);
    let why = column
        .broken
        .clone()
        .unwrap_or_else(|| "its result did not come back from the guest".to_owned());
    for &(def, family) in &missing {
        results.push(match signal {
            Some(_) => stopped(def, family, &image.release, &why, shared.tool),
            None => lost(def, family, &image.release, &why, shared.tool),
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
    let parts = missing_jobs(shared.selected, &[])
        .into_iter()
        .map(|(def, family)| CaseResult::dir_name(def.info.name, family))
        .collect();
    RunRecord::start(std::env::args().collect(), parts)
        .write(dir)
        .map_err(|e| e.to_string())?;
    let checked = config::check(image).map_err(|untestable| {
        println!("{untestable}");
        untestable.reason()
    })?;
    if let Some(line) = checked.summary(shared.selected.iter().map(|(def, _)| *def)) {
        println!("{}: {line}", image.release);
    }
    let scratch = shared.cache.join("initramfs");
    let cached = image::lock_cache(&shared.cache)?;
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

/// The (case, family) runs of `selected` that have no result.
fn missing_jobs(selected: &[Picked], results: &[CaseResult]) -> Vec<(&'static Def, &'static str)> {
    let mut missing = Vec::new();
    for (def, families) in selected {
        for family in families {
            let f = family_name(*family);
            if !results
                .iter()
                .any(|r| r.case == def.info.name && r.family == f)
            {
                missing.push((*def, f));
            }
        }
    }
    missing
}

/// `v4` or `v6`: a family as bundles, results and the command line name it.
pub fn family_name(family: Family) -> &'static str {
    match family {
        Family::V4 => "v4",
        Family::V6 => "v6",
    }
}

/// The result of a run that a stop left without one.
fn stopped(def: &Def, family: &str, release: &str, why: &str, tool: &Tool) -> CaseResult {
    CaseResult {
        verdict: Verdict::Interrupted,
        ..lost(def, family, release, why, tool)
    }
}

/// The result of a run that did not come back.
fn lost(def: &Def, family: &str, release: &str, why: &str, tool: &Tool) -> CaseResult {
    let case = def.info.name;
    let kernel = report::Kernel {
        release: release.to_owned(),
        version: "unknown".to_owned(),
        hz: "unknown".to_owned(),
        config_hash: "unknown".to_owned(),
    };
    let rerun = format!("netcase kernels --kernel {release} '{case}' --family {family}");
    CaseResult {
        reason: Some(why.to_owned()),
        error: Some(why.to_owned()),
        ..CaseResult::unfinished(&def.info, family, 1, kernel, tool.clone(), rerun)
    }
}

/// Where the fixtures go in a guest: the trees to copy (each at its path, `..` resolved as
/// written) and the directories a path through `..` needs to exist (`cases` for
/// `cases/../fixtures`).
fn guest_paths(fixtures: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut trees, mut dirs) = (Vec::new(), Vec::new());
    for path in fixtures.iter().filter(|p| p.is_dir()) {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        let mut at = PathBuf::new();
        for part in path.components() {
            if part == Component::ParentDir {
                dirs.push(at.clone());
                at.pop();
            } else {
                at.push(part);
            }
        }
        trees.push(at);
    }
    (trees, dirs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;

    async fn nothing(_: Arc<crate::case::Case>, _: Arc<crate::Topology>) -> crate::Result<()> {
        Ok(())
    }

    static BOTH: Def = Def::new("test::both", "over both families", body!(nothing));
    static V4: Def = Def::new("test::v4", "over IPv4", body!(nothing)).families(&[Family::V4]);

    #[test]
    fn a_case_runs_over_the_families_asked_for_that_it_declares() {
        let v6 = picked(&[&BOTH, &V4], &[Family::V6]).unwrap();
        assert_eq!(v6.len(), 1);
        assert_eq!(v6[0].0.info.name, "test::both");
        assert_eq!(v6[0].1, [Family::V6]);
        let none = picked(&[&V4], &[Family::V6]).map(|p| p.len());
        assert_eq!(
            none,
            Err("no case selected runs over that family".to_owned())
        );
    }

    #[test]
    fn missing_runs_are_found_per_family() {
        let selected = picked(&[&BOTH], &Family::BOTH).unwrap();
        let missing = missing_jobs(&selected, &[]);
        assert_eq!(missing.len(), 2);
        let tool = Options::new(Vec::new(), PathBuf::new(), Path::new("target")).tool;
        let lost = lost(
            missing[0].0,
            missing[0].1,
            "6.1",
            "the guest kernel panicked",
            &tool,
        );
        assert_eq!(lost.verdict, Verdict::Fail);
        assert_eq!(lost.summary, "over both families");
        assert_eq!(
            lost.rerun,
            "netcase kernels --kernel 6.1 'test::both' --family v4"
        );
        assert_eq!(missing_jobs(&selected, &[lost]).len(), 1);
    }

    #[test]
    fn fixtures_read_through_dot_dot_land_where_the_cases_read_them() {
        let root = std::env::temp_dir().join(format!("netcase-guest-paths-{}", std::process::id()));
        std::fs::create_dir_all(root.join("cases")).unwrap();
        std::fs::create_dir_all(root.join("fixtures")).unwrap();
        let (trees, dirs) = guest_paths(&[root.join("cases/../fixtures"), root.join("absent")]);
        assert_eq!(trees, [root.join("fixtures")]);
        assert_eq!(dirs, [root.join("cases")]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
