//! The API's shapes, per version. v1 answers as it always has; v2 splits the citizen's
//! name into its parts and gives the case's status as an object with RFC 3339 times.

use chrono::TimeZone;
use serde::{Deserialize, Serialize};

use crate::cases::{CaseStatus, CaseView, StatusEntry};
use crate::citizens::Citizen;
use crate::decisions::Decision;
use crate::documents::DocumentInfo;
use crate::grants::Grant;
use crate::letters::Notice;

/// What CPR gave on a citizen, the same in both versions. A protected address is left
/// out (`address_hidden`) for a caller without the right to see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CprFields {
    pub municipality_code: Option<i64>,
    pub cpr_status: Option<String>,
    pub address_protected: Option<bool>,
    pub address_hidden: bool,
    pub digital_post: Option<bool>,
    #[schema(value_type = Object)]
    pub address_history: serde_json::Value,
    /// Fields CPR did not give.
    pub unavailable: Vec<String>,
    /// When CPR was last asked (ms since the epoch).
    pub looked_up_at: Option<i64>,
}

impl From<&Citizen> for CprFields {
    fn from(c: &Citizen) -> Self {
        CprFields {
            municipality_code: c.municipality_code,
            cpr_status: c.cpr_status.clone(),
            address_protected: c.address_protected,
            address_hidden: c.address_hidden,
            digital_post: c.digital_post,
            address_history: c.address_history.clone(),
            unavailable: c.unavailable.clone(),
            looked_up_at: c.looked_up_at,
        }
    }
}

/// A citizen (v1): the name as one string.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CitizenV1 {
    /// DDMMYY-SSSS.
    pub cpr: String,
    /// A fictive number (erstatningspersonnummer) for a person without a known CPR.
    pub fictive: bool,
    pub name: String,
    pub address: Option<String>,
    #[schema(value_type = Object)]
    pub relations: serde_json::Value,
    #[schema(value_type = Object)]
    pub contacts: serde_json::Value,
    #[serde(flatten)]
    pub from_cpr: CprFields,
}

impl From<&Citizen> for CitizenV1 {
    fn from(c: &Citizen) -> Self {
        CitizenV1 {
            cpr: c.cpr.formatted(),
            fictive: c.fictive,
            name: format!("{} {}", c.given_name, c.family_name),
            address: c.address.clone(),
            relations: c.relations.clone(),
            contacts: c.contacts.clone(),
            from_cpr: c.into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NameV2 {
    pub given: String,
    pub family: String,
}

/// A citizen (v2): the name in its parts.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CitizenV2 {
    pub cpr: String,
    pub fictive: bool,
    pub name: NameV2,
    pub address: Option<String>,
    #[schema(value_type = Object)]
    pub relations: serde_json::Value,
    #[schema(value_type = Object)]
    pub contacts: serde_json::Value,
    #[serde(flatten)]
    pub from_cpr: CprFields,
}

impl From<&Citizen> for CitizenV2 {
    fn from(c: &Citizen) -> Self {
        CitizenV2 {
            cpr: c.cpr.formatted(),
            fictive: c.fictive,
            name: NameV2 {
                given: c.given_name.clone(),
                family: c.family_name.clone(),
            },
            address: c.address.clone(),
            relations: c.relations.clone(),
            contacts: c.contacts.clone(),
            from_cpr: c.into(),
        }
    }
}

/// What both versions say the same way about a case.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CaseFields {
    pub id: String,
    pub cpr: String,
    pub title: String,
    pub kle: String,
    pub action_facet: String,
    pub case_type: String,
    pub org_unit_id: String,
    pub caseworker_id: String,
    pub confidential: bool,
}

/// What is on a case, the same in both versions.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CaseContents {
    pub documents: Vec<DocumentInfo>,
    pub decisions: Vec<Decision>,
    pub grants: Vec<Grant>,
    /// What the case shows about its integrations ("letter to citizen failed: ...").
    pub notices: Vec<Notice>,
    /// The citizen's hospital stays as the health service reported them, latest first.
    pub hospital_stays: Vec<crate::stays::Stay>,
    /// Caseworkers' notes, oldest first.
    pub notes: Vec<crate::case_notes::Note>,
    /// Deadlines, soonest first.
    pub deadlines: Vec<crate::case_notes::Deadline>,
    /// The case in the records system (eDoc): its ESDH case number and responsible person.
    pub records: Option<crate::esdh::RecordsCase>,
}

/// Splits a view into the parts both versions share, the status history and the
/// record's own times.
fn split(
    v: CaseView,
) -> (
    CaseFields,
    CaseContents,
    CaseStatus,
    Vec<StatusEntry>,
    i64,
    i64,
) {
    let c = v.case;
    (
        CaseFields {
            cpr: c.cpr.formatted(),
            id: c.id,
            title: c.title,
            kle: c.kle,
            action_facet: c.action_facet,
            case_type: c.case_type,
            org_unit_id: c.org_unit_id,
            caseworker_id: c.caseworker_id,
            confidential: c.confidential,
        },
        CaseContents {
            documents: v.documents,
            decisions: v.decisions,
            grants: v.grants,
            notices: v.notices,
            hospital_stays: v.hospital_stays,
            notes: v.notes,
            deadlines: v.deadlines,
            records: v.records,
        },
        c.status,
        v.status_history,
        c.created_at,
        c.updated_at,
    )
}

/// A case (v1) with what is on it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CaseV1 {
    #[serde(flatten)]
    pub fields: CaseFields,
    pub status: CaseStatus,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub status_history: Vec<StatusEntry>,
    #[serde(flatten)]
    pub contents: CaseContents,
}

impl From<CaseView> for CaseV1 {
    fn from(v: CaseView) -> Self {
        let (fields, contents, status, status_history, created_at, updated_at) = split(v);
        CaseV1 {
            fields,
            status,
            created_at,
            updated_at,
            status_history,
            contents,
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StatusChangeV2 {
    pub status: CaseStatus,
    /// RFC 3339.
    pub at: String,
    pub by: String,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CaseStatusV2 {
    pub current: CaseStatus,
    /// RFC 3339: when the case entered its current status.
    pub since: String,
    pub history: Vec<StatusChangeV2>,
}

/// A case (v2): status as one object with RFC 3339 times.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CaseV2 {
    #[serde(flatten)]
    pub fields: CaseFields,
    pub status: CaseStatusV2,
    pub created_at: String,
    pub updated_at: String,
    #[serde(flatten)]
    pub contents: CaseContents,
}

pub fn rfc3339(ms: i64) -> String {
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl From<CaseView> for CaseV2 {
    fn from(v: CaseView) -> Self {
        let (fields, contents, status, history, created_at, updated_at) = split(v);
        let since = history
            .iter()
            .rev()
            .find(|s| s.status == status)
            .map(|s| s.at)
            .unwrap_or(created_at);
        CaseV2 {
            fields,
            status: CaseStatusV2 {
                current: status,
                since: rfc3339(since),
                history: history
                    .into_iter()
                    .map(|s| StatusChangeV2 {
                        status: s.status,
                        at: rfc3339(s.at),
                        by: s.by_user,
                        note: s.note,
                    })
                    .collect(),
            },
            created_at: rfc3339(created_at),
            updated_at: rfc3339(updated_at),
            contents,
        }
    }
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: CaseStatus,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessGrant {
    pub user_id: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndGrant {
    /// YYYY-MM-DD: the grant's last day.
    pub end_date: String,
}
