//! The sandbox's Digital Post mailbox of the municipality: memos citizens and
//! businesses sent it, waiting for the Afhentningssystem. The REST model (list, fetch
//! one as MeMo XML, acknowledge) is described in `mappings/digital-post/README.md`.
//! Only memos that validate against MeMo 1.2 get in, as only those pass Digital Post.
//! An acknowledgement can be made to fail, so that the same memo is listed again.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use super::AFHENTNING_PATH;
use crate::sandbox::rest_error;
use crate::sts::simulator::StsSimulator;

/// One memo waiting in the mailbox, as the list shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Waiting {
    #[serde(rename = "messageUUID")]
    pub message_uuid: String,
    pub label: String,
    #[serde(rename = "senderID")]
    pub sender_id: String,
    #[serde(rename = "receivedDateTime")]
    pub received: String,
    pub size: usize,
}

/// What happened in the mailbox.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MailboxStats {
    pub waiting: usize,
    pub fetched: u64,
    pub acknowledged: u64,
    pub failed_acknowledgements: u64,
}

#[derive(Default)]
struct State_ {
    memos: BTreeMap<String, (Waiting, Bytes)>,
    lose_ack_of: HashSet<String>,
    stats: MailboxStats,
}

#[derive(Clone)]
pub struct MailboxSimulator {
    sts: StsSimulator,
    schema: Option<Arc<PathBuf>>,
    state: Arc<Mutex<State_>>,
}

impl MailboxSimulator {
    pub fn new(sts: StsSimulator, schema: Option<PathBuf>) -> Self {
        MailboxSimulator {
            sts,
            schema: schema.map(Arc::new),
            state: Arc::new(Mutex::new(State_::default())),
        }
    }

    /// Puts a memo in the mailbox (as if someone sent it); its messageUUID, or why it
    /// was refused.
    pub fn deliver(&self, memo: &[u8]) -> Result<String, String> {
        if let Some(xsd) = &self.schema {
            knudepunkt_engine::transform::xsd::validate(xsd, memo)
                .map_err(|e| format!("MeMo validerer ikke: {e}"))?;
        }
        let parsed = super::memo::parse(memo).map_err(|e| e.to_string())?;
        let waiting = Waiting {
            message_uuid: parsed.message_uuid.clone(),
            label: parsed.label,
            sender_id: parsed.sender.id,
            received: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            size: memo.len(),
        };
        self.lock().memos.insert(
            parsed.message_uuid.clone(),
            (waiting, Bytes::copy_from_slice(memo)),
        );
        Ok(parsed.message_uuid)
    }

    /// The next acknowledgement of this memo fails (500) and the memo stays.
    pub fn lose_acknowledgement_of(&self, message_uuid: &str) {
        self.lock().lose_ack_of.insert(message_uuid.to_string());
    }

    pub fn stats(&self) -> MailboxStats {
        let s = self.lock();
        MailboxStats {
            waiting: s.memos.len(),
            ..s.stats.clone()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.state.lock().expect("mailbox")
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(&format!("{AFHENTNING_PATH}/memos"), get(list))
            .route(&format!("{AFHENTNING_PATH}/memos/{{uuid}}"), get(fetch))
            .route(
                &format!("{AFHENTNING_PATH}/memos/{{uuid}}/kvittering"),
                post(acknowledge),
            )
            .route(
                "/digitalpost/_sandbox/mailbox",
                post(fill)
                    .get(|State(m): State<MailboxSimulator>| async move { axum::Json(m.stats()) }),
            )
            .with_state(self.clone())
    }
}

fn not_found(uuid: &str) -> Response {
    rest_error(
        StatusCode::NOT_FOUND,
        "MEMO_NOT_FOUND",
        &format!("Ingen meddelelse {uuid}"),
    )
}

async fn list(State(m): State<MailboxSimulator>, headers: HeaderMap) -> Response {
    if let Some(refused) = m.sts.refuse_access_token(&headers) {
        return refused;
    }
    let memos: Vec<Waiting> = m.lock().memos.values().map(|(w, _)| w.clone()).collect();
    axum::Json(serde_json::json!({ "memos": memos })).into_response()
}

async fn fetch(
    State(m): State<MailboxSimulator>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = m.sts.refuse_access_token(&headers) {
        return refused;
    }
    let mut s = m.lock();
    let Some(body) = s.memos.get(&uuid).map(|(_, b)| b.clone()) else {
        return not_found(&uuid);
    };
    s.stats.fetched += 1;
    (
        StatusCode::OK,
        [("content-type", "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn acknowledge(
    State(m): State<MailboxSimulator>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = m.sts.refuse_access_token(&headers) {
        return refused;
    }
    let mut s = m.lock();
    if s.lose_ack_of.remove(&uuid) {
        s.stats.failed_acknowledgements += 1;
        return rest_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Kvitteringen kunne ikke registreres",
        );
    }
    if s.memos.remove(&uuid).is_none() {
        return not_found(&uuid);
    }
    s.stats.acknowledged += 1;
    StatusCode::NO_CONTENT.into_response()
}

async fn fill(State(m): State<MailboxSimulator>, body: Bytes) -> Response {
    match m.deliver(&body) {
        Ok(uuid) => (
            StatusCode::CREATED,
            axum::Json(serde_json::json!({ "messageUUID": uuid })),
        )
            .into_response(),
        Err(why) => rest_error(StatusCode::BAD_REQUEST, "INVALID_MEMO", &why),
    }
}
