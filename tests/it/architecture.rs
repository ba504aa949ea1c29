//! The map in `docs/ARCHITECTURE.md`, kept true: which top-level module may name which, read off
//! the source (every `crate::…` path and every framework named in a `use` line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module and the modules of this crate it may name.
const MAY_NAME: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("telemetry", &[]),
    ("metrics", &[]),
    ("auth", &["domain"]),
    ("ingest", &["domain"]),
    ("store", &["domain"]),
    ("analytics", &["domain", "store"]),
    ("render", &["analytics", "domain"]),
    ("demo", &["domain"]),
    ("query", &["analytics", "domain", "render"]),
    ("mail", &["render"]),
    ("webhook", &["auth"]),
    (
        "app",
        &[
            "analytics",
            "auth",
            "domain",
            "ingest",
            "mail",
            "metrics",
            "query",
            "render",
            "store",
            "webhook",
        ],
    ),
    ("config", &["store"]),
    (
        "web",
        &[
            "analytics",
            "app",
            "auth",
            "config",
            "domain",
            "ingest",
            "metrics",
            "query",
            "render",
            "store",
        ],
    ),
    (
        "startup",
        &[
            "app", "auth", "config", "demo", "domain", "mail", "store", "web",
        ],
    ),
    (
        "cli",
        &[
            "analytics",
            "app",
            "auth",
            "config",
            "demo",
            "domain",
            "ingest",
            "mail",
            "query",
            "render",
            "startup",
            "store",
            "telemetry",
            "web",
            "webhook",
        ],
    ),
];

/// Modules that must stay free of web and database frameworks.
const PURE: &[&str] = &["domain", "ingest", "analytics", "render", "query"];
const FRAMEWORKS: &[&str] = &[
    "axum",
    "tower",
    "tower_http",
    "hyper",
    "hyper_util",
    "tokio",
    "rusqlite",
    "postgres",
    "tokio_postgres",
    "askama_web",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/web/pages/x.rs` -> `web`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The code of a line, without a `//` comment.
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

/// Every `crate::NAME` a file's code names, with the line it is on. A file's unit tests (from
/// its `#[cfg(test)]` on) may reach further to build their fixtures and are not read.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim() == "#[cfg(test)]" {
            break;
        }
        let line = code(line);
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((n + 1, name));
            }
            rest = after;
        }
        // `use crate::{a, b::c}`: the names inside the braces.
        if let Some(i) = line.find("use crate::{") {
            let inner = &line[i + "use crate::{".len()..];
            for part in inner.split([',', '}']) {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push((n + 1, name));
                }
            }
        }
    }
    out
}

#[test]
fn modules_name_only_what_the_map_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let allowed: BTreeMap<&str, &[&str]> = MAY_NAME.iter().copied().collect();
    let mut wrong = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if ["main", "lib"].contains(&module.as_str()) {
            continue;
        }
        let may = allowed.get(module.as_str()).unwrap_or_else(|| {
            panic!("{module} is not on the map: add it to MAY_NAME and docs/ARCHITECTURE.md")
        });
        let text = std::fs::read_to_string(file).expect("read");
        for (line, name) in crate_paths(&text) {
            if name != module
                && allowed.contains_key(name.as_str())
                && !may.contains(&name.as_str())
            {
                wrong.push(format!("{}:{line}: {module} names {name}", file.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "arrows the map does not allow:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn only_main_names_cli_and_only_cli_and_startup_name_web() {
    for (module, may) in MAY_NAME {
        if *module != "cli" {
            assert!(!may.contains(&"cli"), "{module} may not name cli");
        }
        if !["cli", "startup"].contains(module) {
            assert!(!may.contains(&"web"), "{module} may not name web");
        }
        if ["domain", "ingest", "store", "analytics", "render", "auth"].contains(module) {
            for up in ["app", "web", "cli"] {
                assert!(!may.contains(&up), "{module} may not name {up}");
            }
        }
    }
}

#[test]
fn the_pure_modules_use_no_web_or_database_framework() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let module = module_of(&src, &file);
        if !PURE.contains(&module.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        for (n, line) in text.lines().enumerate() {
            let line = code(line).trim();
            for fw in FRAMEWORKS {
                let named = line.starts_with(&format!("use {fw}::"))
                    || line.starts_with(&format!("use {fw};"))
                    || line.contains(&format!(" {fw}::"))
                    || line.contains(&format!("({fw}::"));
                if named {
                    wrong.push(format!("{}:{}: {fw}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "frameworks in pure modules:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_finds_what_it_looks_for() {
    // The checks above rest on this reading; it must see both forms.
    let found =
        crate_paths("use crate::{app::App, web};\nlet x = crate::cli::today(); // crate::store");
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert!(names.contains(&"app") && names.contains(&"web") && names.contains(&"cli"));
    assert!(!names.contains(&"store"), "comments are not code");
}
