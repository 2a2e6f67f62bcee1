//! The `sei2` adapter: a submission's envelope of SEI2 calls, sent one by one as OIO IDWS
//! SOAP 1.1 calls. Each call's TransactionUUID is derived from the message and the
//! schema, so a redelivery after a broken-off attempt asks the same again and SEI2
//! answers it as before. SEI2's answers decide the delivery: every schema accepted, or
//! some rejected with SEI2's reasons; either way the receipts are kept (`sei2_kvittering`,
//! the first) with the verdict (`receiver_verdict`, `receiver_reason`) for the case core.
//! A SOAP fault of the caller's (`Client`) is permanent; the service's, the network's
//! and HTTP 5xx are transient.

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome, Reply};

use super::ACTION;
use super::wire::{self, Answer};
use crate::digital_post::print::fault_of;
use crate::generic_http::client::{Classified, classify_status};
use crate::serviceplatformen::access::Access;
use crate::serviceplatformen::idws::Soap;
use crate::sts_service::client::{CallFailed, call};

pub const ADAPTER: &str = "sei2";
/// The external id of SEI2's first receipt.
pub const RECEIPT: &str = "sei2_kvittering";
/// The external ids of the receiver's verdict, `accepted` or `rejected`, and its reason.
pub const VERDICT: &str = "receiver_verdict";
pub const REASON: &str = "receiver_reason";
/// The longest reason kept (SEI2's messages for a large submission are summarised).
const REASON_MAX: usize = 2000;

pub struct Sei2Adapter {
    access: Access,
}

impl Sei2Adapter {
    pub fn new(access: Access) -> Self {
        Sei2Adapter { access }
    }
}

fn permanent(error: String) -> DeliveryOutcome {
    DeliveryOutcome::Permanent { error, reply: None }
}

fn transient(error: String) -> DeliveryOutcome {
    DeliveryOutcome::Transient {
        error,
        retry_after: None,
    }
}

/// The rejections' reasons in clear text, one line a schema.
fn reason(rejected: &[Answer]) -> String {
    let mut text = String::new();
    for a in rejected {
        let why = a
            .errors
            .iter()
            .map(|(field, t)| format!("{field}: {t}"))
            .collect::<Vec<_>>()
            .join("; ");
        let line = format!("skema {}: {why}\n", a.schema_id);
        if text.len() + line.len() > REASON_MAX {
            text.push_str(&format!("… and more ({} rejected)\n", rejected.len()));
            break;
        }
        text.push_str(&line);
    }
    text.trim_end().to_string()
}

#[async_trait]
impl Adapter for Sei2Adapter {
    fn name(&self) -> &'static str {
        ADAPTER
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let Ok(text) = std::str::from_utf8(d.payload) else {
            return permanent("the payload is not UTF-8".into());
        };
        let calls = match wire::calls(text) {
            Ok(c) => c,
            Err(e) => return permanent(format!("the SEI2 envelope: {e}")),
        };
        let sending = match self.access.sending(d) {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        let mut answers = Vec::with_capacity(calls.len());
        for c in &calls {
            let transaction = uuid::Uuid::new_v5(
                &d.message_id.as_uuid(),
                format!("{}:{}", c.operation, c.schema_id).as_bytes(),
            );
            let action = ACTION.replace("{operation}", &c.operation);
            let (status, body) = match call(
                sending.sts,
                sending.cvr,
                sending.http,
                d.endpoint,
                sending.entity,
                &action,
                Soap::V11,
                &c.xml,
                transaction,
            )
            .await
            {
                Ok(answered) => answered,
                Err(CallFailed::Permanent(e)) => return permanent(e),
                Err(CallFailed::Transient(e)) => return transient(e),
            };
            let at = format!(
                "{} {} (schema {})",
                d.endpoint.name, c.operation, c.schema_id
            );
            if let Some((code, why)) = fault_of(&body) {
                return if code.ends_with("Client") {
                    permanent(format!("{at} refused the call ({code}): {why}"))
                } else {
                    transient(format!("{at} failed ({code}): {why}"))
                };
            }
            if status != 200 {
                return match classify_status(status) {
                    Classified::Permanent => permanent(format!("{at} answered {status}")),
                    _ => transient(format!("{at} answered {status}")),
                };
            }
            match wire::answer(&body) {
                Some(a) if a.schema_id == c.schema_id => answers.push(a),
                Some(a) => {
                    return transient(format!("{at}: the answer is for schema {}", a.schema_id));
                }
                None => return transient(format!("{at}: the answer holds no receipt")),
            }
        }
        let rejected: Vec<Answer> = answers.iter().filter(|a| !a.accepted).cloned().collect();
        let summary = serde_json::json!({
            "calls": answers.len(),
            "rejected": rejected.len(),
            "answers": answers.iter().map(|a| serde_json::json!({
                "schema_id": a.schema_id,
                "receipt": a.receipt,
                "status": if a.accepted { "Accepted" } else { "Rejected" },
                "errors": a.errors.iter().map(|(f, t)| format!("{f}: {t}")).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let mut external_ids: std::collections::BTreeMap<String, String> = Default::default();
        if let Some(first) = answers.first() {
            external_ids.insert(RECEIPT.into(), first.receipt.clone());
        }
        if rejected.is_empty() {
            external_ids.insert(VERDICT.into(), "accepted".into());
        } else {
            external_ids.insert(VERDICT.into(), "rejected".into());
            external_ids.insert(REASON.into(), reason(&rejected));
        }
        DeliveryOutcome::Delivered {
            reply: Some(Reply {
                status: 200,
                content_type: Some("application/json".into()),
                body: summary.to_string().into_bytes(),
            }),
            external_ids: external_ids.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_names_each_rejected_schema_and_stays_short() {
        let a = |id: &str| Answer {
            schema_id: id.into(),
            receipt: "r".into(),
            accepted: false,
            errors: vec![
                ("Behandlingsstart".into(), "ligger før henvendelsen".into()),
                ("GenstandePrUge".into(), "mangler".into()),
            ],
        };
        assert_eq!(
            reason(&[a("s1")]),
            "skema s1: Behandlingsstart: ligger før henvendelsen; GenstandePrUge: mangler"
        );
        let many: Vec<Answer> = (0..100).map(|i| a(&format!("s{i}"))).collect();
        let text = reason(&many);
        assert!(text.len() <= REASON_MAX + 40, "{}", text.len());
        assert!(text.ends_with("… and more (100 rejected)"));
    }
}
