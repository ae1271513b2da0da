#!/usr/bin/env python3
"""How long each case's body is, in lines: one line per case, then the median and the longest.

A case is a `Def` in cases/src/<behaviour>.rs whose body is `body!(function, ...)`; its length is
the lines of that async function, from its signature to its closing brace (doc comments above it
not counted). Cases that share one function with other arguments share its length. The other
functions of each file, and the methods of its own types (its helpers), are listed too, with
their lengths, so that nothing hides in them.

    python3 ci/case_lengths.py            # the table
    python3 ci/case_lengths.py --check    # exit 1 unless median <= 60 and longest <= 100
"""
import pathlib
import re
import statistics
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "cases" / "src"
SKIP = {"lib.rs", "common.rs"}


def functions(text):
    """Every top-level `fn` of a file, and every method of its own types (`impl T { fn f }`, named
    `T::f`): name -> number of lines, signature to closing brace."""
    lines = text.splitlines()
    found = {}
    owner = None
    i = 0
    while i < len(lines):
        impl = re.match(r"^impl(?:<[^>]*>)? (?:[A-Za-z_0-9]+ for )?([A-Za-z_0-9]+)", lines[i])
        if impl:
            owner = impl.group(1)
        elif re.match(r"^\S", lines[i]):
            owner = None
        m = re.match(r"^( {4})?(?:pub(?:\(crate\))? )?(?:async )?fn ([a-z_0-9]+)", lines[i])
        if not m or (m.group(1) and not owner):
            i += 1
            continue
        depth, start, j, opened = 0, i, i, False
        while j < len(lines):
            code = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j].split("//")[0])
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth == 0:
                break
            j += 1
        name = f"{owner}::{m.group(2)}" if m.group(1) else m.group(2)
        found[name] = j - start + 1
        i = j + 1
    return found


def cases(text):
    """Every case of a file: (name, body function)."""
    out = []
    for m in re.finditer(r'Def::new\(\s*"([a-z_0-9:]+)",.*?body!\(\s*([a-z_0-9]+)', text, re.S):
        out.append((m.group(1), m.group(2)))
    for m in re.finditer(r'name: "([a-z_0-9:]+)".*?Box::pin\(([a-z_0-9]+)\(', text, re.S):
        out.append((m.group(1), m.group(2)))
    return out


def main():
    rows, helpers = [], []
    for path in sorted(ROOT.glob("*.rs")):
        if path.name in SKIP:
            continue
        text = path.read_text()
        fns = functions(text)
        bodies = set()
        for name, body in cases(text):
            rows.append((name, body, fns.get(body, 0)))
            bodies.add(body)
        for f, n in fns.items():
            if f not in bodies:
                helpers.append((path.name, f, n))
    width = max(len(r[0]) for r in rows)
    for name, body, n in rows:
        print(f"{name:<{width}}  {n:>4}  {body}")
    lengths = [n for _, _, n in rows]
    median, longest = statistics.median(lengths), max(lengths)
    print(f"\n{len(rows)} cases: median {median:g} lines, longest {longest}")
    print("\nhelpers (functions and methods of the behaviour files that are no case's body):")
    for file, f, n in helpers:
        print(f"  {file}: {f} {n}")
    print(f"  {len(helpers)} helpers, {sum(n for _, _, n in helpers)} lines")
    if "--check" in sys.argv and (median > 60 or longest > 100):
        print("over the limits: median <= 60, longest <= 100", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
