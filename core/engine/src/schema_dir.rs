//! Finding the authorities' official schemas: `KNUDEPUNKT_SCHEMA_DIR`, then `./schemas`,
//! then `../shared/formats`. Without one, validation is off, and we say so.

use std::path::PathBuf;

/// Where schemas were found, and by which rule.
#[derive(Clone, Debug)]
pub struct SchemaDir {
    pub path: PathBuf,
    pub found_by: &'static str,
}

pub fn locate() -> Option<SchemaDir> {
    if let Some(dir) = std::env::var_os("KNUDEPUNKT_SCHEMA_DIR") {
        let path = PathBuf::from(dir);
        if path.is_dir() {
            return Some(SchemaDir {
                path,
                found_by: "KNUDEPUNKT_SCHEMA_DIR",
            });
        }
    }
    for (candidate, rule) in [
        ("schemas", "./schemas"),
        ("../shared/formats", "../shared/formats"),
    ] {
        let path = PathBuf::from(candidate);
        if path.is_dir() {
            return Some(SchemaDir {
                path,
                found_by: rule,
            });
        }
    }
    None
}

/// A sentence for `route validate`, `/readyz` and the demo.
pub fn describe(dir: &Option<SchemaDir>) -> String {
    match dir {
        Some(d) => format!("schema validation on: schemas from {} (found by {})", d.path.display(), d.found_by),
        None => "schema validation OFF: no schema directory (set KNUDEPUNKT_SCHEMA_DIR, or install ./schemas)".to_string(),
    }
}
