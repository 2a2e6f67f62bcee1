//! Loading and validating route files. Every problem is collected with its file and
//! line, so `route validate` shows them all at once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::{RouteConfig, RouteFile, SourceConfig};
use super::{Diagnostic, OPTION_ENDPOINT_SUFFIX, Route, RouteSet, examples, expr_name};
use crate::environment::{ENVIRONMENTS, Environment};
use crate::schema_dir::SchemaDir;
use crate::transform::{self, error_chain};

/// Where the configuration lives and what it is checked against.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub routes_dir: PathBuf,
    pub mappings_dir: PathBuf,
    pub environments_dir: PathBuf,
    pub environment: String,
    pub schema_dir: Option<SchemaDir>,
    /// Adapters the running binary has.
    pub adapters: Vec<String>,
}

impl LoadOptions {
    /// The standard layout under a project root.
    pub fn under(root: &Path, environment: &str, adapters: Vec<String>) -> Self {
        LoadOptions {
            routes_dir: root.join("routes"),
            mappings_dir: root.join("mappings"),
            environments_dir: root.join("environments"),
            environment: environment.to_string(),
            schema_dir: crate::schema_dir::locate(),
            adapters,
        }
    }
}

struct Ctx {
    diags: Vec<Diagnostic>,
}

impl Ctx {
    fn at(&mut self, file: &Path, line: u64, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: file.display().to_string(),
            line,
            column: 0,
            message: message.into(),
        });
    }
}

pub(crate) fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

impl RouteSet {
    /// Loads every route file, its templates and the environment profile. Returns all
    /// problems found, not just the first.
    pub fn load(opts: &LoadOptions) -> Result<RouteSet, Vec<Diagnostic>> {
        let mut cx = Ctx { diags: Vec::new() };
        let environment = match Environment::load(&opts.environments_dir, &opts.environment) {
            Ok(env) => Some(env),
            Err(e) => {
                let text = e.to_string();
                let (file, line, message) =
                    split_location(&text, &opts.environments_dir, &opts.environment);
                cx.diags.push(Diagnostic {
                    file,
                    line,
                    column: 0,
                    message,
                });
                None
            }
        };

        let mut tera = transform::new_tera();
        let templates = transform::template_files(&opts.mappings_dir);
        let mut template_ok: HashMap<String, bool> = HashMap::new();
        let mut texts = Vec::new();
        for (name, path) in &templates {
            match std::fs::read_to_string(path) {
                Ok(text) => texts.push((name, path, text)),
                Err(e) => {
                    cx.at(path, 1, format!("cannot read template: {e}"));
                    template_ok.insert(name.clone(), false);
                }
            }
        }
        // A template that imports macros needs them in Tera first: those that import
        // nothing go first.
        texts.sort_by_key(|(_, _, text)| imports_macros(text));
        for (name, path, text) in texts {
            let ok = match tera.add_raw_template(name, &text) {
                Ok(()) => true,
                Err(e) => {
                    cx.at(
                        path,
                        tera_line(&e),
                        format!("template does not parse: {}", error_chain(&e)),
                    );
                    false
                }
            };
            template_ok.insert(name.clone(), ok);
        }

        if !opts.routes_dir.is_dir() {
            cx.at(&opts.routes_dir, 0, "routes directory does not exist");
        }
        let mut seen: HashMap<String, (PathBuf, u64)> = HashMap::new();
        let mut paths: HashMap<String, String> = HashMap::new();
        let mut routes = BTreeMap::new();
        for file in yaml_files(&opts.routes_dir) {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    cx.at(&file, 0, format!("cannot read: {e}"));
                    continue;
                }
            };
            let parsed: RouteFile = match serde_saphyr::from_str(&text) {
                Ok(p) => p,
                Err(e) => {
                    cx.diags.push(super::yaml_diagnostic(&file, &e));
                    continue;
                }
            };
            for rc in parsed.routes {
                if let Some(route) = check_route(
                    &mut cx,
                    &file,
                    rc,
                    opts,
                    environment.as_ref(),
                    &template_ok,
                    &mut tera,
                    &mut seen,
                    &mut paths,
                ) {
                    routes.insert(route.id.clone(), Arc::new(route));
                }
            }
        }

        let mut warnings = Vec::new();
        if opts.schema_dir.is_none() && routes.values().any(|r: &Arc<Route>| r.xsd.is_some()) {
            warnings.push(Diagnostic {
                file: opts.routes_dir.display().to_string(),
                line: 0,
                column: 0,
                message: crate::schema_dir::describe(&None),
            });
        }
        let Some(environment) = environment else {
            return Err(cx.diags);
        };
        let mut by_event: HashMap<String, Vec<String>> = HashMap::new();
        let mut by_path = HashMap::new();
        for r in routes.values() {
            match &r.source {
                SourceConfig::Event { name, .. } => {
                    for n in name.iter() {
                        by_event
                            .entry(n.to_string())
                            .or_default()
                            .push(r.id.clone())
                    }
                }
                SourceConfig::Http(h) => {
                    by_path.insert(h.path.clone(), r.id.clone());
                }
                SourceConfig::Amqp(_) => {}
            }
        }
        let set = RouteSet {
            routes,
            tera,
            by_event,
            by_path,
            environment,
            mappings_dir: opts.mappings_dir.clone(),
            schema_dir: opts.schema_dir.clone(),
            warnings,
        };
        // Templates that fail to render on their own examples are configuration errors.
        for failure in examples::run(&set, &opts.mappings_dir).failures_that_break_rendering() {
            cx.diags.push(failure);
        }
        if cx.diags.is_empty() {
            Ok(set)
        } else {
            Err(cx.diags)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_route(
    cx: &mut Ctx,
    file: &Path,
    rc: RouteConfig,
    opts: &LoadOptions,
    env: Option<&Environment>,
    template_ok: &HashMap<String, bool>,
    tera: &mut tera::Tera,
    seen: &mut HashMap<String, (PathBuf, u64)>,
    paths: &mut HashMap<String, String>,
) -> Option<Route> {
    let before = cx.diags.len();
    let id = rc.id.value.clone();
    let line = rc.id.referenced.line();
    if id.trim().is_empty() || id.contains(char::is_whitespace) {
        cx.at(
            file,
            line,
            format!("route id {id:?} must be one word, like digitalpost.letter"),
        );
    }
    if let Some((other, other_line)) = seen.get(&id) {
        cx.at(
            file,
            line,
            format!(
                "route id {id:?} is already used at {}:{other_line}",
                other.display()
            ),
        );
    } else {
        seen.insert(id.clone(), (file.to_path_buf(), line));
    }
    if let Some(envs) = &rc.enabled_in {
        for e in &envs.value {
            if !ENVIRONMENTS.contains(&e.as_str()) {
                cx.at(
                    file,
                    envs.referenced.line(),
                    format!("route {id}: enabled_in names unknown environment {e:?} (dev, test, preprod, prod)"),
                );
            }
        }
        if !envs.value.contains(&opts.environment) {
            // Not part of this environment: checked for syntax only.
            return None;
        }
    }
    if let SourceConfig::Http(h) = &rc.source.value {
        let sline = rc.source.referenced.line();
        if !h.path.starts_with('/') {
            cx.at(
                file,
                sline,
                format!("route {id}: http path {:?} must start with /", h.path),
            );
        } else if let Some(other) = paths.insert(h.path.clone(), id.clone()) {
            cx.at(
                file,
                sline,
                format!(
                    "route {id}: http path {} is already served by route {other}",
                    h.path
                ),
            );
        }
    }
    if let SourceConfig::Amqp(a) = &rc.source.value {
        let sline = rc.source.referenced.line();
        if a.queue.trim().is_empty() {
            cx.at(
                file,
                sline,
                format!("route {id}: amqp queue must not be empty"),
            );
        }
        if a.prefetch == 0 {
            cx.at(
                file,
                sline,
                format!("route {id}: amqp prefetch must be at least 1"),
            );
        }
        let known = env
            .map(|e| e.endpoint(&a.endpoint).is_some())
            .unwrap_or(true);
        if !known {
            cx.at(
                file,
                sline,
                format!(
                    "route {id}: amqp endpoint {:?} is not in the {} profile",
                    a.endpoint, opts.environment
                ),
            );
        }
    }
    let template = rc.transform.template.value.clone();
    match template_ok.get(&template) {
        None => cx.at(
            file,
            rc.transform.template.referenced.line(),
            format!(
                "route {id}: template {template:?} not found under {}",
                opts.mappings_dir.display()
            ),
        ),
        Some(false) => cx.at(
            file,
            rc.transform.template.referenced.line(),
            format!("route {id}: template {template:?} does not parse (see its own error)"),
        ),
        Some(true) => {}
    }
    let mut xsd = None;
    if let Some(x) = &rc.transform.xsd {
        // `mappings/...` is one of the project's own models (a format with no public
        // schema), always at hand; anything else is under the schema directory, and
        // without one validation is off (load() says so once).
        let path = match x.value.strip_prefix("mappings/") {
            Some(own) => Some(opts.mappings_dir.join(own)),
            None => opts.schema_dir.as_ref().map(|dir| dir.path.join(&x.value)),
        };
        if let Some(path) = path {
            match transform::xsd::check_schema(&path) {
                Ok(()) => xsd = Some(path),
                Err(e) => cx.at(
                    file,
                    x.referenced.line(),
                    format!("route {id}: xsd {:?}: {e}", x.value),
                ),
            }
        }
    }
    if !opts.adapters.contains(&rc.deliver.adapter.value) {
        cx.at(
            file,
            rc.deliver.adapter.referenced.line(),
            format!(
                "route {id}: unknown adapter {:?} (this build has: {})",
                rc.deliver.adapter.value,
                opts.adapters.join(", ")
            ),
        );
    }
    let endpoint = env.and_then(|env| {
        let ep = env.endpoint(&rc.deliver.endpoint.value).cloned();
        if ep.is_none() {
            cx.at(
                file,
                rc.deliver.endpoint.referenced.line(),
                format!(
                    "route {id}: endpoint {:?} is not defined in the {} profile ({})",
                    rc.deliver.endpoint.value,
                    env.name,
                    env.file.display()
                ),
            );
        }
        ep
    });
    let mut option_endpoints = BTreeMap::new();
    if let Some(env) = env {
        for (key, name) in rc.deliver.options.iter() {
            if !key.ends_with(OPTION_ENDPOINT_SUFFIX) {
                continue;
            }
            match env.endpoint(name) {
                Some(ep) => {
                    option_endpoints.insert(key.clone(), ep.clone());
                }
                None => cx.at(
                    file,
                    rc.deliver.endpoint.referenced.line(),
                    format!(
                        "route {id}: deliver.options.{key} names endpoint {name:?}, which is not defined in the {} profile ({})",
                        env.name,
                        env.file.display()
                    ),
                ),
            }
        }
    }
    let (redelivery, rline) = match &rc.redelivery {
        Some(r) => (r.value.clone(), r.referenced.line()),
        None => (Default::default(), line),
    };
    let r = &redelivery;
    if r.max_attempts == 0 {
        cx.at(
            file,
            rline,
            format!("route {id}: redelivery.max_attempts must be at least 1"),
        );
    }
    if !(r.multiplier >= 1.0 && r.multiplier.is_finite()) {
        cx.at(
            file,
            rline,
            format!(
                "route {id}: redelivery.multiplier must be 1 or more, not {}",
                r.multiplier
            ),
        );
    }
    if !(0.0..1.0).contains(&r.jitter) {
        cx.at(
            file,
            rline,
            format!(
                "route {id}: redelivery.jitter must be from 0 up to 1, not {}",
                r.jitter
            ),
        );
    }
    if r.initial > r.cap {
        cx.at(
            file,
            rline,
            format!("route {id}: redelivery.initial is longer than redelivery.cap"),
        );
    }
    let mut add_expr = |what: &str, src: &str, l: u64| {
        if let Err(e) = tera.add_raw_template(&expr_name(&id, what), src) {
            cx.at(
                file,
                l,
                format!(
                    "route {id}: {what} expression does not parse: {}",
                    error_chain(&e)
                ),
            );
        }
    };
    add_expr(
        "idempotency_key",
        &rc.idempotency_key.value,
        rc.idempotency_key.referenced.line(),
    );
    if let Some(f) = &rc.filter {
        add_expr("filter", &f.value, f.referenced.line());
    }
    if let Some(c) = &rc.correlation_id {
        add_expr("correlation_id", &c.value, c.referenced.line());
    }
    let ordered = rc.ordered.as_ref().is_some_and(|o| o.value);
    if let Some(o) = &rc.ordered
        && o.value
        && rc.correlation_id.is_none()
    {
        cx.at(
            file,
            o.referenced.line(),
            format!(
                "route {id}: ordered delivery keeps the order per correlation id; give the route a correlation_id"
            ),
        );
    }
    if cx.diags.len() > before {
        return None;
    }
    Some(Route {
        id,
        description: rc.description,
        file: file.to_path_buf(),
        line,
        source: rc.source.value,
        template,
        content_type: rc.transform.content_type,
        xsd,
        adapter: rc.deliver.adapter.value,
        adapter_options: rc.deliver.options,
        endpoint_name: rc.deliver.endpoint.value,
        endpoint: endpoint?,
        option_endpoints,
        redelivery,
        dead_letter: rc.dead_letter,
        ordered,
        has_filter: rc.filter.is_some(),
        has_correlation: rc.correlation_id.is_some(),
    })
}

/// Whether a template imports macros from another.
fn imports_macros(text: &str) -> bool {
    text.contains("{% import") || text.contains("{%- import")
}

/// Tera's parse errors carry ` --> LINE:COL`; find the line.
fn tera_line(e: &tera::Error) -> u64 {
    let text = error_chain(e);
    text.split("-->")
        .nth(1)
        .and_then(|rest| rest.trim().split(':').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(1)
}

/// Environment errors already start with `file:line:`; split them for a Diagnostic.
fn split_location(text: &str, dir: &Path, env: &str) -> (String, u64, String) {
    let mut parts = text.splitn(3, ':');
    if let (Some(f), Some(l), Some(rest)) = (parts.next(), parts.next(), parts.next())
        && let Ok(line) = l.trim().parse::<u64>()
    {
        let rest = rest.trim_start();
        // drop a column number if present
        let rest = match rest.split_once(": ") {
            Some((c, m)) if c.parse::<u64>().is_ok() => m,
            _ => rest,
        };
        return (f.to_string(), line, rest.to_string());
    }
    (
        dir.join(format!("{env}.yaml")).display().to_string(),
        0,
        text.to_string(),
    )
}
