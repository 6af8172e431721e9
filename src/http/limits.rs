//! How much a client may send: every request body is read whole, up to `--max-body-bytes` and
//! within `--body-read-timeout-seconds`, before any extractor, handler or authentication sees
//! the request; WebSocket messages are capped at the same size, and at far less until the
//! connection has authenticated.

use crate::config::Hardening;
use crate::error::AppError;
use axum::body::{Body, HttpBody as _};
use axum::extract::ws::{CloseFrame, Message};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, SinkExt};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Largest WebSocket message accepted before `connection_init` has succeeded: a
/// `connection_init` carries a token or key, a few hundred bytes.
pub const WS_MAX_MESSAGE_BEFORE_INIT: usize = 16 * 1024;

/// RFC 6455 close code for a message too big to process.
const MESSAGE_TOO_BIG: u16 = 1009;

/// The body limit and deadline, as the middleware needs them.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub read_timeout: Duration,
}

impl BodyLimits {
    pub fn of(hardening: &Hardening) -> Self {
        BodyLimits {
            max_bytes: hardening.max_body_bytes,
            read_timeout: Duration::from_secs(hardening.connections.body_read_timeout_seconds),
        }
    }
}

/// Reads the request body in full (at most `max_bytes`, within `read_timeout`) and passes the
/// request on with the bytes in hand. A declared `Content-Length` over the limit is refused
/// before a byte is read; a chunked body as soon as it passes the limit. 413 and 408 are
/// problems like any other, and the connection is closed after them (the rest of the body is
/// never read).
pub async fn read_body(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let declared = body.size_hint().lower();
    if usize::try_from(declared).map_or(true, |n| n > limits.max_bytes) {
        return AppError::PayloadTooLarge.into_response();
    }
    // Meanwhile the server does nothing for this connection but wait on its client.
    let waiting = parts
        .extensions
        .get::<crate::serve::ClientWait>()
        .map(crate::serve::ClientWait::begin);
    let read = Limited::new(body, limits.max_bytes).collect();
    let read = tokio::time::timeout(limits.read_timeout, read).await;
    drop(waiting);
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(err)) if err.is::<LengthLimitError>() => {
            return AppError::PayloadTooLarge.into_response();
        }
        Ok(Err(_)) => {
            return AppError::malformed(None, "the request body could not be read").into_response();
        }
        Err(_) => return AppError::RequestTimeout.into_response(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Watches the messages a WebSocket client sends: until the connection has authenticated,
/// one over `WS_MAX_MESSAGE_BEFORE_INIT` ends it; after, tungstenite refuses any over
/// `max_bytes` (configured on the upgrade). Either way the socket is closed with 1009.
#[derive(Clone)]
pub struct MessageGuard {
    inner: Arc<GuardState>,
}

struct GuardState {
    before_init: usize,
    initialised: AtomicBool,
    too_big: AtomicBool,
}

impl MessageGuard {
    pub fn new(max_bytes: usize) -> Self {
        MessageGuard {
            inner: Arc::new(GuardState {
                before_init: WS_MAX_MESSAGE_BEFORE_INIT.min(max_bytes),
                initialised: AtomicBool::new(false),
                too_big: AtomicBool::new(false),
            }),
        }
    }

    /// The connection authenticated: from now on only the tungstenite cap applies.
    pub fn initialised(&self) {
        self.inner.initialised.store(true, Ordering::SeqCst);
    }

    /// Whether to keep reading after `message`: not after an error, nor after a message over
    /// the limit (noted, so the close says why).
    pub fn admits(&self, message: &Result<Message, axum::Error>) -> bool {
        let len = match message {
            Ok(Message::Text(text)) => text.len(),
            Ok(Message::Binary(bytes)) => bytes.len(),
            Ok(_) => 0,
            Err(err) => {
                if is_too_big(err) {
                    self.inner.too_big.store(true, Ordering::SeqCst);
                }
                return false;
            }
        };
        let state = &self.inner;
        if !state.initialised.load(Ordering::SeqCst) && len > state.before_init {
            state.too_big.store(true, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Sends the 1009 close when reading stopped because of a message over the limit.
    pub async fn close_if_too_big(&self, sink: &mut (impl Sink<Message> + Unpin)) {
        if self.inner.too_big.load(Ordering::SeqCst) {
            let frame = CloseFrame {
                code: MESSAGE_TOO_BIG,
                reason: "Message too big".into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
    }
}

/// Whether a WebSocket read failed because the client sent a message or frame over the cap.
fn is_too_big(err: &axum::Error) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|err| matches!(err, tungstenite::Error::Capacity(_)))
}
