//! Extracts: a report's records for a period, from the case core's data, under the
//! layout's variable names (and its constants). Each report has its own, found by the
//! report's id: the grants' ([`grants`]), the residential stays' ([`stays`]) and the
//! treatment courses' ([`treatments`]). Each streams its rows from the store.

mod grants;
mod stays;
mod treatments;

use sqlx::Row;

use super::layout::Layout;
use super::validate::{Period, Record};
use crate::error::{CaseError, CaseResult};
use crate::store::CaseCore;

/// The reports this build can extract.
pub const REPORTS: &[&str] = &[
    SERVICEINDIKATORER_VOKSNE,
    BOFORMER_110,
    KVINDEKRISECENTRE_109,
    SMDB,
    NAB,
];
pub const SERVICEINDIKATORER_VOKSNE: &str = "serviceindikatorer-voksne";
pub const BOFORMER_110: &str = "boformer-110";
pub const KVINDEKRISECENTRE_109: &str = "kvindekrisecentre-109";
pub const SMDB: &str = "smdb";
pub const NAB: &str = "nab";

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
            KVINDEKRISECENTRE_109 => self.kvindekrisecentre_109(layout, period, each).await,
            SMDB => self.smdb(layout, period, each).await,
            NAB => self.nab(layout, period, each).await,
            other => Err(CaseError::invalid(
                "report",
                format!(
                    "no extract for report {other:?} (this build has {})",
                    REPORTS.join(", ")
                ),
            )),
        }
    }
}

/// Makes a record of one row.
type RowRecord<'a> = dyn FnMut(&sqlx::any::AnyRow) -> CaseResult<Record> + Send + 'a;

/// Streams the rows `sql` selects, its `$1` bound to `key` and `$2`, `$3` to the
/// period's last and first day, through `record` to `each`; how many there were.
async fn each_row(
    core: &CaseCore,
    sql: String,
    key: &str,
    period: Period,
    record: &mut RowRecord<'_>,
    each: &mut (dyn FnMut(Record) + Send),
) -> CaseResult<u64> {
    use futures::TryStreamExt as _;
    let mut conn = core.journal().reader().acquire().await?;
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .bind(period.last.to_string())
        .bind(period.first.to_string())
        .fetch(&mut *conn);
    let mut n = 0;
    while let Some(r) = rows.try_next().await? {
        each(record(&r)?);
        n += 1;
    }
    Ok(n)
}

/// Copies the row's `(variable, column)` pairs that have a value into `rec`.
fn fill(rec: &mut Record, row: &sqlx::any::AnyRow, pairs: &[(&str, &str)]) -> CaseResult<()> {
    for (name, column) in pairs {
        if let Some(v) = row.try_get::<Option<String>, _>(*column)? {
            rec.insert((*name).to_string(), v);
        }
    }
    Ok(())
}

/// The days from `from` to `to` (both YYYY-MM-DD), when both read.
fn days_between(from: &str, to: &str) -> Option<i64> {
    let d = |t: &str| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok();
    Some((d(to)? - d(from)?).num_days())
}

#[cfg(test)]
mod tests {
    use super::{days_between, paragraf};

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

    #[test]
    fn the_waiting_time_is_counted_in_days() {
        assert_eq!(days_between("2026-10-01", "2026-10-15"), Some(14));
        assert_eq!(days_between("2026-12-20", "2027-01-03"), Some(14));
        assert_eq!(days_between("2026-10-01", "snart"), None);
    }
}
