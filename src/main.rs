//! `knudepunkt`: the command line and the wiring of engine, case core and adapters.

mod allocator;
mod commands;
mod cpr_register;
mod dubu_source;
mod jobs;
mod kle_source;
mod logging;
mod org_source;
mod setup;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "knudepunkt",
    version,
    about = "Integration hub for municipal social services"
)]
struct Cli {
    /// Project root holding routes/, mappings/, schedules/, environments/.
    #[arg(long, global = true, env = "KNUDEPUNKT_ROOT", default_value = ".")]
    root: std::path::PathBuf,
    /// Endpoint profile: dev (the sandbox), test, preprod or prod.
    #[arg(
        long = "env",
        global = true,
        env = "KNUDEPUNKT_ENV",
        default_value = "dev"
    )]
    environment: String,
    /// The journal: sqlite://PATH (default) or postgres://...
    #[arg(long, global = true, env = "KNUDEPUNKT_DATABASE_URL", default_value = knudepunkt_engine::journal::DEFAULT_DATABASE_URL)]
    database_url: String,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine: workers, inbound routes, operator API, metrics.
    Serve(commands::serve::Args),
    /// The engine instances on this journal, each route's waiting work and lag, and
    /// (RabbitMQ transport) each queue's depth and consumers.
    Status,
    /// Inspect, validate and test the declarative routes.
    #[command(subcommand)]
    Route(commands::route::RouteCommand),
    /// Look at the journal.
    #[command(subcommand)]
    Messages(commands::messages::MessagesCommand),
    /// The dead letter queue: list, show, replay, discard.
    #[command(subcommand)]
    Dlq(commands::dlq::DlqCommand),
    /// Schedules: when each fires next; run one's job now.
    #[command(subcommand)]
    Schedule(commands::schedule::ScheduleCommand),
    /// STS Beskedfordeler: reconcile the subscriptions with the routes.
    #[command(subcommand)]
    Beskedfordeler(commands::beskedfordeler::BeskedfordelerCommand),
    /// The case and document index (STS SF1470): its initial load and where it stands.
    #[command(subcommand)]
    Index(commands::index::IndexCommand),
    /// Statutory report submissions: by report, period and state, and one with its log.
    #[command(subcommand)]
    Report(commands::report::ReportCommand),
    /// Document files (KNUDEPUNKT_DOCUMENT_FILES): sweep those no document names.
    #[command(subcommand)]
    Documents(commands::documents::DocumentsCommand),
    /// KLE from STS Klassifikation: sync now, check the numbers in use.
    #[command(subcommand)]
    Kle(commands::kle::KleCommand),
    /// Serve the simulated external systems on loopback.
    Sandbox(commands::sandbox::Args),
    /// Run sandbox and engine on the embedded default and show a scenario.
    Demo(commands::demo::Args),
    /// Measure throughput and latency on the embedded default.
    Bench(commands::bench::Args),
    /// Measure the case core at Copenhagen's size: seeding and read latency.
    BenchCase(commands::bench_case::Args),
    /// Measure Digital Post letters end to end through the sandbox.
    BenchDigitalPost(commands::bench_digital_post::Args),
    /// Measure the case and document index's backfill at Copenhagen's size.
    BenchIndex(commands::bench_index::Args),
    /// The statutory reports at the seed's yearly volume: seed, then extract and validate.
    BenchReports(commands::bench_reports::Args),
    /// Measure MedCom in and out through the sandbox's network.
    BenchMedcom(commands::bench_medcom::Args),
    /// Measure the full organisation sync from KK-ORG2 into the case core.
    BenchOrg(commands::bench_org::Args),
    /// Measure the same route four ways: embedded, 1 and 2 instances on RabbitMQ and
    /// PostgreSQL, and raw lapin publish+consume.
    BenchScale(commands::bench_scale::Args),
    /// Measure the KLE load from STS Klassifikation into the case core.
    BenchKle(commands::bench_kle::Args),
    /// Measure the DUBU handover at 18: packages streamed, checked and imported.
    BenchDubu(commands::bench_dubu::Args),
    /// Measure CPR lookups (SF1520) against the sandbox: latency percentiles and rate.
    BenchCpr(commands::bench_cpr::Args),
    /// Measure WS-Security signing, verification and cached STS token lookups.
    BenchSecurity(commands::bench_security::Args),
    /// Issue a signed bearer token for a user of the case API.
    Token(commands::token::Args),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    allocator::return_freed_memory_at_once();
    let cli = Cli::parse();
    logging::init();
    let ctx = setup::Context {
        root: cli.root,
        environment: cli.environment,
        database_url: cli.database_url,
        json: cli.json,
    };
    let result = match cli.command {
        Command::Serve(a) => commands::serve::run(&ctx, a).await,
        Command::Status => commands::status::run(&ctx).await,
        Command::Route(c) => commands::route::run(&ctx, c).await,
        Command::Messages(c) => commands::messages::run(&ctx, c).await,
        Command::Dlq(c) => commands::dlq::run(&ctx, c).await,
        Command::Schedule(c) => commands::schedule::run(&ctx, c).await,
        Command::Beskedfordeler(c) => commands::beskedfordeler::run(&ctx, c).await,
        Command::Index(c) => commands::index::run(&ctx, c).await,
        Command::Report(c) => commands::report::run(&ctx, c).await,
        Command::Documents(c) => commands::documents::run(&ctx, c).await,
        Command::Kle(c) => commands::kle::run(&ctx, c).await,
        Command::Sandbox(a) => commands::sandbox::run(&ctx, a).await,
        Command::Demo(a) => commands::demo::run(&ctx, a).await,
        Command::Bench(a) => commands::bench::run(&ctx, a).await,
        Command::BenchCase(a) => commands::bench_case::run(&ctx, a).await,
        Command::BenchDigitalPost(a) => commands::bench_digital_post::run(&ctx, a).await,
        Command::BenchIndex(a) => commands::bench_index::run(&ctx, a).await,
        Command::BenchReports(a) => commands::bench_reports::run(&ctx, a).await,
        Command::BenchMedcom(a) => commands::bench_medcom::run(&ctx, a).await,
        Command::BenchSecurity(a) => commands::bench_security::run(&ctx, a).await,
        Command::BenchCpr(a) => commands::bench_cpr::run(&ctx, a).await,
        Command::BenchKle(a) => commands::bench_kle::run(&ctx, a).await,
        Command::BenchDubu(a) => commands::bench_dubu::run(&ctx, a).await,
        Command::BenchOrg(a) => commands::bench_org::run(&ctx, a).await,
        Command::BenchScale(a) => commands::bench_scale::run(&ctx, a).await,
        Command::Token(a) => commands::token::run(&ctx, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
