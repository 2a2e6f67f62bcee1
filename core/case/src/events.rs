//! The events the core hands to the engine through the transactional outbox. Routes
//! subscribe to them by name; each carries an `id` for the routes' idempotency keys.

use sqlx::AnyConnection;

use knudepunkt_engine::{Engine, MessageId, Submitted};

use crate::error::{CaseError, CaseResult};

pub const CASE_CREATED: &str = "case.created";
pub const CASE_UPDATED: &str = "case.updated";
pub const CASE_STATUS_CHANGED: &str = "case.status_changed";
pub const CASE_CLOSED: &str = "case.closed";
pub const DOCUMENT_ADDED: &str = "document.added";
pub const DOCUMENT_UPDATED: &str = "document.updated";
/// A document added, with its file (base64 `content`): for the systems that keep files
/// (the records system). Made only when a route listens.
pub const DOCUMENT_STORED: &str = "document.stored";
pub const DECISION_MADE: &str = "decision.made";
pub const GRANT_CREATED: &str = "grant.created";
pub const GRANT_CHANGED: &str = "grant.changed";
pub const GRANT_ENDED: &str = "grant.ended";
pub const LETTER_REQUESTED: &str = "letter.requested";
pub const CONSENT_GIVEN: &str = "consent.given";
pub const CONSENT_WITHDRAWN: &str = "consent.withdrawn";
pub const CORRESPONDENCE_REQUESTED: &str = "medcom.correspondence.requested";
pub const ADMISSION_REPORT_REQUESTED: &str = "medcom.admission_report.requested";
pub const CITIZEN_DISCHARGED: &str = "citizen.discharged";
/// A statutory report's submission, approved: its upload route sends the file.
pub const REPORT_APPROVED: &str = "report.approved";
/// A service of the catalogue was added or changed (kept in STS Klassifikation as the
/// municipality's own classification).
pub const SERVICE_CHANGED: &str = "catalogue.service_changed";
/// A caseworker's note on a case.
pub const CASE_NOTE_ADDED: &str = "case.note_added";
/// A deadline on a case (a follow-up; the appeal deadline a dispatched decision starts).
pub const CASE_DEADLINE_SET: &str = "case.deadline_set";
/// A handover from the children's authority imported as an adult case.
pub const HANDOVER_IMPORTED: &str = "handover.imported";
/// A handover package refused (incomplete or altered): the children's system is told.
pub const HANDOVER_REFUSED: &str = "handover.refused";
/// A document to send to another authority through the Fordelingskomponent.
pub const DISTRIBUTION_REQUESTED: &str = "document.distribution_requested";
/// A batch of whole cases for the case and document index's initial load.
pub const INDEX_BACKFILL: &str = "index.backfill";
/// Cases to take out of the case and document index (a reconciliation found them
/// there, confidential).
pub const INDEX_REMOVE: &str = "index.remove";

/// Every event name, for docs and `route validate`.
pub const ALL: &[&str] = &[
    CASE_CREATED,
    CASE_UPDATED,
    CASE_STATUS_CHANGED,
    CASE_CLOSED,
    CASE_NOTE_ADDED,
    CASE_DEADLINE_SET,
    HANDOVER_IMPORTED,
    HANDOVER_REFUSED,
    DOCUMENT_ADDED,
    DOCUMENT_UPDATED,
    DOCUMENT_STORED,
    DECISION_MADE,
    GRANT_CREATED,
    GRANT_CHANGED,
    GRANT_ENDED,
    LETTER_REQUESTED,
    CONSENT_GIVEN,
    CONSENT_WITHDRAWN,
    CORRESPONDENCE_REQUESTED,
    ADMISSION_REPORT_REQUESTED,
    CITIZEN_DISCHARGED,
    DISTRIBUTION_REQUESTED,
    REPORT_APPROVED,
    SERVICE_CHANGED,
    INDEX_BACKFILL,
    INDEX_REMOVE,
];

/// Journals `name` with `body` for every route listening, on the change's own
/// transaction. `body` gets the event's name and a fresh `id`. Returns the journaled
/// messages by route.
pub async fn publish(
    engine: &Engine,
    conn: &mut AnyConnection,
    name: &str,
    mut body: serde_json::Value,
) -> CaseResult<Vec<(String, MessageId)>> {
    if let Some(obj) = body.as_object_mut() {
        obj.insert("event".into(), name.into());
        obj.insert("id".into(), uuid::Uuid::now_v7().to_string().into());
    }
    let out = engine.publish(conn, name, &body).await?;
    Ok(out
        .into_iter()
        .filter_map(|(route, s)| match s {
            Submitted::Journaled(id) | Submitted::Duplicate(id) => Some((route, id)),
            Submitted::Filtered => None,
        })
        .collect())
}

/// Whether a route takes `document.stored`, which carries the document's content.
pub fn wants_document_content(engine: &Engine) -> bool {
    !engine.routes().for_event(DOCUMENT_STORED).is_empty()
}

/// Publishes `document.added` with `body` (the case's fields and the document's
/// metadata) and, when a route listens, `document.stored` with the file too: the file
/// is encoded only for the systems that keep it.
pub async fn publish_document(
    engine: &Engine,
    conn: &mut AnyConnection,
    body: serde_json::Value,
    content: Option<&[u8]>,
) -> CaseResult<()> {
    if wants_document_content(engine) {
        let Some(content) = content else {
            return Err(CaseError::Unavailable {
                system: "documents".into(),
                detail: format!(
                    "{DOCUMENT_STORED} is published with the content, and none was given"
                ),
            });
        };
        let mut stored = body.clone();
        stored["content"] =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, content).into();
        publish(engine, conn, DOCUMENT_STORED, stored).await?;
    }
    publish(engine, conn, DOCUMENT_ADDED, body).await?;
    Ok(())
}
