//! Embeds the web front end (`index.html` and everything under `assets/`, beside this file) into
//! the binary: writes `$OUT_DIR/web_assets.rs`, a sorted table of `(path, bytes)` that this
//! crate serves. Cargo reruns this whenever anything under `web/` changes, so a new file
//! is picked up without touching this crate.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest;
    println!("cargo:rerun-if-changed={}", web.display());
    let mut files = Vec::new();
    let index = web.join("index.html");
    if index.is_file() {
        files.push(("index.html".to_owned(), index));
    }
    collect(&web.join("assets"), "assets", &mut files);
    files.sort();
    let mut table = String::from("/// Embedded front-end files, sorted by path.\n");
    table.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    for (path, file) in &files {
        let absolute = file.canonicalize().expect("embedded file resolves");
        writeln!(
            table,
            "    ({path:?}, include_bytes!({:?})),",
            absolute.display().to_string()
        )
        .expect("writing to a String");
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out.join("web_assets.rs"), table).expect("writing web_assets.rs");
}

/// Every regular, non-hidden file under `dir`, as (`prefix/relative/path`, file).
fn collect(dir: &Path, prefix: &str, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let relative = format!("{prefix}/{name}");
        if path.is_dir() {
            collect(&path, &relative, files);
        } else if path.is_file() {
            files.push((relative, path));
        }
    }
}
