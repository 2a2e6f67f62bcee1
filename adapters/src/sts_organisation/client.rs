//! Reads the organisation from STS Organisation: every OrganisationEnhed and
//! OrganisationFunktion, then the Bruger objects a batch at a time (soeg a page of UUIDs
//! at a time, list a batch at a time), put together as KK-ORG2's model: a unit's parent from Overordnet, its P-number from
//! Produktionsenhed, its manager from the Leder function; a user's engagements from
//! TilknyttedeEnheder with their Virkning; whom they substitute for from the
//! Stedfortræder function (the manager of its unit). Addresses are Adresse objects in
//! STS Organisation and are not read yet.

use std::collections::HashMap;

use knudepunkt_engine::environment::Endpoint;

use super::wire::{self, Objekt};
use super::{Kind, LEDER, STEDFORTRAEDER};
use crate::kkorg::model::{Engagement, Enhed, Medarbejder};
use crate::serviceplatformen::idws::Soap;
use crate::sts_service::StsServiceClient;

const PAGE: usize = 1000;
const BATCH: usize = 100;

#[derive(Clone)]
pub struct StsOrganisationClient {
    client: StsServiceClient,
    endpoint: Endpoint,
}

impl StsOrganisationClient {
    /// The profile's endpoint `sts-organisation`: its URL is the services' base
    /// (`.../organisation`), each service under it (`organisationenhed/6`, ...).
    pub fn for_environment(env: &knudepunkt_engine::Environment) -> Result<Self, String> {
        let endpoint = env
            .endpoints
            .get("sts-organisation")
            .cloned()
            .ok_or_else(|| format!("the {} profile has no endpoint sts-organisation", env.name))?;
        Ok(StsOrganisationClient {
            client: crate::sts_service_client(env),
            endpoint,
        })
    }

    async fn ask(&self, kind: Kind, body: &str) -> Result<String, String> {
        let mut endpoint = self.endpoint.clone();
        endpoint.url = format!(
            "{}/{}",
            self.endpoint.url.trim_end_matches('/'),
            kind.path()
        );
        self.client
            .ask(&endpoint, kind.action(), Soap::V12, body)
            .await
    }

    /// The UUIDs of every object of `kind`.
    async fn ids(&self, kind: Kind) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        loop {
            let page = crate::sts_service::objekt::ids(
                &self.ask(kind, &wire::soeg(kind, ids.len(), PAGE)).await?,
            )?;
            let n = page.len();
            ids.extend(page);
            if n < PAGE {
                break;
            }
        }
        Ok(ids)
    }

    async fn all(
        &self,
        kind: Kind,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Objekt>, String> {
        let ids = self.ids(kind).await?;
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(BATCH) {
            out.extend(wire::objects(
                kind,
                &self.ask(kind, &wire::list(kind, batch)).await?,
            )?);
            progress(out.len());
        }
        Ok(out)
    }

    /// Every unit (with its manager), and what reading the users then needs; `progress`
    /// hears objects read. The managers are read first, so that a unit names its manager
    /// by user id and the users can then be taken a batch at a time.
    pub async fn units(
        &self,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(Vec<Enhed>, UserRead), String> {
        let units = self.all(Kind::Enhed, progress).await?;
        let read = units.len();
        let functions = self.all(Kind::Funktion, &|n| progress(read + n)).await?;
        let unit_key: HashMap<String, String> = units
            .iter()
            .map(|u| (u.uuid.clone(), u.key.clone()))
            .collect();
        let today = chrono::Utc::now().date_naive().to_string();
        let in_force = |f: &Objekt| f.until.as_deref().is_none_or(|u| u > today.as_str());
        let pair = |f: &Objekt| -> Option<(String, String)> {
            let u = f.related("TilknyttedeBrugere").next()?;
            let e = f.related("TilknyttedeEnheder").next()?;
            Some((u.to.clone(), unit_key.get(e.to.as_str())?.clone()))
        };
        // By user UUID: a unit's manager, and whom a user substitutes for.
        let mut leader: HashMap<String, String> = HashMap::new();
        for f in functions.iter().filter(|f| in_force(f) && f.name == LEDER) {
            if let Some((user, unit)) = pair(f) {
                leader.insert(unit, user);
            }
        }
        let mut substitutes: HashMap<String, Vec<String>> = HashMap::new();
        for f in functions
            .iter()
            .filter(|f| in_force(f) && f.name == STEDFORTRAEDER)
        {
            if let Some((user, unit)) = pair(f)
                && let Some(l) = leader.get(&unit)
            {
                substitutes.entry(user).or_default().push(l.clone());
            }
        }
        drop(functions);
        // The managers' user ids.
        let mut managers: Vec<String> = leader.values().cloned().collect();
        managers.sort();
        managers.dedup();
        let mut user_key: HashMap<String, String> = HashMap::new();
        for batch in managers.chunks(BATCH) {
            let answer = self
                .ask(Kind::Bruger, &wire::list(Kind::Bruger, batch))
                .await?;
            for m in wire::objects(Kind::Bruger, &answer)? {
                user_key.insert(m.uuid, m.key);
            }
        }
        for leaders in substitutes.values_mut() {
            for l in leaders.iter_mut() {
                if let Some(k) = user_key.get(l.as_str()) {
                    l.clone_from(k);
                }
            }
        }
        let enheder = units
            .iter()
            .map(|u| Enhed {
                overordnet: u
                    .related("Overordnet")
                    .next()
                    .and_then(|r| unit_key.get(r.to.as_str()).cloned()),
                pnummer: u
                    .related("Produktionsenhed")
                    .next()
                    .and_then(|r| r.to.rsplit(':').next().map(str::to_string)),
                adresse: None,
                leder: leader
                    .get(&u.key)
                    .and_then(|l| user_key.get(l.as_str()).cloned()),
                id: u.key.clone(),
                navn: u.name.clone(),
                gyldig_fra: u.from.clone().unwrap_or_default(),
                gyldig_til: u.until.clone(),
            })
            .collect();
        let ids = self.ids(Kind::Bruger).await?;
        Ok((
            enheder,
            UserRead {
                ids,
                next: 0,
                unit_key,
                substitutes,
            },
        ))
    }

    /// The next batch of users, or `None` when all are read.
    pub async fn users(&self, read: &mut UserRead) -> Result<Option<Vec<Medarbejder>>, String> {
        let Some(batch) = read
            .ids
            .get(read.next..(read.next + BATCH).min(read.ids.len()))
        else {
            return Ok(None);
        };
        if batch.is_empty() {
            return Ok(None);
        }
        read.next += batch.len();
        let answer = self
            .ask(Kind::Bruger, &wire::list(Kind::Bruger, batch))
            .await?;
        Ok(Some(
            wire::objects(Kind::Bruger, &answer)?
                .into_iter()
                .map(|m| Medarbejder {
                    engagementer: m
                        .related("TilknyttedeEnheder")
                        .filter_map(|r| {
                            Some(Engagement {
                                enhed: read.unit_key.get(r.to.as_str())?.clone(),
                                stilling: None,
                                gyldig_fra: r.from.clone().unwrap_or_default(),
                                gyldig_til: r.until.clone(),
                            })
                        })
                        .collect(),
                    stedfortraeder_for: read.substitutes.remove(&m.uuid).unwrap_or_default(),
                    id: m.key,
                    uuid: Some(m.uuid),
                    navn: m.name,
                    gyldig_fra: m.from.unwrap_or_default(),
                    gyldig_til: m.until,
                })
                .collect(),
        ))
    }
}

/// What reading the users a batch at a time needs: their UUIDs, the units' ids by UUID,
/// and whom each user (by UUID) substitutes for (by user id).
pub struct UserRead {
    ids: Vec<String>,
    next: usize,
    unit_key: HashMap<String, String>,
    substitutes: HashMap<String, Vec<String>>,
}
