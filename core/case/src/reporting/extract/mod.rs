//! Extracts: a report's records for a period, from the case core's data, under the
//! layout's variable names (and its constants). Each report has its own; they are found
//! by the report's id.

use sqlx::Row;

use super::layout::Layout;
use super::validate::{Period, Record};
use crate::error::{CaseError, CaseResult};
use crate::store::CaseCore;

/// The reports this build can extract.
pub const REPORTS: &[&str] = &[SERVICEINDIKATORER_VOKSNE, BOFORMER_110];
pub const SERVICEINDIKATORER_VOKSNE: &str = "serviceindikatorer-voksne";
pub const BOFORMER_110: &str = "boformer-110";

/// A legal basis as the catalogue writes it (`SEL § 85`, `Serviceloven § 107, stk. 1`,
/// `ABL § 105`) as the report's code (`SEL85`, `SEL107`, `ABL105`).
pub fn paragraf(legal_basis: &str) -> Option<String> {
    let text = legal_basis.trim();
    let law = if text.starts_with("SEL") || text.starts_with("Serviceloven") {
        "SEL"
    } else if text.starts_with("ABL") || text.starts_with("Almenboligloven") {
        "ABL"
    } else {
        return None;
    };
    let after = text.split('§').nth(1)?.trim();
    let number: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    (!number.is_empty()).then(|| format!("{law}{number}"))
}

impl CaseCore {
    /// The records of `layout`'s report for `period`, collected.
    pub async fn extract(&self, layout: &Layout, period: Period) -> CaseResult<Vec<Record>> {
        let mut out = Vec::new();
        self.extract_each(layout, period, &mut |r| out.push(r))
            .await?;
        Ok(out)
    }

    /// The records of `layout`'s report for `period`, handed to `each` as they stream
    /// from the store (nothing is held but the record at hand). How many there were.
    pub async fn extract_each(
        &self,
        layout: &Layout,
        period: Period,
        each: &mut (dyn FnMut(Record) + Send),
    ) -> CaseResult<u64> {
        match layout.report.as_str() {
            SERVICEINDIKATORER_VOKSNE => self.serviceindikatorer_voksne(layout, period, each).await,
            BOFORMER_110 => self.boformer_110(layout, period, each).await,
            other => Err(CaseError::invalid(
                "report",
                format!(
                    "no extract for report {other:?} (this build has {})",
                    REPORTS.join(", ")
                ),
            )),
        }
    }

    /// Every service a citizen had in the period under one of the report's legal
    /// sections: its grant's start, end, quantity and provider type.
    async fn serviceindikatorer_voksne(
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

impl CaseCore {
    /// Every stay at a shelter or hostel (SEL § 110) in the period: the institution,
    /// arrival, departure, and housing before and after.
    async fn boformer_110(
        &self,
        layout: &Layout,
        period: Period,
        each: &mut (dyn FnMut(Record) + Send),
    ) -> CaseResult<u64> {
        use futures::TryStreamExt as _;
        let (last, first) = (period.last.to_string(), period.first.to_string());
        let mut conn = self.journal().reader().acquire().await?;
        let mut rows = sqlx::query(
            "SELECT cpr, institution, arrival, departure, housing_before, housing_after FROM residential_stays \
             WHERE section = 'SEL110' AND arrival <= $1 AND (departure IS NULL OR departure >= $2) \
             ORDER BY institution, arrival, id",
        )
        .bind(&last)
        .bind(&first)
        .fetch(&mut *conn);
        let mut n = 0;
        while let Some(r) = rows.try_next().await? {
            let mut rec: Record = layout.constants.clone();
            for (name, column) in [
                ("CPR", "cpr"),
                ("INSTITUTION", "institution"),
                ("INDSKRIVNINGSDATO", "arrival"),
                ("UDSKRIVNINGSDATO", "departure"),
                ("BOLIG_FOER", "housing_before"),
                ("BOLIG_EFTER", "housing_after"),
            ] {
                if let Some(v) = r.try_get::<Option<String>, _>(column)? {
                    rec.insert(name.to_string(), v);
                }
            }
            each(rec);
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::paragraf;

    #[test]
    fn legal_bases_become_the_reports_codes() {
        assert_eq!(paragraf("SEL § 85").as_deref(), Some("SEL85"));
        assert_eq!(
            paragraf("Serviceloven § 107, stk. 1").as_deref(),
            Some("SEL107")
        );
        assert_eq!(paragraf("ABL § 105").as_deref(), Some("ABL105"));
        assert_eq!(paragraf("Barnets lov § 32"), None);
        assert_eq!(paragraf("SEL"), None);
    }
}
