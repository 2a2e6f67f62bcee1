//! The `vans` adapter: a route's Emessage goes into a VANS envelope (sender and receiver
//! from its first letter's EAN numbers, the document name from its StatisticalCode) and
//! is posted to the VANS access point. A message that asks for a positive receipt
//! (`pluspositivkvitt`) is accepted, not delivered: its receipt confirms it (or a
//! negative one makes it dead); with `redelivery.resend_unconfirmed` one that gets no
//! receipt in time is sent again with the same identifiers. Other messages (receipts
//! themselves) are delivered when the access point takes them.
//!
//! Route options (`deliver.options`): `receipt_within` (how long to wait for the
//! receipt, default 1h).

use std::time::Duration;

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome};

use super::vans::Envelope;
use super::{ADAPTER, ENVELOPE_ID, LETTER_ID, emessage};
use crate::generic_http::client::{Classified, classify_status, read_answer};

pub struct VansAdapter {
    http: reqwest::Client,
}

impl Default for VansAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl VansAdapter {
    pub fn new() -> Self {
        VansAdapter {
            http: crate::http::client(),
        }
    }
}

#[async_trait]
impl Adapter for VansAdapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let message = match emessage::parse(d.payload) {
            Ok(m) => m,
            Err(e) => {
                return DeliveryOutcome::Permanent {
                    error: format!("the route's Emessage: {e}"),
                    reply: None,
                };
            }
        };
        let first = &message.letters[0];
        if first.sender.ean.is_empty() || first.receiver.ean.is_empty() {
            return DeliveryOutcome::Permanent {
                error: format!(
                    "letter {} names no sender or receiver EAN number",
                    first.letter_id
                ),
                reply: None,
            };
        }
        let envelope = Envelope {
            sender_ean: first.sender.ean.clone(),
            receiver_ean: first.receiver.ean.clone(),
            // The same on every attempt, as the Emessage's own identifiers are.
            envelope_id: d.message_id.to_string(),
            sent: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            identifier: message.envelope_id.clone(),
            document_name: format!("MCM:{}", first.statistical_code),
            version: first.version_code.clone(),
            data: d.payload.to_vec(),
        };
        let resp = self
            .http
            .post(&d.endpoint.url)
            .timeout(d.endpoint.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/xml")
            .body(envelope.to_xml())
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                return DeliveryOutcome::Transient {
                    error: format!("VANS access point at {}: {e}", d.endpoint.url),
                    retry_after: None,
                };
            }
        };
        let (wait, answer) = read_answer(resp).await;
        let status = answer.status;
        let text =
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(2000)]).into_owned();
        let reply = Some(answer);
        let ids = [
            (ENVELOPE_ID.to_string(), message.envelope_id.clone()),
            (LETTER_ID.to_string(), first.letter_id.clone()),
        ]
        .into_iter()
        .collect();
        match status {
            200..=299 if message.wants_positive_receipt() => DeliveryOutcome::Accepted {
                reply,
                external_ids: ids,
                confirm_within: d
                    .route
                    .adapter_options
                    .get("receipt_within")
                    .and_then(|s| humantime::parse_duration(s).ok())
                    .unwrap_or(Duration::from_secs(3600)),
            },
            200..=299 => DeliveryOutcome::Delivered {
                reply,
                external_ids: ids,
            },
            s if classify_status(s) == Classified::Transient => DeliveryOutcome::Transient {
                error: format!("the VANS access point answered {status}: {text}"),
                retry_after: wait,
            },
            _ => DeliveryOutcome::Permanent {
                error: format!("the VANS access point refused the envelope ({status}): {text}"),
                reply,
            },
        }
    }
}
