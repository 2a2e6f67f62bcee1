//! Knudepunkt's model of DUBU's handover export (no public contract exists; this is the
//! contract the client and the sandbox keep, documented in `mappings/dubu/README.md`).
//! JSON in camelCase; dates YYYY-MM-DD.

use serde::{Deserialize, Serialize};

/// A young person in DUBU who turns 18 (`GET /overdragelser?fylder18Inden=`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Overdragelse {
    pub overdragelse_id: String,
    pub cpr: String,
    pub fornavn: String,
    pub efternavn: String,
    pub foedselsdato: String,
    /// The 18th birthday.
    pub fylder18: String,
    /// Whether DUBU has a package ready.
    pub pakke_klar: bool,
}

/// The package's first part: what the package holds.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    pub pakke_id: String,
    pub overdragelse_id: String,
    pub cpr: String,
    /// When DUBU made the package, RFC 3339.
    pub dannet: String,
    pub dele: Vec<Del>,
}

/// One part of a package.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Del {
    /// The part's path in the archive.
    pub navn: String,
    /// `stamdata`, `plan`, `ydelser`, `boernefaglig_undersoegelse`, `dokument`.
    #[serde(rename = "type")]
    pub del_type: String,
    pub mediatype: String,
    pub stoerrelse: u64,
    /// Hex SHA-256.
    pub sha256: String,
    /// A document's title.
    #[serde(default)]
    pub titel: Option<String>,
    /// A document's type in DUBU (Handleplan, Børnefaglig undersøgelse, Statusudtalelse, ...).
    #[serde(default)]
    pub dokumenttype: Option<String>,
}

/// `stamdata.json`: the young person's master data and contacts.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Stamdata {
    pub cpr: String,
    pub fornavn: String,
    pub efternavn: String,
    #[serde(default)]
    pub adresse: Option<String>,
    #[serde(default)]
    pub kontakter: Vec<Kontakt>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kontakt {
    /// `Mor`, `Far`, `Værge`, `Plejefamilie`, `Sagsbehandler (børn og unge)`, ...
    pub rolle: String,
    pub navn: String,
    #[serde(default)]
    pub telefon: Option<String>,
    #[serde(default)]
    pub cpr: Option<String>,
}

/// `handleplan.json`: the current plan (Handleplan, or Borgerens Plan).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Handleplan {
    pub titel: String,
    /// `Handleplan` or `Borgerens Plan`.
    pub plantype: String,
    pub dato: String,
    pub maal: Vec<Maal>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Maal {
    pub tekst: String,
    #[serde(default)]
    pub delmaal: Vec<Maal>,
}

/// `ydelser.json`: the services the young person receives now, with their legal basis.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ydelser {
    pub ydelser: Vec<Ydelse>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ydelse {
    pub navn: String,
    /// E.g. `SEL § 52, stk. 3, nr. 7` or `Barnets Lov § 32`.
    pub lovgrundlag: String,
    pub fra: String,
    #[serde(default)]
    pub til: Option<String>,
    #[serde(default)]
    pub leverandoer: Option<String>,
}

/// What DUBU is told about a package (`POST /overdragelser/{id}/kvittering`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kvittering {
    /// The package's id, when its manifest could be read.
    #[serde(default)]
    pub pakke_id: Option<String>,
    /// `modtaget` or `afvist`.
    pub status: String,
    #[serde(default)]
    pub begrundelse: Option<String>,
    /// The adult case it became.
    #[serde(default)]
    pub voksensag_id: Option<String>,
}

/// The part types.
pub const STAMDATA: &str = "stamdata";
pub const PLAN: &str = "plan";
pub const YDELSER: &str = "ydelser";
pub const UNDERSOEGELSE: &str = "boernefaglig_undersoegelse";
pub const DOKUMENT: &str = "dokument";
