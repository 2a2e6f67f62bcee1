//! The organisation kept in step with the municipality's authoritative source (KK-ORG2
//! through KKI, or STS Organisation): org units with their parent, P-number, address,
//! manager and validity (Virkning), users with their unit, validity and whom they
//! substitute for. A full load is applied a page at a time (idempotent: a run broken off
//! is completed by the next), then ends (never deletes) what the source no longer has,
//! so old cases keep their history; a delta applies the changes only. A
//! unit valid from next month is stored but not in force; access follows at once (a
//! job role applies only in force, and only for users in its unit or below,
//! [`crate::access`]).

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::Row;

use crate::error::CaseResult;
use crate::import::{Value, insert_rows};
use crate::store::{CaseCore, now_ms};

/// An org unit as the source gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgUnitEntry {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub p_number: Option<String>,
    /// `None`: the source does not give it (the one known is kept).
    pub address: Option<String>,
    pub manager_id: Option<String>,
    /// YYYY-MM-DD.
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
}

/// A user as the source gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgUserEntry {
    pub id: String,
    pub uuid: Option<String>,
    pub name: String,
    /// The unit of the engagement in force (or the next one).
    pub org_unit_id: String,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    /// The colleagues they substitute for.
    pub substitutes_for: Vec<String>,
}

/// What a source gave: everything (a full load) or what changed (a delta).
#[derive(Clone, Debug, Default)]
pub struct OrgSnapshot {
    pub units: Vec<OrgUnitEntry>,
    pub users: Vec<OrgUserEntry>,
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OrgSyncReport {
    pub units: usize,
    pub users: usize,
    pub added_units: usize,
    pub changed_units: usize,
    pub ended_units: usize,
    pub added_users: usize,
    pub changed_users: usize,
    /// Users now in another unit.
    pub moved_users: usize,
    pub ended_users: usize,
}

type UnitRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);
type UserRow = (
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// How deep each unit is, by its parent chain within `units` (parents first).
fn depth_order(units: &[OrgUnitEntry]) -> Vec<&OrgUnitEntry> {
    let parent: HashMap<&str, Option<&str>> = units
        .iter()
        .map(|u| (u.id.as_str(), u.parent_id.as_deref()))
        .collect();
    let depth = |id: &str| {
        let mut d = 0;
        let mut at = parent.get(id).copied().flatten();
        while let Some(p) = at {
            d += 1;
            if d > 64 {
                break;
            }
            at = parent.get(p).copied().flatten();
        }
        d
    };
    let mut ordered: Vec<(usize, &OrgUnitEntry)> =
        units.iter().map(|u| (depth(&u.id), u)).collect();
    ordered.sort_by_key(|(d, _)| *d);
    ordered.into_iter().map(|(_, u)| u).collect()
}

impl CaseCore {
    /// Applies `snapshot` (a page of a full load, or a delta) from `source` in one
    /// transaction: what is new is added, what changed is changed, the rest left alone.
    /// The units come before the users in them.
    pub async fn sync_org(
        &self,
        source: &str,
        snapshot: &OrgSnapshot,
    ) -> CaseResult<OrgSyncReport> {
        let mut tx = self.begin().await?;
        let unit_ids: Vec<&str> = snapshot.units.iter().map(|u| u.id.as_str()).collect();
        let user_ids: Vec<&str> = snapshot.users.iter().map(|u| u.id.as_str()).collect();
        let units: HashMap<String, UnitRow> = rows_of(
            &mut tx,
            "SELECT id, name, parent_id, p_number, address, manager_id, valid_from, valid_to FROM org_units WHERE id",
            &unit_ids,
        )
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                (
                    r.try_get("name")?,
                    r.try_get("parent_id")?,
                    r.try_get("p_number")?,
                    r.try_get("address")?,
                    r.try_get("manager_id")?,
                    r.try_get("valid_from")?,
                    r.try_get("valid_to")?,
                ),
            ))
        })
        .collect::<CaseResult<_>>()?;
        let users: HashMap<String, UserRow> = rows_of(
            &mut tx,
            "SELECT id, uuid, name, org_unit_id, valid_from, valid_to FROM users WHERE id",
            &user_ids,
        )
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                (
                    r.try_get("uuid")?,
                    r.try_get("name")?,
                    r.try_get("org_unit_id")?,
                    r.try_get("valid_from")?,
                    r.try_get("valid_to")?,
                ),
            ))
        })
        .collect::<CaseResult<_>>()?;
        let now = now_ms();
        let mut report = OrgSyncReport {
            units: snapshot.units.len(),
            users: snapshot.users.len(),
            ..Default::default()
        };
        let mut rows = Vec::new();
        for u in depth_order(&snapshot.units) {
            // A source that does not give the address (STS Organisation's are objects of
            // their own) leaves the one known.
            let address = u
                .address
                .clone()
                .or_else(|| units.get(&u.id).and_then(|had| had.3.clone()));
            let wanted: UnitRow = (
                u.name.clone(),
                u.parent_id.clone(),
                u.p_number.clone(),
                address.clone(),
                u.manager_id.clone(),
                u.valid_from.clone(),
                u.valid_to.clone(),
            );
            match units.get(&u.id) {
                Some(had) if *had == wanted => continue,
                Some(_) => report.changed_units += 1,
                None => report.added_units += 1,
            }
            rows.push(vec![
                Value::Text(u.id.clone()),
                Value::Text(u.name.clone()),
                Value::OptText(u.parent_id.clone()),
                Value::OptText(u.p_number.clone()),
                Value::OptText(address),
                Value::OptText(u.manager_id.clone()),
                Value::OptText(u.valid_from.clone()),
                Value::OptText(u.valid_to.clone()),
                Value::Text(source.into()),
                Value::Int(now),
            ]);
        }
        insert_rows(
            &mut tx,
            "INSERT INTO org_units (id, name, parent_id, p_number, address, manager_id, valid_from, valid_to, source, synced_at)",
            10,
            &rows,
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, parent_id = excluded.parent_id, p_number = excluded.p_number, \
             address = excluded.address, manager_id = excluded.manager_id, valid_from = excluded.valid_from, \
             valid_to = excluded.valid_to, source = excluded.source, synced_at = excluded.synced_at",
        )
        .await?;
        let mut rows = Vec::new();
        let mut substitutes = Vec::new();
        let mut touched: Vec<&str> = Vec::new();
        for u in &snapshot.users {
            let wanted: UserRow = (
                u.uuid.clone(),
                u.name.clone(),
                u.org_unit_id.clone(),
                u.valid_from.clone(),
                u.valid_to.clone(),
            );
            match users.get(&u.id) {
                Some(had) if *had == wanted => {}
                Some(had) => {
                    report.changed_users += 1;
                    if had.2 != u.org_unit_id {
                        report.moved_users += 1;
                    }
                    rows.push(user_row(u, source, now));
                }
                None => {
                    report.added_users += 1;
                    rows.push(user_row(u, source, now));
                }
            }
            touched.push(&u.id);
            for s in &u.substitutes_for {
                substitutes.push(vec![Value::Text(s.clone()), Value::Text(u.id.clone())]);
            }
        }
        insert_rows(
            &mut tx,
            "INSERT INTO users (id, uuid, name, org_unit_id, valid_from, valid_to, source, synced_at)",
            8,
            &rows,
            "ON CONFLICT (id) DO UPDATE SET uuid = excluded.uuid, name = excluded.name, org_unit_id = excluded.org_unit_id, \
             valid_from = excluded.valid_from, valid_to = excluded.valid_to, source = excluded.source, synced_at = excluded.synced_at",
        )
        .await?;
        // Whom each user substitutes for, as the source now says.
        for chunk in touched.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM user_substitutes WHERE substitute_id IN ({})",
                marks.join(", ")
            )));
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *tx).await?;
        }
        insert_rows(
            &mut tx,
            "INSERT INTO user_substitutes (user_id, substitute_id)",
            2,
            &substitutes,
            "ON CONFLICT DO NOTHING",
        )
        .await?;
        tx.commit().await?;
        tracing::debug!(source, ?report, "organisation changes applied");
        Ok(report)
    }

    /// After a full load: ends (on `today`) the synced units and users in force that the
    /// load did not give (whichever source loaded them before: a switch of sources leaves
    /// nothing behind); they are kept for history. How many of each.
    pub async fn end_missing_org(
        &self,
        units: &HashSet<String>,
        users: &HashSet<String>,
        today: &str,
    ) -> CaseResult<(usize, usize)> {
        let mut tx = self.begin().await?;
        let now = now_ms();
        let mut ended = [0usize; 2];
        for (k, (table, given)) in [("org_units", units), ("users", users)]
            .into_iter()
            .enumerate()
        {
            let ids: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM {table} WHERE source IS NOT NULL AND valid_to IS NULL"
            )))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("id"))
            .collect::<Result<_, _>>()?;
            for id in ids.iter().filter(|id| !given.contains(*id)) {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {table} SET valid_to = $1, synced_at = $2 WHERE id = $3"
                )))
                .bind(today)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                ended[k] += 1;
            }
        }
        tx.commit().await?;
        Ok((ended[0], ended[1]))
    }

    /// Keeps where `source`'s changes stand.
    pub async fn set_org_cursor(&self, source: &str, cursor: &str) -> CaseResult<()> {
        let mut conn = self.journal().pool().acquire().await?;
        sqlx::query(
            "INSERT INTO org_sync_state (source, cursor, synced_at) VALUES ($1, $2, $3) \
             ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, synced_at = excluded.synced_at",
        )
        .bind(source)
        .bind(cursor)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Where `source`'s changes stood at the last sync.
    pub async fn org_cursor(&self, source: &str) -> CaseResult<Option<String>> {
        let mut conn = self.journal().reader().acquire().await?;
        Ok(
            sqlx::query("SELECT cursor FROM org_sync_state WHERE source = $1")
                .bind(source)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get("cursor"))
                .transpose()?,
        )
    }

    /// The units and their parents in force on `day`, as (id, name, parent), ordered:
    /// the tree a source gave, to compare sources with.
    pub async fn org_tree(&self, day: &str) -> CaseResult<Vec<(String, String, Option<String>)>> {
        let mut conn = self.journal().reader().acquire().await?;
        sqlx::query(
            "SELECT id, name, parent_id FROM org_units WHERE (valid_from IS NULL OR valid_from <= $1) \
             AND (valid_to IS NULL OR valid_to > $1) ORDER BY id",
        )
        .bind(day)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?, r.try_get("parent_id")?)))
        .collect()
    }
}

/// The rows `select` (up to its `IN`) finds for `ids`, a chunk at a time.
async fn rows_of(
    conn: &mut sqlx::AnyConnection,
    select: &'static str,
    ids: &[&str],
) -> CaseResult<Vec<sqlx::any::AnyRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{select} IN ({})",
            marks.join(", ")
        )));
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

impl std::ops::AddAssign for OrgSyncReport {
    fn add_assign(&mut self, o: OrgSyncReport) {
        self.units += o.units;
        self.users += o.users;
        self.added_units += o.added_units;
        self.changed_units += o.changed_units;
        self.ended_units += o.ended_units;
        self.added_users += o.added_users;
        self.changed_users += o.changed_users;
        self.moved_users += o.moved_users;
        self.ended_users += o.ended_users;
    }
}

fn user_row(u: &OrgUserEntry, source: &str, now: i64) -> Vec<Value> {
    vec![
        Value::Text(u.id.clone()),
        Value::OptText(u.uuid.clone()),
        Value::Text(u.name.clone()),
        Value::Text(u.org_unit_id.clone()),
        Value::OptText(u.valid_from.clone()),
        Value::OptText(u.valid_to.clone()),
        Value::Text(source.into()),
        Value::Int(now),
    ]
}

/// What a letter names of the unit that sends it (the case's): its name, P-number and
/// address as the organisation's source gave them; `null` for a unit not known.
pub(crate) async fn sender_unit(
    conn: &mut sqlx::AnyConnection,
    org_unit_id: &str,
) -> CaseResult<serde_json::Value> {
    let row = sqlx::query("SELECT name, p_number, address FROM org_units WHERE id = $1")
        .bind(org_unit_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => serde_json::json!({
            "id": org_unit_id,
            "name": r.try_get::<String, _>("name")?,
            "p_number": r.try_get::<Option<String>, _>("p_number")?,
            "address": r.try_get::<Option<String>, _>("address")?,
        }),
        None => serde_json::Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, parent: Option<&str>) -> OrgUnitEntry {
        OrgUnitEntry {
            id: id.into(),
            name: id.into(),
            parent_id: parent.map(str::to_string),
            p_number: None,
            address: None,
            manager_id: None,
            valid_from: None,
            valid_to: None,
        }
    }

    #[test]
    fn parents_come_before_their_children() {
        let units = vec![
            unit("team", Some("dept")),
            unit("dept", Some("kk")),
            unit("kk", None),
        ];
        let order: Vec<&str> = depth_order(&units).iter().map(|u| u.id.as_str()).collect();
        assert_eq!(order, ["kk", "dept", "team"]);
    }
}
