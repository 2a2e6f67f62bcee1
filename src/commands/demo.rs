//! `knudepunkt demo`: the system doing its job on the embedded default.

use std::process::ExitCode;
use std::time::Duration;

use knudepunkt_adapters::sandbox::{Fault, FaultKind};
use knudepunkt_engine::message::MessageState;
use knudepunkt_engine::{EngineOptions, Outbound, Submitted};
use serde_json::json;

use super::stack::{Stack, fresh_sqlite};
use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Keep serving after the scenario, for a look at the API and /metrics.
    #[arg(long)]
    pub stay: bool,
}

pub(super) fn step(n: u32, text: &str) {
    println!("\n== {n}. {text}");
}

async fn wait_for(
    stack: &Stack,
    id: knudepunkt_engine::MessageId,
    want: &[MessageState],
) -> anyhow::Result<MessageState> {
    for _ in 0..400 {
        let s = stack.engine.journal().get(id).await?.state;
        if want.contains(&s) {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(stack.engine.journal().get(id).await?.state)
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let db = fresh_sqlite("demo.db");
    let stack = Stack::start(ctx, &db, EngineOptions::default()).await?;
    let engine = &stack.engine;
    println!(
        "Knudepunkt demo: embedded journal {db}, sandbox on http://{}, engine on http://{}",
        stack.sandbox_addr, stack.server_addr
    );
    println!(
        "{}",
        knudepunkt_engine::schema_dir::describe(&engine.routes().schema_dir)
    );

    let client = knudepunkt_adapters::http::client();
    let case_ok = super::demo_case::run(&stack, &client, 1).await?;

    step(
        5,
        "The engine as a library: a caller writes 25 notifications in its own transaction (outbox)",
    );
    let mut tx = engine.journal().begin().await?;
    for i in 1..=25 {
        let ev = json!({"id": format!("demo-{i}"), "case_id": format!("SAG-2026-{i:04}"), "text": format!("Bevilling nr. {i} er truffet")});
        engine
            .submit(
                &mut tx,
                Outbound {
                    route: "generic.notify",
                    event: &ev,
                },
            )
            .await?;
    }
    tx.commit().await?;
    engine.wake();
    println!("   and one more in a transaction that rolls back:");
    let mut tx = engine.journal().begin().await?;
    let ev = json!({"id": "demo-rolled-back", "text": "never sent"});
    let rolled = engine
        .submit(
            &mut tx,
            Outbound {
                route: "generic.notify",
                event: &ev,
            },
        )
        .await?;
    tx.rollback().await?;
    let rolled_id = rolled.id().expect("journaled, not filtered");
    println!(
        "   rolled-back message {rolled_id} is in the journal: {}",
        engine.journal().get(rolled_id).await.is_ok()
    );

    for _ in 0..400 {
        let counts = engine
            .journal()
            .count_by_state(Some("generic.notify"))
            .await?;
        if counts
            .iter()
            .any(|(s, n)| *s == MessageState::Delivered && *n == 25)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    println!("   25 delivered; the rolled-back one never left");

    step(
        6,
        "The receiver answers 503 (with Retry-After: 1) three times; the engine redelivers",
    );
    stack.sandbox.generic.faults.push(Fault {
        kind: FaultKind::Status {
            status: 503,
            retry_after: Some(1),
        },
        count: 3,
    });
    let ev =
        json!({"id": "demo-retry", "case_id": "SAG-2026-0100", "text": "Afgørelse sendes igen"});
    let retry = engine
        .submit_now(Outbound {
            route: "generic.notify",
            event: &ev,
        })
        .await?;
    let id = retry.id().expect("journaled");
    let state = wait_for(&stack, id, &[MessageState::Delivered, MessageState::Dead]).await?;
    println!(
        "   message {id}: {state} after {} attempts",
        engine.journal().get(id).await?.attempts
    );

    step(
        7,
        "The receiver refuses a message with 400: it goes straight to the dead letter queue",
    );
    stack.sandbox.generic.faults.clear();
    stack.sandbox.generic.faults.push(Fault {
        kind: FaultKind::Status {
            status: 400,
            retry_after: None,
        },
        count: 1,
    });
    let ev = json!({"id": "demo-dead", "case_id": "SAG-2026-0200", "text": "Modtageren afviser"});
    let dead = engine
        .submit_now(Outbound {
            route: "generic.notify",
            event: &ev,
        })
        .await?
        .id()
        .expect("journaled");
    let state = wait_for(&stack, dead, &[MessageState::Dead, MessageState::Delivered]).await?;
    let m = engine.journal().get(dead).await?;
    println!(
        "   message {dead}: {state}: {}",
        m.last_error.unwrap_or_default()
    );
    let notes = engine.journal().open_notifications(10).await?;
    println!(
        "   the case core is told: {} dead-letter event(s) waiting, for case {:?}",
        notes.len(),
        notes.first().and_then(|n| n.correlation_id.clone())
    );
    println!("   the operator replays it (`knudepunkt dlq replay {dead}`), the fault now cleared:");
    engine.journal().replay(dead, "demo").await?;
    engine.wake();
    let state = wait_for(&stack, dead, &[MessageState::Delivered]).await?;
    println!("   message {dead}: {state}");

    step(
        8,
        "A caller posts a letter to a synchronous route; it is rendered as MeMo, validated, delivered, answered",
    );
    let resp = client
        .post(format!("http://{}/in/generic/letter", stack.server_addr))
        .json(&json!({"letter_id": "demo-letter-1", "case_id": "SAG-2026-0042", "title": "Afgørelse om ledsageordning", "sender_cvr": "64942212", "recipient_cpr": "0101901234", "body": "Du har fået bevilget ledsagelse."}))
        .send()
        .await?;
    println!("   HTTP {}: {}", resp.status(), resp.text().await?);
    let resp = client
        .post(format!("http://{}/in/generic/letter", stack.server_addr))
        .json(&json!({"letter_id": "demo-letter-2", "title": "Mangler modtager", "sender_cvr": "64942212", "body": "x"}))
        .send()
        .await?;
    println!(
        "   a letter without a recipient is refused before it leaves: HTTP {}: {}",
        resp.status(),
        resp.text().await?
    );

    let reports_ok = super::demo_reports::run(ctx, &stack, 9).await?;
    let handover_ok = super::demo_handover::run(&stack, 10).await?;

    step(11, "Where everything ended up");
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (state, n) in engine.journal().count_by_state(None).await? {
        println!("   {state:<10} {n}");
    }
    let stats = stack.sandbox.generic.recorder.stats();
    println!(
        "   the receiver saw {} requests: {} unique messages, {} duplicates absorbed, {} injected faults",
        stats.raw_requests, stats.unique, stats.duplicates, stats.faulted
    );
    let delivered = engine
        .journal()
        .count_by_state(Some("generic.notify"))
        .await?;
    let ok = delivered
        .iter()
        .any(|(s, n)| *s == MessageState::Delivered && *n == 27)
        && matches!(rolled, Submitted::Journaled(_))
        && case_ok
        && reports_ok
        && handover_ok;
    println!(
        "\nInspect: knudepunkt --database-url {db} messages list   |   knudepunkt --database-url {db} messages show {dead}"
    );
    if args.stay {
        println!(
            "Serving on http://{} (metrics at /metrics); Ctrl-C to stop.",
            stack.server_addr
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    stack.stop().await;
    if ok {
        println!(
            "demo finished: the case worked through the API, its letter dispatched, all 27 notifications delivered exactly once, the month's reports accepted, a young person handed over at 18"
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("demo finished with unexpected states; see above");
        Ok(ExitCode::FAILURE)
    }
}
