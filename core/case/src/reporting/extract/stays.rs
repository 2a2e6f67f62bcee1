//! The reports on residential stays: shelters and hostels (SEL § 110) and women's
//! crisis centres (SEL § 109), each stay (or ambulant course) active in the period.

use sqlx::Row;

use super::{RowRecord, each_row, fill};
use crate::error::CaseResult;
use crate::reporting::layout::Layout;
use crate::reporting::validate::{Period, Record};
use crate::store::CaseCore;

/// The stays under `section` active in `period`, with `columns`, in the institution's
/// order, each made a record by `record`.
async fn each_stay(
    core: &CaseCore,
    section: &str,
    columns: &str,
    period: Period,
    record: &mut RowRecord<'_>,
    each: &mut (dyn FnMut(Record) + Send),
) -> CaseResult<u64> {
    let sql = format!(
        "SELECT {columns} FROM residential_stays \
         WHERE section = $1 AND arrival <= $2 AND (departure IS NULL OR departure >= $3) \
         ORDER BY institution, arrival, id"
    );
    each_row(core, sql, section, period, record, each).await
}

impl CaseCore {
    /// Every stay at a shelter or hostel (SEL § 110) in the period: the institution,
    /// arrival, departure, and housing before and after.
    pub(super) async fn boformer_110(
        &self,
        layout: &Layout,
        period: Period,
        each: &mut (dyn FnMut(Record) + Send),
    ) -> CaseResult<u64> {
        each_stay(
            self,
            "SEL110",
            "cpr, institution, arrival, departure, housing_before, housing_after",
            period,
            &mut |r| {
                let mut rec: Record = layout.constants.clone();
                fill(
                    &mut rec,
                    r,
                    &[
                        ("CPR", "cpr"),
                        ("INSTITUTION", "institution"),
                        ("INDSKRIVNINGSDATO", "arrival"),
                        ("UDSKRIVNINGSDATO", "departure"),
                        ("BOLIG_FOER", "housing_before"),
                        ("BOLIG_EFTER", "housing_after"),
                    ],
                )?;
                Ok(rec)
            },
            each,
        )
        .await
    }

    /// Every stay or ambulant course at a women's crisis centre (SEL § 109) in the
    /// period: known by its id, so that an anonymous one (no CPR) is the same stay from
    /// one period to the next, with the children who came along.
    pub(super) async fn kvindekrisecentre_109(
        &self,
        layout: &Layout,
        period: Period,
        each: &mut (dyn FnMut(Record) + Send),
    ) -> CaseResult<u64> {
        each_stay(
            self,
            "SEL109",
            "id, cpr, institution, offer, arrival, departure, housing_before, housing_after, children",
            period,
            &mut |r| {
                let mut rec: Record = layout.constants.clone();
                fill(
                    &mut rec,
                    r,
                    &[
                        ("OPHOLD_ID", "id"),
                        ("CPR", "cpr"),
                        ("INSTITUTION", "institution"),
                        ("TILBUD", "offer"),
                        ("INDSKRIVNINGSDATO", "arrival"),
                        ("UDSKRIVNINGSDATO", "departure"),
                        ("BOLIG_FOER", "housing_before"),
                        ("BOLIG_EFTER", "housing_after"),
                    ],
                )?;
                let anonymous = !rec.contains_key("CPR");
                rec.insert("ANONYM".into(), if anonymous { "J" } else { "N" }.into());
                let children: Option<i64> = r.try_get("children")?;
                rec.insert("ANTAL_BOERN".into(), children.unwrap_or(0).to_string());
                Ok(rec)
            },
            each,
        )
        .await
    }
}
