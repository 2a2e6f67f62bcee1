//! Statutory reporting (Danmarks Statistik, SEI2/NAB): a report's layout is data the
//! operator keeps in `mappings/dst/<report>/layout.yaml` ([`layout`]); an extract's
//! records are checked against it one by one ([`validate`]) and written as the report's
//! file, which is compared with the last accepted period's for the preview ([`file`]).
//! [`submissions`] keeps each submission through its lifecycle: prepared, approved by a
//! named user, uploaded through a route, and followed to the receiver's answer.

pub mod extract;
pub mod file;
pub mod jobs;
pub mod layout;
pub mod submissions;
pub mod validate;

pub use layout::Layout;
pub use validate::{Finding, Period, Record, Validator};
