//! Knudepunkt's adapters: one module per external system, each holding its client and
//! its protocol-faithful simulator side by side.

pub mod amqp_consumer;
pub mod amqp_publish;
pub mod amqp_source;
pub mod beskedfordeler;
pub mod cpr;
pub mod digital_post;
pub mod dst;
pub mod dubu;
pub mod edoc;
pub mod events;
pub mod fordeling;
pub mod generic_http;
pub mod http;
pub mod kki;
pub mod kkorg;
pub mod klassifikation;
pub mod medcom;
pub mod sagdokindeks;
pub mod sandbox;
pub mod sei2;
pub mod serviceplatformen;
pub mod sts;
mod sts_clients;
pub mod sts_organisation;
pub mod sts_service;
pub mod ydelsesindeks;

use std::sync::Arc;

use knudepunkt_engine::AdapterRegistry;

/// Every adapter this build has, without an environment: adapters that need one (the
/// Serviceplatformen ones) refuse their deliveries and say why.
pub fn registry() -> AdapterRegistry {
    with_serviceplatformen(
        Err("no environment profile was given".into()),
        String::new(),
    )
}

/// The adapters, with the Digital Post one using `sts` (or saying why it cannot).
fn with_serviceplatformen(
    sts: Result<Arc<sts::client::StsClient>, String>,
    cvr: String,
) -> AdapterRegistry {
    let access = digital_post::Access::new(sts, cvr);
    let mut r = AdapterRegistry::new();
    r.register(Arc::new(generic_http::HttpAdapter::new()));
    r.register(Arc::new(medcom::client::VansAdapter::new()));
    r.register(Arc::new(dst::client::DstUploadAdapter::default()));
    r.register(Arc::new(digital_post::client::KombiPostAdapter::new(
        access.clone(),
    )));
    r.register(Arc::new(digital_post::print::PrintServiceAdapter::new(
        access.clone(),
    )));
    r.register(Arc::new(fordeling::client::FordelingAdapter::new(
        access.clone(),
    )));
    r.register(Arc::new(sts_service::StsServiceAdapter::new(
        access.clone(),
    )));
    r.register(Arc::new(
        beskedfordeler::publisher::BeskedfordelerAdapter::new(access.clone()),
    ));
    r.register(Arc::new(sei2::client::Sei2Adapter::new(access.clone())));
    r.register(Arc::new(edoc::KkiAdapter::default()));
    r.register(Arc::new(events::EventPublisher::new(access.clone())));
    r
}

/// An STS client for `env`'s Serviceplatformen profile and the municipality's CVR, or
/// why there is none. The callers with the same profile and the same certificate files
/// share what making one costs (see `sts_clients`).
pub fn serviceplatformen_client(
    env: &knudepunkt_engine::Environment,
) -> Result<(Arc<sts::client::StsClient>, String), String> {
    let profile = env
        .serviceplatformen
        .as_ref()
        .ok_or_else(|| format!("the {} profile has no serviceplatformen section", env.name))?;
    let sts = sts_clients::client(profile, &env.name, || {
        let (config, credential) =
            serviceplatformen::profile::load(profile, &env.name).map_err(|e| e.to_string())?;
        let tls = sts::client::StsClient::tls(&config, &credential).map_err(|e| e.to_string())?;
        Ok(sts_clients::Setup {
            config,
            credential,
            tls,
        })
    })?;
    Ok((sts, profile.cvr.clone()))
}

/// Every adapter, set up for `env` (its Serviceplatformen profile, if any).
pub fn registry_for(env: &knudepunkt_engine::Environment) -> AdapterRegistry {
    let cvr = env
        .serviceplatformen
        .as_ref()
        .map(|p| p.cvr.clone())
        .unwrap_or_default();
    with_serviceplatformen(serviceplatformen_client(env).map(|(s, _)| s), cvr)
}

/// The environment's way to Serviceplatformen (its STS client and CVR, or why there is
/// none).
pub fn access_for(env: &knudepunkt_engine::Environment) -> serviceplatformen::access::Access {
    let cvr = env
        .serviceplatformen
        .as_ref()
        .map(|p| p.cvr.clone())
        .unwrap_or_default();
    serviceplatformen::access::Access::new(serviceplatformen_client(env).map(|(s, _)| s), cvr)
}

/// A client for reading from STS services (a reconciliation's fremsoeg) with the
/// environment's Serviceplatformen access.
pub fn sts_service_client(env: &knudepunkt_engine::Environment) -> sts_service::StsServiceClient {
    sts_service::StsServiceClient::new(access_for(env))
}
