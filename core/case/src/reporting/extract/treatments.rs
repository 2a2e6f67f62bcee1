//! The treatment registers: Stofmisbrugsdatabasen (drug treatment, SEL § 101) and the
//! national alcohol-treatment register NAB (SUL § 141). Each course active in the
//! period, its waiting time counted from the referral to the start.

use sqlx::Row;

use super::{RowRecord, days_between, each_row, fill};
use crate::error::CaseResult;
use crate::reporting::layout::Layout;
use crate::reporting::validate::{Period, Record};
use crate::store::CaseCore;

const COLUMNS: &str = "id, cpr, provider, referred, offered, started, form, substance, units_per_week, ended, end_reason, withdrawn";

/// A course's variables common to both registers.
fn course(layout: &Layout, r: &sqlx::any::AnyRow) -> CaseResult<Record> {
    let mut rec: Record = layout.constants.clone();
    fill(
        &mut rec,
        r,
        &[
            ("CPR", "cpr"),
            ("BEHANDLINGSSTED", "provider"),
            ("HENVENDELSESDATO", "referred"),
            ("TILBUDSDATO", "offered"),
            ("STARTDATO", "started"),
            ("BEHANDLINGSFORM", "form"),
            ("SLUTDATO", "ended"),
            ("AFSLUTNINGSAARSAG", "end_reason"),
        ],
    )?;
    let referred: String = r.try_get("referred")?;
    if let Some(start) = r.try_get::<Option<String>, _>("started")?
        && let Some(days) = days_between(&referred, &start)
    {
        rec.insert("VENTETID".into(), days.to_string());
    }
    Ok(rec)
}

impl CaseCore {
    /// `register`'s courses for the period: active in it and not withdrawn, and (with
    /// `withdrawn_too`) those withdrawn in it.
    async fn each_course(
        &self,
        register: &str,
        period: Period,
        withdrawn_too: bool,
        record: &mut RowRecord<'_>,
        each: &mut (dyn FnMut(Record) + Send),
    ) -> CaseResult<u64> {
        let withdrawn = if withdrawn_too {
            " OR (withdrawn >= $3 AND withdrawn <= $2)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM treatments WHERE register = $1 AND \
             ((withdrawn IS NULL AND referred <= $2 AND (ended IS NULL OR ended >= $3)){withdrawn}) \
             ORDER BY provider, referred, id"
        );
        each_row(self, sql, register, period, record, each).await
    }

    /// Stofmisbrugsdatabasen: each drug-treatment course in the period, with its main
    /// substance.
    pub(super) async fn smdb(
        &self,
        layout: &Layout,
        period: Period,
        each: &mut (dyn FnMut(Record) + Send),
    ) -> CaseResult<u64> {
        self.each_course(
            "SMDB",
            period,
            false,
            &mut |r| {
                let mut rec = course(layout, r)?;
                fill(&mut rec, r, &[("HOVEDSTOF", "substance")])?;
                Ok(rec)
            },
            each,
        )
        .await
    }

    /// NAB: each alcohol-treatment course in the period as a schema to report
    /// (`INDBERET`), known by its id; a course withdrawn in the period as one to cancel
    /// (`TILBAGEKALD`).
    pub(super) async fn nab(
        &self,
        layout: &Layout,
        period: Period,
        each: &mut (dyn FnMut(Record) + Send),
    ) -> CaseResult<u64> {
        self.each_course(
            "NAB",
            period,
            true,
            &mut |r| {
                let mut rec = course(layout, r)?;
                rec.insert("SKEMA_ID".into(), r.try_get("id")?);
                let withdrawn: Option<String> = r.try_get("withdrawn")?;
                rec.insert(
                    "HANDLING".into(),
                    if withdrawn.is_some() {
                        "TILBAGEKALD"
                    } else {
                        "INDBERET"
                    }
                    .into(),
                );
                if let Some(u) = r.try_get::<Option<i64>, _>("units_per_week")? {
                    rec.insert("GENSTANDE_PR_UGE".into(), u.to_string());
                }
                Ok(rec)
            },
            each,
        )
        .await
    }
}
