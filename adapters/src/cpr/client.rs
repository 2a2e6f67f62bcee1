//! Looks a person up in CPR: one PersonLookup as an OIO IDWS call (a token for the
//! endpoint's entity id, asked for again once if the service refuses it). A number CPR
//! does not know is [`CprError::NotFound`]; the service's other errors are classified:
//! a `Client` fault is permanent (asking again gives the same answer), a `Server` fault,
//! the network and HTTP 5xx transient.

use std::sync::Arc;

use knudepunkt_engine::environment::Endpoint;
use thiserror::Error;

use super::person::Person;
use super::{ACTION, NOT_FOUND, wire};
use crate::digital_post::print::fault_of;
use crate::serviceplatformen::access::Access;
use crate::serviceplatformen::idws::Soap;
use crate::sts_service::client::{CallFailed, call};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CprError {
    /// CPR does not know the number (shown masked).
    #[error("CPR does not know {0}")]
    NotFound(String),
    /// Asking again later may help.
    #[error("CPR lookup failed, for now: {0}")]
    Transient(String),
    /// It will not.
    #[error("CPR lookup refused: {0}")]
    Permanent(String),
}

/// `010190-****`.
fn masked(cpr: &str) -> String {
    format!("{}-****", cpr.get(..6).unwrap_or(cpr))
}

/// The CPR service of one environment.
#[derive(Clone)]
pub struct CprClient {
    access: Access,
    endpoint: Arc<Endpoint>,
}

impl CprClient {
    pub fn new(access: Access, endpoint: Endpoint) -> Self {
        CprClient {
            access,
            endpoint: Arc::new(endpoint),
        }
    }

    /// The environment's client: its endpoint `cpr` and its Serviceplatformen access.
    pub fn for_environment(env: &knudepunkt_engine::Environment) -> Result<Self, String> {
        let endpoint = env
            .endpoints
            .get("cpr")
            .cloned()
            .ok_or_else(|| format!("the {} profile has no endpoint cpr", env.name))?;
        Ok(CprClient::new(crate::access_for(env), endpoint))
    }

    /// The person CPR holds under `cpr` (ten digits).
    pub async fn lookup(&self, cpr: &str) -> Result<Person, CprError> {
        let (sts, cvr, http) = self.access.parts().map_err(CprError::Transient)?;
        let entity = self.endpoint.entity_id.as_deref().ok_or_else(|| {
            CprError::Permanent(format!(
                "endpoint {} names no entity_id",
                self.endpoint.name
            ))
        })?;
        let (status, text) = call(
            sts,
            cvr,
            http,
            &self.endpoint,
            entity,
            ACTION,
            Soap::V11,
            &wire::request(cpr),
            uuid::Uuid::now_v7(),
        )
        .await
        .map_err(|f| match f {
            CallFailed::Permanent(e) => CprError::Permanent(e),
            CallFailed::Transient(e) => CprError::Transient(e),
        })?;
        let name = &self.endpoint.name;
        if let Some((code, why)) = fault_of(&text) {
            let errors = wire::fault_errors(&text);
            if errors.iter().any(|(c, _)| c == NOT_FOUND) {
                return Err(CprError::NotFound(masked(cpr)));
            }
            let detail = errors
                .iter()
                .map(|(c, t)| format!("{c}: {t}"))
                .collect::<Vec<_>>()
                .join("; ");
            let detail = if detail.is_empty() { why } else { detail };
            return Err(if code.ends_with("Client") {
                CprError::Permanent(format!("{name} refused the lookup ({code}): {detail}"))
            } else {
                CprError::Transient(format!("{name} failed ({code}): {detail}"))
            });
        }
        match status {
            200 => wire::read(&text, cpr).map_err(|e| CprError::Transient(format!("{name}: {e}"))),
            s if (400..500).contains(&s) && s != 429 && s != 408 => {
                Err(CprError::Permanent(format!("{name} answered {s}")))
            }
            s => Err(CprError::Transient(format!("{name} answered {s}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn errors_name_the_number_masked() {
        assert_eq!(masked("0101901234"), "010190-****");
    }
}
