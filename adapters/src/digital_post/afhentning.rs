//! The Afhentningssystem: Knudepunkt collects the Digital Post sent to the municipality.
//! A system-fetch lists the memos waiting, fetches each as MeMo XML, checks it against
//! the official schema, reads it, and hands it to the engine as the event
//! `digitalpost.memo_received` (the route `digitalpost.inbound` journalises it on its
//! case or puts it in the operator inbox). Only then is the memo acknowledged, so a
//! crash loses nothing; a memo listed again (its acknowledgement was lost) is the same
//! messageUUID and the journal takes it once.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use knudepunkt_engine::schedule::{Job, Progress};
use knudepunkt_engine::{Engine, Environment, Submitted};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::serviceplatformen::WithTransaction;
use crate::sts::client::StsClient;

/// The event each memo becomes.
pub const EVENT: &str = "digitalpost.memo_received";
/// The inbox kind of memos that do not validate.
pub const INVALID: &str = "digitalpost.invalid_memo";
/// The endpoint profile of the mailbox.
pub const ENDPOINT: &str = "digitalpost-afhentning";

#[derive(Debug, thiserror::Error)]
pub enum AfhentningError {
    #[error("the {environment} profile has no endpoint {ENDPOINT} (the mailbox)")]
    NoEndpoint { environment: String },
    #[error("endpoint {ENDPOINT} names no entity_id")]
    NoEntityId,
    #[error("no schema directory: memos cannot be checked against MeMo 1.2")]
    NoSchemas,
    #[error("no access to Serviceplatformen: {0}")]
    NoAccess(String),
    #[error("no route takes {EVENT} in this environment")]
    NoRoute,
    #[error("the mailbox at {url}: {reason}")]
    Mailbox { url: String, reason: String },
}

/// One memo in the list.
#[derive(Clone, Debug, Deserialize)]
struct Listed {
    #[serde(rename = "messageUUID")]
    message_uuid: String,
}

#[derive(Deserialize)]
struct List {
    memos: Vec<Listed>,
}

/// What a system-fetch did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FetchReport {
    pub listed: usize,
    /// Taken into the journal for the first time.
    pub taken: usize,
    /// Already in the journal (fetched before, its acknowledgement lost).
    pub duplicates: usize,
    /// Did not validate: kept in the operator inbox.
    pub invalid: usize,
    pub acknowledged: usize,
    /// Per memo that could not be taken: its messageUUID and why. It stays in the
    /// mailbox for the next run.
    pub failed: Vec<(String, String)>,
}

/// The name schedules run it by.
pub const JOB: &str = "digitalpost.afhentning";

pub struct Afhentning {
    engine: Engine,
    sts: Arc<StsClient>,
    http: reqwest::Client,
    cvr: String,
    base: String,
    entity_id: String,
    timeout: std::time::Duration,
    schema: PathBuf,
}

impl Afhentning {
    /// The system-fetch of `engine`'s environment.
    pub fn new(engine: Engine) -> Result<Self, AfhentningError> {
        let env: &Environment = &engine.routes().environment;
        let endpoint = env
            .endpoint(ENDPOINT)
            .ok_or_else(|| AfhentningError::NoEndpoint {
                environment: env.name.clone(),
            })?
            .clone();
        let entity_id = endpoint
            .entity_id
            .clone()
            .ok_or(AfhentningError::NoEntityId)?;
        let schema = engine
            .routes()
            .schema_dir
            .as_ref()
            .map(|d| d.path.join("memo/Version1.2/MeMo_core.xsd"))
            .filter(|p| p.is_file())
            .ok_or(AfhentningError::NoSchemas)?;
        let (sts, cvr) = crate::serviceplatformen_client(env).map_err(AfhentningError::NoAccess)?;
        Ok(Afhentning {
            http: sts.http_client(),
            sts,
            cvr,
            base: endpoint.url.trim_end_matches('/').to_string(),
            entity_id,
            timeout: endpoint.timeout,
            schema,
            engine,
        })
    }

    fn failed(&self, reason: impl std::fmt::Display) -> AfhentningError {
        AfhentningError::Mailbox {
            url: self.base.clone(),
            reason: reason.to_string(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::Response, AfhentningError> {
        let token = self
            .sts
            .access_token(&self.entity_id, &self.cvr)
            .await
            .map_err(|e| AfhentningError::NoAccess(e.to_string()))?;
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(self.timeout)
            .header(reqwest::header::AUTHORIZATION, token.header())
            .transaction(&uuid::Uuid::new_v4().to_string())
            .send()
            .await
            .map_err(|e| self.failed(e))?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            self.sts.invalidate_access_token(&self.entity_id, &self.cvr);
        }
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            return Err(self.failed(format!("{path} answered {status}: {body}")));
        }
        Ok(resp)
    }

    /// The memos waiting, oldest first.
    pub async fn list(&self) -> Result<Vec<String>, AfhentningError> {
        let list: List = self
            .call(reqwest::Method::GET, "/memos")
            .await?
            .json()
            .await
            .map_err(|e| self.failed(format!("the list is not what the API returns: {e}")))?;
        Ok(list.memos.into_iter().map(|m| m.message_uuid).collect())
    }

    /// One memo as MeMo XML.
    pub async fn fetch(&self, message_uuid: &str) -> Result<Vec<u8>, AfhentningError> {
        let resp = self
            .call(reqwest::Method::GET, &format!("/memos/{message_uuid}"))
            .await?;
        Ok(resp.bytes().await.map_err(|e| self.failed(e))?.to_vec())
    }

    pub async fn acknowledge(&self, message_uuid: &str) -> Result<(), AfhentningError> {
        self.call(
            reqwest::Method::POST,
            &format!("/memos/{message_uuid}/kvittering"),
        )
        .await
        .map(|_| ())
    }

    /// One system-fetch: every memo waiting, taken once.
    pub async fn system_fetch(
        &self,
        progress: &dyn Progress,
    ) -> Result<FetchReport, AfhentningError> {
        if self.engine.routes().for_event(EVENT).is_empty() {
            return Err(AfhentningError::NoRoute);
        }
        let waiting = self.list().await?;
        progress.total(waiting.len() as u64);
        let mut report = FetchReport {
            listed: waiting.len(),
            ..FetchReport::default()
        };
        for uuid in &waiting {
            match self.take(uuid, &mut report).await {
                Ok(()) => match self.acknowledge(uuid).await {
                    Ok(()) => report.acknowledged += 1,
                    Err(e) => {
                        tracing::warn!(message_uuid = %uuid, error = %e, "a memo was taken but not acknowledged; it comes again and is taken once");
                        report.failed.push((uuid.clone(), e.to_string()));
                    }
                },
                Err(e) => {
                    tracing::warn!(message_uuid = %uuid, error = %e, "a memo could not be taken; it stays in the mailbox");
                    report.failed.push((uuid.clone(), e));
                }
            }
            progress.advance(uuid);
        }
        tracing::info!(
            listed = report.listed,
            taken = report.taken,
            duplicates = report.duplicates,
            invalid = report.invalid,
            failed = report.failed.len(),
            "Digital Post system-fetch"
        );
        Ok(report)
    }

    /// Fetches, checks and journals one memo; Err leaves it in the mailbox.
    async fn take(&self, uuid: &str, report: &mut FetchReport) -> Result<(), String> {
        let xml = self.fetch(uuid).await.map_err(|e| e.to_string())?;
        let checked = knudepunkt_engine::transform::xsd::validate(&self.schema, &xml)
            .map_err(|e| e.to_string())
            .and_then(|()| super::memo::parse(&xml).map_err(|e| e.to_string()));
        let memo = match checked {
            Ok(m) => m,
            Err(why) => {
                // Kept whole for an operator, then acknowledged: fetching it again
                // would not make it valid.
                self.engine
                    .journal()
                    .put_in_inbox(
                        INVALID,
                        uuid,
                        &format!(
                            "memo {uuid} from the Digital Post mailbox is not valid MeMo 1.2: {why}"
                        ),
                        &xml,
                        "application/xml",
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                report.invalid += 1;
                return Ok(());
            }
        };
        if memo.message_uuid != uuid {
            return Err(format!(
                "the mailbox listed {uuid} but gave memo {}",
                memo.message_uuid
            ));
        }
        let event = serde_json::json!({
            "memo": memo,
            "sha256": hex::encode(Sha256::digest(&xml)),
            "size": xml.len(),
            "fetched_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        let first = self
            .engine
            .publish_now(EVENT, &event)
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .any(|(_, s)| matches!(s, Submitted::Journaled(_)));
        if first {
            report.taken += 1;
        } else {
            report.duplicates += 1;
        }
        Ok(())
    }
}

#[async_trait]
impl Job for Afhentning {
    fn name(&self) -> &'static str {
        JOB
    }

    async fn run(
        &self,
        request: &knudepunkt_engine::schedule::RunRequest,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value, String> {
        if request.dry_run {
            // What a run would take: the memos waiting, none fetched or acknowledged.
            let waiting = self.list().await.map_err(|e| e.to_string())?;
            return Ok(serde_json::json!({ "dry_run": true, "waiting": waiting }));
        }
        let report = self
            .system_fetch(progress)
            .await
            .map_err(|e| e.to_string())?;
        Ok(serde_json::to_value(report).unwrap_or_default())
    }
}
