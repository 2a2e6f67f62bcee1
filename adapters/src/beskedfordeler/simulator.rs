//! The sandbox's Beskedfordeler on a vhost of the local RabbitMQ. It takes what systems
//! send to its exchange (`beskedfordeler.afsend`, through the queue
//! `beskedfordeler.modtagelse`), validates each message against `Beskedkuvert.xsd`
//! (what fails goes to its error queue, `beskedfordeler.fejlkoe`), deduplicates on the
//! BeskedId, and puts a copy in the dueslag of every subscription to the message's
//! Beskedtype. Its subscription service is JSON over HTTP
//! (`/beskedfordeler/abonnementer`), and `/beskedfordeler/_sandbox/dueslag/{queue}`
//! places a message in a dueslag directly (as another system's event would arrive).
//! Without a broker the HTTP side still answers; what needs AMQP answers 503.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, ExchangeKind};
use serde::{Deserialize, Serialize};

use super::{AFSEND_EXCHANGE, besked, connect};
use crate::sandbox::{FaultPlan, Recorder, control_router};

/// The Beskedfordeler's intake queue, bound to its exchange.
pub const INTAKE_QUEUE: &str = "beskedfordeler.modtagelse";
/// Where messages that fail validation go.
pub const ERROR_QUEUE: &str = "beskedfordeler.fejlkoe";

/// One subscription: a Beskedtype delivered to a dueslag.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Abonnement {
    pub dueslag: String,
    pub beskedtype: String,
    #[serde(default)]
    pub beskrivelse: String,
}

#[derive(Clone)]
pub struct BeskedfordelerSimulator {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    schema: Option<Arc<PathBuf>>,
    subscriptions: Arc<Mutex<BTreeSet<Abonnement>>>,
    seen: Arc<Mutex<HashSet<String>>>,
    channel: Arc<tokio::sync::RwLock<Option<Channel>>>,
}

impl BeskedfordelerSimulator {
    pub fn new(schema: Option<PathBuf>) -> Self {
        BeskedfordelerSimulator {
            recorder: Arc::new(Recorder::new(200)),
            faults: Arc::new(FaultPlan::default()),
            schema: schema.map(Arc::new),
            subscriptions: Default::default(),
            seen: Default::default(),
            channel: Default::default(),
        }
    }

    /// Connects to the broker at `url` (the vhost), declares the exchange, the intake and
    /// error queues and `dueslag`, purges them, and starts distributing.
    pub async fn attach(&self, url: &str, dueslag: &[&str]) -> Result<(), String> {
        let conn = connect(url).await?;
        let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                AFSEND_EXCHANGE.into(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("declaring {AFSEND_EXCHANGE}: {e}"))?;
        for q in [INTAKE_QUEUE, ERROR_QUEUE].iter().chain(dueslag) {
            channel
                .queue_declare((*q).into(), durable, FieldTable::default())
                .await
                .map_err(|e| format!("declaring {q}: {e}"))?;
            channel
                .queue_purge((*q).into(), QueuePurgeOptions::default())
                .await
                .map_err(|e| format!("purging {q}: {e}"))?;
        }
        channel
            .queue_bind(
                INTAKE_QUEUE.into(),
                AFSEND_EXCHANGE.into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut consumer = channel
            .basic_consume(
                INTAKE_QUEUE.into(),
                "beskedfordeler".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        *self.channel.write().await = Some(channel.clone());
        let sim = self.clone();
        tokio::spawn(async move {
            let _conn = conn;
            while let Some(Ok(delivery)) = consumer.next().await {
                sim.distribute(&channel, &delivery.data).await;
                let _ = delivery.ack(BasicAckOptions::default()).await;
            }
        });
        Ok(())
    }

    /// One message from the intake: validated, deduplicated, copied to the dueslag of
    /// every subscription to its type.
    async fn distribute(&self, channel: &Channel, body: &[u8]) {
        self.recorder.count_request();
        let checked = match &self.schema {
            Some(xsd) => {
                knudepunkt_engine::transform::xsd::validate(xsd, body).map_err(|e| e.to_string())
            }
            None => Ok(()),
        };
        let parsed = checked.and_then(|()| besked::parse(body));
        let besked = match parsed {
            Ok(b) => b,
            Err(why) => {
                tracing::warn!(reason = %why, "sandbox Beskedfordeler: a message went to the error queue");
                self.recorder.count_invalid();
                let _ = publish(channel, ERROR_QUEUE, body, "invalid").await;
                return;
            }
        };
        let (duplicate, _) =
            self.recorder
                .accept(&besked.besked_id, None, Some("application/xml"), body);
        if duplicate
            || !self
                .seen
                .lock()
                .expect("seen")
                .insert(besked.besked_id.clone())
        {
            return;
        }
        for queue in self.dueslag_for(&besked.beskedtype) {
            let _ = publish(channel, &queue, body, &besked.besked_id).await;
        }
    }

    /// The dueslag subscribed to `beskedtype`.
    pub fn dueslag_for(&self, beskedtype: &str) -> Vec<String> {
        self.subscriptions
            .lock()
            .expect("subscriptions")
            .iter()
            .filter(|a| a.beskedtype == beskedtype)
            .map(|a| a.dueslag.clone())
            .collect()
    }

    pub fn subscriptions(&self, dueslag: Option<&str>) -> Vec<Abonnement> {
        self.subscriptions
            .lock()
            .expect("subscriptions")
            .iter()
            .filter(|a| dueslag.is_none_or(|d| a.dueslag == d))
            .cloned()
            .collect()
    }

    pub fn subscribe(&self, a: Abonnement) -> bool {
        let mut subs = self.subscriptions.lock().expect("subscriptions");
        if subs
            .iter()
            .any(|s| s.dueslag == a.dueslag && s.beskedtype == a.beskedtype)
        {
            return false;
        }
        subs.insert(a)
    }

    pub fn unsubscribe(&self, dueslag: &str, beskedtype: &str) -> bool {
        let mut subs = self.subscriptions.lock().expect("subscriptions");
        let before = subs.len();
        subs.retain(|s| !(s.dueslag == dueslag && s.beskedtype == beskedtype));
        before != subs.len()
    }

    /// Puts a message in a dueslag directly, as another system's event arrives there.
    pub async fn put_in_dueslag(&self, queue: &str, body: &[u8]) -> Result<(), String> {
        let channel = self.channel.read().await.clone();
        let channel = channel.ok_or("the sandbox Beskedfordeler has no broker")?;
        let id = besked::parse(body).map(|b| b.besked_id).unwrap_or_default();
        publish(&channel, queue, body, &id).await
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/beskedfordeler/abonnementer",
                get(list_subscriptions).post(add_subscription),
            )
            .route(
                "/beskedfordeler/abonnementer/{dueslag}/{beskedtype}",
                delete(remove_subscription),
            )
            .route(
                "/beskedfordeler/_sandbox/dueslag/{queue}",
                post(put_in_dueslag),
            )
            .with_state(self.clone())
            .nest(
                "/beskedfordeler/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }
}

/// Publishes `body` straight to `queue`, persistent, and waits for the broker's confirm
/// (the channel has confirms off: the broker's ack of the publish is enough here).
async fn publish(channel: &Channel, queue: &str, body: &[u8], id: &str) -> Result<(), String> {
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default()
                .with_message_id(id.into())
                .with_content_type("application/xml".into())
                .with_delivery_mode(2),
        )
        .await
        .map_err(|e| format!("publishing to {queue}: {e}"))?
        .await
        .map_err(|e| format!("publishing to {queue}: {e}"))?;
    Ok(())
}

#[derive(Deserialize)]
struct Dueslag {
    dueslag: Option<String>,
}

async fn list_subscriptions(
    State(sim): State<BeskedfordelerSimulator>,
    Query(q): Query<Dueslag>,
) -> Json<Vec<Abonnement>> {
    Json(sim.subscriptions(q.dueslag.as_deref()))
}

async fn add_subscription(
    State(sim): State<BeskedfordelerSimulator>,
    Json(a): Json<Abonnement>,
) -> Response {
    if a.dueslag.trim().is_empty() || uuid::Uuid::parse_str(&a.beskedtype).is_err() {
        return crate::sandbox::rest_error(
            StatusCode::BAD_REQUEST,
            "40",
            "an abonnement needs a dueslag and a Beskedtype (a UUID)",
        );
    }
    if sim.subscribe(a) {
        StatusCode::CREATED.into_response()
    } else {
        StatusCode::OK.into_response()
    }
}

async fn remove_subscription(
    State(sim): State<BeskedfordelerSimulator>,
    Path((dueslag, beskedtype)): Path<(String, String)>,
) -> StatusCode {
    if sim.unsubscribe(&dueslag, &beskedtype) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn put_in_dueslag(
    State(sim): State<BeskedfordelerSimulator>,
    Path(queue): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    match sim.put_in_dueslag(&queue, &body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => crate::sandbox::rest_error(StatusCode::SERVICE_UNAVAILABLE, "49", &e),
    }
}
