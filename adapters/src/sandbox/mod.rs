//! The sandbox framework every simulator is built on: loopback serving, a record of
//! what was received, deduplication by message id as real receivers do, optional XSD
//! validation, and fault injection over an HTTP control API.
//!
//! Each simulator mounts under its own prefix (`/generic`, ...) and gets
//! `<prefix>/_sandbox/{received,stats,faults}` beside its protocol endpoints.

pub mod certs;
mod control;
pub mod faults;
mod recorder;

use std::net::SocketAddr;

pub use control::control_router;
pub use faults::{Fault, FaultKind, FaultPlan};
pub use recorder::{Received, Recorder, Stats};

use axum::Router;

/// How Serviceplatformen's REST services answer an error: `{"errorCode", "errorMessage"}`.
pub fn rest_error(
    status: axum::http::StatusCode,
    code: &str,
    message: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        status,
        axum::Json(serde_json::json!({"errorCode": code, "errorMessage": message})),
    )
        .into_response()
}

/// The OIO IDWS call in `text`, checked as a service with entity id `entity` checks it
/// (the STS's holder-of-key assertion for it, the signature). A refused call is counted
/// as invalid, and its reason comes back in the words every simulated service's fault
/// uses: callers recognise a refused token by them and fetch a new one.
pub fn accept_idws(
    recorder: &Recorder,
    sts: &crate::sts::simulator::StsSimulator,
    entity: &str,
    text: &str,
) -> Result<crate::serviceplatformen::idws::AcceptedCall, String> {
    crate::serviceplatformen::idws::verify_call(text, &sts.certificate(), entity).map_err(|e| {
        recorder.count_invalid();
        format!("the security token or assertion was refused: {e}")
    })
}

/// The default address `knudepunkt sandbox` serves on; `environments/dev.yaml` points here.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8790";

/// All simulators under one router, with this process's sandbox certificates.
pub fn router() -> (Router, SandboxHandles) {
    router_with(certs::SandboxCertificates::shared())
}

/// All simulators under one router, with `certificates` (the STS trusts their CA and
/// knows their client certificate).
pub fn router_with(certificates: &certs::SandboxCertificates) -> (Router, SandboxHandles) {
    let generic = crate::generic_http::simulator::GenericReceiver::new(None);
    let sts = crate::sts::simulator::StsSimulator::with_signer(
        certificates.ca.clone(),
        certificates.sts.clone(),
    );
    sts.register(&certificates.client.certificate);
    let memo = knudepunkt_engine::schema_dir::locate()
        .map(|d| d.path.join("memo/Version1.2/MeMo_core.xsd"))
        .filter(|p| p.is_file());
    let digital_post = crate::digital_post::simulator::KombiPostSimulator::new(
        sts.clone(),
        memo.clone(),
        certificates
            .pusher()
            .expect("the sandbox's status pusher is built"),
    );
    let mailbox = crate::digital_post::mailbox::MailboxSimulator::new(sts.clone(), memo);
    let print = crate::digital_post::print_simulator::PrintServiceSimulator::new(
        sts.clone(),
        knudepunkt_engine::schema_dir::locate()
            .map(|d| d.path.join("sf1600/PrintServiceMsg.xsd"))
            .filter(|p| p.is_file()),
        digital_post.clone(),
    );
    let forespoerg =
        crate::digital_post::forespoerg_simulator::PostForespoergSimulator::new(sts.clone());
    let ydelsesindeks = crate::ydelsesindeks::simulator::YdelsesIndeksSimulator::new(
        sts.clone(),
        project_model(crate::ydelsesindeks::MODEL_XSD),
    );
    let sagdokindeks = crate::sagdokindeks::simulator::SagDokIndeksSimulator::new(
        sts.clone(),
        knudepunkt_engine::schema_dir::locate()
            .map(|d| d.path.join(crate::sagdokindeks::XSD))
            .filter(|p| p.is_file()),
        ydelsesindeks.benefits.clone(),
    );
    let beskedfordeler = crate::beskedfordeler::simulator::BeskedfordelerSimulator::new(
        knudepunkt_engine::schema_dir::locate()
            .map(|d| d.path.join(crate::beskedfordeler::XSD))
            .filter(|p| p.is_file()),
    );
    let fordeling = crate::fordeling::simulator::FordelingSimulator::new(
        sts.clone(),
        knudepunkt_engine::schema_dir::locate()
            .map(|d| d.path.join(crate::fordeling::XSD))
            .filter(|p| p.is_file()),
        certificates
            .pusher()
            .expect("the sandbox's receipt pusher is built"),
    );
    let dst = crate::dst::simulator::DstIntake::new();
    let cpr = crate::cpr::simulator::CprSimulator::new(
        sts.clone(),
        knudepunkt_engine::schema_dir::locate()
            .map(|d| d.path.join(crate::cpr::XSD))
            .filter(|p| p.is_file()),
    );
    let klassifikation = crate::klassifikation::simulator::KlassifikationSimulator::new(
        sts.clone(),
        knudepunkt_engine::schema_dir::locate()
            .map(|d| d.path.join(crate::klassifikation::XSD))
            .filter(|p| p.is_file()),
        knudepunkt_engine::schema_dir::locate()
            .map(|d| d.path.join(crate::klassifikation::EMNEPLAN))
            .filter(|p| p.is_file())
            .as_deref(),
    );
    let kkorg = crate::kkorg::simulator::KkOrgSimulator::new(
        std::env::var("KNUDEPUNKT_SANDBOX_ORG_STAFF")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(18),
    );
    let sts_organisation = crate::sts_organisation::simulator::StsOrganisationSimulator::new(
        sts.clone(),
        knudepunkt_engine::schema_dir::locate()
            .map(|d| d.path)
            .as_deref(),
        kkorg.clone(),
    );
    let sei2 = crate::sei2::simulator::Sei2Simulator::new(
        sts.clone(),
        project_model(crate::sei2::MODEL_XSD),
    );
    // The sandbox's client may write to the sandbox SFTP server, when there is one.
    if let Err(e) = crate::fordeling::simulator::register_sftp_key(&certificates.client) {
        tracing::warn!(error = %e, "the sandbox SFTP server's authorized keys could not be written");
    }
    let edoc = crate::edoc::simulator::EdocSimulator::default();
    let env_number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let dubu = crate::dubu::simulator::DubuSimulator::new(
        env_number("KNUDEPUNKT_SANDBOX_DUBU_COHORT").unwrap_or(40) as usize,
        env_number("KNUDEPUNKT_SANDBOX_DUBU_DOCUMENT_BYTES").unwrap_or(64 * 1024),
    );
    let medcom = crate::medcom::simulator::MedComNetwork::new(
        knudepunkt_engine::schema_dir::locate().map(|d| d.path),
    );
    let router = Router::new()
        .nest("/generic", generic.router())
        .merge(sts.router())
        .merge(digital_post.router())
        .merge(mailbox.router())
        .merge(print.router())
        .merge(forespoerg.router())
        .merge(medcom.router())
        .merge(sagdokindeks.router())
        .merge(ydelsesindeks.router())
        .merge(beskedfordeler.router())
        .merge(fordeling.router())
        .merge(dst.router())
        .merge(sei2.router())
        .merge(cpr.router())
        .merge(klassifikation.router())
        .merge(kkorg.router())
        .merge(edoc.router())
        .merge(dubu.router())
        .merge(sts_organisation.router());
    (
        router,
        SandboxHandles {
            generic,
            sts,
            digital_post,
            mailbox,
            print,
            forespoerg,
            medcom,
            sagdokindeks,
            ydelsesindeks,
            beskedfordeler,
            fordeling,
            dst,
            sei2,
            cpr,
            klassifikation,
            kkorg,
            sts_organisation,
            edoc,
            dubu,
        },
    )
}

/// Direct access to the simulators' state, for tests running them in-process.
#[derive(Clone)]
pub struct SandboxHandles {
    pub generic: crate::generic_http::simulator::GenericReceiver,
    pub sts: crate::sts::simulator::StsSimulator,
    pub digital_post: crate::digital_post::simulator::KombiPostSimulator,
    pub mailbox: crate::digital_post::mailbox::MailboxSimulator,
    pub print: crate::digital_post::print_simulator::PrintServiceSimulator,
    pub forespoerg: crate::digital_post::forespoerg_simulator::PostForespoergSimulator,
    pub medcom: crate::medcom::simulator::MedComNetwork,
    pub sagdokindeks: crate::sagdokindeks::simulator::SagDokIndeksSimulator,
    pub ydelsesindeks: crate::ydelsesindeks::simulator::YdelsesIndeksSimulator,
    pub beskedfordeler: crate::beskedfordeler::simulator::BeskedfordelerSimulator,
    pub fordeling: crate::fordeling::simulator::FordelingSimulator,
    pub dst: crate::dst::simulator::DstIntake,
    pub sei2: crate::sei2::simulator::Sei2Simulator,
    pub cpr: crate::cpr::simulator::CprSimulator,
    pub klassifikation: crate::klassifikation::simulator::KlassifikationSimulator,
    pub kkorg: crate::kkorg::simulator::KkOrgSimulator,
    pub sts_organisation: crate::sts_organisation::simulator::StsOrganisationSimulator,
    pub edoc: crate::edoc::simulator::EdocSimulator,
    pub dubu: crate::dubu::simulator::DubuSimulator,
}

/// One of the project's own models of a format with no public schema, under
/// `mappings/`: from `KNUDEPUNKT_ROOT`, the working directory, or the source tree.
pub fn project_model(relative: &str) -> Option<std::path::PathBuf> {
    [
        std::env::var_os("KNUDEPUNKT_ROOT").map(std::path::PathBuf::from),
        Some(std::path::PathBuf::from(".")),
        Some(std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.."
        ))),
    ]
    .into_iter()
    .flatten()
    .map(|root| root.join("mappings").join(relative))
    .find(|p| p.is_file())
}

/// Serves `router` on `addr` until the task is dropped; returns the bound address.
pub async fn serve(
    addr: &str,
    router: Router,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((local, handle))
}
