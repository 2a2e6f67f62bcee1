//! The case core's source of handovers: DUBU through KKI, with the adapters' client. A
//! package's parts are read from their spool files into what the core imports; a part
//! that does not read, or a package that is another young person's, is refused like a
//! damaged one.

use std::path::Path;
use std::sync::Arc;

use knudepunkt_adapters::dubu::DubuClient;
use knudepunkt_adapters::dubu::client::{DubuError, FetchError};
use knudepunkt_adapters::dubu::model::{
    DOKUMENT, Handleplan, Maal, PLAN, STAMDATA, Stamdata, UNDERSOEGELSE, YDELSER, Ydelser,
};
use knudepunkt_adapters::dubu::package::{PackageError, Received};
use knudepunkt_case::CaseCore;
use knudepunkt_case::handover::{
    FetchFailure, HandoverCitizen, HandoverDocument, HandoverPackage, HandoverPlan,
    HandoverService, HandoverSource, UpcomingChild,
};
use knudepunkt_case::plans::NewGoal;

/// The largest part taken (the core's document limit decides what is stored).
const MAX_PART: u64 = 64 * 1024 * 1024;

pub struct DubuSource(pub DubuClient);

fn goals(maal: &[Maal]) -> Vec<NewGoal> {
    maal.iter()
        .map(|m| NewGoal {
            text: m.tekst.clone(),
            subgoals: goals(&m.delmaal),
        })
        .collect()
}

/// The JSON part of type `kind`, read.
fn json_part<T: serde::de::DeserializeOwned>(
    r: &Received,
    kind: &str,
) -> Result<Option<T>, String> {
    let Some((del, path)) = r.part(kind) else {
        return Ok(None);
    };
    let bytes = std::fs::read(path).map_err(|e| format!("part {}: {e}", del.navn))?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de)
        .map(Some)
        .map_err(|e| format!("part {} at {}: {}", del.navn, e.path(), e.inner()))
}

/// What the core imports from a received package for handover `id`.
fn package(id: &str, r: Received) -> Result<HandoverPackage, String> {
    let m = &r.manifest;
    if m.overdragelse_id != id {
        return Err(format!(
            "the manifest is for handover {}, not {id}",
            m.overdragelse_id
        ));
    }
    let stamdata: Stamdata = json_part(&r, STAMDATA)?.ok_or("the package has no stamdata part")?;
    if stamdata.cpr != m.cpr {
        return Err("the master data is another person's than the manifest's".into());
    }
    let plan: Option<Handleplan> = json_part(&r, PLAN)?;
    let services: Option<Ydelser> = json_part(&r, YDELSER)?;
    let documents = r
        .parts
        .iter()
        .filter(|(d, _)| d.del_type == UNDERSOEGELSE || d.del_type == DOKUMENT)
        .map(|(d, path)| HandoverDocument {
            title: d.titel.clone().unwrap_or_else(|| d.navn.clone()),
            doc_type: d.dokumenttype.clone().unwrap_or_else(|| {
                if d.del_type == UNDERSOEGELSE {
                    "Børnefaglig undersøgelse".into()
                } else {
                    "Dokument fra DUBU".into()
                }
            }),
            media_type: d.mediatype.clone(),
            size: d.stoerrelse,
            sha256: d.sha256.clone(),
            path: path.clone(),
        })
        .collect();
    Ok(HandoverPackage {
        handover_id: id.to_string(),
        package_id: m.pakke_id.clone(),
        package_sha256: r.manifest_sha256.clone(),
        citizen: HandoverCitizen {
            cpr: stamdata.cpr,
            given_name: stamdata.fornavn,
            family_name: stamdata.efternavn,
            address: stamdata.adresse,
            contacts: stamdata
                .kontakter
                .iter()
                .map(|k| serde_json::json!({"role": k.rolle, "name": k.navn, "phone": k.telefon}))
                .collect(),
        },
        plan: plan.map(|p| HandoverPlan {
            title: format!("{}: {}", p.plantype, p.titel),
            goals: goals(&p.maal),
        }),
        services: services
            .map(|y| y.ydelser)
            .unwrap_or_default()
            .into_iter()
            .map(|y| HandoverService {
                name: y.navn,
                legal_basis: y.lovgrundlag,
                from: y.fra,
                to: y.til,
                provider: y.leverandoer,
            })
            .collect(),
        documents,
    })
}

#[async_trait::async_trait]
impl HandoverSource for DubuSource {
    async fn upcoming(&self, before: chrono::NaiveDate) -> Result<Vec<UpcomingChild>, String> {
        let listed = self.0.turning_18(before).await.map_err(|e| e.to_string())?;
        Ok(listed
            .into_iter()
            .map(|o| UpcomingChild {
                handover_id: o.overdragelse_id,
                cpr: o.cpr,
                given_name: o.fornavn,
                family_name: o.efternavn,
                turns_18: o.fylder18,
            })
            .collect())
    }

    async fn fetch(&self, id: &str, spool: &Path) -> Result<HandoverPackage, FetchFailure> {
        let received = self
            .0
            .package(id, spool, MAX_PART)
            .await
            .map_err(|e| match e {
                FetchError::Dubu(DubuError::Transient(why)) => FetchFailure::Transient(why),
                FetchError::Dubu(DubuError::Permanent(why)) => FetchFailure::Permanent(why),
                FetchError::Package(PackageError::Transport(why)) => FetchFailure::Transient(why),
                FetchError::Package(PackageError::Refused(reason)) => FetchFailure::Refused {
                    package_id: None,
                    reason,
                },
            })?;
        let package_id = received.manifest.pakke_id.clone();
        package(id, received).map_err(|reason| FetchFailure::Refused {
            package_id: Some(package_id),
            reason,
        })
    }
}

/// Gives `core` the environment's DUBU, when the environment has one.
pub fn attach(core: &CaseCore, env: &knudepunkt_engine::Environment) {
    match DubuClient::for_environment(env) {
        Ok(client) => core.set_handover_source(Arc::new(DubuSource(client))),
        Err(why) => tracing::debug!(%why, "no DUBU handovers in this environment"),
    }
}
