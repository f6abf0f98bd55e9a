//! The layer order `src/lib.rs` states ("Layers, lowest first: …") holds: no library module
//! imports from a later layer, and no two files of one module import each other in a cycle.
//! Read from the sources (a `crate::x` path anywhere outside comments and test modules is an
//! import of `x`), so a back-import fails this test before review has to find it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// The binary's own files: they see every module.
const BINARY: [&str; 3] = ["lib", "main", "cli"];

/// The stated order, parsed from lib.rs's doc comment.
fn stated_layers(lib_rs: &str) -> Vec<String> {
    let doc: String = lib_rs
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join(" ");
    let (_, rest) = doc
        .split_once("Layers, lowest first:")
        .expect("src/lib.rs states its layers: \"Layers, lowest first: a → b → …\"");
    rest.split('→')
        .map(|s| {
            s.split_whitespace()
                .next()
                .unwrap_or("")
                .trim_matches('.')
                .to_owned()
        })
        .collect()
}

/// A source file without its comments and its `#[cfg(test)]` modules (tests may use anything).
fn code_of(text: &str) -> String {
    let test_module = Regex::new(r"#\[cfg\(test\)\]\s*mod [a-z_]+ \{").unwrap();
    let text = match test_module.find(text) {
        Some(m) => &text[..m.start()],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            // "https://…" in a string literal is cut too: harmless, it holds no import.
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::…` path of `code`, as its segments (`crate::{a, b::c}` gives `[a]`, `[b, c]`).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let single = Regex::new(r"crate::((?:[a-z_][a-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)").unwrap();
    let group = Regex::new(r"crate::((?:[a-z_][a-z0-9_]*::)*)\{([^}]*)\}").unwrap();
    let mut out = Vec::new();
    for c in single.captures_iter(code) {
        out.push(c[1].split("::").map(str::to_owned).collect());
    }
    for c in group.captures_iter(code) {
        let prefix: Vec<String> = c[1]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for item in c[2].split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let mut p = prefix.clone();
            p.extend(item.split("::").map(|s| s.trim().to_owned()));
            out.push(p);
        }
    }
    out
}

/// `super::x` paths of `code`, as their first segment (`super::{a, b}` gives `a`, `b`).
fn super_names(code: &str) -> Vec<String> {
    let single = Regex::new(r"super::([A-Za-z_][A-Za-z0-9_]*)").unwrap();
    let group = Regex::new(r"super::\{([^}]*)\}").unwrap();
    let mut out: Vec<String> = single
        .captures_iter(code)
        .map(|c| c[1].to_owned())
        .collect();
    for c in group.captures_iter(code) {
        for item in c[1].split(',') {
            if let Some(first) = item.trim().split("::").next().filter(|s| !s.is_empty()) {
                out.push(first.trim().to_owned());
            }
        }
    }
    out
}

/// A file's path under `src` and its segments without `.rs` (`graph/store.rs` → graph, store).
fn parts_of<'a>(src: &Path, path: &'a Path) -> (&'a Path, Vec<String>) {
    let rel = path.strip_prefix(src).unwrap();
    let parts = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    (rel, parts)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module → file → the sibling files it imports.
type SiblingGraph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Record that `file` of `module` uses `name` of its own module: the file `name` is, or the
/// file mod.rs re-exports it from.
fn link(
    siblings: &mut SiblingGraph,
    reexports: &BTreeMap<String, BTreeMap<String, String>>,
    module: &str,
    file: &str,
    name: &str,
) {
    let target = reexports
        .get(module)
        .and_then(|m| m.get(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned());
    siblings
        .entry(module.to_owned())
        .or_default()
        .entry(file.to_owned())
        .or_default()
        .insert(target);
}

/// The violations of the tree under `src`, one sentence each.
fn check(src: &Path) -> Vec<String> {
    let layers = stated_layers(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let rank = |m: &str| layers.iter().position(|l| l == m);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    // Per module: file stem → the sibling files it imports.
    let mut siblings: SiblingGraph = BTreeMap::new();
    // Per module: names its mod.rs re-exports → the file they come from.
    let mut reexports: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let reexport =
        Regex::new(r"pub use ([a-z_][a-z0-9_]*)::(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
            .unwrap();
    for path in &files {
        let (_, parts) = parts_of(src, path);
        if parts.len() == 2 && parts[1] == "mod" {
            let text = code_of(&std::fs::read_to_string(path).unwrap());
            let map = reexports.entry(parts[0].clone()).or_default();
            for c in reexport.captures_iter(&text) {
                let names = c.get(2).or(c.get(3)).unwrap().as_str();
                for n in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    map.insert(n.to_owned(), c[1].to_owned());
                }
            }
        }
    }
    for path in &files {
        let (rel, parts) = parts_of(src, path);
        let top = parts[0].clone();
        if BINARY.contains(&top.as_str()) && parts.len() == 1 {
            continue;
        }
        let Some(own) = rank(&top) else {
            problems.push(format!(
                "src/{}: module `{top}` is not in lib.rs's layer order",
                rel.display()
            ));
            continue;
        };
        let code = code_of(&std::fs::read_to_string(path).unwrap());
        let file = parts.get(1).cloned().unwrap_or_default();
        for p in crate_paths(&code) {
            let used = &p[0];
            if used == &top {
                if let (Some(next), true) = (p.get(1), parts.len() == 2 && file != "mod") {
                    link(&mut siblings, &reexports, &top, &file, next);
                }
                continue;
            }
            match rank(used) {
                Some(r) if r > own => problems.push(format!(
                    "src/{}: imports crate::{} — `{used}` is a later layer than `{top}`",
                    rel.display(),
                    p.join("::")
                )),
                Some(_) => {}
                None if BINARY.contains(&used.as_str()) => problems.push(format!(
                    "src/{}: imports crate::{used}, a file of the binary",
                    rel.display()
                )),
                None => {} // an item of lib.rs itself, or a macro path
            }
        }
        if parts.len() == 2 && file != "mod" {
            for name in super_names(&code) {
                link(&mut siblings, &reexports, &top, &file, &name);
            }
        }
    }
    for (module, graph) in &siblings {
        let stems: BTreeSet<&String> = graph.keys().collect();
        for start in &stems {
            // A path from `start` back to itself through sibling files is a cycle.
            let mut stack: Vec<(String, Vec<String>)> =
                vec![((*start).clone(), vec![(*start).clone()])];
            let mut seen = BTreeSet::new();
            while let Some((node, path)) = stack.pop() {
                for next in graph.get(&node).into_iter().flatten() {
                    if next == *start {
                        let mut cycle = path.clone();
                        cycle.push(next.clone());
                        let text = format!("src/{module}/: import cycle {}", cycle.join(" → "));
                        if !problems.iter().any(|p| {
                            p.starts_with(&format!("src/{module}/: import cycle"))
                                && same_cycle(p, &cycle)
                        }) {
                            problems.push(text);
                        }
                    } else if graph.contains_key(next) && seen.insert(next.clone()) {
                        let mut p = path.clone();
                        p.push(next.clone());
                        stack.push((next.clone(), p));
                    }
                }
            }
        }
    }
    problems
}

/// Whether `reported` already names the cycle `cycle` (the same files, from another start).
fn same_cycle(reported: &str, cycle: &[String]) -> bool {
    let files: BTreeSet<&str> = cycle.iter().map(String::as_str).collect();
    let listed: BTreeSet<&str> = reported
        .rsplit(": import cycle ")
        .next()
        .unwrap_or("")
        .split(" → ")
        .collect();
    files == listed
}

#[test]
fn no_module_imports_from_a_later_layer_or_in_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = check(&src);
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_deliberate_back_import_and_a_cycle_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |rel: &str, text: &str| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "lib.rs",
        "//! Layers, lowest first: corpus → train → extract\npub mod corpus;\n",
    );
    write("main.rs", "use cbrrel::extract::run;\n");
    write(
        "corpus/mod.rs",
        "mod reader;\nmod doccano;\npub use reader::read_corpus;\n",
    );
    write(
        "corpus/reader.rs",
        "use super::doccano;\npub fn read_corpus() {}\n",
    );
    write(
        "corpus/doccano.rs",
        "use crate::corpus::read_corpus; // back through the re-export\n",
    );
    write(
        "train/mod.rs",
        "use crate::extract::Predictor;\nuse crate::corpus::Record;\n",
    );
    write(
        "extract/mod.rs",
        "use crate::train::LoadedModel; // allowed: train is earlier\n#[cfg(test)]\nmod tests { use crate::cli::Args; }\n",
    );
    write("infer/mod.rs", "// not placed in the order\n");
    let problems = check(src);
    assert!(
        problems.iter().any(|p| p.contains("src/train/mod.rs: imports crate::extract::Predictor — `extract` is a later layer than `train`")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("src/corpus/: import cycle")
                && p.contains("reader")
                && p.contains("doccano")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("module `infer` is not in lib.rs's layer order")),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 3, "only those three: {problems:#?}");
}
