//! `/graphql/ws`: GraphQL subscriptions over graphql-transport-ws, with the checks a
//! WebSocket needs that HTTP requests get elsewhere (Origin, init deadline, subscription cap,
//! the failed-authentication limit, the hourly rate limit per operation, and re-checking the
//! caller, since a connection outlives the credentials it opened with).

use super::AppState;
use super::limits::MessageGuard;
use super::rate_limit::RateLimitSlot;
use crate::auth::{Caller, ClientAddr, Credentials, Principal};
use crate::error::AppError;
use crate::graphql::{RequestAuth, loaders};
use crate::service::Services;
use crate::service::rate_limit::Transport;
use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, WebSocket as GraphQLWebSocketStream, WebSocketProtocols, WsMessage,
};
use async_graphql::{Data, Pos};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{Extension, State, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{Interval, MissedTickBehavior};

/// Bytes each WebSocket connection buffers for reading and for writing before it flushes.
const WS_BUFFER: usize = 8 * 1024;

/// graphql-transport-ws. Credentials travel in the `connection_init` payload, under the same
/// names as the HTTP headers; without valid ones the connection is closed with 4403, as the
/// protocol specifies (4429 once the client address is over the failed-authentication limit).
/// Every operation (`subscribe`: query, mutation or subscription) counts once against the
/// workspace's hourly limit, as an HTTP request does; one over the limit gets an `error`
/// message with `RATE_LIMITED` and does not run, and the connection carries on.
///
/// Browsers do not apply the same-origin policy to WebSockets, so the `Origin` is checked
/// here, before upgrading: otherwise any site a user visits could open a socket to us. A
/// socket is only a way to authenticate, so a client over the failed-authentication limit is
/// refused here too (429), before it gets one.
pub async fn websocket(
    State(state): State<AppState>,
    slot: Option<Extension<RateLimitSlot>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<impl IntoResponse, AppError> {
    if !origin_allowed(&headers, &state.hardening.allowed_origins) {
        return Err(AppError::Forbidden(
            "this Origin may not open a WebSocket here".into(),
        ));
    }
    let client = slot.and_then(|Extension(slot)| slot.client());
    state.services.refuse_throttled_client(client)?;
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|list| {
            list.split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        })
        .ok_or_else(|| AppError::malformed(None, "ask for the graphql-transport-ws subprotocol"))?;
    Ok(upgrade
        // Clients send a few small messages and receive small events; tungstenite's 128 KiB
        // default buffers cost ~150 KB per idle subscriber (measured: docs/performance.md).
        .read_buffer_size(WS_BUFFER)
        .write_buffer_size(WS_BUFFER)
        .max_message_size(state.hardening.max_body_bytes)
        .max_frame_size(state.hardening.max_body_bytes)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(socket, state, protocol, client)))
}

/// Without an `Origin` the client is not a browser, and a browser cannot be made to omit it;
/// a same-origin page (our GraphiQL) is always fine; anything else must be listed.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    let listed = allowed
        .iter()
        .any(|a| a.trim().trim_end_matches('/').eq_ignore_ascii_case(origin));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same_origin = match (origin.split_once("://"), host) {
        (Some((_, authority)), Some(host)) => authority.eq_ignore_ascii_case(host.trim()),
        _ => false,
    };
    listed || same_origin
}

async fn serve_socket(
    socket: WebSocket,
    state: AppState,
    protocol: WebSocketProtocols,
    client: Option<ClientAddr>,
) {
    let limits = state.hardening.clone();
    let (mut sink, incoming) = socket.split();
    // Subscriptions this connection holds, by id, and refusals of operations over the cap or
    // the rate limit, which are answered here rather than by the library (it never sees them).
    let active = Arc::new(Mutex::new(HashSet::new()));
    let (refusals_tx, mut refusals) = mpsc::unbounded_channel();
    // Who authenticated, once someone has: operations count against its limit, and it is
    // re-checked while the connection lasts.
    let authenticated: Arc<Mutex<Option<Principal>>> = Arc::new(Mutex::new(None));
    let gate = Arc::new(Gate {
        active: active.clone(),
        max_subscriptions: limits.ws_max_subscriptions,
        refusals: refusals_tx,
        services: state.services.clone(),
        caller: authenticated.clone(),
    });
    let guard = MessageGuard::new(limits.max_body_bytes);
    let admitted = guard.clone();
    let incoming = incoming
        .take_while(move |message| std::future::ready(admitted.admits(message)))
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                _ => None,
            })
        })
        .filter_map(move |bytes| {
            let gate = gate.clone();
            // Boxed: the library's stream must be `Unpin`.
            Box::pin(async move { gate.admit(bytes).await })
        });
    // The library closes a refused connection_init with 1002; the protocol asks for 4403, and
    // a client over the failed-authentication limit gets 4429. 0 until a refusal.
    let refused = Arc::new(AtomicU16::new(0));
    // Whether connection_init has arrived: until it does, the connection holds resources
    // without having authenticated, so it only gets `ws_init_timeout_seconds`.
    let initialised = Arc::new(AtomicBool::new(false));
    let services = state.services.clone();
    let flag = refused.clone();
    let init_seen = initialised.clone();
    let who = authenticated.clone();
    let accepted = guard.clone();
    let mut outgoing = GraphQLWebSocketStream::new(state.schema.clone(), incoming, protocol)
        .on_connection_init(move |payload| {
            let services = services.clone();
            let flag = flag.clone();
            let who = who.clone();
            let accepted = accepted.clone();
            init_seen.store(true, Ordering::SeqCst);
            async move {
                let caller = authenticate_payload(&services, &payload, client)
                    .await
                    .inspect_err(|err| {
                        let code = match err {
                            AppError::AuthThrottled { .. } => 4429,
                            _ => 4403,
                        };
                        flag.store(code, Ordering::SeqCst);
                    })?;
                *who.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(caller.principal.clone());
                accepted.initialised();
                let mut data = Data::default();
                data.insert(loaders::loaders(services.clone(), caller.clone()));
                data.insert(RequestAuth(Ok(caller)));
                Ok(data)
            }
        });
    let init_deadline =
        tokio::time::sleep(Duration::from_secs(state.hardening.ws_init_timeout_seconds));
    tokio::pin!(init_deadline);
    let period = Duration::from_secs(state.hardening.ws_recheck_seconds.max(1));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut revocations = state.services.revocations();
    loop {
        let sent = tokio::select! {
            message = outgoing.next() => match message {
                None => {
                    guard.close_if_too_big(&mut sink).await;
                    break;
                }
                Some(WsMessage::Text(text)) => {
                    forget_finished(&text, &active);
                    sink.send(Message::Text(text.into())).await
                }
                Some(WsMessage::Close(code, reason)) => {
                    let code = match refused.load(Ordering::SeqCst) {
                        0 => code,
                        refusal => refusal,
                    };
                    let frame = CloseFrame {
                        code,
                        reason: reason.into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
            },
            Some(refusal) = refusals.recv() => sink.send(Message::Text(refusal.into())).await,
            () = recheck_due(&mut recheck, &mut revocations) => {
                if let Some(refusal) = no_longer_authorised(&state.services, &authenticated).await {
                    end_unauthorised(&mut sink, &active, refusal).await;
                    break;
                }
                Ok(())
            }
            () = &mut init_deadline, if !initialised.load(Ordering::SeqCst) => {
                // graphql-transport-ws: 4408 when connection_init does not come in time.
                let frame = CloseFrame {
                    code: 4408,
                    reason: "Connection initialisation timeout".into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
}

/// Resolves at the next periodic re-check, or at once when credentials were revoked on this
/// node.
async fn recheck_due(recheck: &mut Interval, revocations: &mut watch::Receiver<u64>) {
    tokio::select! {
        _ = recheck.tick() => {}
        changed = revocations.changed() => {
            if changed.is_err() {
                // The services are gone (shutting down): only the timer remains.
                recheck.tick().await;
            }
        }
    }
}

/// Why the connection's caller may no longer be served, if so. A database error is logged
/// and the connection kept: the next re-check decides, and an outage should not drop every
/// subscriber at once.
async fn no_longer_authorised(
    services: &Services,
    authenticated: &Mutex<Option<Principal>>,
) -> Option<AppError> {
    let principal = authenticated
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()?;
    match services.revalidate(&principal).await {
        Ok(_) => None,
        Err(err @ AppError::Unauthenticated(_)) => Some(err),
        Err(err) => {
            tracing::warn!(error = %err, "re-checking a WebSocket caller failed; keeping it");
            None
        }
    }
}

/// Ends every subscription of the connection with `refusal` (an `error` message each, so
/// clients see why), then closes it with 4403 as for a refused `connection_init`.
async fn end_unauthorised(
    sink: &mut (impl futures_util::Sink<Message> + Unpin),
    active: &Mutex<HashSet<String>>,
    refusal: AppError,
) {
    let ids: Vec<String> = active
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain()
        .collect();
    for id in ids {
        let _ = sink
            .send(Message::Text(error_message(&id, refusal.clone()).into()))
            .await;
    }
    let frame = CloseFrame {
        code: 4403,
        reason: "Forbidden: credentials revoked or expired".into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// The fields of a protocol message that the subscription cap looks at.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

/// What stands between a client's messages and the library: the subscription cap and the
/// hourly rate limit, both applied to `subscribe` messages (`start` in the legacy protocol).
struct Gate {
    /// Ids of the operations this connection has running.
    active: Arc<Mutex<HashSet<String>>>,
    max_subscriptions: usize,
    /// Refusals, for the connection's loop to send.
    refusals: mpsc::UnboundedSender<String>,
    services: Services,
    /// The connection's caller, once `connection_init` succeeded.
    caller: Arc<Mutex<Option<Principal>>>,
}

impl Gate {
    /// Passes a client message on to the library, unless it is an operation over the cap or
    /// over the caller's rate limit: that one is answered with an `error` message for its id
    /// and dropped, so it does no work, and the connection and its other operations carry on.
    /// Every operation counts against the hourly limit, as one HTTP request does (a batch
    /// mutation counts its further items when it runs, as over HTTP).
    async fn admit(&self, bytes: Vec<u8>) -> Option<Vec<u8>> {
        let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_slice(&bytes) else {
            return Some(bytes);
        };
        let added = match kind.as_str() {
            "subscribe" | "start" => {
                let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
                if active.contains(&id) {
                    // Replaces the running operation of that id (as the library does).
                    false
                } else if active.len() >= self.max_subscriptions {
                    drop(active);
                    let _ = self
                        .refusals
                        .send(too_many_subscriptions(&id, self.max_subscriptions));
                    return None;
                } else {
                    active.insert(id.clone())
                }
            }
            "complete" | "stop" => {
                self.active
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
                return Some(bytes);
            }
            _ => return Some(bytes),
        };
        let caller = self
            .caller
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Before `connection_init` succeeded the library refuses the operation itself.
        let Some(principal) = caller else {
            return Some(bytes);
        };
        match self.services.check_rate_limit(&principal).await {
            Ok(_) => Some(bytes),
            Err(refused) => {
                if added {
                    self.active
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&id);
                }
                let _ = self.refusals.send(error_message(&id, refused));
                None
            }
        }
    }
}

/// A subscription that the server ended (`complete`) or refused (`error`) no longer counts.
fn forget_finished(text: &str, active: &Mutex<HashSet<String>>) {
    // Cheap test first: most outgoing messages are `next` events.
    if !(text.contains("\"complete\"") || text.contains("\"error\"")) {
        return;
    }
    if let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_str(text)
        && (kind == "complete" || kind == "error")
    {
        active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }
}

fn too_many_subscriptions(id: &str, max: usize) -> String {
    let refused = AppError::invalid(
        "",
        format!("at most {max} subscriptions may be active on one connection"),
    );
    error_message(id, refused)
}

/// A graphql-transport-ws `error` message for subscription `id`.
fn error_message(id: &str, err: AppError) -> String {
    let mut error = async_graphql::Error::from(err).into_server_error(Pos::default());
    error.locations.clear();
    json!({ "id": id, "type": "error", "payload": [error] }).to_string()
}

/// Authenticates a `connection_init` payload from `client`. Opening a connection does not
/// count against the hourly limit: its operations do.
async fn authenticate_payload(
    services: &Services,
    payload: &serde_json::Value,
    client: Option<ClientAddr>,
) -> Result<Caller, AppError> {
    let pairs: Vec<(&str, &str)> = payload
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let principal = services
        .authenticate_from(
            &Credentials::from_pairs(pairs),
            client,
            Transport::WebSocket,
        )
        .await?;
    Ok(Caller {
        principal,
        request_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn headers(origin: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_static("convio.example:8080"),
        );
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn origins() {
        let listed = ["https://dash.example".to_owned()];
        assert!(origin_allowed(&headers(None), &[]));
        assert!(origin_allowed(
            &headers(Some("http://convio.example:8080")),
            &[]
        ));
        assert!(!origin_allowed(&headers(Some("https://evil.example")), &[]));
        assert!(!origin_allowed(&headers(Some("null")), &[]));
        assert!(origin_allowed(
            &headers(Some("https://dash.example")),
            &listed
        ));
        assert!(!origin_allowed(
            &headers(Some("https://dash.example.evil")),
            &listed
        ));
    }
}
