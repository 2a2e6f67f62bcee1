//! The sandbox's SEI2: SchemaReport and SchemaCancel as OIO IDWS SOAP 1.1 calls. It
//! checks the call (the STS's holder-of-key assertion for SEI2, the signature over the
//! body), validates the operation against Knudepunkt's model of the schema, and then
//! the schema's content as SEI2 would: a start before the referral, a started course
//! without its consumption, an end before the start, a cancel of a schema it does not
//! have are rejected with SEI2's reasons. A schema reported again under its SchemaId is
//! updated (same content: the same receipt); a call whose TransactionUUID it has
//! answered is answered the same again. A test can have the next report rejected.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use sha2::{Digest, Sha256};

use super::wire::{self, Answer};
use super::{ENTITY_ID, NS, PATH};
use crate::sandbox::{FaultPlan, Recorder, control_router};
use crate::serviceplatformen::idws::{SOAP11, Soap};
use crate::serviceplatformen::security::dom::Document;
use crate::sts::simulator::StsSimulator;
use crate::sts_service::service::{body_element, soap_fault};

/// A schema as SEI2 holds it.
#[derive(Clone, Debug)]
pub struct Schema {
    pub schema_id: String,
    pub cpr: String,
    pub content_sha256: String,
    pub receipt: String,
    pub version: u32,
    pub cancelled: bool,
}

#[derive(Default)]
struct Inner {
    schemas: HashMap<String, Schema>,
    /// TransactionUUID → the answer's Body content.
    answered: HashMap<String, String>,
    receipts: u64,
    reject_next: VecDeque<(String, String)>,
}

#[derive(Clone)]
pub struct Sei2Simulator {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    sts: StsSimulator,
    schema: Option<Arc<PathBuf>>,
    inner: Arc<Mutex<Inner>>,
}

fn ok(body: &str) -> Response {
    (
        StatusCode::OK,
        [("content-type", "text/xml; charset=utf-8")],
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body>{body}</soap:Body></soap:Envelope>"#
        ),
    )
        .into_response()
}

/// The text of `local` in `doc` (the model's namespace), if it is there.
fn text(doc: &Document, local: &str) -> Option<String> {
    doc.find(NS, local)
        .first()
        .and_then(|p| doc.at(p))
        .map(|e| e.text().trim().to_string())
}

/// SEI2's own checks of a NAB schema's content, beyond its schema.
fn content_errors(doc: &Document) -> Vec<(String, String)> {
    let date = |local: &str| {
        text(doc, local).and_then(|t| chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok())
    };
    let mut errors = Vec::new();
    let referred = date("Henvendelsesdato");
    let started = date("Behandlingsstart");
    if let (Some(r), Some(s)) = (referred, started)
        && s < r
    {
        errors.push((
            "Behandlingsstart".into(),
            "Behandlingsstart ligger før Henvendelsesdato".into(),
        ));
    }
    if started.is_some() && text(doc, "GenstandePrUge").is_none() {
        errors.push((
            "GenstandePrUge".into(),
            "Forbruget ved behandlingsstart skal angives".into(),
        ));
    }
    if let (Some(s), Some(e)) = (started, date("Dato"))
        && e < s
    {
        errors.push((
            "Afslutning".into(),
            "Afslutningsdatoen ligger før Behandlingsstart".into(),
        ));
    }
    errors
}

impl Sei2Simulator {
    /// `schema` is the model XSD (`mappings/sei2/Sei2.xsd`).
    pub fn new(sts: StsSimulator, schema: Option<PathBuf>) -> Self {
        Sei2Simulator {
            recorder: Arc::new(Recorder::new(200)),
            faults: Arc::new(FaultPlan::default()),
            sts,
            schema: schema.map(Arc::new),
            inner: Default::default(),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(PATH, post(operation))
            .with_state(self.clone())
            .nest(
                "/sei2/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }

    /// The next SchemaReport is rejected, on `field`, for `reason`.
    pub fn reject_next(&self, field: &str, reason: &str) {
        self.inner
            .lock()
            .expect("sei2")
            .reject_next
            .push_back((field.into(), reason.into()));
    }

    /// The schema SEI2 holds under `schema_id`.
    pub fn schema(&self, schema_id: &str) -> Option<Schema> {
        self.inner
            .lock()
            .expect("sei2")
            .schemas
            .get(schema_id)
            .cloned()
    }

    /// The schemas SEI2 holds, not cancelled.
    pub fn active(&self) -> usize {
        self.inner
            .lock()
            .expect("sei2")
            .schemas
            .values()
            .filter(|s| !s.cancelled)
            .count()
    }

    /// Applies one validated operation; the answer.
    fn apply(&self, operation: &str, element: &str, doc: &Document) -> Answer {
        let schema_id = text(doc, "SchemaId").unwrap_or_default();
        let mut inner = self.inner.lock().expect("sei2");
        let next_receipt = |inner: &mut Inner| {
            inner.receipts += 1;
            format!("SEI2-{:08}", inner.receipts)
        };
        let rejected = |inner: &mut Inner, errors: Vec<(String, String)>| Answer {
            schema_id: schema_id.clone(),
            receipt: next_receipt(inner),
            accepted: false,
            errors,
        };
        if operation == "SchemaCancel" {
            let known = inner
                .schemas
                .get(&schema_id)
                .map(|s| (s.cancelled, s.receipt.clone()));
            return match known {
                None => rejected(
                    &mut inner,
                    vec![("SchemaId".into(), "Skemaet findes ikke hos SEI2".into())],
                ),
                Some((true, receipt)) => Answer {
                    schema_id,
                    receipt,
                    accepted: true,
                    errors: vec![],
                },
                Some((false, _)) => {
                    let receipt = next_receipt(&mut inner);
                    let s = inner.schemas.get_mut(&schema_id).expect("known");
                    s.cancelled = true;
                    s.receipt = receipt.clone();
                    Answer {
                        schema_id,
                        receipt,
                        accepted: true,
                        errors: vec![],
                    }
                }
            };
        }
        let mut errors = content_errors(doc);
        if errors.is_empty()
            && let Some(forced) = inner.reject_next.pop_front()
        {
            errors.push(forced);
        }
        if !errors.is_empty() {
            return rejected(&mut inner, errors);
        }
        let sha = hex::encode(Sha256::digest(element.as_bytes()));
        if let Some(s) = inner.schemas.get(&schema_id)
            && s.content_sha256 == sha
            && !s.cancelled
        {
            return Answer {
                schema_id,
                receipt: s.receipt.clone(),
                accepted: true,
                errors: vec![],
            };
        }
        let receipt = next_receipt(&mut inner);
        let version = inner.schemas.get(&schema_id).map_or(1, |s| s.version + 1);
        inner.schemas.insert(
            schema_id.clone(),
            Schema {
                schema_id: schema_id.clone(),
                cpr: text(doc, "PersonCivilRegistrationIdentifier").unwrap_or_default(),
                content_sha256: sha,
                receipt: receipt.clone(),
                version,
                cancelled: false,
            },
        );
        Answer {
            schema_id,
            receipt,
            accepted: true,
            errors: vec![],
        }
    }
}

async fn operation(State(sim): State<Sei2Simulator>, body: axum::body::Bytes) -> Response {
    if let Some(resp) = crate::sandbox::faults::arrive(&sim.recorder, &sim.faults).await {
        return resp;
    }
    let text = String::from_utf8_lossy(&body);
    let accepted = match crate::sandbox::accept_idws(&sim.recorder, &sim.sts, ENTITY_ID, &text) {
        Ok(a) => a,
        Err(why) => return soap_fault(Soap::V11, "Client", &why),
    };
    let Some((operation, element)) = body_element(&text) else {
        sim.recorder.count_invalid();
        return soap_fault(Soap::V11, "Client", "Body holds no operation");
    };
    if !matches!(operation.as_str(), "SchemaReport" | "SchemaCancel") {
        sim.recorder.count_invalid();
        return soap_fault(
            Soap::V11,
            "Client",
            &format!("SEI2 has no operation {operation}"),
        );
    }
    let seen = sim
        .inner
        .lock()
        .expect("sei2")
        .answered
        .get(&accepted.transaction)
        .cloned();
    if let Some(answer) = seen {
        sim.recorder.accept(
            &accepted.transaction,
            None,
            Some("application/xml"),
            element.as_bytes(),
        );
        return ok(&answer);
    }
    if let Some(xsd) = &sim.schema
        && let Err(e) = knudepunkt_engine::transform::xsd::validate(xsd, element.as_bytes())
    {
        sim.recorder.count_invalid();
        return soap_fault(
            Soap::V11,
            "Client",
            &format!("{operation} validerer ikke mod skemaet: {e}"),
        );
    }
    let doc = match Document::parse(element) {
        Ok(d) => d,
        Err(e) => {
            sim.recorder.count_invalid();
            return soap_fault(
                Soap::V11,
                "Client",
                &format!("{operation} er ikke XML: {e}"),
            );
        }
    };
    let answer = sim.apply(&operation, element, &doc);
    if answer.accepted {
        sim.recorder.accept(
            &accepted.transaction,
            None,
            Some("application/xml"),
            element.as_bytes(),
        );
    } else {
        sim.recorder.count_invalid();
    }
    let body = wire::response(&operation, &answer);
    sim.inner
        .lock()
        .expect("sei2")
        .answered
        .insert(accepted.transaction.clone(), body.clone());
    ok(&body)
}
