//! The sandbox's Sags- og dokumentindeks: importer, opdater and fjern as OIO IDWS SOAP
//! calls, checked as Serviceplatformen does (the STS's holder-of-key assertion for this
//! service, the input against the XSDs), deduplicated by TransactionUUID, answered with
//! StandardRetur 20, or 40 with a FejlbeskedTekst; faults on request, StatusKode 40 and
//! 49 among them. Beside it, SAPA's search by CPR for a user with job roles, filtered by
//! org unit and KLE as SAPA does, and SAPA's page for a case.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::model::{Index, IndexedCase, IndexedDocument, Refusal, changes};
use super::{ENTITY_ID, NS, PATH};
use crate::sandbox::faults::{self, Arrival};
use crate::sandbox::{FaultPlan, Recorder, control_router};
use crate::serviceplatformen::idws::{self, SOAP11};
use crate::serviceplatformen::security::dom::{Document, Node};
use crate::sts::simulator::StsSimulator;
use crate::sts_service::retur::{self, SAGDOK_NS};

/// A transaction's answer: StatusKode and FejlbeskedTekst.
type Answered = HashMap<String, (u16, Option<String>)>;

#[derive(Clone)]
pub struct SagDokIndeksSimulator {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    sts: StsSimulator,
    schema: Option<Arc<PathBuf>>,
    index: Arc<RwLock<Index>>,
    /// What each transaction was answered, so that a repeat gets the same answer.
    answered: Arc<Mutex<Answered>>,
}

fn soap_fault(code: &str, text: &str) -> Response {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{}</faultstring></soap:Fault></soap:Body></soap:Envelope>"#,
        quick_xml::escape::escape(text)
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The operation's output, named after its input, holding one StandardRetur.
fn answer(input: &str, transaction: &str, status: u16, text: Option<&str>) -> Response {
    let output = input
        .strip_suffix("Input")
        .map(|stem| format!("{stem}Output"))
        .unwrap_or_else(|| "ImporterSagDokumentIndeksOutput".into());
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Header><h:RequestHeader xmlns:h="http://kombit.dk/xml/schemas/RequestHeader/1/"><h:TransactionUUID>{}</h:TransactionUUID></h:RequestHeader></soap:Header><soap:Body><sdi:{output} xmlns:sdi="{NS}" xmlns:sd="{SAGDOK_NS}">{}</sdi:{output}></soap:Body></soap:Envelope>"#,
        quick_xml::escape::escape(transaction),
        retur::standard_retur(status, text)
    );
    (
        StatusCode::OK,
        [("content-type", "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The Body's element as it stands in the envelope `text`, and its local name. The
/// element carries its own namespace declarations (the caller's rendered payload).
fn body_element(text: &str) -> Option<(String, &str)> {
    let doc = Document::parse(text).ok()?;
    let body = doc.find(SOAP11, "Body").into_iter().next()?;
    let el = doc.at(&body)?.children.iter().find_map(|c| match c {
        Node::Element(e) => Some(e),
        _ => None,
    })?;
    let qname = el.qname();
    let open = format!("<{qname}");
    let body_at = text.find(":Body").or_else(|| text.find("<Body"))?;
    let start = body_at + text[body_at..].find(&open)?;
    let close = format!("</{qname}>");
    let end = text.rfind(&close).map(|i| i + close.len()).or_else(|| {
        // A childless element: `<x .../>`.
        text[start..].find("/>").map(|i| start + i + 2)
    })?;
    Some((el.local.clone(), &text[start..end]))
}

impl SagDokIndeksSimulator {
    pub fn new(sts: StsSimulator, schema: Option<PathBuf>) -> Self {
        SagDokIndeksSimulator {
            recorder: Arc::new(Recorder::new(200)),
            faults: Arc::new(FaultPlan::default()),
            sts,
            schema: schema.map(Arc::new),
            index: Arc::new(RwLock::new(Index::default())),
            answered: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(PATH, post(operation))
            .route("/sapa/soeg", post(sapa_search))
            .route("/sapa/sag/{id}", get(sapa_case))
            .route("/sagdokumentindeks/_sandbox/counts", get(counts))
            .with_state(self.clone())
            .nest(
                "/sagdokumentindeks/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }

    pub fn case(&self, uuid: &str) -> Option<IndexedCase> {
        self.index.read().expect("index").cases.get(uuid).cloned()
    }

    pub fn document(&self, uuid: &str) -> Option<IndexedDocument> {
        self.index
            .read()
            .expect("index")
            .documents
            .get(uuid)
            .cloned()
    }

    /// Cases and documents in the index.
    pub fn counts(&self) -> (usize, usize) {
        let index = self.index.read().expect("index");
        (index.cases.len(), index.documents.len())
    }

    /// SAPA's search by CPR for a user with `roles`.
    pub fn search(&self, cpr: &str, roles: &[Role]) -> SearchResult {
        let index = self.index.read().expect("index");
        let visible = |case: &IndexedCase| {
            roles.iter().any(|r| {
                case.org_unit.as_deref() == Some(r.org_unit_id.as_str())
                    && case.kle.as_deref().is_some_and(|k| r.covers(k))
            })
        };
        let mut cases: Vec<&IndexedCase> = index
            .cases
            .values()
            .filter(|c| c.cpr.as_deref() == Some(cpr) && visible(c))
            .collect();
        cases.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        let mut documents: Vec<FoundDocument> = index
            .documents
            .values()
            .filter(|d| d.cpr.as_deref() == Some(cpr))
            .filter_map(|d| {
                let case = index.case_of(&d.uuid)?;
                visible(case).then(|| FoundDocument {
                    uuid: d.uuid.clone(),
                    title: d.title.clone(),
                    letter_date: d.letter_date.clone(),
                    case_uuid: case.uuid.clone(),
                })
            })
            .collect();
        documents.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        SearchResult {
            cases: cases
                .into_iter()
                .map(|c| FoundCase {
                    uuid: c.uuid.clone(),
                    title: c.title.clone(),
                    status: c.status().map(str::to_string),
                    kle: c.kle.clone(),
                    org_unit: c.org_unit.clone(),
                    link: c.link.clone(),
                })
                .collect(),
            documents,
        }
    }
}

async fn operation(State(sim): State<SagDokIndeksSimulator>, body: axum::body::Bytes) -> Response {
    let injected = match faults::arrive_sts(&sim.recorder, &sim.faults).await {
        Arrival::Answered(resp) => return resp,
        Arrival::StatusKode { code, text } => Some((code, text)),
        Arrival::Proceed => None,
    };
    let text = String::from_utf8_lossy(&body);
    let accepted = match idws::verify_call(&text, &sim.sts.certificate(), ENTITY_ID) {
        Ok(a) => a,
        Err(e) => {
            sim.recorder.count_invalid();
            return soap_fault(
                "Client",
                &format!("the security token or assertion was refused: {e}"),
            );
        }
    };
    let Some((input, element)) = body_element(&text) else {
        sim.recorder.count_invalid();
        return soap_fault("Client", "Body holds no operation");
    };
    let transaction = accepted.transaction;
    if let Some((code, text)) = injected {
        return answer(&input, &transaction, code, Some(&text));
    }
    if let Some((status, text)) = sim
        .answered
        .lock()
        .expect("answers")
        .get(&transaction)
        .cloned()
    {
        sim.recorder.accept(
            &transaction,
            None,
            Some("application/xml"),
            element.as_bytes(),
        );
        return answer(&input, &transaction, status, text.as_deref());
    }
    let outcome = apply(&sim, element);
    let (status, why) = match &outcome {
        Ok(()) => (retur::OK, None),
        Err(Refusal(why)) => {
            sim.recorder.count_invalid();
            (retur::CLIENT_ERROR, Some(why.clone()))
        }
    };
    if outcome.is_ok() {
        sim.recorder.accept(
            &transaction,
            None,
            Some("application/xml"),
            element.as_bytes(),
        );
    }
    sim.answered
        .lock()
        .expect("answers")
        .insert(transaction.clone(), (status, why.clone()));
    answer(&input, &transaction, status, why.as_deref())
}

/// Validates and applies one operation's input element.
fn apply(sim: &SagDokIndeksSimulator, element: &str) -> Result<(), Refusal> {
    if let Some(xsd) = &sim.schema {
        knudepunkt_engine::transform::xsd::validate(xsd, element.as_bytes())
            .map_err(|e| Refusal(format!("Forespørgslen validerer ikke: {e}")))?;
    }
    let doc =
        Document::parse(element).map_err(|e| Refusal(format!("Forespørgslen er ikke XML: {e}")))?;
    let root = doc
        .at(&[])
        .ok_or_else(|| Refusal("tom forespørgsel".into()))?;
    let changes = changes(root)?;
    sim.index.write().expect("index").apply(changes)
}

/// One of the searching user's job roles: KLE numbers within one org unit.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Role {
    pub org_unit_id: String,
    /// KLE main groups, groups or subjects.
    pub kle: Vec<String>,
}

impl Role {
    /// Whether the role covers KLE number `kle` (a group covers its subjects).
    pub fn covers(&self, kle: &str) -> bool {
        self.kle.iter().any(|g| {
            kle == g
                || kle
                    .strip_prefix(g.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchRequest {
    pub cpr: String,
    pub roles: Vec<Role>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FoundCase {
    pub uuid: String,
    pub title: Option<String>,
    pub status: Option<String>,
    pub kle: Option<String>,
    pub org_unit: Option<String>,
    /// The hop to the case in its own system.
    pub link: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FoundDocument {
    pub uuid: String,
    pub title: Option<String>,
    pub letter_date: Option<String>,
    pub case_uuid: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchResult {
    pub cases: Vec<FoundCase>,
    pub documents: Vec<FoundDocument>,
}

/// How many cases and documents the index holds.
async fn counts(State(sim): State<SagDokIndeksSimulator>) -> Json<serde_json::Value> {
    let (cases, documents) = sim.counts();
    Json(serde_json::json!({"cases": cases, "documents": documents}))
}

async fn sapa_search(
    State(sim): State<SagDokIndeksSimulator>,
    Json(req): Json<SearchRequest>,
) -> Json<SearchResult> {
    Json(sim.search(req.cpr.trim(), &req.roles))
}

/// SAPA's page for a case, with the hop back to the case in its own system.
async fn sapa_case(State(sim): State<SagDokIndeksSimulator>, Path(id): Path<String>) -> Response {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    match sim.case(&id) {
        Some(case) => {
            let link = case
                .link
                .as_deref()
                .map(|l| format!(r#"<p><a href="{}">Åbn sagen i fagsystemet</a></p>"#, esc(l)))
                .unwrap_or_default();
            Html(format!(
                "<!doctype html><html lang=\"da\"><head><meta charset=\"utf-8\"><title>SAPA: {}</title></head><body><h1>{}</h1><p>Status: {}</p><p>KLE: {}</p>{link}</body></html>",
                esc(case.title.as_deref().unwrap_or("")),
                esc(case.title.as_deref().unwrap_or("")),
                esc(case.status().unwrap_or("")),
                esc(case.kle.as_deref().unwrap_or("")),
            ))
            .into_response()
        }
        None => (StatusCode::NOT_FOUND, "SAPA: no such case in the index\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_element_is_cut_from_its_envelope() {
        let env = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body wsu:Id="b" xmlns:wsu="u"><x:FjernSagDokumentIndeksInput xmlns:x="n"><x:a/></x:FjernSagDokumentIndeksInput></s:Body></s:Envelope>"#;
        let (local, el) = body_element(env).unwrap();
        assert_eq!(local, "FjernSagDokumentIndeksInput");
        assert_eq!(
            el,
            r#"<x:FjernSagDokumentIndeksInput xmlns:x="n"><x:a/></x:FjernSagDokumentIndeksInput>"#
        );
    }

    #[test]
    fn a_role_covers_its_groups_subjects_only() {
        let role = Role {
            org_unit_id: "x".into(),
            kle: vec!["27.24".into()],
        };
        assert!(role.covers("27.24.00"));
        assert!(role.covers("27.24"));
        assert!(!role.covers("27.240.00"));
        assert!(!role.covers("27.36.04"));
    }
}
