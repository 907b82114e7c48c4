//! The house keeps its walls: no import circle in any crate of the
//! workspace (file by file, from the `use crate::…` and `super::` paths of
//! the non-test code), none among the rooms of `node/src`, and the
//! dependency graph written in `docs/architecture.md` (its `deps` block) is
//! the one the code has: crates from their `Cargo.toml`s, node rooms from
//! their imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The workspace's crates by folder name (from the root manifest's members).
fn members(root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let start = text.find("members").expect("workspace members");
    let list = &text[start..];
    let list = &list[list.find('[').expect("[") + 1..list.find(']').expect("]")];
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// The crate folders `krate` depends on (its `[dependencies]`, not dev ones),
/// by the workspace's package names `smart-<folder>` or the folder's own.
fn crate_deps(root: &Path, krate: &str, all: &[String]) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root.join(krate).join("Cargo.toml")).expect("manifest");
    let mut section = String::new();
    let mut deps = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        if section != "[dependencies]" {
            continue;
        }
        let name = line.split(['=', '.', ' ']).next().unwrap_or("").trim();
        for other in all {
            if other != krate && (name == format!("smart-{other}") || name == other) {
                deps.insert(other.clone());
            }
        }
    }
    deps
}

/// Every `.rs` file under `dir`.
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

/// A source file's module path inside its crate: `src/station/kiosk.rs` ->
/// `station::kiosk`, `src/station/mod.rs` -> `station`, `src/lib.rs` -> ``.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without its test module (kept at the end by custom)
/// and without comments (a doc link is not an import).
fn code_of(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths a file names: `crate::a::b::C`, `crate::a::{b, c}`,
/// and `super::x` (relative to `module`).
fn named_paths(code: &str, module: &str) -> Vec<String> {
    let mut out = Vec::new();
    let parent: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    for (prefix, base) in [
        ("crate::", String::new()),
        (
            "super::",
            parent[..parent.len().saturating_sub(1)].join("::"),
        ),
    ] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let path = path.trim_end_matches(':');
            let full = if base.is_empty() {
                path.to_string()
            } else {
                format!("{base}::{path}")
            };
            out.push(full.clone());
            // A group: `crate::a::{b, c::D}`.
            let after = &rest[path.len()..];
            if let Some(group) = after.strip_prefix("::{")
                && let Some(end) = group.find('}')
            {
                for item in group[..end].split(',') {
                    let item = item.trim();
                    if !item.is_empty() && item != "self" {
                        out.push(format!("{full}::{item}"));
                    }
                }
            }
        }
    }
    out
}

/// The longest known module that `path` starts with.
fn resolve<'a>(path: &str, modules: &'a BTreeSet<String>) -> Option<&'a String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find_map(|p| modules.get(&p))
}

/// A crate's module graph: module -> modules it imports (not its own
/// ancestors: a folder's `mod.rs` is the folder's face).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let me = module_of(src, f);
        let text = std::fs::read_to_string(f).expect("source");
        let mut to = BTreeSet::new();
        for path in named_paths(&code_of(&text), &me) {
            if let Some(m) = resolve(&path, &modules) {
                let ancestor = me == *m || me.starts_with(&format!("{m}::")) || m.is_empty();
                if !ancestor {
                    to.insert(m.clone());
                }
            }
        }
        graph.insert(me, to);
    }
    graph
}

/// The circles of a graph (strongly connected parts of more than one node).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in graph.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|k| (k, reach(k))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut placed = BTreeSet::new();
    for (k, r) in &reachable {
        if placed.contains(*k) || !r.contains(*k) {
            continue;
        }
        let circle: Vec<String> = r
            .iter()
            .filter(|m| reachable.get(m).is_some_and(|rm| rm.contains(*k)))
            .cloned()
            .collect();
        placed.extend(circle.iter().cloned());
        out.push(circle);
    }
    out
}

/// `node/src`'s rooms (its top modules) and the rooms each imports.
fn node_rooms(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let room = |m: &str| m.split("::").next().unwrap_or("").to_string();
    let mut rooms: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, to) in graph {
        if m.is_empty() {
            continue;
        }
        let entry = rooms.entry(room(m)).or_default();
        for t in to {
            if room(t) != room(m) && !t.is_empty() {
                entry.insert(room(t));
            }
        }
    }
    rooms
}

fn deps_block(graph: &BTreeMap<String, BTreeSet<String>>, prefix: &str) -> String {
    graph
        .iter()
        .map(|(k, v)| {
            let deps = v.iter().cloned().collect::<Vec<_>>().join(", ");
            format!(
                "{prefix}{k} ->{}{deps}",
                if deps.is_empty() { "" } else { " " }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_import_circle_in_any_crate() {
    let root = workspace();
    let mut found = Vec::new();
    for krate in members(&root) {
        let src = root.join(&krate).join("src");
        if !src.is_dir() {
            continue;
        }
        for c in circles(&module_graph(&src)) {
            found.push(format!("{krate}: {}", c.join(" <-> ")));
        }
    }
    let rooms = node_rooms(&module_graph(&root.join("node/src")));
    for c in circles(&rooms) {
        found.push(format!("node rooms: {}", c.join(" <-> ")));
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn the_architecture_document_draws_the_imports_the_code_has() {
    let root = workspace();
    let all = members(&root);
    let crates: BTreeMap<String, BTreeSet<String>> = all
        .iter()
        .map(|k| (k.clone(), crate_deps(&root, k, &all)))
        .collect();
    let rooms = node_rooms(&module_graph(&root.join("node/src")));
    let code = format!(
        "{}\n{}",
        deps_block(&crates, ""),
        deps_block(&rooms, "node/")
    );
    let doc =
        std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let start = doc
        .find("```deps\n")
        .expect("a ```deps block in docs/architecture.md")
        + 8;
    let end = start + doc[start..].find("```").expect("the deps block's end");
    let mut written: Vec<&str> = doc[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut expected: Vec<&str> = code.lines().collect();
    written.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        written, expected,
        "docs/architecture.md's deps block differs from the code; the code has:\n```deps\n{code}\n```"
    );
}

#[test]
fn the_reader_finds_paths_and_groups() {
    let code = "use crate::p2p::{self, CertifiedBlock, wire};\nlet x = crate::peer::follow::lock(&m);\nuse super::node::Station;";
    let paths = named_paths(code, "station::run");
    for p in [
        "p2p",
        "p2p::CertifiedBlock",
        "p2p::wire",
        "peer::follow::lock",
        "station::node::Station",
    ] {
        assert!(paths.iter().any(|q| q == p), "{p} not in {paths:?}");
    }
    let modules: BTreeSet<String> = ["p2p", "p2p::wire", "peer", "peer::follow"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(
        resolve("peer::follow::lock", &modules).map(String::as_str),
        Some("peer::follow")
    );
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(circles(&g), vec![vec!["a".to_string(), "b".to_string()]]);
}
