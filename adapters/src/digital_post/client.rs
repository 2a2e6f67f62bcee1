//! The KombiPostAfsend client, an engine adapter. It buys a Holder-of-key access token
//! for the endpoint's entity id, wraps the route's MeMo in a `kombi_request` with the
//! route's `kombi_valg` (default "Automatisk Valg"), and sends it with X-TransaktionsId
//! and X-TransaktionsTid. A 2xx means accepted, not delivered: the status comes later.
//!
//! Route options (`deliver.options`): `kombi_valg`, `status_within` (how long to wait for
//! the status, default 48h), `postforespoerg_endpoint` (ask PostForespoerg first whether
//! the recipient is registered, and record the answer; see [`super::forespoerg`]).

use std::time::Duration;

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome};

use super::forespoerg::{self, Recipient};
use super::{ADAPTER, MESSAGE_UUID, TRANSACTION_ID};
use crate::generic_http::client::{Classified, classify_status, read_answer};
use crate::serviceplatformen::WithTransaction;

pub const KOMBI_VALG: [&str; 4] = ["Digital Post", "Fysisk Post", "NemSMS", "Automatisk Valg"];

pub struct KombiPostAdapter {
    access: super::Access,
}

impl KombiPostAdapter {
    pub fn new(access: super::Access) -> Self {
        KombiPostAdapter { access }
    }
}

/// An error answer in clear text: `errorCode: errorMessage` when it is the JSON error
/// body, else the start of the body.
pub(crate) fn body_text(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(rename = "errorCode")]
        code: String,
        #[serde(rename = "errorMessage")]
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(e) => format!("{}: {}", e.code, e.message),
        Err(_) => String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]).into_owned(),
    }
}

#[async_trait]
impl Adapter for KombiPostAdapter {
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
        let kombi_valg = d
            .route
            .adapter_options
            .get("kombi_valg")
            .map(String::as_str)
            .unwrap_or("Automatisk Valg");
        let Ok(memo) = std::str::from_utf8(d.payload) else {
            return DeliveryOutcome::Permanent {
                error: "the MeMo message is not UTF-8".into(),
                reply: None,
            };
        };
        let Some(message_uuid) = super::message_uuid(d.payload) else {
            return DeliveryOutcome::Permanent {
                error: "the MeMo message has no messageUUID".into(),
                reply: None,
            };
        };
        let registered = match d.route.option_endpoints.get(forespoerg::OPTION) {
            None => None,
            Some(asked) => {
                let Some(recipient) = Recipient::of_memo(d.payload) else {
                    return DeliveryOutcome::Permanent {
                        error: "the MeMo message names no recipient (recipientID with idType CPR or CVR) to ask PostForespoerg about".into(),
                        reply: None,
                    };
                };
                match forespoerg::is_registered(http, sts, cvr, asked, &recipient).await {
                    Ok(false) if kombi_valg == "Digital Post" => {
                        return DeliveryOutcome::Permanent {
                            error: format!(
                                "the {} is not registered for Digital Post (PostForespoerg), and KombiValgKode \"Digital Post\" sends no paper letter",
                                recipient.kind()
                            ),
                            reply: None,
                        };
                    }
                    Ok(answer) => Some(answer),
                    Err(e) if e.is_transient() => {
                        return DeliveryOutcome::Transient {
                            error: e.to_string(),
                            retry_after: None,
                        };
                    }
                    Err(e) => {
                        return DeliveryOutcome::Permanent {
                            error: e.to_string(),
                            reply: None,
                        };
                    }
                }
            }
        };
        let token = match sts.access_token(entity, cvr).await {
            Ok(t) => t,
            Err(e) => {
                return DeliveryOutcome::Transient {
                    error: format!("no access token for {entity}: {e}"),
                    retry_after: None,
                };
            }
        };
        // The message's own id, the same on every attempt: a status that names only the
        // transaction finds its letter by it.
        let transaction = d.message_id.as_uuid();
        // Written into one buffer of the right size: a letter is some 270 KB.
        let memo = super::without_declaration(memo);
        let kombi_valg = quick_xml::escape::escape(kombi_valg);
        let mut body = String::with_capacity(memo.len() + kombi_valg.len() + 80);
        body.push_str("<kombi_request><KombiValgKode>");
        body.push_str(&kombi_valg);
        body.push_str("</KombiValgKode>");
        body.push_str(memo);
        body.push_str("</kombi_request>");
        let resp = http
            .post(&d.endpoint.url)
            .timeout(d.endpoint.timeout)
            .header(reqwest::header::AUTHORIZATION, token.header())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/xml; charset=utf-8",
            )
            .transaction(&transaction.to_string())
            .body(body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                return DeliveryOutcome::Transient {
                    error: format!("KombiPostAfsend at {}: {e}", d.endpoint.url),
                    retry_after: None,
                };
            }
        };
        let (wait, answer) = read_answer(resp).await;
        let (status, bytes) = (answer.status, answer.body.clone());
        let reply = Some(answer);
        match status {
            200..=299 => DeliveryOutcome::Accepted {
                reply,
                external_ids: [
                    (MESSAGE_UUID.to_string(), message_uuid),
                    (TRANSACTION_ID.to_string(), transaction.to_string()),
                ]
                .into_iter()
                .chain(registered.map(|r| (forespoerg::REGISTERED.to_string(), r.to_string())))
                .collect(),
                confirm_within,
            },
            401 => {
                // The token expired or was revoked: buy a new one for the next attempt.
                sts.invalidate_access_token(entity, cvr);
                DeliveryOutcome::Transient {
                    error: format!(
                        "KombiPostAfsend refused the access token: {}",
                        body_text(&bytes)
                    ),
                    retry_after: Some(Duration::ZERO),
                }
            }
            s if classify_status(s) == Classified::Transient => DeliveryOutcome::Transient {
                error: format!("KombiPostAfsend answered {status}: {}", body_text(&bytes)),
                retry_after: wait,
            },
            _ => DeliveryOutcome::Permanent {
                error: format!(
                    "KombiPostAfsend refused the letter ({status}): {}",
                    body_text(&bytes)
                ),
                reply,
            },
        }
    }
}
