//! Claims a suite checks: sentences of a source (a man page, a book, a team's notes) that its
//! cases confirm or refute, and the table that lists every one with its cases and verdicts.
//!
//! A suite lists the claims of its source ([`crate::cli::Suite::claims`]); a case declares what
//! it shows about them ([`crate::case::Def::shows`]):
//!
//! ```
//! use netcase::{body, case::Def, claims::{Claim, Finding}};
//! # async fn abort(
//! #     _: std::sync::Arc<netcase::case::Case>,
//! #     _: std::sync::Arc<netcase::Topology>,
//! # ) -> netcase::Result<()> { Ok(()) }
//!
//! pub static ZERO_LINGER: Claim = Claim::new(
//!     "linger.zero",
//!     "SO_LINGER",
//!     "l_linger = 0, TCP aborts connection, discards any data still remaining in the socket \
//!      send buffer and sends RST to peer. This avoids the TCP's TIME_WAIT state",
//! );
//!
//! pub static ABORT: Def = Def::new("linger::zero_aborts_with_reset", "RST, no TIME_WAIT", body!(abort))
//!     .shows(&[Finding::confirms(&ZERO_LINGER)]);
//! ```
//!
//! A case that passes on a kernel holds its findings there: [`table`] writes them as the
//! verdicts of that kernel's run, and says which cases failed or were skipped instead.

use std::{collections::BTreeMap, fmt::Write};

use crate::case::Def;

/// One claim of a source, quoted.
#[derive(Debug)]
pub struct Claim {
    /// A short stable name, `topic.what` (`listen.somaxconn_default`).
    pub id: &'static str,
    /// What it is about (`listen()`, `SO_LINGER`): the table groups claims by it.
    pub topic: &'static str,
    /// The claim, in the source's words.
    pub text: &'static str,
}

impl Claim {
    /// A claim named `id`, about `topic`, in the source's words `text`.
    pub const fn new(id: &'static str, topic: &'static str, text: &'static str) -> Claim {
        Claim { id, topic, text }
    }
}

/// What a case shows of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Linux does as the claim says.
    Confirms,
    /// Linux does otherwise.
    Refutes,
    /// True with a condition or a difference the claim does not state.
    Qualifies,
}

impl Verdict {
    /// As the table shows it.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Confirms => "confirmed",
            Verdict::Refutes => "refuted",
            Verdict::Qualifies => "qualified",
        }
    }
}

/// A case's verdict on one claim, with what Linux does where it is not simply "as claimed".
#[derive(Debug, Clone, Copy)]
pub struct Finding {
    /// The claim.
    pub claim: &'static Claim,
    /// The verdict.
    pub verdict: Verdict,
    /// What Linux does, in one line (empty for a plain confirmation).
    pub linux: &'static str,
}

impl Finding {
    /// Linux does as `claim` says.
    pub const fn confirms(claim: &'static Claim) -> Finding {
        Finding {
            claim,
            verdict: Verdict::Confirms,
            linux: "",
        }
    }

    /// Linux does otherwise: `linux` says what.
    pub const fn refutes(claim: &'static Claim, linux: &'static str) -> Finding {
        Finding {
            claim,
            verdict: Verdict::Refutes,
            linux,
        }
    }

    /// True only with what `linux` says.
    pub const fn qualifies(claim: &'static Claim, linux: &'static str) -> Finding {
        Finding {
            claim,
            verdict: Verdict::Qualifies,
            linux,
        }
    }
}

/// How a case ran on the kernel the table is for: the verdicts of its families' runs as
/// `summary.json` writes them (`PASS`, `FAIL`, `SKIP`), and a skip's reason.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    /// Each family's verdict, as `v4: PASS`.
    pub runs: Vec<(String, String)>,
    /// Why a run was skipped, if one was.
    pub skipped: Option<String>,
}

/// The claims table in Markdown: one row per claim and case that shows something of it (a claim
/// no case checks gets a row saying so), grouped by topic in the order of `claims`.
///
/// With `ran` (each case's runs on one kernel, by name), the verdict is the case's where every
/// family passed, and what happened otherwise; without, the case's declared verdict.
pub fn table(
    claims: &[&'static Claim],
    cases: &[&'static Def],
    ran: Option<&BTreeMap<String, Ran>>,
) -> String {
    let mut out = String::from("| claim | case | verdict | what Linux does |\n|---|---|---|---|\n");
    for claim in claims {
        let findings: Vec<(&Def, &Finding)> = cases
            .iter()
            .flat_map(|d| d.info.shows.iter().map(move |f| (*d, f)))
            .filter(|(_, f)| f.claim.id == claim.id)
            .collect();
        let quoted = format!("{}: \"{}\"", claim.topic, escape(claim.text));
        if findings.is_empty() {
            let _ = writeln!(out, "| {quoted} | — | not checked | |");
        }
        for (i, (def, finding)) in findings.iter().enumerate() {
            let shown = if i == 0 { quoted.as_str() } else { "〃" };
            let verdict = match ran.map(|r| r.get(def.info.name)) {
                None => finding.verdict.word().to_owned(),
                Some(None) => "not run".to_owned(),
                Some(Some(r)) => ran_verdict(finding.verdict, r),
            };
            let _ = writeln!(
                out,
                "| {shown} | `{}` | {verdict} | {} |",
                def.info.name,
                escape(finding.linux)
            );
        }
    }
    out
}

/// The verdict a case's runs give its finding.
fn ran_verdict(verdict: Verdict, ran: &Ran) -> String {
    if !ran.runs.is_empty() && ran.runs.iter().all(|(_, v)| v == "PASS") {
        return verdict.word().to_owned();
    }
    let runs: Vec<String> = ran.runs.iter().map(|(f, v)| format!("{v} ({f})")).collect();
    match &ran.skipped {
        Some(why) => format!("{}: {}", runs.join(", "), escape(why)),
        None if runs.is_empty() => "not run".to_owned(),
        None => runs.join(", "),
    }
}

/// Each case's runs in the `summary.json` of `dir`, a `netcase run` output directory.
pub fn read_summary(dir: &std::path::Path) -> Result<BTreeMap<String, Ran>, String> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (give the --out directory of a finished `netcase run`)",
            path.display()
        )
    })?;
    let summary: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut ran: BTreeMap<String, Ran> = BTreeMap::new();
    for case in summary["cases"].as_array().into_iter().flatten() {
        let field = |name: &str| case[name].as_str().unwrap_or_default().to_owned();
        let verdict = field("verdict").to_uppercase();
        let entry = ran.entry(field("case")).or_default();
        entry.runs.push((field("family"), verdict.clone()));
        if verdict == "SKIP" {
            entry.skipped = Some(field("reason"));
        }
    }
    Ok(ran)
}

/// `text` safe in a Markdown table cell.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{body, case::nothing};

    static SHOWN: Claim = Claim::new("a.shown", "a()", "a does x");
    static UNSHOWN: Claim = Claim::new("a.unshown", "a()", "a does y | z");
    static CASE: Def =
        Def::new("a::x", "x", body!(nothing)).shows(&[Finding::refutes(&SHOWN, "a does w")]);

    #[test]
    fn every_claim_gets_a_row_and_runs_decide_the_verdict() {
        let claims = [&SHOWN, &UNSHOWN];
        let declared = table(&claims, &[&CASE], None);
        assert!(declared.contains("| a(): \"a does x\" | `a::x` | refuted | a does w |"));
        assert!(declared.contains("| a(): \"a does y \\| z\" | — | not checked | |"));
        let mut ran = BTreeMap::new();
        ran.insert(
            "a::x".to_owned(),
            Ran {
                runs: vec![("v4".into(), "PASS".into()), ("v6".into(), "SKIP".into())],
                skipped: Some("no netem".into()),
            },
        );
        let run = table(&claims, &[&CASE], Some(&ran));
        assert!(run.contains("| PASS (v4), SKIP (v6): no netem |"), "{run}");
    }
}
