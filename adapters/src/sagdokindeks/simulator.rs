//! The sandbox's Sags- og dokumentindeks: importer, opdater and fjern as OIO IDWS SOAP
//! calls, checked as Serviceplatformen does (the STS's holder-of-key assertion for this
//! service, the input against the XSDs), deduplicated by TransactionUUID, answered with
//! StandardRetur 20, or 40 with a FejlbeskedTekst; faults on request, StatusKode 40 and
//! 49 among them. Beside it, SAPA's search by CPR for a user with job roles, filtered by
//! org unit and KLE as SAPA does, and SAPA's page for a case.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::model::{Change, Index, IndexedCase, IndexedDocument, changes};
use super::{ENTITY_ID, NS, PATH};
use crate::sandbox::control_router;
use crate::sts::simulator::StsSimulator;
use crate::sts_service::service::{Refusal, ServiceDesk};
use crate::ydelsesindeks::model::SharedBenefits;

#[derive(Clone)]
pub struct SagDokIndeksSimulator {
    pub desk: ServiceDesk,
    index: Arc<RwLock<Index>>,
    /// The Ydelsesindeks beside it: fjern with FjernOgsaaYdelse removes a case's
    /// benefits there, and SAPA shows them.
    benefits: SharedBenefits,
}

impl SagDokIndeksSimulator {
    pub fn new(sts: StsSimulator, schema: Option<PathBuf>, benefits: SharedBenefits) -> Self {
        SagDokIndeksSimulator {
            desk: ServiceDesk::new(sts, ENTITY_ID, NS, schema),
            index: Arc::new(RwLock::new(Index::default())),
            benefits,
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(PATH, post(operation))
            .route("/sapa/soeg", post(sapa_search))
            .route("/sapa/sag/{id}", get(sapa_case))
            .route("/sagdokumentindeks/_sandbox/counts", get(counts))
            .with_state(self.clone())
            .nest(
                "/sagdokumentindeks/_sandbox",
                control_router(self.desk.recorder.clone(), self.desk.faults.clone()),
            )
    }

    pub fn case(&self, uuid: &str) -> Option<IndexedCase> {
        self.index.read().expect("index").cases.get(uuid).cloned()
    }

    pub fn document(&self, uuid: &str) -> Option<IndexedDocument> {
        self.index
            .read()
            .expect("index")
            .documents
            .get(uuid)
            .cloned()
    }

    /// Takes a case out of the index behind Knudepunkt's back (drift, for tests of the
    /// reconciliation).
    pub fn forget_case(&self, uuid: &str) -> bool {
        self.index
            .write()
            .expect("index")
            .cases
            .remove(uuid)
            .is_some()
    }

    /// Puts a case in the index behind Knudepunkt's back (drift, for tests).
    pub fn plant_case(&self, case: IndexedCase) {
        self.index
            .write()
            .expect("index")
            .cases
            .insert(case.uuid.clone(), case);
    }

    /// Takes a document out of the index behind Knudepunkt's back (drift, for tests).
    pub fn forget_document(&self, uuid: &str) -> bool {
        self.index
            .write()
            .expect("index")
            .documents
            .remove(uuid)
            .is_some()
    }

    /// Puts a document in the index behind Knudepunkt's back (drift, for tests).
    pub fn plant_document(&self, document: IndexedDocument) {
        self.index
            .write()
            .expect("index")
            .documents
            .insert(document.uuid.clone(), document);
    }

    /// Cases and documents in the index.
    pub fn counts(&self) -> (usize, usize) {
        let index = self.index.read().expect("index");
        (index.cases.len(), index.documents.len())
    }

    /// SAPA's search by CPR for a user with `roles`.
    pub fn search(&self, cpr: &str, roles: &[Role]) -> SearchResult {
        let index = self.index.read().expect("index");
        let visible = |case: &IndexedCase| {
            roles.iter().any(|r| {
                case.org_unit.as_deref() == Some(r.org_unit_id.as_str())
                    && case.kle.as_deref().is_some_and(|k| r.covers(k))
            })
        };
        // The citizen's cases, and the documents journalised on them: looked up by the
        // citizen, not by scanning the whole index for each document.
        let mut cases: Vec<&IndexedCase> = index
            .cases
            .values()
            .filter(|c| c.cpr.as_deref() == Some(cpr) && visible(c))
            .collect();
        cases.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        let mut documents: Vec<FoundDocument> = cases
            .iter()
            .flat_map(|case| case.journal.keys().map(move |d| (case, d)))
            .filter_map(|(case, d)| {
                let doc = index.documents.get(d)?;
                (doc.cpr.as_deref() == Some(cpr)).then(|| FoundDocument {
                    uuid: doc.uuid.clone(),
                    title: doc.title.clone(),
                    letter_date: doc.letter_date.clone(),
                    case_uuid: case.uuid.clone(),
                })
            })
            .collect();
        documents.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        documents.dedup_by(|a, b| a.uuid == b.uuid);
        let shown: std::collections::HashSet<&str> =
            cases.iter().map(|c| c.uuid.as_str()).collect();
        let mut benefits: Vec<FoundBenefit> = self
            .benefits
            .read()
            .expect("benefits")
            .by_uuid
            .values()
            .filter(|b| b.cpr.as_deref() == Some(cpr))
            .filter(|b| b.case_uuid.as_deref().is_some_and(|c| shown.contains(c)))
            .map(|b| {
                let grant = b.grants.values().last();
                FoundBenefit {
                    uuid: b.uuid.clone(),
                    name: b.name.clone(),
                    case_uuid: b.case_uuid.clone().unwrap_or_default(),
                    status: grant.and_then(|g| g.status.clone()),
                    from: grant.and_then(|g| g.from.clone()),
                    to: grant.and_then(|g| g.to.clone()),
                }
            })
            .collect();
        benefits.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        SearchResult {
            benefits,
            cases: cases
                .into_iter()
                .map(|c| FoundCase {
                    uuid: c.uuid.clone(),
                    title: c.title.clone(),
                    status: c.status().map(str::to_string),
                    kle: c.kle.clone(),
                    org_unit: c.org_unit.clone(),
                    link: c.link.clone(),
                })
                .collect(),
            documents,
        }
    }
}

async fn operation(State(sim): State<SagDokIndeksSimulator>, body: axum::body::Bytes) -> Response {
    sim.desk
        .handle(&body, |doc| {
            let root = doc
                .at(&[])
                .ok_or_else(|| Refusal("tom forespørgsel".into()))?;
            if root.local == "FremsoegSagDokumentIndeksInput" {
                return Ok(sim.index.read().expect("index").fremsoeg(root));
            }
            let changes = changes(root)?;
            let removed_cases: Vec<String> = changes
                .iter()
                .filter_map(|c| match c {
                    Change::RemoveCase {
                        uuid,
                        also_benefits: true,
                        ..
                    } => Some(uuid.clone()),
                    _ => None,
                })
                .collect();
            sim.index.write().expect("index").apply(changes)?;
            let mut benefits = sim.benefits.write().expect("benefits");
            for case in removed_cases {
                benefits.remove_of_case(&case);
            }
            Ok(String::new())
        })
        .await
}

/// One of the searching user's job roles: KLE numbers within one org unit.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Role {
    pub org_unit_id: String,
    /// KLE main groups, groups or subjects.
    pub kle: Vec<String>,
}

impl Role {
    /// Whether the role covers KLE number `kle` (a group covers its subjects).
    pub fn covers(&self, kle: &str) -> bool {
        self.kle.iter().any(|g| {
            kle == g
                || kle
                    .strip_prefix(g.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchRequest {
    pub cpr: String,
    pub roles: Vec<Role>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FoundCase {
    pub uuid: String,
    pub title: Option<String>,
    pub status: Option<String>,
    pub kle: Option<String>,
    pub org_unit: Option<String>,
    /// The hop to the case in its own system.
    pub link: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FoundDocument {
    pub uuid: String,
    pub title: Option<String>,
    pub letter_date: Option<String>,
    pub case_uuid: String,
}

/// A benefit from the Ydelsesindeks, on a case the user may see.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FoundBenefit {
    pub uuid: String,
    pub name: Option<String>,
    pub case_uuid: String,
    pub status: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchResult {
    pub cases: Vec<FoundCase>,
    pub documents: Vec<FoundDocument>,
    pub benefits: Vec<FoundBenefit>,
}

/// How many cases and documents the index holds.
async fn counts(State(sim): State<SagDokIndeksSimulator>) -> Json<serde_json::Value> {
    let (cases, documents) = sim.counts();
    Json(serde_json::json!({"cases": cases, "documents": documents}))
}

async fn sapa_search(
    State(sim): State<SagDokIndeksSimulator>,
    Json(req): Json<SearchRequest>,
) -> Json<SearchResult> {
    Json(sim.search(req.cpr.trim(), &req.roles))
}

/// SAPA's page for a case, with the hop back to the case in its own system.
async fn sapa_case(State(sim): State<SagDokIndeksSimulator>, Path(id): Path<String>) -> Response {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    match sim.case(&id) {
        Some(case) => {
            let link = case
                .link
                .as_deref()
                .map(|l| format!(r#"<p><a href="{}">Åbn sagen i fagsystemet</a></p>"#, esc(l)))
                .unwrap_or_default();
            Html(format!(
                "<!doctype html><html lang=\"da\"><head><meta charset=\"utf-8\"><title>SAPA: {}</title></head><body><h1>{}</h1><p>Status: {}</p><p>KLE: {}</p>{link}</body></html>",
                esc(case.title.as_deref().unwrap_or("")),
                esc(case.title.as_deref().unwrap_or("")),
                esc(case.status().unwrap_or("")),
                esc(case.kle.as_deref().unwrap_or("")),
            ))
            .into_response()
        }
        None => (StatusCode::NOT_FOUND, "SAPA: no such case in the index\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_covers_its_groups_subjects_only() {
        let role = Role {
            org_unit_id: "x".into(),
            kle: vec!["27.24".into()],
        };
        assert!(role.covers("27.24.00"));
        assert!(role.covers("27.24"));
        assert!(!role.covers("27.240.00"));
        assert!(!role.covers("27.36.04"));
    }
}
