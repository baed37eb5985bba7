//! `scripts/module-cycles`, the test command's import-cycle check, against small workspaces made
//! here: it must name a circle when there is one, and pass a layered crate, or the check in the
//! test command could pass by not reading anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/module-cycles")
        .canonicalize()
        .expect("scripts/module-cycles exists")
}

/// A workspace with one crate `demo` whose `src/` holds `files` (path, text).
fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[workspace]\nmembers = [\"demo\"]\n",
    )
    .unwrap();
    for (path, text) in files {
        let file = dir.path().join("demo/src").join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    dir
}

fn check(dir: &Path) -> Output {
    Command::new("python3")
        .arg(script())
        .arg("--root")
        .arg(dir)
        .output()
        .expect("python3 runs the script")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_circle_through_use_items_fails_and_names_its_arrows() {
    let dir = workspace(&[
        ("lib.rs", "mod routes;\nmod state;\nmod live;\n"),
        ("state.rs", "use crate::live::Seats;\npub struct State;\n"),
        (
            "live/mod.rs",
            "mod show;\nuse crate::routes::ensure;\npub struct Seats;\n",
        ),
        // A child's arrow to its parent is left out; its arrow elsewhere is not.
        (
            "live/show.rs",
            "use crate::{live::Seats, routes::ensure};\n",
        ),
        (
            "routes.rs",
            "use crate::state::State;\npub fn ensure() {}\n",
        ),
    ]);
    let output = check(dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("import cycle"), "{text}");
    assert!(text.contains("live -> routes: ensure"), "{text}");
    assert!(!text.contains("live::show -> live"), "{text}");
    assert!(text.contains("routes -> state: State"), "{text}");
    assert!(text.contains("state -> live: Seats"), "{text}");
}

#[test]
fn inline_crate_paths_and_grouped_uses_count_too() {
    let dir = workspace(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "pub fn f() { crate::b::g(); }\n"),
        ("b.rs", "use crate::{a::f as other};\npub fn g() {}\n"),
    ]);
    let output = check(dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
}

#[test]
fn layers_and_children_using_their_parent_pass() {
    let dir = workspace(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        // b uses a; a's child uses a (its parent) and a uses its child: no circle between layers.
        (
            "a/mod.rs",
            "mod inner;\nuse inner::helper;\npub struct A;\n",
        ),
        ("a/inner.rs", "use super::A;\npub fn helper() {}\n"),
        (
            "b.rs",
            "use crate::a::A;\n// use crate::b::nothing; in a comment is no arrow\n",
        ),
    ]);
    let output = check(dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("demo: no import cycles between its 4 modules"));
}

#[test]
fn tests_may_reach_anywhere() {
    let dir = workspace(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "use crate::b::B;\n"),
        (
            "b.rs",
            "pub struct B;\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
        ),
    ]);
    let output = check(dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}
