//! `netcase run`: the cases in parallel, each on a thread of its own named after it (so that its
//! files go to its bundle directory, as under cargo test), with a live display and the reports.
//!
//! The output directory says at every moment how far the run got: `run.json` says `running` from
//! the start ([`crate::report::run`]), the summary and index are rewritten as each case
//! finishes, and at the end `run.json` says `finished`, or `interrupted` by Ctrl-C or SIGTERM
//! (running cases stopped and torn down, their verdict `interrupted`). A run killed outright
//! leaves `running` behind a process that is gone: `netcase show` says it was killed.

use std::{
    collections::{BTreeMap, VecDeque},
    io::{IsTerminal, Write},
    panic::AssertUnwindSafe,
    path::PathBuf,
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use futures::FutureExt;

use crate::{
    Family, Topology,
    case::{Case, Def, Tier},
    kernels::family_name,
    report::{
        self, BehaviourRecord, CaseResult, Checkpoint, FigureRecord, Tool, Verdict, first_line,
        run::RunRecord,
    },
    stop,
};

/// One case over one family.
#[derive(Clone, Copy)]
pub struct Job {
    /// The case.
    pub def: &'static Def,
    /// The family it runs over.
    pub family: Family,
}

impl Job {
    fn label(&self) -> String {
        format!("{} [{}]", self.def.info.name, family_name(self.family))
    }

    /// Its bundle's directory name.
    fn bundle(&self) -> String {
        CaseResult::dir_name(self.def.info.name, family_name(self.family))
    }
}

/// What `run` was asked to do.
pub struct Options {
    /// The runs, in the order the reports list them.
    pub jobs: Vec<Job>,
    /// The output directory.
    pub out: PathBuf,
    /// How many run at once.
    pub parallel: usize,
    /// The seed of the cases' random choices.
    pub seed: u64,
    /// What the reports say ran the cases.
    pub tool: Tool,
}

enum Event {
    Started(Job, Instant),
    Finished(Box<CaseResult>),
}

/// Runs every job and writes the reports; returns the results in the order of `jobs`.
pub fn run(options: Options) -> Vec<CaseResult> {
    stop::install();
    install_panic_hook();
    let started = Instant::now();
    let mut record = RunRecord::start(
        std::env::args().collect(),
        options.jobs.iter().map(Job::bundle).collect(),
    );
    // The directory holds this run's bundles only: one left by an earlier run would pass for
    // a result of this one if this one stopped before its case ran.
    for bundle in &record.parts {
        let _ = std::fs::remove_dir_all(options.out.join(bundle));
    }
    if let Err(e) = record.write(&options.out) {
        eprintln!("netcase: {e}");
    }
    // Longest first (a stable sort: the given order otherwise), so that the run takes about as
    // long as its longest case; the reports keep the given order. The long tier's cases each
    // get a worker of their own besides the --jobs ones: they wait minutes on the kernel's
    // timers, nearly idle, and would otherwise hold the workers (two, in a qemu guest) for
    // that long while the rest waits.
    let mut queued = options.jobs.clone();
    queued.sort_by_key(|job| std::cmp::Reverse(job.def.info.expected));
    let (long, rest): (Vec<Job>, Vec<Job>) = queued
        .into_iter()
        .partition(|job| job.def.info.tier == Tier::Long);
    let shared = Arc::new(Mutex::new(VecDeque::from(rest)));
    let queues = (0..options.parallel.max(1)).map(|_| shared.clone()).chain(
        long.into_iter()
            .map(|job| Arc::new(Mutex::new(VecDeque::from([job])))),
    );
    let (events, received) = mpsc::channel();
    let workers: Vec<_> = queues
        .map(|queue| {
            let events = events.clone();
            let (seed, tool) = (options.seed, options.tool.clone());
            std::thread::spawn(move || worker(&queue, &events, seed, &tool))
        })
        .collect();
    drop(events);
    // The summary and index as far as the run got, rewritten as each case finishes.
    let results = display(received, options.jobs.len(), &mut |results| {
        let so_far = in_order(&options.jobs, results);
        let wall = started.elapsed().as_secs_f64();
        if let Err(e) = report::write_summary_of(&options.out, &so_far, wall, Some(&record)) {
            eprintln!("netcase: {e}");
        }
    });
    for worker in workers {
        let _ = worker.join();
    }
    let wall = started.elapsed().as_secs_f64();
    let mut results = results;
    if let Some(signal) = stop::requested() {
        // Every case asked for has a row: the ones the stop came before never started.
        for job in &options.jobs {
            let found = results
                .iter()
                .any(|r| r.case == job.def.info.name && r.family == family_name(job.family));
            if !found {
                let mut result = blank(*job, options.seed, &options.tool);
                result.verdict = Verdict::Interrupted;
                result.reason = Some(format!(
                    "stopped by {} before it started",
                    stop::name(signal)
                ));
                results.push(result);
            }
        }
    }
    let ordered = in_order(&options.jobs, &results);
    summary_table(&ordered, wall);
    // The summary first, the end state last: a run.json that says finished has its summary.
    record.end(stop::requested().map(|s| stop::name(s).to_owned()));
    if let Err(e) = report::write_summary_of(&options.out, &ordered, wall, Some(&record))
        .and_then(|()| record.write(&options.out))
    {
        eprintln!("netcase: {e}");
    } else {
        println!(
            "report: {} (summary.json, junit.xml, one directory per case)",
            options.out.join("index.html").display()
        );
    }
    ordered
}

/// `results` in the order the cases were asked for.
fn in_order(jobs: &[Job], results: &[CaseResult]) -> Vec<CaseResult> {
    jobs.iter()
        .filter_map(|job| {
            results
                .iter()
                .find(|r| r.case == job.def.info.name && r.family == family_name(job.family))
                .cloned()
        })
        .collect()
}

fn worker(queue: &Mutex<VecDeque<Job>>, events: &mpsc::Sender<Event>, seed: u64, tool: &Tool) {
    loop {
        if stop::requested().is_some() {
            return;
        }
        let Some(job) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
            return;
        };
        let _ = events.send(Event::Started(job, Instant::now()));
        // A thread named as libtest would name the test: its files go to <out>/<name>/.
        let name = CaseResult::dir_name(job.def.info.name, family_name(job.family));
        let own = tool.clone();
        let result = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || run_job(job, seed, &own))
            .map(|t| t.join())
            .map_err(|e| e.to_string());
        let result = match result {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => {
                failed_to_start(job, seed, tool, "the case's thread could not run")
            }
        };
        let _ = events.send(Event::Finished(Box::new(result)));
    }
}

fn failed_to_start(job: Job, seed: u64, tool: &Tool, why: &str) -> CaseResult {
    let mut r = blank(job, seed, tool);
    r.verdict = Verdict::Fail;
    r.reason = Some(why.to_owned());
    r
}

fn blank(job: Job, seed: u64, tool: &Tool) -> CaseResult {
    let (info, family) = (&job.def.info, family_name(job.family));
    let rerun = format!(
        "netcase run '{}' --family {family} --seed {seed}",
        info.name
    );
    CaseResult::unfinished(info, family, seed, report::kernel(), tool.clone(), rerun)
}

/// Runs one case on this (named) thread and writes its bundle.
fn run_job(job: Job, seed: u64, tool: &Tool) -> CaseResult {
    let mut result = blank(job, seed, tool);
    let dir = crate::capture::output_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return failed_to_start(job, seed, tool, &format!("no tokio runtime: {e}")),
    };
    let start = Instant::now();
    let net = runtime.block_on(async {
        let outcome = run_case(job, seed, &mut result).await;
        result.duration_s = start.elapsed().as_secs_f64();
        match outcome {
            Ok(net) => Some(net),
            Err(e) => {
                result.verdict = Verdict::Fail;
                result.reason = Some(first_line(&e.to_string()));
                result.error = Some(e.to_string());
                None
            }
        }
    });
    if let Err(e) = report::write_bundle(&dir, net.as_deref(), &mut result) {
        result.verdict = Verdict::Fail;
        result.reason = Some(first_line(&e.to_string()));
    }
    // The topology goes last, on this thread: every namespace, link and process with it.
    drop(net);
    result
}

/// Builds the case's topology, reads its hosts' settings and counters, runs the body, and
/// fills `result`; the topology comes back for the bundle (host names in the timeline).
async fn run_case(job: Job, seed: u64, result: &mut CaseResult) -> crate::Result<Arc<Topology>> {
    let info = &job.def.info;
    let net = Arc::new(info.shape.build().await?);
    let mut before = BTreeMap::new();
    for host in net.hosts() {
        result
            .settings
            .insert(host.name().to_owned(), host.settings().await?);
        before.insert(host.name().to_owned(), host.counters().await?);
    }
    // Every link end of every host, for the whole case: the bundle's pcaps, timeline and
    // ladder. (A case that records an interface itself writes the same file first; this
    // recording, a superset, replaces it.)
    let names: Vec<String> = net.hosts().map(|h| h.name().to_owned()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let recording = net.record(&names).await?;
    let case = Case::new(info, job.family, seed);
    let body =
        AssertUnwindSafe(crate::case::run_with(job.def, case.clone(), net.clone())).catch_unwind();
    let outcome = tokio::select! {
        outcome = body => Some(outcome),
        () = interrupted() => None,
    };
    match outcome {
        None => {
            result.verdict = Verdict::Interrupted;
            result.reason = Some(format!(
                "stopped by {}",
                stop::requested().map_or("a signal", stop::name)
            ));
        }
        Some(Ok(Ok(()))) => result.verdict = Verdict::Pass,
        Some(Ok(Err(crate::Error::Skip(why)))) => {
            result.verdict = Verdict::Skip;
            result.reason = Some(first_line(&why));
            // The whole of it, when the line is cut short (a verifier's refusal, say).
            result.error = (result.reason.as_deref() != Some(why.trim())).then_some(why);
        }
        Some(Ok(Err(e))) => {
            result.verdict = Verdict::Fail;
            result.reason = Some(first_line(&e.to_string()));
            result.error = Some(e.to_string());
        }
        Some(Err(panic)) => {
            let message = panic_message(&*panic);
            result.verdict = Verdict::Fail;
            result.reason = Some(first_line(&message));
            result.error = Some(message);
        }
    }
    let recorded = recording.stop().await?;
    if recorded.dropped() > 0 {
        case.note(format!(
            "the whole-case capture lost {} frames: the pcaps are incomplete",
            recorded.dropped()
        ));
    }
    drop(recorded);
    let found = case.found();
    result.figures = found
        .figures
        .into_iter()
        .map(|f| FigureRecord {
            name: f.name,
            values: f.values,
            unit: f.unit,
            kind: f.kind,
        })
        .collect();
    result.notes = found.notes;
    result.behaviours = found
        .behaviours
        .into_iter()
        .map(|b| BehaviourRecord {
            topic: b.topic,
            text: b.text,
        })
        .collect();
    result.checkpoints = found
        .checkpoints
        .into_iter()
        .map(|(label, host, sockets)| Checkpoint {
            label,
            host,
            sockets,
        })
        .collect();
    result.read_end(&net, &before).await;
    Ok(net)
}

/// Resolves once Ctrl-C was pressed or SIGTERM came.
async fn interrupted() {
    while stop::requested().is_none() {
        // A poll of the flag the signal thread sets.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The message of a panic, with where it happened when the hook saw it.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let message =
        report::panic_text(panic).unwrap_or_else(|| "a panic without a message".to_owned());
    let seen = PANICS.lock().unwrap_or_else(|e| e.into_inner());
    seen.iter()
        .find(|(m, _)| *m == message)
        .map_or(message.clone(), |(m, at)| format!("{m}\n  at {at}"))
}

type PanicLog = Mutex<Vec<(String, String)>>;
static PANICS: PanicLog = Mutex::new(Vec::new());

/// Panics in cases become their verdicts: the hook records where, and prints nothing (the
/// summary and the bundle say it).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let (message, at) = report::panic_seen(info);
        PANICS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((message, at));
    }));
}

/// Shows progress until every job has finished: on a terminal, one live line per running case
/// (elapsed against expected); otherwise one plain line per start and per end.
/// `finished` is called with the results so far each time a case finishes.
fn display(
    events: mpsc::Receiver<Event>,
    total: usize,
    finished: &mut dyn FnMut(&[CaseResult]),
) -> Vec<CaseResult> {
    let live = std::io::stdout().is_terminal();
    let mut running: Vec<(Job, Instant)> = Vec::new();
    let mut results = Vec::new();
    let mut drawn = 0;
    let mut out = std::io::stdout();
    loop {
        let event = events.recv_timeout(Duration::from_millis(200));
        if live && drawn > 0 {
            let _ = write!(out, "\x1b[{drawn}A\x1b[J");
        }
        match event {
            Ok(Event::Started(job, at)) => {
                if !live {
                    let _ = writeln!(out, "start {}", job.label());
                }
                running.push((job, at));
            }
            Ok(Event::Finished(result)) => {
                running.retain(|(j, _)| {
                    !(j.def.info.name == result.case && family_name(j.family) == result.family)
                });
                let _ = writeln!(
                    out,
                    "{} {} [{}] {:.2}s{}",
                    result.verdict,
                    result.case,
                    result.family,
                    result.duration_s,
                    result
                        .reason
                        .as_ref()
                        .map_or_else(String::new, |r| format!(": {r}"))
                );
                results.push(*result);
                finished(&results);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        drawn = 0;
        if live {
            for (job, at) in &running {
                let _ = writeln!(
                    out,
                    "  ▸ {} {:>6.1}s / ~{:.0}s",
                    job.label(),
                    at.elapsed().as_secs_f64(),
                    job.def.info.expected.as_secs_f64().max(1.0)
                );
                drawn += 1;
            }
            let _ = writeln!(out, "  {} of {total} done", results.len());
            drawn += 1;
        }
        let _ = out.flush();
    }
    results
}

fn summary_table(results: &[CaseResult], wall: f64) {
    let width = results
        .iter()
        .map(|r| r.case.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!();
    println!("{:<width$}  family  verdict  seconds  reason", "case");
    for r in results {
        println!(
            "{:<width$}  {:<6}  {:<7}  {:>7.2}  {}",
            r.case,
            r.family,
            r.verdict.to_string(),
            r.duration_s,
            r.reason.as_deref().unwrap_or("")
        );
    }
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    println!(
        "\n{} passed, {} failed, {} skipped, {} stopped, in {wall:.1} s",
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Skip),
        count(Verdict::Interrupted)
    );
}
