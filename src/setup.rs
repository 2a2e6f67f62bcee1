//! Building the engine from the project's configuration.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use knudepunkt_case::api::SignedTokens;
use knudepunkt_case::document_files::{DocumentFiles, DocumentStore};
use knudepunkt_case::{CaseCore, Limits};
use knudepunkt_engine::route::{Diagnostic, LoadOptions};
use knudepunkt_engine::{Engine, EngineOptions, Journal, RouteSet};

pub struct Context {
    pub root: std::path::PathBuf,
    pub environment: String,
    pub database_url: String,
    pub json: bool,
}

impl Context {
    pub fn load_options(&self) -> LoadOptions {
        let mut adapters = knudepunkt_adapters::registry();
        adapters.defer(knudepunkt_case::inbound::ADAPTER);
        LoadOptions::under(&self.root, &self.environment, adapters.names())
    }

    pub fn load_routes(&self) -> Result<Arc<RouteSet>, Vec<Diagnostic>> {
        RouteSet::load(&self.load_options()).map(Arc::new)
    }

    pub async fn journal(&self) -> anyhow::Result<Journal> {
        Journal::open(&self.database_url)
            .await
            .with_context(|| format!("opening the journal at {}", redact_url(&self.database_url)))
    }

    pub async fn engine(&self) -> anyhow::Result<Engine> {
        let routes = match self.load_routes() {
            Ok(r) => r,
            Err(diags) => {
                for d in &diags {
                    eprintln!("{d}");
                }
                bail!(
                    "{} problem(s) in the route configuration; see `knudepunkt route validate`",
                    diags.len()
                );
            }
        };
        let journal = self.journal().await?;
        let mut adapters = knudepunkt_adapters::registry_for(&routes.environment);
        // The case core supplies it when it opens (`Context::case_core`).
        adapters.defer(knudepunkt_case::inbound::ADAPTER);
        Ok(Engine::new(journal, routes, adapters, engine_options()?))
    }
}

impl Context {
    /// The case core on the engine's database; in the dev environment it gets the
    /// default organisation (master data fills it elsewhere).
    pub async fn case_core(&self, engine: &Engine) -> anyhow::Result<CaseCore> {
        let mut limits = Limits::default();
        if let Some(max) = std::env::var("KNUDEPUNKT_MAX_DOCUMENT_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            limits.max_document_bytes = max;
        }
        let core = CaseCore::open_with(engine.clone(), limits, document_store()?)
            .await
            .context("opening the case core")?;
        if self.environment == "dev" {
            core.seed_default_org()
                .await
                .context("seeding the default organisation")?;
        }
        crate::cpr_register::attach(&core, &engine.routes().environment);
        crate::dubu_source::attach(&core, &engine.routes().environment);
        Ok(core)
    }

    /// How API callers authenticate: bearer tokens signed with KNUDEPUNKT_AUTH_SECRET
    /// (held in memory only). In dev, without a secret, a random one is made and the
    /// X-Knudepunkt-User header is accepted too.
    pub fn authenticator(&self) -> anyhow::Result<Arc<SignedTokens>> {
        let dev = self.environment == "dev";
        match std::env::var("KNUDEPUNKT_AUTH_SECRET") {
            Ok(secret) if secret.len() >= 32 => {
                Ok(Arc::new(SignedTokens::new(secret.as_bytes(), dev)))
            }
            Ok(_) => bail!("KNUDEPUNKT_AUTH_SECRET must be at least 32 characters"),
            Err(_) if dev => {
                let secret: [u8; 32] = rand::random();
                Ok(Arc::new(SignedTokens::new(&secret, true)))
            }
            Err(_) => bail!(
                "KNUDEPUNKT_AUTH_SECRET is required in the {} environment (bearer tokens are signed with it)",
                self.environment
            ),
        }
    }
}

/// Where documents' contents are kept: as files under KNUDEPUNKT_DOCUMENT_FILES when it
/// is set, else in the database.
pub fn document_store() -> anyhow::Result<DocumentStore> {
    match std::env::var_os("KNUDEPUNKT_DOCUMENT_FILES") {
        Some(dir) if !dir.is_empty() => Ok(DocumentStore::Files(Arc::new(
            DocumentFiles::open(&dir)
                .with_context(|| format!("KNUDEPUNKT_DOCUMENT_FILES={}", dir.to_string_lossy()))?,
        ))),
        _ => Ok(DocumentStore::Database),
    }
}

fn env_ms(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}

/// Engine options, with overrides from KNUDEPUNKT_CONCURRENCY, KNUDEPUNKT_LEASE_MS and
/// KNUDEPUNKT_POLL_MS, and the RabbitMQ transport when KNUDEPUNKT_AMQP_URL is set
/// (KNUDEPUNKT_AMQP_PREFETCH).
pub fn engine_options() -> anyhow::Result<EngineOptions> {
    let mut o = EngineOptions {
        amqp: knudepunkt_engine::transport::AmqpOptions::from_env()?,
        ..EngineOptions::default()
    };
    if let Some(c) = std::env::var("KNUDEPUNKT_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
    {
        o.concurrency = c;
    }
    if let Some(l) = env_ms("KNUDEPUNKT_LEASE_MS") {
        o.lease = l;
    }
    if let Some(p) = env_ms("KNUDEPUNKT_POLL_MS") {
        o.poll_interval = p;
    }
    Ok(o)
}

pub use knudepunkt_engine::redact_url;

/// Knudepunkt's MedCom access point, refusing letters about citizens the case core does
/// not serve (a negative receipt).
pub fn medcom_access_point(
    engine: &knudepunkt_engine::Engine,
    core: &knudepunkt_case::CaseCore,
) -> axum::Router {
    let core = core.clone();
    let patients: knudepunkt_adapters::medcom::access_point::Patients =
        std::sync::Arc::new(move |cpr: String| {
            let core = core.clone();
            Box::pin(async move { core.serves_citizen(&cpr).await.map_err(|e| e.to_string()) })
        });
    knudepunkt_adapters::medcom::access_point::router_with(engine.clone(), Some(patients))
}

/// Takes messages from the Beskedfordeler dueslag the profile names, until the switch is
/// thrown; `None` when the profile names none.
pub fn beskedfordeler_dueslag(
    engine: &Engine,
) -> Option<(
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
)> {
    use knudepunkt_adapters::beskedfordeler as bf;
    let env = &engine.routes().environment;
    let endpoint = env.endpoint(bf::DUESLAG_ENDPOINT)?;
    let queue = endpoint.queue.clone()?;
    let broker = bf::amqp::Broker::of(endpoint, &knudepunkt_adapters::access_for(env));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(bf::dueslag::run(engine.clone(), broker, queue, stopped));
    Some((stop, task))
}
