//! libxml2 imports a namespace from the first schema file that names it and skips every
//! other file of that namespace ("Skipping import ... already imported"). Schema sets
//! that spread one namespace over many files (SF1600's `urn:oio:dkal:1.0.0`, dozens of
//! one-element files) then fail to compile. This writes, in a temporary directory, a
//! working copy of the set in which every import of a namespace points to one hub that
//! includes all of that namespace's files; the official files themselves are only read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

static REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<(?:\w+:)?(import|include)\b([^>]*?)/?>").expect("regex"));
static LOCATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"schemaLocation\s*=\s*"([^"]+)""#).expect("regex"));
static TARGET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"<(?:\w+:)?schema\b[^>]*?\btargetNamespace\s*=\s*"([^"]+)""#).expect("regex")
});

fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A merged copy, removed when dropped (libxml2 has read it by then).
pub struct Merged {
    pub main: PathBuf,
    dir: PathBuf,
}

impl Drop for Merged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The merged copy of the schema set rooted at `main`: compile `main` of it instead.
pub fn merged(main: &Path) -> std::io::Result<Merged> {
    let main = normalise(&std::path::absolute(main)?);
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut todo = vec![main.clone()];
    let mut seen: BTreeSet<PathBuf> = [main.clone()].into();
    while let Some(p) = todo.pop() {
        let text = std::fs::read_to_string(&p)?;
        for m in REFERENCE.captures_iter(&text) {
            if let Some(l) = LOCATION.captures(&m[2]) {
                let q = normalise(&p.parent().unwrap_or(Path::new("")).join(&l[1]));
                if seen.insert(q.clone()) {
                    todo.push(q);
                }
            }
        }
        files.insert(p, text);
    }
    // Each compiling thread has its own copy.
    let dir = std::env::temp_dir().join(format!(
        "knudepunkt-xsd-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir)?;
    let namespace = |text: &str| {
        TARGET
            .captures(text)
            .map(|c| c[1].to_string())
            .unwrap_or_default()
    };
    let copy: BTreeMap<&PathBuf, PathBuf> = files
        .keys()
        .enumerate()
        .map(|(i, p)| (p, dir.join(format!("f{i:04}.xsd"))))
        .collect();
    let namespaces: BTreeMap<&PathBuf, String> =
        files.iter().map(|(p, t)| (p, namespace(t))).collect();
    let hub = |ns: &str| {
        dir.join(format!(
            "ns-{}.xsd",
            &hex::encode(Sha256::digest(ns.as_bytes()))[..12]
        ))
    };
    for (p, text) in &files {
        let rewritten = REFERENCE.replace_all(text, |m: &regex::Captures<'_>| {
            let Some(l) = LOCATION.captures(&m[2]) else {
                return m[0].to_string();
            };
            let q = normalise(&p.parent().unwrap_or(Path::new("")).join(&l[1]));
            let target = if &m[1] == "import" {
                hub(&namespaces[&q])
            } else {
                copy[&q].clone()
            };
            m[0].replace(&l[0], &format!("schemaLocation=\"{}\"", target.display()))
        });
        std::fs::write(&copy[p], rewritten.as_bytes())?;
    }
    let by_namespace: BTreeSet<&String> = namespaces.values().collect();
    for ns in by_namespace {
        let includes: String = files
            .keys()
            .filter(|p| &namespaces[p] == ns)
            .map(|p| format!("<xs:include schemaLocation=\"{}\"/>", copy[p].display()))
            .collect();
        let esc = quick_escape(ns);
        std::fs::write(
            hub(ns),
            format!(
                "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" targetNamespace=\"{esc}\" elementFormDefault=\"qualified\">{includes}</xs:schema>"
            ),
        )?;
    }
    Ok(Merged {
        main: copy[&main].clone(),
        dir,
    })
}

fn quick_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}
