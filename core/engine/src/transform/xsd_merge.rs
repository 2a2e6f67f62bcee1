//! libxml2 imports a namespace from the first schema file that names it and skips every
//! other file of that namespace ("Skipping import ... already imported"). Schema sets
//! that spread one namespace over many files (SF1600's `urn:oio:dkal:1.0.0`, dozens of
//! one-element files) then fail to compile. This writes, in a temporary directory, a
//! working copy of the set in which every import of a namespace points to one hub that
//! includes all of that namespace's files; the official files themselves are only read.
//! An included file that uses a namespace only its includer imports (SF1520's
//! `PersonBaseDataExtendedServiceTypes.xsd` and the PNR namespace) gets the includer's
//! imports in its copy, as XSD asks of every schema document.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

static REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<(?:\w+:)?(import|include)\b([^>]*?)/?>").expect("regex"));
static LOCATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"schemaLocation\s*=\s*"([^"]+)""#).expect("regex"));
static NAMESPACE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\bnamespace\s*=\s*"([^"]+)""#).expect("regex"));
static SCHEMA_OPEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<(\w+:)?schema\b[^>]*>").expect("regex"));
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
    // The namespaces each file imports, and those an included file inherits from the
    // files that include it.
    let imports = |text: &str| -> BTreeSet<String> {
        REFERENCE
            .captures_iter(text)
            .filter(|m| &m[1] == "import")
            .filter_map(|m| NAMESPACE.captures(&m[2]).map(|c| c[1].to_string()))
            .collect()
    };
    let mut inherited: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for (p, text) in &files {
        let own = imports(text);
        for m in REFERENCE.captures_iter(text).filter(|m| &m[1] == "include") {
            if let Some(l) = LOCATION.captures(&m[2]) {
                let q = normalise(&p.parent().unwrap_or(Path::new("")).join(&l[1]));
                let theirs = files.get(&q).map(|t| imports(t)).unwrap_or_default();
                inherited
                    .entry(q)
                    .or_default()
                    .extend(own.difference(&theirs).cloned());
            }
        }
    }
    let known: BTreeSet<&String> = namespaces.values().collect();
    for (p, text) in &files {
        let mut rewritten = REFERENCE.replace_all(text, |m: &regex::Captures<'_>| {
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
        let extra: String = inherited
            .get(p)
            .into_iter()
            .flatten()
            .filter(|ns| known.contains(ns))
            .map(|ns| {
                let prefix = SCHEMA_OPEN
                    .captures(text)
                    .and_then(|c| c.get(1).map(|m| m.as_str().to_string()))
                    .unwrap_or_default();
                format!(
                    "<{prefix}import namespace=\"{}\" schemaLocation=\"{}\"/>",
                    quick_escape(ns),
                    hub(ns).display()
                )
            })
            .collect();
        if !extra.is_empty()
            && let Some(open) = SCHEMA_OPEN.find(&rewritten)
        {
            let at = open.end();
            rewritten.to_mut().insert_str(at, &extra);
        }
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

#[cfg(test)]
mod tests {
    /// An included file that uses a namespace only its includer imports, as SF1520's
    /// types file does: the working copy compiles and validates.
    #[test]
    fn an_included_file_inherits_its_includers_imports() {
        let dir = std::env::temp_dir().join(format!("kp-xsd-merge-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("sp")).unwrap();
        std::fs::write(
            dir.join("sp/pnr.xsd"),
            r#"<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:pnr" elementFormDefault="qualified"><xsd:simpleType name="PNRType"><xsd:restriction base="xsd:string"><xsd:maxLength value="10"/></xsd:restriction></xsd:simpleType></xsd:schema>"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("types.xsd"),
            r#"<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:cpr="urn:pnr" targetNamespace="urn:main" elementFormDefault="qualified"><xsd:complexType name="PersonType"><xsd:sequence><xsd:element name="pnr" type="cpr:PNRType"/></xsd:sequence></xsd:complexType></xsd:schema>"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("main.xsd"),
            r#"<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="urn:main" targetNamespace="urn:main" elementFormDefault="qualified"><xsd:import namespace="urn:pnr" schemaLocation="sp/pnr.xsd"/><xsd:include schemaLocation="types.xsd"/><xsd:element name="Person" type="tns:PersonType"/></xsd:schema>"#,
        )
        .unwrap();
        let main = dir.join("main.xsd");
        let good = br#"<Person xmlns="urn:main"><pnr>0101901234</pnr></Person>"#;
        let bad = br#"<Person xmlns="urn:main"><pnr>01019012345678</pnr></Person>"#;
        super::super::xsd::validate(&main, good).unwrap();
        let e = super::super::xsd::validate(&main, bad).unwrap_err();
        assert!(e.to_string().contains("pnr"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
