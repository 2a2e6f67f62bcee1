//! KK-ORG2, the municipality's own organisation register, through its integration
//! platform KKI (REST/JSON): the org units (with parent, P-number, address, manager and
//! validity) and the employees (with their engagements in units, validity, and whom they
//! substitute for), read whole a page at a time or as the changes since a cursor. KKI's
//! contract is not public in the reference data; [`model`] is Knudepunkt's model of it
//! and says what it assumes. The sandbox's KK-ORG2 holds a generated organisation of
//! Copenhagen's size ([`generator`]).

pub mod client;
pub mod generator;
pub mod model;
pub mod simulator;

pub use client::KkOrgClient;

/// Where the sandbox serves it.
pub const PATH: &str = "/kki/org2/v1";
pub use crate::kki::API_KEY_HEADER;
