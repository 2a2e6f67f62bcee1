//! The organisation from KK-ORG2 (through KKI) into the case core: the register's units
//! and employees as the core keeps them, a full load or the changes since the last.

use std::collections::HashSet;

use knudepunkt_adapters::kkorg::KkOrgClient;
use knudepunkt_adapters::kkorg::model::{Enhed, Medarbejder, engagement_on};
use knudepunkt_case::CaseCore;
use knudepunkt_case::org_sync::{OrgSnapshot, OrgSyncReport, OrgUnitEntry, OrgUserEntry};

/// The source's name in the core.
pub const SOURCE: &str = "kk-org2";

pub fn unit(e: Enhed) -> OrgUnitEntry {
    OrgUnitEntry {
        id: e.id,
        name: e.navn,
        parent_id: e.overordnet,
        p_number: e.pnummer,
        address: e.adresse,
        manager_id: e.leder,
        valid_from: Some(e.gyldig_fra),
        valid_to: e.gyldig_til,
    }
}

/// The user, in the unit of their engagement in force on `today` (or their latest);
/// without one in force or to come, they have left when their last ended.
pub fn user(m: Medarbejder, today: &str) -> Option<OrgUserEntry> {
    let now = engagement_on(&m, today);
    let latest = m
        .engagementer
        .iter()
        .max_by(|a, b| a.gyldig_fra.cmp(&b.gyldig_fra))?;
    let coming = m.engagementer.iter().any(|e| e.gyldig_fra.as_str() > today);
    let valid_to = match (&m.gyldig_til, now, coming) {
        (Some(t), _, _) => Some(t.clone()),
        (None, None, false) => m
            .engagementer
            .iter()
            .filter_map(|e| e.gyldig_til.clone())
            .max(),
        _ => None,
    };
    Some(OrgUserEntry {
        org_unit_id: now.unwrap_or(latest).enhed.clone(),
        id: m.id,
        uuid: m.uuid,
        name: m.navn,
        valid_from: Some(m.gyldig_fra),
        valid_to,
        substitutes_for: m.stedfortraeder_for,
    })
}

fn snapshot(units: Vec<Enhed>, people: Vec<Medarbejder>, today: &str) -> OrgSnapshot {
    OrgSnapshot {
        units: units.into_iter().map(unit).collect(),
        users: people.into_iter().filter_map(|m| user(m, today)).collect(),
    }
}

/// A full load: every unit, then the employees a page at a time; what the register no
/// longer has is ended. `progress` hears the rows applied.
pub async fn full(
    core: &CaseCore,
    client: &KkOrgClient,
    today: &str,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<OrgSyncReport, String> {
    let (units, cursor) = client.units().await.map_err(|e| e.to_string())?;
    let unit_ids: HashSet<String> = units.iter().map(|u| u.id.clone()).collect();
    let mut report = core
        .sync_org(SOURCE, &snapshot(units, Vec::new(), today))
        .await
        .map_err(|e| e.to_string())?;
    progress(report.units);
    let mut user_ids = HashSet::new();
    let mut side = Some(0);
    while let Some(n) = side {
        let (people, next) = client.employees(n).await.map_err(|e| e.to_string())?;
        user_ids.extend(people.iter().map(|m| m.id.clone()));
        report += core
            .sync_org(SOURCE, &snapshot(Vec::new(), people, today))
            .await
            .map_err(|e| e.to_string())?;
        progress(report.units + report.users);
        side = next;
    }
    let (ended_units, ended_users) = core
        .end_missing_org(SOURCE, &unit_ids, &user_ids, today)
        .await
        .map_err(|e| e.to_string())?;
    report.ended_units += ended_units;
    report.ended_users += ended_users;
    core.set_org_cursor(SOURCE, &cursor)
        .await
        .map_err(|e| e.to_string())?;
    Ok(report)
}

/// The changes since the last sync (a full load when there has been none).
pub async fn delta(
    core: &CaseCore,
    client: &KkOrgClient,
    today: &str,
) -> Result<OrgSyncReport, String> {
    let Some(cursor) = core.org_cursor(SOURCE).await.map_err(|e| e.to_string())? else {
        return full(core, client, today, &|_| {}).await;
    };
    let changes = client.changes(&cursor).await.map_err(|e| e.to_string())?;
    let report = core
        .sync_org(
            SOURCE,
            &snapshot(changes.enheder, changes.medarbejdere, today),
        )
        .await
        .map_err(|e| e.to_string())?;
    core.set_org_cursor(SOURCE, &changes.cursor)
        .await
        .map_err(|e| e.to_string())?;
    Ok(report)
}
