//! Occupancy per institution (B3.241): for a period, each shelter, hostel or crisis
//! centre's stays, the citizens among them, the nights spent there within the period
//! (belægningsdøgn), the average beds occupied (the nights over the period's days), and
//! how many were staying on its last day. Counted from the residential stays as they
//! stream from the store; no citizen is named.

use chrono::NaiveDate;
use futures::TryStreamExt as _;
use serde::Serialize;
use sqlx::Row;

use crate::error::{CaseError, CaseResult};
use crate::reporting::Period;
use crate::residential::SECTIONS;
use crate::store::CaseCore;

#[derive(Clone, Debug, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Occupancy {
    pub institution: String,
    /// Stays active in the period.
    pub stays: u64,
    /// The citizens among them known by CPR (anonymous stays are not among them).
    pub citizens: u64,
    /// Anonymous stays (crisis centres).
    pub anonymous: u64,
    /// Nights spent at the institution within the period.
    pub nights: u64,
    /// Beds occupied on average: the nights over the period's days, to two decimals.
    pub average_occupied: f64,
    /// Stays still running on the period's last day.
    pub at_end: u64,
}

/// The nights of a stay from `arrival` until `departure` (not yet: still there) that
/// fall within `period`.
pub fn nights_within(arrival: NaiveDate, departure: Option<NaiveDate>, period: Period) -> u64 {
    let from = arrival.max(period.first);
    let after_last = period.last.succ_opt().unwrap_or(period.last);
    let until = departure.map_or(after_last, |d| d.min(after_last));
    (until - from).num_days().max(0) as u64
}

impl CaseCore {
    /// Occupancy per institution of the stays under `section` (`SEL110`, `SEL109`)
    /// active in `period`, by institution.
    pub async fn occupancy(&self, section: &str, period: Period) -> CaseResult<Vec<Occupancy>> {
        if !SECTIONS.contains(&section) {
            return Err(CaseError::invalid("section", "SEL110 or SEL109"));
        }
        let date = |field: &str, t: &str| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| CaseError::Corrupt {
                what: format!("a residential stay's {field}"),
                detail: format!("{t:?} is no date"),
            })
        };
        let days = (period.last - period.first).num_days() + 1;
        let mut conn = self.journal().reader().acquire().await?;
        let mut rows = sqlx::query(
            "SELECT institution, cpr, arrival, departure FROM residential_stays \
             WHERE section = $1 AND offer = 'OPHOLD' AND arrival <= $2 AND (departure IS NULL OR departure >= $3) \
             ORDER BY institution, cpr",
        )
        .bind(section)
        .bind(period.last.to_string())
        .bind(period.first.to_string())
        .fetch(&mut *conn);
        let mut out: Vec<Occupancy> = Vec::new();
        let mut last_cpr: Option<String> = None;
        while let Some(r) = rows.try_next().await? {
            let institution: String = r.try_get("institution")?;
            let cpr: Option<String> = r.try_get("cpr")?;
            let arrival = date("arrival", &r.try_get::<String, _>("arrival")?)?;
            let departure = r
                .try_get::<Option<String>, _>("departure")?
                .map(|d| date("departure", &d))
                .transpose()?;
            if out.last().is_none_or(|o| o.institution != institution) {
                out.push(Occupancy {
                    institution: institution.clone(),
                    ..Default::default()
                });
                last_cpr = None;
            }
            let o = out.last_mut().expect("pushed");
            o.stays += 1;
            match &cpr {
                None => o.anonymous += 1,
                Some(c) if last_cpr.as_ref() != Some(c) => o.citizens += 1,
                Some(_) => {}
            }
            if cpr.is_some() {
                last_cpr = cpr;
            }
            o.nights += nights_within(arrival, departure, period);
            if departure.is_none_or(|d| d > period.last) {
                o.at_end += 1;
            }
        }
        for o in &mut out {
            o.average_occupied = (o.nights as f64 / days as f64 * 100.0).round() / 100.0;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(t: &str) -> NaiveDate {
        NaiveDate::parse_from_str(t, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn only_the_nights_within_the_period_count() {
        let october = Period::month("2026-10").unwrap();
        // Within: arrival to departure.
        assert_eq!(
            nights_within(d("2026-10-02"), Some(d("2026-10-15")), october),
            13
        );
        // From before the period, still there: every night of October.
        assert_eq!(nights_within(d("2026-09-20"), None, october), 31);
        // Into November: until the end of October.
        assert_eq!(
            nights_within(d("2026-10-30"), Some(d("2026-11-03")), october),
            2
        );
        // Left the day it came.
        assert_eq!(
            nights_within(d("2026-10-05"), Some(d("2026-10-05")), october),
            0
        );
        // Left on the first of the month: the night before is September's.
        assert_eq!(
            nights_within(d("2026-09-01"), Some(d("2026-10-01")), october),
            0
        );
    }
}
