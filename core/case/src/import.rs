//! Bulk import: citizens and whole cases with their documents in a few multi-row
//! statements per batch, as when case files move over from the system being replaced.
//! A batch is all or nothing; an error names the item (`cases[17].kle`).

use std::collections::HashSet;

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use knudepunkt_engine::journal::placeholders;

use crate::access::Scope;
use crate::cases::{CaseStatus, NewCase};
use crate::citizens::{NewCitizen, parse_cpr};
use crate::error::{CaseError, CaseResult};
use crate::events;
use crate::kle::{ActionFacet, KleNumber};
use crate::store::{CaseCore, Ctx, new_id, now_ms, parse_date};

/// A document arriving with its case.
#[derive(Clone, Debug)]
pub struct ImportDocument {
    pub title: String,
    pub doc_type: String,
    pub media_type: String,
    pub content: Vec<u8>,
    /// YYYY-MM-DD.
    pub journal_date: String,
    pub confidential: bool,
}

/// A case arriving whole.
#[derive(Clone, Debug)]
pub struct ImportCase {
    pub case: NewCase,
    pub documents: Vec<ImportDocument>,
}

/// Rows per multi-row statement: inside SQLite's and PostgreSQL's parameter limits.
const ROWS: usize = 200;

async fn set_of(conn: &mut AnyConnection, sql: &'static str) -> CaseResult<HashSet<String>> {
    sqlx::query(sql)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String, _>(0)?))
        .collect()
}

async fn known_citizens(conn: &mut AnyConnection, cprs: &[&str]) -> CaseResult<HashSet<String>> {
    known(conn, "SELECT cpr FROM citizens WHERE cpr", cprs).await
}

async fn known_cases(conn: &mut AnyConnection, ids: &[&str]) -> CaseResult<HashSet<String>> {
    known(conn, "SELECT id FROM cases WHERE id", ids).await
}

/// Which of `values` the query `select` (up to its `IN`) finds.
async fn known(
    conn: &mut AnyConnection,
    select: &'static str,
    values: &[&str],
) -> CaseResult<HashSet<String>> {
    let mut known = HashSet::new();
    for chunk in values.chunks(ROWS) {
        let marks = placeholders(conn, chunk.len(), 1, 1);
        // "(?), (?)" works as an IN list on both backends.
        let sql = format!("{select} IN ({})", marks.replace(['(', ')'], ""));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            q = q.bind(*c);
        }
        for r in q.fetch_all(&mut *conn).await? {
            known.insert(r.try_get::<String, _>(0)?);
        }
    }
    Ok(known)
}

/// Binds `rows` of `cols` values each into one multi-row INSERT per chunk.
pub(crate) async fn insert_rows(
    conn: &mut AnyConnection,
    head: &str,
    cols: usize,
    rows: &[Vec<Value>],
    tail: &str,
) -> CaseResult<()> {
    for chunk in rows.chunks(ROWS) {
        let sql = format!(
            "{head} VALUES {} {tail}",
            placeholders(conn, chunk.len(), cols, 1)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = match v {
                    Value::Text(t) => q.bind(t.clone()),
                    Value::OptText(t) => q.bind(t.clone()),
                    Value::Int(i) => q.bind(*i),
                    Value::OptInt(i) => q.bind(*i),
                    Value::Bytes(b) => q.bind(b.clone()),
                };
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// One bound value of a multi-row insert.
pub(crate) enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Bytes(Vec<u8>),
}

impl CaseCore {
    /// Registers many citizens in one transaction (existing ones are left as they are).
    pub async fn import_citizens(
        &self,
        ctx: &Ctx<'_>,
        citizens: &[NewCitizen],
    ) -> CaseResult<usize> {
        let now = now_ms();
        let mut rows = Vec::with_capacity(citizens.len());
        let mut audit = Vec::with_capacity(citizens.len());
        for (i, c) in citizens.iter().enumerate() {
            let cpr = parse_cpr(&format!("citizens[{i}].cpr"), &c.cpr)?;
            rows.push(vec![
                Value::Text(cpr.expose().to_string()),
                Value::Int(cpr.is_fictive() as i64),
                Value::Text(c.given_name.trim().to_string()),
                Value::Text(c.family_name.trim().to_string()),
                Value::OptText(c.address.clone()),
                Value::Int(now),
                Value::Int(now),
            ]);
            audit.push(audit_row(ctx, "citizen".into(), cpr.expose(), now));
        }
        let mut tx = self.begin().await?;
        insert_rows(
            &mut tx,
            "INSERT INTO citizens (cpr, fictive, given_name, family_name, address, created_at, updated_at)",
            7,
            &rows,
            "ON CONFLICT (cpr) DO NOTHING",
        )
        .await?;
        insert_rows(&mut tx, AUDIT_HEAD, 7, &audit, "").await?;
        tx.commit().await?;
        Ok(citizens.len())
    }

    /// Imports whole cases with their documents in one transaction; `case.created` and
    /// `document.added` go to the routes listening, as for cases opened one by one.
    /// Returns the new case ids in order.
    pub async fn import_cases(
        &self,
        ctx: &Ctx<'_>,
        batch: &[ImportCase],
    ) -> CaseResult<Vec<String>> {
        let mut tx = self.begin().await?;
        let kle_known = set_of(&mut tx, "SELECT number FROM kle_subjects").await?;
        let units = set_of(&mut tx, "SELECT id FROM org_units").await?;
        let users = set_of(&mut tx, "SELECT id FROM users").await?;
        let mut cprs = Vec::with_capacity(batch.len());
        for (i, item) in batch.iter().enumerate() {
            cprs.push(parse_cpr(&format!("cases[{i}].cpr"), &item.case.cpr)?);
        }
        let cpr_texts: Vec<&str> = cprs.iter().map(|c| c.expose()).collect();
        let citizens = known_citizens(&mut tx, &cpr_texts).await?;

        let now = now_ms();
        let (mut cases, mut history, mut docs, mut audit) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut created_events = Vec::with_capacity(batch.len());
        let mut document_events = Vec::new();
        let mut ids = Vec::with_capacity(batch.len());
        for (i, (item, cpr)) in batch.iter().zip(&cprs).enumerate() {
            let c = &item.case;
            let at = |f: &str| format!("cases[{i}].{f}");
            let kle = KleNumber::parse(&c.kle)
                .map_err(|e| CaseError::invalid(&at("kle"), e.to_string()))?;
            let facet = ActionFacet::parse(&c.action_facet)
                .map_err(|e| CaseError::invalid(&at("action_facet"), e.to_string()))?;
            for (field, value, known) in [
                ("kle", kle.as_str(), &kle_known),
                ("org_unit_id", c.org_unit_id.as_str(), &units),
                ("caseworker_id", c.caseworker_id.as_str(), &users),
                ("cpr", cpr.expose(), &citizens),
            ] {
                if !known.contains(value) {
                    return Err(CaseError::invalid(
                        &at(field),
                        format!(
                            "{:?} is not known here",
                            if field == "cpr" {
                                cpr.to_string()
                            } else {
                                value.to_string()
                            }
                        ),
                    ));
                }
            }
            if c.title.trim().is_empty() {
                return Err(CaseError::invalid(&at("title"), "must not be empty"));
            }
            if !ctx.actor.covers(&Scope {
                org_unit_id: &c.org_unit_id,
                kle: kle.as_str(),
            }) {
                return Err(CaseError::Forbidden(format!(
                    "{}: user {} has no job role covering KLE {kle} in org unit {}",
                    at("kle"),
                    ctx.actor.user_id,
                    c.org_unit_id
                )));
            }
            let id = new_id();
            cases.push(vec![
                Value::Text(id.clone()),
                Value::Text(cpr.expose().to_string()),
                Value::Text(c.title.trim().to_string()),
                Value::Text(kle.to_string()),
                Value::Text(facet.as_str().to_string()),
                Value::Text(c.case_type.trim().to_string()),
                Value::Text(c.org_unit_id.clone()),
                Value::Text(c.caseworker_id.clone()),
                Value::Text(CaseStatus::Opstaaet.as_str().into()),
                Value::Int(c.confidential as i64),
                Value::Int(now),
                Value::Int(now),
            ]);
            history.push(vec![
                Value::Text(id.clone()),
                Value::Text(CaseStatus::Opstaaet.as_str().into()),
                Value::Int(now),
                Value::Text(ctx.actor.user_id.clone()),
                Value::OptText(Some("imported".into())),
            ]);
            audit.push(audit_row(ctx, format!("case/{id}"), cpr.expose(), now));
            let when = crate::index::instant(now);
            let mut event = serde_json::json!({
                "case_id": id, "cpr": cpr.expose(), "title": c.title.trim(), "kle": kle.as_str(),
                "action_facet": facet.as_str(), "case_type": c.case_type.trim(), "org_unit_id": c.org_unit_id,
                "caseworker_id": c.caseworker_id, "status": "Opstaaet", "confidential": c.confidential,
                "created_at": when, "at": when,
            });
            let case_event = event.clone();
            // The case.created event carries the case whole (its documents come in
            // their own document.added events).
            event["history"] = serde_json::json!([{"status": "Opstaaet", "from": when}]);
            event["documents"] = serde_json::json!([]);
            for (k, d) in item.documents.iter().enumerate() {
                let date = parse_date(
                    &format!("cases[{i}].documents[{k}].journal_date"),
                    &d.journal_date,
                )?;
                if d.content.len() > self.limits.max_document_bytes {
                    return Err(CaseError::TooLarge {
                        field: format!("cases[{i}].documents[{k}].content"),
                        limit: self.limits.max_document_bytes,
                        actual: d.content.len(),
                    });
                }
                let doc_id = new_id();
                let sha = hex::encode(Sha256::digest(&d.content));
                let mut ev = case_event.clone();
                ev["confidential"] = (c.confidential || d.confidential).into();
                ev["document"] = serde_json::json!({"id": doc_id, "case_id": id, "title": d.title, "doc_type": d.doc_type, "sha256": sha, "size": d.content.len(), "journal_date": date.to_string()});
                document_events.push(ev);
                let (content, in_files) = self.documents.keep(&sha, &d.content).await?;
                docs.push(vec![
                    Value::Text(doc_id),
                    Value::Text(id.clone()),
                    Value::Text(d.title.clone()),
                    Value::Text(d.doc_type.clone()),
                    Value::Text(d.media_type.clone()),
                    Value::Int(d.content.len() as i64),
                    Value::Text(sha),
                    Value::Text(date.format("%Y-%m-%d").to_string()),
                    Value::Int(d.confidential as i64),
                    Value::Text(ctx.actor.user_id.clone()),
                    Value::Int(now),
                    Value::Bytes(content),
                    Value::Int(in_files),
                ]);
            }
            created_events.push(event);
            ids.push(id);
        }
        insert_rows(
            &mut tx,
            "INSERT INTO cases (id, cpr, title, kle, action_facet, case_type, org_unit_id, caseworker_id, status, confidential, created_at, updated_at)",
            12,
            &cases,
            "",
        )
        .await?;
        insert_rows(
            &mut tx,
            "INSERT INTO case_status_history (case_id, status, at, by_user, note)",
            5,
            &history,
            "",
        )
        .await?;
        insert_rows(
            &mut tx,
            "INSERT INTO documents (id, case_id, title, doc_type, media_type, size, sha256, journal_date, confidential, created_by, created_at, content, content_in_files)",
            13,
            &docs,
            "",
        )
        .await?;
        insert_rows(&mut tx, AUDIT_HEAD, 7, &audit, "").await?;
        for (name, list) in [
            (events::CASE_CREATED, &created_events),
            (events::DOCUMENT_ADDED, &document_events),
        ] {
            let routes: Vec<String> = self
                .engine
                .routes()
                .for_event(name)
                .iter()
                .map(|r| r.id.clone())
                .collect();
            if routes.is_empty() || list.is_empty() {
                continue;
            }
            let with_ids: Vec<serde_json::Value> = list
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    e["event"] = name.into();
                    e["id"] = new_id().into();
                    e
                })
                .collect();
            for route in routes {
                let sent = self.engine.submit_many(&mut tx, &route, &with_ids).await?;
                // Cases go to the records system too: followed until its answer.
                if name == events::CASE_CREATED {
                    for (event, submitted) in with_ids.iter().zip(&sent) {
                        if let (Some(case_id), Some(id)) =
                            (event["case_id"].as_str(), submitted.id())
                        {
                            crate::esdh::requested(
                                &mut tx,
                                &self.engine,
                                case_id,
                                &[(route.clone(), id)],
                                now,
                            )
                            .await?;
                        }
                    }
                }
            }
        }
        tx.commit().await?;
        self.engine.wake();
        Ok(ids)
    }
}

const AUDIT_HEAD: &str =
    "INSERT INTO case_audit_log (at, actor, action, resource, cpr, purpose, outcome)";

fn audit_row(ctx: &Ctx<'_>, resource: String, cpr: &str, now: i64) -> Vec<Value> {
    vec![
        Value::Int(now),
        Value::Text(ctx.actor.user_id.clone()),
        Value::Text("write".into()),
        Value::Text(resource),
        Value::OptText(Some(cpr.to_string())),
        Value::Text(ctx.purpose.to_string()),
        Value::Text("allowed".into()),
    ]
}

/// A grant as an import from another system brings it (no events: the indexes are
/// loaded by their backfill).
#[derive(Clone, Debug)]
pub struct ImportGrant {
    pub case_id: String,
    pub service_id: String,
    /// YYYY-MM-DD.
    pub from: String,
    pub to: Option<String>,
    pub quantity: Option<i64>,
    pub provider: String,
    pub provider_type: Option<String>,
}

impl CaseCore {
    /// Imports many grants in one transaction, their cases and services checked.
    pub async fn import_grants(&self, _ctx: &Ctx<'_>, batch: &[ImportGrant]) -> CaseResult<usize> {
        let mut tx = self.begin().await?;
        let services = set_of(&mut tx, "SELECT id FROM services").await?;
        let now = now_ms();
        let mut rows = Vec::with_capacity(batch.len());
        let case_ids: Vec<&str> = batch.iter().map(|g| g.case_id.as_str()).collect();
        let cases = known_cases(&mut tx, &case_ids).await?;
        for (i, g) in batch.iter().enumerate() {
            let at = |f: &str| format!("grants[{i}].{f}");
            if !services.contains(&g.service_id) {
                return Err(CaseError::invalid(&at("service_id"), "not a service here"));
            }
            if !cases.contains(&g.case_id) {
                return Err(CaseError::invalid(&at("case_id"), "not a case here"));
            }
            rows.push(vec![
                Value::Text(crate::store::new_id()),
                Value::Text(g.case_id.clone()),
                Value::Text(g.service_id.clone()),
                Value::Text(g.from.clone()),
                Value::OptText(g.to.clone()),
                Value::OptInt(g.quantity),
                Value::Text(g.provider.clone()),
                Value::OptText(g.provider_type.clone()),
                Value::Text(if g.to.is_some() { "ended" } else { "active" }.into()),
                Value::Int(now),
                Value::Int(now),
            ]);
        }
        insert_rows(
            &mut tx,
            "INSERT INTO grants (id, case_id, service_id, period_from, period_to, quantity, provider, provider_type, status, created_at, updated_at)",
            11,
            &rows,
            "",
        )
        .await?;
        tx.commit().await?;
        Ok(batch.len())
    }

    /// Imports many residential stays in one transaction, their citizens checked.
    pub async fn import_residential_stays(
        &self,
        ctx: &Ctx<'_>,
        batch: &[crate::residential::NewResidentialStay],
    ) -> CaseResult<usize> {
        let mut tx = self.begin().await?;
        let cprs: Vec<&str> = batch.iter().filter_map(|s| s.cpr.as_deref()).collect();
        let citizens = known_citizens(&mut tx, &cprs).await?;
        let now = now_ms();
        let mut rows = Vec::with_capacity(batch.len());
        let mut audit = Vec::with_capacity(batch.len());
        for (i, s) in batch.iter().enumerate() {
            if let Some(c) = &s.cpr
                && !citizens.contains(c.as_str())
            {
                return Err(CaseError::invalid(
                    &format!("stays[{i}].cpr"),
                    "not a citizen here",
                ));
            }
            let id = crate::store::new_id();
            if let Some(c) = &s.cpr {
                audit.push(audit_row(ctx, format!("residential-stay/{id}"), c, now));
            }
            rows.push(vec![
                Value::Text(id),
                Value::Text(s.section.clone()),
                Value::Text(s.institution.clone()),
                Value::OptText(s.cpr.clone()),
                Value::Text(s.arrival.clone()),
                Value::OptText(s.departure.clone()),
                Value::OptText(s.housing_before.clone()),
                Value::OptText(s.housing_after.clone()),
                Value::OptInt(s.children),
                Value::Text(s.offer.clone().unwrap_or_else(|| "OPHOLD".into())),
                Value::Text(ctx.actor.user_id.clone()),
                Value::Int(now),
                Value::Int(now),
            ]);
        }
        insert_rows(
            &mut tx,
            "INSERT INTO residential_stays (id, section, institution, cpr, arrival, departure, housing_before, housing_after, children, offer, created_by, created_at, updated_at)",
            13,
            &rows,
            "",
        )
        .await?;
        insert_rows(&mut tx, AUDIT_HEAD, 7, &audit, "").await?;
        tx.commit().await?;
        Ok(batch.len())
    }
}
