//! The statutory reporting part of the demo: a shelter stay, an anonymous crisis-centre
//! stay and an alcohol-treatment course are registered over the case API; the scheduled
//! jobs prepare the month's reports as drafts; the NAB draft's broken course is caught
//! by name and corrected; a named user approves; the § 110 report goes to Danmarks
//! Statistik and NAB to SEI2, and both are followed to the receiver's acceptance.

use std::time::{Duration, Instant};

use knudepunkt_case::reporting::jobs::{PREPARE_JOB, PREPARE_SEI2_JOB, PrepareReports};
use knudepunkt_case::reporting::submissions::{State, SubmissionFilter};
use knudepunkt_engine::schedule::{Job, Quiet, RunRequest};
use serde_json::json;

use super::stack::Stack;
use crate::setup::Context;

const CPR: &str = "0101901234";
const PERIOD: &str = "2026-11";

/// Waits (reconciling as the server does) until submission `id` is final; its state.
async fn settled(stack: &Stack, id: &str) -> anyhow::Result<State> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        stack.core.reconcile().await?;
        let state = stack.core.submission(id).await?.0.state;
        if state.is_final() || Instant::now() > until {
            return Ok(state);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The draft of `report` the job prepared for the period.
async fn draft_of(
    stack: &Stack,
    report: &str,
) -> anyhow::Result<knudepunkt_case::reporting::submissions::Submission> {
    stack
        .core
        .submissions(&SubmissionFilter {
            report: Some(report.into()),
            period: Some(PERIOD.into()),
            state: Some("draft".into()),
        })
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no draft of {report} for {PERIOD}"))
}

pub async fn run(ctx: &Context, stack: &Stack, step: u32) -> anyhow::Result<bool> {
    super::demo::step(
        step,
        "Statutory reporting: the month's stays and treatment courses, prepared by the scheduled jobs, approved by a named user, accepted by Danmarks Statistik and SEI2 (NAB)",
    );
    let http = knudepunkt_adapters::http::client();
    let base = format!("http://{}/api/v1", stack.server_addr);
    let call = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let mut req = http
            .request(method, format!("{base}{path}"))
            .header("x-knudepunkt-user", "leder1")
            .header("x-knudepunkt-purpose", "demo: indberetning");
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let post = |path: &str, body: serde_json::Value| {
        call(reqwest::Method::POST, path.to_string(), Some(body))
    };
    post(
        "/residential-stays",
        json!({"section": "SEL110", "institution": "Herberget Lærkevej", "cpr": CPR,
               "arrival": "2026-11-02", "housing_before": "HJEMLOES"}),
    )
    .await?
    .error_for_status()?;
    post(
        "/residential-stays",
        json!({"section": "SEL109", "institution": "Kvindehuset", "arrival": "2026-11-09",
               "housing_before": "FAMILIE", "children": 2}),
    )
    .await?
    .error_for_status()?;
    let course: serde_json::Value = post(
        "/treatments",
        json!({"register": "NAB", "cpr": CPR, "provider": "Alkoholbehandlingen Nørrebro",
               "referred": "2026-11-03", "offered": "2026-11-05", "started": "2026-11-10",
               "form": "AMBULANT"}),
    )
    .await?
    .error_for_status()?
    .json()
    .await?;
    println!(
        "   registered: a § 110 stay, an anonymous § 109 stay with 2 children, an alcohol-treatment course"
    );

    let request = RunRequest {
        period: Some(PERIOD.into()),
        dry_run: false,
    };
    let mappings = ctx.root.join("mappings");
    for (job, dir) in [(PREPARE_JOB, "dst"), (PREPARE_SEI2_JOB, "sei2")] {
        let prepared = PrepareReports {
            core: stack.core.clone(),
            job,
            dir: mappings.join(dir),
        }
        .run(&request, &Quiet)
        .await
        .map_err(|e| anyhow::anyhow!("{job}: {e}"))?;
        for r in prepared["reports"].as_array().into_iter().flatten() {
            println!(
                "   {job}: {} for {PERIOD}, {} record(s), {} finding(s)",
                r["report"].as_str().unwrap_or(""),
                r["records"],
                r["findings"]
            );
        }
    }
    let nab = draft_of(stack, "nab").await?;
    for f in &nab.findings {
        println!("   nab draft: {f}");
    }
    let fixed = post(
        &format!(
            "/treatments/{}/progress",
            course["id"].as_str().unwrap_or("")
        ),
        json!({"units_per_week": 35}),
    )
    .await?;
    println!(
        "   the caseworker records the consumption at start: HTTP {}",
        fixed.status()
    );
    // Prepared again by hand, as `knudepunkt report prepare nab --period 2026-11 --by
    // leder1` does.
    let layout = knudepunkt_case::reporting::Layout::load(&mappings.join("sei2/nab"))
        .map_err(|d| anyhow::anyhow!("the NAB layout: {d:?}"))?;
    let records = stack
        .core
        .extract(
            &layout,
            knudepunkt_case::reporting::Period::month(PERIOD).expect("a month"),
        )
        .await?;
    let leder = stack
        .core
        .actor("leder1")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user leder1"))?;
    let nab = stack
        .core
        .prepare_submission(
            &knudepunkt_case::Ctx {
                actor: &leder,
                purpose: "statutory reporting",
            },
            &layout,
            PERIOD,
            records,
            None,
        )
        .await?
        .submission;
    println!(
        "   nab prepared again: {} record(s), {} finding(s)",
        nab.records, nab.findings_total
    );
    let shelters = draft_of(stack, "boformer-110").await?;
    let mut ok = true;
    for s in [&shelters, &nab] {
        let approved = call(
            reqwest::Method::POST,
            format!("/reports/submissions/{}/approve", s.id),
            Some(json!({})),
        )
        .await?;
        let status = approved.status();
        let state = settled(stack, &s.id).await?;
        let (done, _) = stack.core.submission(&s.id).await?;
        println!(
            "   {} approved by leder1 (HTTP {status}): {} with receipt {}",
            s.report,
            state.as_str(),
            done.receipt_id.as_deref().unwrap_or("-")
        );
        ok &= state == State::Accepted;
    }
    let occupancy: serde_json::Value = call(
        reqwest::Method::GET,
        format!("/residential-stays/occupancy?section=SEL110&period={PERIOD}"),
        None,
    )
    .await?
    .json()
    .await?;
    for o in occupancy.as_array().into_iter().flatten() {
        println!(
            "   occupancy {PERIOD}: {} — {} stay(s), {} night(s), {} bed(s) on average",
            o["institution"].as_str().unwrap_or(""),
            o["stays"],
            o["nights"],
            o["average_occupied"]
        );
    }
    println!(
        "   SEI2 holds {} NAB schema(s); Danmarks Statistik has {} upload(s)",
        stack.sandbox.sei2.active(),
        stack.sandbox.dst.count()
    );
    Ok(ok)
}
