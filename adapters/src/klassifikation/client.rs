//! Reads KLE from STS Klassifikation: soeg for the KLE facet's classes a page at a time,
//! list for the classes, through the `sts-service` client (an OIO IDWS SOAP 1.2 call
//! each, StandardRetur checked). The classes come back as the emneplan's
//! ([`KleClass`]): the parent by its number, what replaced a class from the successor's
//! Erstatter relation, and validity from the Virkning.

use std::collections::HashMap;

use knudepunkt_engine::environment::Endpoint;

use super::emneplan::{KleClass, Level};
use super::{ACTION, wire};
use crate::serviceplatformen::idws::Soap;
use crate::sts_service::StsServiceClient;

/// UUIDs a soeg asks for at a time, and classes a list.
const PAGE: usize = 1000;
const BATCH: usize = 250;

#[derive(Clone)]
pub struct KlassifikationClient {
    client: StsServiceClient,
    endpoint: Endpoint,
    facet: uuid::Uuid,
}

impl KlassifikationClient {
    /// The environment's endpoint `klassifikation`; its URL's query may name the KLE
    /// facet (`?facet=<uuid>`), else the sandbox's.
    pub fn for_environment(env: &knudepunkt_engine::Environment) -> Result<Self, String> {
        let endpoint = env
            .endpoints
            .get("klassifikation")
            .cloned()
            .ok_or_else(|| format!("the {} profile has no endpoint klassifikation", env.name))?;
        let facet = endpoint
            .url
            .split_once("facet=")
            .map(|(_, f)| {
                uuid::Uuid::parse_str(f.split('&').next().unwrap_or(f))
                    .map_err(|e| format!("endpoint klassifikation: facet {f:?}: {e}"))
            })
            .transpose()?
            .unwrap_or_else(super::kle_facet);
        Ok(KlassifikationClient {
            client: crate::sts_service_client(env),
            endpoint,
            facet,
        })
    }

    async fn ask(&self, body: &str) -> Result<String, String> {
        self.client
            .ask(&self.endpoint, ACTION, Soap::V12, body)
            .await
    }

    /// Every class of the KLE facet; `progress` hears (classes read, classes found).
    pub async fn kle(
        &self,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Vec<KleClass>, String> {
        let mut ids = Vec::new();
        loop {
            let page = wire::ids(&self.ask(&wire::soeg(&self.facet, ids.len(), PAGE)).await?)?;
            let n = page.len();
            ids.extend(page);
            if n < PAGE {
                break;
            }
        }
        let mut found = Vec::with_capacity(ids.len());
        for batch in ids.chunks(BATCH) {
            found.extend(wire::classes(&self.ask(&wire::list(batch)).await?)?);
            progress(found.len(), ids.len());
        }
        let number: HashMap<&str, &str> = found
            .iter()
            .map(|k| (k.uuid.as_str(), k.number.as_str()))
            .collect();
        let mut replaced_by: HashMap<String, String> = HashMap::new();
        for k in &found {
            for old in &k.replaces {
                if let Some(n) = number.get(old.as_str()) {
                    replaced_by.insert(n.to_string(), k.number.clone());
                }
            }
        }
        found
            .iter()
            .map(|k| {
                Ok(KleClass {
                    level: Level::of(&k.number).ok_or_else(|| {
                        format!("class {} has no KLE number ({:?})", k.uuid, k.number)
                    })?,
                    parent: k
                        .parent
                        .as_deref()
                        .and_then(|p| number.get(p).map(|n| n.to_string())),
                    created: k.from.clone(),
                    expired: k.to.clone(),
                    replaced_by: replaced_by.get(&k.number).cloned(),
                    number: k.number.clone(),
                    title: k.title.clone(),
                })
            })
            .collect()
    }
}
