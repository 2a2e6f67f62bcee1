//! `knudepunkt dlq list|show|replay|discard`

use std::process::ExitCode;

use clap::Subcommand;
use knudepunkt_engine::MessageId;
use knudepunkt_engine::journal::ListFilter;
use knudepunkt_engine::message::MessageState;

use super::{emit, print_table};
use crate::setup::Context;

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Dead messages, newest first.
    List {
        #[arg(long)]
        route: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// One dead message with its whole history (the read is audited).
    Show {
        id: MessageId,
        #[command(flatten)]
        reason: super::messages::ReadReason,
    },
    /// Put a dead message back in line (its checksum is checked first).
    Replay {
        id: MessageId,
        /// Who is replaying, for the history.
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
    },
    /// Give up on a dead message for good.
    Discard {
        id: MessageId,
        #[arg(long)]
        reason: String,
        #[arg(long, env = "USER", default_value = "operator")]
        by: String,
    },
}

pub async fn run(ctx: &Context, cmd: DlqCommand) -> anyhow::Result<ExitCode> {
    let journal = ctx.journal().await?;
    match cmd {
        DlqCommand::List { route, limit } => {
            let list = journal
                .list(&ListFilter {
                    route,
                    state: Some(MessageState::Dead),
                    correlation_id: None,
                    limit,
                })
                .await?;
            emit(ctx.json, &list, || print_table(&list));
        }
        DlqCommand::Show { id, reason } => {
            super::messages::show(ctx, &journal, id, &reason).await?
        }
        DlqCommand::Replay { id, by } => {
            journal.replay(id, &by).await?;
            emit(
                ctx.json,
                &serde_json::json!({"id": id, "state": "pending"}),
                || println!("message {id} is pending again; a running engine will deliver it"),
            );
        }
        DlqCommand::Discard { id, reason, by } => {
            journal.discard(id, &by, &reason).await?;
            emit(
                ctx.json,
                &serde_json::json!({"id": id, "state": "discarded"}),
                || println!("message {id} discarded"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
