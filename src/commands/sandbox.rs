//! `knudepunkt sandbox`

use std::process::ExitCode;

use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "KNUDEPUNKT_SANDBOX_LISTEN", default_value = knudepunkt_adapters::sandbox::DEFAULT_ADDR)]
    pub listen: String,
}

pub async fn run(_ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let (router, _handles) = knudepunkt_adapters::sandbox::router();
    let (addr, handle) = knudepunkt_adapters::sandbox::serve(&args.listen, router).await?;
    eprintln!(
        "sandbox serving on http://{addr}: generic receiver at /generic/receive, control at /generic/_sandbox/{{received,stats,faults}}"
    );
    tokio::select! {
        _ = handle => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}
