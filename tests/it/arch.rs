//! The architecture holds: no import cycle between top-level modules of `src/`, none
//! between the files of one module, no file over 800 lines. The same reading of the
//! sources as the architecture check the project is held to (`use crate::…`, `crate::…`
//! and `super::…` paths, resolved to the longest module prefix that is a file), so a
//! change that brings a cycle back fails here, in CI, not only in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 800;

/// `src/`-relative paths of every Rust file.
fn sources(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

/// `report/html/mod.rs` → `["report", "html"]`; `lib.rs` and `main.rs` → `[]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

/// The code without comments, string and char literals (newlines kept).
fn strip(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let prev_ident = |i: usize| i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    while i < b.len() {
        if text[i..].starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if text[i..].starts_with("/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if text[j..].starts_with("/*") {
                    depth += 1;
                    j += 2;
                } else if text[j..].starts_with("*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            out.extend(std::iter::repeat_n('\n', text[i..j].matches('\n').count()));
            i = j;
        } else if (b[i] == b'r' || text[i..].starts_with("br")) && !prev_ident(i) && {
            let s = if b[i] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[s..].iter().take_while(|c| **c == b'#').count();
            b.get(s + hashes) == Some(&b'"')
        } {
            let s = if b[i] == b'b' { i + 2 } else { i + 1 };
            let hashes = b[s..].iter().take_while(|c| **c == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let start = s + hashes + 1;
            let end = text[start..]
                .find(&close)
                .map_or(b.len(), |k| start + k + close.len());
            out.push_str("\"\"");
            out.extend(std::iter::repeat_n(
                '\n',
                text[i..end].matches('\n').count(),
            ));
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            out.push_str("\"\"");
            out.extend(std::iter::repeat_n(
                '\n',
                text[i..end].matches('\n').count(),
            ));
            i = end;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime (left as it is).
            let rest = &text[i + 1..];
            let len = if rest.starts_with('\\') {
                rest.find('\'').map(|k| k + 1)
            } else {
                rest.chars()
                    .next()
                    .filter(|c| rest[c.len_utf8()..].starts_with('\''))
                    .map(|c| c.len_utf8() + 1)
            };
            match len {
                Some(n) => {
                    out.push_str("''");
                    i += 1 + n;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Strongly connected components of more than one node.
fn cycles(
    nodes: &BTreeSet<String>,
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Vec<String>> {
    // Two nodes are in one cycle when each reaches the other.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in nodes {
        if done.contains(n) || !reaches[n].contains(n) {
            continue;
        }
        let comp: Vec<String> = nodes
            .iter()
            .filter(|m| reaches[n].contains(*m) && reaches[*m].contains(n))
            .cloned()
            .collect();
        done.extend(comp.iter().cloned());
        if comp.len() > 1 {
            out.push(comp);
        }
    }
    out
}

#[test]
fn no_module_cycles_and_no_oversized_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    files.sort();
    let by_module: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| (module_path(f), f.display().to_string()))
        .collect();
    let top = |f: &str| -> Option<String> {
        let parts: Vec<&str> = f.split('/').collect();
        match parts.as_slice() {
            [one] if *one == "lib.rs" || *one == "main.rs" => None,
            [one] => Some(one.trim_end_matches(".rs").to_string()),
            [dir, ..] => Some(dir.to_string()),
            [] => None,
        }
    };
    let crate_path = regex::Regex::new(r"\bcrate((?:::\w+)+)").unwrap();
    let crate_group = regex::Regex::new(r"\bcrate::\{([^}]*)\}").unwrap();
    let super_path = regex::Regex::new(r"\b((?:super::)+)(\w+(?:::\w+)*)").unwrap();

    let mut problems = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let name = f.display().to_string();
        let raw = std::fs::read_to_string(src.join(f)).unwrap();
        let lines = raw.matches('\n').count();
        if lines > MAX_FILE_LINES {
            problems.push(format!(
                "src/{name} has {lines} lines (limit {MAX_FILE_LINES})"
            ));
        }
        let text = strip(&raw);
        let me = module_path(f);
        let mut refs: Vec<Vec<String>> = Vec::new();
        for c in crate_path.captures_iter(&text) {
            refs.push(
                c[1].trim_start_matches("::")
                    .split("::")
                    .map(String::from)
                    .collect(),
            );
        }
        for c in crate_group.captures_iter(&text) {
            for item in c[1].split(',') {
                let item: Vec<String> = item.trim().split("::").map(String::from).collect();
                if !item[0].is_empty() {
                    refs.push(item);
                }
            }
        }
        for c in super_path.captures_iter(&text) {
            let ups = c[1].matches("super::").count();
            let mut base: Vec<String> = me[..me.len().saturating_sub(ups)].to_vec();
            base.extend(c[2].split("::").map(String::from));
            refs.push(base);
        }
        for r in refs {
            let target = (1..=r.len()).rev().find_map(|n| by_module.get(&r[..n]));
            if let Some(t) = target.filter(|t| **t != name) {
                edges.entry(name.clone()).or_default().insert(t.clone());
            }
        }
    }

    let mut top_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (f, gs) in &edges {
        for g in gs {
            if let (Some(a), Some(b)) = (top(f), top(g)) {
                if a != b {
                    top_edges.entry(a).or_default().insert(b);
                }
            }
        }
    }
    let tops: BTreeSet<String> = files
        .iter()
        .filter_map(|f| top(&f.display().to_string()))
        .collect();
    for c in cycles(&tops, &top_edges) {
        problems.push(format!("cycle between modules: {}", c.join(" <-> ")));
    }
    for m in &tops {
        let inside: BTreeSet<String> = files
            .iter()
            .map(|f| f.display().to_string())
            .filter(|f| top(f).as_ref() == Some(m))
            .collect();
        let local: BTreeMap<String, BTreeSet<String>> = inside
            .iter()
            .map(|f| {
                let out = edges
                    .get(f)
                    .into_iter()
                    .flatten()
                    .filter(|g| inside.contains(*g));
                (f.clone(), out.cloned().collect())
            })
            .collect();
        for c in cycles(&inside, &local) {
            problems.push(format!("cycle between files of {m}/: {}", c.join(" <-> ")));
        }
    }
    // The graph must have been read at all: the run stage depends on the engine.
    assert!(
        top_edges.get("run").is_some_and(|e| e.contains("engine")),
        "the import reader found no edges: {top_edges:?}"
    );
    assert!(
        problems.is_empty(),
        "architecture:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_reader_sees_a_cycle() {
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    edges.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    let nodes = BTreeSet::from(["a".into(), "b".into(), "c".into()]);
    assert_eq!(
        cycles(&nodes, &edges),
        vec![vec!["a".to_string(), "b".to_string()]]
    );
    assert_eq!(
        strip("let s = \"crate::x\"; // crate::y\n'a'"),
        "let s = \"\"; \n''"
    );
}
