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
        }
    }
}

/// A case (v1) with what is on it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CaseV1 {
    pub id: String,
    pub cpr: String,
    pub title: String,
    pub kle: String,
    pub action_facet: String,
    pub case_type: String,
    pub org_unit_id: String,
    pub caseworker_id: String,
    pub status: CaseStatus,
    pub confidential: bool,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub status_history: Vec<StatusEntry>,
    pub documents: Vec<DocumentInfo>,
    pub decisions: Vec<Decision>,
    pub grants: Vec<Grant>,
    /// What the case shows about its integrations ("letter to citizen failed: ...").
    pub notices: Vec<Notice>,
}

impl From<CaseView> for CaseV1 {
    fn from(v: CaseView) -> Self {
        let c = v.case;
        CaseV1 {
            cpr: c.cpr.formatted(),
            id: c.id,
            title: c.title,
            kle: c.kle,
            action_facet: c.action_facet,
            case_type: c.case_type,
            org_unit_id: c.org_unit_id,
            caseworker_id: c.caseworker_id,
            status: c.status,
            confidential: c.confidential,
            created_at: c.created_at,
            updated_at: c.updated_at,
            status_history: v.status_history,
            documents: v.documents,
            decisions: v.decisions,
            grants: v.grants,
            notices: v.notices,
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
    pub id: String,
    pub cpr: String,
    pub title: String,
    pub kle: String,
    pub action_facet: String,
    pub case_type: String,
    pub org_unit_id: String,
    pub caseworker_id: String,
    pub status: CaseStatusV2,
    pub confidential: bool,
    pub created_at: String,
    pub updated_at: String,
    pub documents: Vec<DocumentInfo>,
    pub decisions: Vec<Decision>,
    pub grants: Vec<Grant>,
    pub notices: Vec<Notice>,
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
        let c = v.case;
        let since = v
            .status_history
            .iter()
            .rev()
            .find(|s| s.status == c.status)
            .map(|s| s.at)
            .unwrap_or(c.created_at);
        CaseV2 {
            cpr: c.cpr.formatted(),
            id: c.id,
            title: c.title,
            kle: c.kle,
            action_facet: c.action_facet,
            case_type: c.case_type,
            org_unit_id: c.org_unit_id,
            caseworker_id: c.caseworker_id,
            status: CaseStatusV2 {
                current: c.status,
                since: rfc3339(since),
                history: v
                    .status_history
                    .into_iter()
                    .map(|s| StatusChangeV2 {
                        status: s.status,
                        at: rfc3339(s.at),
                        by: s.by_user,
                        note: s.note,
                    })
                    .collect(),
            },
            confidential: c.confidential,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            documents: v.documents,
            decisions: v.decisions,
            grants: v.grants,
            notices: v.notices,
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
