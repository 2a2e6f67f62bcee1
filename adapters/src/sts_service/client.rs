//! The `sts-service` adapter: one OIO IDWS SOAP call per message. The route's option
//! `action` is the SOAP action with `{operation}` where the operation's name goes (e.g.
//! `http://kombit.dk/sts/sagdokumentindeks/{operation}`); the payload is the operation's
//! input element. StatusKode 20 delivers; 40 is permanent and 49 transient, each with
//! the service's FejlbeskedTekst; SOAP faults and HTTP errors are classified as usual.

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome, Reply};

use super::retur::{self, Verdict};
use crate::digital_post::print::fault_of;
use crate::generic_http::client::{Classified, classify_status};
use crate::serviceplatformen::access::Access;
use crate::serviceplatformen::idws::{self, ServiceCall};
use crate::serviceplatformen::security::dom::Document;
use crate::sts::client::Attempt;

pub const ADAPTER: &str = "sts-service";
/// The route option naming the SOAP action.
pub const ACTION_OPTION: &str = "action";
/// The route option naming the SOAP version: `1.1` (the default) or `1.2`.
pub const SOAP_OPTION: &str = "soap";
/// The external id the call's TransactionUUID is kept under.
pub const TRANSACTION_ID: &str = "serviceplatformen_transaction_id";

fn permanent(error: String) -> DeliveryOutcome {
    DeliveryOutcome::Permanent { error, reply: None }
}

/// The SOAP action for `payload` under the route's `action` template, and the body to
/// send (the payload without its XML declaration).
fn prepare(template: &str, payload: &[u8]) -> Result<(String, String), String> {
    let text = std::str::from_utf8(payload).map_err(|_| "the payload is not UTF-8".to_string())?;
    let doc = Document::parse(text).map_err(|e| format!("the payload does not read: {e}"))?;
    let root = doc
        .at(&[])
        .map(|e| e.local.clone())
        .ok_or_else(|| "the payload has no element".to_string())?;
    let operation =
        super::operation(&root).ok_or_else(|| format!("{root} does not name an operation"))?;
    Ok((
        template.replace("{operation}", &operation),
        crate::digital_post::without_declaration(text).to_string(),
    ))
}

pub struct StsServiceAdapter {
    access: Access,
}

impl StsServiceAdapter {
    pub fn new(access: Access) -> Self {
        StsServiceAdapter { access }
    }
}

/// Why a call gave no answer to read.
#[derive(Debug)]
pub(crate) enum CallFailed {
    /// Trying again may help (no token, the network, the service's faults).
    Transient(String),
    /// It will not (the call could not be signed).
    Permanent(String),
}

/// One OIO IDWS call of `body` to `endpoint` (a token for `entity`, asked for again
/// once if the service refuses it); the HTTP status and the answer's text.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn call(
    sts: &std::sync::Arc<crate::sts::client::StsClient>,
    cvr: &str,
    http: &reqwest::Client,
    endpoint: &knudepunkt_engine::environment::Endpoint,
    entity: &str,
    action: &str,
    soap: idws::Soap,
    body: &str,
    transaction: uuid::Uuid,
) -> Result<(u16, String), CallFailed> {
    sts.with_saml_token(entity, cvr, |token| async move {
        let call = ServiceCall {
            action,
            to: &endpoint.url,
            body,
            transaction,
            now: chrono::Utc::now(),
            soap,
        };
        let signed = match idws::signed_call(&call, &token, sts.credential()) {
            Ok(s) => s,
            Err(e) => {
                return Attempt::Done(Err(CallFailed::Permanent(format!("signing the call: {e}"))));
            }
        };
        let mut req = http.post(&endpoint.url).timeout(endpoint.timeout);
        for (name, value) in soap.headers(action) {
            req = req.header(name, value);
        }
        let resp = match req.body(signed).send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Done(Err(CallFailed::Transient(format!(
                    "{} at {}: {e}",
                    endpoint.name, endpoint.url
                ))));
            }
        };
        let status = resp.status().as_u16();
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                return Attempt::Done(Err(CallFailed::Transient(format!(
                    "{}: the answer broke off: {e}",
                    endpoint.name
                ))));
            }
        };
        if let Some((code, why)) = fault_of(&text)
            && (why.contains("token") || why.contains("assertion"))
        {
            return Attempt::TokenRefused(CallFailed::Transient(format!(
                "{} refused the token ({code}): {why}",
                endpoint.name
            )));
        }
        Attempt::Done(Ok((status, text)))
    })
    .await
}

impl From<crate::sts::StsError> for CallFailed {
    fn from(e: crate::sts::StsError) -> Self {
        CallFailed::Transient(format!("no token for the service: {e}"))
    }
}

/// What an answer amounts to for a delivery.
fn outcome(service: &str, status: u16, text: String, transaction: uuid::Uuid) -> DeliveryOutcome {
    let reply = Some(Reply {
        status,
        content_type: Some("text/xml".into()),
        body: text.clone().into_bytes(),
    });
    match (status, fault_of(&text)) {
        (_, Some((code, why))) if code.ends_with("Client") => DeliveryOutcome::Permanent {
            error: format!("{service} refused the call ({code}): {why}"),
            reply,
        },
        (_, Some((code, why))) => DeliveryOutcome::Transient {
            error: format!("{service} failed ({code}): {why}"),
            retry_after: None,
        },
        (200, None) => {
            let verdict = Document::parse(&text)
                .ok()
                .and_then(|doc| retur::verdict(&retur::read(&doc)));
            match verdict {
                Some(Verdict::Ok) => DeliveryOutcome::Delivered {
                    reply,
                    external_ids: [(TRANSACTION_ID.to_string(), transaction.to_string())]
                        .into_iter()
                        .collect(),
                },
                Some(Verdict::Refused(why)) => DeliveryOutcome::Permanent {
                    error: format!("{service} refused it: {why}"),
                    reply,
                },
                Some(Verdict::Failed(why)) => DeliveryOutcome::Transient {
                    error: format!("{service} failed: {why}"),
                    retry_after: None,
                },
                None => DeliveryOutcome::Transient {
                    error: format!("{service} answered 200 without a StandardRetur"),
                    retry_after: None,
                },
            }
        }
        (status, None) => match classify_status(status) {
            Classified::Permanent => DeliveryOutcome::Permanent {
                error: format!("{service} answered {status}"),
                reply,
            },
            _ => DeliveryOutcome::Transient {
                error: format!("{service} answered {status}"),
                retry_after: None,
            },
        },
    }
}

/// The SOAP version a route's options name.
fn soap_of(d: &Delivery<'_>) -> Result<idws::Soap, String> {
    match d.route.adapter_options.get(SOAP_OPTION).map(String::as_str) {
        None | Some("1.1") => Ok(idws::Soap::V11),
        Some("1.2") => Ok(idws::Soap::V12),
        Some(other) => Err(format!(
            "route {}: deliver.options.{SOAP_OPTION} is {other:?}; use 1.1 or 1.2",
            d.route.id
        )),
    }
}

#[async_trait]
impl Adapter for StsServiceAdapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let Some(template) = d.route.adapter_options.get(ACTION_OPTION) else {
            return permanent(format!(
                "route {} gives no deliver.options.{ACTION_OPTION} (the SOAP action)",
                d.route.id
            ));
        };
        let (action, body) = match prepare(template, d.payload) {
            Ok(p) => p,
            Err(e) => return permanent(e),
        };
        let soap = match soap_of(d) {
            Ok(s) => s,
            Err(e) => return permanent(e),
        };
        let sending = match self.access.sending(d) {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        // One transaction per message: a redelivery is the same transaction again.
        let transaction = d.message_id.as_uuid();
        match call(
            sending.sts,
            sending.cvr,
            sending.http,
            d.endpoint,
            sending.entity,
            &action,
            soap,
            &body,
            transaction,
        )
        .await
        {
            Ok((status, text)) => outcome(&d.endpoint.name, status, text, transaction),
            Err(CallFailed::Permanent(error)) => permanent(error),
            Err(CallFailed::Transient(error)) => DeliveryOutcome::Transient {
                error,
                retry_after: None,
            },
        }
    }
}

/// Reads from an STS service outside the journal (a reconciliation's fremsoeg): the
/// answer's text when its StandardRetur is 20.
#[derive(Clone)]
pub struct StsServiceClient {
    access: Access,
}

impl StsServiceClient {
    pub fn new(access: Access) -> Self {
        StsServiceClient { access }
    }

    /// Calls `endpoint` with the operation element `payload`; `action` has
    /// `{operation}` for the operation's name.
    pub async fn ask(
        &self,
        endpoint: &knudepunkt_engine::environment::Endpoint,
        action: &str,
        soap: idws::Soap,
        payload: &str,
    ) -> Result<String, String> {
        let (action, body) = prepare(action, payload.as_bytes())?;
        let (sts, cvr, http) = self.access.parts()?;
        let entity = endpoint
            .entity_id
            .as_deref()
            .ok_or_else(|| format!("endpoint {} names no entity_id", endpoint.name))?;
        let (status, text) = call(
            sts,
            cvr,
            http,
            endpoint,
            entity,
            &action,
            soap,
            &body,
            uuid::Uuid::now_v7(),
        )
        .await
        .map_err(|f| match f {
            CallFailed::Permanent(e) | CallFailed::Transient(e) => e,
        })?;
        match outcome(&endpoint.name, status, text.clone(), uuid::Uuid::nil()) {
            DeliveryOutcome::Delivered { .. } => Ok(text),
            DeliveryOutcome::Permanent { error, .. } | DeliveryOutcome::Transient { error, .. } => {
                Err(error)
            }
            DeliveryOutcome::Accepted { .. } => Ok(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prepare;

    #[test]
    fn the_action_is_named_after_the_input_element() {
        let payload = br#"<?xml version="1.0"?>
<sdi:FjernSagDokumentIndeksInput xmlns:sdi="urn:oio:sts:sagdok:sagdokumentindeks:6"/>"#;
        let (action, body) = prepare(
            "http://kombit.dk/sts/sagdokumentindeks/{operation}",
            payload,
        )
        .unwrap();
        assert_eq!(action, "http://kombit.dk/sts/sagdokumentindeks/fjern");
        assert!(body.starts_with("<sdi:FjernSagDokumentIndeksInput"));
        assert!(prepare("{operation}", b"<lower/>").is_err());
        assert!(prepare("{operation}", b"not xml").is_err());
    }
}
