//! The reports' scheduled jobs. `dst.forbered` prepares last month's submission of every
//! report that has a layout under `mappings/dst/` and an extract, as a draft for a named
//! user to approve (a period already prepared, and not rejected, is left alone);
//! `sei2.forbered` does the same for the reports to Sundhedsdatastyrelsen's SEI2 under
//! `mappings/sei2/` (NAB), on its own cadence;
//! `dst.paamindelse` reminds the operators, through the operator inbox, of every report
//! whose last month is not yet approved (the reports are due the 14th). Both take
//! `--period` and `--dry-run` when run by hand.

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{Datelike, Months};
use knudepunkt_engine::schedule::{Job, Progress, RunRequest};
use serde_json::json;
use sqlx::Row;

use super::extract::REPORTS;
use super::layout::Layout;
use super::validate::{Period, Validator};
use crate::access::Actor;
use crate::store::{CaseCore, Ctx};

pub const PREPARE_JOB: &str = "dst.forbered";
pub const PREPARE_SEI2_JOB: &str = "sei2.forbered";
/// The folders under `mappings/` that hold report layouts, by receiver.
pub const LAYOUT_DIRS: [&str; 2] = ["dst", "sei2"];
pub const REMIND_JOB: &str = "dst.paamindelse";
/// The operator-inbox kind of a reminder.
pub const NOT_APPROVED: &str = "report.not_approved";

/// Last month in Copenhagen, `YYYY-MM`.
fn last_month() -> String {
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Copenhagen)
        .date_naive();
    let first = today.with_day(1).unwrap_or(today);
    first
        .checked_sub_months(Months::new(1))
        .unwrap_or(first)
        .format("%Y-%m")
        .to_string()
}

/// The reports that can run: a layout under `dir`, and an extract in this build.
fn layouts(dir: &std::path::Path) -> Result<Vec<Layout>, String> {
    let mut out = Vec::new();
    for report in REPORTS {
        let path = dir.join(report);
        if !path.join("layout.yaml").is_file() {
            continue;
        }
        let layout = Layout::load(&path).map_err(|d| {
            d.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        out.push(layout);
    }
    Ok(out)
}

fn period_of(request: &RunRequest) -> Result<(String, Period), String> {
    let text = request.period.clone().unwrap_or_else(last_month);
    let period = Period::month(&text).ok_or_else(|| format!("{text:?} is not a month"))?;
    Ok((text, period))
}

/// The states the submissions of (report, period) are in.
async fn states(core: &CaseCore, report: &str, period: &str) -> Result<Vec<String>, String> {
    let mut conn = core
        .journal()
        .reader()
        .acquire()
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query("SELECT state FROM report_submissions WHERE report = $1 AND period = $2")
        .bind(report)
        .bind(period)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| r.try_get::<String, _>("state").map_err(|e| e.to_string()))
        .collect()
}

/// Where report `report`'s layout is, under `mappings`.
pub fn layout_dir(mappings: &std::path::Path, report: &str) -> Option<PathBuf> {
    LAYOUT_DIRS
        .iter()
        .map(|d| mappings.join(d).join(report))
        .find(|p| p.join("layout.yaml").is_file())
}

/// `dst.forbered`, `sei2.forbered`.
pub struct PrepareReports {
    pub core: CaseCore,
    /// The job's name ([`PREPARE_JOB`], [`PREPARE_SEI2_JOB`]).
    pub job: &'static str,
    /// `mappings/dst`, `mappings/sei2`.
    pub dir: PathBuf,
}

#[async_trait]
impl Job for PrepareReports {
    fn name(&self) -> &'static str {
        self.job
    }

    async fn run(
        &self,
        request: &RunRequest,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value, String> {
        let (text, period) = period_of(request)?;
        let layouts = layouts(&self.dir)?;
        progress.total(layouts.len() as u64);
        let scheduler = Actor::system("knudepunkt-scheduler", "Knudepunkt's scheduler");
        let ctx = Ctx {
            actor: &scheduler,
            purpose: "statutory reporting",
        };
        let mut done = Vec::new();
        for layout in &layouts {
            let existing = states(&self.core, &layout.report, &text).await?;
            if existing.iter().any(|s| s != "rejected") {
                done.push(json!({ "report": layout.report, "prepared": false, "why": "prepared already" }));
                progress.advance(&layout.report);
                continue;
            }
            let records = self
                .core
                .extract(layout, period)
                .await
                .map_err(|e| e.to_string())?;
            if request.dry_run {
                let mut v = Validator::new(layout, period);
                let findings: usize = records.iter().map(|r| v.check(r).len()).sum();
                done.push(json!({ "report": layout.report, "records": records.len(), "findings": findings, "dry_run": true }));
            } else {
                let p = self
                    .core
                    .prepare_submission(&ctx, layout, &text, records, None)
                    .await
                    .map_err(|e| e.to_string())?;
                done.push(json!({
                    "report": layout.report,
                    "prepared": true,
                    "submission": p.submission.id,
                    "records": p.submission.records,
                    "findings": p.submission.findings_total,
                }));
            }
            progress.advance(&layout.report);
        }
        Ok(json!({ "period": text, "reports": done }))
    }
}

/// `dst.paamindelse`.
pub struct RemindReports {
    pub core: CaseCore,
    pub dir: PathBuf,
}

#[async_trait]
impl Job for RemindReports {
    fn name(&self) -> &'static str {
        REMIND_JOB
    }

    async fn run(
        &self,
        request: &RunRequest,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value, String> {
        let (text, _) = period_of(request)?;
        let layouts = layouts(&self.dir)?;
        progress.total(layouts.len() as u64);
        let mut late = Vec::new();
        for layout in &layouts {
            let existing = states(&self.core, &layout.report, &text).await?;
            let approved = existing
                .iter()
                .any(|s| !matches!(s.as_str(), "draft" | "rejected"));
            if !approved {
                let detail = format!(
                    "{} ({}) for {text} is not approved; it is due to {} on the 14th",
                    layout.name, layout.report, layout.receiver
                );
                tracing::warn!(report = %layout.report, period = %text, "{detail}");
                if !request.dry_run {
                    self.core
                        .journal()
                        .put_in_inbox(
                            NOT_APPROVED,
                            &format!("{}/{text}", layout.report),
                            &detail,
                            b"",
                            "text/plain",
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                }
                late.push(layout.report.clone());
            }
            progress.advance(&layout.report);
        }
        Ok(json!({ "period": text, "not_approved": late, "dry_run": request.dry_run }))
    }
}
