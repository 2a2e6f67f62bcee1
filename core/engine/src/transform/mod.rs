//! Transforms: tera templates under `mappings/`, with XML-aware escaping and helpers,
//! and optional XSD validation of what they render.

pub mod helpers;
pub mod xsd;
mod xsd_binary;
mod xsd_merge;

use std::path::Path;

use tera::Tera;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TransformError {
    #[error("template {name}: {message}")]
    Render { name: String, message: String },
    #[error("{0}")]
    Xsd(#[from] xsd::XsdError),
    #[error("the input is not a JSON object: {0}")]
    Input(String),
}

/// Joins an error and its sources into one line, since tera's top error says little.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ").replace('\n', " ")
}

/// A fresh tera with Knudepunkt's helpers and XML escaping of `{{ }}` output in
/// templates whose name ends in `.xml.tera`.
pub fn new_tera() -> Tera {
    let mut tera = Tera::default();
    helpers::register(&mut tera);
    tera.autoescape_on(vec![".xml.tera", ".xml"]);
    tera.set_escape_fn(helpers::xml_escape);
    tera
}

/// Every `*.tera` file under `dir`, by its path relative to `dir` (with `/`).
pub fn template_files(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "tera")
                && let Ok(rel) = path.strip_prefix(dir)
            {
                out.push((rel.to_string_lossy().replace('\\', "/"), path.clone()));
            }
        }
    }
    out.sort();
    out
}

pub fn render(tera: &Tera, name: &str, ctx: &tera::Context) -> Result<String, TransformError> {
    tera.render(name, ctx).map_err(|e| TransformError::Render {
        name: name.to_string(),
        message: error_chain(&e),
    })
}
