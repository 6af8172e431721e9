//! The REST shims of the plan (§2, §6), for integrators' webhooks.

pub mod audit;
pub mod contacts;
pub mod conversions;
pub mod export;
pub mod workspaces;
