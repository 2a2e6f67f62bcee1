//! An engine, the sandbox and the HTTP server in one process, for `demo` and `bench`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use knudepunkt_adapters::sandbox::{self, SandboxHandles};
use knudepunkt_case::document_files::DocumentStore;
use knudepunkt_case::{CaseCore, Limits};
use knudepunkt_engine::{Engine, EngineOptions, Journal, RouteSet};

use crate::setup::Context;

/// The demo and the bench run as the dev environment: callers may name themselves in
/// the X-Knudepunkt-User header.
fn ctx_dev_auth() -> Arc<knudepunkt_case::api::SignedTokens> {
    let secret: [u8; 32] = rand::random();
    Arc::new(knudepunkt_case::api::SignedTokens::new(&secret, true))
}

pub struct Stack {
    pub engine: Engine,
    /// The case core on the same journal, seeded with the default organisation.
    pub core: CaseCore,
    pub sandbox: SandboxHandles,
    pub sandbox_addr: SocketAddr,
    pub server_addr: SocketAddr,
    pub workers: Option<tokio::task::JoinHandle<()>>,
    /// The Beskedfordeler dueslag consumer, when a broker is there.
    dueslag: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
    _env_dir: TempDir,
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Changes to the stack a benchmark asks for.
#[derive(Default)]
pub struct Tweaks {
    /// Text replaced in the dev profile before the sandbox's address is put in, e.g. an
    /// endpoint's URL pointed at a sandbox in a process of its own.
    pub profile: Vec<(String, String)>,
    /// Routes left out.
    pub without_routes: Vec<&'static str>,
    /// Where documents' contents are kept (the database unless a benchmark says).
    pub documents: DocumentStore,
}

impl Stack {
    /// Starts the sandbox on a free loopback port, points a dev profile at it, opens a
    /// fresh journal at `database_url`, and starts engine and server.
    pub async fn start(
        ctx: &Context,
        database_url: &str,
        options: EngineOptions,
    ) -> anyhow::Result<Stack> {
        Self::start_with(ctx, database_url, options, Tweaks::default()).await
    }

    /// [`Stack::start`] with `tweaks`.
    pub async fn start_with(
        ctx: &Context,
        database_url: &str,
        options: EngineOptions,
        tweaks: Tweaks,
    ) -> anyhow::Result<Stack> {
        let (router, handles) = sandbox::router();
        let (sandbox_addr, _) = sandbox::serve("127.0.0.1:0", router).await?;
        let env_dir = TempDir(std::env::temp_dir().join(format!(
            "knudepunkt-env-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7()
        )));
        std::fs::create_dir_all(&env_dir.0)?;
        // The in-process sandbox's certificates, where the dev profile looks for them.
        let certs = env_dir.0.join("certs");
        knudepunkt_adapters::sandbox::certs::SandboxCertificates::shared()
            .write(&certs, "sandbox")?;
        let mut dev = std::fs::read_to_string(ctx.root.join("environments/dev.yaml"))
            .context("reading environments/dev.yaml")?;
        for (from, to) in &tweaks.profile {
            dev = dev.replace(from, to);
        }
        std::fs::write(
            env_dir.0.join("dev.yaml"),
            dev.replace(
                "${KNUDEPUNKT_SANDBOX_URL:-http://127.0.0.1:8790}",
                &format!("http://{sandbox_addr}"),
            )
            .replace("${KNUDEPUNKT_STATUS_LISTEN:-127.0.0.1:8701}", "127.0.0.1:0")
            .replace(
                "${KNUDEPUNKT_SANDBOX_CERTS:-data/sandbox-certs}",
                &certs.display().to_string(),
            )
            .replace(
                "password_env: KNUDEPUNKT_CLIENT_CERT_PASSWORD",
                "password_env: KNUDEPUNKT_STACK_UNSET_PASSWORD",
            ),
        )?;
        let mut opts = ctx.load_options();
        opts.environment = "dev".into();
        opts.environments_dir = env_dir.0.clone();
        let loaded = match RouteSet::load(&opts) {
            Ok(r) => r.without(&tweaks.without_routes),
            Err(diags) => {
                for d in &diags {
                    eprintln!("{d}");
                }
                bail!("the route configuration has {} problem(s)", diags.len());
            }
        };
        // Beskedfordeler is AMQP: without a broker its routes are off here, and said so.
        use knudepunkt_adapters::beskedfordeler as bf;
        let broker = match bf::dueslag_of(&loaded.environment) {
            Some((url, queue)) if bf::reachable(&url).await => Some((url, queue)),
            Some((url, _)) => {
                eprintln!(
                    "(no RabbitMQ at {}: the Beskedfordeler routes are off in this run)",
                    knudepunkt_engine::redact_url(&url)
                );
                None
            }
            None => None,
        };
        // The Fordelingskomponent's files go by SFTP: without the sandbox server its
        // route is off here, and said so.
        use knudepunkt_adapters::fordeling;
        let sftp = match loaded.environment.endpoint("fordeling-sftp") {
            Some(ep) => match fordeling::sftp::Target::of(ep) {
                Ok(t) => fordeling::sftp::reachable(&t).await,
                Err(_) => false,
            },
            None => false,
        };
        if !sftp {
            eprintln!(
                "(no SFTP server for the Fordelingskomponent (scripts/sftp): its route is off in this run)"
            );
        }
        // The published events go to the municipality's RabbitMQ: without one, off too.
        use knudepunkt_adapters::events;
        let events_broker = match loaded.environment.endpoint("events-broker") {
            Some(ep) => bf::reachable(&ep.url).await,
            None => false,
        };
        if !events_broker {
            eprintln!("(no RabbitMQ for the published events: their route is off in this run)");
        }
        let off: Vec<String> = loaded
            .routes()
            .filter(|r| {
                (!events_broker && r.adapter == events::ADAPTER)
                    || (broker.is_none()
                    && (r.adapter == bf::publisher::ADAPTER
                        || matches!(&r.source, knudepunkt_engine::route::SourceConfig::Event { name, .. }
                            if name.iter().any(|n| n == bf::RECEIVED_EVENT))))
                    || (!sftp && r.adapter == fordeling::ADAPTER)
            })
            .map(|r| r.id.clone())
            .collect();
        let off: Vec<&str> = off.iter().map(String::as_str).collect();
        let routes = Arc::new(loaded.without(&off));
        let journal = Journal::open(database_url).await?;
        let mut adapters = knudepunkt_adapters::registry_for(&routes.environment);
        adapters.defer(knudepunkt_case::inbound::ADAPTER);
        let engine = Engine::new(journal, routes, adapters, options);
        let core = CaseCore::open_with(engine.clone(), Limits::default(), tweaks.documents.clone())
            .await?;
        core.seed_default_org().await?;
        crate::cpr_register::attach(&core, &engine.routes().environment);
        crate::dubu_source::attach(&core, &engine.routes().environment);
        let workers = engine.start();
        let dueslag = match &broker {
            Some((url, queue)) => {
                handles
                    .beskedfordeler
                    .attach(url, &[queue.as_str()])
                    .await
                    .map_err(anyhow::Error::msg)?;
                let service = format!("http://{sandbox_addr}/beskedfordeler/abonnementer");
                let wanted = bf::subscriptions::desired(engine.routes(), queue);
                bf::subscriptions::reconcile(
                    &knudepunkt_adapters::http::client(),
                    &service,
                    queue,
                    &wanted,
                    false,
                )
                .await
                .map_err(anyhow::Error::msg)?;
                crate::setup::beskedfordeler_dueslag(&engine)
            }
            None => None,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let server_addr = listener.local_addr()?;
        let app = knudepunkt_engine::server::router(engine.clone())
            .merge(knudepunkt_case::api::router(core.clone(), ctx_dev_auth()))
            .merge(crate::setup::medcom_access_point(&engine, &core));
        let receiver = engine
            .routes()
            .environment
            .serviceplatformen
            .as_ref()
            .and_then(|p| p.status_receiver.as_ref())
            .context("the dev profile has no status_receiver")?;
        let (status_addr, _) =
            knudepunkt_adapters::digital_post::status::serve_receiver(engine.clone(), receiver)
                .await?;
        handles.digital_post.push_statuses_to(
            &format!(
                "https://{status_addr}{}",
                knudepunkt_adapters::digital_post::STATUS_PATH
            ),
            std::time::Duration::from_millis(100),
        );
        handles.fordeling.kvitteringer_to(
            &format!(
                "https://{status_addr}{}",
                knudepunkt_adapters::fordeling::KVITTERING_PATH
            ),
            std::time::Duration::from_millis(100),
        );
        handles.dst.status_to(
            &format!("http://{server_addr}/in/dst/status"),
            std::time::Duration::from_millis(100),
        );
        handles
            .edoc
            .events_to(&format!("http://{server_addr}/in/edoc/haendelser"));
        handles.medcom.deliver_to(&format!(
            "http://{server_addr}{}",
            knudepunkt_adapters::medcom::INBOUND_PATH
        ));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Stack {
            engine,
            core,
            sandbox: handles,
            sandbox_addr,
            server_addr,
            workers: Some(workers),
            dueslag,
            _env_dir: env_dir,
        })
    }

    pub async fn stop(mut self) {
        if let Some((stop, task)) = self.dueslag.take() {
            let _ = stop.send(true);
            let _ = task.await;
        }
        if let Some(w) = self.workers.take() {
            self.engine.shutdown(w).await;
        }
        self.engine.journal().close().await;
    }
}

/// A fresh SQLite journal file under `data/`, removed first if it exists.
pub fn fresh_sqlite(name: &str) -> String {
    let url = format!("sqlite://{}", PathBuf::from("data").join(name).display());
    knudepunkt_engine::journal::remove_sqlite_database(&url);
    url
}
