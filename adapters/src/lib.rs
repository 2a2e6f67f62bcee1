//! Knudepunkt's adapters: one module per external system, each holding its client and
//! its protocol-faithful simulator side by side.

pub mod generic_http;
pub mod sandbox;
pub mod serviceplatformen;
pub mod sts;

use std::sync::Arc;

use knudepunkt_engine::AdapterRegistry;

/// Every adapter this build has.
pub fn registry() -> AdapterRegistry {
    let mut r = AdapterRegistry::new();
    r.register(Arc::new(generic_http::HttpAdapter::new()));
    r
}
