//! `knudepunkt serve`

use std::process::ExitCode;

use anyhow::Context as _;

use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Address for inbound routes, the operator API and /metrics.
    #[arg(long, env = "KNUDEPUNKT_LISTEN", default_value = "127.0.0.1:8700")]
    pub listen: String,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine().await?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let core = ctx.case_core(&engine).await?;
    let auth = ctx.authenticator()?;
    let schedules = crate::jobs::schedules_checked(ctx)?;
    let (jobs, missing) = crate::jobs::build(&engine, &core);
    for (job, why) in &missing {
        tracing::warn!(job = %job, reason = %why, "a job cannot run in this environment");
    }
    let status = status_receiver(&engine).await?;
    let workers = engine.start();
    let dueslag = crate::setup::beskedfordeler_dueslag(&engine);
    let queues = knudepunkt_adapters::amqp_source::start(&engine);
    let reconciler = tokio::spawn(reconcile(core.clone()));
    let (stop_schedules, schedules_stopped) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(knudepunkt_engine::schedule::run(
        engine.journal().clone(),
        schedules,
        jobs,
        schedules_stopped,
    ));
    eprintln!(
        "knudepunkt serving on http://{addr} ({} environment, {} routes, journal {}, transport {}); {}; {}",
        engine.routes().environment.name,
        engine.routes().routes().count(),
        crate::setup::redact_url(&ctx.database_url),
        match &crate::setup::engine_options()?.amqp {
            Some(a) => format!("RabbitMQ at {}", a.describe()),
            None => "embedded (the journal is the queue)".into(),
        },
        knudepunkt_engine::schema_dir::describe(&engine.routes().schema_dir),
        match &status {
            Some((a, _)) => format!(
                "Digital Post statuses on https://{a}{} and Fordelingskomponent receipts on https://{a}{} (mTLS)",
                knudepunkt_adapters::digital_post::STATUS_PATH,
                knudepunkt_adapters::fordeling::KVITTERING_PATH
            ),
            None => "no receiver for Serviceplatformen's statuses and receipts (the profile has no status_receiver)".into(),
        }
    );
    let app = knudepunkt_engine::server::router(engine.clone())
        .merge(knudepunkt_case::api::router(core.clone(), auth))
        .merge(certificate_health(
            engine.routes().environment.serviceplatformen.clone(),
        ))
        .merge(sts_health(&engine.routes().environment))
        .merge(crate::setup::medcom_access_point(&engine, &core));
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await?;
    tracing::info!("stopping: deliveries in flight finish, prefetched work goes back to the queue");
    reconciler.abort();
    if let Some((_, receiver)) = status {
        receiver.abort();
    }
    let _ = stop_schedules.send(true);
    let _ = scheduler.await;
    if let Some((stop, task)) = dueslag {
        let _ = stop.send(true);
        let _ = task.await;
    }
    if let Some((stop, tasks)) = queues {
        let _ = stop.send(true);
        for t in tasks {
            let _ = t.await;
        }
    }
    engine.shutdown(workers).await;
    engine.journal().close().await;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (a service manager, a container runtime) or SIGINT (Ctrl-C).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// PostStatusBeskedModtag over mTLS, where the profile's `status_receiver` says; none
/// without one (a status receiver is never served without client certificates).
async fn status_receiver(
    engine: &knudepunkt_engine::Engine,
) -> anyhow::Result<Option<(std::net::SocketAddr, tokio::task::JoinHandle<()>)>> {
    let Some(receiver) = engine
        .routes()
        .environment
        .serviceplatformen
        .as_ref()
        .and_then(|p| p.status_receiver.as_ref())
    else {
        return Ok(None);
    };
    let served =
        knudepunkt_adapters::digital_post::status::serve_receiver(engine.clone(), receiver).await?;
    Ok(Some(served))
}

/// Follows letters and dead letters back to their cases every couple of seconds.
async fn reconcile(core: knudepunkt_case::CaseCore) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tick.tick().await;
        if let Err(e) = core.reconcile().await {
            tracing::warn!(error = %e, "reconciling letters with the journal failed");
        }
    }
}

/// `GET /healthz/certificates`: every certificate of the profile with its days left;
/// 503 when one has expired or cannot be read, 200 otherwise (expiring soon included, as
/// a warning in the body).
fn certificate_health(
    profile: Option<knudepunkt_engine::environment::ServiceplatformenProfile>,
) -> axum::Router {
    use axum::http::StatusCode;
    use knudepunkt_adapters::serviceplatformen::profile::{self, CertificateStatus};
    axum::Router::new().route(
        "/healthz/certificates",
        axum::routing::get(move || {
            let profile = profile.clone();
            async move {
                let reports = profile.as_ref().map(profile::check).unwrap_or_default();
                let failing = reports.iter().any(|r| {
                    matches!(
                        r.status,
                        CertificateStatus::Expired | CertificateStatus::Unreadable
                    )
                });
                let status = if failing {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                };
                (
                    status,
                    axum::Json(serde_json::json!({ "certificates": reports })),
                )
            }
        }),
    )
}

/// The STS client the profile configures, if it has a Serviceplatformen section whose
/// certificates load. The private key stays in this process's memory.
fn sts_client(
    env: &knudepunkt_engine::Environment,
) -> Option<Result<std::sync::Arc<knudepunkt_adapters::sts::client::StsClient>, String>> {
    env.serviceplatformen.as_ref()?;
    Some(knudepunkt_adapters::serviceplatformen_client(env).map(|(client, _)| client))
}

#[derive(serde::Deserialize)]
struct StsProbe {
    /// The service to ask a token for.
    entity_id: Option<String>,
}

/// `GET /healthz/sts?entity_id=...`: whether a token can be had from the STS with the
/// profile's client certificate (cached like every token), and until when.
fn sts_health(env: &knudepunkt_engine::Environment) -> axum::Router {
    use axum::http::StatusCode;
    let client = sts_client(env);
    let cvr = env
        .serviceplatformen
        .as_ref()
        .map(|p| p.cvr.clone())
        .unwrap_or_default();
    axum::Router::new().route(
        "/healthz/sts",
        axum::routing::get(move |axum::extract::Query(probe): axum::extract::Query<StsProbe>| {
            let client = client.clone();
            let cvr = cvr.clone();
            async move {
                let entity = probe
                    .entity_id
                    .unwrap_or_else(|| "http://stoettesystemerne.dk/service/organisation/3".into());
                match client {
                    None => (
                        StatusCode::NOT_FOUND,
                        axum::Json(serde_json::json!({"detail": "this profile has no serviceplatformen section"})),
                    ),
                    Some(Err(e)) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(serde_json::json!({"detail": format!("the client certificate does not load: {e}")})),
                    ),
                    Some(Ok(client)) => match client.saml_token(&entity, &cvr).await {
                        Ok(t) => (
                            StatusCode::OK,
                            axum::Json(serde_json::json!({"entity_id": entity, "assertion_id": t.id, "expires": t.not_on_or_after})),
                        ),
                        Err(e) => {
                            tracing::warn!(error = %e, entity_id = %entity, "no STS token");
                            (
                                StatusCode::SERVICE_UNAVAILABLE,
                                axum::Json(serde_json::json!({"entity_id": entity, "detail": e.to_string()})),
                            )
                        }
                    },
                }
            }
        }),
    )
}
