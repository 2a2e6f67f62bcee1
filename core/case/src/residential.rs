//! Stays at residential offers the statutory reports count: shelters and hostels
//! (boformer, SEL § 110) and women's crisis centres (kvindekrisecentre, SEL § 109). A
//! stay has its institution, arrival and departure, and where the citizen lived before
//! and after (the codes in [`HOUSING`]); a crisis-centre stay may be anonymous (no CPR)
//! and counts the children who came along. A crisis centre's ambulant offer (counselling
//! without a stay) is kept the same way, as offer `AMBULANT`.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::audit::{self, AuditAction};
use crate::cpr::Cpr;
use crate::error::{CaseError, CaseResult};
use crate::store::{CaseCore, Ctx, new_id, now_ms, required};

/// The sections a stay is under.
pub const SECTIONS: [&str; 2] = ["SEL110", "SEL109"];

/// What a crisis centre offered: a stay, or ambulant counselling without one.
pub const OFFERS: [&str; 2] = ["OPHOLD", "AMBULANT"];

/// Where a citizen lived, before and after a stay.
pub const HOUSING: [(&str, &str); 7] = [
    ("EGEN", "egen bolig"),
    ("FAMILIE", "hos familie eller venner"),
    ("HJEMLOES", "uden fast bopæl"),
    ("INSTITUTION", "anden boform eller institution"),
    ("FAENGSEL", "Kriminalforsorgen"),
    ("HOSPITAL", "hospital"),
    ("UKENDT", "ukendt"),
];

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResidentialStay {
    /// `SEL110` (shelter, hostel) or `SEL109` (women's crisis centre).
    pub section: String,
    /// The institution, as the municipality names it.
    pub institution: String,
    /// The citizen; absent for an anonymous crisis-centre stay.
    #[serde(default)]
    pub cpr: Option<String>,
    /// YYYY-MM-DD.
    pub arrival: String,
    #[serde(default)]
    pub departure: Option<String>,
    #[serde(default)]
    pub housing_before: Option<String>,
    #[serde(default)]
    pub housing_after: Option<String>,
    /// Children who came along (crisis centres).
    #[serde(default)]
    pub children: Option<i64>,
    /// `OPHOLD` (the default) or, at a crisis centre, `AMBULANT`.
    #[serde(default)]
    pub offer: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ResidentialStay {
    pub id: String,
    pub section: String,
    pub institution: String,
    pub cpr: Option<String>,
    pub arrival: String,
    pub departure: Option<String>,
    pub housing_before: Option<String>,
    pub housing_after: Option<String>,
    pub children: Option<i64>,
    pub offer: String,
    pub created_by: String,
    pub created_at: i64,
}

fn date(field: &str, text: &str) -> CaseResult<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| CaseError::invalid(field, "a date, YYYY-MM-DD"))
}

fn housing(field: &str, code: &Option<String>) -> CaseResult<()> {
    match code {
        Some(c) if !HOUSING.iter().any(|(k, _)| k == c) => Err(CaseError::invalid(
            field,
            format!(
                "one of {}",
                HOUSING
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

impl CaseCore {
    /// Registers a stay; a citizen's must be a citizen the core knows.
    pub async fn register_residential_stay(
        &self,
        ctx: &Ctx<'_>,
        new: &NewResidentialStay,
    ) -> CaseResult<ResidentialStay> {
        if !SECTIONS.contains(&new.section.as_str()) {
            return Err(CaseError::invalid("section", "SEL110 or SEL109"));
        }
        required("institution", &new.institution)?;
        let arrival = date("arrival", &new.arrival)?;
        if let Some(d) = &new.departure
            && date("departure", d)? < arrival
        {
            return Err(CaseError::invalid("departure", "before the arrival"));
        }
        housing("housing_before", &new.housing_before)?;
        housing("housing_after", &new.housing_after)?;
        let offer = new.offer.clone().unwrap_or_else(|| OFFERS[0].to_string());
        if !OFFERS.contains(&offer.as_str()) {
            return Err(CaseError::invalid("offer", "OPHOLD or AMBULANT"));
        }
        if offer == "AMBULANT" && new.section != "SEL109" {
            return Err(CaseError::invalid(
                "offer",
                "only a crisis centre (SEL109) has ambulant offers",
            ));
        }
        if new.children.is_some_and(|c| c < 0) {
            return Err(CaseError::invalid("children", "not a number of children"));
        }
        let cpr = match &new.cpr {
            Some(text) => {
                Some(Cpr::parse(text).map_err(|e| CaseError::invalid("cpr", e.to_string()))?)
            }
            None if new.section == "SEL109" => None,
            None => {
                return Err(CaseError::invalid(
                    "cpr",
                    "only a crisis-centre stay (SEL109) may be anonymous",
                ));
            }
        };
        let mut tx = self.begin().await?;
        if let Some(c) = &cpr
            && crate::citizens::load(&mut tx, c).await?.is_none()
        {
            return Err(CaseError::not_found("citizen", c.to_string()));
        }
        let stay = ResidentialStay {
            id: new_id(),
            section: new.section.clone(),
            institution: new.institution.trim().to_string(),
            cpr: cpr.as_ref().map(|c| c.expose().to_string()),
            arrival: new.arrival.clone(),
            departure: new.departure.clone(),
            housing_before: new.housing_before.clone(),
            housing_after: new.housing_after.clone(),
            children: new.children,
            offer,
            created_by: ctx.actor.user_id.clone(),
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO residential_stays (id, section, institution, cpr, arrival, departure, housing_before, housing_after, children, offer, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(&stay.id)
        .bind(&stay.section)
        .bind(&stay.institution)
        .bind(stay.cpr.as_deref())
        .bind(&stay.arrival)
        .bind(stay.departure.as_deref())
        .bind(stay.housing_before.as_deref())
        .bind(stay.housing_after.as_deref())
        .bind(stay.children)
        .bind(&stay.offer)
        .bind(&stay.created_by)
        .bind(stay.created_at)
        .execute(&mut *tx)
        .await?;
        if let Some(c) = &cpr {
            audit::allowed(
                &mut tx,
                ctx,
                AuditAction::Write,
                format!("residential-stay/{}", stay.id),
                c.expose(),
                stay.created_at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(stay)
    }

    /// Ends a stay on `departure`, with where the citizen went.
    pub async fn end_residential_stay(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        departure: &str,
        housing_after: Option<&str>,
    ) -> CaseResult<()> {
        let left = date("departure", departure)?;
        housing("housing_after", &housing_after.map(str::to_string))?;
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT arrival, cpr FROM residential_stays WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| CaseError::not_found("residential stay", id))?;
        let arrival: String = row.try_get("arrival")?;
        if left < date("arrival", &arrival)? {
            return Err(CaseError::invalid("departure", "before the arrival"));
        }
        let now = now_ms();
        sqlx::query(
            "UPDATE residential_stays SET departure = $1, housing_after = COALESCE($2, housing_after), updated_at = $3 WHERE id = $4",
        )
        .bind(departure)
        .bind(housing_after)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if let Some(cpr) = row.try_get::<Option<String>, _>("cpr")? {
            audit::allowed(
                &mut tx,
                ctx,
                AuditAction::Write,
                format!("residential-stay/{id}"),
                &cpr,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
