//! The jobs schedules can run, built for an engine, and the schedules themselves.

use std::sync::Arc;

use knudepunkt_adapters::digital_post::afhentning::{self, Afhentning};
use knudepunkt_adapters::sagdokindeks::reader::IndexReader;
use knudepunkt_case::CaseCore;
use knudepunkt_case::index_reconcile::IndexView;
use knudepunkt_case::reporting::jobs as reports;
use knudepunkt_engine::Engine;
use knudepunkt_engine::route::Diagnostic;
use knudepunkt_engine::schedule::{self, Job, Jobs, Progress, RunRequest, Schedule};

use crate::setup::Context;

/// The reconciliation of the case and document index with the case core.
pub const INDEX_RECONCILIATION: &str = "sagdokindeks.afstemning";

/// Every job this build has.
pub fn names() -> Vec<String> {
    vec![
        afhentning::JOB.to_string(),
        INDEX_RECONCILIATION.to_string(),
        reports::PREPARE_JOB.to_string(),
        reports::REMIND_JOB.to_string(),
        reports::PREPARE_SEI2_JOB.to_string(),
        knudepunkt_case::cpr_lookup::REFRESH_JOB.to_string(),
        knudepunkt_case::handover::PREPARE_JOB.to_string(),
        KLE_SYNC.to_string(),
        ORG_SYNC.to_string(),
        ORG_STS_SYNC.to_string(),
    ]
}

/// The index read back through SF1470 fremsoeg, as the case core compares with it.
struct IndexRead(IndexReader);

#[async_trait::async_trait]
impl IndexView for IndexRead {
    async fn statuses(
        &self,
        case_ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>, String> {
        self.0.statuses(case_ids).await
    }

    async fn documents(
        &self,
        document_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, String> {
        self.0.documents(document_ids).await
    }
}

/// `sagdokindeks.afstemning`: the case core compared with the index, drift repaired.
struct IndexReconciliation {
    core: CaseCore,
    index: IndexRead,
}

#[async_trait::async_trait]
impl Job for IndexReconciliation {
    fn name(&self) -> &'static str {
        INDEX_RECONCILIATION
    }

    async fn run(
        &self,
        request: &RunRequest,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value, String> {
        let report = self
            .core
            .reconcile_index(&self.index, progress, 1000, !request.dry_run)
            .await
            .map_err(|e| e.to_string())?;
        let mut summary = serde_json::to_value(report).map_err(|e| e.to_string())?;
        summary["dry_run"] = request.dry_run.into();
        Ok(summary)
    }
}

/// The organisation kept in step with its source.
pub const ORG_SYNC: &str = "org.synkronisering";

/// `org.synkronisering`: the changes in KK-ORG2 since the last sync (a full load the
/// first time); with `--period full` a full load, which ends what the source no longer
/// has.
struct OrgSync {
    core: CaseCore,
    client: knudepunkt_adapters::kkorg::KkOrgClient,
}

#[async_trait::async_trait]
impl Job for OrgSync {
    fn name(&self) -> &'static str {
        ORG_SYNC
    }

    async fn run(
        &self,
        request: &RunRequest,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value, String> {
        let today = chrono::Utc::now().date_naive().to_string();
        if request.dry_run {
            return Err(
                "org.synkronisering has no dry run; it only brings the core in step".into(),
            );
        }
        let report = if request.period.as_deref() == Some("full") {
            crate::org_source::full(&self.core, &self.client, &today, &|_| {
                progress.advance("rows")
            })
            .await?
        } else {
            crate::org_source::delta(&self.core, &self.client, &today).await?
        };
        serde_json::to_value(report).map_err(|e| e.to_string())
    }
}

/// The organisation kept in step with STS Organisation instead (a full load each run).
pub const ORG_STS_SYNC: &str = "org.sts-synkronisering";

/// `org.sts-synkronisering`: the organisation read whole from STS Organisation, the core
/// brought in step (only what changed is written).
struct OrgStsSync {
    core: CaseCore,
    client: knudepunkt_adapters::sts_organisation::StsOrganisationClient,
}

#[async_trait::async_trait]
impl Job for OrgStsSync {
    fn name(&self) -> &'static str {
        ORG_STS_SYNC
    }

    async fn run(
        &self,
        request: &RunRequest,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value, String> {
        if request.dry_run {
            return Err("org.sts-synkronisering has no dry run".into());
        }
        let today = chrono::Utc::now().date_naive().to_string();
        let report = crate::org_source::full_from_sts(&self.core, &self.client, &today, &|_| {
            progress.advance("objects")
        })
        .await?;
        serde_json::to_value(report).map_err(|e| e.to_string())
    }
}

/// KLE kept in step with STS Klassifikation.
pub const KLE_SYNC: &str = "kle.synkronisering";

/// `kle.synkronisering`: every KLE class read from Klassifikation, the core brought in
/// step (added, changed, ended); with `--dry-run` only read and counted.
struct KleSync {
    core: CaseCore,
    client: knudepunkt_adapters::klassifikation::KlassifikationClient,
}

#[async_trait::async_trait]
impl Job for KleSync {
    fn name(&self) -> &'static str {
        KLE_SYNC
    }

    async fn run(
        &self,
        request: &RunRequest,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value, String> {
        let done = std::sync::atomic::AtomicUsize::new(0);
        let tick = |read: usize, total: usize| {
            if done.swap(read, std::sync::atomic::Ordering::Relaxed) == 0 {
                progress.total(total as u64);
            }
            progress.advance("KLE classes");
        };
        if request.dry_run {
            let classes = self.client.kle(&tick).await?;
            return Ok(serde_json::json!({ "classes": classes.len(), "dry_run": true }));
        }
        let report = crate::kle_source::sync(&self.core, &self.client, &tick).await?;
        serde_json::to_value(report).map_err(|e| e.to_string())
    }
}

/// The schedules of the selected environment (`schedules/*.yaml`).
pub fn schedules(ctx: &Context) -> Result<Vec<Schedule>, Vec<Diagnostic>> {
    schedule::load(&ctx.root.join("schedules"), &ctx.environment, &names())
}

/// The schedules, or an error after printing every problem with its file and line.
pub fn schedules_checked(ctx: &Context) -> anyhow::Result<Vec<Schedule>> {
    schedules(ctx).map_err(|diags| {
        for d in &diags {
            eprintln!("{d}");
        }
        anyhow::anyhow!("{} problem(s) in the schedules", diags.len())
    })
}

/// The jobs that can run against `engine` and `core`; a job that cannot (its endpoint
/// or certificate is missing from the profile) is left out with its reason.
pub fn build(engine: &Engine, core: &CaseCore) -> (Jobs, Vec<(String, String)>) {
    let mut jobs = Jobs::new();
    let mut missing = Vec::new();
    match Afhentning::new(engine.clone()) {
        Ok(a) => {
            jobs.insert(afhentning::JOB.into(), Arc::new(a));
        }
        Err(e) => missing.push((afhentning::JOB.to_string(), e.to_string())),
    }
    match IndexReader::for_environment(&engine.routes().environment) {
        Ok(reader) => {
            jobs.insert(
                INDEX_RECONCILIATION.into(),
                Arc::new(IndexReconciliation {
                    core: core.clone(),
                    index: IndexRead(reader),
                }),
            );
        }
        Err(e) => missing.push((INDEX_RECONCILIATION.to_string(), e)),
    }
    jobs.insert(
        knudepunkt_case::cpr_lookup::REFRESH_JOB.into(),
        Arc::new(knudepunkt_case::cpr_lookup::CprRefresh { core: core.clone() }),
    );
    jobs.insert(
        knudepunkt_case::handover::PREPARE_JOB.into(),
        Arc::new(knudepunkt_case::handover::PrepareHandovers { core: core.clone() }),
    );
    match knudepunkt_adapters::klassifikation::KlassifikationClient::for_environment(
        &engine.routes().environment,
    ) {
        Ok(client) => {
            jobs.insert(
                KLE_SYNC.into(),
                Arc::new(KleSync {
                    core: core.clone(),
                    client,
                }),
            );
        }
        Err(e) => missing.push((KLE_SYNC.to_string(), e)),
    }
    match knudepunkt_adapters::kkorg::KkOrgClient::for_environment(&engine.routes().environment) {
        Ok(client) => {
            jobs.insert(
                ORG_SYNC.into(),
                Arc::new(OrgSync {
                    core: core.clone(),
                    client,
                }),
            );
        }
        Err(e) => missing.push((ORG_SYNC.to_string(), e)),
    }
    match knudepunkt_adapters::sts_organisation::StsOrganisationClient::for_environment(
        &engine.routes().environment,
    ) {
        Ok(client) => {
            jobs.insert(
                ORG_STS_SYNC.into(),
                Arc::new(OrgStsSync {
                    core: core.clone(),
                    client,
                }),
            );
        }
        Err(e) => missing.push((ORG_STS_SYNC.to_string(), e)),
    }
    let dst = engine.routes().mappings_dir.join("dst");
    jobs.insert(
        reports::PREPARE_JOB.into(),
        Arc::new(reports::PrepareReports {
            core: core.clone(),
            job: reports::PREPARE_JOB,
            dir: dst.clone(),
        }),
    );
    jobs.insert(
        reports::PREPARE_SEI2_JOB.into(),
        Arc::new(reports::PrepareReports {
            core: core.clone(),
            job: reports::PREPARE_SEI2_JOB,
            dir: engine.routes().mappings_dir.join("sei2"),
        }),
    );
    jobs.insert(
        reports::REMIND_JOB.into(),
        Arc::new(reports::RemindReports {
            core: core.clone(),
            dir: dst,
        }),
    );
    (jobs, missing)
}
