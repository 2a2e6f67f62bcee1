//! The engine as a library: submit through the outbox, accept inbound messages
//! idempotently, deliver synchronously, and run the workers.

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyConnection;
use thiserror::Error;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{Instrument, debug, info_span};

use crate::checksum::{ChecksumError, Sha256Digest};
use crate::delivery::{Adapter, AdapterRegistry, DeliveryOutcome, Reply};
use crate::ids::{IdempotencyKey, MessageId};
use crate::journal::{self, InsertOutcome, Journal, JournalError, NewMessage};
use crate::message::{Direction, ErrorKind, MessageState, now_ms};
use crate::metrics::Metrics;
use crate::route::{Route, RouteSet};
use crate::transform::TransformError;
use crate::worker;
use crate::writer::WriteJob;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("no route {0:?} in this environment")]
    UnknownRoute(String),
    #[error("route {route}: {source}")]
    Transform {
        route: String,
        source: TransformError,
    },
    #[error("inbound message {external_id} on route {route} refused: {source}")]
    Integrity {
        route: String,
        external_id: String,
        source: ChecksumError,
    },
    #[error(
        "inbound message {external_id} on route {route} refused: declared {declared} bytes, received {actual}"
    )]
    SizeMismatch {
        route: String,
        external_id: String,
        declared: usize,
        actual: usize,
    },
}

/// How the workers run.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Deliveries in flight at once in this instance.
    pub concurrency: usize,
    /// Messages claimed per round trip to the journal.
    pub claim_batch: i64,
    /// Payload bytes claimed per round trip (at least one message): letters with PDFs
    /// come a few at a time, small messages by the batch.
    pub claim_bytes: i64,
    /// How long a claim holds before another worker may take the message over.
    pub lease: Duration,
    /// How often idle workers look for due messages (they are also woken on submit).
    pub poll_interval: Duration,
    /// The RabbitMQ transport, when set (`KNUDEPUNKT_AMQP_URL`); else the journal is
    /// the queue.
    pub amqp: Option<crate::transport::AmqpOptions>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            concurrency: 64,
            claim_batch: 128,
            claim_bytes: 4 * 1024 * 1024,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(200),
            amqp: None,
        }
    }
}

/// Messages rendered and validated for one route, not yet journaled (see
/// [`Engine::prepare_many`]); `None` where the route's filter left an event out.
pub struct Prepared {
    route: String,
    messages: Vec<Option<NewMessage>>,
}

impl Prepared {
    /// How many will be journaled.
    pub fn len(&self) -> usize {
        self.messages.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A message handed to the engine by a library caller.
#[derive(Clone, Debug)]
pub struct Outbound<'a> {
    pub route: &'a str,
    pub event: &'a serde_json::Value,
}

/// A message taken in from an external system.
#[derive(Clone, Debug)]
pub struct Inbound<'a> {
    pub route: &'a str,
    /// The sender's id for the message (BeskedId, MedCom letter id, ...): the dedup key.
    pub external_id: &'a str,
    pub payload: &'a [u8],
    pub content_type: &'a str,
    pub correlation_id: Option<&'a str>,
    /// The size the sender declared, if it did.
    pub declared_size: Option<usize>,
    /// The SHA-256 the sender declared, if it did.
    pub declared_sha256: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    Journaled(MessageId),
    /// Already journaled under the same idempotency key; nothing new was written.
    Duplicate(MessageId),
    /// The route's filter turned the input away.
    Filtered,
}

impl Submitted {
    pub fn id(&self) -> Option<MessageId> {
        match self {
            Submitted::Journaled(id) | Submitted::Duplicate(id) => Some(*id),
            Submitted::Filtered => None,
        }
    }
}

/// Why a synchronous delivery did not get the receiver's 2xx.
#[derive(Debug, Error)]
pub enum SyncFailure {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the receiver refused message {id}: {error}")]
    Refused {
        id: MessageId,
        error: String,
        reply: Option<Reply>,
    },
    #[error(
        "message {id} was not delivered within the deadline ({attempts} attempts, last: {error})"
    )]
    Deadline {
        id: MessageId,
        attempts: i64,
        error: String,
    },
}

pub(crate) struct Inner {
    pub journal: Journal,
    pub routes: Arc<RouteSet>,
    pub adapters: AdapterRegistry,
    pub options: EngineOptions,
    pub wake: Notify,
    /// Wakes the outbox relay (RabbitMQ transport).
    pub relay_wake: Notify,
    pub live: crate::instance::Live,
    pub metrics: Metrics,
    pub writer: mpsc::UnboundedSender<WriteJob>,
    started: std::sync::atomic::AtomicBool,
    pub shutdown: watch::Sender<bool>,
}

/// The engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

/// An engine that does not keep it alive: for what the engine itself holds (a deferred
/// adapter) and that needs the engine back.
#[derive(Clone)]
pub struct WeakEngine(std::sync::Weak<Inner>);

impl WeakEngine {
    pub fn upgrade(&self) -> Option<Engine> {
        self.0.upgrade().map(|inner| Engine { inner })
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Inner {
    /// Wakes the workers and the relay: there may be work.
    pub(crate) fn wake_workers(&self) {
        self.wake.notify_waiters();
        self.wake.notify_one();
        self.relay_wake.notify_one();
    }
}

impl Engine {
    /// Must be called within a Tokio runtime: it starts the journal writer.
    pub fn new(
        journal: Journal,
        routes: Arc<RouteSet>,
        adapters: AdapterRegistry,
        options: EngineOptions,
    ) -> Self {
        let (shutdown, _) = watch::channel(false);
        let (writer, jobs) = mpsc::unbounded_channel();
        tokio::spawn(crate::writer::run(journal.clone(), jobs));
        Engine {
            inner: Arc::new(Inner {
                journal,
                routes,
                adapters,
                options,
                wake: Notify::new(),
                relay_wake: Notify::new(),
                live: crate::instance::Live::new(),
                metrics: Metrics::new(),
                writer,
                started: std::sync::atomic::AtomicBool::new(false),
                shutdown,
            }),
        }
    }

    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    /// Supplies an adapter the registry kept a place for ([`AdapterRegistry::defer`]).
    pub fn bind_adapter(&self, adapter: Arc<dyn Adapter>) -> bool {
        self.inner.adapters.bind(adapter)
    }

    pub fn routes(&self) -> &Arc<RouteSet> {
        &self.inner.routes
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The receiver confirmed an accepted message (a Beskedfordeler status, a MedCom
    /// receipt): it is delivered, and counted as such. See [`Journal::confirm`].
    pub async fn confirm(
        &self,
        id: MessageId,
        detail: &str,
        ids: &crate::message::ExternalIds,
    ) -> Result<(), JournalError> {
        // Through the journal writer: confirmations come one per letter, and batched
        // they share a transaction (on SQLite, a turn at the one writer) instead of
        // taking one each.
        let confirmation = journal::Confirmation {
            id,
            detail: detail.to_string(),
            ids: ids.clone(),
        };
        let settled = self
            .through_writer(|reply| WriteJob::Confirm(confirmation, reply))
            .await?;
        let label = Metrics::route(&settled.route);
        self.inner.metrics.delivered.get_or_create(&label).inc();
        let secs = (now_ms() - settled.created_at).max(0) as f64 / 1000.0;
        self.inner
            .metrics
            .latency
            .get_or_create(&label)
            .observe(secs);
        Ok(())
    }

    /// The receiver refused an accepted message after all: it is dead, counted, and the
    /// initiator told. See [`Journal::reject`].
    pub async fn reject(&self, id: MessageId, reason: &str) -> Result<(), JournalError> {
        let settled = self.inner.journal.reject(id, reason).await?;
        self.inner
            .metrics
            .dead
            .get_or_create(&Metrics::route(&settled.route))
            .inc();
        tracing::warn!(message_id = %id, route = %settled.route, reason = %reason, "the receiver refused an accepted message; it is in the dead letter queue");
        Ok(())
    }

    /// Tells idle workers there may be work (call after committing a submit).
    pub fn wake(&self) {
        self.inner.wake_workers();
    }

    /// This instance, as `knudepunkt status` lists it.
    pub fn instance(&self) -> &crate::instance::Live {
        &self.inner.live
    }

    /// Journals one message outside any caller's transaction, together with whatever
    /// else arrives meanwhile (group commit).
    async fn ingest(&self, msg: NewMessage) -> Result<InsertOutcome, JournalError> {
        // A large payload goes to disk before the writer's transaction, not in it.
        let msg = self.inner.journal.stage(vec![msg]).await?.remove(0);
        self.through_writer(|reply| WriteJob::Insert(msg, reply))
            .await
    }

    /// Hands the journal writer the job `job` makes around its reply channel, and waits
    /// for the answer.
    async fn through_writer<T>(
        &self,
        job: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, JournalError>>) -> WriteJob,
    ) -> Result<T, JournalError> {
        let stopped = || JournalError::Write("the journal writer has stopped".into());
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.inner.writer.send(job(reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    fn route(&self, id: &str) -> Result<&Arc<Route>, EngineError> {
        self.inner
            .routes
            .get(id)
            .ok_or_else(|| EngineError::UnknownRoute(id.to_string()))
    }

    fn prepare(
        &self,
        route: &Route,
        event: &serde_json::Value,
        claim: Option<(String, i64)>,
        origin: &str,
    ) -> Result<Option<NewMessage>, EngineError> {
        let id = MessageId::new();
        let rendered = self
            .inner
            .routes
            .render(route, event, id, &now_rfc3339())
            .map_err(|source| EngineError::Transform {
                route: route.id.clone(),
                source,
            })?;
        if let Some(r) = &rendered {
            debug!(message_id = %id, route = %route.id, correlation_id = r.correlation_id.as_deref().unwrap_or(""), origin, "rendered");
        }
        Ok(rendered.map(|r| NewMessage {
            id,
            route: route.id.clone(),
            direction: Direction::Outbound,
            correlation_id: r.correlation_id,
            idempotency_key: r.idempotency_key,
            checksum: Sha256Digest::of(&r.payload),
            payload: r.payload,
            content_type: route.content_type.clone(),
            external_ids: Default::default(),
            deadline_at: None,
            claim,
            origin: Some(origin.to_string()),
            payload_file: None,
        }))
    }

    /// Journals an outbound message on `conn`, which should be the caller's own
    /// transaction: if it rolls back, nothing is sent; if it commits, the message is
    /// delivered. Call [`Engine::wake`] after the commit for the lowest latency.
    pub async fn submit(
        &self,
        conn: &mut AnyConnection,
        out: Outbound<'_>,
    ) -> Result<Submitted, EngineError> {
        let route = self.route(out.route)?.clone();
        let Some(msg) = self.prepare(&route, out.event, None, "submitted")? else {
            return Ok(Submitted::Filtered);
        };
        let msg = self.inner.journal.stage(vec![msg]).await?.remove(0);
        let outcome = journal::outbox_insert(conn, &msg, now_ms()).await?;
        self.inner
            .metrics
            .submitted
            .get_or_create(&Metrics::route(&route.id))
            .inc();
        Ok(match outcome {
            InsertOutcome::Inserted(id) => Submitted::Journaled(id),
            InsertOutcome::Duplicate(id) => Submitted::Duplicate(id),
        })
    }

    /// Journals an event for every route that listens to it, in the caller's transaction.
    pub async fn publish(
        &self,
        conn: &mut AnyConnection,
        event_name: &str,
        event: &serde_json::Value,
    ) -> Result<Vec<(String, Submitted)>, EngineError> {
        let routes: Vec<String> = self
            .inner
            .routes
            .for_event(event_name)
            .iter()
            .map(|r| r.id.clone())
            .collect();
        let mut out = Vec::with_capacity(routes.len());
        for route in routes {
            let s = self
                .submit(
                    conn,
                    Outbound {
                        route: &route,
                        event,
                    },
                )
                .await?;
            out.push((route, s));
        }
        Ok(out)
    }

    /// Journals an event for every route that listens to it, outside any transaction of
    /// the caller's (for what comes from outside: a fetched memo, a scheduled job).
    pub async fn publish_now(
        &self,
        event_name: &str,
        event: &serde_json::Value,
    ) -> Result<Vec<(String, Submitted)>, EngineError> {
        self.publish_all_now(&[(event_name, event)]).await
    }

    /// Journals several events for every route that listens to each, outside any
    /// transaction of the caller's, in one write: an inbound message's letters and its
    /// receipt. All are rendered before any is written; the outcomes come in order, by
    /// event and route.
    pub async fn publish_all_now(
        &self,
        events: &[(&str, &serde_json::Value)],
    ) -> Result<Vec<(String, Submitted)>, EngineError> {
        let mut prepared = Vec::new();
        for (name, event) in events {
            for route in self.inner.routes.for_event(name) {
                let msg = self.prepare(route, event, None, "submitted")?;
                prepared.push((route.id.clone(), msg));
            }
        }
        // Handed to the writer together, so that they share its next batch.
        let mut answers = Vec::with_capacity(prepared.len());
        for (route, msg) in prepared {
            let answer = match msg {
                None => None,
                Some(msg) => {
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    self.inner
                        .writer
                        .send(WriteJob::Insert(msg, reply))
                        .map_err(|_| {
                            JournalError::Write("the journal writer has stopped".into())
                        })?;
                    Some(answer)
                }
            };
            answers.push((route, answer));
        }
        let mut out = Vec::with_capacity(answers.len());
        for (route, answer) in answers {
            let submitted = match answer {
                None => Submitted::Filtered,
                Some(answer) => {
                    let outcome = answer.await.map_err(|_| {
                        JournalError::Write("the journal writer has stopped".into())
                    })??;
                    self.inner
                        .metrics
                        .submitted
                        .get_or_create(&Metrics::route(&route))
                        .inc();
                    match outcome {
                        InsertOutcome::Inserted(id) => Submitted::Journaled(id),
                        InsertOutcome::Duplicate(id) => Submitted::Duplicate(id),
                    }
                }
            };
            out.push((route, submitted));
        }
        self.wake();
        Ok(out)
    }

    /// Submits outside any transaction of the caller's (journaled together with other
    /// such submissions) and wakes the workers.
    pub async fn submit_now(&self, out: Outbound<'_>) -> Result<Submitted, EngineError> {
        let route = self.route(out.route)?.clone();
        let Some(msg) = self.prepare(&route, out.event, None, "submitted")? else {
            return Ok(Submitted::Filtered);
        };
        let outcome = self.ingest(msg).await?;
        self.inner
            .metrics
            .submitted
            .get_or_create(&Metrics::route(&route.id))
            .inc();
        self.wake();
        Ok(match outcome {
            InsertOutcome::Inserted(id) => Submitted::Journaled(id),
            InsertOutcome::Duplicate(id) => Submitted::Duplicate(id),
        })
    }

    /// Journals many outbound messages for one route on `conn` (the caller's
    /// transaction) with a few multi-row statements: for bulk work such as report runs
    /// and backfills. One outcome per event, in order.
    pub async fn submit_many(
        &self,
        conn: &mut AnyConnection,
        route: &str,
        events: &[serde_json::Value],
    ) -> Result<Vec<Submitted>, EngineError> {
        let prepared = self.prepare_many(route, events)?;
        self.submit_prepared(conn, prepared).await
    }

    /// Renders and validates `events` for `route` without touching the journal: the
    /// CPU-heavy half of [`Engine::submit_many`]. A caller with large messages (letters
    /// with PDFs) prepares before it begins its transaction, so that the transaction,
    /// and on SQLite the journal's one connection, is held only for the writing.
    pub fn prepare_many(
        &self,
        route: &str,
        events: &[serde_json::Value],
    ) -> Result<Prepared, EngineError> {
        let route = self.route(route)?.clone();
        let mut messages = Vec::with_capacity(events.len());
        for ev in events {
            messages.push(self.prepare(&route, ev, None, "submitted")?);
        }
        Ok(Prepared {
            route: route.id.clone(),
            messages,
        })
    }

    /// Writes the large payloads of what [`Engine::prepare_many`] made to the journal's
    /// payload files (a SQLite file journal's; otherwise nothing), to disk, so that the
    /// caller's transaction does not wait for the disk. Blocking, like the rendering it
    /// follows: run both on a thread that may block. [`Engine::submit_prepared`] stages
    /// whatever was not.
    pub fn stage_prepared(&self, prepared: &mut Prepared) -> Result<(), EngineError> {
        Ok(self
            .inner
            .journal
            .stage_blocking(prepared.messages.iter_mut().flatten())?)
    }

    /// Journals what [`Engine::prepare_many`] made, on `conn` (the caller's transaction).
    pub async fn submit_prepared(
        &self,
        conn: &mut AnyConnection,
        prepared: Prepared,
    ) -> Result<Vec<Submitted>, EngineError> {
        // Which events made a message; the messages themselves (and their payloads)
        // move to the journal uncopied.
        let made: Vec<bool> = prepared.messages.iter().map(Option::is_some).collect();
        let msgs: Vec<NewMessage> = prepared.messages.into_iter().flatten().collect();
        let msgs = self.inner.journal.stage(msgs).await?;
        let mut outcomes = journal::outbox_insert_many(conn, &msgs, now_ms())
            .await?
            .into_iter();
        self.inner
            .metrics
            .submitted
            .get_or_create(&Metrics::route(&prepared.route))
            .inc_by(msgs.len() as u64);
        Ok(made
            .into_iter()
            .map(|made| match made {
                false => Submitted::Filtered,
                true => match outcomes.next().expect("one outcome per message") {
                    InsertOutcome::Inserted(id) => Submitted::Journaled(id),
                    InsertOutcome::Duplicate(id) => Submitted::Duplicate(id),
                },
            })
            .collect())
    }

    /// Takes in a message from an external system exactly once: a second message with
    /// the same external id on the same route is acknowledged and not applied again.
    /// Declared sizes and digests are checked before anything is written.
    pub async fn accept_inbound(&self, inbound: Inbound<'_>) -> Result<Submitted, EngineError> {
        let route = self.route(inbound.route)?.clone();
        if let Some(declared) = inbound.declared_size
            && declared != inbound.payload.len()
        {
            return Err(EngineError::SizeMismatch {
                route: route.id.clone(),
                external_id: inbound.external_id.to_string(),
                declared,
                actual: inbound.payload.len(),
            });
        }
        let checksum = Sha256Digest::of(inbound.payload);
        if let Some(declared) = inbound.declared_sha256 {
            let integrity = |source| EngineError::Integrity {
                route: route.id.clone(),
                external_id: inbound.external_id.to_string(),
                source,
            };
            Sha256Digest::parse_hex(declared)
                .map_err(integrity)?
                .verify(inbound.payload)
                .map_err(integrity)?;
        }
        let msg = NewMessage {
            id: MessageId::new(),
            route: route.id.clone(),
            direction: Direction::Inbound,
            correlation_id: inbound.correlation_id.map(str::to_string),
            idempotency_key: IdempotencyKey::new(inbound.external_id),
            payload: inbound.payload.to_vec(),
            content_type: inbound.content_type.to_string(),
            checksum,
            external_ids: [("sender_id".to_string(), inbound.external_id.to_string())].into(),
            deadline_at: None,
            claim: None,
            origin: Some("inbound".into()),
            payload_file: None,
        };
        let outcome = self.ingest(msg).await?;
        self.wake();
        Ok(match outcome {
            InsertOutcome::Inserted(id) => Submitted::Journaled(id),
            InsertOutcome::Duplicate(id) => Submitted::Duplicate(id),
        })
    }

    /// Journals the message already claimed, delivers it at once and waits for the
    /// receiver's answer, retrying within `deadline`. The journal stays the source of
    /// truth: a crash mid-way leaves an in-flight message another worker finishes.
    pub async fn deliver_sync(
        &self,
        route_id: &str,
        event: &serde_json::Value,
        deadline: Duration,
    ) -> Result<(MessageId, Option<Reply>), SyncFailure> {
        let started = tokio::time::Instant::now();
        let route = self.route(route_id)?.clone();
        let token = uuid::Uuid::now_v7().to_string();
        let lease_ms = self.inner.options.lease.as_millis() as i64;
        let Some(msg) = self.prepare(
            &route,
            event,
            Some((token.clone(), now_ms() + lease_ms)),
            "synchronous http",
        )?
        else {
            return Err(SyncFailure::Refused {
                id: MessageId::new(),
                error: "the route's filter turned the input away".into(),
                reply: None,
            });
        };
        let outcome = self.ingest(msg.clone()).await.map_err(EngineError::from)?;
        let id = match outcome {
            InsertOutcome::Inserted(id) => id,
            InsertOutcome::Duplicate(existing) => {
                // Already journaled: answer from the journal rather than send twice.
                let m = self
                    .inner
                    .journal
                    .get(existing)
                    .await
                    .map_err(EngineError::from)?;
                return match m.state {
                    MessageState::Delivered | MessageState::Accepted => Ok((existing, None)),
                    s => Err(SyncFailure::Refused {
                        id: existing,
                        error: format!(
                            "a message with this idempotency key is already journaled and is {s}"
                        ),
                        reply: None,
                    }),
                };
            }
        };
        self.inner
            .metrics
            .submitted
            .get_or_create(&Metrics::route(&route.id))
            .inc();
        let span = info_span!("deliver_sync", message_id = %id, route = %route.id, correlation_id = msg.correlation_id.as_deref().unwrap_or(""));
        let mut attempt = 1i64;
        async {
            loop {
                // An attempt may not outlast the caller's deadline.
                let left = deadline.saturating_sub(started.elapsed());
                let attempted = tokio::time::timeout(left, worker::attempt(&self.inner, &route, &msg_as_claimed(&msg, &token, attempt))).await;
                let ctx = worker::AttemptCtx {
                    inner: &self.inner,
                    route: &route,
                    id,
                    token: &token,
                    attempt,
                    correlation_id: msg.correlation_id.as_deref(),
                    created_at: msg.id.created_at_ms().unwrap_or(0),
                    told: None,
                };
                let Ok(attempted) = attempted else {
                    let error = format!(
                        "no answer from {} before the caller's deadline; it may still have received the message",
                        route.endpoint.name
                    );
                    ctx.record(MessageState::Dead, None, Some((ErrorKind::Deadline, error.clone())), None);
                    return Err(SyncFailure::Deadline { id, attempts: attempt, error });
                };
                let outcome = match attempted {
                    Ok(outcome) => outcome,
                    Err(refused) => {
                        let error = refused.1.clone();
                        ctx.record(MessageState::Dead, None, Some(refused), None);
                        return Err(SyncFailure::Refused { id, error, reply: None });
                    }
                };
                match outcome {
                    DeliveryOutcome::Transient { error, retry_after } => {
                        let delay = route.redelivery.next_delay(attempt as u32, retry_after);
                        let out_of_budget = !route.redelivery.may_retry(attempt as u32);
                        if out_of_budget || started.elapsed() + delay >= deadline {
                            let why = format!("synchronous caller's deadline passed after {attempt} attempts; last error: {error}");
                            ctx.record(MessageState::Dead, None, Some((ErrorKind::Deadline, why)), None);
                            return Err(SyncFailure::Deadline { id, attempts: attempt, error });
                        }
                        self.inner.metrics.retried.get_or_create(&Metrics::route(&route.id)).inc();
                        self.inner
                            .journal
                            .retry_in_place(id, &token, attempt, &error, now_ms() + lease_ms)
                            .await
                            .map_err(EngineError::from)?;
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    other => {
                        let reply = ctx.finish(&Default::default(), other.clone());
                        return match other {
                            DeliveryOutcome::Permanent { error, reply } => Err(SyncFailure::Refused { id, error, reply }),
                            _ => Ok((id, reply)),
                        };
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Starts the workers. They run until [`Engine::shutdown`].
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let already = self
            .inner
            .started
            .swap(true, std::sync::atomic::Ordering::SeqCst);
        assert!(!already, "Engine::start called twice");
        let claimer = tokio::spawn(worker::run_claimer(self.inner.clone()));
        let heartbeat = tokio::spawn(crate::instance::heartbeat(self.inner.clone()));
        let journal = self.inner.journal.clone();
        let stop = self.inner.shutdown.subscribe();
        let sweep = tokio::spawn(async move { journal.sweep_payload_files_until(stop).await });
        let transport = self
            .inner
            .options
            .amqp
            .clone()
            .map(|opts| tokio::spawn(crate::transport::run(self.inner.clone(), opts)));
        tokio::spawn(async move {
            let _ = claimer.await;
            if let Some(t) = transport {
                let _ = t.await;
            }
            let _ = heartbeat.await;
            let _ = sweep.await;
        })
    }

    /// Stops claiming, waits for deliveries in flight, and writes their outcomes.
    pub async fn shutdown(&self, handle: tokio::task::JoinHandle<()>) {
        let _ = self.inner.shutdown.send(true);
        self.wake();
        // The claimer returns once every delivery in flight has handed over its outcome.
        let _ = handle.await;
        self.flush().await;
    }

    /// Waits until everything handed to the journal writer so far is written.
    pub async fn flush(&self) {
        let (reply, done) = tokio::sync::oneshot::channel();
        if self.inner.writer.send(WriteJob::Flush(reply)).is_ok() {
            let _ = done.await;
        }
    }
}

fn msg_as_claimed(msg: &NewMessage, token: &str, attempt: i64) -> journal::Claimed {
    journal::Claimed {
        id: msg.id,
        route: msg.route.clone(),
        direction: msg.direction,
        correlation_id: msg.correlation_id.clone(),
        idempotency_key: msg.idempotency_key.as_str().to_string(),
        payload: msg.payload.clone(),
        content_type: msg.content_type.clone(),
        checksum: msg.checksum.to_hex(),
        attempt,
        claimed_from: MessageState::Pending,
        external_ids: msg.external_ids.clone(),
        deadline_at: msg.deadline_at,
        created_at: msg.id.created_at_ms().unwrap_or(0),
        claim_token: token.to_string(),
    }
}
