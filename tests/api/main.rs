//! Black-box tests of convio through its real HTTP and WebSocket doors.

mod analytics;
mod audit;
mod backend;
mod bad_input;
mod cache;
mod cluster;
mod crash;
mod dataloader;
mod encryption;
mod graphql;
mod hardening;
mod helpers;
mod hostile;
mod idempotency;
mod keys;
mod pii_logs;
mod privacy;
mod rate_limits;
mod rest_contacts;
mod rest_conversions;
mod rest_workspaces;
mod rollups;
mod seed;
mod subscription;
mod tenancy;
