//! SF1600 PrintService, the alternative to KombiPostAfsend for municipalities still on
//! it: `afsendBrev` (SOAP 1.1, OIO IDWS) with a `PrintAfsendBrevRequest` the route's
//! template renders (schema `sf1600/PrintServiceMsg.xsd`). Choosing it is a route
//! setting: `deliver.adapter: printservice`. `resultat` true means accepted; the status
//! comes through Beskedfordeler as for SF1601, found by AfsendelseIdentifikator (the
//! route's idempotency key) or the transaction id.

use std::time::Duration;

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome, Reply};

use super::{MESSAGE_UUID, TRANSACTION_ID};
use crate::serviceplatformen::idws::{self, ServiceCall};
use crate::serviceplatformen::security::dom::Document;
use crate::sts::client::Attempt;

pub const ADAPTER: &str = "printservice";
/// Where the sandbox serves PrintService.
pub const PRINT_PATH: &str = "/service/Print/Print/2";
pub const NS: &str = "http://serviceplatformen.dk/xml/wsdl/soap11/Print/Print/2/";
pub const AFSEND_BREV: &str =
    "http://serviceplatformen.dk/xml/wsdl/soap11/Print/Print/2/afsendBrev";
const FJERNPRINT_NS: &str = "urn:oio:fjernprint:1.0.0";

/// The AfsendelseIdentifikator of a PrintAfsendBrevRequest.
pub fn afsendelse_id(doc: &Document) -> Option<String> {
    doc.find(FJERNPRINT_NS, "AfsendelseIdentifikator")
        .into_iter()
        .next()
        .and_then(|p| doc.at(&p).map(|e| e.text().trim().to_string()))
}

/// A SOAP fault's code and text, if the body is one: SOAP 1.1's faultcode and
/// faultstring, or SOAP 1.2's Code/Value and Reason/Text. A SOAP 1.2 `Sender` code is
/// given as `Client`, `Receiver` as `Server`, as SOAP 1.1 names them.
pub fn fault_of(body: &str) -> Option<(String, String)> {
    if !body.contains("Fault") {
        return None;
    }
    let doc = Document::parse(body).ok()?;
    if let Some(code) = doc.text_of("faultcode") {
        return Some((code, doc.text_of("faultstring").unwrap_or_default()));
    }
    doc.find(crate::serviceplatformen::idws::SOAP12, "Fault")
        .into_iter()
        .next()?;
    let code = doc.text_of("Value")?;
    let code = match code.rsplit(':').next() {
        Some("Sender") => code.replace("Sender", "Client"),
        Some("Receiver") => code.replace("Receiver", "Server"),
        _ => code,
    };
    Some((code, doc.text_of("Text").unwrap_or_default()))
}

/// A delivery that ended before the call (no token): transient, the STS may come back.
struct NoCall(DeliveryOutcome);

impl From<crate::sts::StsError> for NoCall {
    fn from(e: crate::sts::StsError) -> Self {
        NoCall(DeliveryOutcome::Transient {
            error: format!("no token for PrintService: {e}"),
            retry_after: None,
        })
    }
}

pub struct PrintServiceAdapter {
    access: super::Access,
}

impl PrintServiceAdapter {
    pub fn new(access: super::Access) -> Self {
        PrintServiceAdapter { access }
    }
}

#[async_trait]
impl Adapter for PrintServiceAdapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let super::Sending {
            sts,
            cvr,
            http,
            entity,
            confirm_within,
        } = match self.access.sending(d) {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        let (body, afsendelse) = match std::str::from_utf8(d.payload)
            .map_err(|_| "not UTF-8".to_string())
            .and_then(|t| {
                Document::parse(t)
                    .map_err(|e| e.to_string())
                    .map(|doc| (t, doc))
            }) {
            Ok((text, doc)) => match afsendelse_id(&doc) {
                Some(id) => (super::without_declaration(text).to_string(), id),
                None => {
                    return DeliveryOutcome::Permanent {
                        error: "the PrintAfsendBrevRequest has no AfsendelseIdentifikator".into(),
                        reply: None,
                    };
                }
            },
            Err(e) => {
                return DeliveryOutcome::Permanent {
                    error: format!("the PrintAfsendBrevRequest does not read: {e}"),
                    reply: None,
                };
            }
        };
        let transaction = d.message_id.as_uuid();
        let result = sts
            .with_saml_token(entity, cvr, |token| {
                let (body, afsendelse) = (body.clone(), afsendelse.clone());
                async move {
                    let call = ServiceCall {
                        action: AFSEND_BREV,
                        to: &d.endpoint.url,
                        body: &body,
                        transaction,
                        now: chrono::Utc::now(),
                        soap: idws::Soap::V11,
                    };
                    let signed = match idws::signed_call(&call, &token, sts.credential()) {
                        Ok(s) => s,
                        Err(e) => {
                            return Attempt::Done(Ok::<_, NoCall>(DeliveryOutcome::Permanent {
                                error: format!("signing the call: {e}"),
                                reply: None,
                            }));
                        }
                    };
                    let sent = http
                        .post(&d.endpoint.url)
                        .timeout(d.endpoint.timeout)
                        .header("content-type", "text/xml; charset=utf-8")
                        .header("SOAPAction", format!("\"{AFSEND_BREV}\""))
                        .body(signed)
                        .send()
                        .await;
                    let resp = match sent {
                        Ok(r) => r,
                        Err(e) => {
                            return Attempt::Done(Ok(DeliveryOutcome::Transient {
                                error: format!("PrintService at {}: {e}", d.endpoint.url),
                                retry_after: None,
                            }));
                        }
                    };
                    let status = resp.status().as_u16();
                    let text = resp.text().await.unwrap_or_default();
                    let reply = Some(Reply {
                        status,
                        content_type: Some("text/xml".into()),
                        body: text.clone().into_bytes(),
                    });
                    let outcome = match (status, fault_of(&text)) {
                        (200, None) if text.contains(">true</") => DeliveryOutcome::Accepted {
                            reply,
                            external_ids: [
                                (MESSAGE_UUID.to_string(), afsendelse),
                                (TRANSACTION_ID.to_string(), transaction.to_string()),
                            ]
                            .into_iter()
                            .collect(),
                            confirm_within,
                        },
                        (200, None) => DeliveryOutcome::Permanent {
                            error: "PrintService answered resultat false".into(),
                            reply,
                        },
                        (_, Some((code, text)))
                            if text.contains("token") || text.contains("assertion") =>
                        {
                            return Attempt::TokenRefused(NoCall(DeliveryOutcome::Transient {
                                error: format!("PrintService refused the token ({code}): {text}"),
                                retry_after: Some(Duration::ZERO),
                            }));
                        }
                        (_, Some((code, text))) if code.ends_with("Client") => {
                            DeliveryOutcome::Permanent {
                                error: format!("PrintService refused the letter ({code}): {text}"),
                                reply,
                            }
                        }
                        (_, Some((code, text))) => DeliveryOutcome::Transient {
                            error: format!("PrintService failed ({code}): {text}"),
                            retry_after: None,
                        },
                        (status, None) => DeliveryOutcome::Transient {
                            error: format!("PrintService answered {status}"),
                            retry_after: None,
                        },
                    };
                    Attempt::Done(Ok(outcome))
                }
            })
            .await;
        match result {
            Ok(outcome) => outcome,
            Err(NoCall(outcome)) => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fault_of;

    #[test]
    fn faults_of_both_soap_versions_read_alike() {
        let v11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>nej</faultstring></s:Fault></s:Body></s:Envelope>"#;
        assert_eq!(fault_of(v11), Some(("s:Client".into(), "nej".into())));
        let v12 = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><e:Fault><e:Code><e:Value>e:Sender</e:Value></e:Code><e:Reason><e:Text xml:lang="da">nej</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>"#;
        assert_eq!(fault_of(v12), Some(("e:Client".into(), "nej".into())));
        assert_eq!(fault_of("<ok/>"), None);
    }
}
