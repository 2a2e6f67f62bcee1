//! The sandbox's KombiPostAfsend. It checks the Holder-of-key access token, the
//! `kombi_request`, the MeMo against the official 1.2 schema and the size; it answers
//! the errors the service has (recipient not found, too large, invalid XML, missing or
//! expired token); it deduplicates on messageUUID; and a while after accepting a letter
//! it pushes its status through the Beskedfordeler endpoint (delivered, or failed with
//! a reason).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::KOMBI_PATH;
use crate::sandbox::{FaultPlan, Recorder, control_router, faults, rest_error};
use crate::sts::simulator::StsSimulator;

/// What the service answers, in its error body's words.
struct Settings {
    status_url: Option<String>,
    status_delay: Duration,
    unknown_recipients: HashSet<String>,
    failing_recipients: HashSet<String>,
    max_bytes: usize,
}

#[derive(Clone)]
pub struct KombiPostSimulator {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    sts: StsSimulator,
    schema: Option<Arc<PathBuf>>,
    settings: Arc<RwLock<Settings>>,
    http: reqwest::Client,
}

impl KombiPostSimulator {
    /// `schema`: MeMo 1.2 (`memo/Version1.2/MeMo_core.xsd`) when a schema folder is found;
    /// `pusher`: the HTTP client statuses are pushed with (mTLS, as Serviceplatformen).
    pub fn new(sts: StsSimulator, schema: Option<PathBuf>, pusher: reqwest::Client) -> Self {
        KombiPostSimulator {
            // Letters are large (PDFs): keep the first twenty bodies, count the rest.
            recorder: Arc::new(Recorder::new(20)),
            faults: Arc::new(FaultPlan::default()),
            sts,
            schema: schema.map(Arc::new),
            settings: Arc::new(RwLock::new(Settings {
                status_url: None,
                status_delay: Duration::from_millis(300),
                unknown_recipients: HashSet::new(),
                failing_recipients: HashSet::new(),
                max_bytes: 20 * 1024 * 1024,
            })),
            http: pusher,
        }
    }

    /// Where statuses are pushed (Knudepunkt's PostStatusBeskedModtag), and how soon.
    pub fn push_statuses_to(&self, url: &str, delay: Duration) {
        let mut s = self.settings.write().expect("kombipost");
        s.status_url = Some(url.to_string());
        s.status_delay = delay;
    }

    /// A recipient Digital Post does not know: letters to them are refused.
    pub fn unknown_recipient(&self, id: &str) {
        self.settings
            .write()
            .expect("kombipost")
            .unknown_recipients
            .insert(id.to_string());
    }

    /// A recipient whose letters are accepted but then fail (status Fejlet).
    pub fn failing_recipient(&self, id: &str) {
        self.settings
            .write()
            .expect("kombipost")
            .failing_recipients
            .insert(id.to_string());
    }

    /// Whether Digital Post knows no such recipient.
    pub(crate) fn is_unknown(&self, recipient: &str) -> bool {
        self.settings
            .read()
            .expect("kombipost")
            .unknown_recipients
            .contains(recipient)
    }

    pub fn set_max_bytes(&self, max: usize) {
        self.settings.write().expect("kombipost").max_bytes = max;
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(KOMBI_PATH, post(kombi))
            .with_state(self.clone())
            .nest(
                "/digitalpost/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }

    pub(crate) fn push_status(&self, uuid: String, transaction: String, recipient: String) {
        let (url, delay, failing) = {
            let s = self.settings.read().expect("kombipost");
            (
                s.status_url.clone(),
                s.status_delay,
                s.failing_recipients.contains(&recipient),
            )
        };
        let Some(url) = url else { return };
        let http = self.http.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let body = super::status::status_message(
                &uuid,
                &transaction,
                !failing,
                failing.then_some("Modtagers digitale postkasse er lukket"),
            );
            for attempt in 0..5 {
                match http
                    .post(&url)
                    .header("content-type", "text/xml; charset=utf-8")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => return,
                    _ => tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await,
                }
            }
            tracing::warn!(%url, message_uuid = %uuid, "sandbox: the status could not be pushed");
        });
    }
}

async fn kombi(State(sim): State<KombiPostSimulator>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(faulty) = faults::arrive(&sim.recorder, &sim.faults).await {
        return faulty;
    }
    if let Some(refused) = sim.sts.refuse_access_token(&headers) {
        return refused;
    }
    let transaction = headers
        .get("x-transaktionsid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if transaction.is_empty() || headers.get("x-transaktionstid").is_none() {
        sim.recorder.count_invalid();
        return rest_error(
            StatusCode::BAD_REQUEST,
            "HEADER_MISSING",
            "X-TransaktionsId og X-TransaktionsTid skal angives",
        );
    }
    let max = sim.settings.read().expect("kombipost").max_bytes;
    if body.len() > max {
        sim.recorder.count_invalid();
        return rest_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "MESSAGE_TOO_LARGE",
            &format!("Forsendelsen er større end {max} bytes"),
        );
    }
    let text = match std::str::from_utf8(&body) {
        Ok(text) => text,
        Err(e) => {
            sim.recorder.count_invalid();
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALID_XML",
                &format!("Ugyldig UTF-8 ved byte {}", e.valid_up_to()),
            );
        }
    };
    let doc = match crate::serviceplatformen::security::dom::Document::parse(text) {
        Ok(d) if d.root.local == "kombi_request" => d,
        Ok(_) => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALID_XML",
                "Roden skal være kombi_request",
            );
        }
        Err(e) => {
            sim.recorder.count_invalid();
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALID_XML",
                &format!("Ugyldig XML: {e}"),
            );
        }
    };
    let valg = doc.text_of("KombiValgKode").unwrap_or_default();
    if !super::client::KOMBI_VALG.contains(&valg.as_str()) {
        sim.recorder.count_invalid();
        return rest_error(
            StatusCode::BAD_REQUEST,
            "INVALID_KOMBIVALG",
            &format!("Ukendt KombiValgKode {valg:?}"),
        );
    }
    // The MeMo message as it stands in the request.
    let Some(start) = text.find("<memo:Message") else {
        sim.recorder.count_invalid();
        return rest_error(
            StatusCode::BAD_REQUEST,
            "INVALID_XML",
            "Ingen memo:Message i forsendelsen",
        );
    };
    let end = text
        .rfind("</memo:Message>")
        .map(|i| i + "</memo:Message>".len())
        .unwrap_or(text.len());
    let memo = &text[start..end];
    if let Some(xsd) = &sim.schema
        && let Err(e) = knudepunkt_engine::transform::xsd::validate(xsd, memo.as_bytes())
    {
        sim.recorder.count_invalid();
        return rest_error(
            StatusCode::BAD_REQUEST,
            "INVALID_MEMO",
            &format!("MeMo validerer ikke: {e}"),
        );
    }
    let Some(uuid) = super::message_uuid(memo.as_bytes()) else {
        sim.recorder.count_invalid();
        return rest_error(
            StatusCode::BAD_REQUEST,
            "INVALID_MEMO",
            "messageUUID mangler",
        );
    };
    let recipient = doc.text_of("recipientID").unwrap_or_default();
    if sim.is_unknown(&recipient) {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "RECIPIENT_NOT_FOUND",
            "Modtager findes ikke",
        );
    }
    let (duplicate, seq) = sim.recorder.accept(
        &uuid,
        Some(&transaction),
        Some("application/xml"),
        memo.as_bytes(),
    );
    if !duplicate {
        sim.push_status(uuid.clone(), transaction.clone(), recipient);
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"messageUUID": uuid, "transaktionsId": transaction, "receipt": seq, "duplicate": duplicate})),
    )
        .into_response()
}
