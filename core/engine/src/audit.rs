//! The audit log as adapters see it. Whoever reads or writes a citizen's data (an
//! adapter looking a CPR number up, the case core) records who, what, when and why
//! through this trait; the case core implements it with its append-only audit log, and
//! the binary hands that implementation to the adapters that need it.

use async_trait::async_trait;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    Read,
    Write,
}

/// One access to a citizen's data.
#[derive(Clone, Debug)]
pub struct CitizenAccess<'a> {
    /// The user or system (e.g. `adapter:cpr`) that accessed it.
    pub actor: &'a str,
    pub kind: AccessKind,
    /// What was touched, e.g. `cpr/PersonBaseDataExtended`.
    pub resource: &'a str,
    /// The whole CPR number: the audit log is where it belongs, never the log file.
    pub cpr: &'a str,
    /// Why: the purpose the caller stated.
    pub purpose: &'a str,
}

#[derive(Debug, thiserror::Error)]
#[error("the audit log refused the entry: {0}")]
pub struct AuditError(pub String);

#[async_trait]
pub trait CitizenAuditLog: Send + Sync {
    /// Appends the entry; an access that cannot be audited must not happen.
    async fn record(&self, access: CitizenAccess<'_>) -> Result<(), AuditError>;
}
