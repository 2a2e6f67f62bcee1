//! Letters the core asked the engine to send, and the notices a case shows about its
//! integrations. The core follows each letter in the journal until its dispatch is
//! confirmed (which starts a decision's appeal deadline) or it fails (which the case
//! shows: "letter to citizen failed: recipient not found"). Other routes that die for a
//! case reach it through the engine's dead-letter notifications.

use std::sync::atomic::Ordering;

use chrono::TimeZone;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use knudepunkt_engine::{MessageId, MessageState};

use crate::error::CaseResult;
use crate::store::{CaseCore, now_ms};

/// Something the case shows about its integrations.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Notice {
    /// `letter_dispatched`, `letter_failed`, `delivery_failed`, `no_letter_route`.
    pub kind: String,
    pub text: String,
    pub message_id: Option<String>,
    pub at: i64,
}

pub(crate) async fn notices_of_case(
    conn: &mut AnyConnection,
    case_id: &str,
) -> CaseResult<Vec<Notice>> {
    let rows = sqlx::query(
        "SELECT kind, text, message_id, at FROM case_notices WHERE case_id = $1 ORDER BY id",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Notice {
                kind: r.try_get("kind")?,
                text: r.try_get("text")?,
                message_id: r.try_get("message_id")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

pub(crate) async fn add_notice(
    conn: &mut AnyConnection,
    case_id: &str,
    kind: &str,
    text: &str,
    message_id: Option<&str>,
    at: i64,
) -> CaseResult<()> {
    sqlx::query(
        "INSERT INTO case_notices (case_id, kind, text, message_id, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(case_id)
    .bind(kind)
    .bind(text)
    .bind(message_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the letters journaled for a request (one per route that sends letters); with
/// none, the case says that no route sends letters here.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    case_id: &str,
    decision_id: Option<&str>,
    sent: &[(String, MessageId)],
    now: i64,
) -> CaseResult<()> {
    if sent.is_empty() {
        return add_notice(
            conn,
            case_id,
            "no_letter_route",
            "letter to citizen not sent: no route sends letters in this environment",
            None,
            now,
        )
        .await;
    }
    for (route, id) in sent {
        sqlx::query(
            "INSERT INTO letters (message_id, case_id, decision_id, route, status, requested_at) \
             VALUES ($1, $2, $3, $4, 'requested', $5) ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(case_id)
        .bind(decision_id)
        .bind(route)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// What one reconciliation pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    pub dispatched: usize,
    pub failed: usize,
    pub still_open: usize,
    pub delivery_failures: usize,
    /// Report submissions whose upload was delivered.
    pub submissions: usize,
    /// Cases the records system answered for (journalised or failed).
    pub records: usize,
}

fn copenhagen_date(ms: i64) -> chrono::NaiveDate {
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .with_timezone(&chrono_tz::Europe::Copenhagen)
        .date_naive()
}

impl CaseCore {
    /// Follows open letters in the journal and takes the engine's dead-letter
    /// notifications for cases. Run periodically (the server does every few seconds).
    pub async fn reconcile(&self) -> CaseResult<Reconciled> {
        let mut report = Reconciled::default();
        let open: Vec<(String, String, Option<String>)> = {
            let mut conn = self.journal().pool().acquire().await?;
            sqlx::query(
                "SELECT message_id, case_id, decision_id FROM letters WHERE status = 'requested' ORDER BY requested_at LIMIT 500",
            )
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("message_id")?, r.try_get("case_id")?, r.try_get("decision_id")?)))
            .collect::<CaseResult<_>>()?
        };
        for (message_id, case_id, decision_id) in open {
            let Ok(id) = message_id.parse::<MessageId>() else {
                continue;
            };
            let msg = match self.journal().get(id).await {
                Ok(msg) => msg,
                Err(knudepunkt_engine::JournalError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            let now = now_ms();
            let mut tx = self.begin().await?;
            match msg.state {
                MessageState::Delivered => {
                    let on = copenhagen_date(msg.updated_at);
                    let mut text =
                        format!("letter to citizen dispatched {on} (route {})", msg.route);
                    if let Some(decision) = &decision_id
                        && let Some(deadline) =
                            crate::decisions::letter_dispatched(&mut tx, decision, on).await?
                    {
                        text.push_str(&format!("; appeal deadline {deadline}"));
                        let case = crate::cases::load(&mut tx, &case_id).await?;
                        crate::case_notes::set_deadline(
                            &mut tx,
                            &self.engine,
                            &case,
                            &format!("klagefrist-{decision}"),
                            &crate::case_notes::NewDeadline {
                                kind: "Klagefrist".into(),
                                due: deadline.clone(),
                                text: format!(
                                    "Klagefrist for afgørelse {decision} (brevet afsendt {on})"
                                ),
                            },
                            "system:digital-post",
                            now,
                        )
                        .await?;
                    }
                    settle(&mut tx, &message_id, "dispatched", None, now).await?;
                    add_notice(
                        &mut tx,
                        &case_id,
                        "letter_dispatched",
                        &text,
                        Some(&message_id),
                        now,
                    )
                    .await?;
                    report.dispatched += 1;
                }
                MessageState::Dead | MessageState::Discarded => {
                    let why = msg
                        .last_error
                        .clone()
                        .unwrap_or_else(|| format!("{} by an operator", msg.state));
                    let text = format!("letter to citizen failed: {why}");
                    tracing::warn!(case_id = %case_id, message_id = %message_id, reason = %why, "letter to citizen failed");
                    settle(&mut tx, &message_id, "failed", Some(&why), now).await?;
                    add_notice(
                        &mut tx,
                        &case_id,
                        "letter_failed",
                        &text,
                        Some(&message_id),
                        now,
                    )
                    .await?;
                    report.failed += 1;
                }
                _ => report.still_open += 1,
            }
            tx.commit().await?;
        }
        report.delivery_failures = self.take_dead_letter_notifications().await?;
        report.submissions = self.follow_submissions().await?;
        report.records = self.follow_records().await?;
        Ok(report)
    }

    /// Turns the engine's dead-letter notifications about cases (other than letters,
    /// which are followed above) into notices on the case, and marks them taken. Others
    /// are left for the operator; a cursor pages past them.
    async fn take_dead_letter_notifications(&self) -> CaseResult<usize> {
        let mut taken_total = 0;
        let mut after = self.notification_cursor.load(Ordering::Relaxed);
        loop {
            let notes = self.journal().open_notifications_after(after, PAGE).await?;
            let Some(last) = notes.last() else { break };
            after = last.id;
            let mut taken = Vec::new();
            let mut conn = self.journal().pool().acquire().await?;
            for n in notes.iter().filter(|n| n.kind == "dead_letter") {
                let Some(case_id) = n.correlation_id.as_deref() else {
                    continue;
                };
                if !crate::store::exists(&mut conn, "cases", "id", case_id).await? {
                    continue;
                }
                let message_id = n.message_id.to_string();
                if !crate::store::exists(&mut conn, "letters", "message_id", &message_id).await? {
                    let text = format!(
                        "delivery through route {} failed: {}",
                        n.route,
                        n.detail.as_deref().unwrap_or("no reason given")
                    );
                    add_notice(
                        &mut conn,
                        case_id,
                        "delivery_failed",
                        &text,
                        Some(&message_id),
                        now_ms(),
                    )
                    .await?;
                }
                taken.push(n.id);
            }
            drop(conn);
            if !taken.is_empty() {
                self.journal().consume_notifications(&taken).await?;
            }
            taken_total += taken.len();
            if (notes.len() as i64) < PAGE {
                break;
            }
        }
        self.notification_cursor.store(after, Ordering::Relaxed);
        Ok(taken_total)
    }
}

/// Notifications read per page.
const PAGE: i64 = 500;

async fn settle(
    conn: &mut AnyConnection,
    message_id: &str,
    status: &str,
    detail: Option<&str>,
    now: i64,
) -> CaseResult<()> {
    sqlx::query(
        "UPDATE letters SET status = $1, detail = $2, settled_at = $3 WHERE message_id = $4",
    )
    .bind(status)
    .bind(detail)
    .bind(now)
    .bind(message_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
