//! Knudepunkt's case and benefit core: citizens, cases (Sag), documents, decisions,
//! service catalogues, grants (Bevilling), consents and plans, with access control by job
//! role, an audit log, and every external effect handed to the engine through the
//! transactional outbox.

pub mod access;
pub mod admission;
pub mod api;
pub mod audit;
pub mod case_notes;
pub mod cases;
pub mod catalogue;
pub mod citizen_changes;
pub mod citizens;
pub mod consents;
pub mod correspondence;
pub mod cpr;
pub mod cpr_lookup;
pub mod decisions;
pub mod distribution;
pub mod document_files;
pub mod documents;
pub mod error;
pub mod esdh;
pub mod events;
pub mod grants;
pub mod handover;
pub mod import;
pub mod inbound;
pub mod index;
pub mod index_reconcile;
pub mod kle;
pub mod kle_sync;
pub mod letters;
pub mod occupancy;
pub mod org_sync;
pub mod plans;
pub mod reporting;
pub mod residential;
pub mod seed;
pub mod stays;
mod store;
pub mod treatments;

pub use access::Actor;
pub use cpr::Cpr;
pub use error::{CaseError, CaseResult};
pub use kle::KleNumber;
pub use store::{CaseCore, Ctx, Limits};
