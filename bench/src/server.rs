//! What is watched on the server while the load runs: its memory, from `/proc/<pid>/status`,
//! and the CPU time each of its threads spent in the measured window, from
//! `/proc/<pid>/task/*/stat`, when it runs on this machine; and the SQL statements it
//! executed, from `/metrics`.

use crate::client::Api;
use crate::window::Window;
use serde::Serialize;
use std::collections::BTreeMap;
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
    /// CPU time (user and system, ms) the server's threads spent in the measured window, by
    /// thread name with its trailing number dropped (`tokio-rt-worker`, `convio-writer`, and
    /// on SQLite `sqlite-writer` and `sqlite-reader`; the kernel keeps 15 bytes of a name):
    /// which thread a change unloads, a figure a noisy machine moves less than throughput.
    pub cpu_ms_by_thread: Option<BTreeMap<String, u64>>,
}

pub struct Probe {
    memory: Option<(oneshot::Sender<()>, JoinHandle<ServerReport>)>,
    statements: JoinHandle<Option<u64>>,
    cpu: Option<JoinHandle<Option<BTreeMap<String, u64>>>>,
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
        let cpu = pid.map(|pid| {
            tokio::spawn(async move {
                tokio::time::sleep_until(window.start).await;
                let before = thread_ticks(pid)?;
                tokio::time::sleep_until(window.end).await;
                let after = thread_ticks(pid)?;
                Some(
                    after
                        .into_iter()
                        .map(|(name, ticks)| {
                            let spent =
                                ticks.saturating_sub(before.get(&name).copied().unwrap_or(0));
                            (name, spent * MS_PER_TICK)
                        })
                        .filter(|(_, ms)| *ms > 0)
                        .collect(),
                )
            })
        });
        Probe {
            memory,
            statements,
            cpu,
        }
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
        if let Some(cpu) = self.cpu {
            report.cpu_ms_by_thread = cpu.await.ok().flatten();
        }
        report
    }
}

/// `/proc` counts CPU time in clock ticks of `USER_HZ`, which Linux fixes at 100 a second.
const MS_PER_TICK: u64 = 10;

/// CPU ticks (user and system) the threads of `pid` have spent so far, summed by name with
/// trailing digits and dashes dropped; `None` if the process is not on this machine.
fn thread_ticks(pid: u32) -> Option<BTreeMap<String, u64>> {
    let mut by_name = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        // A thread that ended between the listing and the read is left out.
        if let Some((name, ticks)) = std::fs::read_to_string(task.path().join("stat"))
            .ok()
            .and_then(|stat| parse_stat(&stat))
        {
            *by_name.entry(name).or_default() += ticks;
        }
    }
    Some(by_name)
}

/// A thread's name (trailing digits and dashes dropped) and its `utime + stime` from its
/// `stat` line: `tid (name) state ppid … utime stime …`, fields 14 and 15. The name may hold
/// spaces and parentheses, so the fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
    Some((name.to_owned(), ticks))
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
    fn reads_a_threads_name_and_cpu_ticks_from_its_stat() {
        let stat = "4242 (sqlx-sqlite-wor) S 1 4200 4200 0 -1 4194368 100 0 0 0 731 69 0 0 20 0 \
                    20 0 1234 5678 99 18446744073709551615";
        assert_eq!(parse_stat(stat), Some(("sqlx-sqlite-wor".to_owned(), 800)));
        let odd = "7 (x) y-3) R 1 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0";
        assert_eq!(parse_stat(odd), Some(("x) y".to_owned(), 11)));
        assert_eq!(parse_stat("garbage"), None);
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
