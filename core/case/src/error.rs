//! What can go wrong in the case core, typed so that the API can name the field at fault.

use knudepunkt_engine::{EngineError, JournalError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CaseError {
    /// The input is wrong; `field` names it (e.g. `cpr`, `period.from`).
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    /// The input conflicts with what is stored (an overlapping grant period, ...).
    #[error("{field}: {detail}")]
    Conflict { field: String, detail: String },
    #[error("{field}: {actual} bytes is more than the limit of {limit} bytes")]
    TooLarge {
        field: String,
        limit: usize,
        actual: usize,
    },
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    /// The actor's job roles do not cover the resource; the refusal has been audited.
    #[error("{0}")]
    Forbidden(String),
    #[error("case store: {0}")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: String, detail: String },
    /// An external system Knudepunkt asked could not answer (an index read back).
    #[error("{system}: {detail}")]
    Unavailable { system: String, detail: String },
    /// An external system refused what Knudepunkt asked, and would again.
    #[error("{system} refused: {detail}")]
    Refused { system: String, detail: String },
}

impl CaseError {
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        CaseError::Invalid {
            field: field.to_string(),
            detail: detail.into(),
        }
    }

    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        CaseError::NotFound {
            what,
            id: id.into(),
        }
    }
}

pub type CaseResult<T> = Result<T, CaseError>;
