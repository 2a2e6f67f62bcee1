//! A citizen is admitted to hospital (MedCom XDIS20, NotificationOfAdmission). When the
//! citizen has a registered consent to it (B3.152), the municipality answers the hospital
//! with an admission report (XDIS16) built from what the case core holds: the citizen's
//! master data, current grants, contacts and functional notes; the case is told. Without
//! consent no report goes out: a task for the caseworker is raised on the citizen's open
//! cases instead. A notice handled once is not handled again.

use serde::Deserialize;
use sqlx::Row;

use crate::consents;
use crate::cpr::Cpr;
use crate::error::CaseResult;
use crate::events;
use crate::letters::add_notice;
use crate::store::{CaseCore, now_ms};

/// The consent an admission report needs.
pub const CONSENT_KIND: &str = "send-admission-report-to-hospital";
/// The case notice kinds it leaves.
pub const REPORT_REQUESTED: &str = "admission_report_requested";
pub const TASK_NO_CONSENT: &str = "task_admission_without_consent";
/// The operator-inbox kind of admissions of citizens the municipality does not know.
pub const UNKNOWN_PATIENT: &str = "medcom.unknown_patient";

/// What an admission route hands the case core (`deliver.options.action: admission`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionNotice {
    /// The notice's id (sender, envelope and letter): it is handled once.
    pub external_id: String,
    pub hospital: Hospital,
    pub patient_cpr: String,
    /// `YYYY-MM-DDTHH:MM[:SS]`.
    pub admitted_at: String,
    #[serde(default)]
    pub notification_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hospital {
    pub ean: String,
    /// Where the answer goes (`AnswerTo`), if not the sender.
    #[serde(default)]
    pub answer_to_ean: Option<String>,
    #[serde(default)]
    pub organisation: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmissionOutcome {
    ReportRequested { cases: Vec<String> },
    TaskRaised { cases: Vec<String> },
    AlreadyHandled,
    InInbox { reason: String },
}

impl CaseCore {
    pub async fn take_admission(
        &self,
        notice: &AdmissionNotice,
        raw: &[u8],
    ) -> CaseResult<AdmissionOutcome> {
        let inbox = |reason: String| async move {
            self.journal()
                .put_in_inbox(
                    UNKNOWN_PATIENT,
                    &notice.external_id,
                    &format!("MedCom admission notice {}: {reason}", notice.external_id),
                    raw,
                    "application/json",
                )
                .await?;
            CaseResult::Ok(AdmissionOutcome::InInbox { reason })
        };
        let Ok(cpr) = Cpr::parse(&notice.patient_cpr) else {
            return inbox("the patient has no valid CPR number".into()).await;
        };
        let mut tx = self.begin().await?;
        let handled = sqlx::query("SELECT 1 AS one FROM case_notices WHERE message_id = $1")
            .bind(&notice.external_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if handled {
            tx.rollback().await?;
            return Ok(AdmissionOutcome::AlreadyHandled);
        }
        let Some(citizen) = crate::citizens::load(&mut tx, &cpr).await? else {
            tx.rollback().await?;
            return inbox(format!(
                "the patient {cpr} is not a citizen the municipality serves"
            ))
            .await;
        };
        let cases: Vec<(String, String)> = sqlx::query(
            "SELECT id, caseworker_id FROM cases WHERE cpr = $1 AND status <> 'Lukket' ORDER BY created_at",
        )
        .bind(cpr.expose())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("caseworker_id")?)))
        .collect::<CaseResult<_>>()?;
        if cases.is_empty() {
            tx.rollback().await?;
            return inbox(format!("the patient {cpr} has no open case")).await;
        }
        let today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::Copenhagen)
            .date_naive();
        crate::stays::apply(
            &mut tx,
            &cpr,
            &crate::stays::StayReport {
                hospital_ean: notice.hospital.ean.clone(),
                hospital: notice.hospital.organisation.clone(),
                admitted_at: Some(notice.admitted_at.clone()),
                ..Default::default()
            },
            now_ms(),
        )
        .await?;
        let hospital = notice
            .hospital
            .organisation
            .clone()
            .unwrap_or_else(|| notice.hospital.ean.clone());
        let now = now_ms();
        let case_ids: Vec<String> = cases.iter().map(|(id, _)| id.clone()).collect();
        if !consents::has_consent(&mut tx, &cpr, CONSENT_KIND, today).await? {
            let text = format!(
                "Indlagt på {hospital} {}: borgeren har ikke givet samtykke til en indlæggelsesrapport, så ingen er sendt. Tag stilling til, hvad hospitalet skal vide.",
                notice.admitted_at
            );
            for id in &case_ids {
                add_notice(
                    &mut tx,
                    id,
                    TASK_NO_CONSENT,
                    &text,
                    Some(&notice.external_id),
                    now,
                )
                .await?;
            }
            tx.commit().await?;
            tracing::info!(external_id = %notice.external_id, cases = case_ids.len(), "an admission without consent raised a task");
            return Ok(AdmissionOutcome::TaskRaised { cases: case_ids });
        }
        // What the report is built from.
        let placeholders: Vec<String> =
            (0..case_ids.len()).map(|i| format!("${}", i + 1)).collect();
        let sql = format!(
            "SELECT s.name, s.unit, g.quantity, g.provider, g.period_from, g.period_to FROM grants g \
             JOIN services s ON s.id = g.service_id WHERE g.status = 'active' AND g.case_id IN ({}) \
             ORDER BY g.period_from",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &case_ids {
            q = q.bind(id);
        }
        let grants: Vec<serde_json::Value> = q
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok(serde_json::json!({
                    "service": r.try_get::<String, _>("name")?,
                    "unit": r.try_get::<String, _>("unit")?,
                    "quantity": r.try_get::<Option<i64>, _>("quantity")?,
                    "provider": r.try_get::<String, _>("provider")?,
                    "from": r.try_get::<String, _>("period_from")?,
                    "to": r.try_get::<Option<String>, _>("period_to")?,
                }))
            })
            .collect::<CaseResult<_>>()?;
        let sql = format!(
            "SELECT id, title, content, content_in_files, sha256, media_type FROM documents WHERE doc_type = 'Funktionsvurdering' \
             AND confidential = 0 AND case_id IN ({}) ORDER BY created_at DESC",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in &case_ids {
            q = q.bind(id);
        }
        let mut notes: Vec<String> = Vec::new();
        for r in q.fetch_all(&mut *tx).await?.iter().take(3) {
            let media: String = r.try_get("media_type")?;
            if !media.starts_with("text/") {
                continue;
            }
            let id: String = r.try_get("id")?;
            let title: String = r.try_get("title")?;
            let content = self.documents.load(&id, r).await?;
            notes.push(format!(
                "{title}: {}",
                String::from_utf8_lossy(&content).trim()
            ));
        }
        let caseworker: Option<String> = sqlx::query("SELECT name FROM users WHERE id = $1")
            .bind(&cases[0].1)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("name"))
            .transpose()?;
        let body = serde_json::json!({
            "case_id": case_ids[0],
            "notice": {
                "external_id": notice.external_id,
                "admitted_at": notice.admitted_at,
                "notification_id": notice.notification_id,
            },
            "hospital": {
                "ean": notice.hospital.answer_to_ean.clone().unwrap_or_else(|| notice.hospital.ean.clone()),
                "organisation": hospital,
                "department": notice.hospital.department,
            },
            "patient": {
                "cpr": cpr.expose(),
                "given_name": citizen.given_name,
                "family_name": citizen.family_name,
                "address": citizen.address,
                "relations": citizen.relations,
                "contacts": citizen.contacts,
            },
            "grants": grants,
            "functional_notes": notes,
            "signed_by": caseworker.unwrap_or_else(|| "Sagsbehandler".into()),
        });
        events::publish(
            &self.engine,
            &mut tx,
            events::ADMISSION_REPORT_REQUESTED,
            body,
        )
        .await?;
        let text = format!(
            "Indlagt på {hospital} {}: indlæggelsesrapport sendt (samtykke foreligger).",
            notice.admitted_at
        );
        for id in &case_ids {
            add_notice(
                &mut tx,
                id,
                REPORT_REQUESTED,
                &text,
                Some(&notice.external_id),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.engine.wake();
        Ok(AdmissionOutcome::ReportRequested { cases: case_ids })
    }
}
