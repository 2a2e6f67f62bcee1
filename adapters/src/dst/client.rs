//! The `dst-upload` adapter. The payload is the route's JSON: `submission_id`, `report`,
//! `period`, `sha256` and `file` (base64). The file goes up as the body, the rest in
//! headers (the submission id is the sender's id, so a redelivery is the same upload).
//! A 2xx with `{"kvittering": ...}` delivers and keeps the receipt; a 409 (the same file
//! already submitted) or another 4xx is permanent with the intake's words; 5xx and the
//! network are tried again.

use async_trait::async_trait;
use base64::Engine as _;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome};
use serde::Deserialize;

use super::{ADAPTER, PERIOD_HEADER, RECEIPT, REPORT_HEADER, SENDER_ID_HEADER, SHA256_HEADER};
use crate::generic_http::client::{Classified, classify_status, read_answer};

#[derive(Deserialize)]
struct Upload {
    submission_id: String,
    report: String,
    period: String,
    sha256: String,
    file: String,
}

#[derive(Deserialize)]
struct Receipt {
    kvittering: String,
}

pub struct DstUploadAdapter {
    http: reqwest::Client,
}

impl Default for DstUploadAdapter {
    fn default() -> Self {
        DstUploadAdapter {
            http: crate::http::client(),
        }
    }
}

fn permanent(error: String) -> DeliveryOutcome {
    DeliveryOutcome::Permanent { error, reply: None }
}

#[async_trait]
impl Adapter for DstUploadAdapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let up: Upload = match serde_json::from_slice(d.payload) {
            Ok(u) => u,
            Err(e) => return permanent(format!("not an upload: {e}")),
        };
        let file = match base64::engine::general_purpose::STANDARD.decode(&up.file) {
            Ok(f) => f,
            Err(e) => {
                return permanent(format!(
                    "submission {}: the file is not base64: {e}",
                    up.submission_id
                ));
            }
        };
        use sha2::Digest as _;
        if hex::encode(sha2::Sha256::digest(&file)) != up.sha256 {
            return permanent(format!(
                "submission {}: the file does not match its SHA-256",
                up.submission_id
            ));
        }
        let resp = match self
            .http
            .post(&d.endpoint.url)
            .timeout(d.endpoint.timeout)
            .header("content-type", "text/csv; charset=utf-8")
            .header(REPORT_HEADER, &up.report)
            .header(PERIOD_HEADER, &up.period)
            .header(SENDER_ID_HEADER, &up.submission_id)
            .header(SHA256_HEADER, &up.sha256)
            .body(file)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return DeliveryOutcome::Transient {
                    error: format!("{} at {}: {e}", d.endpoint.name, d.endpoint.url),
                    retry_after: None,
                };
            }
        };
        let (wait, reply) = read_answer(resp).await;
        let said = String::from_utf8_lossy(&reply.body[..reply.body.len().min(2000)]).into_owned();
        match classify_status(reply.status) {
            Classified::Ok => match serde_json::from_slice::<Receipt>(&reply.body) {
                Ok(r) => DeliveryOutcome::Delivered {
                    external_ids: [(RECEIPT.to_string(), r.kvittering)].into_iter().collect(),
                    reply: Some(reply),
                },
                Err(_) => DeliveryOutcome::Transient {
                    error: format!(
                        "{} answered {} without a kvittering: {said}",
                        d.endpoint.name, reply.status
                    ),
                    retry_after: wait,
                },
            },
            Classified::Transient => DeliveryOutcome::Transient {
                error: format!("{} answered {}: {said}", d.endpoint.name, reply.status),
                retry_after: wait,
            },
            Classified::Permanent => DeliveryOutcome::Permanent {
                error: format!(
                    "{} refused the upload ({}): {said}",
                    d.endpoint.name, reply.status
                ),
                reply: Some(reply),
            },
        }
    }
}
