//! The handover part of the demo: the morning job lists the young people in DUBU who
//! turn 18 within six months and raises a preparation task for each; a caseworker
//! imports one's package as an adult case (documents, plan, services), DUBU gets its
//! receipt, and a package altered on the way is refused whole with the reason.

use std::time::{Duration, Instant};

use knudepunkt_adapters::dubu::simulator::Damage;
use knudepunkt_case::handover::PrepareHandovers;
use knudepunkt_engine::schedule::{Job, Quiet, RunRequest};
use serde_json::{Value, json};

use super::stack::Stack;

pub async fn run(stack: &Stack, step: u32) -> anyhow::Result<bool> {
    super::demo::step(
        step,
        "The handover at 18: DUBU's young people turning 18 get a preparation task; a package imports as an adult case, and an altered one is refused whole",
    );
    let job = PrepareHandovers {
        core: stack.core.clone(),
    };
    let run = job
        .run(
            &RunRequest {
                period: None,
                dry_run: false,
            },
            &Quiet,
        )
        .await
        .map_err(anyhow::Error::msg)?;
    println!(
        "   dubu.forberedelse: {} young people turn 18 before {}; {} preparation task(s) raised",
        run["listed"], run["turning_18_before"], run["tasks_raised"]
    );
    let http = knudepunkt_adapters::http::client();
    let base = format!("http://{}/api/v1", stack.server_addr);
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut req = http
            .request(method, format!("{base}{path}"))
            .header("x-knudepunkt-user", "leder1")
            .header("x-knudepunkt-purpose", "demo: overdragelse ved 18 år");
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            anyhow::Ok((status, body))
        }
    };
    let (_, tasks) = call(
        reqwest::Method::GET,
        "/handovers?state=preparing".into(),
        None,
    )
    .await?;
    let tasks = tasks.as_array().cloned().unwrap_or_default();
    let (Some(first), Some(second)) = (tasks.first(), tasks.get(1)) else {
        println!("   no preparation tasks: nothing to hand over");
        return Ok(false);
    };
    let target = json!({"org_unit_id": "bch", "caseworker_id": "leder1", "kle": "27.36.12",
                        "action_facet": "G01", "case_type": "Voksenhandicap"});
    let id = first["id"].as_str().unwrap_or_default();
    let (s, out) = call(
        reqwest::Method::POST,
        format!("/handovers/{id}/import"),
        Some(target.clone()),
    )
    .await?;
    let case_id = out["case_id"].as_str().unwrap_or_default().to_string();
    let (_, case) = call(reqwest::Method::GET, format!("/cases/{case_id}"), None).await?;
    println!(
        "   {} {} (18 on {}): HTTP {s}, adult case {case_id} with {} document(s), {} note(s)",
        first["given_name"].as_str().unwrap_or_default(),
        first["family_name"].as_str().unwrap_or_default(),
        first["turns_18"].as_str().unwrap_or_default(),
        case["documents"]
            .as_array()
            .map(Vec::len)
            .unwrap_or_default(),
        case["notes"].as_array().map(Vec::len).unwrap_or_default()
    );
    let (s2, _) = call(
        reqwest::Method::POST,
        format!("/handovers/{id}/import"),
        Some(target.clone()),
    )
    .await?;
    println!("   the same package again: HTTP {s2}, nothing changed");
    let bad = second["id"].as_str().unwrap_or_default();
    stack.sandbox.dubu.damage(bad, Some(Damage::Checksum));
    let (s3, refused) = call(
        reqwest::Method::POST,
        format!("/handovers/{bad}/import"),
        Some(target),
    )
    .await?;
    println!(
        "   a package altered on the way: HTTP {s3}: {}",
        refused["detail"].as_str().unwrap_or_default()
    );
    let until = Instant::now() + Duration::from_secs(20);
    let receipts = loop {
        let r = stack.sandbox.dubu.receipts();
        if r.len() >= 2 || Instant::now() > until {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (_, k) in &receipts {
        println!(
            "   DUBU is told: {}{}",
            k.status,
            k.begrundelse
                .as_deref()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default()
        );
    }
    Ok(s == 201 && s2 == 200 && s3 == 422 && receipts.len() == 2)
}
