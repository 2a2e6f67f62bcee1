//! The RabbitMQ transport, for running several engine instances on one PostgreSQL
//! journal (`KNUDEPUNKT_AMQP_URL`). The journal stays the source of truth; the broker
//! only distributes the work:
//!
//! - the relay ([`relay`]) publishes committed messages' ids to the topic exchange
//!   [`WORK_EXCHANGE`], routing key = route id, with publisher confirms; a message
//!   counts as handed over only once its confirm arrives;
//! - each route has a durable quorum queue ([`queue_for`]); the workers ([`consume`])
//!   take from them with manual acks and a prefetch, claim the journal rows by id, and
//!   ack once the outcome is committed. A message the journal already has as done is
//!   acked and skipped;
//! - a delayed retry is scheduled in the journal (`due_at`): the relay hands the
//!   message to the broker again when it is due;
//! - a message that is dead in the journal is rejected to [`DEAD_EXCHANGE`], where
//!   the queue [`DEAD_QUEUE`] keeps it for operators;
//! - after a failure (the broker restarting, the network) the transport connects
//!   again, waiting longer each time, with no manual step.
//!
//! Routes that keep per-case order (`ordered: true`) stay on the journal's own claims
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), which know what came first.

mod consume;
mod relay;
mod settle;
pub mod status;
mod topology;

pub use topology::declare;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::engine::Inner;

/// Where the relay publishes work, routing key = route id.
pub const WORK_EXCHANGE: &str = "knudepunkt.work";
/// Where messages dead in the journal go.
pub const DEAD_EXCHANGE: &str = "knudepunkt.dead";
/// The queue on [`DEAD_EXCHANGE`] that keeps them for operators (the newest 100,000).
pub const DEAD_QUEUE: &str = "knudepunkt.dead";

/// The durable quorum queue of `route`'s work.
pub fn queue_for(route: &str) -> String {
    format!("knudepunkt.route.{route}")
}

/// How the RabbitMQ transport runs.
#[derive(Clone, Debug)]
pub struct AmqpOptions {
    /// `amqp://user:password@host:port/vhost`.
    pub url: String,
    /// Unacked messages per route's consumer.
    pub prefetch: u16,
    /// A message handed over this long ago and still waiting is handed over again (its
    /// broker message was lost: a queue purged or deleted).
    pub stale_after: Duration,
}

impl AmqpOptions {
    /// From `KNUDEPUNKT_AMQP_URL` (none: the embedded transport),
    /// `KNUDEPUNKT_AMQP_PREFETCH` (default 64) and `KNUDEPUNKT_AMQP_STALE_MS` (default 5
    /// minutes).
    pub fn from_env() -> Result<Option<Self>, TransportError> {
        let Ok(url) = std::env::var("KNUDEPUNKT_AMQP_URL") else {
            return Ok(None);
        };
        if url.trim().is_empty() {
            return Ok(None);
        }
        let prefetch = match std::env::var("KNUDEPUNKT_AMQP_PREFETCH") {
            Err(_) => 64,
            Ok(v) => v.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                TransportError::Config(format!(
                    "KNUDEPUNKT_AMQP_PREFETCH={v:?}: a number from 1 to 65535"
                ))
            })?,
        };
        let stale_after = match std::env::var("KNUDEPUNKT_AMQP_STALE_MS") {
            Err(_) => Duration::from_secs(300),
            Ok(v) => v
                .parse()
                .ok()
                .filter(|ms| *ms >= 1000)
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    TransportError::Config(format!(
                        "KNUDEPUNKT_AMQP_STALE_MS={v:?}: milliseconds, at least 1000"
                    ))
                })?,
        };
        Ok(Some(AmqpOptions {
            url,
            prefetch,
            stale_after,
        }))
    }

    /// The URL without its password, for logs.
    pub fn describe(&self) -> String {
        crate::redact_url(&self.url)
    }
}

#[derive(Debug, Error)]
pub enum TransportError {
    #[error("{0}")]
    Config(String),
    #[error("{what}: {source}")]
    Amqp { what: String, source: lapin::Error },
    #[error("the broker closed {0}")]
    Closed(String),
}

pub(crate) fn amqp(what: impl Into<String>) -> impl FnOnce(lapin::Error) -> TransportError {
    let what = what.into();
    move |source| TransportError::Amqp { what, source }
}

/// Runs the transport until the engine shuts down: connects, declares the topology,
/// relays and consumes; after a failure, connects again (100 ms, doubling to 5 s, with
/// jitter). Returns once every delivery in flight has its outcome committed and acked.
pub(crate) async fn run(inner: Arc<Inner>, opts: AmqpOptions) {
    let permits = Arc::new(Semaphore::new(inner.options.concurrency));
    let mut shutdown = inner.shutdown.subscribe();
    let mut wait = Duration::from_millis(100);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let began = tokio::time::Instant::now();
        match session(&inner, &opts, &permits).await {
            Ok(()) => break,
            Err(e) => {
                inner.live.set_connected(false, 0);
                warn!(error = %e, broker = %opts.describe(), "the RabbitMQ transport lost the broker; connecting again");
            }
        }
        if began.elapsed() > Duration::from_secs(10) {
            wait = Duration::from_millis(100);
        }
        let jitter = rand::random_range(0.8..1.2);
        tokio::select! {
            _ = tokio::time::sleep(wait.mul_f64(jitter)) => {}
            _ = shutdown.changed() => {}
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
    inner.live.set_connected(false, 0);
    // Deliveries in flight (from this session or one lost before) finish first.
    let _ = permits.acquire_many(inner.options.concurrency as u32).await;
}

async fn session(
    inner: &Arc<Inner>,
    opts: &AmqpOptions,
    permits: &Arc<Semaphore>,
) -> Result<(), TransportError> {
    let conn = lapin::Connection::connect(&opts.url, lapin::ConnectionProperties::default())
        .await
        .map_err(amqp(format!("connecting to {}", opts.describe())))?;
    let routes = consume::consumed_routes(&inner.routes);
    topology::declare(&conn, &routes).await?;
    info!(broker = %opts.describe(), routes = routes.len(), prefetch = opts.prefetch, "RabbitMQ transport connected");
    let result = tokio::try_join!(
        relay::run(inner, &conn),
        consume::run(inner, &conn, opts, permits, &routes)
    );
    let _ = conn.close(200, "OK".into()).await;
    result.map(|_| ())
}
