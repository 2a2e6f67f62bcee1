//! `knudepunkt route validate` and `route test` on the project's own configuration and
//! on broken fixtures: each broken file is rejected with its file:line message.

mod common;

use std::path::Path;

use common::{repo, scratch};

fn copy_tree(from: &Path, to: &Path) {
    if !from.is_dir() {
        return;
    }
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The sandbox's certificates for these tests, made once in a scratch folder.
fn sandbox_certs() -> &'static Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("sandbox-certs");
        common::make_sandbox_certs(&dir);
        dir
    })
}

fn run(root: &Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_knudepunkt"))
        .args(args)
        .arg("--root")
        .arg(root)
        .current_dir(repo())
        .env_remove("KNUDEPUNKT_ENV")
        .env("KNUDEPUNKT_SANDBOX_CERTS", sandbox_certs())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_projects_own_routes_validate_and_pass_their_examples() {
    let (ok, out) = run(&repo(), &["route", "validate"]);
    assert!(ok, "{out}");
    assert!(out.contains("schema validation on"), "{out}");
    let (ok, out) = run(&repo(), &["route", "test"]);
    assert!(ok, "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
    let (ok, out) = run(&repo(), &["--json", "route", "list"]);
    assert!(ok, "{out}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "generic.letter")
    );
}

#[test]
fn every_broken_fixture_is_rejected_with_file_and_line() {
    let fixtures = repo().join("tests/fixtures/bad-config");
    let mut cases: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "at least ten broken configurations");
    let mut failures = Vec::new();
    for case in &cases {
        let root = scratch("badcfg");
        copy_tree(&repo().join("mappings"), &root.join("mappings"));
        copy_tree(&repo().join("environments"), &root.join("environments"));
        for dir in ["routes", "mappings", "environments"] {
            copy_tree(&case.join(dir), &root.join(dir));
        }
        let extra = std::fs::read_to_string(case.join("args.txt")).unwrap_or_default();
        let mut args: Vec<&str> = extra.split_whitespace().collect();
        args.extend(["route", "validate"]);
        let (ok, out) = run(&root, &args);
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        if ok {
            failures.push(format!(
                "{name}: accepted, but should have been rejected:\n{out}"
            ));
            continue;
        }
        for want in std::fs::read_to_string(case.join("expected.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
        {
            if !out.contains(want) {
                failures.push(format!("{name}: expected {want:?} in:\n{out}"));
            }
        }
        println!("{name}: {}", out.lines().next().unwrap_or(""));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn route_test_reports_a_mismatch_and_fails() {
    let root = scratch("mismatch");
    copy_tree(&repo().join("routes"), &root.join("routes"));
    copy_tree(&repo().join("mappings"), &root.join("mappings"));
    copy_tree(&repo().join("environments"), &root.join("environments"));
    let expected = root.join("mappings/generic/examples/notification-basic.xml");
    let text = std::fs::read_to_string(&expected)
        .unwrap()
        .replace("<Kind>notice</Kind>", "<Kind>decision</Kind>");
    std::fs::write(&expected, text).unwrap();
    let (ok, out) = run(&root, &["route", "test"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL") && out.contains("notification-basic.json"),
        "{out}"
    );
    assert!(
        out.contains("line 3: expected \"  <Kind>decision</Kind>\""),
        "{out}"
    );
    assert!(out.contains("1 failed"), "{out}");
}
