//! PostForespoerg (SF1601): is a citizen (by CPR) or a business (by CVR) registered for
//! Digital Post? `GET {endpoint}/digitalpost?cprNumber=…` (or `cvrNumber=…`) with a
//! Holder-of-key access token for the endpoint's entity id; the answer is
//! `{"result": true|false}`.
//!
//! A letter route asks it before sending when its options name the endpoint
//! (`postforespoerg_endpoint`). The answer is recorded on the message (external id
//! `digitalpost_tilmeldt`). With KombiValgKode "Digital Post" an unregistered recipient
//! cannot be reached, so the letter fails at once; with "Automatisk Valg" it is sent and
//! Serviceplatformen prints it.

use std::sync::Arc;

use knudepunkt_engine::Endpoint;

use crate::serviceplatformen::WithTransaction;
use crate::sts::client::StsClient;

/// Where the sandbox serves PostForespoerg.
pub const PATH: &str = "/digitalpost/PostForespoerg_1";
/// The route option naming the PostForespoerg endpoint.
pub const OPTION: &str = "postforespoerg_endpoint";
/// The external id the answer is recorded under: "true" or "false".
pub const REGISTERED: &str = "digitalpost_tilmeldt";

/// Whom a letter is for, as its MeMo names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    Cpr(String),
    Cvr(String),
}

impl Recipient {
    /// The `memo:Recipient` of a MeMo message (`recipientID` and `idType`).
    pub fn of_memo(memo: &[u8]) -> Option<Recipient> {
        let text = std::str::from_utf8(memo).ok()?;
        let recipient = &text[text.find("<memo:Recipient>")?..];
        let id = super::element_text(recipient, "recipientID")?;
        match super::element_text(recipient, "idType")?.as_str() {
            "CPR" => Some(Recipient::Cpr(id)),
            "CVR" => Some(Recipient::Cvr(id)),
            _ => None,
        }
    }

    fn query(&self) -> (&'static str, &str) {
        match self {
            Recipient::Cpr(id) => ("cprNumber", id),
            Recipient::Cvr(id) => ("cvrNumber", id),
        }
    }

    /// How errors and records name the recipient: the kind, never the number.
    pub fn kind(&self) -> &'static str {
        match self {
            Recipient::Cpr(_) => "citizen (CPR)",
            Recipient::Cvr(_) => "business (CVR)",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ForespoergError {
    #[error("no access token for PostForespoerg ({entity}): {reason}")]
    Token { entity: String, reason: String },
    #[error("PostForespoerg at {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("PostForespoerg at {url} answered {status}: {text}")]
    Refused {
        url: String,
        status: u16,
        text: String,
    },
}

impl ForespoergError {
    /// Whether asking again later may help (a 4xx other than 401 will not).
    pub fn is_transient(&self) -> bool {
        match self {
            ForespoergError::Refused { status, .. } => {
                *status == 401 || *status == 408 || *status == 429 || *status >= 500
            }
            _ => true,
        }
    }
}

/// Whether `recipient` is registered for Digital Post, by asking `endpoint`.
pub async fn is_registered(
    http: &reqwest::Client,
    sts: &Arc<StsClient>,
    cvr: &str,
    endpoint: &Endpoint,
    recipient: &Recipient,
) -> Result<bool, ForespoergError> {
    let entity = endpoint.entity_id.as_deref().unwrap_or_default();
    let token = sts
        .access_token(entity, cvr)
        .await
        .map_err(|e| ForespoergError::Token {
            entity: entity.to_string(),
            reason: e.to_string(),
        })?;
    let url = format!("{}/digitalpost", endpoint.url.trim_end_matches('/'));
    let transport = |e: reqwest::Error| ForespoergError::Transport {
        url: url.clone(),
        reason: e.to_string(),
    };
    let asked = reqwest::Url::parse_with_params(&url, [recipient.query()]).map_err(|e| {
        ForespoergError::Transport {
            url: url.clone(),
            reason: e.to_string(),
        }
    })?;
    let resp = http
        .get(asked)
        .timeout(endpoint.timeout)
        .header(reqwest::header::AUTHORIZATION, token.header())
        .transaction(&uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        sts.invalidate_access_token(entity, cvr);
    }
    let body = resp.bytes().await.map_err(transport)?;
    if !status.is_success() {
        return Err(ForespoergError::Refused {
            url,
            status: status.as_u16(),
            text: super::client::body_text(&body),
        });
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        result: bool,
    }
    serde_json::from_slice::<Answer>(&body)
        .map(|a| a.result)
        .map_err(|e| ForespoergError::Refused {
            url,
            status: status.as_u16(),
            text: format!("the answer is not {{\"result\": bool}}: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipient_is_read_from_the_memo_header() {
        let memo = br#"<memo:Message><memo:MessageHeader><memo:Sender><memo:senderID>64942212</memo:senderID><memo:idType>CVR</memo:idType></memo:Sender>
            <memo:Recipient><memo:recipientID>0101901234</memo:recipientID><memo:idType>CPR</memo:idType></memo:Recipient></memo:MessageHeader></memo:Message>"#;
        assert_eq!(
            Recipient::of_memo(memo),
            Some(Recipient::Cpr("0101901234".into()))
        );
        let business = br#"<memo:Recipient><memo:recipientID>12345678</memo:recipientID><memo:idType>CVR</memo:idType></memo:Recipient>"#;
        assert_eq!(
            Recipient::of_memo(business),
            Some(Recipient::Cvr("12345678".into()))
        );
        assert_eq!(Recipient::of_memo(b"<memo:Message/>"), None);
    }

    #[test]
    fn only_client_errors_other_than_401_are_final() {
        let refused = |status| ForespoergError::Refused {
            url: "u".into(),
            status,
            text: String::new(),
        };
        assert!(!refused(400).is_transient());
        assert!(refused(401).is_transient());
        assert!(refused(503).is_transient());
    }
}
