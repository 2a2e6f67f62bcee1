//! Reads DUBU through KKI: who turns 18 before a date, and a young person's handover
//! package, streamed through [`package::receive`](super::package::receive) into a spool
//! directory. 5xx, 429 and the network are worth another try; a package that is
//! incomplete or altered is refused (DUBU is then told why, by the route
//! `dubu.kvittering`); an unknown handover or one with no package is neither.

use std::path::Path;

use super::model::Overdragelse;
use super::package::{PackageError, Received, receive};
use super::{ENDPOINT, PATH};
use crate::generic_http::client::{Classified, classify_status};
use crate::kki::{API_KEY_HEADER, reason};

/// Why a read failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DubuError {
    #[error("DUBU for now: {0}")]
    Transient(String),
    #[error("DUBU refused: {0}")]
    Permanent(String),
}

#[derive(Clone)]
pub struct DubuClient {
    http: reqwest::Client,
    base: String,
    key: String,
    name: String,
}

/// An error answer, classified as the project's HTTP adapters classify it.
fn failure(status: reqwest::StatusCode, why: String) -> DubuError {
    match classify_status(status.as_u16()) {
        Classified::Transient => DubuError::Transient(why),
        Classified::Ok | Classified::Permanent => DubuError::Permanent(why),
    }
}

impl DubuClient {
    /// The profile's endpoint `kki-dubu`, with KKI's API key.
    pub fn for_environment(env: &knudepunkt_engine::Environment) -> Result<Self, String> {
        let endpoint = env
            .endpoints
            .get(ENDPOINT)
            .ok_or_else(|| format!("the {} profile has no endpoint {ENDPOINT}", env.name))?;
        let key = crate::kki::api_key(endpoint)?;
        let http = crate::http::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .read_timeout(endpoint.timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(DubuClient {
            http,
            base: endpoint.url.trim_end_matches('/').to_string(),
            key,
            name: endpoint.name.clone(),
        })
    }

    /// A client for the sandbox at `base` (`http://host:port`).
    pub fn sandbox(base: &str) -> Self {
        DubuClient {
            http: crate::http::client(),
            base: format!("{}{PATH}", base.trim_end_matches('/')),
            key: crate::kki::SANDBOX_KEY.into(),
            name: ENDPOINT.into(),
        }
    }

    async fn get(&self, path: &str) -> Result<reqwest::Response, DubuError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(API_KEY_HEADER, &self.key)
            .send()
            .await
            .map_err(|e| DubuError::Transient(format!("{} {path}: {e}", self.name)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(failure(
            status,
            format!("{} {path} answered {status}: {}", self.name, reason(&body)),
        ))
    }

    /// The young people who turn 18 on or before `before`.
    pub async fn turning_18(
        &self,
        before: chrono::NaiveDate,
    ) -> Result<Vec<Overdragelse>, DubuError> {
        let path = format!("/overdragelser?fylder18Inden={}", before.format("%Y-%m-%d"));
        let body = self
            .get(&path)
            .await?
            .bytes()
            .await
            .map_err(|e| DubuError::Transient(format!("{} {path}: {e}", self.name)))?;
        serde_json::from_slice(&body).map_err(|e| {
            DubuError::Permanent(format!(
                "{} {path}: the answer does not read: {e}",
                self.name
            ))
        })
    }

    /// Handover `id`'s package, received part by part into `spool`.
    pub async fn package(
        &self,
        id: &str,
        spool: &Path,
        max_part: u64,
    ) -> Result<Received, FetchError> {
        let path = format!("/overdragelser/{id}/pakke");
        let resp = self.get(&path).await.map_err(FetchError::Dubu)?;
        let stream = futures::stream::try_unfold(resp, |mut resp| async move {
            match resp.chunk().await {
                Ok(Some(chunk)) => Ok(Some((chunk, resp))),
                Ok(None) => Ok(None),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            }
        });
        let reader = tokio_util::io::StreamReader::new(Box::pin(stream));
        receive(reader, spool, max_part)
            .await
            .map_err(FetchError::Package)
    }
}

/// Why a package was not fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// DUBU did not serve it.
    #[error(transparent)]
    Dubu(DubuError),
    /// It came, and is refused (or its transfer broke off).
    #[error(transparent)]
    Package(PackageError),
}
