//! The `slow-clients` scenario: how much a crowd of slow clients costs everyone else. It
//! measures `/healthz` (a fresh connection per probe, as load balancers do) and a normal API
//! client (`GET /conversions?limit=20` as the admin, over kept-alive connections) first
//! against the idle server, then while `--slow-clients` connections crawl: half send a
//! request's headers a line a second and never finish them, half send complete headers and
//! then a 1 MB body a byte a second. Each reconnects when the server drops it. Bounded in count
//! (at most 4,096) and time (`--duration` per phase), and only against a server on this
//! machine (127.0.0.1 or localhost).

use crate::cli::Args;
use crate::stats::{latency_histogram, record};
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The most slow connections one run may open at once.
const MAX_SLOW_CLIENTS: usize = 4096;

/// How often a slow client sends its next few bytes.
const DRIP: Duration = Duration::from_secs(1);

/// Latencies of one phase, per measured client.
struct Phase {
    healthz: Histogram<u64>,
    healthz_failed: u64,
    api: Histogram<u64>,
    api_failed: u64,
}

pub async fn run(args: &Args) -> Result<(), String> {
    let address = local_address(&args.url)?;
    if args.slow_clients > MAX_SLOW_CLIENTS {
        return Err(format!("--slow-clients is at most {MAX_SLOW_CLIENTS}"));
    }
    let duration = args.duration();
    eprintln!("idle server: measuring for {} s …", args.duration);
    let idle = measure(args, duration).await?;

    eprintln!(
        "{} slow clients: {} s warm-up, then measuring for {} s …",
        args.slow_clients, args.warmup, args.duration
    );
    let counters = Arc::new(SlowCounters::default());
    let until = Instant::now() + args.warmup() + duration;
    let crawlers: Vec<_> = (0..args.slow_clients)
        .map(|i| tokio::spawn(crawl(address.clone(), i % 2 == 0, until, counters.clone())))
        .collect();
    tokio::time::sleep(args.warmup()).await;
    let loaded = measure(args, duration).await?;
    for crawler in crawlers {
        let _ = crawler.await;
    }
    print!("{}", table(args.slow_clients, &idle, &loaded, &counters));
    Ok(())
}

/// `host:port` of the server, refusing anything not on this machine.
fn local_address(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("slow-clients speaks plain http:// to a local server only")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    if !matches!(host, "127.0.0.1" | "localhost") {
        return Err(format!(
            "slow-clients only runs against 127.0.0.1 or localhost, not {host}"
        ));
    }
    let port = authority.rsplit_once(':').map_or("80", |(_, p)| p);
    Ok(format!("127.0.0.1:{port}"))
}

/// `/healthz` on a fresh connection and the API on a kept-alive one, one request at a time
/// each, for `duration`.
async fn measure(args: &Args, duration: Duration) -> Result<Phase, String> {
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let kept = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let healthz = format!("{}/healthz", args.url.trim_end_matches('/'));
    let api = format!("{}/conversions?limit=20", args.url.trim_end_matches('/'));
    let key = args.admin_key.clone();
    let until = Instant::now() + duration;
    let probe = tokio::spawn(async move { timed(until, || fresh.get(&healthz).send()).await });
    let client =
        tokio::spawn(async move { timed(until, || kept.get(&api).bearer_auth(&key).send()).await });
    let (healthz, healthz_failed) = probe.await.map_err(|e| e.to_string())?;
    let (api, api_failed) = client.await.map_err(|e| e.to_string())?;
    Ok(Phase {
        healthz,
        healthz_failed,
        api,
        api_failed,
    })
}

/// Sends requests back to back until `until`: latencies of the 2xx ones, and how many failed.
async fn timed<F, Fut>(until: Instant, send: F) -> (Histogram<u64>, u64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let mut latency = latency_histogram();
    let mut failures = 0;
    while Instant::now() < until {
        let started = Instant::now();
        match send().await {
            Ok(response) if response.status().is_success() => {
                let _ = response.bytes().await;
                record(&mut latency, started.elapsed());
            }
            _ => failures += 1,
        }
    }
    (latency, failures)
}

#[derive(Default)]
struct SlowCounters {
    connections: AtomicU64,
    cut_off: AtomicU64,
}

/// One slow client: crawls through a request until `until`, reconnecting when dropped.
async fn crawl(address: String, headers_only: bool, until: Instant, counters: Arc<SlowCounters>) {
    while Instant::now() < until {
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(DRIP, TcpStream::connect(address.as_str())).await
        else {
            tokio::time::sleep(DRIP).await;
            continue;
        };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let opening: &[u8] = if headers_only {
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        } else {
            b"POST /conversions/log HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        };
        let mut sent = stream.write_all(opening).await;
        while sent.is_ok() && Instant::now() < until {
            tokio::time::sleep(DRIP).await;
            let drip: &[u8] = if headers_only { b"X-Slow: 1\r\n" } else { b" " };
            sent = stream.write_all(drip).await;
        }
        if sent.is_err() {
            counters.cut_off.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn table(slow: usize, idle: &Phase, loaded: &Phase, counters: &SlowCounters) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<34} {:>8} {:>9} {:>9} {:>9} {:>8}",
        "client", "requests", "p50 ms", "p99 ms", "max ms", "failed"
    );
    let rows = [
        ("/healthz, idle server", &idle.healthz, idle.healthz_failed),
        (
            "/healthz, slow clients",
            &loaded.healthz,
            loaded.healthz_failed,
        ),
        ("API (keep-alive), idle server", &idle.api, idle.api_failed),
        (
            "API (keep-alive), slow clients",
            &loaded.api,
            loaded.api_failed,
        ),
    ];
    for (name, h, failed) in rows {
        let _ = writeln!(
            out,
            "{:<34} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>8}",
            name,
            h.len(),
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            failed
        );
    }
    let ratio = |a: &Histogram<u64>, b: &Histogram<u64>| {
        b.value_at_quantile(0.99) as f64 / a.value_at_quantile(0.99).max(1) as f64
    };
    let _ = writeln!(
        out,
        "p99 under {slow} slow clients / idle: /healthz {:.2}×, API {:.2}×",
        ratio(&idle.healthz, &loaded.healthz),
        ratio(&idle.api, &loaded.api)
    );
    let _ = writeln!(
        out,
        "slow connections opened: {}, cut off by the server: {}",
        counters.connections.load(Ordering::Relaxed),
        counters.cut_off.load(Ordering::Relaxed)
    );
    out
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}
