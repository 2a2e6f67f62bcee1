//! A citizen's hospital stays as the health service reports them (MedCom): admitted
//! (XDIS20), done with treatment and to be discharged (XDIS19), discharged (XDIS17,
//! XDIS18). A report updates the citizen's latest stay at that hospital that has not
//! ended, or begins one. A discharge is told to the unit that owns each open case (a
//! notice on the case) and published as `citizen.discharged` for routes to pass on.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::cpr::Cpr;
use crate::error::CaseResult;
use crate::store::new_id;

/// What a message says about a hospital stay (fields it does not carry stay as they are).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StayReport {
    pub hospital_ean: String,
    #[serde(default)]
    pub hospital: Option<String>,
    /// `YYYY-MM-DDTHH:MM`.
    #[serde(default)]
    pub admitted_at: Option<String>,
    #[serde(default)]
    pub end_of_treatment: Option<String>,
    #[serde(default)]
    pub planned_discharge: Option<String>,
    #[serde(default)]
    pub discharged_at: Option<String>,
}

/// A hospital stay as the case shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Stay {
    pub id: String,
    pub hospital_ean: String,
    pub hospital: Option<String>,
    pub admitted_at: Option<String>,
    pub end_of_treatment: Option<String>,
    pub planned_discharge: Option<String>,
    pub discharged_at: Option<String>,
}

const COLUMNS: &str =
    "id, hospital_ean, hospital, admitted_at, end_of_treatment, planned_discharge, discharged_at";

fn from_row(r: &sqlx::any::AnyRow) -> CaseResult<Stay> {
    Ok(Stay {
        id: r.try_get("id")?,
        hospital_ean: r.try_get("hospital_ean")?,
        hospital: r.try_get("hospital")?,
        admitted_at: r.try_get("admitted_at")?,
        end_of_treatment: r.try_get("end_of_treatment")?,
        planned_discharge: r.try_get("planned_discharge")?,
        discharged_at: r.try_get("discharged_at")?,
    })
}

/// What a report did to a stay.
pub(crate) struct Applied {
    pub stay: Stay,
    /// The report ended the stay (it was open, or it begins and ends in this report).
    pub ended_now: bool,
}

/// Applies `report` to the citizen's stays; the stay as it now is. Two reports of one
/// stay may come at once (an admission is both filed and answered): at most one stay per
/// hospital is open (a unique index), and the one that loses the race updates it.
pub(crate) async fn apply(
    conn: &mut AnyConnection,
    cpr: &Cpr,
    report: &StayReport,
    now: i64,
) -> CaseResult<Applied> {
    let ends = report.discharged_at.is_some();
    let mut ended_now = false;
    let mut done = update_open(conn, cpr, report, now).await?;
    if done {
        ended_now = ends;
    } else {
        done = update_ended(conn, cpr, report, now).await?;
    }
    if !done {
        let inserted = sqlx::query(
            "INSERT INTO hospital_stays (id, cpr, hospital_ean, hospital, admitted_at, end_of_treatment, \
             planned_discharge, discharged_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (cpr, hospital_ean) WHERE discharged_at IS NULL DO NOTHING",
        )
        .bind(new_id())
        .bind(cpr.expose())
        .bind(&report.hospital_ean)
        .bind(&report.hospital)
        .bind(&report.admitted_at)
        .bind(&report.end_of_treatment)
        .bind(&report.planned_discharge)
        .bind(&report.discharged_at)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        done = inserted == 1 || update_open(conn, cpr, report, now).await?;
        ended_now = done && ends;
    }
    if !done {
        return Err(crate::error::CaseError::invalid(
            "hospital_stay",
            "the stay could neither be updated nor begun",
        ));
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM hospital_stays WHERE cpr = $1 AND hospital_ean = $2 \
         ORDER BY updated_at DESC, created_at DESC"
    )))
    .bind(cpr.expose())
    .bind(&report.hospital_ean)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Applied {
        stay: from_row(&row)?,
        ended_now,
    })
}

/// A report about a stay that has ended (a discharge report after the discharge notice)
/// updates that stay: the one at the hospital admitted or discharged at the same time.
async fn update_ended(
    conn: &mut AnyConnection,
    cpr: &Cpr,
    report: &StayReport,
    now: i64,
) -> CaseResult<bool> {
    if report.admitted_at.is_none() && report.discharged_at.is_none() {
        return Ok(false);
    }
    Ok(sqlx::query(
        "UPDATE hospital_stays SET hospital = COALESCE($1, hospital), admitted_at = COALESCE(admitted_at, $2), \
         end_of_treatment = COALESCE(end_of_treatment, $3), planned_discharge = COALESCE(planned_discharge, $4), \
         updated_at = $5 \
         WHERE cpr = $6 AND hospital_ean = $7 AND discharged_at IS NOT NULL \
         AND (discharged_at = $8 OR admitted_at = $2)",
    )
    .bind(&report.hospital)
    .bind(&report.admitted_at)
    .bind(&report.end_of_treatment)
    .bind(&report.planned_discharge)
    .bind(now)
    .bind(cpr.expose())
    .bind(&report.hospital_ean)
    .bind(&report.discharged_at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// Updates the open stay at the report's hospital, if there is one.
async fn update_open(
    conn: &mut AnyConnection,
    cpr: &Cpr,
    report: &StayReport,
    now: i64,
) -> CaseResult<bool> {
    Ok(sqlx::query(
        "UPDATE hospital_stays SET hospital = COALESCE($1, hospital), admitted_at = COALESCE($2, admitted_at), \
         end_of_treatment = COALESCE($3, end_of_treatment), planned_discharge = COALESCE($4, planned_discharge), \
         discharged_at = COALESCE($5, discharged_at), updated_at = $6 \
         WHERE cpr = $7 AND hospital_ean = $8 AND discharged_at IS NULL",
    )
    .bind(&report.hospital)
    .bind(&report.admitted_at)
    .bind(&report.end_of_treatment)
    .bind(&report.planned_discharge)
    .bind(&report.discharged_at)
    .bind(now)
    .bind(cpr.expose())
    .bind(&report.hospital_ean)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

/// The citizen's stays, latest first.
pub(crate) async fn of_citizen(conn: &mut AnyConnection, cpr: &Cpr) -> CaseResult<Vec<Stay>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM hospital_stays WHERE cpr = $1 ORDER BY created_at DESC"
    )))
    .bind(cpr.expose())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}
