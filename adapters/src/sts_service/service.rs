//! The service side of an STS SOAP call, shared by the sandbox's STS services: the
//! Body's operation element, the answer with its StandardRetur, and SOAP faults, in the
//! SOAP version the service speaks.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::retur::{self, SAGDOK_NS};
use crate::serviceplatformen::idws::{SOAP11, SOAP12, Soap};
use crate::serviceplatformen::security::dom::{Document, Node};

fn content_type(soap: Soap) -> &'static str {
    match soap {
        Soap::V11 => "text/xml; charset=utf-8",
        Soap::V12 => "application/soap+xml; charset=utf-8",
    }
}

/// The SOAP version of an envelope, by its namespace.
pub fn version_of(text: &str) -> Soap {
    if text.contains(SOAP12) {
        Soap::V12
    } else {
        Soap::V11
    }
}

/// A SOAP fault: `code` is `Client` or `Server` (SOAP 1.2's Sender and Receiver).
pub fn soap_fault(soap: Soap, code: &str, text: &str) -> Response {
    let text = quick_xml::escape::escape(text);
    let body = match soap {
        Soap::V11 => format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{text}</faultstring></soap:Fault></soap:Body></soap:Envelope>"#
        ),
        Soap::V12 => {
            let code = if code == "Client" {
                "Sender"
            } else {
                "Receiver"
            };
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP12}"><soap:Body><soap:Fault><soap:Code><soap:Value>soap:{code}</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang="da">{text}</soap:Text></soap:Reason></soap:Fault></soap:Body></soap:Envelope>"#
            )
        }
    };
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", content_type(soap))],
        body,
    )
        .into_response()
}

/// The operation's output (named after its input: `...Input` becomes `...Output`, in
/// namespace `ns`), holding one StandardRetur and then `found` (what a search found),
/// with the call's TransactionUUID echoed in the RequestHeader.
pub fn answer(
    soap: Soap,
    ns: &str,
    input: &str,
    transaction: &str,
    status: u16,
    text: Option<&str>,
    found: &str,
) -> Response {
    let output = input
        .strip_suffix("Input")
        .map(|stem| format!("{stem}Output"))
        .unwrap_or_else(|| format!("{input}Output"));
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{}"><soap:Header><h:RequestHeader xmlns:h="http://kombit.dk/xml/schemas/RequestHeader/1/"><h:TransactionUUID>{}</h:TransactionUUID></h:RequestHeader></soap:Header><soap:Body><op:{output} xmlns:op="{ns}" xmlns:sd="{SAGDOK_NS}">{}{found}</op:{output}></soap:Body></soap:Envelope>"#,
        soap.namespace(),
        quick_xml::escape::escape(transaction),
        retur::standard_retur(status, text)
    );
    (StatusCode::OK, [("content-type", content_type(soap))], body).into_response()
}

/// The Body's element as it stands in the envelope `text`, and its local name. The
/// element carries its own namespace declarations (the caller's rendered payload).
pub fn body_element(text: &str) -> Option<(String, &str)> {
    let doc = Document::parse(text).ok()?;
    let soap = version_of(text).namespace();
    let body = doc.find(soap, "Body").into_iter().next()?;
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
        let v12 = env.replace(SOAP11, SOAP12);
        assert_eq!(body_element(&v12).unwrap().0, "FjernSagDokumentIndeksInput");
    }
}

/// Why a service refused an operation (StatusKode 40), in its own words.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

/// Answers a TransactionUUID was given: StatusKode, FejlbeskedTekst, what was found.
type Answered = std::collections::HashMap<String, (u16, Option<String>, String)>;

/// The front desk of a simulated STS service: it counts the call and carries out an
/// injected fault, checks the OIO IDWS call (the STS's holder-of-key assertion for this
/// service, the signature), validates the operation against the service's schema,
/// answers a TransactionUUID it has seen as it answered it before (without applying it
/// again), and otherwise applies the operation and answers StatusKode 20, or 40 with
/// the refusal.
#[derive(Clone)]
pub struct ServiceDesk {
    pub recorder: std::sync::Arc<crate::sandbox::Recorder>,
    pub faults: std::sync::Arc<crate::sandbox::FaultPlan>,
    sts: crate::sts::simulator::StsSimulator,
    entity_id: &'static str,
    ns: &'static str,
    schema: Option<std::sync::Arc<std::path::PathBuf>>,
    answered: std::sync::Arc<std::sync::Mutex<Answered>>,
}

impl ServiceDesk {
    pub fn new(
        sts: crate::sts::simulator::StsSimulator,
        entity_id: &'static str,
        ns: &'static str,
        schema: Option<std::path::PathBuf>,
    ) -> Self {
        ServiceDesk {
            recorder: std::sync::Arc::new(crate::sandbox::Recorder::new(200)),
            faults: std::sync::Arc::new(crate::sandbox::FaultPlan::default()),
            sts,
            entity_id,
            ns,
            schema: schema.map(std::sync::Arc::new),
            answered: Default::default(),
        }
    }

    /// Takes one call: `apply` gets the operation's element (validated) and gives what
    /// the output holds after the StandardRetur (empty but for searches).
    pub async fn handle(
        &self,
        body: &[u8],
        apply: impl FnOnce(&Document) -> Result<String, Refusal>,
    ) -> Response {
        use crate::sandbox::faults::{self, Arrival};
        let injected = match faults::arrive_sts(&self.recorder, &self.faults).await {
            Arrival::Answered(resp) => return resp,
            Arrival::StatusKode { code, text } => Some((code, text)),
            Arrival::Proceed => None,
        };
        let text = String::from_utf8_lossy(body);
        let soap = version_of(&text);
        let accepted =
            match crate::sandbox::accept_idws(&self.recorder, &self.sts, self.entity_id, &text) {
                Ok(a) => a,
                Err(why) => return soap_fault(soap, "Client", &why),
            };
        let Some((input, element)) = body_element(&text) else {
            self.recorder.count_invalid();
            return soap_fault(soap, "Client", "Body holds no operation");
        };
        let transaction = accepted.transaction;
        let answer = |status: u16, why: Option<&str>, found: &str| {
            answer(soap, self.ns, &input, &transaction, status, why, found)
        };
        if let Some((code, why)) = injected {
            return answer(code, Some(&why), "");
        }
        let seen = self
            .answered
            .lock()
            .expect("answers")
            .get(&transaction)
            .cloned();
        if let Some((status, why, found)) = seen {
            self.recorder.accept(
                &transaction,
                None,
                Some("application/xml"),
                element.as_bytes(),
            );
            return answer(status, why.as_deref(), &found);
        }
        let outcome = self.validate(element).and_then(|doc| apply(&doc));
        let (status, why, found) = match outcome {
            Ok(found) => {
                self.recorder.accept(
                    &transaction,
                    None,
                    Some("application/xml"),
                    element.as_bytes(),
                );
                (retur::OK, None, found)
            }
            Err(Refusal(why)) => {
                self.recorder.count_invalid();
                (retur::CLIENT_ERROR, Some(why), String::new())
            }
        };
        // A change is remembered by its TransactionUUID, so a repeat is not applied
        // again; a read (soeg, list, laes, fremsoeg) is simply read again.
        let read = super::operation(&input)
            .is_some_and(|op| matches!(op.as_str(), "soeg" | "list" | "laes" | "fremsoeg"));
        if !read {
            self.answered
                .lock()
                .expect("answers")
                .insert(transaction.clone(), (status, why.clone(), found.clone()));
        }
        answer(status, why.as_deref(), &found)
    }

    fn validate(&self, element: &str) -> Result<Document, Refusal> {
        if let Some(xsd) = &self.schema {
            knudepunkt_engine::transform::xsd::validate(xsd, element.as_bytes())
                .map_err(|e| Refusal(format!("Forespørgslen validerer ikke: {e}")))?;
        }
        Document::parse(element).map_err(|e| Refusal(format!("Forespørgslen er ikke XML: {e}")))
    }
}
