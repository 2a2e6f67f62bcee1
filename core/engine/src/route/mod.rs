//! Declarative routes: the YAML files under `routes/`, validated into a `RouteSet` that
//! renders messages for the engine.

pub mod config;
pub mod examples;
mod load;
mod redelivery;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use tera::Tera;

pub use config::{
    DeadLetterConfig, EventNames, HttpMode, HttpSourceConfig, RedeliveryConfig, SourceConfig,
};
pub use load::LoadOptions;
pub(crate) use load::yaml_files;

use crate::environment::{Endpoint, Environment};
use crate::ids::{IdempotencyKey, MessageId};
use crate::schema_dir::SchemaDir;
use crate::transform::{self, TransformError};

/// One problem found in a route file, mapping or profile, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// A YAML file that does not read as its type, where serde-saphyr says.
pub fn yaml_diagnostic(file: &std::path::Path, e: &serde_saphyr::Error) -> Diagnostic {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 0));
    Diagnostic {
        file: file.display().to_string(),
        line,
        column,
        message: plain_message(e),
    }
}

/// serde-saphyr's message without the location it also carries (we print our own).
pub fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let mut first = text.lines().next().unwrap_or(&text).trim();
    first = first.strip_prefix("error: ").unwrap_or(first);
    if let Some(rest) = first.strip_prefix("line ") {
        // "line 12 column 5: message"
        if let Some((_, msg)) = rest.split_once(": ") {
            first = msg;
        }
    }
    match first.find(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

/// A `deliver.options` key ending in this names an endpoint of the environment.
pub const OPTION_ENDPOINT_SUFFIX: &str = "_endpoint";

/// A validated route, ready to run.
#[derive(Debug, Serialize)]
pub struct Route {
    pub id: String,
    pub description: String,
    pub file: PathBuf,
    pub line: u64,
    pub source: SourceConfig,
    pub template: String,
    pub content_type: String,
    pub xsd: Option<PathBuf>,
    pub adapter: String,
    /// The adapter's settings from `deliver.options`.
    pub adapter_options: std::collections::BTreeMap<String, String>,
    pub endpoint_name: String,
    #[serde(skip)]
    pub endpoint: Endpoint,
    /// The endpoints options ending in `_endpoint` name (a second service an adapter
    /// asks before it delivers, such as PostForespoerg), checked when the routes load.
    #[serde(skip)]
    pub option_endpoints: std::collections::BTreeMap<String, Endpoint>,
    pub redelivery: RedeliveryConfig,
    pub dead_letter: DeadLetterConfig,
    /// Messages of one correlation id go out one at a time, in journal order.
    pub ordered: bool,
    has_filter: bool,
    has_correlation: bool,
}

/// What a route made of one input.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub idempotency_key: IdempotencyKey,
    pub correlation_id: Option<String>,
    pub payload: Vec<u8>,
}

/// Every route of an environment, with their compiled templates.
pub struct RouteSet {
    routes: BTreeMap<String, Arc<Route>>,
    tera: Tera,
    by_event: HashMap<String, Vec<String>>,
    by_path: HashMap<String, String>,
    pub environment: Environment,
    pub schema_dir: Option<SchemaDir>,
    /// Where the templates (and the project's own models of formats with no public
    /// schema) are.
    pub mappings_dir: std::path::PathBuf,
    /// Warnings that do not stop the routes from running.
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Debug for RouteSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteSet")
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .field("environment", &self.environment.name)
            .finish()
    }
}

fn expr_name(route: &str, what: &str) -> String {
    format!("route:{route}:{what}")
}

impl RouteSet {
    pub fn get(&self, id: &str) -> Option<&Arc<Route>> {
        self.routes.get(id)
    }

    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.routes.values()
    }

    /// Routes fed by a named event.
    pub fn for_event(&self, event: &str) -> Vec<&Arc<Route>> {
        self.by_event
            .get(event)
            .map(|ids| ids.iter().filter_map(|id| self.routes.get(id)).collect())
            .unwrap_or_default()
    }

    /// The set without the routes `ids` (e.g. a benchmark that loads a store with a
    /// system's live routes off, as before the system was connected).
    pub fn without(mut self, ids: &[&str]) -> RouteSet {
        self.routes.retain(|id, _| !ids.contains(&id.as_str()));
        for list in self.by_event.values_mut() {
            list.retain(|id| !ids.contains(&id.as_str()));
        }
        self.by_event.retain(|_, list| !list.is_empty());
        self.by_path.retain(|_, id| !ids.contains(&id.as_str()));
        self
    }

    /// The values the event routes fed by `event` match `field` on (e.g. the
    /// Beskedfordeler message types the routes subscribe to), with their routes.
    pub fn matched_values(&self, event: &str, field: &str) -> Vec<(String, String)> {
        self.for_event(event)
            .into_iter()
            .filter_map(|r| match &r.source {
                SourceConfig::Event { matches, .. } => {
                    matches.get(field).map(|v| (v.clone(), r.id.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// The routes that deliver each correlation id's messages in order.
    pub fn ordered(&self) -> Vec<String> {
        self.routes
            .values()
            .filter(|r| r.ordered)
            .map(|r| r.id.clone())
            .collect()
    }

    /// The ids of the routes that deliver through any of `adapters`: where a receiver's
    /// confirmation looks for the message it confirms.
    pub fn delivered_by(&self, adapters: &[&str]) -> Vec<String> {
        self.routes
            .values()
            .filter(|r| adapters.contains(&r.adapter.as_str()))
            .map(|r| r.id.clone())
            .collect()
    }

    /// The route serving an inbound HTTP path.
    pub fn for_path(&self, path: &str) -> Option<&Arc<Route>> {
        self.by_path.get(path).and_then(|id| self.routes.get(id))
    }

    /// The context templates see: `event`, `message.id`, `route.id`, `now`, `links`
    /// (the environment profile's link targets, such as the case page) and
    /// `municipality.cvr` (the CVR number the profile acts for on Serviceplatformen).
    pub fn context(
        &self,
        route: &Route,
        input: &serde_json::Value,
        message_id: MessageId,
        now: &str,
    ) -> Result<tera::Context, TransformError> {
        let value = serde_json::json!({
            "event": input,
            "message": { "id": message_id.to_string() },
            "route": { "id": route.id },
            "now": now,
            "links": self.environment.links,
            "municipality": {
                "cvr": self.environment.serviceplatformen.as_ref().map(|p| p.cvr.as_str()),
            },
        });
        tera::Context::from_value(value).map_err(|e| TransformError::Input(e.to_string()))
    }

    /// Runs the route's filter, keys and template over `input`. `None` when the filter
    /// turned the input away.
    pub fn render(
        &self,
        route: &Route,
        input: &serde_json::Value,
        message_id: MessageId,
        now: &str,
    ) -> Result<Option<Rendered>, TransformError> {
        if let SourceConfig::Event { matches, .. } = &route.source
            && !matches
                .iter()
                .all(|(field, value)| input.get(field).and_then(|v| v.as_str()) == Some(value))
        {
            return Ok(None);
        }
        let ctx = self.context(route, input, message_id, now)?;
        if route.has_filter {
            let verdict = transform::render(&self.tera, &expr_name(&route.id, "filter"), &ctx)?;
            if verdict.trim() != "true" {
                return Ok(None);
            }
        }
        let key = transform::render(&self.tera, &expr_name(&route.id, "idempotency_key"), &ctx)?;
        let key = key.trim();
        if key.is_empty() {
            return Err(TransformError::Render {
                name: expr_name(&route.id, "idempotency_key"),
                message: "the idempotency key rendered empty".into(),
            });
        }
        let correlation_id = if route.has_correlation {
            let c = transform::render(&self.tera, &expr_name(&route.id, "correlation_id"), &ctx)?;
            Some(c.trim().to_string()).filter(|c| !c.is_empty())
        } else {
            None
        };
        let payload = transform::render(&self.tera, &route.template, &ctx)?.into_bytes();
        if let Some(xsd) = &route.xsd {
            transform::xsd::validate(xsd, &payload)?;
        }
        Ok(Some(Rendered {
            idempotency_key: IdempotencyKey::new(key),
            correlation_id,
            payload,
        }))
    }
}
