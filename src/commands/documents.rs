//! `knudepunkt documents sweep`: removes the document files no document names (left by
//! transactions that rolled back) and interrupted writes and spools, once they are older
//! than `--older-than-hours`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use super::emit;
use crate::setup::Context;

#[derive(Subcommand)]
pub enum DocumentsCommand {
    /// Removes document files no document names (KNUDEPUNKT_DOCUMENT_FILES).
    Sweep {
        /// Leave files younger than this alone: a transaction may still be writing its
        /// document.
        #[arg(long, default_value_t = 24)]
        older_than_hours: u64,
    },
}

pub async fn run(ctx: &Context, cmd: DocumentsCommand) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine().await?;
    let core = ctx.case_core(&engine).await?;
    match cmd {
        DocumentsCommand::Sweep { older_than_hours } => {
            let swept = core
                .sweep_document_files(Duration::from_secs(older_than_hours * 3600))
                .await?;
            emit(ctx.json, &swept, || {
                println!(
                    "{} document files looked at: {} no document names removed ({} bytes); {} left-overs removed from incoming/",
                    swept.files, swept.removed, swept.removed_bytes, swept.incoming_removed
                );
            });
            Ok(ExitCode::SUCCESS)
        }
    }
}
