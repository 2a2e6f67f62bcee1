//! Knudepunkt's adapters: one module per external system, each holding its client and
//! its protocol-faithful simulator side by side.

pub mod digital_post;
pub mod generic_http;
pub mod sandbox;
pub mod serviceplatformen;
pub mod sts;

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
    let mut r = AdapterRegistry::new();
    r.register(Arc::new(generic_http::HttpAdapter::new()));
    r.register(Arc::new(digital_post::client::KombiPostAdapter::new(
        sts, cvr,
    )));
    r
}

/// Every adapter, set up for `env` (its Serviceplatformen profile, if any).
pub fn registry_for(env: &knudepunkt_engine::Environment) -> AdapterRegistry {
    let (sts, cvr) = match &env.serviceplatformen {
        Some(profile) => (
            serviceplatformen::profile::load(profile, &env.name)
                .map_err(|e| e.to_string())
                .and_then(|(config, credential)| {
                    sts::client::StsClient::new(config, credential)
                        .map(Arc::new)
                        .map_err(|e| e.to_string())
                }),
            profile.cvr.clone(),
        ),
        None => (
            Err(format!(
                "the {} profile has no serviceplatformen section",
                env.name
            )),
            String::new(),
        ),
    };
    with_serviceplatformen(sts, cvr)
}
