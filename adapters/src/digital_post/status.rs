//! PostStatusBeskedModtag: Beskedfordeler pushes a Digital Post status as a
//! `ModtagBeskedInput` (a Haendelsesbesked, `beskedfordeler/xsd/Beskedkuvert.xsd`). The
//! status is matched to its letter by messageUUID (the letter's idempotency key), or by
//! the transaction id the letter was sent with (its message id), and
//! the letter is confirmed delivered, or dead with the reason in clear text (and the
//! case told). The answer is a `ModtagBeskedOutput` with StatusKode 20, or 40 for a
//! malformed message. The status's own element names are the project's model, see
//! `mappings/digital-post/README.md`. It is served over mTLS ([`serve_receiver`]): only
//! a pusher with a client certificate from a CA the profile trusts gets through.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use knudepunkt_engine::{Engine, MessageId};

use super::{ADAPTER, STATUS_PATH};
use crate::serviceplatformen::security::dom::Document;

/// The inbox kind of statuses that match no letter.
pub const UNMATCHED: &str = "digitalpost.unmatched_status";
pub const STATUS_NS: &str = "urn:knudepunkt:digitalpost:status:1";
const KUVERT_NS: &str = "urn:oio:besked:kuvert:1.0";

/// A status as Beskedfordeler delivers it (used by the sandbox to push one).
pub fn status_message(
    message_uuid: &str,
    transaction: &str,
    delivered: bool,
    reason: Option<&str>,
) -> String {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let reason = reason
        .map(|r| format!("<dp:reason>{}</dp:reason>", esc(r)))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><ns4:ModtagBeskedInput xmlns="urn:oio:sagdok:3.0.0" xmlns:ns2="{KUVERT_NS}" xmlns:ns4="urn:oio:sts:1.0.0"><ns2:Haendelsesbesked><ns2:BeskedId><UUIDIdentifikator>{id}</UUIDIdentifikator></ns2:BeskedId><ns2:BeskedVersion>1.0</ns2:BeskedVersion><ns2:Beskedkuvert><ns2:Filtreringsdata><ns2:Beskedtype><UUIDIdentifikator>{kind}</UUIDIdentifikator></ns2:Beskedtype></ns2:Filtreringsdata><ns2:Leveranceinformation><ns2:TransaktionsId><UUIDIdentifikator>{transaction}</UUIDIdentifikator></ns2:TransaktionsId></ns2:Leveranceinformation></ns2:Beskedkuvert><ns2:Beskeddata><dp:PostStatus xmlns:dp="{STATUS_NS}"><dp:messageUUID>{uuid}</dp:messageUUID><dp:status>{status}</dp:status>{reason}</dp:PostStatus></ns2:Beskeddata></ns2:Haendelsesbesked></ns4:ModtagBeskedInput></soap:Body></soap:Envelope>"#,
        id = uuid::Uuid::new_v4(),
        kind = beskedtype(),
        transaction = esc(transaction),
        uuid = esc(message_uuid),
        status = if delivered { "Leveret" } else { "Fejlet" },
    )
}

/// One status, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostStatus {
    pub message_uuid: String,
    pub transaction: Option<String>,
    pub delivered: bool,
    pub reason: Option<String>,
}

/// Reads a pushed status; the error says what is missing.
pub fn parse(body: &[u8]) -> Result<PostStatus, String> {
    let doc = Document::parse_bytes(body).map_err(|e| format!("not XML: {e}"))?;
    if doc.find(KUVERT_NS, "Haendelsesbesked").is_empty() {
        return Err("no Haendelsesbesked".into());
    }
    let text = |uri: &str, local: &str| {
        doc.find(uri, local)
            .into_iter()
            .next()
            .and_then(|p| doc.at(&p).map(|e| e.text().trim().to_string()))
    };
    let message_uuid =
        text(STATUS_NS, "messageUUID").ok_or("no PostStatus/messageUUID in Beskeddata")?;
    let status = text(STATUS_NS, "status").ok_or("no PostStatus/status")?;
    let delivered = match status.as_str() {
        "Leveret" => true,
        "Fejlet" => false,
        other => return Err(format!("unknown status {other:?} (Leveret or Fejlet)")),
    };
    let transaction = doc
        .find(KUVERT_NS, "TransaktionsId")
        .into_iter()
        .next()
        .and_then(|p| doc.at(&p))
        .and_then(|e| {
            e.children_named("UUIDIdentifikator")
                .next()
                .map(|(_, u)| u.text().trim().to_string())
        });
    Ok(PostStatus {
        message_uuid,
        transaction,
        delivered,
        reason: text(STATUS_NS, "reason"),
    })
}

fn answer(code: u16, text: Option<&str>) -> Response {
    let fejl = text
        .map(|t| {
            format!(
                "<sd:FejlbeskedTekst>{}</sd:FejlbeskedTekst>",
                quick_xml::escape::escape(t)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><sts:ModtagBeskedOutput xmlns:sts="urn:oio:sts:1.0.0" xmlns:sd="urn:oio:sagdok:3.0.0"><sd:StandardRetur><sd:StatusKode>{code}</sd:StatusKode>{fejl}</sd:StandardRetur></sts:ModtagBeskedOutput></soap:Body></soap:Envelope>"#
    );
    let status = if code == 20 {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

/// The endpoints Serviceplatformen pushes to: PostStatusBeskedModtag for Digital Post
/// statuses, ModtagBesked for any message Knudepunkt subscribes to (taken as the
/// dueslag takes it: by Beskedtype to its route, once per BeskedId), and
/// FordelingskvitteringModtag for the Fordelingskomponent's receipts.
pub fn router(engine: Engine) -> Router {
    Router::new()
        .route(STATUS_PATH, post(receive))
        .route(crate::beskedfordeler::MODTAG_PATH, post(modtag_besked))
        .route(
            crate::fordeling::KVITTERING_PATH,
            post(crate::fordeling::kvittering::receive),
        )
        .with_state(engine)
}

/// ModtagBeskedInput: a pushed Haendelsesbesked of any type.
async fn modtag_besked(State(engine): State<Engine>, body: Bytes) -> Response {
    use crate::beskedfordeler::dueslag::{self, Taken};
    match dueslag::take(&engine, &body).await {
        Ok(Taken::Invalid(why)) => answer(40, Some(&why)),
        Ok(Taken::DigitalPostStatus(code)) => answer(code, None),
        Ok(_) => answer(20, None),
        Err(why) => answer(49, Some(&why)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("the status receiver's certificates: {0}")]
    Certificates(#[from] crate::serviceplatformen::profile::ProfileError),
    #[error("the status receiver cannot listen on {listen}: {source}")]
    Listen {
        listen: String,
        source: std::io::Error,
    },
}

/// Serves PostStatusBeskedModtag over mTLS as the profile's `status_receiver` says: its
/// server certificate, and only pushers whose client certificate a trusted CA issued.
/// The bound address.
pub async fn serve_receiver(
    engine: Engine,
    receiver: &knudepunkt_engine::environment::StatusReceiver,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), ReceiverError> {
    let (server, clients) = crate::serviceplatformen::profile::status_receiver_tls(receiver)?;
    crate::serviceplatformen::mtls::serve_mtls(&receiver.listen, router(engine), &server, &clients)
        .await
        .map_err(|source| ReceiverError::Listen {
            listen: receiver.listen.clone(),
            source,
        })
}

/// The letter a status is about: by its messageUUID (the letter's idempotency key on a
/// Digital Post route), else by the transaction id (the letter's message id).
async fn letter_of(
    engine: &Engine,
    status: &PostStatus,
) -> Result<Option<MessageId>, knudepunkt_engine::JournalError> {
    let routes = engine
        .routes()
        .delivered_by(&[ADAPTER, super::print::ADAPTER]);
    if let Some(id) = engine
        .journal()
        .find_by_key_on(&routes, &status.message_uuid)
        .await?
    {
        return Ok(Some(id));
    }
    let Some(id) = status
        .transaction
        .as_deref()
        .and_then(|t| t.parse::<MessageId>().ok())
    else {
        return Ok(None);
    };
    match engine.journal().get(id).await {
        Ok(m) if routes.contains(&m.route) => Ok(Some(id)),
        Ok(_) | Err(knudepunkt_engine::JournalError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn receive(State(engine): State<Engine>, body: Bytes) -> Response {
    let (code, text) = take(&engine, &body).await;
    answer(code, text.as_deref())
}

/// The Beskedtype of a Digital Post status (PostStatusBesked) in the sandbox.
pub fn beskedtype() -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"PostStatusBesked").to_string()
}

/// Takes one status, however it came (pushed, or from the dueslag): the letter is
/// confirmed or dead; a status for no letter goes to the operator inbox. The
/// StatusKode for the sender (20, 40 malformed, 49 try again) and its text.
pub async fn take(engine: &Engine, body: &[u8]) -> (u16, Option<String>) {
    let status = match parse(body) {
        Ok(s) => s,
        Err(why) => {
            tracing::warn!(reason = %why, "a malformed Digital Post status was refused");
            return (40, Some(why));
        }
    };
    let found = match letter_of(engine, &status).await {
        Ok(f) => f,
        Err(e) => return (49, Some(e.to_string())),
    };
    if let Some(id) = found {
        let result = if status.delivered {
            let ids = status
                .transaction
                .iter()
                .map(|t| (super::TRANSACTION_ID.to_string(), t.clone()))
                .collect();
            engine
                .confirm(id, "Digital Post status: Leveret", &ids)
                .await
        } else {
            let reason = status
                .reason
                .clone()
                .unwrap_or_else(|| "Digital Post status: Fejlet".into());
            engine.reject(id, &reason).await
        };
        return match result {
            Ok(()) => {
                tracing::info!(message_id = %id, delivered = status.delivered, "Digital Post status taken");
                (20, None)
            }
            // A status repeated for a letter already settled changes nothing.
            Err(knudepunkt_engine::JournalError::WrongState { state, .. })
                if state.is_terminal() =>
            {
                (20, None)
            }
            // The status overtook our own record of the acceptance: Beskedfordeler is
            // told to try again (StatusKode 49), and will.
            Err(knudepunkt_engine::JournalError::WrongState { state, .. }) => (
                49,
                Some(format!(
                    "the letter is {state}, not yet accepted; try again"
                )),
            ),
            Err(e) => (49, Some(e.to_string())),
        };
    }
    // Not dropped: an operator looks at it (GET /api/v1/inbox).
    tracing::warn!(message_uuid = %status.message_uuid, "a Digital Post status matches no letter; it is in the operator inbox");
    match engine
        .journal()
        .put_in_inbox(
            UNMATCHED,
            &status.message_uuid,
            "a Digital Post status for no letter Knudepunkt sent",
            body,
            "text/xml",
        )
        .await
    {
        Ok(_) => (20, None),
        Err(e) => (49, Some(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_and_malformed_ones_say_why() {
        let s = parse(
            status_message("u-1", "t-1", false, Some("Modtager & co. findes ikke")).as_bytes(),
        )
        .unwrap();
        assert_eq!(
            s,
            PostStatus {
                message_uuid: "u-1".into(),
                transaction: Some("t-1".into()),
                delivered: false,
                reason: Some("Modtager & co. findes ikke".into()),
            }
        );
        assert!(parse(b"<a/>").unwrap_err().contains("Haendelsesbesked"));
        assert!(parse(b"<a").is_err());
    }
}
