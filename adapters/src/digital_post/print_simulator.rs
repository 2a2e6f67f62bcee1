//! The sandbox's SF1600 PrintService: `afsendBrev` checked as the service does (the OIO
//! IDWS signature and holder-of-key assertion of the STS, for this service), the
//! PrintAfsendBrevRequest against `sf1600/PrintServiceMsg.xsd`, duplicates by
//! AfsendelseIdentifikator; answers `resultat` true or a SOAP fault, and pushes the
//! status the way the KombiPostAfsend simulator does (it shares its recipients).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::print::{NS, PRINT_PATH, afsendelse_id};
use super::simulator::KombiPostSimulator;
use crate::sandbox::{FaultPlan, Recorder, control_router, faults};
use crate::serviceplatformen::security::dom::Document;
use crate::sts::simulator::StsSimulator;

/// The entity id the sandbox's PrintService takes assertions for.
pub const ENTITY_ID: &str = "http://entityid.kombit.dk/service/print/2";

#[derive(Clone)]
pub struct PrintServiceSimulator {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    sts: StsSimulator,
    schema: Option<Arc<PathBuf>>,
    digital_post: KombiPostSimulator,
}

fn fault(code: &str, text: &str) -> Response {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{}</faultstring></soap:Fault></soap:Body></soap:Envelope>"#,
        quick_xml::escape::escape(text)
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The PrintAfsendBrevRequest element as it stands in the envelope.
fn request_element(text: &str) -> Option<&str> {
    let name = "PrintAfsendBrevRequest";
    let at = text
        .find(&format!(":{name}"))
        .or_else(|| text.find(&format!("<{name}")))?;
    let start = text[..at].rfind('<')?;
    let prefix = &text[start + 1..at];
    let close = format!(
        "</{prefix}{}{name}>",
        if prefix.is_empty() { "" } else { ":" }
    );
    let end = text.rfind(&close)? + close.len();
    Some(&text[start..end])
}

impl PrintServiceSimulator {
    pub fn new(
        sts: StsSimulator,
        schema: Option<PathBuf>,
        digital_post: KombiPostSimulator,
    ) -> Self {
        PrintServiceSimulator {
            recorder: Arc::new(Recorder::new(50)),
            faults: Arc::new(FaultPlan::default()),
            sts,
            schema: schema.map(Arc::new),
            digital_post,
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(PRINT_PATH, post(afsend_brev))
            .with_state(self.clone())
            .nest(
                "/print/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }
}

async fn afsend_brev(State(sim): State<PrintServiceSimulator>, body: Bytes) -> Response {
    if let Some(faulty) = faults::arrive(&sim.recorder, &sim.faults).await {
        return faulty;
    }
    let text = String::from_utf8_lossy(&body);
    let accepted = match crate::sandbox::accept_idws(&sim.recorder, &sim.sts, ENTITY_ID, &text) {
        Ok(a) => a,
        Err(why) => return fault("Client", &why),
    };
    let Some(request) = request_element(&text) else {
        sim.recorder.count_invalid();
        return fault("Client", "Body holds no PrintAfsendBrevRequest");
    };
    if let Some(xsd) = &sim.schema
        && let Err(e) = knudepunkt_engine::transform::xsd::validate(xsd, request.as_bytes())
    {
        sim.recorder.count_invalid();
        return fault(
            "Client",
            &format!("PrintAfsendBrevRequest validerer ikke: {e}"),
        );
    }
    let Ok(doc) = Document::parse(request) else {
        sim.recorder.count_invalid();
        return fault("Client", "PrintAfsendBrevRequest is not XML");
    };
    let Some(id) = afsendelse_id(&doc) else {
        sim.recorder.count_invalid();
        return fault("Client", "AfsendelseIdentifikator mangler");
    };
    let recipient = doc
        .text_of("CPRnummerIdentifikator")
        .or_else(|| doc.text_of("CVRnummerIdentifikator"))
        .unwrap_or_default();
    if sim.digital_post.is_unknown(&recipient) {
        return fault("Client", "Modtager findes ikke");
    }
    let (duplicate, _) = sim.recorder.accept(
        &id,
        Some(&accepted.transaction),
        Some("application/xml"),
        request.as_bytes(),
    );
    if !duplicate {
        sim.digital_post
            .push_status(id, accepted.transaction.clone(), recipient);
    }
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><print:PrintAfsendBrevResponse xmlns:print="{NS}"><print:resultat>true</print:resultat></print:PrintAfsendBrevResponse></soap:Body></soap:Envelope>"#
    );
    (
        StatusCode::OK,
        [("content-type", "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_request_is_cut_from_its_envelope() {
        let env = r#"<s:Envelope xmlns:s="x"><s:Body><p:PrintAfsendBrevRequest xmlns:p="y"><p:a/></p:PrintAfsendBrevRequest></s:Body></s:Envelope>"#;
        assert_eq!(
            super::request_element(env),
            Some(r#"<p:PrintAfsendBrevRequest xmlns:p="y"><p:a/></p:PrintAfsendBrevRequest>"#)
        );
        assert_eq!(super::request_element("<a/>"), None);
    }
}
