//! Treatment courses for substance use that the national registers count: drug
//! treatment under SEL § 101 (Stofmisbrugsdatabasen, SMDB) and alcohol treatment under
//! SUL § 141 (Nationalt Alkoholbehandlingsregister, NAB, reported through SEI2). A course
//! has the day the citizen asked for help (referral), the day treatment was offered and
//! the day it started (these give the waiting time), its form, and its end with the
//! reason; the codes are [`FORMS`], [`SUBSTANCES`] and [`END_REASONS`].

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::audit::{self, AuditAction};
use crate::cpr::Cpr;
use crate::error::{CaseError, CaseResult};
use crate::store::{CaseCore, Ctx, new_id, now_ms, required};

/// The registers a course is counted in.
pub const REGISTERS: [&str; 2] = ["SMDB", "NAB"];

/// Treatment forms (behandlingsform).
pub const FORMS: [(&str, &str); 3] = [
    ("AMBULANT", "ambulant behandling"),
    ("DAG", "dagbehandling"),
    ("DOEGN", "døgnbehandling"),
];

/// The main substance of a drug treatment (hovedstof).
pub const SUBSTANCES: [(&str, &str); 8] = [
    ("HEROIN", "heroin"),
    ("OPIOIDER", "andre opioider"),
    ("KOKAIN", "kokain"),
    ("AMFETAMIN", "amfetamin"),
    ("CANNABIS", "hash og cannabis"),
    ("BENZODIAZEPINER", "benzodiazepiner"),
    ("ANDET", "andet stof"),
    ("ALKOHOL", "alkohol"),
];

/// Why a course ended (afslutningsårsag).
pub const END_REASONS: [(&str, &str); 8] = [
    ("FAERDIG_OPHOERT", "færdigbehandlet, forbruget ophørt"),
    ("FAERDIG_REDUCERET", "færdigbehandlet, forbruget reduceret"),
    ("UDEBLEVET", "udeblevet eller afbrudt af borgeren"),
    ("OVERFOERT", "overført til anden behandling"),
    ("FAENGSEL", "indsat i Kriminalforsorgen"),
    ("FRAFLYTTET", "fraflyttet kommunen"),
    ("DOED", "død"),
    ("ANDET", "anden årsag"),
];

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTreatment {
    /// `SMDB` (drugs, SEL § 101) or `NAB` (alcohol, SUL § 141).
    pub register: String,
    pub cpr: String,
    /// The treatment place (behandlingssted).
    pub provider: String,
    /// The day the citizen asked for treatment, YYYY-MM-DD.
    pub referred: String,
    #[serde(default)]
    pub offered: Option<String>,
    #[serde(default)]
    pub started: Option<String>,
    /// `AMBULANT`, `DAG` or `DOEGN`.
    pub form: String,
    /// The main substance (SMDB); alcohol for NAB.
    #[serde(default)]
    pub substance: Option<String>,
    /// Units of alcohol a week when treatment began (NAB).
    #[serde(default)]
    pub units_per_week: Option<i64>,
}

/// What happened next in a course, or a correction: each given field is set.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TreatmentChange {
    #[serde(default)]
    pub substance: Option<String>,
    #[serde(default)]
    pub units_per_week: Option<i64>,
    #[serde(default)]
    pub offered: Option<String>,
    #[serde(default)]
    pub started: Option<String>,
    #[serde(default)]
    pub ended: Option<String>,
    #[serde(default)]
    pub end_reason: Option<String>,
    /// The day the course was found registered in error; the register is told to
    /// forget it (NAB's SchemaCancel).
    #[serde(default)]
    pub withdrawn: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Treatment {
    pub id: String,
    pub register: String,
    pub cpr: String,
    pub provider: String,
    pub referred: String,
    pub offered: Option<String>,
    pub started: Option<String>,
    pub form: String,
    pub substance: Option<String>,
    pub units_per_week: Option<i64>,
    pub ended: Option<String>,
    pub end_reason: Option<String>,
    pub withdrawn: Option<String>,
}

fn date(field: &str, text: &str) -> CaseResult<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| CaseError::invalid(field, "a date, YYYY-MM-DD"))
}

fn code(field: &str, value: Option<&str>, codes: &[(&str, &str)]) -> CaseResult<()> {
    match value {
        Some(v) if !codes.iter().any(|(k, _)| *k == v) => Err(CaseError::invalid(
            field,
            format!(
                "one of {}",
                codes.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

impl Treatment {
    /// The course's dates in order (referred, offered, started, ended), and an ended
    /// course has its reason.
    fn check(&self) -> CaseResult<()> {
        let mut last = ("referred", date("referred", &self.referred)?);
        for (field, value) in [
            ("offered", &self.offered),
            ("started", &self.started),
            ("ended", &self.ended),
        ] {
            if let Some(v) = value {
                let d = date(field, v)?;
                if d < last.1 {
                    return Err(CaseError::invalid(field, format!("before {}", last.0)));
                }
                last = (field, d);
            }
        }
        code("end_reason", self.end_reason.as_deref(), &END_REASONS)?;
        if let Some(w) = &self.withdrawn {
            date("withdrawn", w)?;
        }
        match (&self.ended, &self.end_reason) {
            (Some(_), None) => Err(CaseError::invalid(
                "end_reason",
                "an ended course gives its reason",
            )),
            (None, Some(_)) => Err(CaseError::invalid("ended", "a reason needs its end date")),
            _ => Ok(()),
        }
    }
}

impl CaseCore {
    /// Registers a course for a citizen the core knows.
    pub async fn register_treatment(
        &self,
        ctx: &Ctx<'_>,
        new: &NewTreatment,
    ) -> CaseResult<Treatment> {
        if !REGISTERS.contains(&new.register.as_str()) {
            return Err(CaseError::invalid("register", "SMDB or NAB"));
        }
        required("provider", &new.provider)?;
        code("form", Some(&new.form), &FORMS)?;
        code("substance", new.substance.as_deref(), &SUBSTANCES)?;
        if new.units_per_week.is_some_and(|u| u < 0) {
            return Err(CaseError::invalid(
                "units_per_week",
                "not a number of units",
            ));
        }
        let cpr = Cpr::parse(&new.cpr).map_err(|e| CaseError::invalid("cpr", e.to_string()))?;
        let t = Treatment {
            id: new_id(),
            register: new.register.clone(),
            cpr: cpr.expose().to_string(),
            provider: new.provider.trim().to_string(),
            referred: new.referred.clone(),
            offered: new.offered.clone(),
            started: new.started.clone(),
            form: new.form.clone(),
            substance: new
                .substance
                .clone()
                .or_else(|| (new.register == "NAB").then(|| "ALKOHOL".to_string())),
            units_per_week: new.units_per_week,
            ended: None,
            end_reason: None,
            withdrawn: None,
        };
        t.check()?;
        let mut tx = self.begin().await?;
        if crate::citizens::load(&mut tx, &cpr).await?.is_none() {
            return Err(CaseError::not_found("citizen", cpr.to_string()));
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO treatments (id, register, cpr, provider, referred, offered, started, form, substance, units_per_week, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(&t.id)
        .bind(&t.register)
        .bind(&t.cpr)
        .bind(&t.provider)
        .bind(&t.referred)
        .bind(t.offered.as_deref())
        .bind(t.started.as_deref())
        .bind(&t.form)
        .bind(t.substance.as_deref())
        .bind(t.units_per_week)
        .bind(&ctx.actor.user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("treatment/{}", t.id),
            cpr.expose(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Records what happened next in course `id`: offered, started, ended with a reason.
    pub async fn change_treatment(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        change: &TreatmentChange,
    ) -> CaseResult<Treatment> {
        let mut tx = self.begin().await?;
        let mut t = load(&mut tx, id).await?;
        if change.substance.is_some() {
            code("substance", change.substance.as_deref(), &SUBSTANCES)?;
            t.substance.clone_from(&change.substance);
        }
        if let Some(u) = change.units_per_week {
            if u < 0 {
                return Err(CaseError::invalid(
                    "units_per_week",
                    "not a number of units",
                ));
            }
            t.units_per_week = Some(u);
        }
        for (slot, value) in [
            (&mut t.offered, &change.offered),
            (&mut t.started, &change.started),
            (&mut t.ended, &change.ended),
            (&mut t.end_reason, &change.end_reason),
            (&mut t.withdrawn, &change.withdrawn),
        ] {
            if value.is_some() {
                slot.clone_from(value);
            }
        }
        t.check()?;
        let now = now_ms();
        sqlx::query(
            "UPDATE treatments SET offered = $1, started = $2, ended = $3, end_reason = $4, withdrawn = $5, substance = $6, units_per_week = $7, updated_at = $8 WHERE id = $9",
        )
        .bind(t.offered.as_deref())
        .bind(t.started.as_deref())
        .bind(t.ended.as_deref())
        .bind(t.end_reason.as_deref())
        .bind(t.withdrawn.as_deref())
        .bind(t.substance.as_deref())
        .bind(t.units_per_week)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("treatment/{id}"),
            &t.cpr,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }
}

async fn load(conn: &mut AnyConnection, id: &str) -> CaseResult<Treatment> {
    let r = sqlx::query(
        "SELECT id, register, cpr, provider, referred, offered, started, form, substance, units_per_week, ended, end_reason, withdrawn \
         FROM treatments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| CaseError::not_found("treatment", id))?;
    Ok(Treatment {
        id: r.try_get("id")?,
        register: r.try_get("register")?,
        cpr: r.try_get("cpr")?,
        provider: r.try_get("provider")?,
        referred: r.try_get("referred")?,
        offered: r.try_get("offered")?,
        started: r.try_get("started")?,
        form: r.try_get("form")?,
        substance: r.try_get("substance")?,
        units_per_week: r.try_get("units_per_week")?,
        ended: r.try_get("ended")?,
        end_reason: r.try_get("end_reason")?,
        withdrawn: r.try_get("withdrawn")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn course() -> Treatment {
        Treatment {
            id: "t".into(),
            register: "SMDB".into(),
            cpr: "0101901234".into(),
            provider: "Rusmiddelcenter".into(),
            referred: "2026-10-01".into(),
            offered: Some("2026-10-05".into()),
            started: Some("2026-10-12".into()),
            form: "AMBULANT".into(),
            substance: Some("KOKAIN".into()),
            units_per_week: None,
            ended: None,
            end_reason: None,
            withdrawn: None,
        }
    }

    fn field(e: CaseError) -> String {
        match e {
            CaseError::Invalid { field, .. } => field,
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn a_courses_dates_keep_their_order_and_an_end_its_reason() {
        assert!(course().check().is_ok());
        let mut early = course();
        early.started = Some("2026-10-02".into());
        assert_eq!(field(early.check().unwrap_err()), "started");
        let mut ended = course();
        ended.ended = Some("2026-11-01".into());
        assert_eq!(field(ended.check().unwrap_err()), "end_reason");
        ended.end_reason = Some("SLUT".into());
        assert_eq!(field(ended.check().unwrap_err()), "end_reason");
        ended.end_reason = Some("FAERDIG_OPHOERT".into());
        assert!(ended.check().is_ok());
        let mut reason_only = course();
        reason_only.end_reason = Some("DOED".into());
        assert_eq!(field(reason_only.check().unwrap_err()), "ended");
        let mut bad = course();
        bad.referred = "1. oktober".into();
        assert_eq!(field(bad.check().unwrap_err()), "referred");
    }
}
