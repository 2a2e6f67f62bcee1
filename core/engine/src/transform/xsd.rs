//! XSD validation of rendered payloads through libxml2.
//!
//! libxml2's schema objects are not thread-safe, so each thread compiles the schemas it
//! needs once and keeps them. Long base64Binary content is checked by `xsd_binary`
//! before libxml2 sees the document.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use libxml::parser::Parser;
use libxml::schemas::{SchemaParserContext, SchemaValidationContext};
use thiserror::Error;

use super::xsd_binary::BinaryElements;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum XsdError {
    #[error("schema {path}: {message}")]
    Schema { path: String, message: String },
    #[error("not well-formed XML: {0}")]
    Malformed(String),
    #[error("does not validate against {schema}: {errors}")]
    Invalid { schema: String, errors: String },
}

thread_local! {
    static SCHEMAS: RefCell<HashMap<PathBuf, Compiled>> = RefCell::new(HashMap::new());
}

/// Sets libxml2 up once per process, before any thread parses with it: the parser (as
/// the libxml crate does at its entry points) and the catalogs, which libxml2 (2.9)
/// otherwise sets up on a thread's first lookup without a lock of its own. A CI run hung
/// with two threads compiling schemas at once, both waiting forever on the catalogs' lock
/// in `xmlCatalogResolve`. Every entry point to libxml2 in this crate, and the sandbox's,
/// calls this first; after the first call it costs an atomic load.
pub fn init_libxml() {
    static READY: std::sync::Once = std::sync::Once::new();
    READY.call_once(|| {
        libxml::init_parser();
        // SAFETY: takes no arguments and only sets up libxml2's own catalog globals; the
        // Once runs it on one thread while every other caller waits.
        unsafe { libxml::bindings::xmlInitializeCatalog() };
    });
}

/// Held while a schema is compiled: compiling loads the schema's files, each through the
/// catalogs, and one compile at a time keeps those lookups apart. A thread compiles a
/// schema once and keeps it, so the wait is short and rare; validation runs in parallel.
static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A schema compiled by libxml2, and its elements that are plain base64Binary.
struct Compiled {
    context: SchemaValidationContext,
    binary: BinaryElements,
}

fn join_errors(errors: &[libxml::error::StructuredError]) -> String {
    errors
        .iter()
        .take(5)
        .map(|e| match e.line {
            Some(line) if line > 0 => {
                format!("line {line}: {}", e.message.as_deref().unwrap_or("").trim())
            }
            _ => e.message.as_deref().unwrap_or("").trim().to_string(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn compile(path: &Path) -> Result<SchemaValidationContext, XsdError> {
    let display = path.display().to_string();
    if !path.is_file() {
        return Err(XsdError::Schema {
            path: display,
            message: "no such file".into(),
        });
    }
    let mut parser = SchemaParserContext::from_file(&display);
    match SchemaValidationContext::from_parser(&mut parser) {
        Ok(ctx) => Ok(ctx),
        // One namespace spread over many files, or an included file that leans on its
        // includer's imports: compile a merged working copy.
        Err(errors)
            if errors.iter().any(|e| {
                e.message.as_deref().is_some_and(|m| {
                    m.contains("Skipping import") || m.contains("not indicated by an import")
                })
            }) =>
        {
            let merged = super::xsd_merge::merged(path).map_err(|e| XsdError::Schema {
                path: display.clone(),
                message: format!("merging its namespaces: {e}"),
            })?;
            let mut parser = SchemaParserContext::from_file(&merged.main.display().to_string());
            SchemaValidationContext::from_parser(&mut parser).map_err(|errors| XsdError::Schema {
                path: display,
                message: join_errors(&errors),
            })
        }
        Err(errors) => Err(XsdError::Schema {
            path: display,
            message: join_errors(&errors),
        }),
    }
}

/// Checks that the schema at `path` compiles.
pub fn check_schema(path: &Path) -> Result<(), XsdError> {
    with_schema(path, |_| Ok(()))
}

fn with_schema<T>(
    path: &Path,
    f: impl FnOnce(&mut Compiled) -> Result<T, XsdError>,
) -> Result<T, XsdError> {
    init_libxml();
    SCHEMAS.with(|cell| {
        let mut schemas = cell.borrow_mut();
        if !schemas.contains_key(path) {
            let (context, binary) = {
                // A thread that panicked while compiling left nothing half-done here.
                let _one_at_a_time = COMPILING.lock().unwrap_or_else(|e| e.into_inner());
                (compile(path)?, BinaryElements::of(path))
            };
            schemas.insert(path.to_path_buf(), Compiled { context, binary });
        }
        f(schemas.get_mut(path).expect("just inserted"))
    })
}

/// Validates `xml` against the schema at `path`.
pub fn validate(path: &Path, xml: &[u8]) -> Result<(), XsdError> {
    with_schema(path, |compiled| {
        let slim = compiled.binary.stand_in(xml);
        let doc = Parser::default()
            .parse_string(slim.as_deref().unwrap_or(xml))
            .map_err(|e| XsdError::Malformed(format!("{e:?}")))?;
        compiled
            .context
            .validate_document(&doc)
            .map_err(|errors| XsdError::Invalid {
                schema: path.display().to_string(),
                errors: join_errors(&errors),
            })
    })
}
