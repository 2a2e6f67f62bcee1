//! The engine's HTTP side: inbound routes (synchronous and asynchronous), the operator
//! API, `/metrics`, `/healthz` and `/readyz`.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::engine::{Engine, EngineError, Outbound, Submitted, SyncFailure};
use crate::ids::MessageId;
use crate::journal::{JournalError, ListFilter};
use crate::message::{MessageState, now_ms};
use crate::problem::{ApiError, Problem};
use crate::route::{HttpMode, SourceConfig};

/// The router for `knudepunkt serve`.
pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/messages", get(list_messages))
        .route("/api/v1/messages/{id}", get(show_message))
        .route("/api/v1/dlq", get(list_dead))
        .route("/api/v1/dlq/{id}/replay", post(replay))
        .route("/api/v1/dlq/{id}/discard", post(discard))
        .route("/api/v1/routes", get(list_routes))
        .route("/api/v1/notifications", get(list_notifications))
        .route("/api/v1/notifications/ack", post(ack_notifications))
        .route("/api/v1/inbox", get(list_inbox))
        .route("/api/v1/inbox/{id}/resolve", post(resolve_inbox))
        .route("/api/v1/schedules/runs", get(list_schedule_runs))
        .fallback(inbound)
        .with_state(engine)
}

fn journal_problem(e: JournalError) -> Problem {
    match e {
        JournalError::NotFound(id) => Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("message {id} is not in the journal"),
        ),
        JournalError::WrongState { .. } => {
            Problem::new(StatusCode::CONFLICT, "wrong-state", e.to_string())
        }
        JournalError::Integrity { .. } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "integrity", e.to_string())
        }
        other => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "journal",
            other.to_string(),
        ),
    }
}

fn parse_id(raw: &str) -> Result<MessageId, ApiError> {
    raw.parse().map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-id",
            format!("{raw:?} is not a message id (a UUID)"),
        )
        .into()
    })
}

async fn readyz(State(engine): State<Engine>) -> Response {
    let db = sqlx::query("SELECT 1")
        .execute(engine.journal().pool())
        .await;
    let schemas = crate::schema_dir::describe(&engine.routes().schema_dir);
    let body = serde_json::json!({
        "journal": db.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
        "environment": engine.routes().environment.name,
        "routes": engine.routes().routes().count(),
        "schemas": schemas,
    });
    let status = if db.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(engine): State<Engine>) -> Response {
    if let Ok(backlog) = engine.journal().backlog().await {
        let routes = engine.routes().routes().map(|r| r.id.as_str());
        engine.metrics().set_backlog(routes, &backlog, now_ms());
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        engine.metrics().encode(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    route: Option<String>,
    state: Option<String>,
    correlation_id: Option<String>,
    limit: Option<i64>,
}

async fn list_messages(
    State(engine): State<Engine>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let state = match q.state.as_deref() {
        Some(s) => Some(
            s.parse::<MessageState>()
                .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "bad-state", e.to_string()))?,
        ),
        None => None,
    };
    list(&engine, q, state).await
}

async fn list_dead(
    State(engine): State<Engine>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    list(&engine, q, Some(MessageState::Dead)).await
}

async fn list(
    engine: &Engine,
    q: ListQuery,
    state: Option<MessageState>,
) -> Result<Response, ApiError> {
    let filter = ListFilter {
        route: q.route,
        state,
        correlation_id: q.correlation_id,
        limit: q.limit.unwrap_or(100),
    };
    let list = engine
        .journal()
        .list(&filter)
        .await
        .map_err(journal_problem)?;
    Ok(axum::Json(list).into_response())
}

/// Reading a message's content is audited: who (`X-Knudepunkt-User`) and why
/// (`X-Knudepunkt-Purpose`); both are required.
async fn show_message(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let (Some(reader), Some(purpose)) =
        (header("x-knudepunkt-user"), header("x-knudepunkt-purpose"))
    else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "audit",
            "reading a message needs X-Knudepunkt-User (who) and X-Knudepunkt-Purpose (why): reads are audited",
        )
        .into());
    };
    engine
        .journal()
        .audit_read(&reader, "api", id, &purpose)
        .await
        .map_err(journal_problem)?;
    let msg = engine.journal().get(id).await.map_err(journal_problem)?;
    let history = engine
        .journal()
        .history(id)
        .await
        .map_err(journal_problem)?;
    Ok(axum::Json(serde_json::json!({
        "message": msg,
        "payload": String::from_utf8_lossy(&msg.payload),
        "history": history,
    }))
    .into_response())
}

#[derive(Deserialize, Default)]
struct OperatorBody {
    by: Option<String>,
    reason: Option<String>,
}

async fn operator_body(body: Body) -> OperatorBody {
    let bytes = to_bytes(body, 64 * 1024).await.unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

async fn replay(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let b = operator_body(body).await;
    engine
        .journal()
        .replay(id, b.by.as_deref().unwrap_or("api"))
        .await
        .map_err(journal_problem)?;
    engine.wake();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"id": id, "state": "pending"})),
    )
        .into_response())
}

async fn discard(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let b = operator_body(body).await;
    let reason = b.reason.ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "reason-required",
            "discarding needs a \"reason\"",
        )
    })?;
    engine
        .journal()
        .discard(id, b.by.as_deref().unwrap_or("api"), &reason)
        .await
        .map_err(journal_problem)?;
    Ok(axum::Json(serde_json::json!({"id": id, "state": "discarded"})).into_response())
}

/// Dead-letter events not yet taken by their initiator (B3.211).
async fn list_notifications(
    State(engine): State<Engine>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let open = engine
        .journal()
        .open_notifications(q.limit.unwrap_or(100))
        .await
        .map_err(journal_problem)?;
    Ok(axum::Json(open).into_response())
}

#[derive(Deserialize)]
struct Ack {
    ids: Vec<i64>,
}

/// The initiator has taken these events.
async fn ack_notifications(State(engine): State<Engine>, body: Body) -> Result<Response, ApiError> {
    let bytes = to_bytes(body, 64 * 1024).await.map_err(|_| {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "an acknowledgement is at most 64 KiB",
        )
    })?;
    let ack: Ack = serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!("expected {{\"ids\": [..]}}: {e}"),
        )
    })?;
    engine
        .journal()
        .consume_notifications(&ack.ids)
        .await
        .map_err(journal_problem)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct InboxQuery {
    /// Resolved items too.
    #[serde(default)]
    all: bool,
}

/// What came in and matches nothing (statuses for no letter, memos for no case).
async fn list_inbox(
    State(engine): State<Engine>,
    Query(q): Query<InboxQuery>,
) -> Result<Response, ApiError> {
    let items = engine
        .journal()
        .inbox(q.all)
        .await
        .map_err(journal_problem)?;
    Ok(axum::Json(items).into_response())
}

#[derive(Deserialize)]
struct RunsQuery {
    schedule: Option<String>,
    #[serde(default = "twenty")]
    limit: i64,
}

fn twenty() -> i64 {
    20
}

/// The schedules' runs, newest first (`?schedule=ID&limit=N`): when, how long, how.
async fn list_schedule_runs(
    State(engine): State<Engine>,
    Query(q): Query<RunsQuery>,
) -> Result<Response, ApiError> {
    let runs = engine
        .journal()
        .schedule_runs(q.schedule.as_deref(), q.limit.clamp(1, 1000))
        .await
        .map_err(journal_problem)?;
    Ok(axum::Json(runs).into_response())
}

#[derive(Deserialize)]
struct Resolution {
    by: String,
    resolution: String,
}

/// An operator has dealt with an inbox item, and says how.
async fn resolve_inbox(
    State(engine): State<Engine>,
    Path(id): Path<i64>,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = to_bytes(body, 64 * 1024).await.map_err(|_| {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "a resolution is at most 64 KiB",
        )
    })?;
    let r: Resolution = serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!("expected {{\"by\": .., \"resolution\": ..}}: {e}"),
        )
    })?;
    if r.by.trim().is_empty() || r.resolution.trim().is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            "by and resolution must not be empty",
        )
        .into());
    }
    let resolved = engine
        .journal()
        .resolve_inbox(id, r.by.trim(), r.resolution.trim())
        .await
        .map_err(journal_problem)?;
    if !resolved {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no open inbox item {id}"),
        )
        .into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_routes(State(engine): State<Engine>) -> Response {
    let routes: Vec<_> = engine.routes().routes().map(|r| r.as_ref()).collect();
    axum::Json(routes).into_response()
}

/// Any other POST: an inbound route's path.
async fn inbound(State(engine): State<Engine>, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let Some(route) = engine.routes().for_path(&path).cloned() else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no-route",
            format!("no route serves {path}"),
        )
        .with_instance(path)
        .into());
    };
    if req.method() != axum::http::Method::POST {
        return Err(Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            format!("{path} takes POST"),
        )
        .into());
    }
    let SourceConfig::Http(http) = &route.source else {
        unreachable!("for_path only returns http routes")
    };
    let bytes = to_bytes(req.into_body(), http.max_body)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!(
                    "route {} takes bodies of at most {} bytes",
                    route.id, http.max_body
                ),
            )
            .with_instance(path.clone())
        })?;
    let event: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!(
                "route {}: body is not JSON: line {} column {}: {e}",
                route.id,
                e.line(),
                e.column()
            ),
        )
        .with_instance(path.clone())
    })?;
    match http.mode {
        HttpMode::Async => {
            let submitted = engine
                .submit_now(Outbound {
                    route: &route.id,
                    event: &event,
                })
                .await
                .map_err(|e| engine_problem(e, &path))?;
            let (status, id, duplicate) = match submitted {
                Submitted::Journaled(id) => (StatusCode::ACCEPTED, Some(id), false),
                Submitted::Duplicate(id) => (StatusCode::OK, Some(id), true),
                Submitted::Filtered => (StatusCode::OK, None, false),
            };
            Ok((
                status,
                axum::Json(
                    serde_json::json!({"id": id, "duplicate": duplicate, "filtered": id.is_none()}),
                ),
            )
                .into_response())
        }
        HttpMode::Sync => match engine.deliver_sync(&route.id, &event, http.deadline).await {
            Ok((id, reply)) => {
                let mut resp = match reply {
                    Some(r) => {
                        let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
                        let ct = r
                            .content_type
                            .unwrap_or_else(|| "application/octet-stream".into());
                        (status, [(header::CONTENT_TYPE, ct)], r.body).into_response()
                    }
                    None => {
                        (StatusCode::OK, axum::Json(serde_json::json!({"id": id}))).into_response()
                    }
                };
                if let Ok(v) = id.to_string().parse() {
                    resp.headers_mut().insert("x-knudepunkt-message-id", v);
                }
                Ok(resp)
            }
            Err(SyncFailure::Engine(e)) => Err(engine_problem(e, &path).into()),
            Err(SyncFailure::Refused { id, error, reply }) => {
                let detail = match reply {
                    Some(r) => format!("the receiver answered {}: {error}", r.status),
                    None => error,
                };
                Err(Problem::new(StatusCode::BAD_GATEWAY, "refused", detail)
                    .with_message(id)
                    .with_instance(path)
                    .into())
            }
            Err(e @ SyncFailure::Deadline { id, .. }) => {
                Err(
                    Problem::new(StatusCode::GATEWAY_TIMEOUT, "deadline", e.to_string())
                        .with_message(id)
                        .with_instance(path)
                        .into(),
                )
            }
        },
    }
}

fn engine_problem(e: EngineError, path: &str) -> Problem {
    let p = match &e {
        EngineError::Transform { .. } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "transform", e.to_string())
        }
        EngineError::UnknownRoute(_) => {
            Problem::new(StatusCode::NOT_FOUND, "no-route", e.to_string())
        }
        EngineError::Integrity { .. } | EngineError::SizeMismatch { .. } => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "integrity", e.to_string())
        }
        EngineError::Journal(_) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "journal", e.to_string())
        }
    };
    p.with_instance(path.to_string())
}
