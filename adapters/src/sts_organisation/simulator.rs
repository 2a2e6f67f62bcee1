//! The sandbox's STS Organisation: OrganisationEnhed, Bruger and OrganisationFunktion,
//! soeg and list through the STS services' front desk (token, signature, schema,
//! StandardRetur), over the same organisation as the sandbox's KK-ORG2 (the
//! municipality keeps STS Organisation fed from its own register), so a reorganisation
//! there shows here too.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::response::Response;
use axum::routing::post;

use super::wire::{filtreret, relation, relation_urn, virkning};
use super::{BASE, ENTITY_ID, Kind, LEDER, STEDFORTRAEDER, p_number_urn, uuid_of};
use crate::kkorg::generator::Organisation;
use crate::kkorg::simulator::KkOrgSimulator;
use crate::serviceplatformen::security::dom::{Document, Element};
use crate::sts::simulator::StsSimulator;
use crate::sts_service::retur::SAGDOK_NS;
use crate::sts_service::service::{Refusal, ServiceDesk};

/// A function: (key, name, user id, unit id).
type Funktion = (String, &'static str, String, String);

/// The objects' UUIDs in order, by kind, and where each is in the organisation.
#[derive(Default)]
struct Index {
    version: u64,
    units: Vec<String>,
    users: Vec<String>,
    functions: Vec<String>,
    unit_at: HashMap<String, usize>,
    user_at: HashMap<String, usize>,
    function_at: HashMap<String, Funktion>,
}

fn build(org: &Organisation, version: u64) -> Index {
    let mut ix = Index {
        version,
        ..Default::default()
    };
    for (i, u) in org.enheder.iter().enumerate() {
        let id = uuid_of("enhed", &u.id).to_string();
        ix.unit_at.insert(id.clone(), i);
        ix.units.push(id);
    }
    let mut led: HashMap<&str, Vec<&str>> = HashMap::new();
    for u in &org.enheder {
        if let Some(l) = &u.leder {
            let key = format!("leder:{}", u.id);
            let id = uuid_of("funktion", &key).to_string();
            ix.function_at
                .insert(id.clone(), (key, LEDER, l.clone(), u.id.clone()));
            ix.functions.push(id);
            led.entry(l.as_str()).or_default().push(u.id.as_str());
        }
    }
    for (i, m) in org.medarbejdere.iter().enumerate() {
        let id = uuid_of("bruger", &m.id).to_string();
        ix.user_at.insert(id.clone(), i);
        ix.users.push(id);
        for leader in &m.stedfortraeder_for {
            let units = led.get(leader.as_str()).cloned().unwrap_or_default();
            let unit = units
                .iter()
                .find(|u| m.engagementer.iter().any(|e| e.enhed == **u))
                .or(units.first());
            if let Some(unit) = unit {
                let key = format!("stedfortraeder:{}:{unit}", m.id);
                let fid = uuid_of("funktion", &key).to_string();
                ix.function_at.insert(
                    fid.clone(),
                    (key, STEDFORTRAEDER, m.id.clone(), unit.to_string()),
                );
                ix.functions.push(fid);
            }
        }
    }
    ix
}

#[derive(Clone)]
pub struct StsOrganisationSimulator {
    desks: Arc<HashMap<&'static str, ServiceDesk>>,
    register: KkOrgSimulator,
    index: Arc<RwLock<Option<Index>>>,
}

const KINDS: [Kind; 3] = [Kind::Enhed, Kind::Bruger, Kind::Funktion];

fn in_force(until: Option<&str>) -> bool {
    let today = chrono::Utc::now().date_naive().to_string();
    until.is_none_or(|u| u > today.as_str())
}

impl StsOrganisationSimulator {
    /// `schemas` is the reference data's folder; `register` the KK-ORG2 it mirrors.
    pub fn new(sts: StsSimulator, schemas: Option<&Path>, register: KkOrgSimulator) -> Self {
        let desks = KINDS
            .iter()
            .map(|k| {
                (
                    k.path(),
                    ServiceDesk::new(
                        sts.clone(),
                        ENTITY_ID,
                        k.ns(),
                        schemas.map(|d| d.join(k.xsd())).filter(|p| p.is_file()),
                    ),
                )
            })
            .collect();
        StsOrganisationSimulator {
            desks: Arc::new(desks),
            register,
            index: Default::default(),
        }
    }

    pub fn router(&self) -> Router {
        let mut r = Router::new();
        for k in KINDS {
            let sim = self.clone();
            r = r.route(
                &format!("{BASE}/{}", k.path()),
                post(move |body: axum::body::Bytes| {
                    let sim = sim.clone();
                    async move { operation(sim, k, body).await }
                }),
            );
        }
        r
    }

    /// The desk of `kind` (its recorder and faults).
    pub fn desk(&self, kind: Kind) -> &ServiceDesk {
        &self.desks[kind.path()]
    }

    fn with_index<R>(&self, f: impl FnOnce(&Index, &Organisation) -> R) -> R {
        let version = self.register.version();
        let stale = self
            .index
            .read()
            .expect("index")
            .as_ref()
            .is_none_or(|i| i.version != version);
        if stale {
            let built = self.register.with_organisation(|org| build(org, version));
            *self.index.write().expect("index") = Some(built);
        }
        let index = self.index.read().expect("index");
        let index = index.as_ref().expect("built");
        self.register.with_organisation(|org| f(index, org))
    }

    fn soeg(&self, kind: Kind, root: &Element) -> String {
        let text = |local: &str| {
            root.elements()
                .find(|c| c.local == local)
                .and_then(|c| c.text().trim().parse::<usize>().ok())
        };
        let first = text("FoersteResultatReference").unwrap_or(0);
        let max = text("MaksimalAntalKvantitet").unwrap_or(500);
        let ids: String = self.with_index(|ix, _| {
            let all = match kind {
                Kind::Enhed => &ix.units,
                Kind::Bruger => &ix.users,
                Kind::Funktion => &ix.functions,
            };
            all.iter()
                .skip(first)
                .take(max)
                .map(|u| format!("<sd:UUIDIdentifikator>{u}</sd:UUIDIdentifikator>"))
                .collect()
        });
        format!(r#"<sd:IdListe xmlns:sd="{SAGDOK_NS}">{ids}</sd:IdListe>"#)
    }

    fn list(&self, kind: Kind, root: &Element) -> String {
        let wanted: Vec<String> = root
            .elements_named("UUIDIdentifikator")
            .map(|u| u.text().trim().to_string())
            .collect();
        self.with_index(|ix, org| {
            wanted
                .iter()
                .filter_map(|id| {
                    let uuid = uuid::Uuid::parse_str(id).ok()?;
                    match kind {
                        Kind::Enhed => {
                            let u = &org.enheder[*ix.unit_at.get(id)?];
                            let v = virkning(&u.gyldig_fra, u.gyldig_til.as_deref());
                            let mut rels = String::new();
                            if let Some(p) = &u.overordnet {
                                rels.push_str(&relation("Overordnet", &v, &uuid_of("enhed", p)));
                            }
                            if let Some(p) = &u.pnummer {
                                rels.push_str(&relation_urn(
                                    "Produktionsenhed",
                                    &v,
                                    &p_number_urn(p),
                                ));
                            }
                            Some(filtreret(
                                kind,
                                &uuid,
                                &u.id,
                                &u.navn,
                                &v,
                                in_force(u.gyldig_til.as_deref()),
                                &rels,
                            ))
                        }
                        Kind::Bruger => {
                            let m = &org.medarbejdere[*ix.user_at.get(id)?];
                            let v = virkning(&m.gyldig_fra, m.gyldig_til.as_deref());
                            let rels: String = m
                                .engagementer
                                .iter()
                                .map(|e| {
                                    relation(
                                        "TilknyttedeEnheder",
                                        &virkning(&e.gyldig_fra, e.gyldig_til.as_deref()),
                                        &uuid_of("enhed", &e.enhed),
                                    )
                                })
                                .collect();
                            Some(filtreret(
                                kind,
                                &uuid,
                                &m.id,
                                &m.navn,
                                &v,
                                in_force(m.gyldig_til.as_deref()),
                                &rels,
                            ))
                        }
                        Kind::Funktion => {
                            let (key, name, user, unit) = ix.function_at.get(id)?;
                            let v = virkning("2020-01-01", None);
                            let rels = format!(
                                "{}{}",
                                relation("TilknyttedeBrugere", &v, &uuid_of("bruger", user)),
                                relation("TilknyttedeEnheder", &v, &uuid_of("enhed", unit))
                            );
                            Some(filtreret(kind, &uuid, key, name, &v, true, &rels))
                        }
                    }
                })
                .collect()
        })
    }
}

async fn operation(sim: StsOrganisationSimulator, kind: Kind, body: axum::body::Bytes) -> Response {
    let desk = sim.desk(kind).clone();
    desk.handle(&body, |doc: &Document| {
        let root = doc
            .at(&[])
            .ok_or_else(|| Refusal("tom forespørgsel".into()))?;
        match root.local.as_str() {
            "SoegInput" => Ok(sim.soeg(kind, root)),
            "ListInput" => Ok(sim.list(kind, root)),
            other => Err(Refusal(format!("servicen har ingen operation {other}"))),
        }
    })
    .await
}
