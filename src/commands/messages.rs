//! `knudepunkt messages list|show`

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use knudepunkt_engine::journal::ListFilter;
use knudepunkt_engine::message::{MessageState, format_ms};
use knudepunkt_engine::{Journal, MessageId};

use super::{emit, print_table};
use crate::setup::Context;

#[derive(Subcommand)]
pub enum MessagesCommand {
    /// Newest first.
    List {
        #[arg(long)]
        route: Option<String>,
        #[arg(long)]
        state: Option<MessageState>,
        #[arg(long)]
        correlation_id: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One message with its payload and history (the read is audited).
    Show {
        id: MessageId,
        #[command(flatten)]
        reason: ReadReason,
    },
}

pub async fn run(ctx: &Context, cmd: MessagesCommand) -> anyhow::Result<ExitCode> {
    let journal = ctx.journal().await?;
    match cmd {
        MessagesCommand::List {
            route,
            state,
            correlation_id,
            limit,
        } => {
            let list = journal
                .list(&ListFilter {
                    route,
                    state,
                    correlation_id,
                    limit,
                })
                .await?;
            emit(ctx.json, &list, || print_table(&list));
        }
        MessagesCommand::Show { id, reason } => show(ctx, &journal, id, &reason).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Who reads a message's content, and why: every read is audited.
#[derive(clap::Args)]
pub struct ReadReason {
    /// Why you read it (a case number, a ticket): recorded in the audit log.
    #[arg(long)]
    pub why: String,
    /// Who reads it.
    #[arg(long, env = "USER", default_value = "operator")]
    pub by: String,
}

pub async fn show(
    ctx: &Context,
    journal: &Journal,
    id: MessageId,
    reason: &ReadReason,
) -> anyhow::Result<()> {
    journal
        .audit_read(&reason.by, "cli", id, &reason.why)
        .await?;
    let m = journal
        .get(id)
        .await
        .with_context(|| format!("showing message {id}"))?;
    let history = journal.history(id).await?;
    let payload = String::from_utf8_lossy(&m.payload).into_owned();
    emit(
        ctx.json,
        &serde_json::json!({"message": m, "payload": payload, "history": history}),
        || {
            println!("message         {}", m.id);
            println!("route           {} ({})", m.route, m.direction.as_str());
            println!("state           {}", m.state);
            println!(
                "correlation id  {}",
                m.correlation_id.as_deref().unwrap_or("-")
            );
            println!("idempotency key {}", m.idempotency_key);
            println!("attempts        {}", m.attempts);
            if let Some(n) = m.next_attempt_at {
                println!("next attempt    {}", format_ms(n));
            }
            println!("checksum        sha256:{}", m.checksum);
            println!(
                "content         {} ({} bytes)",
                m.content_type, m.payload_size
            );
            if let Some(e) = &m.last_error {
                println!(
                    "last error      {}: {e}",
                    m.last_error_kind.as_deref().unwrap_or("?")
                );
            }
            for (k, v) in &m.external_ids {
                println!("external id     {k} = {v}");
            }
            println!("history:");
            for t in &history {
                println!(
                    "  {}  {:>9} -> {:<10} attempt {}  {}",
                    format_ms(t.at),
                    t.from_state.as_deref().unwrap_or("-"),
                    t.to_state.as_str(),
                    t.attempt,
                    t.detail.as_deref().unwrap_or("")
                );
            }
            println!("payload:\n{payload}");
        },
    );
    Ok(())
}
