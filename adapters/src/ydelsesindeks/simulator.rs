//! The sandbox's Ydelsesindeks: importer and opdater as OIO IDWS SOAP 1.2 calls,
//! checked, validated against Knudepunkt's model of the schema, deduplicated by
//! TransactionUUID and answered with StandardRetur like every STS service (the
//! `ServiceDesk`); faults on request. Its content is shared with the Sags- og
//! dokumentindeks simulator, which removes a case's benefits on fjern with
//! FjernOgsaaYdelse and shows them in SAPA's search.

use std::path::PathBuf;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;

use super::model::{Benefit, SharedBenefits};
use super::{ENTITY_ID, NS, PATH};
use crate::sandbox::control_router;
use crate::sts::simulator::StsSimulator;
use crate::sts_service::service::{Refusal, ServiceDesk};

#[derive(Clone)]
pub struct YdelsesIndeksSimulator {
    pub desk: ServiceDesk,
    pub benefits: SharedBenefits,
}

impl YdelsesIndeksSimulator {
    /// `schema` is the model XSD (`mappings/ydelsesindeks/YdelseIndeks.xsd`).
    pub fn new(sts: StsSimulator, schema: Option<PathBuf>) -> Self {
        YdelsesIndeksSimulator {
            desk: ServiceDesk::new(sts, ENTITY_ID, NS, schema),
            benefits: SharedBenefits::default(),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(PATH, post(operation))
            .with_state(self.clone())
            .nest(
                "/ydelsesindeks/_sandbox",
                control_router(self.desk.recorder.clone(), self.desk.faults.clone()),
            )
    }

    pub fn benefit(&self, uuid: &str) -> Option<Benefit> {
        self.benefits
            .read()
            .expect("benefits")
            .by_uuid
            .get(uuid)
            .cloned()
    }

    pub fn count(&self) -> usize {
        self.benefits.read().expect("benefits").by_uuid.len()
    }
}

async fn operation(State(sim): State<YdelsesIndeksSimulator>, body: axum::body::Bytes) -> Response {
    sim.desk
        .handle(&body, |doc| {
            let root = doc
                .at(&[])
                .ok_or_else(|| Refusal("tom forespørgsel".into()))?;
            sim.benefits
                .write()
                .expect("benefits")
                .apply(root)
                .map(|()| String::new())
        })
        .await
}
