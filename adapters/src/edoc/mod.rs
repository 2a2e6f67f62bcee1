//! eDoc, the municipality's records system (ESDH, Fujitsu eDoc), reached through its
//! integration platform KKI (REST/JSON). The case core's cases are journalised there —
//! the case with its KLE, parties, unit and caseworker, then its documents, notes and
//! deadlines, each change in the order it happened — and eDoc tells back what happens on
//! its side (a document checked out, changed or checked in, a case closed). Neither KKI's
//! nor eDoc's contract is public in the reference data; [`model`] is Knudepunkt's model
//! of it, built from the OIO Sag & Dokument concepts (Sag, Dokument, Part, Notat, Frist)
//! and described in `mappings/edoc/README.md`.

pub mod client;
pub mod model;
pub mod simulator;

pub use client::KkiAdapter;

/// Where the sandbox serves KKI's eDoc API.
pub const PATH: &str = "/kki/edoc/v1";
/// The adapter name routes deliver through.
pub const ADAPTER: &str = "kki";
/// The external ids the create call's answer is kept as (the route's `keep` option
/// names them); the case core reads them back.
pub const SAGSNUMMER: &str = "esdh_sagsnummer";
pub const ANSVARLIG: &str = "esdh_ansvarlig";
pub const ANSVARLIG_NAVN: &str = "esdh_ansvarlig_navn";
