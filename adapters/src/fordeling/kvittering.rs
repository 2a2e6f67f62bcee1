//! FordelingskvitteringModtag on Knudepunkt's side (`DistributionServiceAnvenderV2.wsdl`):
//! the Fordelingskomponent passes on the receiving system's receipt. It is validated
//! against the anvender schema when the schema folder is found, matched to its
//! distribution by AnvenderTransaktionsID (the route's idempotency key), and settles
//! it: ACCEPTERET or AFLEVERET confirm the delivery, AFVIST and FEJLET make it dead with
//! the receipt's reason; MODTAGET changes nothing. A receipt for no distribution goes to
//! the operator inbox. The answer is an empty FordelingskvitteringModtagAnvenderResponse,
//! or a SOAP fault with a TransportKvittering: `Client` for a receipt that cannot be
//! read, `Server` for one to send again later.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use knudepunkt_engine::{Engine, JournalError};

use super::wire::{Context, Kode, Kvittering, TransportKvittering};
use super::{ADAPTER, ANVENDER_XSD, NS2, TRANSACTION_ID, UNMATCHED};
use crate::serviceplatformen::idws::SOAP11;
use crate::serviceplatformen::security::dom::Document;
use crate::sts_service::service::body_element;

/// Why a receipt was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// It cannot be read; sending it again will not help.
    Malformed(String),
    /// Try again later.
    Later(String),
}

/// What taking a receipt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    Delivered,
    Dead,
    /// MODTAGET, or a receipt for a distribution already settled.
    Unchanged,
    /// It matched no distribution; it is in the operator inbox.
    Unmatched,
}

/// Reads a FordelingskvitteringModtagAnvenderRequest element.
pub fn parse(element: &str) -> Result<(Kvittering, Context), String> {
    if let Some(xsd) = knudepunkt_engine::schema_dir::locate()
        .map(|d| d.path.join(ANVENDER_XSD))
        .filter(|p| p.is_file())
    {
        knudepunkt_engine::transform::xsd::validate(&xsd, element.as_bytes())
            .map_err(|e| format!("the receipt does not validate: {e}"))?;
    }
    let doc = Document::parse(element).map_err(|e| format!("the receipt is not XML: {e}"))?;
    let root = doc.at(&[]).ok_or("the receipt is empty")?;
    if root.local != "FordelingskvitteringModtagAnvenderRequest" {
        return Err(format!(
            "{} is not a FordelingskvitteringModtagAnvenderRequest",
            root.local
        ));
    }
    let kvittering = Kvittering::read(
        root.elements_named("Forretningskvittering")
            .next()
            .ok_or("the receipt has no Forretningskvittering")?,
    )?;
    let context = Context::read(
        root.elements_named("DistributionContext")
            .next()
            .ok_or("the receipt has no DistributionContext")?,
    )?;
    Ok((kvittering, context))
}

/// Takes one receipt (the SOAP envelope the Fordelingskomponent sent).
pub async fn take(engine: &Engine, envelope: &[u8]) -> Result<Taken, Refused> {
    let text = String::from_utf8_lossy(envelope);
    let (_, element) = body_element(&text)
        .ok_or_else(|| Refused::Malformed("the envelope's Body holds no receipt".into()))?;
    let (kvittering, context) = parse(element).map_err(Refused::Malformed)?;
    let id = &context.anvender_transaktions_id;
    let routes = engine.routes().delivered_by(&[ADAPTER]);
    let found = engine
        .journal()
        .find_by_key_on(&routes, id)
        .await
        .map_err(|e| Refused::Later(e.to_string()))?;
    let Some(message) = found else {
        tracing::warn!(anvender_transaktions_id = %id, "a Fordelingskomponent receipt matches no distribution; it is in the operator inbox");
        engine
            .journal()
            .put_in_inbox(
                UNMATCHED,
                id,
                "a Fordelingskomponent receipt for no document Knudepunkt sent",
                element.as_bytes(),
                "text/xml",
            )
            .await
            .map_err(|e| Refused::Later(e.to_string()))?;
        return Ok(Taken::Unmatched);
    };
    let (result, taken) = match kvittering.kode {
        Kode::Modtaget => return Ok(Taken::Unchanged),
        Kode::Accepteret | Kode::Afleveret => {
            let ids = context
                .distribution_transaktions_id
                .iter()
                .map(|t| (TRANSACTION_ID.to_string(), t.clone()))
                .collect();
            let note = format!("Fordelingskomponent receipt: {}", kvittering.kode.as_str());
            (engine.confirm(message, &note, &ids).await, Taken::Delivered)
        }
        Kode::Afvist | Kode::Fejlet => {
            let why = format!("the receiving system's receipt: {}", kvittering.reason());
            (engine.reject(message, &why).await, Taken::Dead)
        }
    };
    match result {
        Ok(()) => {
            tracing::info!(message_id = %message, kode = kvittering.kode.as_str(), "Fordelingskomponent receipt taken");
            Ok(taken)
        }
        // A receipt repeated for a distribution already settled changes nothing.
        Err(JournalError::WrongState { state, .. }) if state.is_terminal() => Ok(Taken::Unchanged),
        // It overtook our own record of the acceptance: the service sends it again.
        Err(JournalError::WrongState { state, .. }) => Err(Refused::Later(format!(
            "the distribution is {state}, not yet accepted; send the receipt again"
        ))),
        Err(e) => Err(Refused::Later(e.to_string())),
    }
}

fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

/// A SOAP 1.1 fault with a TransportKvittering (FEJL) in `ns` as its detail.
pub fn fault(ns: &str, code: &str, begrundelse: &str, fejlkode: &str) -> Response {
    let detail = TransportKvittering::fejl(begrundelse, fejlkode, begrundelse).to_xml(ns);
    let body = envelope(&format!(
        "<soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{}</faultstring><detail>{detail}</detail></soap:Fault>",
        quick_xml::escape::escape(begrundelse)
    ));
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The HTTP handler (mounted at [`super::KVITTERING_PATH`]).
pub async fn receive(State(engine): State<Engine>, body: Bytes) -> Response {
    match take(&engine, &body).await {
        Ok(_) => (
            StatusCode::OK,
            [("content-type", "text/xml; charset=utf-8")],
            envelope(&format!(
                r#"<fk2:FordelingskvitteringModtagAnvenderResponse xmlns:fk2="{NS2}"/>"#
            )),
        )
            .into_response(),
        Err(Refused::Malformed(why)) => {
            tracing::warn!(reason = %why, "a malformed Fordelingskomponent receipt was refused");
            fault(NS2, "Client", &why, "UGYLDIG")
        }
        Err(Refused::Later(why)) => fault(NS2, "Server", &why, "PROEV_IGEN"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_that_is_no_receipt_says_what_it_is() {
        let e = parse(r#"<x:Other xmlns:x="urn:x"/>"#).unwrap_err();
        assert!(e.contains("Other"), "{e}");
        assert!(parse("<broken").is_err());
    }
}
