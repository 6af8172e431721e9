//! Tallies of what happened: per operation, an HDR histogram of successful latencies in
//! microseconds, the number of successes, and failures keyed by status and code. Each worker
//! keeps its own tally and they are merged at the end, so recording never waits on a lock.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies above a minute are recorded as a minute: by then something is broken anyway.
const MAX_LATENCY_US: u64 = 60_000_000;

/// A histogram from 1 µs to a minute with three significant digits (0.1 % resolution).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant bounds are valid")
}

/// Records `elapsed` in microseconds; sub-microsecond values count as 1 µs.
pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
}

pub struct OpTally {
    pub latency: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    /// The row times requests another row counts already (`Tally::again`): left out of the
    /// totals.
    pub again: bool,
}

impl Default for OpTally {
    fn default() -> Self {
        OpTally {
            latency: latency_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
            again: false,
        }
    }
}

/// Per-operation tallies, by report row name.
#[derive(Default)]
pub struct Tally {
    by_op: BTreeMap<&'static str, OpTally>,
}

impl Tally {
    pub fn ok(&mut self, op: &'static str, elapsed: Duration) {
        let tally = self.by_op.entry(op).or_default();
        tally.ok += 1;
        record(&mut tally.latency, elapsed);
    }

    /// A request `ok` counted already under another row, timed another way (from another
    /// start) as `row`.
    pub fn again(&mut self, row: &'static str, elapsed: Duration) {
        self.ok(row, elapsed);
        self.by_op.entry(row).or_default().again = true;
    }

    pub fn error(&mut self, op: &'static str, key: String) {
        *self
            .by_op
            .entry(op)
            .or_default()
            .errors
            .entry(key)
            .or_default() += 1;
    }

    pub fn merge(&mut self, other: Tally) {
        for (op, theirs) in other.by_op {
            let ours = self.by_op.entry(op).or_default();
            ours.ok += theirs.ok;
            ours.again |= theirs.again;
            // Both histograms have the same bounds, so adding cannot fail.
            ours.latency
                .add(&theirs.latency)
                .expect("histograms with equal bounds add");
            for (key, n) in theirs.errors {
                *ours.errors.entry(key).or_default() += n;
            }
        }
    }

    pub fn ops(&self) -> impl Iterator<Item = (&'static str, &OpTally)> {
        self.by_op.iter().map(|(op, tally)| (*op, tally))
    }
}

/// Percentiles of a histogram, in microseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Latency {
    /// `None` for an empty histogram: percentiles of nothing would read as zero latency.
    pub fn of(histogram: &Histogram<u64>) -> Option<Latency> {
        if histogram.is_empty() {
            return None;
        }
        // `highest_equivalent` reports the top of each bucket, so a percentile is never
        // understated by the 0.1 % bucketing.
        let at = |q: f64| histogram.highest_equivalent(histogram.value_at_quantile(q));
        Some(Latency {
            count: histogram.len(),
            p50_us: at(0.50),
            p95_us: at(0.95),
            p99_us: at(0.99),
            max_us: histogram.highest_equivalent(histogram.max()),
            mean_us: (histogram.mean() * 10.0).round() / 10.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_ten_thousand_microseconds() {
        let mut h = latency_histogram();
        for us in 1..=10_000 {
            record(&mut h, Duration::from_micros(us));
        }
        let l = Latency::of(&h).unwrap();
        assert_eq!(l.count, 10_000);
        // Three significant digits: each figure within 0.1 % above the exact one.
        for (got, exact) in [
            (l.p50_us, 5_000),
            (l.p95_us, 9_500),
            (l.p99_us, 9_900),
            (l.max_us, 10_000),
        ] {
            assert!(
                got >= exact && got <= exact + exact / 1000 + 1,
                "{got} vs {exact}"
            );
        }
        assert!((l.mean_us - 5_000.5).abs() < 5.0, "mean {}", l.mean_us);
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        assert_eq!(Latency::of(&latency_histogram()), None);
    }

    #[test]
    fn sub_microsecond_and_huge_values_are_clamped() {
        let mut h = latency_histogram();
        record(&mut h, Duration::from_nanos(10));
        record(&mut h, Duration::from_secs(3600));
        assert_eq!(h.min(), 1);
        assert!(h.max() >= MAX_LATENCY_US && h.max() <= MAX_LATENCY_US + MAX_LATENCY_US / 1000);
    }

    #[test]
    fn merging_adds_counts_errors_and_latencies() {
        let mut a = Tally::default();
        a.ok("op", Duration::from_micros(100));
        a.error("op", "HTTP 500".into());
        let mut b = Tally::default();
        b.ok("op", Duration::from_micros(300));
        b.error("op", "HTTP 500".into());
        b.error("other", "transport: timeout".into());
        a.merge(b);
        let ops: Vec<_> = a.ops().collect();
        assert_eq!(ops.len(), 2);
        let (name, op) = ops[0];
        assert_eq!(name, "op");
        assert_eq!(op.ok, 2);
        assert_eq!(op.errors["HTTP 500"], 2);
        assert_eq!(op.latency.len(), 2);
        assert!(op.latency.max() >= 300);
    }
}
