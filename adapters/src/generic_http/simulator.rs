//! The generic HTTP receiver simulator: `POST /generic/receive` takes any body,
//! deduplicates by `Idempotency-Key` (falling back to `X-Message-Id`), checks XML bodies
//! are well formed (and valid, when given a schema), and answers with a JSON receipt.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::sandbox::{FaultPlan, Recorder, control_router, faults};

#[derive(Clone)]
pub struct GenericReceiver {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    schema: Option<Arc<PathBuf>>,
}

impl GenericReceiver {
    /// `schema`: an XSD every XML body must validate against.
    pub fn new(schema: Option<PathBuf>) -> Self {
        GenericReceiver {
            recorder: Arc::new(Recorder::default()),
            faults: Arc::new(FaultPlan::default()),
            schema: schema.map(Arc::new),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/receive", post(receive))
            .with_state(self.clone())
            .nest(
                "/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn receive(State(sim): State<GenericReceiver>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(faulty) = faults::arrive(&sim.recorder, &sim.faults).await {
        return faulty;
    }
    let Some(key) =
        header(&headers, "idempotency-key").or_else(|| header(&headers, "x-message-id"))
    else {
        sim.recorder.count_invalid();
        return (
            StatusCode::BAD_REQUEST,
            "missing Idempotency-Key or X-Message-Id header\n",
        )
            .into_response();
    };
    let content_type = header(&headers, "content-type");
    if content_type.is_some_and(|c| c.contains("xml")) {
        let checked = match &sim.schema {
            Some(xsd) => {
                knudepunkt_engine::transform::xsd::validate(xsd, &body).map_err(|e| e.to_string())
            }
            None => {
                knudepunkt_engine::transform::xsd::init_libxml();
                libxml::parser::Parser::default()
                    .parse_string(&body)
                    .map(|_| ())
                    .map_err(|e| format!("not well-formed XML: {e:?}"))
            }
        };
        if let Err(e) = checked {
            sim.recorder.count_invalid();
            return (
                StatusCode::BAD_REQUEST,
                format!("message {key} refused: {e}\n"),
            )
                .into_response();
        }
    }
    let (duplicate, seq) =
        sim.recorder
            .accept(key, header(&headers, "x-message-id"), content_type, &body);
    axum::Json(serde_json::json!({ "received": key, "receipt": seq, "duplicate": duplicate }))
        .into_response()
}
