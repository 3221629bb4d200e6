//! The layers, checked by reading the source: dependencies point down.
//!
//! - `src/loyalty/` (the pure rules) imports nothing else of the crate.
//! - `src/store/` (all SQL) imports only the pure rules and the error-text
//!   sanitiser: no engine, use case, route, job, Shopify client or config.
//! - A route module never imports another route module; what routes share
//!   lives in the helper modules listed in [`ROUTE_HELPERS`].
//! - The use cases (`src/service/`) know nothing of HTTP: no route, no
//!   `ApiError`, no actix-web.
//! - The engine imports only the rules and the store: no Shopify payload,
//!   no Admin API, no job.
//!
//! A simple scan is enough: every path that starts with `crate::` or
//! `super::` (inside `use` groups too) names the module it reaches.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

/// Modules under `src/routes/` that are not routes: what the route modules
/// share (guards, parsing helpers, state, limits).
const ROUTE_HELPERS: &[&str] = &[
    "mod",
    "guards",
    "input",
    "params",
    "state",
    "body_budget",
    "limits",
    "request_id",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The source without comments (line comments and doc comments), so that
/// a module named in prose is not taken for an import.
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every path that follows `prefix` (`crate::` or
/// `super::`), with `use` groups opened: `crate::{a::b, c}` gives `a`, `c`.
fn reached(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut at_top_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c == ',' {
                    if !item.is_empty() {
                        found.insert(std::mem::take(&mut item));
                    }
                    at_top_start = true;
                    continue;
                }
                if at_top_start {
                    if c.is_alphanumeric() || c == '_' {
                        item.push(c);
                    } else if !item.is_empty() {
                        found.insert(std::mem::take(&mut item));
                        at_top_start = false;
                    }
                }
            }
            if !item.is_empty() {
                found.insert(item);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn relative(path: &Path) -> String {
    path.strip_prefix(src()).unwrap().display().to_string()
}

/// `(file, module reached)` for every `crate::` path under `dir` that is
/// not in `allowed`.
fn upward_imports(dir: &str, allowed: &[&str]) -> Vec<(String, String)> {
    let mut bad = Vec::new();
    for file in rust_files(&src().join(dir)) {
        let code = code_of(&fs::read_to_string(&file).unwrap());
        for module in reached(&code, "crate::") {
            if !allowed.contains(&module.as_str()) {
                bad.push((relative(&file), module));
            }
        }
    }
    bad
}

#[test]
fn the_loyalty_rules_import_nothing_else_of_the_crate() {
    let bad = upward_imports("loyalty", &["loyalty"]);
    assert!(bad.is_empty(), "loyalty/ reaches up: {bad:?}");
}

#[test]
fn the_store_imports_only_the_pure_rules_and_the_error_sanitiser() {
    let bad = upward_imports("store", &["store", "loyalty", "error_text"]);
    assert!(bad.is_empty(), "store/ reaches up: {bad:?}");
}

#[test]
fn the_engine_imports_only_the_rules_and_the_store() {
    // No Shopify payload, no Admin API, no job: it takes events and asks
    // for effects as values of its own.
    let bad = upward_imports("engine", &["engine", "loyalty", "store"]);
    assert!(bad.is_empty(), "engine/ reaches up: {bad:?}");
}

#[test]
fn the_use_cases_know_nothing_of_http() {
    let mut bad = upward_imports(
        "service",
        &[
            "service",
            "engine",
            "loyalty",
            "store",
            "shopify",
            "jobs",
            "analytics",
            "error_text",
            // Sealing a secret, and where the merchant's webhooks may go:
            // rules of the use cases, not of the HTTP server.
            "crypto",
            "egress",
        ],
    );
    for file in rust_files(&src().join("service")) {
        let code = code_of(&fs::read_to_string(&file).unwrap());
        if code.contains("actix_web") {
            bad.push((relative(&file), "actix_web".into()));
        }
    }
    assert!(bad.is_empty(), "service/ reaches HTTP: {bad:?}");
}

#[test]
fn no_route_module_imports_another() {
    let dir = src().join("routes");
    let routes: BTreeSet<String> = rust_files(&dir)
        .iter()
        .filter(|f| f.parent() == Some(dir.as_path()))
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|m| !ROUTE_HELPERS.contains(&m.as_str()))
        .collect();
    assert!(
        routes.len() >= 8,
        "the scan found too few route modules: {routes:?}"
    );
    let mut bad = Vec::new();
    for file in rust_files(&dir) {
        let me = file.file_stem().unwrap().to_string_lossy().into_owned();
        if !routes.contains(&me) {
            continue;
        }
        let code = code_of(&fs::read_to_string(&file).unwrap());
        let mut named = reached(&code, "super::");
        // `crate::routes::x` and `crate::routes::{x, …}`.
        let mut rest = code.as_str();
        while let Some(at) = rest.find("routes::") {
            rest = &rest[at..];
            named.extend(reached(rest, "routes::"));
            rest = &rest["routes::".len()..];
        }
        for other in named.intersection(&routes) {
            if *other != me {
                bad.push((relative(&file), other.clone()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "route modules import route modules: {bad:?}"
    );
}

#[test]
fn the_scan_sees_imports_in_groups_and_paths() {
    let code = code_of(
        "use crate::{a::b, c, d::{e, f}};\n// crate::ignored\nlet x = crate::g::h();\nsupercrate::no;",
    );
    let found = reached(&code, "crate::");
    assert_eq!(
        found,
        ["a", "c", "d", "g"]
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
    );
}

#[test]
fn no_route_opens_a_transaction() {
    let mut bad = Vec::new();
    for file in rust_files(&src().join("routes")) {
        let code = code_of(&fs::read_to_string(&file).unwrap());
        for call in [".begin()", ".commit()", ".rollback()"] {
            if code.contains(call) {
                bad.push((relative(&file), call));
            }
        }
    }
    assert!(bad.is_empty(), "routes run transactions: {bad:?}");
}

/// The longest a route handler may grow: parse, call one use case,
/// serialize.
const HANDLER_LINES_MAX: usize = 60;

#[test]
fn route_handlers_stay_short() {
    let mut long = Vec::new();
    for file in rust_files(&src().join("routes")) {
        let text = fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            if line.starts_with(' ') || !line.contains("async fn ") {
                continue;
            }
            let end = lines[start..]
                .iter()
                .position(|l| *l == "}")
                .map_or(lines.len(), |n| start + n);
            let length = end - start + 1;
            if length > HANDLER_LINES_MAX {
                long.push((relative(&file), line.to_string(), length));
            }
        }
    }
    assert!(
        long.is_empty(),
        "handlers over {HANDLER_LINES_MAX} lines: {long:?}"
    );
}
