//! The `kki` adapter: makes the one KKI call a route's template rendered ([`Kald`]),
//! with KKI's API key, the message's idempotency key (`Idempotency-Key`) and id
//! (`X-Message-Id`). 2xx delivers and keeps what the route's `keep` option names from
//! the answer as external ids (`keep: "esdhSagsnummer=esdh_sagsnummer,
//! ansvarlig.brugerId=esdh_ansvarlig"`); 408, 429 and 5xx are tried again (Retry-After
//! honoured); every other answer — 423 for a document checked out in eDoc, 409, 404,
//! 400 — is permanent, with eDoc's own reason.

use std::time::Duration;

use async_trait::async_trait;
use knudepunkt_engine::message::ExternalIds;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome};

use super::model::Kald;
use crate::generic_http::client::{Classified, classify_status, read_answer};
use crate::kki::{API_KEY_HEADER, reason};

pub struct KkiAdapter {
    http: reqwest::Client,
}

impl Default for KkiAdapter {
    fn default() -> Self {
        KkiAdapter {
            http: crate::http::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .expect("an HTTP client without TLS settings always builds"),
        }
    }
}

/// The call in a route's payload, checked: a method KKI's API has, a path under its base.
pub fn read_call(payload: &[u8]) -> Result<(reqwest::Method, Kald), String> {
    let de = &mut serde_json::Deserializer::from_slice(payload);
    let kald: Kald = serde_path_to_error::deserialize(de)
        .map_err(|e| format!("not a KKI call at {}: {}", e.path(), e.inner()))?;
    let method = match kald.metode.as_str() {
        "PUT" => reqwest::Method::PUT,
        "PATCH" => reqwest::Method::PATCH,
        "POST" => reqwest::Method::POST,
        other => {
            return Err(format!(
                "metode {other:?}: KKI's eDoc API takes PUT, PATCH or POST"
            ));
        }
    };
    if !kald.sti.starts_with('/') || kald.sti.split('/').any(|p| p == ".." || p == ".") {
        return Err(format!(
            "sti {:?} is not a path under the API's base",
            kald.sti
        ));
    }
    Ok((method, kald))
}

/// The `keep` option's pairs: a dotted path in the answer, and the external id's name.
fn keep_pairs(option: Option<&String>) -> Vec<(&str, &str)> {
    option
        .map(|o| {
            o.split(',')
                .filter_map(|p| p.split_once('='))
                .map(|(from, to)| (from.trim(), to.trim()))
                .collect()
        })
        .unwrap_or_default()
}

/// What `keep` names in `answer`, where it is a string.
fn kept(answer: &[u8], pairs: &[(&str, &str)]) -> ExternalIds {
    let mut ids = ExternalIds::new();
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(answer) else {
        return ids;
    };
    for (from, to) in pairs {
        let pointer = format!("/{}", from.replace('.', "/"));
        if let Some(v) = value.pointer(&pointer).and_then(|v| v.as_str()) {
            ids.insert((*to).to_string(), v.to_string());
        }
    }
    ids
}

#[async_trait]
impl Adapter for KkiAdapter {
    fn name(&self) -> &'static str {
        super::ADAPTER
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let (method, kald) = match read_call(d.payload) {
            Ok(c) => c,
            Err(e) => {
                return DeliveryOutcome::Permanent {
                    error: format!("message {}: {e}", d.message_id),
                    reply: None,
                };
            }
        };
        let key = match crate::kki::api_key(d.endpoint) {
            Ok(k) => k,
            Err(e) => {
                return DeliveryOutcome::Permanent {
                    error: e,
                    reply: None,
                };
            }
        };
        let what = format!("{} {}{}", kald.metode, d.endpoint.name, kald.sti);
        let body = match serde_json::to_vec(&kald.krop) {
            Ok(b) => b,
            Err(e) => {
                return DeliveryOutcome::Permanent {
                    error: format!("message {}: {what}: {e}", d.message_id),
                    reply: None,
                };
            }
        };
        let url = format!("{}{}", d.endpoint.url.trim_end_matches('/'), kald.sti);
        drop(kald);
        let mut req = self
            .http
            .request(method, url)
            .timeout(d.endpoint.timeout)
            .header(API_KEY_HEADER, key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", d.idempotency_key)
            .header("X-Message-Id", d.message_id.to_string())
            .body(body);
        if let Some(c) = d.correlation_id {
            req = req.header("X-Correlation-Id", c);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return DeliveryOutcome::Transient {
                    error: format!("{what}: {e}"),
                    retry_after: None,
                };
            }
        };
        let (wait, reply) = read_answer(resp).await;
        match classify_status(reply.status) {
            Classified::Ok => DeliveryOutcome::Delivered {
                external_ids: kept(
                    &reply.body,
                    &keep_pairs(d.route.adapter_options.get("keep")),
                ),
                reply: Some(reply),
            },
            Classified::Transient => DeliveryOutcome::Transient {
                error: format!("{what} answered {}: {}", reply.status, reason(&reply.body)),
                retry_after: wait,
            },
            Classified::Permanent => DeliveryOutcome::Permanent {
                error: format!("{what} answered {}: {}", reply.status, reason(&reply.body)),
                reply: Some(reply),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_checked() {
        let ok = br#"{"metode":"PATCH","sti":"/sager/s1","krop":{}}"#;
        assert_eq!(read_call(ok).unwrap().0, reqwest::Method::PATCH);
        let bad = br#"{"metode":"DELETE","sti":"/sager/s1","krop":{}}"#;
        assert!(read_call(bad).unwrap_err().contains("DELETE"));
        let outside = br#"{"metode":"PUT","sti":"/sager/../admin","krop":{}}"#;
        assert!(read_call(outside).unwrap_err().contains("not a path"));
        let unknown = br#"{"metode":"PUT","sti":"/sager/s1","krop":{},"x":1}"#;
        assert!(read_call(unknown).unwrap_err().contains("unknown field"));
    }

    #[test]
    fn kept_ids_come_from_the_answer() {
        let option: String =
            "esdhSagsnummer=esdh_sagsnummer, ansvarlig.brugerId=esdh_ansvarlig, x.y=z".into();
        let pairs = keep_pairs(Some(&option));
        let ids = kept(
            br#"{"esdhSagsnummer":"2026-0000001","ansvarlig":{"brugerId":"AKT1","navn":"A"}}"#,
            &pairs,
        );
        assert_eq!(ids.get("esdh_sagsnummer").unwrap(), "2026-0000001");
        assert_eq!(ids.get("esdh_ansvarlig").unwrap(), "AKT1");
        assert!(!ids.contains_key("z"));
    }
}
