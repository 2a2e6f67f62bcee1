//! `knudepunkt sandbox` and `knudepunkt sandbox certs`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use knudepunkt_adapters::sandbox::certs::SandboxCertificates;

use crate::setup::Context;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "KNUDEPUNKT_SANDBOX_LISTEN", default_value = knudepunkt_adapters::sandbox::DEFAULT_ADDR)]
    pub listen: String,
    /// Where the sandbox's certificates are (and are made if missing).
    #[arg(
        long,
        env = "KNUDEPUNKT_SANDBOX_CERTS",
        default_value = "data/sandbox-certs",
        global = true
    )]
    pub certs: PathBuf,
    /// The client bundle's password (the dev profile reads the same variable).
    #[arg(
        long,
        env = "KNUDEPUNKT_CLIENT_CERT_PASSWORD",
        default_value = "sandbox",
        global = true,
        hide_env_values = true
    )]
    pub password: String,
    /// Where the Digital Post simulator pushes statuses (Knudepunkt's PostStatusBeskedModtag).
    #[arg(
        long,
        env = "KNUDEPUNKT_STATUS_URL",
        default_value = "https://127.0.0.1:8701/beskedfordeler/PostStatusBeskedModtag"
    )]
    pub status_url: String,
    /// How long after accepting a letter its status is pushed, in milliseconds.
    #[arg(long, env = "KNUDEPUNKT_STATUS_DELAY_MS", default_value_t = 500)]
    pub status_delay_ms: u64,
    /// Where the Fordelingskomponent pushes receipts (Knudepunkt's FordelingskvitteringModtag).
    #[arg(
        long,
        env = "KNUDEPUNKT_FORDELING_URL",
        default_value = "https://127.0.0.1:8701/fordeling/FordelingskvitteringModtag"
    )]
    pub fordeling_url: String,
    /// Where Danmarks Statistik's intake pushes statuses (Knudepunkt's /in/dst/status).
    #[arg(
        long,
        env = "KNUDEPUNKT_DST_STATUS_URL",
        default_value = "http://127.0.0.1:8700/in/dst/status"
    )]
    pub dst_status_url: String,
    /// Where eDoc (through KKI) pushes its events (Knudepunkt's /in/edoc/haendelser).
    #[arg(
        long,
        env = "KNUDEPUNKT_EDOC_EVENTS_URL",
        default_value = "http://127.0.0.1:8700/in/edoc/haendelser"
    )]
    pub edoc_events_url: String,
    /// Where the MedCom network delivers (Knudepunkt's VANS access point).
    #[arg(
        long,
        env = "KNUDEPUNKT_MEDCOM_URL",
        default_value = "http://127.0.0.1:8700/medcom/vans/modtag"
    )]
    pub medcom_url: String,
    #[command(subcommand)]
    pub command: Option<SandboxCommand>,
}

#[derive(Subcommand)]
pub enum SandboxCommand {
    /// Make the sandbox CA, the STS's and the client's certificates with openssl.
    Certs {
        /// Replace certificates that are already there.
        #[arg(long)]
        force: bool,
    },
}

/// The sandbox's certificates from `dir`, made first if they are not there.
pub fn certificates(
    dir: &std::path::Path,
    password: &str,
    force: bool,
) -> anyhow::Result<(SandboxCertificates, bool)> {
    if SandboxCertificates::present(dir) && !force {
        let certs = SandboxCertificates::read(dir, password)
            .with_context(|| format!("reading the sandbox certificates in {}", dir.display()))?;
        return Ok((certs, false));
    }
    let certs = SandboxCertificates::generate()?;
    certs
        .write(dir, password)
        .with_context(|| format!("writing the sandbox certificates to {}", dir.display()))?;
    Ok((certs, true))
}

pub async fn run(_ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(SandboxCommand::Certs { force }) = args.command {
        let (certs, made) = certificates(&args.certs, &args.password, force)?;
        println!(
            "{} sandbox certificates in {}: CA {}, STS {}, client {} (client.p12, valid {} days)",
            if made { "made" } else { "kept the" },
            args.certs.display(),
            certs.ca.credential.subject(),
            certs.sts.subject(),
            certs.client.subject(),
            certs.client.days_left()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (certs, made) = certificates(&args.certs, &args.password, false)?;
    if made {
        eprintln!("made sandbox certificates in {}", args.certs.display());
    }
    let (router, handles) = knudepunkt_adapters::sandbox::router_with(&certs);
    handles.digital_post.push_statuses_to(
        &args.status_url,
        std::time::Duration::from_millis(args.status_delay_ms),
    );
    handles
        .fordeling
        .kvitteringer_to(&args.fordeling_url, std::time::Duration::from_millis(500));
    handles
        .dst
        .status_to(&args.dst_status_url, std::time::Duration::from_millis(500));
    handles.medcom.deliver_to(&args.medcom_url);
    handles.edoc.events_to(&args.edoc_events_url);
    let (addr, handle) = knudepunkt_adapters::sandbox::serve(&args.listen, router).await?;
    eprintln!(
        "sandbox serving on http://{addr}: generic receiver at /generic/receive, control at /generic/_sandbox/{{received,stats,faults}}, STS at {}, access tokens at {}, KombiPostAfsend at {} (statuses to {}), Fordelingskomponent at {} (receipts to {}), MedCom network at {} (delivering to {})",
        knudepunkt_adapters::sts::simulator::STS_PATH,
        knudepunkt_adapters::sts::simulator::ACCESS_TOKEN_PATH,
        knudepunkt_adapters::digital_post::KOMBI_PATH,
        args.status_url,
        knudepunkt_adapters::fordeling::PATH,
        args.fordeling_url,
        knudepunkt_adapters::medcom::SEND_PATH,
        args.medcom_url
    );
    tokio::select! {
        _ = handle => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}
