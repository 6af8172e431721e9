//! Observability: the Prometheus metrics every part of convio reports to (`/metrics`), the
//! checks behind `/healthz`, and the labels that keep both bounded. docs/operations.md lists
//! every series, its type and labels, and the alerts built on them (deploy/prometheus/).
//!
//! A server's [`Metrics`] is made once in `build` and travels with the services (as the
//! database handle, the bus and the keys do): nothing here is process-global.

mod graphql;
pub mod health;
mod http;
pub mod labels;
mod registry;
mod series;

pub use graphql::{OperationMetrics, code_of};
pub use http::track_requests;
pub use labels::ConversionTypeLabels;
pub use registry::{
    CacheCounters, GROUP_SIZE_BUCKETS, InFlight, LATENCY_BUCKETS, Metrics, OpenConnection, PoolUse,
    ProbeFailure, Scrape,
};
pub use series::{Kind, SERIES, Series};
