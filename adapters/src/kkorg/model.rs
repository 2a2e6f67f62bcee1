//! Knudepunkt's model of KK-ORG2 through KKI (REST/JSON; the contract is not public
//! here). It assumes what an organisation register of this kind gives:
//!
//! - `GET {base}/enheder?side=N&antal=M`: `{"enheder": [Enhed], "naeste_side": N+1 | null,
//!   "cursor": "..."}` (where the changes stand);
//! - `GET {base}/medarbejdere?side=N&antal=M`: `{"medarbejdere": [Medarbejder], ...}`;
//! - `GET {base}/aendringer?siden=CURSOR`: `{"enheder": [...], "medarbejdere": [...],
//!   "cursor": "..."}`, every unit and employee changed since the cursor (a unit or an
//!   engagement that ended carries its `gyldig_til`);
//! - the API key in `X-KKI-Api-Key`; 401 without it, 400 with `{"fejl": ...}` for a bad
//!   request.
//!
//! Dates are `YYYY-MM-DD`; `gyldig_til` absent means "until further notice"
//! (bitemporal Virkning, as in STS Organisation).

use serde::{Deserialize, Serialize};

/// An org unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enhed {
    /// The unit's key (its UUID in STS Organisation, or the municipality's short key).
    pub id: String,
    pub navn: String,
    pub overordnet: Option<String>,
    /// The production unit number (P-nummer), where the unit has one.
    #[serde(default)]
    pub pnummer: Option<String>,
    #[serde(default)]
    pub adresse: Option<String>,
    /// The manager, by user id.
    #[serde(default)]
    pub leder: Option<String>,
    pub gyldig_fra: String,
    #[serde(default)]
    pub gyldig_til: Option<String>,
}

/// An employee's engagement in a unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    pub enhed: String,
    #[serde(default)]
    pub stilling: Option<String>,
    pub gyldig_fra: String,
    #[serde(default)]
    pub gyldig_til: Option<String>,
}

/// An employee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Medarbejder {
    /// The user id (brugernavn) they log in with.
    pub id: String,
    #[serde(default)]
    pub uuid: Option<String>,
    pub navn: String,
    pub engagementer: Vec<Engagement>,
    /// The colleagues they substitute for, by user id.
    #[serde(default)]
    pub stedfortraeder_for: Vec<String>,
    pub gyldig_fra: String,
    #[serde(default)]
    pub gyldig_til: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnhedSide {
    pub enheder: Vec<Enhed>,
    pub naeste_side: Option<usize>,
    /// Where the register's changes stand as the page is read: the changes after it
    /// come from `aendringer?siden=`.
    pub cursor: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MedarbejderSide {
    pub medarbejdere: Vec<Medarbejder>,
    pub naeste_side: Option<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Aendringer {
    pub enheder: Vec<Enhed>,
    pub medarbejdere: Vec<Medarbejder>,
    pub cursor: String,
}

/// The engagement in force on `day` (YYYY-MM-DD): the first that has begun and not
/// ended.
pub fn engagement_on<'a>(m: &'a Medarbejder, day: &str) -> Option<&'a Engagement> {
    m.engagementer
        .iter()
        .find(|e| e.gyldig_fra.as_str() <= day && e.gyldig_til.as_deref().is_none_or(|t| t > day))
}
