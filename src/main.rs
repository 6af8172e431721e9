//! The `convio` binary: serve (default), migrate, verify the audit log, print the GraphQL
//! schema, or seed a synthetic history.

use clap::{Parser, Subcommand};
use convio::Config;
use convio::config::LogFormat;
use convio::service::audit::ChainReport;
use std::process::ExitCode;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, fmt};

/// mimalloc instead of glibc's malloc: under ingest load glibc's `malloc`, `free` and
/// `malloc_consolidate` took about a quarter of the server's CPU (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "convio", version, about = "Conversion tracking service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard, the GraphQL API, GraphiQL and the REST shims (the default).
    Serve,
    /// Run pending database migrations, then exit.
    Migrate,
    /// Print the GraphQL schema (SDL), as checked in at schema.graphql.
    Schema,
    /// Print the REST API's OpenAPI 3.1 document, as checked in at openapi.json.
    Openapi,
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Fill the database with a synthetic, reproducible history (for benchmarks and demos).
    Seed(convio::seed::SeedOptions),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the audit log's hash chain and check it against its signed head
    /// (--audit-anchor-key) and the anchor file (--audit-anchor-file); exit non-zero at the
    /// first broken entry, or when entries the head vouches for are missing.
    Verify,
}

/// Dependencies whose logs below a level can carry secrets, and that level: they are held to
/// it whatever `RUST_LOG` asks for.
const MUTED: [(&str, LevelFilter); 4] = [
    // Debug and trace lines print WebSocket frames and messages whole: the
    // `connection_init` payload carries `X-API-Key` or a bearer token.
    ("tungstenite", LevelFilter::INFO),
    ("tokio_tungstenite", LevelFilter::INFO),
    // Warns of a database URL parameter it does not know by printing its value
    // (`?sslpassword=…`).
    ("sqlx_postgres::options", LevelFilter::OFF),
    // Trace lines repeat extractor rejections, which may quote the rejected input.
    ("axum::rejection", LevelFilter::OFF),
];

/// Logs at `RUST_LOG` (default `convio=info,tower_http=info`), except that the
/// targets in [`MUTED`] never log below their level, as text or as JSON lines (`--log-format`).
/// A JSON line logged while serving a request carries the request's span, and with it the
/// `request_id` (see `http::request_span`).
fn init_logging(format: LogFormat) {
    let wanted = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("convio=info,tower_http=info"));
    let muted = MUTED.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, (target, level)| t.with_target(*target, *level),
    );
    let (text, json) = match format {
        LogFormat::Text => (Some(fmt::layer()), None),
        LogFormat::Json => (None, Some(fmt::layer().json())),
    };
    tracing_subscriber::registry()
        .with(wanted)
        .with(muted)
        .with(text)
        .with(json)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Schema => {
            print!("{}", convio::graphql::sdl());
            Ok(())
        }
        Command::Openapi => {
            println!("{}", convio::http::openapi::json());
            Ok(())
        }
        Command::Migrate => convio::migrate(&cli.config).await.map(|_| {
            tracing::info!("migrations applied");
        }),
        Command::Audit(AuditCommand::Verify) => match verify_audit(&cli.config).await {
            Ok(code) => return code,
            Err(err) => Err(err),
        },
        Command::Seed(options) => seed(&cli.config, &options).await,
        Command::Serve => serve(cli.config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("convio: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the database without migrating or serving it: verification must not change it.
async fn verify_audit(config: &Config) -> Result<ExitCode, convio::error::AppError> {
    let db = convio::db::Db::connect(&config.database_url, 1).await?;
    let report = convio::service::audit::verify(db.conn(), &config.audit_anchor).await?;
    if matches!(report, ChainReport::Intact { .. }) {
        println!("{report}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("convio: {report}");
        Ok(ExitCode::FAILURE)
    }
}

async fn seed(
    config: &Config,
    options: &convio::seed::SeedOptions,
) -> Result<(), convio::error::AppError> {
    let started = std::time::Instant::now();
    // One connection: the seeder writes from one task, and its session settings (see
    // `seed::seed`) then cover every statement.
    let mut config = config.clone();
    config.db_max_connections = 1;
    let db = convio::migrate(&config).await?;
    let report = convio::seed::seed(&db, &config.rollup_zones()?, options).await?;
    println!(
        "seeded {} conversions, {} contacts, {} workspaces, {} tracking rows in {:.1} s",
        report.conversions,
        report.contacts,
        report.workspaces,
        report.tracking_rows,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn serve(config: Config) -> Result<(), convio::error::AppError> {
    tracing::info!(?config, "starting");
    let production = config.hardening.production;
    let server = convio::build(config).await?;
    if let Some(key) = &server.generated_admin_key {
        // Printed to the terminal once, deliberately not through the logger.
        eprintln!(
            "\n  No CONVIO_ADMIN_KEY was set, so an admin key was generated for this database.\n  \
             It is shown only this once; store it safely:\n\n    {key}\n"
        );
    }
    let address = server.local_addr();
    let base = format!("http://{address}");
    tracing::info!("Dashboard    {base}/dashboard");
    tracing::info!("GraphQL      {base}/graphql");
    if !production {
        tracing::info!("GraphiQL     {base}/graphiql");
    }
    tracing::info!("Subscriptions ws://{address}/graphql/ws (graphql-transport-ws)");
    tracing::info!("REST         {base}/conversions/log, /conversions, /conversions/analytics, …");
    server
        .serve()
        .await
        .map_err(|e| convio::error::AppError::Internal(format!("server failed: {e}")))
}
