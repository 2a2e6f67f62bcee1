//! A statutory report's submissions and their lifecycle: prepared for a period from an
//! extract (validated against the layout, its file written, compared with the last
//! accepted period's), approved by a named user (only when nothing was found), then
//! handed to the report's upload route, and followed: underway → delivered → received
//! → accepted or rejected, a rejection with the receiver's reason in clear text. A
//! corrected submission names the rejected one it replaces. Every change of state is in
//! the submission's log, with who and when.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use super::file::{self, Diff};
use super::layout::Layout;
use super::validate::{Finding, Period, Record, Validator};
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::store::{CaseCore, Ctx, new_id, now_ms};

/// The findings kept with a submission (all are counted).
const FINDINGS_KEPT: usize = 1000;

/// Where a submission is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Prepared; approvable when nothing was found.
    Draft,
    /// Approved by the municipality; not yet handed to the route.
    Approved,
    /// On its way to the receiver.
    Underway,
    /// The receiver has the file.
    Delivered,
    /// The receiver has taken it in (its receipt).
    Received,
    /// The receiver approved it.
    Accepted,
    /// The receiver rejected it, with a reason.
    Rejected,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Approved => "approved",
            State::Underway => "underway",
            State::Delivered => "delivered",
            State::Received => "received",
            State::Accepted => "accepted",
            State::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "draft" => State::Draft,
            "approved" => State::Approved,
            "underway" => State::Underway,
            "delivered" => State::Delivered,
            "received" => State::Received,
            "accepted" => State::Accepted,
            "rejected" => State::Rejected,
            _ => return None,
        })
    }

    /// The receiver's answers end it.
    pub fn is_final(self) -> bool {
        matches!(self, State::Accepted | State::Rejected)
    }
}

/// A submission, without its file.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Submission {
    pub id: String,
    pub report: String,
    pub period: String,
    pub state: State,
    pub records: i64,
    pub findings_total: i64,
    /// The first findings (up to a thousand).
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<Finding>,
    pub sha256: String,
    pub created_by: String,
    pub created_at: i64,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
    /// The rejected submission this one corrects.
    pub replaces: Option<String>,
    /// The journal message that carries it to the receiver.
    pub message_id: Option<String>,
    /// The receiver's id for it.
    pub receipt_id: Option<String>,
    /// The receiver's reason for a rejection.
    pub reason: Option<String>,
    pub updated_at: i64,
}

/// One change of a submission's state.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    pub state: State,
    pub by_user: String,
    pub at: i64,
    pub detail: Option<String>,
}

/// A prepared submission and what changed since the last accepted period.
#[derive(Clone, Debug, Serialize)]
pub struct Prepared {
    pub submission: Submission,
    /// Against the report's last accepted submission, if there is one.
    pub diff: Option<Diff>,
    pub against: Option<String>,
}

/// A receiver's status for a submission, as the report's status route hands it on.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverStatus {
    pub submission_id: String,
    /// delivered, received, accepted or rejected.
    pub state: String,
    #[serde(default)]
    pub receipt_id: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Who says so (the receiver).
    pub by: String,
}

/// Which submissions to list.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct SubmissionFilter {
    pub report: Option<String>,
    pub period: Option<String>,
    pub state: Option<String>,
}

/// The delivery's external ids of a receiver's verdict (`accepted`, `rejected`) and
/// its reason, for a receiver that decides as it takes the submission (SEI2).
pub const VERDICT: &str = "receiver_verdict";
pub const VERDICT_REASON: &str = "receiver_reason";

const COLUMNS: &str = "id, report, period, state, records, findings_total, findings, sha256, created_by, created_at, approved_by, approved_at, replaces, message_id, receipt_id, reason, updated_at";

fn submission(r: &sqlx::any::AnyRow) -> CaseResult<Submission> {
    let state: String = r.try_get("state")?;
    let findings: String = r.try_get("findings")?;
    Ok(Submission {
        id: r.try_get("id")?,
        report: r.try_get("report")?,
        period: r.try_get("period")?,
        state: State::parse(&state).ok_or_else(|| CaseError::Corrupt {
            what: "report submission".into(),
            detail: format!("unknown state {state:?}"),
        })?,
        records: r.try_get("records")?,
        findings_total: r.try_get("findings_total")?,
        findings: serde_json::from_str(&findings).unwrap_or_default(),
        sha256: r.try_get("sha256")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        approved_by: r.try_get("approved_by")?,
        approved_at: r.try_get("approved_at")?,
        replaces: r.try_get("replaces")?,
        message_id: r.try_get("message_id")?,
        receipt_id: r.try_get("receipt_id")?,
        reason: r.try_get("reason")?,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn load(conn: &mut AnyConnection, id: &str) -> CaseResult<Submission> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM report_submissions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| CaseError::not_found("report submission", id))?;
    submission(&row)
}

async fn log(
    conn: &mut AnyConnection,
    id: &str,
    state: State,
    by: &str,
    detail: Option<&str>,
    at: i64,
) -> CaseResult<()> {
    sqlx::query(
        "INSERT INTO report_submission_log (submission_id, state, by_user, at, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(by)
    .bind(at)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn conflict(field: &str, detail: impl Into<String>) -> CaseError {
    CaseError::Conflict {
        field: field.into(),
        detail: detail.into(),
    }
}

impl CaseCore {
    /// Prepares a submission of `layout`'s report for `period` (YYYY-MM) from `records`
    /// (an extract, taken as it streams): validated, its file written, compared with the
    /// report's last accepted submission. `replaces` names the rejected submission it
    /// corrects.
    pub async fn prepare_submission(
        &self,
        ctx: &Ctx<'_>,
        layout: &Layout,
        period: &str,
        records: impl IntoIterator<Item = Record>,
        replaces: Option<&str>,
    ) -> CaseResult<Prepared> {
        let span = Period::month(period)
            .ok_or_else(|| CaseError::invalid("period", "a period is a month, YYYY-MM"))?;
        if let Some(old) = replaces {
            let mut conn = self.journal().pool().acquire().await?;
            let old = load(&mut conn, old).await?;
            if old.report != layout.report || old.period != period {
                return Err(conflict(
                    "replaces",
                    format!(
                        "submission {} is {} for {}, not {} for {period}",
                        old.id, old.report, old.period, layout.report
                    ),
                ));
            }
            if old.state != State::Rejected {
                return Err(conflict(
                    "replaces",
                    format!(
                        "submission {} is {}; only a rejected one is replaced",
                        old.id,
                        old.state.as_str()
                    ),
                ));
            }
        }
        let mut validator = Validator::new(layout, span);
        let mut findings = Vec::new();
        let mut total = 0i64;
        let mut out = Vec::new();
        let mut n = 0i64;
        {
            use std::io::Write as _;
            writeln!(out, "{}", file::header(layout)).expect("in memory");
            for r in records {
                for f in validator.check(&r) {
                    total += 1;
                    if findings.len() < FINDINGS_KEPT {
                        findings.push(f);
                    }
                }
                writeln!(out, "{}", file::line(layout, &r)).expect("in memory");
                n += 1;
            }
        }
        let sha256 = hex::encode(Sha256::digest(&out));
        let now = now_ms();
        let id = new_id();
        let mut tx = self.begin().await?;
        // What changed since the last accepted period, before anything is written: a
        // file that does not read back refuses the preparation whole.
        let last = sqlx::query(
            "SELECT id, file FROM report_submissions WHERE report = $1 AND state = 'accepted' ORDER BY period DESC, created_at DESC LIMIT 1",
        )
        .bind(&layout.report)
        .fetch_optional(&mut *tx)
        .await?;
        let (diff, against) = match last {
            Some(row) => {
                let before: Vec<u8> = row.try_get("file")?;
                let d = file::diff(
                    layout,
                    &String::from_utf8_lossy(&before),
                    &String::from_utf8_lossy(&out),
                )
                .map_err(|detail| CaseError::Corrupt {
                    what: "the last accepted submission's file".into(),
                    detail,
                })?;
                (Some(d), Some(row.try_get("id")?))
            }
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO report_submissions (id, report, period, state, records, findings_total, findings, file, sha256, created_by, created_at, replaces, updated_at, record_separator) \
             VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, $10, $11, $10, $12)",
        )
        .bind(&id)
        .bind(&layout.report)
        .bind(period)
        .bind(n)
        .bind(total)
        .bind(serde_json::to_string(&findings).unwrap_or_else(|_| "[]".into()))
        .bind(out)
        .bind(&sha256)
        .bind(&ctx.actor.user_id)
        .bind(now)
        .bind(replaces)
        .bind(layout.send_records.then(|| layout.separator.to_string()))
        .execute(&mut *tx)
        .await?;
        let detail = format!(
            "{n} record(s), {total} finding(s){}",
            replaces
                .map(|r| format!("; replaces {r}"))
                .unwrap_or_default()
        );
        log(
            &mut tx,
            &id,
            State::Draft,
            &ctx.actor.user_id,
            Some(&detail),
            now,
        )
        .await?;
        let submission = load(&mut tx, &id).await?;
        tx.commit().await?;
        tracing::info!(report = %layout.report, period, submission = %id, records = n, findings = total, by = %ctx.actor.user_id, "report submission prepared");
        Ok(Prepared {
            submission,
            diff,
            against,
        })
    }

    /// Approves a draft with no findings, as the named user, and hands it to the
    /// report's upload route (`report.approved`). Refused when nothing would send it.
    pub async fn approve_submission(&self, ctx: &Ctx<'_>, id: &str) -> CaseResult<Submission> {
        let mut tx = self.begin().await?;
        let s = load(&mut tx, id).await?;
        if s.state != State::Draft {
            return Err(conflict(
                "state",
                format!(
                    "submission {id} is {}; only a draft is approved",
                    s.state.as_str()
                ),
            ));
        }
        if s.findings_total > 0 {
            return Err(conflict(
                "findings",
                format!(
                    "submission {id} has {} finding(s); correct the data and prepare it again",
                    s.findings_total
                ),
            ));
        }
        let row =
            sqlx::query("SELECT file, record_separator FROM report_submissions WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        let file: Vec<u8> = row.try_get("file")?;
        // A receiver that takes the records one by one gets them as well as the file.
        let rows = match row.try_get::<Option<String>, _>("record_separator")? {
            Some(sep) => {
                let sep = sep.chars().next().unwrap_or(';');
                let records =
                    file::read_with(sep, &String::from_utf8_lossy(&file)).map_err(|detail| {
                        CaseError::Corrupt {
                            what: format!("submission {id}'s file"),
                            detail,
                        }
                    })?;
                Some(records)
            }
            None => None,
        };
        let now = now_ms();
        let sent = events::publish(
            &self.engine,
            &mut tx,
            events::REPORT_APPROVED,
            serde_json::json!({
                "submission_id": id,
                "report": s.report,
                "period": s.period,
                "records": s.records,
                "sha256": s.sha256,
                "replaces": s.replaces,
                "approved_by": ctx.actor.user_id,
                "file": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &file),
                "rows": rows,
            }),
        )
        .await?;
        let Some((route, message)) = sent.first() else {
            drop(tx);
            return Err(CaseError::Unavailable {
                system: s.report.clone(),
                detail: "no route uploads this report in this environment".into(),
            });
        };
        sqlx::query(
            "UPDATE report_submissions SET state = 'underway', approved_by = $1, approved_at = $2, message_id = $3, updated_at = $2 WHERE id = $4",
        )
        .bind(&ctx.actor.user_id)
        .bind(now)
        .bind(message.to_string())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        log(&mut tx, id, State::Approved, &ctx.actor.user_id, None, now).await?;
        log(
            &mut tx,
            id,
            State::Underway,
            &ctx.actor.user_id,
            Some(&format!("route {route}, message {message}")),
            now,
        )
        .await?;
        let s = load(&mut tx, id).await?;
        tx.commit().await?;
        self.engine.wake();
        tracing::info!(report = %s.report, period = %s.period, submission = id, by = %ctx.actor.user_id, "report submission approved and underway");
        Ok(s)
    }

    /// A status for submission `id` (from the receiver, or the delivery): states only
    /// move forward, a repeat changes nothing, and a rejection needs its reason.
    pub async fn record_submission_status(
        &self,
        id: &str,
        state: State,
        by: &str,
        receipt_id: Option<&str>,
        reason: Option<&str>,
    ) -> CaseResult<Submission> {
        if state == State::Rejected && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(CaseError::invalid("reason", "a rejection gives its reason"));
        }
        let mut tx = self.begin().await?;
        let s = load(&mut tx, id).await?;
        if s.state == state {
            return Ok(s);
        }
        if s.state.is_final() || state <= s.state || s.state < State::Underway {
            return Err(conflict(
                "state",
                format!(
                    "submission {id} is {}; it cannot become {}",
                    s.state.as_str(),
                    state.as_str()
                ),
            ));
        }
        let now = now_ms();
        sqlx::query(
            "UPDATE report_submissions SET state = $1, receipt_id = COALESCE($2, receipt_id), reason = COALESCE($3, reason), updated_at = $4 WHERE id = $5",
        )
        .bind(state.as_str())
        .bind(receipt_id)
        .bind(reason)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        log(&mut tx, id, state, by, reason.or(receipt_id), now).await?;
        let s = load(&mut tx, id).await?;
        tx.commit().await?;
        if state == State::Rejected {
            tracing::warn!(report = %s.report, period = %s.period, submission = id, reason = ?reason, "report submission rejected");
        }
        Ok(s)
    }

    /// Follows the submissions underway in the journal: once the upload is delivered the
    /// receiver has the file (delivered) and its receipt (received); a receiver that
    /// decides as it takes it (SEI2) has also accepted or rejected it, with its reason.
    /// How many moved.
    pub async fn follow_submissions(&self) -> CaseResult<usize> {
        let underway: Vec<(String, Option<String>)> = {
            let mut conn = self.journal().reader().acquire().await?;
            sqlx::query(
                "SELECT id, message_id FROM report_submissions WHERE state = 'underway' ORDER BY updated_at LIMIT 500",
            )
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("message_id")?)))
            .collect::<CaseResult<_>>()?
        };
        let mut moved = 0;
        for (id, message) in underway {
            let Some(message) = message.and_then(|m| m.parse().ok()) else {
                continue;
            };
            let msg = match self.journal().get(message).await {
                Ok(m) => m,
                Err(knudepunkt_engine::JournalError::NotFound(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            if msg.state != knudepunkt_engine::MessageState::Delivered {
                continue;
            }
            let receipt = msg
                .external_ids
                .iter()
                .find(|(k, _)| k.ends_with("kvittering") || k.ends_with("receipt"))
                .map(|(_, v)| v.clone());
            let route = format!("route {}", msg.route);
            self.record_submission_status(&id, State::Delivered, &route, None, None)
                .await?;
            if receipt.is_some() {
                self.record_submission_status(
                    &id,
                    State::Received,
                    &route,
                    receipt.as_deref(),
                    None,
                )
                .await?;
            }
            // A receiver that decides as it takes the file (SEI2) gives its verdict
            // with the delivery.
            let id_of = |k: &str| msg.external_ids.get(k).map(String::as_str);
            match id_of(VERDICT) {
                Some("accepted") => {
                    self.record_submission_status(&id, State::Accepted, &route, None, None)
                        .await?;
                }
                Some("rejected") => {
                    let reason = id_of(VERDICT_REASON).unwrap_or("rejected without a reason");
                    self.record_submission_status(&id, State::Rejected, &route, None, Some(reason))
                        .await?;
                }
                _ => {}
            }
            moved += 1;
        }
        Ok(moved)
    }

    /// Submissions, newest first.
    pub async fn submissions(&self, filter: &SubmissionFilter) -> CaseResult<Vec<Submission>> {
        if let Some(state) = &filter.state
            && State::parse(state).is_none()
        {
            return Err(CaseError::invalid(
                "state",
                "draft, approved, underway, delivered, received, accepted or rejected",
            ));
        }
        let mut conn = self.journal().reader().acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM report_submissions \
             WHERE ($1 IS NULL OR report = $1) AND ($2 IS NULL OR period = $2) AND ($3 IS NULL OR state = $3) \
             ORDER BY created_at DESC, id DESC LIMIT 500"
        )))
        .bind(filter.report.as_deref())
        .bind(filter.period.as_deref())
        .bind(filter.state.as_deref())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(submission).collect()
    }

    /// One submission and its log, oldest change first.
    pub async fn submission(&self, id: &str) -> CaseResult<(Submission, Vec<LogEntry>)> {
        let mut conn = self.journal().reader().acquire().await?;
        let s = load(&mut conn, id).await?;
        let rows = sqlx::query(
            "SELECT state, by_user, at, detail FROM report_submission_log WHERE submission_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let log = rows
            .iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                Ok(LogEntry {
                    state: State::parse(&state).unwrap_or(State::Draft),
                    by_user: r.try_get("by_user")?,
                    at: r.try_get("at")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect::<CaseResult<_>>()?;
        Ok((s, log))
    }
}
