//! `knudepunkt token`: a signed bearer token for a user of the case API, for scripts
//! and for trying the API by hand. Needs KNUDEPUNKT_AUTH_SECRET, the server's secret.

use std::process::ExitCode;

use anyhow::bail;

use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    /// The user id the token names.
    #[arg(long)]
    pub user: String,
    /// How long the token is valid, e.g. 30m or 8h.
    #[arg(long, default_value = "8h")]
    pub ttl: humantime::Duration,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    if std::env::var("KNUDEPUNKT_AUTH_SECRET").is_err() {
        bail!("set KNUDEPUNKT_AUTH_SECRET to the server's secret: tokens are signed with it");
    }
    let tokens = ctx.authenticator()?;
    println!("{}", tokens.issue(&args.user, args.ttl.into()));
    Ok(ExitCode::SUCCESS)
}
