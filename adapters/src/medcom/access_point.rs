//! Knudepunkt's side of the VANS access point: envelopes come in here. Each Emessage is
//! read in its declared encoding and validated against the official schema of its
//! namespace's date. A letter is published as `medcom.received` (one journal message
//! each, deduplicated on sender, envelope and letter id, so a duplicate is acknowledged
//! and not applied twice) and a positive receipt (XCTL03) is published as
//! `medcom.receipt_due`; a message that does not validate gets a negative receipt
//! (XCTL02, `syntaksfejl`, the schema error as its text) and nothing else is kept. A
//! receipt for one of our messages confirms it (delivered) or rejects it (dead, the case
//! told); one for no message of ours goes to the operator inbox.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use knudepunkt_engine::Engine;
use serde_json::{Value, json};
use sha2::Digest;

use super::emessage::{self, EMessage};
use super::vans::Envelope;
use super::{
    ADAPTER, INBOUND_PATH, RECEIPT_EVENT, RECEIVED_EVENT, XDIS21_SCHEMA, XDIS21_SCHEMA_SET,
    identifier, schema_for,
};

/// The inbox kind of receipts that match no message of ours.
pub const UNMATCHED_RECEIPT: &str = "medcom.unmatched_receipt";
/// Longest refusal text put in a negative receipt.
const REFUSE_TEXT_MAX: usize = 1000;

/// Whether the municipality serves a citizen (by CPR): the case core answers. A letter
/// about a patient it does not know is refused with a negative receipt.
pub type Patients =
    Arc<dyn Fn(String) -> futures::future::BoxFuture<'static, Result<bool, String>> + Send + Sync>;

#[derive(Clone)]
struct AccessPoint {
    engine: Engine,
    patients: Option<Patients>,
}

/// The access point, taking letters about any patient (the case core sorts them).
pub fn router(engine: Engine) -> Router {
    router_with(engine, None)
}

/// The access point, refusing letters about patients `patients` does not know.
pub fn router_with(engine: Engine, patients: Option<Patients>) -> Router {
    Router::new()
        .route(INBOUND_PATH, post(take))
        .with_state(AccessPoint { engine, patients })
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Why a message is refused, in a negative receipt's terms.
struct Refusal {
    code: &'static str,
    text: String,
}

/// The receipt for the message in `env` (parsed as `message`, if it could be).
fn receipt_event(env: &Envelope, message: Option<&EMessage>, refusal: Option<&Refusal>) -> Value {
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Copenhagen);
    let seed = format!("receipt/{}/{}", env.sender_ean, env.identifier);
    let letters: Vec<Value> = message
        .map(|m| {
            m.letters
                .iter()
                .map(|l| json!({"id": l.letter_id, "version_code": l.version_code}))
                .collect()
        })
        .unwrap_or_default();
    let mut text = refusal.map(|r| r.text.clone()).unwrap_or_default();
    if text.chars().count() > REFUSE_TEXT_MAX {
        text = text.chars().take(REFUSE_TEXT_MAX - 1).collect::<String>() + "…";
    }
    json!({
        "positive": refusal.is_none(),
        "envelope_id": identifier("KR", &seed),
        "letter_id": identifier("KL", &seed),
        "date": now.format("%Y-%m-%d").to_string(),
        "time": now.format("%H:%M").to_string(),
        "sender_ean": env.receiver_ean,
        "receiver_ean": env.sender_ean,
        "original": {
            "envelope_id": message.map(|m| m.envelope_id.as_str()).unwrap_or(&env.identifier),
            "sender_ean": env.sender_ean,
            "receiver_ean": env.receiver_ean,
            "letters": letters,
        },
        "refuse_code": refusal.map(|r| r.code),
        "refuse_text": text,
    })
}

/// Validates the Emessage against its schema set; why not, if not, with the message as
/// far as it could be read (the receipt names its letters).
fn validate(engine: &Engine, env: &Envelope) -> Result<EMessage, (Refusal, Option<Box<EMessage>>)> {
    let message = emessage::parse(&env.data).map_err(|e| {
        let refusal = Refusal {
            code: "syntaksfejl",
            text: format!("Emessage {}: {e}", env.identifier),
        };
        (refusal, None)
    })?;
    let Some(dir) = &engine.routes().schema_dir else {
        // Without the schemas nothing can be checked; route validate says so loudly.
        return Ok(message);
    };
    let xsd = if message.schema_date == XDIS21_SCHEMA_SET {
        // MedCom publishes no schema for XDIS21: the project's own model.
        engine.routes().mappings_dir.join(XDIS21_SCHEMA)
    } else {
        dir.path.join(schema_for(&message.schema_date))
    };
    let checked = if xsd.is_file() {
        knudepunkt_engine::transform::xsd::validate(&xsd, &env.data).map_err(|e| Refusal {
            code: "syntaksfejl",
            text: format!("Emessage {} validerer ikke: {e}", message.envelope_id),
        })
    } else {
        Err(Refusal {
            code: "problem_med_version",
            text: format!(
                "MedCom-skemaerne {} kendes ikke ({})",
                message.schema_date, message.namespace
            ),
        })
    };
    match checked {
        Ok(()) => Ok(message),
        Err(refusal) => Err((refusal, Some(Box::new(message)))),
    }
}

/// Refuses the message in `env` with a negative receipt (`message`: as far as it could
/// be read), keeping nothing else of it.
async fn refuse(
    engine: &Engine,
    env: &Envelope,
    message: Option<&EMessage>,
    refusal: &Refusal,
) -> Response {
    tracing::warn!(envelope = %env.identifier, sender = %env.sender_ean, reason = %refusal.text, "a MedCom message was refused with a negative receipt");
    match engine
        .publish_now(RECEIPT_EVENT, &receipt_event(env, message, Some(refusal)))
        .await
    {
        Ok(_) => answer(
            StatusCode::OK,
            json!({"receipt": "negative", "reason": refusal.text}),
        ),
        Err(e) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": e.to_string()}),
        ),
    }
}

/// The first patient of `message` the municipality does not serve, as a refusal.
async fn unknown_patient(
    patients: &Patients,
    message: &EMessage,
) -> Result<Option<Refusal>, String> {
    for letter in &message.letters {
        let Some(patient) = &letter.patient else {
            continue;
        };
        if !patients(patient.cpr.clone()).await? {
            return Ok(Some(Refusal {
                code: "ikke_specificeret",
                text: format!(
                    "Patienten i brev {} er ikke borger i kommunen",
                    letter.letter_id
                ),
            }));
        }
    }
    Ok(None)
}

async fn take(State(ap): State<AccessPoint>, body: Bytes) -> Response {
    let engine = ap.engine;
    let env = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "a VANS envelope was refused");
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("VANS envelope: {e}")}),
            );
        }
    };
    let message = match validate(&engine, &env) {
        Ok(m) => m,
        Err((refusal, read)) => return refuse(&engine, &env, read.as_deref(), &refusal).await,
    };
    if message.letters.iter().all(|l| l.is_receipt()) {
        return take_receipts(&engine, &env, &message).await;
    }
    if let Some(patients) = &ap.patients {
        match unknown_patient(patients, &message).await {
            Ok(None) => {}
            Ok(Some(refusal)) => return refuse(&engine, &env, Some(&message), &refusal).await,
            Err(e) => {
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": format!("the patient could not be looked up: {e}")}),
                );
            }
        }
    }
    // A letter no route takes would be lost behind a positive receipt: refused instead.
    if engine.routes().for_event(RECEIVED_EVENT).is_empty() {
        let refusal = Refusal {
            code: "ikke_specificeret",
            text: format!(
                "Knudepunkt tager ikke imod {} i dette miljø",
                message.letters[0].statistical_code
            ),
        };
        return refuse(&engine, &env, Some(&message), &refusal).await;
    }
    let sha256 = hex::encode(sha2::Sha256::digest(&env.data));
    let content = base64::engine::general_purpose::STANDARD.encode(&env.data);
    let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let events: Vec<Value> = message
        .letters
        .iter()
        .map(|letter| {
            json!({
                "vans": {"sender_ean": env.sender_ean, "receiver_ean": env.receiver_ean, "envelope_id": env.envelope_id},
                "envelope": {"id": message.envelope_id, "sent": message.sent, "schema_date": message.schema_date, "acknowledgement": message.acknowledgement},
                "letter": letter,
                "received_at": received_at,
                "sha256": sha256,
                "content": content,
            })
        })
        .collect();
    let receipt = receipt_event(&env, Some(&message), None);
    // The letters and their receipt go to the journal writer together (one batch).
    let mut all: Vec<(&str, &Value)> = events.iter().map(|e| (RECEIVED_EVENT, e)).collect();
    all.push((RECEIPT_EVENT, &receipt));
    let taken = match engine.publish_all_now(&all).await {
        Ok(out) => out
            .iter()
            .filter(|(route, s)| {
                matches!(s, knudepunkt_engine::Submitted::Journaled(_))
                    && engine
                        .routes()
                        .get(route)
                        .is_some_and(|r| r.adapter != ADAPTER)
            })
            .count(),
        Err(e) => {
            // Nothing answered: the sender's access point sends it again.
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": e.to_string()}),
            );
        }
    };
    tracing::info!(envelope = %message.envelope_id, sender = %env.sender_ean, letters = message.letters.len(), "a MedCom message was taken");
    answer(
        StatusCode::OK,
        json!({"receipt": "positive", "letters": message.letters.len(), "journaled": taken}),
    )
}

/// The message of ours a receipt answers: on a route the `vans` adapter delivers, under
/// the Emessage's envelope identifier (such routes' idempotency key).
async fn ours(
    engine: &Engine,
    envelope_id: &str,
) -> Result<Option<knudepunkt_engine::MessageId>, knudepunkt_engine::JournalError> {
    let routes = engine.routes().delivered_by(&[ADAPTER]);
    engine.journal().find_by_key_on(&routes, envelope_id).await
}

async fn take_receipts(engine: &Engine, env: &Envelope, message: &EMessage) -> Response {
    for receipt in &message.letters {
        let Some(original) = &receipt.original else {
            continue;
        };
        let found = match ours(engine, &original.envelope_id).await {
            Ok(f) => f,
            Err(e) => {
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": e.to_string()}),
                );
            }
        };
        let Some(id) = found else {
            tracing::warn!(original = %original.envelope_id, sender = %env.sender_ean, "a MedCom receipt matches no message of ours; it is in the operator inbox");
            if let Err(e) = engine
                .journal()
                .put_in_inbox(
                    UNMATCHED_RECEIPT,
                    &original.envelope_id,
                    &format!(
                        "a {} from {} for no message Knudepunkt sent",
                        receipt.statistical_code, env.sender_ean
                    ),
                    &env.data,
                    "application/xml",
                )
                .await
            {
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": e.to_string()}),
                );
            }
            continue;
        };
        let result = if receipt.kind == "PositiveReceipt" {
            engine
                .confirm(
                    id,
                    &format!("MedCom positive receipt {}", receipt.letter_id),
                    &Default::default(),
                )
                .await
        } else {
            let why = format!(
                "MedCom negative receipt from {}: {}{}",
                env.sender_ean,
                original
                    .refuse_code
                    .as_deref()
                    .unwrap_or("ikke_specificeret"),
                original
                    .refuse_text
                    .as_deref()
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default()
            );
            engine.reject(id, &why).await
        };
        match result {
            Ok(()) => {}
            // A receipt repeated for a message already settled changes nothing.
            Err(knudepunkt_engine::JournalError::WrongState { state, .. })
                if state.is_terminal() => {}
            // The receipt overtook our own record of the sending: the access point is
            // told to deliver it again, and will.
            Err(knudepunkt_engine::JournalError::WrongState { state, .. }) => {
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": format!("the message is {state}, not yet sent; try again")}),
                );
            }
            Err(e) => {
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": e.to_string()}),
                );
            }
        }
    }
    answer(StatusCode::OK, json!({"receipts": message.letters.len()}))
}
