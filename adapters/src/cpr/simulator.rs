//! The sandbox's CPR (SF1520 PersonBaseDataExtended 4, PersonLookup): it checks the OIO
//! IDWS call (the STS's holder-of-key assertion for the service, the signature),
//! validates the request against the official schema, and answers from the generated
//! population ([`super::population`]) or from people a test put in; a number CPR does
//! not know is a ServiceplatformFault (`PNR_FINDES_IKKE`, the sandbox's code). Faults
//! are injected through `/cpr/_sandbox`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::person::Person;
use super::{ENTITY_ID, NOT_FOUND, PATH, population, wire};
use crate::sandbox::{FaultPlan, Recorder, control_router};
use crate::serviceplatformen::idws::SOAP11;
use crate::serviceplatformen::security::dom::Document;
use crate::sts::simulator::StsSimulator;

#[derive(Clone)]
pub struct CprSimulator {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    sts: StsSimulator,
    schema: Option<Arc<PathBuf>>,
    people: Arc<RwLock<HashMap<String, Person>>>,
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

fn fault(code: &str, error: &str, text: &str) -> Response {
    xml(
        StatusCode::INTERNAL_SERVER_ERROR,
        wire::fault(code, error, text),
    )
}

impl CprSimulator {
    /// `schema` is `sf1520-cpr/PersonBaseDataExtendedServiceMsg.xsd`.
    pub fn new(sts: StsSimulator, schema: Option<PathBuf>) -> Self {
        CprSimulator {
            recorder: Arc::new(Recorder::new(200)),
            faults: Arc::new(FaultPlan::default()),
            sts,
            schema: schema.map(Arc::new),
            people: Default::default(),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(PATH, post(lookup))
            .with_state(self.clone())
            .nest(
                "/cpr/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }

    /// Puts `person` in CPR (in place of the generated one).
    pub fn put(&self, person: Person) {
        self.people
            .write()
            .expect("people")
            .insert(person.cpr.clone(), person);
    }

    /// The person CPR holds under `cpr`.
    pub fn person(&self, cpr: &str) -> Option<Person> {
        self.people
            .read()
            .expect("people")
            .get(cpr)
            .cloned()
            .or_else(|| population::person(cpr))
    }
}

async fn lookup(State(sim): State<CprSimulator>, body: axum::body::Bytes) -> Response {
    if let Some(resp) = crate::sandbox::faults::arrive(&sim.recorder, &sim.faults).await {
        return resp;
    }
    let text = String::from_utf8_lossy(&body);
    let accepted = match crate::sandbox::accept_idws(&sim.recorder, &sim.sts, ENTITY_ID, &text) {
        Ok(a) => a,
        Err(why) => return fault("Client", "SECURITY", &why),
    };
    let Some((_, element)) = crate::sts_service::service::body_element(&text) else {
        sim.recorder.count_invalid();
        return fault("Client", "REQUEST", "Body holds no PersonLookupRequest");
    };
    if let Some(xsd) = &sim.schema
        && let Err(e) = knudepunkt_engine::transform::xsd::validate(xsd, element.as_bytes())
    {
        sim.recorder.count_invalid();
        return fault(
            "Client",
            "REQUEST",
            &format!("the request does not validate: {e}"),
        );
    }
    let Some(cpr) = Document::parse(element)
        .ok()
        .and_then(|d| wire::requested(&d))
    else {
        sim.recorder.count_invalid();
        return fault("Client", "REQUEST", "the request names no PNR");
    };
    let Some(person) = sim.person(&cpr) else {
        sim.recorder.count_invalid();
        return fault("Client", NOT_FOUND, "PNR findes ikke i CPR");
    };
    sim.recorder.accept(
        &accepted.transaction,
        None,
        Some("application/xml"),
        element.as_bytes(),
    );
    xml(
        StatusCode::OK,
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body>{}</soap:Body></soap:Envelope>"#,
            wire::response(&person)
        ),
    )
}
