//! The organisation into the case core from either source: KK-ORG2 through KKI (a full
//! load, or the changes since the last) or STS Organisation (a full load). Both give
//! KK-ORG2's model, turned here into what the core keeps, so the same people and units
//! come out.

use std::collections::HashSet;

use knudepunkt_adapters::kkorg::KkOrgClient;
use knudepunkt_adapters::kkorg::model::{Enhed, Medarbejder, engagement_on};
use knudepunkt_adapters::sts_organisation::StsOrganisationClient;
use knudepunkt_case::CaseCore;
use knudepunkt_case::org_sync::{OrgSnapshot, OrgSyncReport, OrgUnitEntry, OrgUserEntry};

/// The sources' names in the core.
pub const SOURCE: &str = "kk-org2";
pub const STS_SOURCE: &str = "sts-organisation";

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

/// A full load's units, then its users a page at a time, then what the source no longer
/// has is ended; the report of it all.
struct FullLoad<'a> {
    core: &'a CaseCore,
    source: &'static str,
    today: &'a str,
    report: OrgSyncReport,
    units: HashSet<String>,
    users: HashSet<String>,
}

impl<'a> FullLoad<'a> {
    async fn units(
        core: &'a CaseCore,
        source: &'static str,
        today: &'a str,
        units: Vec<Enhed>,
    ) -> Result<Self, String> {
        let ids = units.iter().map(|u| u.id.clone()).collect();
        let report = core
            .sync_org(source, &snapshot(units, Vec::new(), today))
            .await
            .map_err(|e| e.to_string())?;
        Ok(FullLoad {
            core,
            source,
            today,
            report,
            units: ids,
            users: HashSet::new(),
        })
    }

    async fn users(&mut self, people: Vec<Medarbejder>) -> Result<(), String> {
        self.users.extend(people.iter().map(|m| m.id.clone()));
        self.report += self
            .core
            .sync_org(self.source, &snapshot(Vec::new(), people, self.today))
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn finish(mut self) -> Result<OrgSyncReport, String> {
        let (units, users) = self
            .core
            .end_missing_org(&self.units, &self.users, self.today)
            .await
            .map_err(|e| e.to_string())?;
        self.report.ended_units += units;
        self.report.ended_users += users;
        Ok(self.report)
    }
}

/// A full load from KK-ORG2: every unit, then the employees a page at a time; what the
/// register no longer has is ended. `progress` hears the rows applied.
pub async fn full(
    core: &CaseCore,
    client: &KkOrgClient,
    today: &str,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<OrgSyncReport, String> {
    let (units, cursor) = client.units().await.map_err(|e| e.to_string())?;
    let mut load = FullLoad::units(core, SOURCE, today, units).await?;
    progress(load.report.units);
    let mut side = Some(0);
    while let Some(n) = side {
        let (people, next) = client.employees(n).await.map_err(|e| e.to_string())?;
        load.users(people).await?;
        progress(load.report.units + load.report.users);
        side = next;
    }
    let report = load.finish().await?;
    core.set_org_cursor(SOURCE, &cursor)
        .await
        .map_err(|e| e.to_string())?;
    Ok(report)
}

/// A full load from STS Organisation (which has no change feed here: every run is a
/// full load, and only what changed is written).
pub async fn full_from_sts(
    core: &CaseCore,
    client: &StsOrganisationClient,
    today: &str,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<OrgSyncReport, String> {
    let (units, mut read) = client.units(progress).await?;
    let mut load = FullLoad::units(core, STS_SOURCE, today, units).await?;
    // Applied 2,000 users at a time, as they are read.
    let mut page = Vec::new();
    while let Some(people) = client.users(&mut read).await? {
        page.extend(people);
        if page.len() >= 2000 {
            load.users(std::mem::take(&mut page)).await?;
            progress(load.report.units + load.report.users);
        }
    }
    load.users(page).await?;
    load.finish().await
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
