//! The served OpenAPI document is a reviewed contract: `docs/openapi.json` is its checked-in
//! copy, and this test fails whenever the document the server would serve at `/openapi.json`
//! differs from it (compared as parsed JSON, so only content counts, not formatting).
//!
//! The document is built exactly as the server builds it: [`ingress::app::openapi_document`] is
//! the OpenAPI half of [`ingress::app::api_routes`], the same value [`ingress::app::router`]
//! renders for `GET /openapi.json`. No server is started.
//!
//! To accept a change on purpose, run `scripts/openapi` (it reruns this test with
//! `BOXOFFICE_WRITE_OPENAPI=1`, which rewrites the file instead of comparing) and review the diff
//! of `docs/openapi.json` together with `docs/API.md`.

use std::path::PathBuf;

use serde_json::Value;

/// Set to `1` to rewrite `docs/openapi.json` from the code instead of comparing.
const WRITE_ENV: &str = "BOXOFFICE_WRITE_OPENAPI";

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

/// The document as `GET /openapi.json` serves it: pretty JSON, here with a trailing newline.
fn served_document() -> String {
    let mut text = ingress::app::openapi_document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

/// Paths of the JSON members where `a` and `b` differ (at most `limit`), for the failure message.
fn differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (x.get(key), y.get(key)) {
                    (Some(v), Some(w)) => differences(v, w, &here, out, limit),
                    (Some(_), None) => out.push(format!("{here}: only in the code")),
                    (None, Some(_)) => out.push(format!("{here}: only in docs/openapi.json")),
                    (None, None) => {}
                }
                if out.len() >= limit {
                    return;
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(v, w, &format!("{at}/{i}"), out, limit);
            }
        }
        _ => out.push(format!("{}: differs", if at.is_empty() { "/" } else { at })),
    }
}

#[test]
fn the_served_openapi_document_matches_docs_openapi_json() {
    let served = served_document();
    let path = checked_in_path();
    if std::env::var(WRITE_ENV).is_ok_and(|v| v == "1") {
        std::fs::write(&path, &served)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nrun scripts/openapi to generate it, then review and commit it",
            path.display()
        )
    });
    let served: Value = serde_json::from_str(&served).expect("the served document is JSON");
    let checked_in: Value = serde_json::from_str(&checked_in)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
    if served != checked_in {
        let mut diffs = Vec::new();
        differences(&served, &checked_in, "", &mut diffs, 20);
        panic!(
            "the OpenAPI document served at /openapi.json differs from docs/openapi.json:\n  {}\n\n\
             The public API changed. If that is intended, run scripts/openapi to regenerate \
             docs/openapi.json, review the diff (git diff docs/openapi.json), and update \
             docs/API.md to match.",
            diffs.join("\n  ")
        );
    }
}

#[test]
fn the_checked_in_copy_is_pretty_printed_with_a_trailing_newline() {
    // Only meaningful once the content matches; the other test reports content differences
    // (and, when asked to, writes the file).
    if std::env::var(WRITE_ENV).is_ok_and(|v| v == "1") {
        return;
    }
    let Ok(checked_in) = std::fs::read_to_string(checked_in_path()) else {
        return;
    };
    let served = served_document();
    let same_content = serde_json::from_str::<Value>(&checked_in).ok()
        == serde_json::from_str::<Value>(&served).ok();
    if same_content {
        assert!(
            checked_in == served,
            "docs/openapi.json has the right content but not the generated formatting \
             (pretty-printed, trailing newline): run scripts/openapi"
        );
    }
}
