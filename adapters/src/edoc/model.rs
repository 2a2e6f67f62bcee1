//! Knudepunkt's model of KKI's eDoc API, version 1 (no public contract exists; this is
//! the contract the adapter and the sandbox keep, documented in
//! `mappings/edoc/README.md`). Names follow OIO Sag & Dokument: a Sag has Parter, an
//! ansvarlig enhed and a sagsbehandler, a KLE emne and handlingsfacet; Dokumenter,
//! Notater and Frister hang under it. Cases and documents are addressed by the calling
//! system's own ids (KKI maps them to eDoc's), so that a change can be sent before the
//! caller has heard eDoc's case number. JSON in camelCase; times RFC 3339, dates
//! YYYY-MM-DD.

use serde::{Deserialize, Serialize};

/// One call to the API: what a route's template renders and the `kki` adapter makes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Kald {
    /// PUT, PATCH or POST.
    pub metode: String,
    /// Under the API's base, from `/`: `/sager/{sagId}`, ...
    pub sti: String,
    pub krop: serde_json::Value,
}

/// `PUT /sager/{sagId}`: the case, created once (the same id again changes nothing).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sag {
    pub titel: String,
    /// The KLE emne, NN.NN.NN.
    pub kle: String,
    pub handlingsfacet: String,
    pub sagstype: String,
    pub fortrolig: bool,
    pub status: String,
    pub parter: Vec<Part>,
    /// The owning unit's id.
    pub ansvarlig_enhed: String,
    /// The caseworker's user id.
    pub sagsbehandler: String,
    pub oprettet: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Part {
    /// `Primær part`, ...
    pub rolle: String,
    pub cpr: String,
}

/// The answer to `PUT /sager/{sagId}`: eDoc's case number and who it made responsible.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SagSvar {
    pub sag_id: String,
    pub esdh_sagsnummer: String,
    pub ansvarlig: Bruger,
}

/// An eDoc user.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bruger {
    pub bruger_id: String,
    pub navn: String,
}

/// `PATCH /sager/{sagId}`: what changed, and when it changed in the calling system.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SagAendring {
    pub tidspunkt: String,
    #[serde(default)]
    pub titel: Option<String>,
    #[serde(default)]
    pub sagsbehandler: Option<String>,
    #[serde(default)]
    pub fortrolig: Option<bool>,
    /// `Lukket` closes the case.
    #[serde(default)]
    pub status: Option<String>,
    /// A note that goes with a status change.
    #[serde(default)]
    pub notat: Option<String>,
}

/// `PUT /sager/{sagId}/dokumenter/{dokumentId}`: a document with its file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dokument {
    pub titel: String,
    pub dokumenttype: String,
    pub mediatype: String,
    pub journaldato: String,
    pub fortrolig: bool,
    /// The file, base64.
    pub indhold: String,
    /// Hex SHA-256 of the file; eDoc refuses a file that does not match it.
    pub sha256: String,
    pub stoerrelse: u64,
}

/// `PATCH /sager/{sagId}/dokumenter/{dokumentId}`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DokumentAendring {
    pub tidspunkt: String,
    #[serde(default)]
    pub titel: Option<String>,
    #[serde(default)]
    pub fortrolig: Option<bool>,
}

/// `PUT /sager/{sagId}/noter/{notatId}`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Notat {
    pub tekst: String,
    pub forfatter: String,
    pub tidspunkt: String,
}

/// `PUT /sager/{sagId}/frister/{fristId}`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Frist {
    /// `Klagefrist`, `Opfølgning`, ...
    #[serde(rename = "type")]
    pub frist_type: String,
    /// YYYY-MM-DD.
    pub dato: String,
    pub tekst: String,
}

/// What KKI pushes when something happens on eDoc's side (`POST` to the subscriber's
/// URL, one event a call; the same `haendelseId` may come twice).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Haendelse {
    pub haendelse_id: String,
    /// `DokumentUdtjekket`, `DokumentIndtjekket`, `DokumentAendret`, `SagAfsluttet`.
    #[serde(rename = "type")]
    pub haendelse_type: String,
    pub tidspunkt: String,
    /// The calling system's case id.
    pub sag_id: String,
    pub esdh_sagsnummer: String,
    #[serde(default)]
    pub dokument_id: Option<String>,
    pub bruger: Bruger,
    /// The new version, for `DokumentAendret`.
    #[serde(default)]
    pub dokument: Option<DokumentVersion>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DokumentVersion {
    pub version: u64,
    pub titel: String,
    pub mediatype: String,
    /// Base64.
    pub indhold: String,
    pub sha256: String,
}

/// The event types.
pub const UDTJEKKET: &str = "DokumentUdtjekket";
pub const INDTJEKKET: &str = "DokumentIndtjekket";
pub const AENDRET: &str = "DokumentAendret";
pub const AFSLUTTET: &str = "SagAfsluttet";
