//! Routes whose input is an AMQP queue another system fills (`source.amqp`: the
//! profile's broker endpoint, the queue, a prefetch). Each message's body is JSON and is
//! journaled for the route, whose idempotency key makes a message delivered twice one
//! message; a body that is not JSON goes to the operator inbox with the reason, not to
//! the floor. A message is acked once journaled (or in the inbox), and returned to the
//! queue when the journal cannot be written.

use knudepunkt_engine::route::SourceConfig;
use knudepunkt_engine::{Engine, Outbound};

use crate::beskedfordeler::amqp::Broker;

/// The operator-inbox kind of messages that are not JSON.
pub const INVALID: &str = "amqp.invalid";

/// Takes one message for `route`.
pub async fn take(engine: &Engine, route: &str, body: &[u8]) -> Result<(), String> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(event) => engine
            .submit_now(Outbound {
                route,
                event: &event,
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => {
            use sha2::Digest;
            let reference = format!("{route}:{}", hex::encode(sha2::Sha256::digest(body)));
            let why = format!(
                "route {route}: the message is not JSON: line {} column {}: {e}",
                e.line(),
                e.column()
            );
            engine
                .journal()
                .put_in_inbox(INVALID, &reference, &why, body, "application/octet-stream")
                .await
                .map_err(|e| e.to_string())?;
            tracing::warn!(route = %route, reason = %why, "a queue message that is not JSON is in the operator inbox");
            Ok(())
        }
    }
}

/// Starts a consumer for each route whose source is an AMQP queue; the switch stops
/// them all. `None` when there are none.
pub fn start(
    engine: &Engine,
) -> Option<(
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
)> {
    let env = &engine.routes().environment;
    let access = crate::access_for(env);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for route in engine.routes().routes() {
        let SourceConfig::Amqp(a) = &route.source else {
            continue;
        };
        let Some(endpoint) = env.endpoint(&a.endpoint) else {
            continue;
        };
        let broker = Broker::of(endpoint, &access);
        let id = route.id.clone();
        tasks.push(tokio::spawn(crate::amqp_consumer::run(
            engine.clone(),
            broker,
            a.queue.clone(),
            a.prefetch,
            "a route's queue",
            stopped.clone(),
            async move |engine: &Engine, body: &[u8]| take(engine, &id, body).await,
        )));
    }
    (!tasks.is_empty()).then_some((stop, tasks))
}
