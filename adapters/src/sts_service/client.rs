//! The `sts-service` adapter: one OIO IDWS SOAP call per message. The route's option
//! `action` is the SOAP action with `{operation}` where the operation's name goes (e.g.
//! `http://kombit.dk/sts/sagdokumentindeks/{operation}`); the payload is the operation's
//! input element. StatusKode 20 delivers; 40 is permanent and 49 transient, each with
//! the service's FejlbeskedTekst; SOAP faults and HTTP errors are classified as usual.

use std::time::Duration;

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

/// A delivery that ended before the call (no token): transient, the STS may come back.
struct NoCall(DeliveryOutcome);

impl From<crate::sts::StsError> for NoCall {
    fn from(e: crate::sts::StsError) -> Self {
        NoCall(DeliveryOutcome::Transient {
            error: format!("no token for the service: {e}"),
            retry_after: None,
        })
    }
}

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
        let sending = match self.access.sending(d) {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        let (sts, http) = (sending.sts, sending.http);
        let soap = match d.route.adapter_options.get(SOAP_OPTION).map(String::as_str) {
            None | Some("1.1") => idws::Soap::V11,
            Some("1.2") => idws::Soap::V12,
            Some(other) => {
                return permanent(format!(
                    "route {}: deliver.options.{SOAP_OPTION} is {other:?}; use 1.1 or 1.2",
                    d.route.id
                ));
            }
        };
        // One transaction per message: a redelivery is the same transaction again.
        let transaction = d.message_id.as_uuid();
        let result = sts
            .with_saml_token(sending.entity, sending.cvr, |token| {
                let (body, action) = (body.clone(), action.clone());
                async move {
                    let call = ServiceCall {
                        action: &action,
                        to: &d.endpoint.url,
                        body: &body,
                        transaction,
                        now: chrono::Utc::now(),
                        soap,
                    };
                    let signed = match idws::signed_call(&call, &token, sts.credential()) {
                        Ok(s) => s,
                        Err(e) => {
                            return Attempt::Done(Ok::<_, NoCall>(permanent(format!(
                                "signing the call: {e}"
                            ))));
                        }
                    };
                    let mut req = http.post(&d.endpoint.url).timeout(d.endpoint.timeout);
                    for (name, value) in soap.headers(&action) {
                        req = req.header(name, value);
                    }
                    let sent = req.body(signed).send().await;
                    let resp = match sent {
                        Ok(r) => r,
                        Err(e) => {
                            return Attempt::Done(Ok(DeliveryOutcome::Transient {
                                error: format!("{} at {}: {e}", d.endpoint.name, d.endpoint.url),
                                retry_after: None,
                            }));
                        }
                    };
                    let status = resp.status().as_u16();
                    let text = match resp.text().await {
                        Ok(t) => t,
                        Err(e) => {
                            return Attempt::Done(Ok(DeliveryOutcome::Transient {
                                error: format!("{}: the answer broke off: {e}", d.endpoint.name),
                                retry_after: None,
                            }));
                        }
                    };
                    let reply = Some(Reply {
                        status,
                        content_type: Some("text/xml".into()),
                        body: text.clone().into_bytes(),
                    });
                    let service = &d.endpoint.name;
                    let outcome = match (status, fault_of(&text)) {
                        (_, Some((code, why)))
                            if why.contains("token") || why.contains("assertion") =>
                        {
                            return Attempt::TokenRefused(NoCall(DeliveryOutcome::Transient {
                                error: format!("{service} refused the token ({code}): {why}"),
                                retry_after: Some(Duration::ZERO),
                            }));
                        }
                        (_, Some((code, why))) if code.ends_with("Client") => {
                            DeliveryOutcome::Permanent {
                                error: format!("{service} refused the call ({code}): {why}"),
                                reply,
                            }
                        }
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
                                    external_ids: [(
                                        TRANSACTION_ID.to_string(),
                                        transaction.to_string(),
                                    )]
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
                                    error: format!(
                                        "{service} answered 200 without a StandardRetur"
                                    ),
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
                    };
                    Attempt::Done(Ok(outcome))
                }
            })
            .await;
        match result {
            Ok(outcome) | Err(NoCall(outcome)) => outcome,
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
