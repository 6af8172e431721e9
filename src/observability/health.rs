//! `/healthz`: whether this node can serve, and when not, which check failed and why. It is
//! polled (by load balancers, every few seconds), so it stays cheap: one ping of the database
//! and two reads of memory; the schema is re-read at most every [`SCHEMA_RECHECK`].

use super::registry::{Metrics, ProbeFailure};
use crate::db::Db;
use serde::Serialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the database has to answer a probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often, at most, `/healthz` re-reads which migrations are applied.
pub const SCHEMA_RECHECK: Duration = Duration::from_secs(30);
/// The pump passes over the feed at least every 2 s; this long without a pass means it is
/// stuck or gone.
pub const PUMP_STALE_AFTER: Duration = Duration::from_secs(15);

/// What `/healthz` answers: `status` is `ok` or `unavailable` (then the response is 503), and
/// each check says whether it passed and, in words, what it saw.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub status: &'static str,
    pub checks: Checks,
}

#[derive(Clone, Debug, Serialize)]
pub struct Checks {
    /// The database answers a ping within [`PROBE_TIMEOUT`].
    pub database: Check,
    /// Every migration this build knows is applied.
    pub migrations: Check,
    /// The feed pump finished a pass within [`PUMP_STALE_AFTER`].
    pub feed_pump: Check,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn pass(detail: impl Into<String>) -> Self {
        Check {
            ok: true,
            detail: detail.into(),
        }
    }

    fn fail(detail: impl Into<String>) -> Self {
        Check {
            ok: false,
            detail: detail.into(),
        }
    }
}

impl Report {
    pub fn healthy(&self) -> bool {
        let Checks {
            database,
            migrations,
            feed_pump,
        } = &self.checks;
        database.ok && migrations.ok && feed_pump.ok
    }
}

/// The last schema check and when it ran.
#[derive(Default)]
pub struct HealthState {
    schema: Mutex<Option<(Instant, Check)>>,
}

/// Pings the database within [`PROBE_TIMEOUT`], records the outcome on `metrics`
/// (`convio_db_up`, `convio_db_probe_failures_total`) and says how long it took.
pub async fn probe_database(db: &Db, metrics: &Metrics) -> Result<Duration, ProbeFailure> {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "database probe: the database did not answer");
            Err(ProbeFailure::Error)
        }
        Err(_) => {
            tracing::warn!(timeout = ?PROBE_TIMEOUT, "database probe: no answer in time");
            Err(ProbeFailure::Timeout)
        }
    };
    metrics.db_probe(outcome.err());
    outcome
}

/// Runs every check. Details never carry an internal error's text (it goes to the log).
pub async fn check(db: &Db, metrics: &Metrics) -> Report {
    let database = match probe_database(db, metrics).await {
        Ok(took) => Check::pass(format!("answered in {} ms", took.as_millis())),
        Err(ProbeFailure::Error) => Check::fail("the database refused or dropped the connection"),
        Err(ProbeFailure::Timeout) => Check::fail(format!(
            "no answer within {} s (down, unreachable, or every pooled connection busy)",
            PROBE_TIMEOUT.as_secs()
        )),
    };
    let migrations = if database.ok {
        schema_check(db, metrics.health_state()).await
    } else {
        Check::fail("not checked: the database did not answer")
    };
    let feed_pump = match metrics.feed_pump_idle_for() {
        Some(idle) if idle <= PUMP_STALE_AFTER => {
            Check::pass(format!("last pass {} ms ago", idle.as_millis()))
        }
        Some(idle) => Check::fail(format!(
            "no pass for {} s (it passes at least every 2 s)",
            idle.as_secs()
        )),
        None => Check::fail("has not run yet"),
    };
    let checks = Checks {
        database,
        migrations,
        feed_pump,
    };
    let mut report = Report {
        status: "ok",
        checks,
    };
    if !report.healthy() {
        report.status = "unavailable";
    }
    report
}

/// The cached schema check, re-read when older than [`SCHEMA_RECHECK`]. A failed read is
/// not cached, so the next poll tries again.
async fn schema_check(db: &Db, state: &HealthState) -> Check {
    let cached = state
        .schema
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some((at, check)) = cached
        && at.elapsed() < SCHEMA_RECHECK
    {
        return check;
    }
    let check = match crate::schema_status(db).await {
        Ok(status) if !status.pending.is_empty() => Check::fail(format!(
            "{} migration(s) of this build are not applied: {}; run `convio migrate`",
            status.pending.len(),
            status.pending.join(", ")
        )),
        Ok(status) if !status.newer.is_empty() => Check::pass(format!(
            "all {} applied; the schema is {} migration(s) newer than this build (a later \
             build migrated it; migrations only add, so this one still serves)",
            status.applied,
            status.newer.len()
        )),
        Ok(status) => Check::pass(format!("all {} applied", status.applied)),
        Err(err) => {
            tracing::warn!(error = %err, "health check: reading the applied migrations failed");
            return Check::fail("the applied migrations could not be read");
        }
    };
    *state
        .schema
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), check.clone()));
    check
}
