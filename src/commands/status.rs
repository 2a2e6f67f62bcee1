//! `knudepunkt status`: the engine instances sharing this journal, each route's waiting
//! work and its age (lag), and, with the RabbitMQ transport, each queue's depth and
//! consumers as the broker reports them.

use std::process::ExitCode;

use knudepunkt_engine::instance::HEARTBEAT;
use knudepunkt_engine::message::{format_ms, now_ms};
use knudepunkt_engine::transport::status::{QueueDepth, consumed_routes, queue_depths};
use serde_json::json;

use super::emit;
use crate::setup::Context;

pub async fn run(ctx: &Context) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine().await?;
    let now = now_ms();
    // Alive: heard from within three heartbeats.
    let instances = engine
        .journal()
        .instances(now - 3 * HEARTBEAT.as_millis() as i64)
        .await?;
    let lag = engine.journal().lag(now).await?;
    let amqp = crate::setup::engine_options()?.amqp;
    let queues: Option<Result<Vec<QueueDepth>, String>> = match &amqp {
        None => None,
        Some(a) => Some(
            queue_depths(&a.url, &consumed_routes(engine.routes()))
                .await
                .map_err(|e| e.to_string()),
        ),
    };
    let report = json!({
        "transport": amqp.as_ref().map_or("embedded".to_string(), |a| format!("rabbitmq {}", a.describe())),
        "instances": instances,
        "lag": lag.iter().map(|(route, waiting, age)| json!({"route": route, "waiting": waiting, "oldest_waiting_ms": age})).collect::<Vec<_>>(),
        "queues": match &queues {
            None => json!(null),
            Some(Ok(q)) => json!(q),
            Some(Err(e)) => json!({"error": e}),
        },
    });
    emit(ctx.json, &report, || {
        println!(
            "transport: {}",
            report["transport"].as_str().unwrap_or_default()
        );
        println!(
            "\nINSTANCE                                 TRANSPORT  CONNECTED  CONSUMERS  IN FLIGHT  HANDLED  LAST SEEN"
        );
        for i in &instances {
            println!(
                "{:<40} {:<10} {:<10} {:>9}  {:>9}  {:>7}  {}",
                i.id,
                i.transport,
                if i.connected { "yes" } else { "no" },
                i.consumers,
                i.in_flight,
                i.handled,
                format_ms(i.seen_at)
            );
        }
        println!("{} instance(s) alive", instances.len());
        println!("\nROUTE                          WAITING  OLDEST WAITING");
        for (route, waiting, age) in &lag {
            println!("{route:<30} {waiting:>8}  {:.1} s", *age as f64 / 1000.0);
        }
        if lag.is_empty() {
            println!("(nothing waiting)");
        }
        match &queues {
            None => {}
            Some(Err(e)) => println!("\nthe broker cannot be asked: {e}"),
            Some(Ok(qs)) => {
                println!("\nQUEUE                                    READY  CONSUMERS");
                for q in qs {
                    if q.exists {
                        println!("{:<40} {:>6}  {:>9}", q.queue, q.messages, q.consumers);
                    } else {
                        println!("{:<40}  (not declared yet)", q.queue);
                    }
                }
            }
        }
    });
    Ok(if matches!(queues, Some(Err(_))) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
