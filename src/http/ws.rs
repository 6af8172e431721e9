//! `/graphql/ws`: GraphQL over graphql-transport-ws (the protocol of the reference `graphql-ws`
//! client), with the checks a WebSocket needs that HTTP requests get elsewhere (Origin, init
//! deadline, message sizes, subscription cap, the failed-authentication limit, the hourly rate
//! limit per operation, and re-checking the caller, since a connection outlives the
//! credentials it opened with).
//!
//! The protocol is spoken here rather than by async-graphql's `WebSocket`, which cannot be
//! made conformant from outside: it replaces an operation whose id is still running, answers
//! request errors with `next` and `complete`, accepts the legacy protocol's messages on this
//! one, and closes with codes and reasons the protocol does not have. Messages are read in
//! `protocol.rs`; operations run through `Schema::execute_stream` in `operations.rs`.

mod operations;
mod protocol;
mod shared;

use super::AppState;
use super::limits::MessageGuard;
use super::rate_limit::RateLimitSlot;
use crate::auth::{Caller, ClientAddr, Credentials};
use crate::error::AppError;
use crate::graphql::{RequestAuth, loaders};
use crate::service::Services;
use crate::service::rate_limit::Transport;
use async_graphql::Pos;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Extension, State, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use futures_util::future::{BoxFuture, OptionFuture};
use futures_util::stream::{BoxStream, SplitSink};
use futures_util::{SinkExt, StreamExt};
use operations::{Operations, Reply};
use protocol::{ClientMessage, Close, DEPRECATED_SUBPROTOCOL, SUBPROTOCOL, ServerMessage};
use serde_json::{Map, Value};
pub use shared::FeedGroups;
use std::time::Duration;
use tokio::sync::watch;
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
/// Only the `graphql-transport-ws` subprotocol is spoken: a client that does not offer it
/// (one asking for the deprecated `graphql-ws` of subscriptions-transport-ws included) is
/// refused with 400 before the upgrade.
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
    check_subprotocol(&headers)?;
    Ok(upgrade
        // Clients send a few small messages and receive small events; tungstenite's 128 KiB
        // default buffers cost ~150 KB per idle subscriber (measured: docs/performance.md).
        .read_buffer_size(WS_BUFFER)
        .write_buffer_size(WS_BUFFER)
        .max_message_size(state.hardening.max_body_bytes)
        .max_frame_size(state.hardening.max_body_bytes)
        .protocols([SUBPROTOCOL])
        .on_upgrade(move |socket| serve_socket(socket, state, client)))
}

/// The client must offer `graphql-transport-ws` in `Sec-WebSocket-Protocol`.
fn check_subprotocol(headers: &HeaderMap) -> Result<(), AppError> {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .collect();
    if offered.contains(&SUBPROTOCOL) {
        Ok(())
    } else if offered.contains(&DEPRECATED_SUBPROTOCOL) {
        Err(AppError::malformed(
            None,
            "the deprecated graphql-ws subprotocol (subscriptions-transport-ws) is not \
             supported: ask for graphql-transport-ws",
        ))
    } else {
        Err(AppError::malformed(
            None,
            "ask for the graphql-transport-ws subprotocol",
        ))
    }
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

/// Where a connection stands in the protocol.
enum Phase {
    /// `connection_init` is due within `--ws-init-timeout-seconds`.
    AwaitingInit,
    /// `connection_init` arrived; its credentials are being checked.
    Authenticating,
    /// `connection_ack` was sent: operations run as this caller.
    Acknowledged(Caller),
}

/// Why the connection's loop stops.
enum End {
    /// The server closes the connection, saying why.
    Close(Close),
    /// The client is gone (or closed), or its last message was too big.
    Gone,
}

impl From<Close> for End {
    fn from(close: Close) -> Self {
        End::Close(close)
    }
}

type Step = Result<(), End>;

/// One connection: its socket's sending half, where it stands, and what it runs.
struct Connection {
    services: Services,
    max_subscriptions: usize,
    client: Option<ClientAddr>,
    sink: SplitSink<WebSocket, Message>,
    guard: MessageGuard,
    phase: Phase,
    /// The check of `connection_init`'s credentials, while it runs: the connection goes on
    /// reading meanwhile, so a `subscribe` sent before the acknowledgement is seen as such.
    authenticating: Option<BoxFuture<'static, Result<Caller, AppError>>>,
    operations: Operations,
}

async fn serve_socket(socket: WebSocket, state: AppState, client: Option<ClientAddr>) {
    let _open = state.services.metrics.websocket_opened();
    let limits = state.hardening.clone();
    let (sink, incoming) = socket.split();
    let guard = MessageGuard::new(limits.max_body_bytes);
    let admitted = guard.clone();
    let mut incoming: BoxStream<'static, Vec<u8>> = incoming
        .take_while(move |message| std::future::ready(admitted.admits(message)))
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                _ => None,
            })
        })
        .boxed();
    let mut connection = Connection {
        services: state.services.clone(),
        max_subscriptions: limits.ws_max_subscriptions,
        client,
        sink,
        guard,
        phase: Phase::AwaitingInit,
        authenticating: None,
        operations: Operations::new(state.schema.clone(), state.feed_groups.clone()),
    };
    let init_deadline = tokio::time::sleep(Duration::from_secs(limits.ws_init_timeout_seconds));
    tokio::pin!(init_deadline);
    let period = Duration::from_secs(limits.ws_recheck_seconds.max(1));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut revocations = state.services.revocations();
    let end = loop {
        let awaiting_init = matches!(connection.phase, Phase::AwaitingInit);
        let step = tokio::select! {
            message = incoming.next() => match message {
                Some(bytes) => connection.on_message(&bytes).await,
                None => Err(End::Gone),
            },
            Some(outcome) = OptionFuture::from(connection.authenticating.as_mut()) => {
                connection.authenticating = None;
                connection.on_authenticated(outcome).await
            }
            Some((id, reply)) = connection.operations.next() => connection.reply(&id, reply).await,
            () = recheck_due(&mut recheck, &mut revocations) => connection.recheck().await,
            () = &mut init_deadline, if awaiting_init => Err(Close::InitialisationTimeout.into()),
        };
        if let Err(end) = step {
            break end;
        }
    };
    match end {
        End::Close(close) => {
            let _ = connection
                .sink
                .send(Message::Close(Some(close.frame())))
                .await;
        }
        End::Gone => {
            connection
                .guard
                .close_if_too_big(&mut connection.sink)
                .await
        }
    }
}

impl Connection {
    async fn send(&mut self, message: ServerMessage<'_>) -> Step {
        let text = message.encode();
        self.sink
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| End::Gone)
    }

    async fn on_message(&mut self, bytes: &[u8]) -> Step {
        match ClientMessage::parse(bytes)? {
            ClientMessage::ConnectionInit { payload } => {
                if !matches!(self.phase, Phase::AwaitingInit) {
                    return Err(Close::TooManyInitialisationRequests.into());
                }
                self.phase = Phase::Authenticating;
                let services = self.services.clone();
                let client = self.client;
                self.authenticating = Some(Box::pin(async move {
                    authenticate_payload(&services, &payload, client).await
                }));
                Ok(())
            }
            ClientMessage::Ping { payload } => self.send(ServerMessage::Pong(payload)).await,
            ClientMessage::Pong => Ok(()),
            ClientMessage::Subscribe { id, request } => self.subscribe(id, *request).await,
            ClientMessage::Complete { id } => {
                self.operations.complete(&id);
                Ok(())
            }
        }
    }

    async fn on_authenticated(&mut self, outcome: Result<Caller, AppError>) -> Step {
        match outcome {
            Ok(caller) => {
                // From now on messages may be as large as an HTTP body.
                self.guard.initialised();
                self.phase = Phase::Acknowledged(caller);
                self.send(ServerMessage::ConnectionAck).await
            }
            Err(throttled @ AppError::AuthThrottled { .. }) => {
                Err(Close::AuthenticationThrottled(throttled.to_string()).into())
            }
            Err(_) => Err(Close::Forbidden("Forbidden: missing or invalid credentials").into()),
        }
    }

    /// Starts an operation, unless the connection is not acknowledged (4401) or `id` is
    /// running (4409); one over the subscription cap or the caller's rate limit is answered
    /// with an `error` for its id and does not run, and the connection carries on. Every
    /// operation counts against the hourly limit, as one HTTP request does (a batch mutation
    /// counts its further items when it runs, as over HTTP).
    async fn subscribe(&mut self, id: String, request: async_graphql::Request) -> Step {
        let Phase::Acknowledged(caller) = &self.phase else {
            return Err(Close::Unauthorized.into());
        };
        if self.operations.is_running(&id) {
            return Err(Close::SubscriberAlreadyExists(id).into());
        }
        let caller = caller.clone();
        if self.operations.len() >= self.max_subscriptions {
            let refused = AppError::invalid(
                "",
                format!(
                    "at most {} subscriptions may be active on one connection",
                    self.max_subscriptions
                ),
            );
            return self.refuse(&id, refused).await;
        }
        if let Err(refused) = self.services.check_rate_limit(&caller.principal).await {
            return self.refuse(&id, refused).await;
        }
        let principal = caller.principal.clone();
        let request = request
            .data(loaders::loaders(self.services.clone(), caller.clone()))
            .data(RequestAuth(Ok(caller)));
        self.operations.start(id, request, &principal);
        Ok(())
    }

    /// An `error` message for operation `id`, which does not run.
    async fn refuse(&mut self, id: &str, refusal: AppError) -> Step {
        let errors = protocol::errors_payload(&[refusal_error(refusal)]);
        self.send(ServerMessage::Error(id, &errors)).await
    }

    async fn reply(&mut self, id: &str, reply: Reply) -> Step {
        match &reply {
            Reply::Next(payload) => self.send(ServerMessage::Next(id, payload)).await,
            Reply::Error(payload) => self.send(ServerMessage::Error(id, payload)).await,
            Reply::Complete => self.send(ServerMessage::Complete(id)).await,
        }
    }

    /// Ends the connection when its caller may no longer be served: every operation gets an
    /// `error` saying why (so clients know), then the connection is closed with 4403 as for
    /// a refused `connection_init`. A database error is logged and the connection kept: the
    /// next re-check decides, and an outage should not drop every subscriber at once.
    async fn recheck(&mut self) -> Step {
        let Phase::Acknowledged(caller) = &self.phase else {
            return Ok(());
        };
        let refusal = match self.services.revalidate(&caller.principal).await {
            Ok(_) => return Ok(()),
            Err(err @ AppError::Unauthenticated(_)) => err,
            Err(err) => {
                tracing::warn!(error = %err, "re-checking a WebSocket caller failed; keeping it");
                return Ok(());
            }
        };
        for id in self.operations.stop_all() {
            self.refuse(&id, refusal.clone()).await?;
        }
        Err(Close::Forbidden("Forbidden: credentials revoked or expired").into())
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

/// A refusal as a GraphQL error, with its code and without a location (it names no part of
/// the document).
fn refusal_error(refusal: AppError) -> async_graphql::ServerError {
    let mut error = async_graphql::Error::from(refusal).into_server_error(Pos::default());
    error.locations.clear();
    error
}

/// Authenticates a `connection_init` payload from `client`. Opening a connection does not
/// count against the hourly limit: its operations do.
async fn authenticate_payload(
    services: &Services,
    payload: &Map<String, Value>,
    client: Option<ClientAddr>,
) -> Result<Caller, AppError> {
    let pairs = payload
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)));
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
