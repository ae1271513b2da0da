//! Comparing kernels with a reference: whether one behaves like it ([`likeness`], for `git
//! bisect run`), and the search of an ordered list of kernels for the first that behaves
//! differently from the first ([`plan`], [`first_difference`]).

use std::{collections::BTreeMap, path::Path, time::Instant};

use super::{
    Image, Likeness, Options, Ran, Shared, begin, boot_all,
    compare::{Comparison, Kernel},
    compared, kept_reference, reference, resolve_one, unique_name,
};
use crate::{
    report::{CaseResult, Verdict, run::RunRecord},
    stop,
};

/// A reference that can be compared with: booted, delivered, and ran (not skipped) something.
pub(super) fn usable_reference(reference: &Kernel) -> Result<(), String> {
    let name = &reference.column.name;
    if let Some(broken) = &reference.column.broken {
        return Err(format!("the reference {name} cannot be tested: {broken}"));
    }
    let ran = |r: &&CaseResult| matches!(r.verdict, Verdict::Pass | Verdict::Fail);
    if !reference.results.iter().any(|r| ran(&r)) {
        return Err(format!(
            "the reference {name} ran none of the chosen cases (each was skipped or lost): \
             nothing to compare with"
        ));
    }
    Ok(())
}

/// How `kernel` compares with `reference`, with its name.
pub(super) fn likeness(reference: &Kernel, kernel: &Kernel) -> (String, Likeness) {
    let name = kernel.column.name.clone();
    if let Some(broken) = &kernel.column.broken {
        return (name, Likeness::Untestable(broken.clone()));
    }
    let find = |k: &Kernel, r: &CaseResult| {
        k.results
            .iter()
            .find(|x| x.case == r.case && x.family == r.family)
            .map(|x| x.verdict)
    };
    // A case the reference ran and this kernel could not (a feature it lacks) leaves the
    // question open: neither the same nor different.
    let skipped: Vec<String> = reference
        .results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Pass | Verdict::Fail))
        .filter(|r| matches!(find(kernel, r), Some(Verdict::Skip) | None))
        .map(|r| {
            let why = kernel
                .results
                .iter()
                .find(|x| x.case == r.case && x.family == r.family)
                .and_then(|x| x.reason.clone())
                .unwrap_or_else(|| "no result".to_owned());
            format!("{} [{}]: {why}", r.case, r.family)
        })
        .collect();
    if !skipped.is_empty() {
        return (
            name,
            Likeness::Untestable(format!("skipped {}", skipped.join("; "))),
        );
    }
    let pair = [reference.clone(), kernel.clone()];
    let differs = Comparison::new(&pair).rows.iter().any(|r| r.differs);
    (
        name,
        if differs {
            Likeness::Differs
        } else {
            Likeness::Same
        },
    )
}

/// The worse of two likenesses: untestable, then differs, then the same.
pub(super) fn worst(a: Likeness, b: Likeness) -> Likeness {
    match (a, b) {
        (Likeness::Untestable(w), _) | (_, Likeness::Untestable(w)) => Likeness::Untestable(w),
        (Likeness::Differs, _) | (_, Likeness::Differs) => Likeness::Differs,
        _ => Likeness::Same,
    }
}

/// A likeness in words.
pub(super) fn describe(likeness: &Likeness, reference: &str) -> String {
    match likeness {
        Likeness::Same => format!("behaves like the reference {reference}"),
        Likeness::Differs => format!("behaves differently from the reference {reference}"),
        Likeness::Untestable(why) => format!("cannot be compared: {why}"),
    }
}

/// What a kernel of a `--first-difference` search showed, against the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    Same,
    Differs,
    Untestable,
}

/// The next step of a search for the first of `n` kernels that differs from the first.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Plan {
    /// Boot these next.
    Probe(Vec<usize>),
    /// The last kernel found to behave like the first, and the first found to differ after it
    /// (`None`: none differs, as far as the kernels tested tell).
    Done { good: usize, bad: Option<usize> },
}

/// Plans the next round from what is `known` (the first kernel is the reference): the end of
/// the list first (the last kernel that can be tested), then up to `parallel` kernels spread
/// evenly over the interval between the last kernel known to behave like the first and the
/// first known to differ, until no untested kernel is left between them. Kernels that cannot
/// be tested are left out, as `git bisect skip` does.
pub(super) fn plan(n: usize, parallel: usize, known: &BTreeMap<usize, Found>) -> Plan {
    let untested = |i: &usize| !known.contains_key(i);
    let Some(bad) = (known.iter())
        .find(|(_, f)| **f == Found::Differs)
        .map(|(i, _)| *i)
    else {
        // No difference yet: the last kernel that can be tested decides.
        let last_testable = (known.iter())
            .filter(|(_, f)| **f != Found::Untestable)
            .map(|(i, _)| *i)
            .max()
            .unwrap_or(0);
        return match (last_testable + 1..n).rev().find(untested) {
            Some(i) => Plan::Probe(vec![i]),
            None => Plan::Done {
                good: last_testable,
                bad: None,
            },
        };
    };
    let good = (known.range(..bad))
        .filter(|(_, f)| **f == Found::Same)
        .map(|(i, _)| *i)
        .max()
        .unwrap_or(0);
    let open: Vec<usize> = (good + 1..bad).filter(untested).collect();
    if open.is_empty() {
        return Plan::Done {
            good,
            bad: Some(bad),
        };
    }
    let k = parallel.max(1).min(open.len());
    let mut picks: Vec<usize> = (1..=k).map(|p| open[p * open.len() / (k + 1)]).collect();
    picks.dedup();
    Plan::Probe(picks)
}

/// `--first-difference`: the kernels in order, the first the reference; the last one first
/// (if it behaves like the first, so does every kernel in between, as far as a bisection can
/// tell), then rounds of `shared.parallel` kernels spread over the interval still open. A
/// kernel that cannot be tested is left out of the search, as `git bisect skip` does.
pub(super) fn first_difference(
    options: &Options,
    shared: &Shared,
    out: &Path,
    record: &mut RunRecord,
    started: Instant,
    what: &str,
) -> Result<Ran, String> {
    let cache = &options.cache;
    let specs = &options.kernels;
    println!(
        "first difference from {} among {} kernels: {what}",
        specs[0],
        specs.len()
    );
    // Every kernel booted, by its index in the list.
    let mut booted: Vec<(usize, Kernel)> = Vec::new();
    let mut boots = 0;
    // Every kernel's directory and column name so far.
    let mut taken: Vec<(String, Image)> = Vec::new();
    let mut round = |indices: &[usize],
                     booted: &mut Vec<(usize, Kernel)>,
                     record: &mut RunRecord|
     -> Result<(), String> {
        let mut images = Vec::new();
        for &i in indices {
            let image = resolve_one(options, &specs[i])?;
            let name = unique_name(&image.release, &taken);
            taken.push((name.clone(), image.clone()));
            images.push((i, (name, image)));
        }
        let list: Vec<(String, Image)> = images.iter().map(|(_, n)| n.clone()).collect();
        begin(record, out, false, &list)?;
        // The first kernel is the reference: its results may be kept from an earlier search.
        let mut to_boot = Vec::new();
        // The key to keep the first kernel's results under, when it is booted.
        let mut first = None;
        for (i, named) in images {
            if i == 0 {
                match kept_reference(options, shared, &named)? {
                    (Some(kernel), _) => {
                        booted.push((0, kernel));
                        continue;
                    }
                    (None, key) => first = Some(key),
                }
            }
            to_boot.push((i, named));
        }
        boots += to_boot.len();
        let names: Vec<&str> = to_boot.iter().map(|(_, (n, _))| n.as_str()).collect();
        println!("boots: {}", names.join(", "));
        let list = to_boot.iter().map(|(_, n)| n.clone()).collect();
        for ((i, (name, _)), kernel) in to_boot.iter().zip(boot_all(shared, list)) {
            if let (0, Some(key)) = (*i, &first) {
                reference::keep(cache, key, &kernel, &out.join(name));
            }
            booted.push((*i, kernel));
        }
        Ok(())
    };
    let last = specs.len() - 1;
    round(&[0, last], &mut booted, record)?;
    let kernel_at = |booted: &[(usize, Kernel)], i: usize| {
        booted.iter().find(|(j, _)| *j == i).map(|(_, k)| k.clone())
    };
    let reference = kernel_at(&booted, 0).expect("the first kernel is booted");
    usable_reference(&reference)?;
    let mut known = BTreeMap::new();
    let (good, bad, skip) = loop {
        for (i, kernel) in &booted {
            known
                .entry(*i)
                .or_insert_with(|| match likeness(&reference, kernel).1 {
                    Likeness::Same => Found::Same,
                    Likeness::Differs => Found::Differs,
                    Likeness::Untestable(_) => Found::Untestable,
                });
        }
        let skip: Vec<usize> = (known.iter())
            .filter(|(_, f)| **f == Found::Untestable)
            .map(|(i, _)| *i)
            .collect();
        match plan(specs.len(), shared.parallel, &known) {
            Plan::Done { good, bad } => break (good, bad, skip),
            // A stop ends the search where it is.
            Plan::Probe(_) if stop::requested().is_some() => {
                let good = (known
                    .iter()
                    .filter(|(_, f)| **f == Found::Same)
                    .map(|(i, _)| *i))
                .max();
                break (good.unwrap_or(0), None, skip);
            }
            Plan::Probe(picks) => round(&picks, &mut booted, record)?,
        }
    };
    booted.sort_by_key(|(i, _)| *i);
    let kernels: Vec<Kernel> = booted.iter().map(|(_, k)| k.clone()).collect();
    compared(out, &kernels, started)?;
    println!(
        "{boots} boots of {} kernels in {:.1} s",
        specs.len(),
        started.elapsed().as_secs_f64()
    );
    let name = |i: usize| kernel_at(&booted, i).map_or_else(|| specs[i].clone(), |k| k.column.name);
    let skipped: Vec<String> = skip.iter().map(|&i| name(i)).collect();
    if !skipped.is_empty() {
        println!("could not be tested (left out): {}", skipped.join(", "));
    }
    match bad {
        Some(b) => {
            let (before, first) = (name(good), name(b));
            println!(
                "first difference: {before} behaves like {}, {first} does not",
                name(0)
            );
            let pair = [reference.clone(), kernel_at(&booted, b).expect("booted")];
            let diff = Comparison::new(&pair);
            for row in diff.rows.iter().filter(|r| r.differs) {
                println!("  {} [{}]", row.case, row.family);
                for change in &row.cells[1].changes {
                    println!("    {first}: {change}");
                }
            }
            if (good + 1..b).any(|i| skip.contains(&i)) {
                println!(
                    "  (kernels between them could not be tested: the change is in one of them or in {first})"
                );
            }
            Ok(Ran::FirstDifference(Some((before, first))))
        }
        None => {
            println!("every kernel tested behaves like {}", name(0));
            Ok(Ran::FirstDifference(None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search over kernels that behave as `truth` says: where it ends, and how many
    /// kernels it booted.
    fn search(truth: &[Found], parallel: usize) -> (Plan, usize) {
        let last = truth.len() - 1;
        let mut known: BTreeMap<usize, Found> = [(0, truth[0]), (last, truth[last])].into();
        loop {
            match plan(truth.len(), parallel, &known) {
                Plan::Probe(picks) => {
                    for p in picks {
                        assert!(known.insert(p, truth[p]).is_none(), "{p} booted twice");
                    }
                }
                done => return (done, known.len()),
            }
        }
    }

    #[test]
    fn the_first_difference_is_found_by_bisection() {
        use Found::{Differs as D, Same as S, Untestable as U};
        let done = |good, bad| Plan::Done { good, bad };
        assert_eq!(search(&[S, S, S, D, D, D], 2), (done(2, Some(3)), 4));
        assert_eq!(search(&[S, S, S, S], 2), (done(3, None), 2));
        assert_eq!(search(&[S, S, U, D], 1), (done(1, Some(3)), 4));
        // The last cannot be tested: the one before it ends the list.
        assert_eq!(search(&[S, D, D, U], 1), (done(0, Some(1)), 4));
        assert_eq!(search(&[S, S, S, U], 1), (done(2, None), 3));
        // Eleven kernels, one at a time: two boots for the ends, then a bisection of nine.
        let mut eleven = [S; 11];
        eleven[7..].fill(D);
        let (found, boots) = search(&eleven, 1);
        assert_eq!(found, done(6, Some(7)));
        assert!(boots <= 2 + 4, "{boots} boots");
        // Behaviour that changes back and forth: as `git bisect`, a change between a kernel
        // that behaves like the first and the next, not necessarily the earliest.
        assert_eq!(search(&[S, D, S, D, D], 1), (done(2, Some(3)), 4));
    }
}
