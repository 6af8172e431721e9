//! What the rate limits need from a request and leave on its response.
//!
//! In: the client's address, for the limit on failed authentication attempts: the connection's
//! peer, or, for a connection from a `--trusted-proxies` proxy, the right-most address of
//! `X-Forwarded-For` that is not itself a trusted proxy.
//!
//! Out: `X-RateLimit-Limit`, `-Remaining` and `-Reset` on responses to rate-limited callers,
//! and 429 with `Retry-After` for a client refused for its failed attempts. The count happens
//! where the caller is authenticated (`caller::authenticate`), deep inside an extractor or
//! handler that cannot touch the response; it leaves the outcome in a slot this middleware
//! put into the request, and the middleware copies it onto the response.

use crate::auth::{ClientAddr, IpNetwork};
use crate::config::Hardening;
use crate::error::{AppError, AppResult};
use crate::service::rate_limit::RateLimitStatus;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

/// Which proxies' `X-Forwarded-For` is believed (`--trusted-proxies`).
#[derive(Clone, Default)]
pub struct ClientAddresses {
    trusted: Arc<[IpNetwork]>,
}

impl ClientAddresses {
    pub fn of(hardening: &Hardening) -> Self {
        ClientAddresses {
            trusted: hardening.trusted_proxies.clone().into(),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
    }

    /// The client of a request that came from `peer`. Each proxy appends the address it got
    /// the request from, so walking `X-Forwarded-For` from the right, the first address that
    /// is not a trusted proxy is the client; anything left of it was written by the client
    /// and proves nothing. A malformed entry ends the walk at the last proxy seen.
    fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.is_trusted(ip) {
                break;
            }
        }
        client
    }
}

/// `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(with_port) = hop.parse::<SocketAddr>() {
        return Some(with_port.ip());
    }
    None
}

/// What the rate limits know about one request: the client's address (in), and where the
/// caller stands against its workspace's hourly limit or the failed-authentication limit
/// (out, once known).
#[derive(Clone, Default)]
pub struct RateLimitSlot {
    client: Option<ClientAddr>,
    outcome: Arc<Mutex<Outcome>>,
}

#[derive(Clone, Copy, Default)]
struct Outcome {
    status: Option<RateLimitStatus>,
    /// Seconds until a client refused for its failed authentication attempts may try again.
    throttled: Option<u64>,
}

impl RateLimitSlot {
    /// The client's address, when the connection's peer is known.
    pub fn client(&self) -> Option<ClientAddr> {
        self.client
    }

    /// Notes the outcome of authenticating and counting; a refusal shows as nothing
    /// remaining, a throttled client as 429.
    pub fn record<T>(&self, outcome: &AppResult<T>, status: Option<RateLimitStatus>) {
        let mut slot = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = match outcome {
            Ok(_) => Outcome {
                status,
                throttled: None,
            },
            Err(AppError::RateLimited {
                retry_after_seconds,
                limit,
            }) => Outcome {
                status: Some(RateLimitStatus {
                    limit: *limit,
                    remaining: 0,
                    reset_seconds: *retry_after_seconds,
                }),
                throttled: None,
            },
            Err(AppError::AuthThrottled {
                retry_after_seconds,
            }) => Outcome {
                status: None,
                throttled: Some(*retry_after_seconds),
            },
            Err(_) => Outcome::default(),
        };
    }

    fn get(&self) -> Outcome {
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Puts a [`RateLimitSlot`] into the request and copies its outcome onto the response. A
/// client throttled for its failed authentication attempts gets a 429 with `Retry-After`
/// whatever the route answered (GraphQL would answer 200). A workspace over its hourly limit
/// gets its 429 from the refusal itself: REST's problem, or GraphQL's `respond`.
pub async fn headers(
    State(addresses): State<ClientAddresses>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let slot = RateLimitSlot {
        client: peer.map(|peer| ClientAddr::new(addresses.client(peer, request.headers()))),
        outcome: Arc::default(),
    };
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let outcome = slot.get();
    if let Some(status) = outcome.status {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", status.limit),
            ("x-ratelimit-remaining", status.remaining),
            ("x-ratelimit-reset", status.reset_seconds),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
    if let Some(seconds) = outcome.throttled {
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(trusted: &[&str]) -> ClientAddresses {
        ClientAddresses {
            trusted: trusted.iter().map(|t| t.parse().unwrap()).collect(),
        }
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let none = addresses(&[]);
        let spoofed = forwarded(&["198.51.100.1"]);
        assert_eq!(none.client(ip("203.0.113.7"), &spoofed), ip("203.0.113.7"));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let proxies = addresses(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.2");
        // The client wrote "1.1.1.1"; the edge proxy appended the client's real address, an
        // inner proxy appended the edge proxy's.
        let chain = forwarded(&["1.1.1.1, 203.0.113.7", "10.0.0.1"]);
        assert_eq!(proxies.client(peer, &chain), ip("203.0.113.7"));
        assert_eq!(
            proxies.client(peer, &forwarded(&["[2001:db8::1]:4711"])),
            ip("2001:db8::1")
        );
        assert_eq!(proxies.client(peer, &HeaderMap::new()), peer);
        assert_eq!(
            proxies.client(peer, &forwarded(&["203.0.113.7, nonsense, 10.0.0.1"])),
            ip("10.0.0.1"),
            "a malformed hop ends the walk at the last proxy"
        );
        assert_eq!(
            proxies.client(ip("192.0.2.1"), &chain),
            ip("192.0.2.1"),
            "an untrusted peer's header is ignored"
        );
    }
}
