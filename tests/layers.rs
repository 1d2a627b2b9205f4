//! The modules depend one way: each imports only modules of lower layers (`src/lib.rs` lists
//! them). Reads the sources as text, as `../shared/tools/module-graph` does, and fails on an
//! import upwards or sideways, and on a module that no layer names.

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom to top; a module may import any module of a lower layer.
const LAYERS: &[&[&str]] = &[
    &["limits", "priority", "time"],
    &["parse"],
    &["batch", "emulator"],
    &["db"],
    &["ingest"],
    &["http"],
    &["service"],
    &["cli"],
    &["demo"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
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
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        None,
        &mut out,
    );
    out
}

#[test]
fn every_module_imports_only_lower_layers() {
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
