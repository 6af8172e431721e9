//! `migration`: apply or roll back the convio schema.
//!
//! ```text
//! migration [--database-url URL] <up|down|status|fresh>
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::{DbErr, Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{Database, DatabaseConnection};

#[derive(Debug, Parser)]
#[command(
    name = "migration",
    about = "Apply or roll back the convio database schema"
)]
struct Cli {
    /// Database to migrate, e.g. `sqlite://convio.db?mode=rwc` or `postgres://user:pass@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://convio.db?mode=rwc",
        hide_env_values = true,
        global = true
    )]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum Command {
    /// Apply all pending migrations.
    Up,
    /// Roll back the most recently applied migration.
    Down,
    /// List every migration and whether it has been applied.
    Status,
    /// Drop every table, then apply all migrations from scratch.
    Fresh,
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Command::Up => "up",
            Command::Down => "down",
            Command::Status => "status",
            Command::Fresh => "fresh",
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("migration {} failed: {err}", cli.command.name());
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Result<(), DbErr> {
    let db = Database::connect(cli.database_url.as_str()).await?;
    let result = execute(&db, cli.command).await;
    // Close the pool whatever happened; report the migration error first.
    let closed = db.close().await;
    result.and(closed)
}

async fn execute(db: &DatabaseConnection, command: Command) -> Result<(), DbErr> {
    match command {
        Command::Up => {
            Migrator::up(db, None).await?;
            println!("all migrations applied");
        }
        Command::Down => {
            Migrator::down(db, Some(1)).await?;
            println!("rolled back the last migration");
        }
        Command::Status => {
            // `Migrator::status` only reports through `tracing`, which this binary
            // does not subscribe to, so print the same information directly.
            for migration in Migrator::get_migration_with_status(db).await? {
                println!("{}\t{}", migration.status(), migration.name());
            }
        }
        Command::Fresh => {
            Migrator::fresh(db).await?;
            println!("database recreated and all migrations applied");
        }
    }
    Ok(())
}
