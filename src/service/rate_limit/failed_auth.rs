//! The limit on failed authentication attempts, per client address.
//!
//! Every door (`X-API-Key`, a bearer key or JWT, `/auth/token`, a WebSocket `connection_init`)
//! authenticates through [`Services::authenticate_from`]. A failed attempt is counted on
//! `/metrics`, logged without the secret, and counted against its client address; once an
//! address has made `--auth-failure-limit` failed attempts in the current window, its requests
//! are refused with `AuthThrottled` before their credentials are looked at (no key digest, no
//! database lookup), until the window ends.
//!
//! Why per address and not per claimed workspace: a limit keyed on the workspace a request
//! claims would let anyone who knows a workspace's id lock it out, from anywhere, by failing on
//! its behalf. Keyed on the address, an attacker throttles only itself (and whoever shares its
//! address: a NAT, or a proxy not listed in `--trusted-proxies`). What it gives up: an attacker
//! with many addresses gets `limit` guesses per address per window. Generated keys carry 256
//! random bits, so that buys nothing; the claimed workspace of every failure is logged, so a
//! distributed attempt on one workspace is visible.
//!
//! Across nodes: on PostgreSQL each failure adds to a shared counter (`rate_limit_windows`,
//! keyed `auth:<address>`), so the limit is cluster-wide; the refusal itself is decided from
//! this node's memory, so a request that authenticates pays no extra query. A node learns that
//! an address is over the limit at that address's first failure on it, so an attacker spread
//! over N nodes gets at most N - 1 checked attempts beyond the limit, each answered as refused.
//! On SQLite (one process) the count is kept in memory; on PostgreSQL it is kept in memory too,
//! so that a database that cannot take the shared count leaves a per-node limit in force.

use super::super::Services;
use crate::auth::{ClientAddr, CredentialKind, Credentials, Principal};
use crate::domain::WorkspaceId;
use crate::error::{AppError, AppResult};
use chrono::Utc;
use sea_orm::DbBackend;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// `--auth-failure-limit` failed attempts per client address per `--auth-failure-window-seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailedAuthLimit {
    /// Failed attempts allowed per window; 0 disables the limit (attempts are still counted).
    pub per_window: u64,
    /// Window length in seconds, 1 to 3600; windows are aligned to the clock.
    pub window_seconds: u64,
}

impl Default for FailedAuthLimit {
    /// Disabled: `Services` built without `with_failed_auth_limit` (tools, tests) limit nothing.
    fn default() -> Self {
        FailedAuthLimit {
            per_window: 0,
            window_seconds: 300,
        }
    }
}

/// How the credentials arrived, for the failure counter's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A request's headers (REST, `POST /graphql`, `/auth/token`).
    Http,
    /// A WebSocket `connection_init` payload.
    WebSocket,
}

impl Transport {
    const ALL: [Transport; 2] = [Transport::Http, Transport::WebSocket];

    fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::WebSocket => "websocket",
        }
    }
}

/// Failed attempts and throttled refusals since start, for `/metrics`.
#[derive(Default)]
struct Counters {
    /// By `CredentialKind::ALL` × `Transport::ALL` position.
    failures: [[AtomicU64; 2]; 3],
    throttled: AtomicU64,
}

/// The limit, this node's view of who is over it, and the in-process counts used on SQLite.
#[derive(Clone, Default)]
pub(in crate::service) struct FailedAuth {
    limit: FailedAuthLimit,
    /// Failures per client and window start on this node: the count on SQLite, and the
    /// fallback on PostgreSQL when the shared count cannot be written.
    local: Arc<Mutex<HashMap<(ClientAddr, i64), u64>>>,
    /// Clients over the limit, and when (seconds since the epoch) their window ends.
    blocked: Arc<Mutex<HashMap<ClientAddr, i64>>>,
    counters: Arc<Counters>,
}

impl FailedAuth {
    /// The window that `now` falls in: its start and its end.
    fn window(&self, now: i64) -> (i64, i64) {
        let length = i64::try_from(self.limit.window_seconds.max(1)).unwrap_or(3600);
        let start = now - now.rem_euclid(length);
        (start, start + length)
    }

    /// Refuses `client` while it is over the limit, counting the refusal.
    fn refuse_if_blocked(&self, client: ClientAddr, now: i64) -> AppResult<()> {
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        match blocked.get(&client) {
            Some(&until) if until > now => {
                self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                Err(AppError::AuthThrottled {
                    retry_after_seconds: u64::try_from(until - now).unwrap_or(1),
                })
            }
            Some(_) => {
                blocked.remove(&client);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn block(&self, client: ClientAddr, until: i64, now: i64) {
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        if !blocked.contains_key(&client) {
            blocked.retain(|_, end| *end > now);
        }
        blocked.insert(client, until);
    }

    fn count_locally(&self, client: ClientAddr, window_start: i64) -> u64 {
        let mut counts = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (client, window_start);
        if !counts.contains_key(&key) {
            counts.retain(|(_, start), _| *start >= window_start);
        }
        let count = counts.entry(key).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    fn note_failure(&self, kind: CredentialKind, transport: Transport) {
        let k = CredentialKind::ALL.iter().position(|c| *c == kind);
        let t = Transport::ALL.iter().position(|c| *c == transport);
        if let (Some(k), Some(t)) = (k, t) {
            self.counters.failures[k][t].fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Services {
    /// Limits failed authentication attempts to `limit` per client address. Call after
    /// `with_rate_limit_per_hour`, which starts the limiter afresh.
    pub fn with_failed_auth_limit(mut self, limit: FailedAuthLimit) -> Self {
        self.parts_mut().rate_limiter.failed_auth.limit = limit;
        self
    }

    /// [`Services::authenticate`] for a request from `client` (`None` when the address is
    /// unknown: then nothing is limited, only counted). A client over the limit is refused with
    /// `AuthThrottled` before its credentials are looked at; a failed attempt is counted,
    /// logged (client, credential kind, transport, claimed workspace, reason; never the secret)
    /// and answered `Unauthenticated`, or `AuthThrottled` when other nodes' failures had
    /// already used up the address's allowance. Requests without any credentials are
    /// anonymous, not attempts: they pass straight through.
    pub async fn authenticate_from(
        &self,
        creds: &Credentials,
        client: Option<ClientAddr>,
        transport: Transport,
    ) -> AppResult<Principal> {
        let Some(kind) = CredentialKind::of(creds) else {
            return self.authenticate(creds).await;
        };
        let failed = &self.rate_limiter.failed_auth;
        let limited = client.filter(|_| failed.limit.per_window > 0);
        if let Some(client) = limited {
            failed.refuse_if_blocked(client, Utc::now().timestamp())?;
        }
        let reason = match self.authenticate(creds).await {
            Err(AppError::Unauthenticated(reason)) => reason,
            other => return other,
        };
        failed.note_failure(kind, transport);
        // The claimed id is the caller's text: logged only when it is a well-formed id.
        let claimed = creds.workspace_id.as_deref().map(|id| {
            WorkspaceId::parse("", id).map_or("(malformed)".to_owned(), |id| id.to_string())
        });
        tracing::warn!(
            client = %client.map_or("unknown".to_owned(), |c| c.to_string()),
            credential = kind.as_str(),
            transport = transport.as_str(),
            claimed_workspace = claimed.as_deref().unwrap_or("-"),
            reason = %reason,
            "authentication failed"
        );
        if let Some(client) = limited {
            self.count_failure(client).await?;
        }
        Err(AppError::Unauthenticated(reason))
    }

    /// Refuses a client that is over the failed-authentication limit: for doors that are only
    /// a way to authenticate (a WebSocket upgrade), checked before anything else.
    pub fn refuse_throttled_client(&self, client: Option<ClientAddr>) -> AppResult<()> {
        let failed = &self.rate_limiter.failed_auth;
        match client {
            Some(client) if failed.limit.per_window > 0 => {
                failed.refuse_if_blocked(client, Utc::now().timestamp())
            }
            _ => Ok(()),
        }
    }

    /// Adds one failure to `client`'s count in this window; at the limit the client is
    /// refused for the rest of the window. Past it (other nodes used the allowance up), this
    /// attempt is answered as throttled too. This node's own count is kept as well, so when
    /// the database cannot take the shared one (logged) the limit still holds per node.
    async fn count_failure(&self, client: ClientAddr) -> AppResult<()> {
        let failed = &self.rate_limiter.failed_auth;
        let now = Utc::now().timestamp();
        let (window_start, window_end) = failed.window(now);
        let here = failed.count_locally(client, window_start);
        let count = match self.db.backend() {
            DbBackend::Sqlite => here,
            _ => match self
                .count_shared(&format!("auth:{client}"), window_start, 1)
                .await
            {
                Ok(shared) => shared.max(here),
                Err(err) => {
                    tracing::warn!(error = %err, "counting a failed authentication in the database failed");
                    here
                }
            },
        };
        let limit = failed.limit.per_window;
        if count < limit {
            return Ok(());
        }
        failed.block(client, window_end, now);
        if count == limit {
            tracing::warn!(
                client = %client,
                failures = count,
                retry_after_seconds = window_end - now,
                "client throttled: too many failed authentication attempts"
            );
            return Ok(());
        }
        Err(AppError::AuthThrottled {
            retry_after_seconds: u64::try_from(window_end - now).unwrap_or(1),
        })
    }

    /// Failed attempts by `(credential, transport)`, every pair listed (0 included), and
    /// throttled refusals, since start: `convio_auth_failures_total` and
    /// `convio_auth_throttled_total` on `/metrics`.
    pub fn failed_auth_counts(&self) -> (Vec<(&'static str, &'static str, u64)>, u64) {
        let counters = &self.rate_limiter.failed_auth.counters;
        let mut failures = Vec::with_capacity(CredentialKind::ALL.len() * Transport::ALL.len());
        for (k, kind) in CredentialKind::ALL.iter().enumerate() {
            for (t, transport) in Transport::ALL.iter().enumerate() {
                let count = counters.failures[k][t].load(Ordering::Relaxed);
                failures.push((kind.as_str(), transport.as_str(), count));
            }
        }
        (failures, counters.throttled.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_window: u64) -> FailedAuth {
        FailedAuth {
            limit: FailedAuthLimit {
                per_window,
                window_seconds: 300,
            },
            ..FailedAuth::default()
        }
    }

    fn addr(ip: &str) -> ClientAddr {
        ClientAddr::new(ip.parse().unwrap())
    }

    #[test]
    fn windows_are_aligned_to_the_clock() {
        assert_eq!(limiter(1).window(1_000_123), (999_900, 1_000_200));
        assert_eq!(limiter(1).window(999_900), (999_900, 1_000_200));
    }

    #[test]
    fn a_blocked_client_is_refused_until_its_window_ends_and_others_are_not() {
        let failed = limiter(3);
        let (a, b) = (addr("192.0.2.1"), addr("192.0.2.2"));
        failed.block(a, 1_300, 1_000);
        match failed.refuse_if_blocked(a, 1_100) {
            Err(AppError::AuthThrottled {
                retry_after_seconds,
            }) => assert_eq!(retry_after_seconds, 200),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(failed.refuse_if_blocked(b, 1_100).is_ok());
        assert!(
            failed.refuse_if_blocked(a, 1_300).is_ok(),
            "the window ended"
        );
        assert_eq!(failed.counters.throttled.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn local_counts_start_again_each_window() {
        let failed = limiter(3);
        let a = addr("192.0.2.1");
        assert_eq!(failed.count_locally(a, 0), 1);
        assert_eq!(failed.count_locally(a, 0), 2);
        assert_eq!(failed.count_locally(a, 300), 1);
        assert_eq!(failed.local.lock().unwrap().len(), 1, "old windows dropped");
    }
}
