//! De Kommunale Serviceindikatorer – Voksne, from the grants.

use sqlx::Row;

use super::paragraf;
use crate::error::CaseResult;
use crate::reporting::layout::Layout;
use crate::reporting::validate::{Period, Record};
use crate::store::CaseCore;

impl CaseCore {
    /// Every service a citizen had in the period under one of the report's legal
    /// sections: its grant's start, end, quantity and provider type.
    pub(super) async fn serviceindikatorer_voksne(
        &self,
        layout: &Layout,
        period: Period,
        each: &mut (dyn FnMut(Record) + Send),
    ) -> CaseResult<u64> {
        use futures::TryStreamExt as _;
        let codes = layout
            .variable("PARAGRAF")
            .map(|v| v.codes.clone())
            .unwrap_or_default();
        let (last, first) = (period.last.to_string(), period.first.to_string());
        let mut conn = self.journal().reader().acquire().await?;
        let mut rows = sqlx::query(
            "SELECT c.cpr, s.legal_basis, s.code, g.period_from, g.period_to, g.quantity, g.provider_type \
             FROM grants g JOIN services s ON s.id = g.service_id JOIN cases c ON c.id = g.case_id \
             WHERE g.period_from <= $1 AND (g.period_to IS NULL OR g.period_to >= $2) \
             ORDER BY g.case_id, g.period_from, g.id",
        )
        .bind(&last)
        .bind(&first)
        .fetch(&mut *conn);
        let mut n = 0;
        while let Some(r) = rows.try_next().await? {
            let legal: String = r.try_get("legal_basis")?;
            let Some(p) = paragraf(&legal).filter(|p| codes.contains_key(p)) else {
                continue;
            };
            let mut rec: Record = layout.constants.clone();
            rec.insert("CPR".into(), r.try_get("cpr")?);
            rec.insert("PARAGRAF".into(), p);
            rec.insert("YDELSE".into(), r.try_get("code")?);
            rec.insert("STARTDATO".into(), r.try_get("period_from")?);
            if let Some(to) = r.try_get::<Option<String>, _>("period_to")? {
                rec.insert("SLUTDATO".into(), to);
            }
            if let Some(q) = r.try_get::<Option<i64>, _>("quantity")? {
                rec.insert("OMFANG".into(), q.to_string());
            }
            if let Some(t) = r.try_get::<Option<String>, _>("provider_type")? {
                rec.insert("LEVERANDOERTYPE".into(), t.to_uppercase());
            }
            each(rec);
            n += 1;
        }
        Ok(n)
    }
}
