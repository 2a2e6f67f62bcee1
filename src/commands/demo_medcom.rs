//! The MedCom part of the demo: the hospital admits the case's citizen (XDIS20); with
//! the citizen's consent the municipality's admission report (XDIS16) goes back and its
//! receipt confirms it; the caseworker writes to the GP (XDIS91).

use std::time::{Duration, Instant};

use knudepunkt_adapters::medcom::simulator::GP_EAN;
use knudepunkt_engine::message::MessageState;
use serde_json::json;

use super::stack::Stack;

/// The municipality's EAN number in the sandbox.
const OUR_EAN: &str = "5790001382438";
const CPR: &str = "0101901234";

/// Waits until `route` has a delivered message; its state, or the last seen.
async fn settled(stack: &Stack, route: &str) -> anyhow::Result<Option<MessageState>> {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let last = stack
            .engine
            .journal()
            .list(&knudepunkt_engine::journal::ListFilter {
                route: Some(route.into()),
                state: None,
                correlation_id: None,
                limit: 1,
            })
            .await?
            .into_iter()
            .next()
            .map(|m| m.state);
        if last.is_some_and(|s| s.is_terminal()) || Instant::now() > until {
            return Ok(last);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn run(stack: &Stack, step: u32, case_id: &str) -> anyhow::Result<bool> {
    super::demo::step(
        step,
        "MedCom: the hospital admits the citizen (XDIS20); with consent, the admission report (XDIS16) goes back and its receipt confirms it; the caseworker writes to the GP (XDIS91)",
    );
    let http = knudepunkt_adapters::http::client();
    let base = format!("http://{}/api/v1", stack.server_addr);
    let post = |path: String, body: serde_json::Value| {
        http.post(format!("{base}{path}"))
            .header("x-knudepunkt-user", "leder1")
            .header("x-knudepunkt-purpose", "demo: sagsbehandling")
            .json(&body)
            .send()
    };
    let consent = post(
        format!("/cases/{case_id}/consents"),
        json!({"kind": knudepunkt_case::admission::CONSENT_KIND, "given_by": "borgeren", "valid_from": "2026-01-01"}),
    )
    .await?;
    println!(
        "   the citizen consents to admission reports: HTTP {}",
        consent.status().as_u16()
    );
    let (status, answer) = stack
        .sandbox
        .medcom
        .send_admission(OUR_EAN, CPR, "2026-11-27", "08:15")
        .await
        .map_err(anyhow::Error::msg)?;
    println!("   XDIS20 from HILLERØD SYGEHUS (ISO-8859-1): HTTP {status} {answer}");
    let report = settled(stack, "medcom.admission_report").await?;
    println!(
        "   XDIS16 admission report to the hospital, validated against 2007/02/01: {}",
        report
            .map(|s| s.to_string())
            .unwrap_or_else(|| "not sent".into())
    );
    let sent = post(
        format!("/cases/{case_id}/correspondence"),
        json!({"to_ean": GP_EAN, "subject": "Indlæggelse", "text": "Kære læge\nBorgeren er indlagt; vi har sendt en indlæggelsesrapport.\nVenlig hilsen\nKøbenhavns Kommune"}),
    )
    .await?;
    println!(
        "   correspondence to the GP ({GP_EAN}): HTTP {}",
        sent.status().as_u16()
    );
    let letter = settled(stack, "medcom.correspondence").await?;
    println!(
        "   XDIS91 to the GP: {} (its receipt came back)",
        letter
            .map(|s| s.to_string())
            .unwrap_or_else(|| "not sent".into())
    );
    let stats = stack.sandbox.medcom.recorder.stats();
    println!(
        "   the network received {} message(s), {} invalid",
        stats.unique, stats.invalid
    );
    Ok(report == Some(MessageState::Delivered)
        && letter == Some(MessageState::Delivered)
        && stats.invalid == 0)
}
