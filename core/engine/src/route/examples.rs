//! Mapping tests: each `mappings/<system>/examples/<case>.json` names a route, an input
//! event, and the output it must render (`route test`, like `vector test`).
//!
//! ```json
//! { "route": "generic.notify", "message_id": "0193…", "now": "2026-11-27T08:00:00Z",
//!   "event": { … }, "expected": "basic.xml", "idempotency_key": "…", "correlation_id": "…" }
//! ```
//! `"filtered": true` instead of `expected` says the route's filter must turn it away.
//! An expected output that is JSON is named `<case>.expected.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Diagnostic, RouteSet};
use crate::ids::MessageId;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    route: String,
    message_id: MessageId,
    now: String,
    event: serde_json::Value,
    #[serde(default)]
    expected: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    filtered: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    /// The example could not be read, or names what does not exist.
    Broken,
    /// The template failed to render (or validate) on the example.
    RenderFailed,
    /// It rendered, but not what was expected.
    Mismatch,
    /// It rendered, but its expected output file does not exist yet
    /// (`route test --write-missing` writes it).
    NoExpectedOutput,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExampleResult {
    pub file: String,
    pub route: Option<String>,
    pub verdict: Verdict,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ExampleReport {
    pub results: Vec<ExampleResult>,
}

impl ExampleReport {
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.verdict == Verdict::Passed)
            .count()
    }

    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// The failures `route validate` reports: examples that are broken or whose
    /// template does not render on them.
    pub fn failures_that_break_rendering(&self) -> Vec<Diagnostic> {
        self.results
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Broken | Verdict::RenderFailed))
            .map(|r| Diagnostic {
                file: r.file.clone(),
                line: 1,
                column: 0,
                message: r.message.clone().unwrap_or_default(),
            })
            .collect()
    }
}

fn example_files(mappings: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(systems) = std::fs::read_dir(mappings) else {
        return out;
    };
    for system in systems.flatten() {
        let dir = system.path().join("examples");
        if let Ok(rd) = std::fs::read_dir(&dir) {
            out.extend(
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "json"))
                    // An expected output that is JSON itself.
                    .filter(|p| !p.to_string_lossy().ends_with(".expected.json")),
            );
        }
    }
    out.sort();
    out
}

/// Runs every example under `mappings`.
pub fn run(set: &RouteSet, mappings: &Path) -> ExampleReport {
    run_with(set, mappings, false)
}

/// Runs every example under `mappings`; with `write_missing`, an example whose expected
/// output file does not exist yet gets what its route renders written there, for the
/// operator to read and commit (`route test --write-missing`).
pub fn run_with(set: &RouteSet, mappings: &Path, write_missing: bool) -> ExampleReport {
    let mut report = ExampleReport::default();
    for file in example_files(mappings) {
        report.results.push(run_one(set, &file, write_missing));
    }
    report
}

fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("line {}: expected {e:?}, rendered {a:?}", i + 1);
        }
    }
    format!(
        "expected {} lines, rendered {}",
        expected.lines().count(),
        actual.lines().count()
    )
}

fn run_one(set: &RouteSet, file: &Path, write_missing: bool) -> ExampleResult {
    let name = file.display().to_string();
    let broken = |route: Option<String>, message: String| ExampleResult {
        file: name.clone(),
        route,
        verdict: Verdict::Broken,
        message: Some(message),
    };
    let example: Example = match std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(e) => e,
        Err(e) => return broken(None, format!("example does not read: {e}")),
    };
    let Some(route) = set.get(&example.route) else {
        // Routes not enabled in this environment are not loaded; their examples wait.
        return ExampleResult {
            file: name,
            route: Some(example.route),
            verdict: Verdict::Passed,
            message: Some("route not enabled in this environment; skipped".into()),
        };
    };
    let rendered = match set.render(route, &example.event, example.message_id, &example.now) {
        Ok(r) => r,
        Err(e) => {
            return ExampleResult {
                file: name,
                route: Some(example.route),
                verdict: Verdict::RenderFailed,
                message: Some(format!(
                    "route {} does not render this example: {e}",
                    route.id
                )),
            };
        }
    };
    let mismatch = |message: String| ExampleResult {
        file: name.clone(),
        route: Some(example.route.clone()),
        verdict: Verdict::Mismatch,
        message: Some(message),
    };
    let Some(rendered) = rendered else {
        return if example.filtered {
            ExampleResult {
                file: name.clone(),
                route: Some(example.route.clone()),
                verdict: Verdict::Passed,
                message: None,
            }
        } else {
            mismatch("the route's filter turned this example away".into())
        };
    };
    if example.filtered {
        return mismatch("expected the filter to turn this example away, but it rendered".into());
    }
    if let Some(k) = &example.idempotency_key
        && rendered.idempotency_key.as_str() != k
    {
        return mismatch(format!(
            "idempotency key {:?}, expected {k:?}",
            rendered.idempotency_key.as_str()
        ));
    }
    if let Some(c) = &example.correlation_id
        && rendered.correlation_id.as_deref() != Some(c.as_str())
    {
        return mismatch(format!(
            "correlation id {:?}, expected {c:?}",
            rendered.correlation_id
        ));
    }
    let Some(expected_name) = &example.expected else {
        return broken(
            Some(example.route),
            "example names no \"expected\" output file".into(),
        );
    };
    let expected_path = file.parent().unwrap_or(Path::new(".")).join(expected_name);
    if write_missing && !expected_path.exists() {
        return match std::fs::write(&expected_path, &rendered.payload) {
            Ok(()) => ExampleResult {
                file: name,
                route: Some(example.route),
                verdict: Verdict::Passed,
                message: Some(format!(
                    "expected output written to {}; read it before committing",
                    expected_path.display()
                )),
            },
            Err(e) => broken(
                Some(example.route),
                format!("writing {}: {e}", expected_path.display()),
            ),
        };
    }
    let expected = match std::fs::read_to_string(&expected_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return ExampleResult {
                file: name,
                route: Some(example.route),
                verdict: Verdict::NoExpectedOutput,
                message: Some(format!(
                    "expected output {} does not exist (route test --write-missing writes what renders)",
                    expected_path.display()
                )),
            };
        }
        Err(e) => {
            return broken(
                Some(example.route),
                format!(
                    "expected output {} does not read: {e}",
                    expected_path.display()
                ),
            );
        }
    };
    let actual = String::from_utf8_lossy(&rendered.payload);
    if expected.trim_end() != actual.trim_end() {
        return mismatch(first_difference(expected.trim_end(), actual.trim_end()));
    }
    ExampleResult {
        file: name,
        route: Some(example.route),
        verdict: Verdict::Passed,
        message: None,
    }
}
