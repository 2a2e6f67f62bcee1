//! Statutory reporting (Danmarks Statistik, SEI2/NAB): a report's layout is data the
//! operator keeps in `mappings/dst/<report>/layout.yaml` ([`layout`]); an extract's
//! records are checked against it one by one ([`validate`]) and written as the report's
//! file, which is compared with the last approved period's for the preview ([`file`]).
//! The submissions' lifecycle (approval, upload, status) builds on these.

pub mod file;
pub mod layout;
pub mod validate;

pub use layout::Layout;
pub use validate::{Finding, Period, Record, Validator};
