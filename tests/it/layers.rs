//! The layout as documented: modules depend one way, on the layers `src/lib.rs` lists (read
//! from its doc, so the list and this check cannot drift apart), and the "How it works" table of
//! `docs/architecture.md` names every source file. Sources are read as text, as `../shared/tools/module-graph`
//! reads them.

use std::collections::BTreeMap;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The text of the project's file `path` between `start` and the next `end` after it.
fn between(path: &str, start: &str, end: &str) -> String {
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    let (_, rest) = text
        .split_once(start)
        .unwrap_or_else(|| panic!("no {start:?} in {path}"));
    rest.split(end).next().unwrap_or_default().to_owned()
}

/// The layers of `src/lib.rs`'s doc, bottom first: the first column of its `text` block,
/// top to bottom, each a comma-separated list of modules.
fn layers() -> Vec<Vec<String>> {
    let block = between("src/lib.rs", "//! ```text\n", "//! ```");
    let mut layers: Vec<Vec<String>> = block
        .lines()
        .map(|line| {
            let line = line.trim_start_matches("//!").trim_start();
            let modules = line.split("  ").next().unwrap_or_default();
            modules.split(',').map(|m| m.trim().to_owned()).collect()
        })
        .collect();
    layers.reverse();
    layers
}

/// The top-level module of each file under `src/` (the binary's `main.rs` aside) and the text
/// of every file in it.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, module: Option<&str>, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let owner = module.map_or(name.clone(), str::to_owned);
            if path.is_dir() {
                walk(&path, Some(&owner), out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if module.is_none() && (name == "main" || name == "lib") {
                    continue;
                }
                out.entry(owner)
                    .or_default()
                    .push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&root().join("src"), None, &mut out);
    out
}

#[test]
fn every_module_imports_only_lower_layers() {
    let layers = layers();
    assert!(layers.len() >= 5, "{layers:?}");
    let layer_of = |module: &str| layers.iter().position(|l| l.iter().any(|m| m == module));
    let imports = regex::Regex::new(r"\bcrate::(\w+)").unwrap();
    let mut wrong = Vec::new();
    let sources = sources();
    assert!(sources.len() >= 10, "{:?}", sources.keys());
    for (module, text) in &sources {
        let Some(layer) = layer_of(module) else {
            wrong.push(format!(
                "{module} is in no layer: add it to LAYERS and lib.rs"
            ));
            continue;
        };
        for found in imports.captures_iter(text) {
            let target = &found[1];
            if target == module {
                continue;
            }
            match layer_of(target) {
                Some(below) if below < layer => {}
                _ => wrong.push(format!("{module} imports {target}")),
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Every file under `src/`, as a path from the project's root.
fn source_files(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root()).unwrap();
            out.push(relative.to_string_lossy().into_owned());
        }
    }
}

#[test]
fn readme_names_every_source_file_in_how_it_works() {
    let table = between("docs/architecture.md", "\n## How it works\n", "\n### ");
    let mut files = Vec::new();
    source_files(&root().join("src"), &mut files);
    // A file is named by its path or by its folder's (`src/parse/`); a `mod.rs` by any path
    // in its folder.
    let missing: Vec<&String> = files
        .iter()
        .filter(|file| {
            let (dir, name) = file.rsplit_once('/').unwrap();
            let named = table.contains(&format!("`{file}`"))
                || table.contains(&format!("`{dir}/`"))
                || (name == "mod.rs" && table.contains(&format!("`{dir}/")));
            !named
        })
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/architecture.md's table: {missing:#?}"
    );
}
