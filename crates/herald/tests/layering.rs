//! The dependency rule of `crates/herald/src/lib.rs`, checked: every module sits on a layer
//! and may use only modules on lower layers. A `use crate::api` from the scheduler, say,
//! fails here with the file and line, instead of surfacing months later as a cycle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top. Modules on one layer do not use each other.
const LAYERS: &[&[&str]] = &[
    &[
        "clock",
        "domain",
        "redact",
        "logging",
        "metrics",
        "endpoint_policy",
        "net",
    ],
    &["secrets", "config"],
    &["access"],
    &["storage"],
    &["compose"],
    &["app"],
    &["delivery", "reminders"],
    &["scheduler"],
    &["api"],
    &["startup"],
    &["cli"],
    &["main", "lib"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
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

/// The top-level module a source file belongs to: `src/api/messages.rs` is `api`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// Every `crate::name` a line of code (not a comment) names.
fn crate_paths(line: &str) -> Vec<String> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return Vec::new();
    }
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let preceded_by_ident = rest[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !preceded_by_ident {
            // `crate::{a, b}` would hide its modules from this check: one path per module.
            names.push(if name.is_empty() { "{".to_owned() } else { name });
        }
        rest = after;
    }
    names
}

#[test]
fn modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut unplaced = BTreeMap::new();
    let mut violations = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(own) = layer_of(&module) else {
            unplaced.insert(module, file.display().to_string());
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for used in crate_paths(line) {
                if used == module {
                    continue;
                }
                match layer_of(&used) {
                    Some(theirs) if theirs < own => {}
                    Some(_) => violations.push(format!(
                        "{}:{}: `{module}` uses `crate::{used}`, which is not on a lower layer",
                        file.display(),
                        number + 1
                    )),
                    None => {
                        unplaced.insert(used, file.display().to_string());
                    }
                }
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules missing from LAYERS (add them, and to lib.rs's layout doc): {unplaced:?}"
    );
    assert!(
        violations.is_empty(),
        "dependency rule broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn lib_rs_lists_every_module_in_its_layout_doc() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ").or_else(|| l.strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(!declared.is_empty());
    for module in declared {
        assert!(
            lib.contains(&format!("[`{module}`]")),
            "lib.rs declares `{module}` but its layout doc does not list it"
        );
        assert!(
            layer_of(module).is_some(),
            "`{module}` has no layer in tests/layering.rs"
        );
    }
}

#[test]
fn the_checker_sees_a_use_and_skips_comments() {
    assert_eq!(crate_paths("use crate::api::AppState;"), ["api"]);
    assert_eq!(crate_paths("    let x = crate::clock::rfc3339(1);"), ["clock"]);
    assert!(crate_paths("//! see [`crate::api`]").is_empty());
    assert!(crate_paths("use my_crate::api;").is_empty());
    assert_eq!(crate_paths("use crate::{api, app};"), ["{"]);
}
