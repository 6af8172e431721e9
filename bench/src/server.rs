//! What is watched on the server while the load runs: its memory, from `/proc/<pid>/status`
//! when it runs on this machine, and the SQL statements it executed, from `/metrics`.

use crate::client::Api;
use crate::window::Window;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Often enough to catch a short peak of the resident set; `VmHWM` catches the rest.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Default, Serialize)]
pub struct ServerReport {
    /// The most memory the process held: `VmHWM` at the end (setup and earlier runs included;
    /// restart the server for a figure of this run alone), or a larger sampled `VmRSS`, since
    /// the kernel updates `VmHWM` lazily.
    pub peak_rss_kb: Option<u64>,
    /// The largest `VmRSS` sampled while the load ran.
    pub max_sampled_rss_kb: Option<u64>,
    /// `VmRSS` before the load started.
    pub rss_before_kb: Option<u64>,
    /// SQL statements executed during the measured window (`convio_db_statements_total`).
    pub db_statements: Option<u64>,
}

pub struct Probe {
    memory: Option<(oneshot::Sender<()>, JoinHandle<ServerReport>)>,
    statements: JoinHandle<Option<u64>>,
}

impl Probe {
    pub fn start(api: Arc<Api>, pid: Option<u32>, window: Window) -> Probe {
        let memory = pid.map(|pid| {
            let (stop, stopped) = oneshot::channel();
            (stop, tokio::spawn(sample_memory(pid, stopped)))
        });
        let statements = tokio::spawn(async move {
            tokio::time::sleep_until(window.start).await;
            let before = statement_count(&api).await?;
            tokio::time::sleep_until(window.end).await;
            Some(statement_count(&api).await?.saturating_sub(before))
        });
        Probe { memory, statements }
    }

    pub async fn finish(self) -> ServerReport {
        let mut report = match self.memory {
            Some((stop, task)) => {
                let _ = stop.send(());
                task.await.unwrap_or_default()
            }
            None => ServerReport::default(),
        };
        report.db_statements = self.statements.await.ok().flatten();
        report
    }
}

async fn sample_memory(pid: u32, mut stopped: oneshot::Receiver<()>) -> ServerReport {
    let path = format!("/proc/{pid}/status");
    let read = || {
        std::fs::read_to_string(&path)
            .ok()
            .map(|s| Status::parse(&s))
    };
    let mut report = ServerReport {
        rss_before_kb: read().and_then(|s| s.rss_kb),
        ..ServerReport::default()
    };
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = &mut stopped => break,
        }
        if let Some(status) = read() {
            report.max_sampled_rss_kb = report.max_sampled_rss_kb.max(status.rss_kb);
            report.peak_rss_kb = status.hwm_kb.or(report.peak_rss_kb);
        }
    }
    if let Some(status) = read() {
        report.peak_rss_kb = status.hwm_kb.or(report.peak_rss_kb);
    }
    report.peak_rss_kb = report.peak_rss_kb.max(report.max_sampled_rss_kb);
    report
}

async fn statement_count(api: &Api) -> Option<u64> {
    metric(&api.metrics().await.ok()?, "convio_db_statements_total")
}

/// A sample's value in Prometheus text: the line `<name> <value>`.
pub fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))?
        .trim()
        .parse()
        .ok()
}

/// The two lines of `/proc/<pid>/status` wanted here, in kB.
#[derive(Debug, PartialEq)]
struct Status {
    rss_kb: Option<u64>,
    hwm_kb: Option<u64>,
}

impl Status {
    fn parse(text: &str) -> Status {
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Status {
            rss_kb: field("VmRSS:"),
            hwm_kb: field("VmHWM:"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_peak_from_proc_status() {
        let text =
            "Name:\tconvio\nVmPeak:\t  900000 kB\nVmHWM:\t   61234 kB\nVmRSS:\t   58000 kB\n";
        assert_eq!(
            Status::parse(text),
            Status {
                rss_kb: Some(58_000),
                hwm_kb: Some(61_234)
            }
        );
    }

    #[test]
    fn reads_a_counter_from_metrics_text() {
        let text = "# HELP convio_db_statements_total SQL.\n# TYPE convio_db_statements_total counter\n\
                    convio_db_statements_total 4711\nconvio_feed_subscribers 3\n";
        assert_eq!(metric(text, "convio_db_statements_total"), Some(4711));
        assert_eq!(metric(text, "convio_feed_subscribers"), Some(3));
        assert_eq!(metric(text, "convio_missing"), None);
    }
}
