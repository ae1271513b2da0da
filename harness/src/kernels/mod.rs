//! The kernel matrix: the cases on other kernels under qemu, and a comparison with this one.
//!
//! A kernel is a build tree, a bzImage or `vmlinuz` file, a `dpkg -x` tree, a `.deb` or a Debian
//! package name ([`image`]); its configuration is checked before it boots ([`config`]). For
//! each, an initramfs is built ([`initramfs`]) around the program that runs the cases
//! ([`Options::exe`]: a `netcase` command, [`crate::cli`]), booted under qemu ([`qemu`]: KVM
//! when it boots the kernel, TCG otherwise); the selected cases run inside with `netcase run`
//! (or a test binary's tests with `netcase tests`, [`TestBinary`]), and their bundles come back
//! over the serial console ([`serial`]) into `OUT/<release>/`, the same bundle as `netcase run`
//! writes. This kernel's run goes to `OUT/this-kernel/`. Then `OUT/comparison.{json,html}`,
//! `OUT/differences.md` (the rows whose behaviour differs, as a Markdown table) and a table on
//! stdout ([`compare`]).
//!
//! [`Mode`] says what is compared with what: every kernel with this one (the matrix), every
//! kernel with a reference booted in this one's place (`git bisect run`: [`Likeness`]; the
//! reference's results are kept between runs, in the kernel cache), or an ordered list searched by
//! bisection for the first kernel that behaves differently from the first (`bisect.rs`).
//!
//! ```no_run
//! # fn matrix(cases: Vec<&'static netcase::case::Def>) -> Result<bool, String> {
//! use netcase::kernels::{self, Likeness, Mode, Ran};
//! let exe = std::env::current_exe().map_err(|e| e.to_string())?;
//! // Does the newest 6.1 behave like the reference 6.12 on these cases?
//! let ran = kernels::run(&kernels::Options {
//!     cases,
//!     fixtures: vec!["fixtures".into()],
//!     mode: Mode::Reference("linux-image-6.12.118+deb12-cloud-amd64".to_owned()),
//!     ..kernels::Options::new(vec!["linux-image-6.1.0-57-cloud-amd64".to_owned()], exe, "target".as_ref())
//! })?;
//! Ok(ran == Ran::Against(Likeness::Same))
//! # }
//! ```
//!
//! Stopping ([`crate::stop`]): a stop kills the guests (the qemu processes this process
//! started, by pidfd), passes the signal on to this kernel's `netcase run` (which writes its
//! partial results; it is killed if it has not ended 5 s later), and writes the comparison of
//! what came back, all within seconds. Every program it starts dies with it however it ends,
//! SIGKILL included ([`crate::fork`]). `OUT/run.json` says whether the matrix finished
//! ([`crate::report::run`]), as each kernel's directory does for its run.

mod bisect;
pub mod compare;
pub mod config;
pub mod cpio;
pub mod image;
pub mod initramfs;
pub mod modules;
pub mod qemu;
mod reference;
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

use bisect::{describe, first_difference, likeness, usable_reference, worst};
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
    /// --family F --out DIR`, `tests BINARY --out DIR -- ARGS` and `kernels stream DIR NONCE STATUS` as a [`crate::cli`] command
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
    /// Instead of the cases, the tests of this binary ([`TestBinary`]).
    pub binary: Option<TestBinary>,
    /// How the kernels are compared ([`Mode`]).
    pub mode: Mode,
    /// Boot the reference even when its results are kept from an earlier run (kept in the kernel cache).
    pub fresh_reference: bool,
}

/// A cargo test binary run in every guest instead of the cases (`netcase tests` inside): its
/// tests are the comparison's rows.
#[derive(Debug, Clone)]
pub struct TestBinary {
    /// The binary (`target/debug/deps/mytests-0123abcd`).
    pub path: PathBuf,
    /// Its arguments: a filter, `--exact`, `--include-ignored`...
    pub args: Vec<String>,
}

/// How the kernels are compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Every kernel against the first column (this kernel, unless [`Options::host`] is off).
    Matrix,
    /// Every kernel against this one, booted as the first column instead of this kernel: for
    /// `git bisect run` ([`Ran::Against`]).
    Reference(String),
    /// The kernels are in order: find by bisection the first that behaves differently from the
    /// first ([`Ran::FirstDifference`]).
    FirstDifference,
}

/// How a run of [`run`] came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// A matrix: whether every kernel delivered its results and no case failed.
    Matrix {
        /// Every kernel delivered, and nothing failed.
        clean: bool,
    },
    /// Against a reference: how the kernels compare with it, the worst of them.
    Against(Likeness),
    /// The first kernel that behaves differently from the first of the list: the last one
    /// that behaves like it and that one, or `None` when every one behaves like the first.
    FirstDifference(Option<(String, String)>),
}

/// How a kernel compares with a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Likeness {
    /// The same verdicts, and no difference of behaviour on any row.
    Same,
    /// A verdict or a behaviour differs.
    Differs,
    /// It could not be compared: it did not boot, lacks what the cases need, or skipped a case
    /// the reference ran; why.
    Untestable(String),
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
            binary: None,
            mode: Mode::Matrix,
            fresh_reference: false,
        }
    }
}

/// One run asked of every kernel: a case over a family, or one test of a test binary.
#[derive(Debug, Clone)]
struct Job {
    case: String,
    family: String,
    summary: String,
    expected: Duration,
    long: bool,
    /// A test of a test binary, not a case.
    test: bool,
}

/// The cases to run, each over those of `families` it declares; an error when none runs over
/// them.
fn case_jobs(cases: &[&'static Def], families: &[Family]) -> Result<Vec<Job>, String> {
    let jobs: Vec<Job> = cases
        .iter()
        .flat_map(|&def| {
            families
                .iter()
                .filter(|f| def.info.families.contains(f))
                .map(|&f| Job {
                    case: def.info.name.to_owned(),
                    family: family_name(f).to_owned(),
                    summary: def.info.summary.to_owned(),
                    expected: def.info.expected,
                    long: def.info.tier == crate::case::Tier::Long,
                    test: false,
                })
        })
        .collect();
    if jobs.is_empty() {
        return Err("no case selected runs over that family".to_owned());
    }
    Ok(jobs)
}

/// The tests `binary` runs with its arguments, from its own `--list` (ignored tests only when
/// its arguments ask for them, as libtest runs them).
fn binary_jobs(binary: &TestBinary) -> Result<Vec<Job>, String> {
    let list = |extra: &[&str]| -> Result<Vec<String>, String> {
        let out = crate::fork::output(
            Command::new(&binary.path).arg("--list").args(extra).args(
                binary
                    .args
                    .iter()
                    .filter(|a| !a.starts_with("--include-ignored")),
            ),
        )
        .map_err(|e| format!("{}: {e}", binary.path.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} --list: {}",
                binary.path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(str::to_owned)
            .collect())
    };
    let wants = |flag: &str| binary.args.iter().any(|a| a == flag);
    let ignored = list(&["--ignored"])?;
    let names: Vec<String> = if wants("--ignored") {
        ignored
    } else {
        let all = list(&[])?;
        if wants("--include-ignored") {
            all
        } else {
            all.into_iter().filter(|n| !ignored.contains(n)).collect()
        }
    };
    if names.is_empty() {
        return Err(format!(
            "{} {}: no test to run (its --list names none)",
            binary.path.display(),
            binary.args.join(" ")
        ));
    }
    Ok(names
        .into_iter()
        .map(|case| Job {
            family: crate::bundle::family_of(&case).to_owned(),
            case,
            summary: String::new(),
            expected: Duration::from_secs(1),
            long: false,
            test: true,
        })
        .collect())
}

/// Where a test binary goes in a guest.
const GUEST_BINARY: &str = "/bin/test-binary";

/// The arguments of the program that runs the jobs (`netcase run ...` or `netcase tests ...`),
/// writing into `out`; `binary` is where the test binary is, for a binary's tests.
fn runner_args(
    options: &Options,
    jobs: &[Job],
    binary: &Path,
    out: &Path,
    guest: bool,
) -> Vec<String> {
    let mut args = Vec::new();
    match &options.binary {
        Some(b) => {
            args.push("tests".to_owned());
            args.push(binary.to_string_lossy().into_owned());
            args.extend(["--out".to_owned(), out.to_string_lossy().into_owned()]);
            args.push("--".to_owned());
            args.extend(b.args.iter().cloned());
        }
        None => {
            args.push("run".to_owned());
            let mut names: Vec<String> = jobs.iter().map(|j| j.case.clone()).collect();
            names.dedup();
            args.extend(names);
            let family = match options.families.as_slice() {
                [Family::V4] => "v4",
                [Family::V6] => "v6",
                _ => "both",
            };
            args.extend(["--family".to_owned(), family.to_owned()]);
            if jobs.iter().any(|j| j.long) {
                args.push("--long".to_owned());
            }
            args.extend(["--out".to_owned(), out.to_string_lossy().into_owned()]);
            if guest {
                // The guest has two CPUs.
                args.extend(["--jobs".to_owned(), "2".to_owned()]);
            }
        }
    }
    args
}

/// Runs the matrix (or the comparison with a reference, or the search for the first
/// difference: [`Options::mode`]). An error is bad input (an unknown kernel, no busybox, an
/// unwritable directory) or, against a reference, a reference that cannot be tested.
/// `OUT/run.json` says `running` from once the input is checked, and how the matrix ended at
/// its end.
pub fn run(options: &Options) -> Result<Ran, String> {
    let started = Instant::now();
    let cache = &options.cache;
    std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    writable(&options.out)?;
    let out = std::fs::canonicalize(&options.out).unwrap_or(options.out.clone());
    let jobs = match &options.binary {
        Some(binary) => binary_jobs(binary)?,
        None => case_jobs(&options.cases, &options.families)?,
    };
    match &options.mode {
        Mode::Matrix => {}
        Mode::Reference(_) if options.kernels.is_empty() => {
            return Err("--reference needs a --kernel to compare with it".to_owned());
        }
        Mode::FirstDifference if options.kernels.len() < 2 => {
            return Err("--first-difference needs at least two kernels, in order".to_owned());
        }
        _ => {}
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or("busybox is not installed (apt-get install busybox-static)")?;
    let _ = std::fs::remove_file(out.join("comparison.json"));
    let _ = std::fs::remove_file(out.join("comparison.html"));
    let mut record = RunRecord::start(std::env::args().collect(), Vec::new());
    record.write(&out).map_err(|e| e.to_string())?;
    let outcome = kernels(options, &out, &jobs, busybox, &mut record, started);
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

/// Resolves the kernel `spec` names, holding the cache meanwhile.
fn resolve_one(options: &Options, spec: &str) -> Result<Image, String> {
    let _held = image::lock_cache(&options.cache)?;
    resolve_with(spec, &options.cache, &options.modules)
}

/// The matrix's work, once its input is checked.
fn kernels(
    options: &Options,
    out: &Path,
    jobs: &[Job],
    busybox: PathBuf,
    record: &mut RunRecord,
    started: Instant,
) -> Result<Ran, String> {
    let cache = &options.cache;
    let budget: f64 = jobs.iter().map(|j| j.expected.as_secs_f64().max(0.5)).sum();
    let (trees, dirs) = guest_paths(&options.fixtures);
    let shared = Shared {
        exe: options.exe.clone(),
        busybox,
        binary: options.binary.as_ref().map(|b| b.path.clone()),
        cases: match options.binary {
            Some(_) => &[],
            None => &options.cases,
        },
        jobs,
        tool: &options.tool,
        guest_args: runner_args(
            options,
            jobs,
            Path::new(GUEST_BINARY),
            Path::new(initramfs::GUEST_OUT),
            true,
        ),
        trees,
        dirs,
        cache: cache.to_owned(),
        out: out.to_owned(),
        accel: options.accel,
        timeout: options.timeout,
        budget_s: budget,
        parallel: options.parallel.max(1),
        kvm_lock: Mutex::new(()),
    };
    let what = match &options.binary {
        Some(b) => format!("{} tests of {}", jobs.len(), b.path.display()),
        None => format!(
            "{} cases ({} runs)",
            jobs.iter()
                .map(|j| &j.case)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            jobs.len()
        ),
    };
    match &options.mode {
        Mode::Matrix => {
            let mut images = Vec::new();
            for kernel in &options.kernels {
                if stop::requested().is_some() {
                    break;
                }
                let image = resolve_one(options, kernel)?;
                images.push((unique_name(&image.release, &images), image));
            }
            begin(record, out, options.host, &images)?;
            println!(
                "kernel matrix: {what} on {} kernel(s){}",
                images.len(),
                if options.host { " and this one" } else { "" }
            );
            let mut kernels = Vec::new();
            if options.host && stop::requested().is_none() {
                let dir = out.join("this-kernel");
                let binary = options.binary.as_ref().map(|b| b.path.clone());
                let args = runner_args(options, jobs, &binary.unwrap_or_default(), &dir, false);
                kernels.push(host_run(options, jobs, &args, &dir)?);
            }
            kernels.extend(boot_all(&shared, images));
            let all_delivered = kernels.iter().all(|k| k.column.broken.is_none());
            let comparison = compared(out, &kernels, started)?;
            Ok(Ran::Matrix {
                clean: all_delivered && comparison.failures().is_empty(),
            })
        }
        Mode::Reference(reference) => {
            let mut images = Vec::new();
            // A kernel that cannot be had (a build that left no bzImage, a file that is not a
            // kernel) cannot be tested: for `git bisect run`, a commit to skip, not bad input.
            let mut unusable = Vec::new();
            for kernel in &options.kernels {
                match resolve_one(options, kernel) {
                    Ok(image) => images.push((unique_name(&image.release, &images), image)),
                    Err(e) => unusable.push(unresolved(kernel, &e)),
                }
            }
            // A bisection's kernels are often all called the same (`6.13.0-rc1+`): the
            // reference's column is then told apart by name.
            let image = resolve_one(options, reference)?;
            let name = match images.iter().any(|(n, _)| *n == image.release) {
                true => format!("reference-{}", image.release),
                false => image.release.clone(),
            };
            let reference = (name, image);
            begin(record, out, false, std::slice::from_ref(&reference))?;
            begin(record, out, false, &images)?;
            println!(
                "against the reference {}: {what} on {} kernel(s)",
                reference.1.release,
                images.len()
            );
            let (kept, key) = kept_reference(options, &shared, &reference)?;
            let kernels = match kept {
                Some(kernel) => std::iter::once(kernel)
                    .chain(boot_all(&shared, images))
                    .collect(),
                None => {
                    let dir = out.join(&reference.0);
                    let all = boot_all(&shared, std::iter::once(reference).chain(images).collect());
                    reference::keep(cache, &key, &all[0], &dir);
                    all
                }
            };
            let mut kernels = kernels;
            kernels.extend(unusable);
            compared(out, &kernels, started)?;
            let (first, rest) = kernels.split_first().expect("the reference is booted");
            usable_reference(first)?;
            let likeness = rest
                .iter()
                .map(|k| likeness(first, k))
                .inspect(|(k, l)| println!("{k}: {}", describe(l, &first.column.name)))
                .map(|(_, l)| l)
                .fold(Likeness::Same, worst);
            Ok(Ran::Against(likeness))
        }
        Mode::FirstDifference => first_difference(options, &shared, out, record, started, &what),
    }
}

/// Records the run's parts (this kernel's and each image's directory) and clears what an
/// earlier run left in them: an earlier run's results would pass for a kernel this one never
/// reached.
fn begin(
    record: &mut RunRecord,
    out: &Path,
    host: bool,
    images: &[(String, Image)],
) -> Result<(), String> {
    let mut parts: Vec<String> = host.then(|| "this-kernel".to_owned()).into_iter().collect();
    for (name, _) in images {
        if !parts.contains(name) {
            parts.push(name.clone());
        }
    }
    for part in &parts {
        if !record.parts.contains(part) {
            let _ = std::fs::remove_dir_all(out.join(part));
            record.parts.push(part.clone());
        }
    }
    record.write(out).map_err(|e| e.to_string())
}

/// The column of a kernel `spec` that could not be found or read (`why`): not booted.
fn unresolved(spec: &str, why: &str) -> Kernel {
    println!("{spec}: cannot be tested: {why}");
    Kernel {
        column: Column {
            name: spec.to_owned(),
            release: "unknown".to_owned(),
            emulation: "none".to_owned(),
            boot_to_first_case_s: None,
            wall_s: 0.0,
            broken: Some(format!("cannot be tested: {why}")),
        },
        results: Vec::new(),
    }
}

/// `release`, or `release-2`, `release-3`... when `taken` has it: every kernel's directory and
/// column has a name of its own.
fn unique_name(release: &str, taken: &[(String, Image)]) -> String {
    let used = |n: &str| taken.iter().any(|(t, _)| t == n);
    (1..)
        .map(|i| match i {
            1 => release.to_owned(),
            _ => format!("{release}-{i}"),
        })
        .find(|n| !used(n))
        .expect("a free name")
}

/// The reference's results kept from an earlier run (in the kernel cache), copied into its
/// directory (`None` when there are none, or with `--fresh-reference`), and the key this run's
/// results are to be kept under.
fn kept_reference(
    options: &Options,
    shared: &Shared,
    (name, image): &(String, Image),
) -> Result<(Option<Kernel>, String), String> {
    let binary = shared.binary.as_deref();
    let key = reference::key(image, &shared.exe, binary, &shared.guest_args)?;
    if options.fresh_reference {
        return Ok((None, key));
    }
    let kept = reference::load(&options.cache, &key, &shared.out.join(name));
    let kept = kept.map(|mut kernel| {
        println!(
            "{name}: the results of an earlier run of the same kernel, netcase and cases, not \
             booted again (--fresh-reference boots it)"
        );
        kernel.column.name = name.clone();
        kernel
    });
    Ok((kept, key))
}

/// Boots `images`, `shared.parallel` at a time; their kernels in the order of `images`.
fn boot_all(shared: &Shared, images: Vec<(String, Image)>) -> Vec<Kernel> {
    let queue = Arc::new(Mutex::new(
        images.into_iter().enumerate().rev().collect::<Vec<_>>(),
    ));
    let done = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..shared.parallel {
            let (queue, done) = (queue.clone(), done.clone());
            scope.spawn(move || {
                while stop::requested().is_none() {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let Some((index, (name, image))) = next else {
                        return;
                    };
                    let kernel = guest_run(shared, &name, &image);
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((index, kernel));
                }
            });
        }
    });
    let mut guests = std::mem::take(&mut *done.lock().unwrap_or_else(|e| e.into_inner()));
    guests.sort_by_key(|(i, _)| *i);
    guests.into_iter().map(|(_, k)| k).collect()
}

/// Writes and prints the comparison of `kernels`, the first column the reference.
fn compared(out: &Path, kernels: &[Kernel], started: Instant) -> Result<Comparison, String> {
    let mut comparison = Comparison::new(kernels);
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
    Ok(comparison)
}

/// How long this kernel's `netcase run` has, once the signal is passed on to it, to write its
/// partial results before it is killed (it takes a second or two to stop its cases).
const HOST_RUN_GRACE: Duration = Duration::from_secs(5);

/// This kernel's column: `netcase run` on the host, as a child process.
fn host_run(
    options: &Options,
    jobs: &[Job],
    args: &[String],
    out: &Path,
) -> Result<Kernel, String> {
    let _ = std::fs::remove_dir_all(out);
    println!(
        "this kernel: netcase {} ... --out {}",
        args[0],
        out.display()
    );
    // Its progress and figures go to a log next to its bundles, not between the guests' lines.
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let log = std::fs::File::create(out.join("run.log"))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = crate::fork::spawn(
        Command::new(&options.exe)
            .args(args)
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
            for job in missing_jobs(jobs, &results) {
                results.push(stopped(job, &release, &why, &options.tool));
            }
            // A run stopped as it started (before it could catch the signal) wrote nothing:
            // its directory still says how it ended.
            let said = RunRecord::read(out).ok().flatten();
            if said.is_none_or(|r| r.state == report::run::State::Running) {
                let parts = missing_jobs(jobs, &[])
                    .into_iter()
                    .map(|job| CaseResult::dir_name(&job.case, &job.family))
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
    /// The test binary the guests run, if they run one.
    binary: Option<PathBuf>,
    /// The cases the guests run (none for a test binary).
    cases: &'a [&'static Def],
    jobs: &'a [Job],
    tool: &'a Tool,
    /// The arguments of the guest's `/bin/netcase`.
    guest_args: Vec<String>,
    trees: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    cache: PathBuf,
    out: PathBuf,
    accel: Option<Accel>,
    timeout: Option<Duration>,
    budget_s: f64,
    /// How many guests boot at once.
    parallel: usize,
    /// One KVM trial at a time, so that a second guest learns from the first's.
    kvm_lock: Mutex<()>,
}

/// Builds, boots and collects one kernel; a breakdown is recorded in its column, never
/// returned as an error.
fn guest_run(shared: &Shared, name: &str, image: &Image) -> Kernel {
    let started = Instant::now();
    let dir = shared.out.join(name);
    let mut column = Column {
        name: name.to_owned(),
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
    let missing = missing_jobs(shared.jobs, &results);
    let why = column
        .broken
        .clone()
        .unwrap_or_else(|| "its result did not come back from the guest".to_owned());
    for job in &missing {
        results.push(match signal {
            Some(_) => stopped(job, &image.release, &why, shared.tool),
            None => lost(job, &image.release, &why, shared.tool),
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
    let parts = missing_jobs(shared.jobs, &[])
        .into_iter()
        .map(|job| CaseResult::dir_name(&job.case, &job.family))
        .collect();
    RunRecord::start(std::env::args().collect(), parts)
        .write(dir)
        .map_err(|e| e.to_string())?;
    let checked = config::check(image).map_err(|untestable| {
        println!("{untestable}");
        untestable.reason()
    })?;
    if let Some(line) = checked.summary(shared.cases.iter().copied()) {
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
        binary: shared.binary.as_deref(),
        run_args: &shared.guest_args,
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

/// The jobs that have no result.
fn missing_jobs<'j>(jobs: &'j [Job], results: &[CaseResult]) -> Vec<&'j Job> {
    jobs.iter()
        .filter(|j| {
            !results
                .iter()
                .any(|r| r.case == j.case && r.family == j.family)
        })
        .collect()
}

/// `v4` or `v6`: a family as bundles, results and the command line name it.
pub fn family_name(family: Family) -> &'static str {
    match family {
        Family::V4 => "v4",
        Family::V6 => "v6",
    }
}

/// The result of a run that a stop left without one.
fn stopped(job: &Job, release: &str, why: &str, tool: &Tool) -> CaseResult {
    CaseResult {
        verdict: Verdict::Interrupted,
        ..lost(job, release, why, tool)
    }
}

/// The result of a run that did not come back.
fn lost(job: &Job, release: &str, why: &str, tool: &Tool) -> CaseResult {
    let (case, family) = (&job.case, &job.family);
    let kernel = report::Kernel {
        release: release.to_owned(),
        version: "unknown".to_owned(),
        hz: "unknown".to_owned(),
        config_hash: "unknown".to_owned(),
    };
    let rerun = match job.test {
        true => {
            format!("netcase kernels --kernel {release} --test-binary BINARY -- '{case}' --exact")
        }
        false => format!("netcase kernels --kernel {release} '{case}' --family {family}"),
    };
    static ANY: crate::case::CaseInfo = crate::case::CaseInfo::named("", "");
    CaseResult {
        case: case.clone(),
        summary: job.summary.clone(),
        expected_s: job.expected.as_secs_f64(),
        reason: Some(why.to_owned()),
        error: Some(why.to_owned()),
        ..CaseResult::unfinished(&ANY, family, 1, kernel, tool.clone(), rerun)
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
        let v6 = case_jobs(&[&BOTH, &V4], &[Family::V6]).unwrap();
        assert_eq!(v6.len(), 1);
        assert_eq!(
            (v6[0].case.as_str(), v6[0].family.as_str()),
            ("test::both", "v6")
        );
        let none = case_jobs(&[&V4], &[Family::V6]).map(|p| p.len());
        assert_eq!(
            none,
            Err("no case selected runs over that family".to_owned())
        );
    }

    #[test]
    fn missing_runs_are_found_per_family() {
        let jobs = case_jobs(&[&BOTH], &Family::BOTH).unwrap();
        let missing = missing_jobs(&jobs, &[]);
        assert_eq!(missing.len(), 2);
        let tool = Options::new(Vec::new(), PathBuf::new(), Path::new("target")).tool;
        let lost = lost(missing[0], "6.1", "the guest kernel panicked", &tool);
        assert_eq!(lost.verdict, Verdict::Fail);
        assert_eq!(lost.summary, "over both families");
        assert_eq!(
            lost.rerun,
            "netcase kernels --kernel 6.1 'test::both' --family v4"
        );
        assert_eq!(missing_jobs(&jobs, &[lost]).len(), 1);
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
