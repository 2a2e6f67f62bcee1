//! Correspondence with the health service (MedCom XDIS91): a caseworker writes to a GP
//! or a hospital unit, addressed by its EAN location number, about the case's citizen.
//! The letter is journalised on the case as a document and published as
//! `medcom.correspondence.requested` in the same transaction; the route sends it, its
//! receipt confirms it, and a negative receipt shows on the case. Replies find the case
//! again by the case reference the letter carries (its EpisodeOfCareIdentifier).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{self, AuditAction};
use crate::documents::{self, DocumentInfo};
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::store::{CaseCore, Ctx, new_id, now_ms, required};

/// The longest subject MedCom takes (`String_1_70`).
const SUBJECT_MAX: usize = 70;

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCorrespondence {
    /// The receiver's EAN location number (13 digits): a GP, a hospital unit.
    pub to_ean: String,
    pub subject: String,
    pub text: String,
    /// `rutine` (default) or `høj_prioritet`, as MedCom names them.
    #[serde(default)]
    pub priority: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SentCorrespondence {
    /// The letter as journalised on the case.
    pub document: DocumentInfo,
    /// The journal message that carries it (its delivery can be followed there).
    pub message_id: Option<String>,
}

fn check(new: &NewCorrespondence) -> CaseResult<()> {
    if new.to_ean.len() != 13 || !new.to_ean.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CaseError::invalid(
            "to_ean",
            "an EAN location number is 13 digits",
        ));
    }
    required("subject", &new.subject)?;
    if new.subject.chars().count() > SUBJECT_MAX {
        return Err(CaseError::invalid(
            "subject",
            format!("MedCom takes at most {SUBJECT_MAX} characters"),
        ));
    }
    required("text", &new.text)?;
    if let Some(p) = &new.priority
        && !["rutine", "høj_prioritet"].contains(&p.as_str())
    {
        return Err(CaseError::invalid("priority", "rutine or høj_prioritet"));
    }
    Ok(())
}

impl CaseCore {
    pub async fn send_correspondence(
        &self,
        ctx: &Ctx<'_>,
        case_id: &str,
        new: &NewCorrespondence,
    ) -> CaseResult<SentCorrespondence> {
        check(new)?;
        let (mut tx, case) = self.begin_on_case(ctx, case_id, "correspondence").await?;
        let citizen = crate::citizens::load(&mut tx, &case.cpr)
            .await?
            .ok_or_else(|| CaseError::not_found("citizen", case.cpr.to_string()))?;
        let now = now_ms();
        let content = new.text.as_bytes();
        let doc = DocumentInfo {
            id: new_id(),
            case_id: case.id.clone(),
            title: format!("Korrespondance til {}: {}", new.to_ean, new.subject.trim()),
            doc_type: "MedCom XDIS91 (udgående)".into(),
            media_type: "text/plain; charset=utf-8".into(),
            size: content.len() as i64,
            sha256: hex::encode(Sha256::digest(content)),
            journal_date: chrono::Utc::now()
                .with_timezone(&chrono_tz::Europe::Copenhagen)
                .format("%Y-%m-%d")
                .to_string(),
            confidential: false,
            created_by: ctx.actor.user_id.clone(),
            created_at: now,
            checked_out: None,
        };
        documents::insert(
            &mut tx,
            &self.documents,
            &doc,
            documents::Content::Bytes(content),
            None,
        )
        .await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("correspondence/{}", doc.id),
            case.cpr.expose(),
            now,
        )
        .await?;
        let mut body = case.event();
        body["correspondence"] = serde_json::json!({
            "letter_ref": doc.id,
            "to_ean": new.to_ean,
            "subject": new.subject.trim(),
            "text": new.text,
            "priority": new.priority.clone().unwrap_or_else(|| "rutine".into()),
            // The case id as MedCom's EpisodeOfCareIdentifier holds it (35 characters).
            "case_ref": case.id.replace('-', ""),
            "written_by": ctx.actor.user_id,
        });
        body["patient"] = serde_json::json!({
            "cpr": case.cpr.expose(),
            "given_name": citizen.given_name,
            "family_name": citizen.family_name,
        });
        let sent = events::publish(
            &self.engine,
            &mut tx,
            events::CORRESPONDENCE_REQUESTED,
            body,
        )
        .await?;
        tx.commit().await?;
        self.engine.wake();
        Ok(SentCorrespondence {
            document: doc,
            message_id: sent.first().map(|(_, id)| id.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(ean: &str, subject: &str) -> NewCorrespondence {
        NewCorrespondence {
            to_ean: ean.into(),
            subject: subject.into(),
            text: "Tekst".into(),
            priority: None,
        }
    }

    #[test]
    fn the_ean_and_subject_are_checked_before_anything_is_written() {
        assert!(check(&new("5790000128700", "Spørgsmål")).is_ok());
        let e = check(&new("57900", "x")).unwrap_err();
        assert!(e.to_string().contains("to_ean"), "{e}");
        let e = check(&new("5790000128700", &"æ".repeat(71))).unwrap_err();
        assert!(e.to_string().contains("subject"), "{e}");
        let mut p = new("5790000128700", "x");
        p.priority = Some("straks".into());
        assert!(check(&p).unwrap_err().to_string().contains("priority"));
    }
}
