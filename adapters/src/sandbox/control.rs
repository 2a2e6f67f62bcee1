//! The control API each simulator mounts at `<prefix>/_sandbox`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Deserialize;

use super::{Fault, FaultPlan, Recorder};

#[derive(Clone)]
struct Ctl {
    recorder: Arc<Recorder>,
    faults: Arc<FaultPlan>,
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
}

/// `GET received`, `GET stats`, `DELETE received` (reset), `GET|POST|DELETE faults`.
pub fn control_router(recorder: Arc<Recorder>, faults: Arc<FaultPlan>) -> Router {
    Router::new()
        .route(
            "/received",
            get(|State(c): State<Ctl>, Query(l): Query<Limit>| async move {
                axum::Json(c.recorder.received(l.limit.unwrap_or(100)))
            })
            .delete(|State(c): State<Ctl>| async move {
                c.recorder.reset();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/stats",
            get(|State(c): State<Ctl>| async move { axum::Json(c.recorder.stats()) }),
        )
        .route(
            "/faults",
            get(|State(c): State<Ctl>| async move { axum::Json(c.faults.pending()) })
                .post(|State(c): State<Ctl>, body: axum::body::Bytes| async move {
                    match serde_json::from_slice::<Fault>(&body) {
                        Ok(f) => {
                            c.faults.push(f);
                            StatusCode::CREATED.into_response()
                        }
                        Err(e) => {
                            (StatusCode::BAD_REQUEST, format!("not a fault: {e}\n")).into_response()
                        }
                    }
                })
                .delete(|State(c): State<Ctl>| async move {
                    c.faults.clear();
                    StatusCode::NO_CONTENT
                }),
        )
        .with_state(Ctl { recorder, faults })
}
