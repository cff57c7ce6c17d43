//! `ninefold-bench report`: the last step of `bench/run`. Writes each row's results into
//! BENCHMARKS.md between marker comments, and the summary of all rows' goals, leaving every
//! other line of the document as it was.
//!
//! ```text
//! ninefold-bench report --doc BENCHMARKS.md --results DIR [--out FILE]
//! ninefold-bench report --check FILE
//! ```
//!
//! DIR holds what `bench/run` collected: `manifest` (tab-separated lines: `date`, `commit`,
//! `machine`, `mode` with a value each; `row ID ok GROUP`, `row ID skipped REASON`, `row ID
//! failed REASON`; `group NAME COMMAND SECONDS LOAD_BEFORE LOAD_AFTER`) and `NAME.out`, each
//! group's standard output. In that output the report reads three kinds of line, and ignores
//! the rest:
//!
//! - `| ROW | …cells… |`: a table row of ROW (`read`, `B1` … `B8`), the table's header being
//!   the line starting `| row |`;
//! - `note | ROW[,ROW…] | TEXT`: a sentence printed above those rows' tables;
//! - `goal | ROW | GOAL | RESULT | STATUS` (STATUS `met`, `missed`, `missed N of M`, or
//!   `not measured: WHY` when a reference is missing): a line of the summary.
//!
//! Each row gets a block `<!-- bench:ID:begin … -->` … `<!-- bench:ID:end -->` (replaced if
//! present, otherwise inserted after the block before it); its goal lines are kept in the
//! block as `<!-- goal | … -->` comments, from which the summary block
//! (`<!-- bench:summary:begin -->` … `end`) is rebuilt over all rows, including those not run
//! this time. A failed row keeps its old block, if it has one, so that the document never
//! loses numbers to a broken run; its failure is reported by `bench/run`'s exit status.
//! The document written is checked (markers paired, tables well-formed) before it replaces
//! the old one.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

const USAGE: &str = "usage: ninefold-bench report --doc FILE --results DIR [--out FILE]\n       \
ninefold-bench report --check FILE";

/// Every row, in the order of the document: id, what is compared, the goal.
const ROWS: &[(&str, &str, &str)] = &[
    (
        "read",
        "sequential read of a file over 9P (the CLI and the library) vs a raw socket copy and `cat`",
        "≥ 1 GB/s and ≥ 0.5× the raw copy",
    ),
    (
        "b1",
        "a TCP stream through /net served over a unix socket vs direct loopback TCP and a socat relay",
        "≥ 0.5× direct",
    ),
    (
        "b2",
        "the same through an imported /net over TLS and over the ssh transport vs `ssh -L` forwarding",
        "TLS ≥ 1.5× `ssh -L`; ssh transport ≥ 1× `ssh -L`",
    ),
    (
        "b3",
        "dials per second through /net vs direct connect()",
        "≥ 0.3× direct",
    ),
    (
        "b4",
        "sequential read and write of a file through a FUSE-mounted exportfs vs native and sshfs",
        "≥ 5× sshfs and ≥ 0.3× native",
    ),
    (
        "b5",
        "`ls -l` and stat of many files through the FUSE mount vs sshfs and native",
        "≥ 2× sshfs",
    ),
    (
        "b6",
        "9P small-op (Tstat) round trip vs a raw socket ping-pong of the same size",
        "≤ 1.5× raw",
    ),
    (
        "b7",
        "`ninefold newns -- true` vs `bwrap --bind / / true` and `unshare -rm true`",
        "≤ 2× bwrap",
    ),
    (
        "b8",
        "many concurrent conversations through one exportfs: memory per conversation",
        "≤ 16 KiB per conversation",
    ),
];

const SUMMARY: &str = "summary";

pub fn main(args: &[String]) -> Result<()> {
    let mut doc = None;
    let mut results = None;
    let mut out = None;
    let mut check = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .map(PathBuf::from)
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--doc" => doc = Some(value()?),
            "--results" => results = Some(value()?),
            "--out" => out = Some(value()?),
            "--check" => check = Some(value()?),
            _ => bail!("unexpected argument {a}\n{USAGE}"),
        }
    }
    if let Some(f) = check {
        let text = std::fs::read_to_string(&f).with_context(|| format!("{}", f.display()))?;
        validate(&text).with_context(|| format!("{}", f.display()))?;
        println!("{}: well-formed", f.display());
        return Ok(());
    }
    let (Some(doc), Some(results)) = (doc, results) else {
        bail!("--doc and --results are needed\n{USAGE}");
    };
    let out = out.unwrap_or_else(|| doc.clone());
    let text = std::fs::read_to_string(&doc).with_context(|| format!("{}", doc.display()))?;
    let run = Run::load(&results)?;
    let (new, blocks) = rewrite(&text, &run)?;
    validate(&new).context("the rewritten document")?;
    for id in run.rows.iter().map(|r| &r.id) {
        ensure!(
            find_block(&new, id)?.is_some(),
            "the rewritten document has no block for {id}"
        );
    }
    write_atomically(&out, &new)?;
    print!("{blocks}");
    eprintln!("report: wrote {}", out.display());
    Ok(())
}

/// What `bench/run` collected.
#[derive(Debug)]
struct Run {
    date: String,
    commit: String,
    machine: String,
    mode: String,
    rows: Vec<RowRun>,
    groups: HashMap<String, Group>,
}

#[derive(Debug)]
struct RowRun {
    id: String,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    Ok { group: String },
    Skipped(String),
    Failed(String),
}

#[derive(Debug)]
struct Group {
    command: String,
    seconds: String,
    load_before: String,
    load_after: String,
    output: Output,
}

/// The lines of a group's output that the report reads.
#[derive(Debug, Default)]
struct Output {
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
    notes: Vec<(Vec<String>, String)>,
    goals: Vec<Vec<String>>,
}

impl Run {
    /// When and how, in a few words, for the summary: day, commit (`+` when the working
    /// tree had changes), mode.
    fn when(&self) -> String {
        let day = self.date.split_whitespace().next().unwrap_or("");
        let mut commit = self
            .commit
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned();
        if self.commit.contains("uncommitted") {
            commit.push('+');
        }
        let mode = self
            .mode
            .split([':', ','])
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        format!("{day}, {commit}, {mode}")
    }

    fn load(dir: &Path) -> Result<Run> {
        let manifest = dir.join("manifest");
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("{}", manifest.display()))?;
        let mut run = Run {
            date: String::new(),
            commit: String::new(),
            machine: String::new(),
            mode: String::new(),
            rows: Vec::new(),
            groups: HashMap::new(),
        };
        for (n, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split('\t').collect();
            let bad = || format!("{}:{}: {line:?}", manifest.display(), n + 1);
            match f.as_slice() {
                ["date", v] => run.date = (*v).into(),
                ["commit", v] => run.commit = (*v).into(),
                ["machine", v] => run.machine = (*v).into(),
                ["mode", v] => run.mode = (*v).into(),
                ["row", id, how, arg] => {
                    let id = id.to_ascii_lowercase();
                    ensure!(
                        ROWS.iter().any(|r| r.0 == id),
                        "{}: unknown row {id}",
                        bad()
                    );
                    let outcome = match *how {
                        "ok" => Outcome::Ok {
                            group: (*arg).into(),
                        },
                        "skipped" => Outcome::Skipped((*arg).into()),
                        "failed" => Outcome::Failed((*arg).into()),
                        _ => bail!("{}: expected ok, skipped or failed", bad()),
                    };
                    run.rows.push(RowRun { id, outcome });
                }
                ["group", name, command, seconds, before, after] => {
                    let out = dir.join(format!("{name}.out"));
                    let output = std::fs::read_to_string(&out)
                        .with_context(|| format!("{}", out.display()))?;
                    run.groups.insert(
                        (*name).into(),
                        Group {
                            command: (*command).into(),
                            seconds: (*seconds).into(),
                            load_before: (*before).into(),
                            load_after: (*after).into(),
                            output: Output::parse(&output)?,
                        },
                    );
                }
                [""] => {}
                _ => bail!("{}: not a manifest line", bad()),
            }
        }
        ensure!(!run.date.is_empty(), "{}: no date", manifest.display());
        Ok(run)
    }
}

/// The cells of a markdown table line, trimmed; `|` inside backticks does not split.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = vec![String::new()];
    let mut code = false;
    for c in inner.chars() {
        match c {
            '`' => {
                code = !code;
                out.last_mut().expect("one cell").push(c);
            }
            '|' if !code => out.push(String::new()),
            _ => out.last_mut().expect("one cell").push(c),
        }
    }
    out.iter().map(|c| c.trim().to_owned()).collect()
}

impl Output {
    fn parse(text: &str) -> Result<Output> {
        let mut o = Output::default();
        for line in text.lines() {
            if line.starts_with('|') {
                let c = cells(line);
                if c.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch))) {
                    continue; // the separator
                }
                if c[0] == "row" {
                    o.header = Some(c);
                } else {
                    let h = o
                        .header
                        .as_ref()
                        .with_context(|| format!("a table line before its header: {line}"))?;
                    ensure!(
                        c.len() == h.len(),
                        "{} cells where the header has {}: {line}",
                        c.len(),
                        h.len()
                    );
                    o.rows.push(c);
                }
            } else if let Some(rest) = line.strip_prefix("note |") {
                let (ids, text) = rest
                    .split_once('|')
                    .with_context(|| format!("a note without text: {line}"))?;
                let ids = ids
                    .split(',')
                    .map(|i| i.trim().to_ascii_lowercase())
                    .collect();
                o.notes.push((ids, text.trim().to_owned()));
            } else if line.starts_with("goal |") {
                let c: Vec<String> = line.split(" | ").map(|c| c.trim().to_owned()).collect();
                ensure!(
                    c.len() == 5,
                    "a goal line is `goal | ROW | GOAL | RESULT | STATUS`: {line}"
                );
                ensure!(
                    c[4] == "met"
                        || c[4] == "missed"
                        || c[4].starts_with("missed ")
                        || c[4].starts_with("not measured"),
                    "goal status {:?}: {line}",
                    c[4]
                );
                o.goals.push(c);
            }
        }
        Ok(o)
    }
}

fn row_info(id: &str) -> (&'static str, &'static str) {
    ROWS.iter()
        .find(|r| r.0 == id)
        .map_or(("", ""), |r| (r.1, r.2))
}

fn title(id: &str) -> String {
    if id == "read" {
        "Read".into()
    } else {
        id.to_ascii_uppercase()
    }
}

fn begin_marker(id: &str) -> String {
    format!("<!-- bench:{id}:begin")
}

fn end_marker(id: &str) -> String {
    format!("<!-- bench:{id}:end -->")
}

/// A goal comment kept in a block for the summary: `<!-- goal | ROW | GOAL | RESULT |
/// STATUS | WHEN -->`. Nothing in it may close the comment.
fn goal_comment(fields: &[&str]) -> String {
    let f: Vec<String> = fields
        .iter()
        .map(|f| f.replace("-->", "→").replace('\n', " "))
        .collect();
    format!("<!-- goal | {} -->", f.join(" | "))
}

/// The block of one row.
fn block(run: &Run, r: &RowRun) -> Result<String> {
    let id = &r.id;
    let (what, goal) = row_info(id);
    let when = run.when();
    let mut b = String::new();
    writeln!(
        b,
        "{} (generated by bench/run: edits up to the end marker are overwritten) -->",
        begin_marker(id)
    )?;
    writeln!(b, "**{}** — {what}. Goal: {goal}.", title(id))?;
    writeln!(b)?;
    match &r.outcome {
        Outcome::Skipped(why) => {
            writeln!(
                b,
                "**Skipped** ({}, commit {}): {why}.",
                run.date, run.commit
            )?;
            writeln!(b)?;
            writeln!(
                b,
                "{}",
                goal_comment(&[&title(id), goal, "—", &format!("skipped: {why}"), &when])
            )?;
        }
        Outcome::Failed(why) => {
            writeln!(
                b,
                "**Failed to run** ({}, commit {}): {why}.",
                run.date, run.commit
            )?;
            writeln!(b)?;
            writeln!(
                b,
                "{}",
                goal_comment(&[&title(id), goal, "—", &format!("failed: {why}"), &when])
            )?;
        }
        Outcome::Ok { group } => {
            let g = run
                .groups
                .get(group)
                .with_context(|| format!("{id}: no output of group {group}"))?;
            writeln!(
                b,
                "Measured {}, commit {}; {}; load average {} before, {} after. Mode: {}. \
                 Command: `bench/run {id}`, which ran `{}` ({} s).",
                run.date,
                run.commit,
                run.machine,
                g.load_before,
                g.load_after,
                run.mode,
                g.command,
                g.seconds
            )?;
            let notes: Vec<&str> = g
                .output
                .notes
                .iter()
                .filter(|(ids, _)| ids.iter().any(|i| i == id))
                .map(|(_, text)| text.as_str())
                .collect();
            if !notes.is_empty() {
                writeln!(b)?;
                writeln!(b, "{}", notes.join("\n"))?;
            }
            let header = g
                .output
                .header
                .as_ref()
                .with_context(|| format!("{id}: the output of {group} has no table"))?;
            let rows: Vec<&Vec<String>> = g
                .output
                .rows
                .iter()
                .filter(|c| c[0].eq_ignore_ascii_case(id))
                .collect();
            ensure!(!rows.is_empty(), "{id}: no rows in the output of {group}");
            writeln!(b)?;
            let cols = &header[1..];
            writeln!(b, "| {} |", cols.join(" | "))?;
            let seps: Vec<&str> = cols
                .iter()
                .map(|c| match c.as_str() {
                    "median" | "min–max" | "range" | "CPU (client+server)" => "---:",
                    _ => "---",
                })
                .collect();
            writeln!(b, "|{}|", seps.join("|"))?;
            for c in rows {
                writeln!(b, "| {} |", c[1..].join(" | "))?;
            }
            writeln!(b)?;
            let goals: Vec<&Vec<String>> = g
                .output
                .goals
                .iter()
                .filter(|c| c[1].eq_ignore_ascii_case(id))
                .collect();
            if goals.is_empty() {
                writeln!(
                    b,
                    "{}",
                    goal_comment(&[&title(id), goal, "—", "no goal line", &when])
                )?;
            }
            for c in goals {
                writeln!(
                    b,
                    "{}",
                    goal_comment(&[&title(id), &c[2], &c[3], &c[4], &when])
                )?;
            }
        }
    }
    write!(b, "{}", end_marker(id))?;
    Ok(b)
}

/// The byte range of block `id` in `text`, from its begin marker to the end of its end
/// marker; an error if only one of them is there.
fn find_block(text: &str, id: &str) -> Result<Option<std::ops::Range<usize>>> {
    let (b, e) = (begin_marker(id), end_marker(id));
    match (line_starting(text, &b), line_starting(text, &e)) {
        (None, None) => Ok(None),
        (Some(s), Some(t)) if s < t => Ok(Some(s..t + e.len())),
        _ => bail!("the markers of block {id} are not a begin followed by an end"),
    }
}

/// Where the first line that starts with `prefix` starts (a marker quoted in prose is not
/// at the start of its line).
fn line_starting(text: &str, prefix: &str) -> Option<usize> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(prefix) {
            return Some(at);
        }
        at += line.len();
    }
    None
}

/// The document with the blocks of this run replaced (or inserted) and the summary rebuilt;
/// and the new blocks, for printing.
fn rewrite(text: &str, run: &Run) -> Result<(String, String)> {
    let mut doc = text.to_owned();
    let mut printed = String::new();
    for r in &run.rows {
        let old = find_block(&doc, &r.id)?;
        if let (Outcome::Failed(why), Some(_), false) =
            (&r.outcome, &old, run.mode.starts_with("quick"))
        {
            eprintln!(
                "report: {} failed ({why}); its block keeps the results of an earlier run",
                r.id
            );
            continue;
        }
        let new = block(run, r)?;
        printed.push_str(&new);
        printed.push_str("\n\n");
        match old {
            Some(range) => doc.replace_range(range, &new),
            None => {
                // After the block of the nearest row before it, or after the summary.
                let pos = ROWS.iter().position(|x| x.0 == r.id).unwrap_or(0);
                let mut at = None;
                for prev in ROWS[..pos]
                    .iter()
                    .rev()
                    .map(|x| x.0)
                    .chain(std::iter::once(SUMMARY))
                {
                    if let Some(range) = find_block(&doc, prev)? {
                        at = Some(range.end);
                        break;
                    }
                }
                let at = at.with_context(|| {
                    format!(
                        "no place for block {}: the document has no {} block",
                        r.id,
                        begin_marker(SUMMARY)
                    )
                })?;
                doc.insert_str(at, &format!("\n\n{new}"));
            }
        }
    }
    let summary = summary(&doc)?;
    match find_block(&doc, SUMMARY)? {
        Some(range) => doc.replace_range(range, &summary),
        None => bail!("the document has no {} block", begin_marker(SUMMARY)),
    }
    printed.push_str(&summary);
    printed.push('\n');
    Ok((doc, printed))
}

/// The summary block, from the goal comments of every row block in `doc`.
fn summary(doc: &str) -> Result<String> {
    let mut s = String::new();
    writeln!(
        s,
        "{} (generated by bench/run from the goal lines of the blocks below) -->",
        begin_marker(SUMMARY)
    )?;
    writeln!(
        s,
        "| row | goal | result | status | measured (day, commit — `+`: with uncommitted \
         changes — and mode) |"
    )?;
    writeln!(s, "|---|---|---|---|---|")?;
    for (id, _, goal) in ROWS {
        let Some(range) = find_block(doc, id)? else {
            writeln!(s, "| {} | {goal} | — | not run yet | |", title(id))?;
            continue;
        };
        for line in doc[range].lines() {
            let Some(c) = line
                .strip_prefix("<!-- goal | ")
                .and_then(|l| l.strip_suffix(" -->"))
            else {
                continue;
            };
            let c: Vec<&str> = c.split(" | ").collect();
            ensure!(
                c.len() == 5,
                "block {id}: a goal comment of {} fields",
                c.len()
            );
            let status = match c[3] {
                "met" => "met".to_owned(),
                "missed" => "**missed**".to_owned(),
                m if m.starts_with("missed ") => format!("**missed** ({})", &m[7..]),
                other => other.to_owned(),
            };
            writeln!(
                s,
                "| {} | {} | {} | {status} | {} |",
                c[0], c[1], c[2], c[4]
            )?;
        }
    }
    write!(s, "{}", end_marker(SUMMARY))?;
    Ok(s)
}

/// Checks that every begin marker has its end marker, no block is inside another or
/// repeated, and every table inside a block has as many cells in each line as in its header.
fn validate(doc: &str) -> Result<()> {
    let mut open: Option<(String, usize)> = None;
    let mut seen = Vec::new();
    let mut table: Option<usize> = None;
    for (n, line) in doc.lines().enumerate() {
        let n = n + 1;
        if let Some(rest) = line.strip_prefix("<!-- bench:") {
            let (id, what) = rest
                .split_once(':')
                .with_context(|| format!("line {n}: a marker without :begin or :end"))?;
            if what.starts_with("begin") {
                if let Some((o, at)) = &open {
                    bail!("line {n}: block {id} begins inside block {o} (line {at})");
                }
                ensure!(
                    !seen.contains(&id.to_owned()),
                    "line {n}: a second block {id}"
                );
                seen.push(id.to_owned());
                open = Some((id.to_owned(), n));
            } else if what.starts_with("end") {
                match &open {
                    Some((o, _)) if o == id => open = None,
                    _ => bail!("line {n}: block {id} ends but was not begun"),
                }
            } else {
                bail!("line {n}: a marker neither begin nor end");
            }
            table = None;
            continue;
        }
        if open.is_none() {
            continue;
        }
        if line.starts_with('|') {
            let c = cells(line).len();
            match table {
                None => table = Some(c),
                Some(h) => ensure!(
                    c == h,
                    "line {n}: {c} cells in a table whose header has {h}"
                ),
            }
        } else {
            table = None;
        }
    }
    if let Some((o, at)) = open {
        bail!("block {o} (line {at}) has no end marker");
    }
    ensure!(
        seen.iter().any(|s| s == SUMMARY),
        "no {} block",
        begin_marker(SUMMARY)
    );
    Ok(())
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("{}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(rows: Vec<RowRun>, output: &str) -> Run {
        let mut groups = HashMap::new();
        groups.insert(
            "net".to_owned(),
            Group {
                command: "ninefold-bench net".into(),
                seconds: "9".into(),
                load_before: "0.1".into(),
                load_after: "0.2".into(),
                output: Output::parse(output).unwrap(),
            },
        );
        Run {
            date: "2000-01-01".into(),
            commit: "abc".into(),
            machine: "1 core".into(),
            mode: "full".into(),
            rows,
            groups,
        }
    }

    const OUT: &str = "Machine: x\nnote | B1,B3 | a note\n\n| row | what | median | min–max | ratio | goal |\n\
|---|---|---:|---:|---|---|\n| B1 | direct | 1 MB/s | 1–2 | baseline | |\n\
| B1 | via `a|b` | 1 MB/s | 1–2 | 0.6× direct | ≥ 0.5× direct: met |\n\
| B3 | dials | 1 /s | 1–2 | 0.1× direct | ≥ 0.3× direct: **missed** |\n\n\
goal | B1 | ≥ 0.5× direct | 0.60× | met\ngoal | B3 | ≥ 0.3× direct | 0.10× | missed\n";

    const DOC: &str = "# Title\n\nprose quoting `<!-- bench:b1:begin -->`\n\n<!-- bench:summary:begin -->\n<!-- bench:summary:end -->\n\n\
<!-- bench:b3:begin -->\nold b3\n<!-- bench:b3:end -->\n\nmore prose\n";

    #[test]
    fn replaces_inserts_and_summarises() {
        let run = run_with(
            vec![
                RowRun {
                    id: "b1".into(),
                    outcome: Outcome::Ok {
                        group: "net".into(),
                    },
                },
                RowRun {
                    id: "b3".into(),
                    outcome: Outcome::Ok {
                        group: "net".into(),
                    },
                },
                RowRun {
                    id: "b2".into(),
                    outcome: Outcome::Skipped("TLS transport not built yet".into()),
                },
            ],
            OUT,
        );
        let (doc, _) = rewrite(DOC, &run).unwrap();
        validate(&doc).unwrap();
        assert!(doc.starts_with(
            "# Title\n\nprose quoting `<!-- bench:b1:begin -->`\n\n<!-- bench:summary:begin"
        ));
        assert!(doc.ends_with("<!-- bench:b3:end -->\n\nmore prose\n"));
        assert!(!doc.contains("old b3"));
        let b1 = find_block(&doc, "b1").unwrap().unwrap();
        let b2 = find_block(&doc, "b2").unwrap().unwrap();
        let b3 = find_block(&doc, "b3").unwrap().unwrap();
        assert!(b1.end < b2.start && b2.end < b3.start);
        assert!(doc.contains("| via `a|b` | 1 MB/s | 1–2 | 0.6× direct | ≥ 0.5× direct: met |"));
        assert!(doc.contains("| B1 | ≥ 0.5× direct | 0.60× | met | 2000-01-01, abc, full |"));
        assert!(doc.contains("\n\na note\n\n| what | median |"));
        assert!(doc.contains("| B3 | ≥ 0.3× direct | 0.10× | **missed** |"));
        assert!(doc.contains(
            "| B2 | TLS ≥ 1.5× `ssh -L`; ssh transport ≥ 1× `ssh -L` | — | skipped: TLS \
                 transport not built yet |"
        ));
        assert!(doc.contains("| B8 | ≤ 16 KiB per conversation | — | not run yet | |"));
        // Once more: the same document.
        let (again, _) = rewrite(&doc, &run).unwrap();
        assert_eq!(again, doc);
    }

    #[test]
    fn a_failed_row_keeps_its_block() {
        let run = run_with(
            vec![RowRun {
                id: "b3".into(),
                outcome: Outcome::Failed("exit 1".into()),
            }],
            OUT,
        );
        let (doc, _) = rewrite(DOC, &run).unwrap();
        assert!(doc.contains("old b3"));
    }

    #[test]
    fn malformed_documents_are_refused() {
        assert!(validate("<!-- bench:summary:begin -->\n").is_err());
        assert!(
            validate("<!-- bench:summary:begin -->\n<!-- bench:b1:begin -->\n<!-- bench:b1:end -->\n<!-- bench:summary:end -->\n")
                .is_err()
        );
        assert!(
            validate("<!-- bench:summary:begin -->\n| a | b |\n|---|---|\n| 1 |\n<!-- bench:summary:end -->\n")
                .is_err()
        );
        assert!(validate(DOC).is_ok());
    }
}
