//! `convio-bench`: drives a running convio server over real HTTP and WebSocket for a fixed
//! time and reports throughput, latency percentiles, errors by status and code, feed delivery
//! (latency and lost events) and the server's memory. A client only: it talks to the server
//! the way integrators and dashboards do, and shares no code with it.

mod cli;
mod client;
mod delivery;
mod export;
mod floor;
mod ops;
mod reference;
mod report;
mod scenarios;
mod server;
mod setup;
mod slow;
mod stats;
mod window;
mod ws;

use clap::Parser;
use cli::Args;
use client::Api;
use report::Report;
use setup::SetupPlan;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    if let Some(failure) = reference::serve_if_asked() {
        eprintln!("convio-bench reference server: {failure}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("convio-bench: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Args::parse())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("convio-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    if args.workspaces == 0 || args.contacts_per_workspace == 0 || args.concurrency == 0 {
        return Err(
            "--workspaces, --contacts-per-workspace and --concurrency must be at least 1".into(),
        );
    }
    if args.rate == 0 || args.duration == 0 {
        return Err("--rate and --duration must be at least 1".into());
    }
    if args.ceilings && matches!(args.scenario, cli::Scenario::Burst) {
        // The references run the closed loop: a ratio to bursts, capped at their own rate,
        // would mean nothing.
        return Err("--ceilings runs the closed loop of ingest-rest: not with burst".into());
    }
    if let cli::Scenario::Export = args.scenario {
        return export::run(&args).await;
    }
    if let cli::Scenario::SlowClients = args.scenario {
        return slow::run(&args).await;
    }
    if let cli::Scenario::FeedFloor = args.scenario {
        let floor = scenarios::measure_floor(&args)
            .await
            .ok_or("the floor could not be measured")?;
        print!("{}", report::floor_table(&args, &floor));
        return Ok(());
    }
    // Every closed-loop client and every in-flight feed write holds one connection; the
    // headroom covers setup and the /metrics probes.
    let pool = args.concurrency + args.rate as usize + 16;
    let api =
        Arc::new(Api::new(&args.url, pool).map_err(|e| format!("building the HTTP client: {e}"))?);
    let started_at = chrono::Utc::now();
    eprintln!(
        "setting up {} workspaces × {} contacts at {} …",
        args.workspaces,
        args.contacts_per_workspace,
        api.base()
    );
    let plan = SetupPlan {
        admin_key: &args.admin_key,
        workspaces: args.workspaces,
        contacts_per_workspace: args.contacts_per_workspace,
        rate_limit_per_hour: args.workspace_rate_limit,
    };
    let fixture = Arc::new(setup::prepare(&api, &plan).await?);
    eprintln!(
        "run {}: {} for {} s after {} s warm-up …",
        fixture.run_id,
        args.scenario_name(),
        args.duration,
        args.warmup
    );
    let outcome = scenarios::run(&args, api, fixture.clone()).await;
    let mut report = Report::new(&args, fixture.run_id.clone(), started_at, outcome);
    if args.ceilings {
        for kind in reference::KINDS {
            eprintln!("ceiling: the {kind} reference under the same load …");
            let server = reference::Reference::start(kind).await?;
            let tally = scenarios::against_reference(&args, &server.url, fixture.clone()).await?;
            report.add_ceiling(kind, &tally);
        }
    }
    print!("{}", report.table());
    if let Some(path) = &args.json {
        report.write_json(path)?;
    }
    Ok(())
}
