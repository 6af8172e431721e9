//! The feed's floor on this machine: the same subscribers, the same client and the same rate
//! as `feed`, against a server in this process that does nothing but write one prebuilt
//! frame to every subscriber (no database, no GraphQL, no per-subscriber encoding). Its
//! createdAt → receipt is what the kernel and the WebSocket layer cost; the feed's figure over
//! it is the ratio the targets are stated in, measured in the same run on the same cores.
//!
//! The server is tokio-tungstenite's, as under axum's WebSocket, with one task per
//! connection reading a broadcast channel, as convio's connections do. It speaks just enough
//! graphql-transport-ws for `ws::FeedSocket`: `connection_ack`, then `next` messages.

use crate::delivery::{self, Ack, FeedReport, Ledger};
use crate::scenarios::feed::{SUBSCRIPTION, listen};
use crate::window::Window;
use crate::ws::FeedSocket;
use chrono::{SecondsFormat, Utc};
use futures_util::{SinkExt, StreamExt, stream};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use uuid::Uuid;

/// Frames a connection may fall behind, as the server's default `--feed-buffer`.
const BUFFER: usize = 1024;
/// convio's WebSocket read and write buffers (`WS_BUFFER` in `src/http/ws.rs`).
const WS_BUFFER: usize = 8 * 1024;
const CONNECT_PARALLELISM: usize = 32;
const DRAIN: Duration = Duration::from_secs(2);
const REGISTRATION_WAIT: Duration = Duration::from_secs(10);

/// Runs the floor: `subscribers` sockets, `rate` events per second through `window`, and
/// what they received, accounted as the feed's is.
pub async fn measure(
    subscribers: usize,
    rate: u32,
    warmup: Duration,
    duration: Duration,
) -> Result<FeedReport, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("floor: bind: {e}"))?;
    let url = format!(
        "ws://{}/graphql/ws",
        listener.local_addr().map_err(|e| format!("floor: {e}"))?
    );
    let (frames, _) = broadcast::channel::<Message>(BUFFER);
    let registered = Arc::new(AtomicUsize::new(0));
    let server = tokio::spawn(serve(listener, frames.clone(), registered.clone()));

    let credentials = json!({});
    let opened: Vec<_> = stream::iter(0..subscribers)
        .map(|_| FeedSocket::open(&url, &credentials, SUBSCRIPTION))
        .buffer_unordered(CONNECT_PARALLELISM)
        .collect()
        .await;
    let (stop, stopped) = watch::channel(false);
    let mut listening = Vec::new();
    let mut connect_errors = BTreeMap::new();
    for socket in opened {
        match socket {
            Ok(socket) => listening.push(tokio::spawn(listen(socket, None, stopped.clone()))),
            Err(key) => *connect_errors.entry(key).or_default() += 1,
        }
    }
    let deadline = Instant::now() + REGISTRATION_WAIT;
    while registered.load(Ordering::Relaxed) < listening.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let window = Window::open(warmup, duration);
    let ledger = publish(&frames, rate, window).await;
    tokio::time::sleep(DRAIN).await;
    let _ = stop.send(true);
    let mut logs = Vec::with_capacity(listening.len());
    for task in listening {
        if let Ok(log) = task.await {
            logs.push(log);
        }
    }
    server.abort();
    Ok(delivery::account(
        &ledger,
        &logs,
        subscribers,
        connect_errors,
    ))
}

/// One event every 1/rate s through the window, each one frame built once and written to
/// every subscriber; the events started in the measured part make the ledger.
async fn publish(frames: &broadcast::Sender<Message>, rate: u32, window: Window) -> Ledger {
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    let mut ledger = Ledger::new();
    loop {
        let tick = ticks.tick().await;
        if tick >= window.end {
            return ledger;
        }
        let id = Uuid::new_v4();
        let created_at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        let frame = json!({ "id": "1", "type": "next", "payload": { "data": { "conversionFeed": {
            "conversion": { "id": id, "workspaceId": "floor", "createdAt": created_at } } } } });
        let sent = Instant::now();
        let _ = frames.send(Message::Text(frame.to_string().into()));
        if window.measures(sent) {
            ledger.insert(id, Ack { sent, tenant: 0 });
        }
    }
}

async fn serve(
    listener: TcpListener,
    frames: broadcast::Sender<Message>,
    registered: Arc<AtomicUsize>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, frames.clone(), registered.clone()));
    }
}

/// One subscriber: acknowledge, wait for its `subscribe`, then write every frame.
async fn connection(
    stream: TcpStream,
    frames: broadcast::Sender<Message>,
    registered: Arc<AtomicUsize>,
) -> Option<()> {
    let config = WebSocketConfig::default()
        .read_buffer_size(WS_BUFFER)
        .write_buffer_size(WS_BUFFER);
    #[expect(
        clippy::result_large_err,
        reason = "tungstenite's callback dictates the error type"
    )]
    let choose_protocol = |_: &Request, mut response: Response| {
        response.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        Ok(response)
    };
    let mut socket =
        tokio_tungstenite::accept_hdr_async_with_config(stream, choose_protocol, Some(config))
            .await
            .ok()?;
    let mut receiver = None;
    while receiver.is_none() {
        let Message::Text(text) = socket.next().await?.ok()? else {
            continue;
        };
        if text.contains("connection_init") {
            let ack = json!({ "type": "connection_ack" }).to_string();
            socket.send(Message::Text(ack.into())).await.ok()?;
        } else if text.contains("subscribe") {
            receiver = Some(frames.subscribe());
            registered.fetch_add(1, Ordering::Relaxed);
        }
    }
    let mut receiver = receiver?;
    loop {
        tokio::select! {
            frame = receiver.recv() => match frame {
                Ok(frame) => socket.send(frame).await.ok()?,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let notice = json!({ "id": "1", "type": "next", "payload": { "errors": [{
                        "message": format!("the subscriber fell behind and missed {missed} events") }] } });
                    socket.send(Message::Text(notice.to_string().into())).await.ok()?;
                }
                Err(broadcast::error::RecvError::Closed) => return Some(()),
            },
            message = socket.next() => match message?.ok()? {
                Message::Close(_) => return Some(()),
                _ => continue,
            },
        }
    }
}
