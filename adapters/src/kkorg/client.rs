//! Reads KK-ORG2 through KKI: the whole organisation a page at a time, or the changes
//! since a cursor. A 401 or 400 is permanent (the key, the request); 5xx and the network
//! are transient; each error names the endpoint and what was asked.

use super::model::{Aendringer, Enhed, EnhedSide, Medarbejder, MedarbejderSide};
use crate::generic_http::client::{Classified, classify_status};
use crate::kki::{API_KEY_HEADER, reason};

/// Units or employees a page.
const PAGE: usize = 2000;

/// Why a read failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KkOrgError {
    #[error("KK-ORG2 for now: {0}")]
    Transient(String),
    #[error("KK-ORG2 refused: {0}")]
    Permanent(String),
}

#[derive(Clone)]
pub struct KkOrgClient {
    http: reqwest::Client,
    base: String,
    key: String,
    name: String,
}

impl KkOrgClient {
    /// The profile's endpoint `kk-org2`; the API key from `KNUDEPUNKT_KKI_API_KEY` (a
    /// sandbox endpoint takes `sandbox` without it).
    pub fn for_environment(env: &knudepunkt_engine::Environment) -> Result<Self, String> {
        let endpoint = env
            .endpoints
            .get("kk-org2")
            .ok_or_else(|| format!("the {} profile has no endpoint kk-org2", env.name))?;
        let key = crate::kki::api_key(endpoint)?;
        let http = crate::http::builder()
            .timeout(endpoint.timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(KkOrgClient {
            http,
            base: endpoint.url.trim_end_matches('/').to_string(),
            key,
            name: endpoint.name.clone(),
        })
    }

    /// GET `resource` with the query `params` (encoded as URLs want them).
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        resource: &str,
        params: &[(&str, String)],
    ) -> Result<T, KkOrgError> {
        let url = reqwest::Url::parse_with_params(&format!("{}/{resource}", self.base), params)
            .map_err(|e| KkOrgError::Permanent(format!("{} {resource}: {e}", self.name)))?;
        // What errors name: the resource and its query.
        let path = match url.query() {
            Some(q) => format!("{resource}?{q}"),
            None => resource.to_string(),
        };
        let resp = self
            .http
            .get(url)
            .header(API_KEY_HEADER, &self.key)
            .send()
            .await
            .map_err(|e| KkOrgError::Transient(format!("{} {path}: {e}", self.name)))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| KkOrgError::Transient(format!("{} {path}: {e}", self.name)))?;
        if !status.is_success() {
            let why = format!("{} {path} answered {status}: {}", self.name, reason(&body));
            return Err(match classify_status(status.as_u16()) {
                Classified::Transient => KkOrgError::Transient(why),
                Classified::Ok | Classified::Permanent => KkOrgError::Permanent(why),
            });
        }
        serde_json::from_slice(&body).map_err(|e| {
            KkOrgError::Permanent(format!(
                "{} {path}: the answer does not read: {e}",
                self.name
            ))
        })
    }

    /// Every unit, and the cursor the register's changes stand at.
    pub async fn units(&self) -> Result<(Vec<Enhed>, String), KkOrgError> {
        let mut enheder = Vec::new();
        let mut side = Some(0);
        let mut cursor = String::new();
        while let Some(n) = side {
            let page: EnhedSide = self
                .get(
                    "enheder",
                    &[("side", n.to_string()), ("antal", PAGE.to_string())],
                )
                .await?;
            if n == 0 {
                cursor = page.cursor;
            }
            enheder.extend(page.enheder);
            side = page.naeste_side;
        }
        Ok((enheder, cursor))
    }

    /// One page of employees (from 0), and the next page's number.
    pub async fn employees(
        &self,
        side: usize,
    ) -> Result<(Vec<Medarbejder>, Option<usize>), KkOrgError> {
        let page: MedarbejderSide = self
            .get(
                "medarbejdere",
                &[("side", side.to_string()), ("antal", PAGE.to_string())],
            )
            .await?;
        Ok((page.medarbejdere, page.naeste_side))
    }

    /// What changed since `cursor`.
    pub async fn changes(&self, cursor: &str) -> Result<Aendringer, KkOrgError> {
        self.get("aendringer", &[("siden", cursor.to_string())])
            .await
    }
}
