//! A graphql-transport-ws client, just enough for one subscription per socket: the protocol's
//! messages (built and parsed here, unit-tested) and a socket that initialises, subscribes and
//! answers pings on its own.

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const PROTOCOL: &str = "graphql-transport-ws";
/// The id of the one subscription each socket carries.
const SUBSCRIPTION_ID: &str = "1";
/// Connecting and the `connection_init` handshake must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A message from the server, as the protocol defines them.
#[derive(Debug, PartialEq)]
pub enum ServerMessage {
    ConnectionAck,
    Next {
        id: String,
        payload: Value,
    },
    Error {
        id: String,
        payload: Value,
    },
    Complete {
        id: String,
    },
    Ping,
    Pong,
    /// Not a message of this protocol; kept to be counted, never ignored silently.
    Unknown(String),
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<Value>,
}

impl ServerMessage {
    pub fn parse(text: &str) -> ServerMessage {
        let Ok(Envelope { kind, id, payload }) = serde_json::from_str(text) else {
            return ServerMessage::Unknown(text.chars().take(80).collect());
        };
        let id = id.unwrap_or_default();
        let payload = payload.unwrap_or(Value::Null);
        match kind.as_str() {
            "connection_ack" => ServerMessage::ConnectionAck,
            "next" => ServerMessage::Next { id, payload },
            "error" => ServerMessage::Error { id, payload },
            "complete" => ServerMessage::Complete { id },
            "ping" => ServerMessage::Ping,
            "pong" => ServerMessage::Pong,
            other => ServerMessage::Unknown(other.to_owned()),
        }
    }
}

pub fn connection_init(payload: &Value) -> String {
    json!({ "type": "connection_init", "payload": payload }).to_string()
}

pub fn subscribe(id: &str, query: &str) -> String {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query } }).to_string()
}

pub fn pong() -> String {
    json!({ "type": "pong" }).to_string()
}

/// What the subscription delivered next.
pub enum Delivery {
    /// A `next` payload: `data`, or `errors` (such as the server's lag notice).
    Next(Value),
    /// An `error` message: the subscription is over.
    Error(Value),
    /// The server completed the subscription.
    Complete,
    /// The socket closed or failed; why.
    Closed(String),
    /// A message outside the protocol.
    Unexpected(String),
}

pub struct FeedSocket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl FeedSocket {
    /// Connects to `url` (`ws://…/graphql/ws`), sends `connection_init` with `init_payload`
    /// (the credentials), waits for `connection_ack`, and subscribes with `query`.
    pub async fn open(url: &str, init_payload: &Value, query: &str) -> Result<FeedSocket, String> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, Self::handshake(url, init_payload, query))
            .await
            .map_err(|_| "ws: handshake timeout".to_owned())?
    }

    async fn handshake(url: &str, init_payload: &Value, query: &str) -> Result<FeedSocket, String> {
        let mut request = url
            .into_client_request()
            .map_err(|e| format!("ws: bad url: {e}"))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL));
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| format!("ws: connect: {e}"))?;
        let mut socket = FeedSocket { stream };
        socket.send(connection_init(init_payload)).await?;
        loop {
            match socket.receive().await? {
                ServerMessage::ConnectionAck => break,
                ServerMessage::Ping => socket.send(pong()).await?,
                other => return Err(format!("ws: refused at connection_init: {other:?}")),
            }
        }
        socket.send(subscribe(SUBSCRIPTION_ID, query)).await?;
        Ok(socket)
    }

    async fn send(&mut self, text: String) -> Result<(), String> {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .map_err(|e| format!("ws: send: {e}"))
    }

    /// The next protocol message; `Err` when the socket closed or failed.
    async fn receive(&mut self) -> Result<ServerMessage, String> {
        loop {
            match self.stream.next().await {
                Some(Ok(Message::Text(text))) => return Ok(ServerMessage::parse(text.as_str())),
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or("none".to_owned(), |f| u16::from(f.code).to_string());
                    return Err(format!("ws: closed by server ({code})"));
                }
                // Transport-level pings are answered by tungstenite itself.
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("ws: {e}")),
                None => return Err("ws: closed".to_owned()),
            }
        }
    }

    /// Waits for what the subscription delivers next, answering protocol pings meanwhile.
    pub async fn next(&mut self) -> Delivery {
        loop {
            let message = match self.receive().await {
                Ok(message) => message,
                Err(why) => return Delivery::Closed(why),
            };
            match message {
                ServerMessage::Next { payload, .. } => return Delivery::Next(payload),
                ServerMessage::Error { payload, .. } => return Delivery::Error(payload),
                ServerMessage::Complete { .. } => return Delivery::Complete,
                ServerMessage::Ping => {
                    if let Err(why) = self.send(pong()).await {
                        return Delivery::Closed(why);
                    }
                }
                ServerMessage::Pong => continue,
                ServerMessage::ConnectionAck => {
                    return Delivery::Unexpected("connection_ack".into());
                }
                ServerMessage::Unknown(what) => return Delivery::Unexpected(what),
            }
        }
    }

    pub async fn close(mut self) {
        // Best effort: the measurement is over, a failed close changes nothing.
        let _ = self.stream.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_server_messages() {
        assert_eq!(
            ServerMessage::parse(r#"{"type":"connection_ack"}"#),
            ServerMessage::ConnectionAck
        );
        assert_eq!(
            ServerMessage::parse(r#"{"type":"ping","payload":{}}"#),
            ServerMessage::Ping
        );
        assert_eq!(
            ServerMessage::parse(r#"{"id":"1","type":"next","payload":{"data":{"x":1}}}"#),
            ServerMessage::Next {
                id: "1".into(),
                payload: json!({ "data": { "x": 1 } })
            }
        );
        assert_eq!(
            ServerMessage::parse(r#"{"id":"1","type":"error","payload":[{"message":"no"}]}"#),
            ServerMessage::Error {
                id: "1".into(),
                payload: json!([{ "message": "no" }])
            }
        );
        assert_eq!(
            ServerMessage::parse(r#"{"id":"1","type":"complete"}"#),
            ServerMessage::Complete { id: "1".into() }
        );
        assert_eq!(
            ServerMessage::parse(r#"{"type":"ka"}"#),
            ServerMessage::Unknown("ka".into())
        );
        assert!(matches!(
            ServerMessage::parse("not json"),
            ServerMessage::Unknown(_)
        ));
    }

    #[test]
    fn builds_the_client_messages() {
        let init: Value =
            serde_json::from_str(&connection_init(&json!({ "Authorization": "Bearer k" })))
                .unwrap();
        assert_eq!(
            init,
            json!({ "type": "connection_init", "payload": { "Authorization": "Bearer k" } })
        );
        let sub: Value = serde_json::from_str(&subscribe("1", "subscription { a }")).unwrap();
        assert_eq!(
            sub,
            json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { a }" } })
        );
        assert_eq!(
            serde_json::from_str::<Value>(&pong()).unwrap(),
            json!({ "type": "pong" })
        );
    }
}
