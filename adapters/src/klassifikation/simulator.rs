//! The sandbox's STS Klassifikation (the Klasse service, SOAP 1.2): soeg and list over
//! the KLE emneplan it is seeded with (KL's published plan from the reference data),
//! through the STS services' front desk (token, signature, schema, StandardRetur). A
//! test can change the plan: a class added, one expired.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;

use super::emneplan::KleClass;
use super::{ENTITY_ID, NS, PATH, kle_facet, uuid_of, wire};
use crate::sandbox::control_router;
use crate::serviceplatformen::security::dom::{Document, Element};
use crate::sts::simulator::StsSimulator;
use crate::sts_service::retur::SAGDOK_NS;
use crate::sts_service::service::{Refusal, ServiceDesk};

#[derive(Default)]
struct Plan {
    classes: Vec<KleClass>,
    by_uuid: HashMap<String, usize>,
    /// A class's number → the numbers of the classes it replaced.
    replaced: HashMap<String, Vec<String>>,
}

impl Plan {
    fn of(classes: Vec<KleClass>) -> Plan {
        let mut plan = Plan::default();
        for c in classes {
            plan.put(c);
        }
        plan
    }

    fn put(&mut self, c: KleClass) {
        if let Some(new) = &c.replaced_by {
            self.replaced
                .entry(new.clone())
                .or_default()
                .push(c.number.clone());
        }
        let uuid = uuid_of(&c.number).to_string();
        match self.by_uuid.get(&uuid) {
            Some(&i) => self.classes[i] = c,
            None => {
                self.by_uuid.insert(uuid, self.classes.len());
                self.classes.push(c);
            }
        }
    }
}

/// A class of the municipality's own (imported), as the sandbox holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalClass {
    pub key: String,
    pub title: String,
    pub facet: Option<String>,
    pub parent: Option<String>,
    pub imports: u32,
}

#[derive(Clone)]
pub struct KlassifikationSimulator {
    pub desk: ServiceDesk,
    plan: Arc<RwLock<Plan>>,
    local: Arc<RwLock<HashMap<String, LocalClass>>>,
}

/// The text of the first `local` in the sagdok namespace under `e`.
fn sd_text(e: &Element, local: &str) -> Option<String> {
    e.elements()
        .find(|c| c.local == local)
        .map(|c| c.text().trim().to_string())
}

impl KlassifikationSimulator {
    /// `schema` is the Klasse operations' XSD; `emneplan` the plan it is seeded from.
    pub fn new(sts: StsSimulator, schema: Option<PathBuf>, emneplan: Option<&Path>) -> Self {
        let classes = emneplan
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|xml| match super::emneplan::read(&xml) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "the sandbox's KLE emneplan does not read");
                    None
                }
            })
            .unwrap_or_default();
        KlassifikationSimulator {
            desk: ServiceDesk::new(sts, ENTITY_ID, NS, schema),
            plan: Arc::new(RwLock::new(Plan::of(classes))),
            local: Default::default(),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(PATH, post(operation))
            .with_state(self.clone())
            .nest(
                "/klassifikation/_sandbox",
                control_router(self.desk.recorder.clone(), self.desk.faults.clone()),
            )
    }

    /// How many classes the plan has.
    pub fn count(&self) -> usize {
        self.plan.read().expect("plan").classes.len()
    }

    /// Adds a class, or changes the one with its number.
    pub fn put(&self, class: KleClass) {
        self.plan.write().expect("plan").put(class);
    }

    /// Takes class `number` out of the plan (as if Klassifikation no longer had it).
    pub fn remove(&self, number: &str) {
        let mut plan = self.plan.write().expect("plan");
        let classes: Vec<KleClass> = plan
            .classes
            .drain(..)
            .filter(|c| c.number != number)
            .collect();
        *plan = Plan::of(classes);
    }

    /// The municipality's own class imported under `uuid`.
    pub fn local_class(&self, uuid: &str) -> Option<LocalClass> {
        self.local.read().expect("local").get(uuid).cloned()
    }

    /// Klasse import: the municipality's own class, created or overwritten.
    fn import(&self, root: &Element) -> Result<String, Refusal> {
        let klasse = root
            .elements_named("Klasse")
            .next()
            .ok_or_else(|| Refusal("ImportInput uden Klasse".into()))?;
        let uuid = sd_text(klasse, "UUIDIdentifikator")
            .ok_or_else(|| Refusal("Klasse uden UUIDIdentifikator".into()))?;
        let r = klasse
            .elements_named("Registrering")
            .last()
            .ok_or_else(|| Refusal("Klasse uden Registrering".into()))?;
        let egenskab = r
            .elements_named("AttributListe")
            .next()
            .and_then(|a| a.elements_named("Egenskab").next())
            .ok_or_else(|| Refusal("Klasse uden Egenskab".into()))?;
        let related = |local: &str| {
            r.elements_named("RelationListe")
                .next()
                .and_then(|l| l.elements_named(local).next())
                .and_then(|x| x.elements_named("ReferenceID").next())
                .and_then(|x| sd_text(x, "UUIDIdentifikator"))
        };
        let class = LocalClass {
            key: egenskab
                .text_at(&["BrugervendtNoegleTekst"])
                .ok_or_else(|| Refusal("Klasse uden BrugervendtNoegleTekst".into()))?,
            title: egenskab.text_at(&["TitelTekst"]).unwrap_or_default(),
            facet: related("Facet"),
            parent: related("OverordnetKlasse"),
            imports: 0,
        };
        let mut local = self.local.write().expect("local");
        let imports = local.get(&uuid).map_or(0, |c| c.imports) + 1;
        local.insert(uuid, LocalClass { imports, ..class });
        Ok(String::new())
    }

    /// The class `number`, as the plan has it.
    pub fn class(&self, number: &str) -> Option<KleClass> {
        let plan = self.plan.read().expect("plan");
        plan.by_uuid
            .get(&uuid_of(number).to_string())
            .map(|&i| plan.classes[i].clone())
    }

    fn soeg(&self, root: &Element) -> String {
        let facet = root
            .elements_named("RelationListe")
            .next()
            .and_then(|r| r.elements_named("Facet").next())
            .and_then(|f| f.elements_named("ReferenceID").next())
            .and_then(|r| sd_text(r, "UUIDIdentifikator"));
        let first: usize = sd_text(root, "FoersteResultatReference")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let max: usize = sd_text(root, "MaksimalAntalKvantitet")
            .and_then(|t| t.parse().ok())
            .unwrap_or(500);
        let ids: String = if facet.as_deref() == Some(kle_facet().to_string().as_str()) {
            let plan = self.plan.read().expect("plan");
            plan.classes
                .iter()
                .skip(first)
                .take(max)
                .map(|c| {
                    format!(
                        "<sd:UUIDIdentifikator>{}</sd:UUIDIdentifikator>",
                        uuid_of(&c.number)
                    )
                })
                .collect()
        } else {
            String::new()
        };
        format!(r#"<sd:IdListe xmlns:sd="{SAGDOK_NS}">{ids}</sd:IdListe>"#)
    }

    fn list(&self, root: &Element) -> String {
        let plan = self.plan.read().expect("plan");
        let facet = kle_facet();
        root.elements_named("UUIDIdentifikator")
            .filter_map(|u| plan.by_uuid.get(u.text().trim()))
            .map(|&i| {
                let c = &plan.classes[i];
                let replaced: Vec<&str> = plan
                    .replaced
                    .get(&c.number)
                    .map(|v| v.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                wire::filtreret(c, &facet, &replaced)
            })
            .collect()
    }
}

async fn operation(
    State(sim): State<KlassifikationSimulator>,
    body: axum::body::Bytes,
) -> Response {
    sim.desk
        .handle(&body, |doc: &Document| {
            let root = doc
                .at(&[])
                .ok_or_else(|| Refusal("tom forespørgsel".into()))?;
            match root.local.as_str() {
                "SoegInput" => Ok(sim.soeg(root)),
                "ListInput" => Ok(sim.list(root)),
                "ImportInput" => sim.import(root),
                other => Err(Refusal(format!(
                    "Klasse-servicen har ingen operation {other}"
                ))),
            }
        })
        .await
}
