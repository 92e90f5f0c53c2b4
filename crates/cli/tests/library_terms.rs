//! Library crates speak library terms: no string in their sources names one of `kiln`'s flags
//! (`--lr`) or subcommands (`kiln train`). The command line adds such hints itself, by matching
//! the libraries' typed errors (`CliError::hint`). The flags and subcommands are read from the
//! CLI's own definition, so a new flag is covered the day it is added.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use kiln_cli::args::Cli;

/// Every long flag (`--name`) and every `kiln <subcommand>` phrase of the CLI.
fn cli_words() -> (Vec<String>, Vec<String>) {
    fn walk(cmd: &clap::Command, path: &str, flags: &mut Vec<String>, subs: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                flags.push(format!("--{long}"));
            }
        }
        for sub in cmd.get_subcommands() {
            let p = format!("{path} {}", sub.get_name());
            subs.push(p.clone());
            walk(sub, &p, flags, subs);
        }
    }
    let (mut flags, mut subs) = (Vec::new(), Vec::new());
    walk(&Cli::command(), "kiln", &mut flags, &mut subs);
    flags.retain(|f| f != "--help" && f != "--version");
    flags.sort();
    flags.dedup();
    (flags, subs)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The string literals of a Rust source with the line each starts on, roughly: the text
/// between unescaped double quotes outside `//` comments (good enough for finding words,
/// never for parsing). Raw strings and char literals holding a quote are rare enough here.
fn string_literals(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let (mut line, mut start) = (1, 1);
    let (mut in_str, mut in_comment) = (false, false);
    let mut cur = String::new();
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
            in_comment = false;
        }
        if in_comment {
            continue;
        }
        if in_str {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        if next == '\n' {
                            line += 1;
                        } else {
                            cur.push(next);
                        }
                    }
                }
                '"' => {
                    out.push((start, std::mem::take(&mut cur)));
                    in_str = false;
                }
                _ => cur.push(c),
            }
        } else if c == '/' && chars.peek() == Some(&'/') {
            in_comment = true;
        } else if c == '"' {
            in_str = true;
            start = line;
        }
    }
    out
}

/// Whether `text` holds `word` not followed by more of a flag name (`--lr` but not `--lrx`).
fn names(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let after = text[i + word.len()..].chars().next();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

#[test]
fn no_library_string_names_a_cli_flag_or_subcommand() {
    let (flags, subs) = cli_words();
    assert!(
        flags.iter().any(|f| f == "--lr") && subs.iter().any(|s| s == "kiln train"),
        "the CLI definition was read: {flags:?} {subs:?}"
    );
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for lib in [
        "tensor", "nn", "pickle", "data", "train", "metrics", "viz", "onnx",
    ] {
        rust_files(&crates.join(lib).join("src"), &mut files);
    }
    assert!(files.len() > 20, "library sources found: {}", files.len());
    let mut found = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).expect("a readable source file");
        for (line, lit) in string_literals(&src) {
            for w in flags.iter().chain(&subs) {
                if names(&lit, w) {
                    found.push(format!("{}:{line}: {w} in \"{lit}\"", f.display()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "library crates name CLI flags or subcommands (add the hint in crates/cli/src/error.rs instead):\n{}",
        found.join("\n")
    );
}
