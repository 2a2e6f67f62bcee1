//! Reads the organisation from STS Organisation: every OrganisationEnhed, Bruger and
//! OrganisationFunktion (soeg a page of UUIDs at a time, list a batch at a time), put
//! together as KK-ORG2's model: a unit's parent from Overordnet, its P-number from
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
            let page = crate::klassifikation::wire::ids(
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

    /// The whole organisation as KK-ORG2's model; `progress` hears objects read. The
    /// users are taken a batch at a time into the model; managers and substitutes,
    /// which name users by UUID, are put by their user ids at the end.
    pub async fn organisation(
        &self,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(Vec<Enhed>, Vec<Medarbejder>), String> {
        let units = self.all(Kind::Enhed, progress).await?;
        let read = units.len();
        let functions = self.all(Kind::Funktion, &|n| progress(read + n)).await?;
        let read = read + functions.len();
        let unit_key: HashMap<String, String> = units
            .iter()
            .map(|u| (u.uuid.clone(), u.key.clone()))
            .collect();
        let today = chrono::Utc::now().date_naive().to_string();
        let in_force = |f: &Objekt| f.until.as_deref().is_none_or(|u| u > today.as_str());
        // By UUID until the users are read: a unit's manager, whom a user substitutes.
        let pair = |f: &Objekt| -> Option<(String, String)> {
            let u = f.related("TilknyttedeBrugere").next()?;
            let e = f.related("TilknyttedeEnheder").next()?;
            Some((u.to.clone(), unit_key.get(e.to.as_str())?.clone()))
        };
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
        let mut user_key: HashMap<String, String> = HashMap::new();
        let mut medarbejdere = Vec::new();
        let ids = self.ids(Kind::Bruger).await?;
        for batch in ids.chunks(BATCH) {
            let answer = self
                .ask(Kind::Bruger, &wire::list(Kind::Bruger, batch))
                .await?;
            for m in wire::objects(Kind::Bruger, &answer)? {
                user_key.insert(m.uuid.clone(), m.key.clone());
                medarbejdere.push(Medarbejder {
                    engagementer: m
                        .related("TilknyttedeEnheder")
                        .filter_map(|r| {
                            Some(Engagement {
                                enhed: unit_key.get(r.to.as_str())?.clone(),
                                stilling: None,
                                gyldig_fra: r.from.clone().unwrap_or_default(),
                                gyldig_til: r.until.clone(),
                            })
                        })
                        .collect(),
                    stedfortraeder_for: substitutes.remove(&m.uuid).unwrap_or_default(),
                    id: m.key,
                    uuid: Some(m.uuid),
                    navn: m.name,
                    gyldig_fra: m.from.unwrap_or_default(),
                    gyldig_til: m.until,
                });
            }
            progress(read + medarbejdere.len());
        }
        for m in &mut medarbejdere {
            for s in &mut m.stedfortraeder_for {
                if let Some(k) = user_key.get(s.as_str()) {
                    s.clone_from(k);
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
        Ok((enheder, medarbejdere))
    }
}
