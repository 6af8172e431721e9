//! graphql-transport-ws on the wire, as the reference `graphql-ws` defines it in PROTOCOL.md:
//! the messages a client may send, read strictly (anything else ends the connection with 4400,
//! saying in a few fixed words what was wrong), the messages the server sends, and the close
//! codes with their reasons.

use crate::error::AppError;
use crate::http::graphql::request::from_body;
use async_graphql::{Response, ServerError};
use axum::extract::ws::CloseFrame;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The subprotocol spoken here.
pub const SUBPROTOCOL: &str = "graphql-transport-ws";

/// The deprecated subprotocol of subscriptions-transport-ws, refused at the upgrade.
pub const DEPRECATED_SUBPROTOCOL: &str = "graphql-ws";

/// RFC 6455 allows 125 bytes of close-frame payload: two for the code, 123 for the reason.
pub const MAX_CLOSE_REASON: usize = 123;

/// A message from the client.
#[derive(Debug)]
pub enum ClientMessage {
    /// `connection_init`: the payload carries the credentials, named as the HTTP headers.
    ConnectionInit { payload: Map<String, Value> },
    /// `ping`: answered at once with a `pong` carrying the same payload.
    Ping { payload: Option<Map<String, Value>> },
    /// `pong`: a heartbeat or an answer; nothing to do.
    Pong,
    /// `subscribe`: run the operation `request` under `id`.
    Subscribe {
        id: String,
        request: Box<async_graphql::Request>,
    },
    /// `complete`: the client stops listening to operation `id`.
    Complete { id: String },
}

impl ClientMessage {
    /// Reads one message. The refusal is a close reason made of fixed words: never the
    /// parser's own message, which may quote the client's input at length.
    pub fn parse(bytes: &[u8]) -> Result<Self, Close> {
        let invalid = |reason| Err(Close::BadRequest(reason));
        if serde_json::from_slice::<&RawValue>(bytes).is_err() {
            return invalid("Invalid message: not JSON");
        }
        let Ok(mut fields) = serde_json::from_slice::<BTreeMap<String, Box<RawValue>>>(bytes)
        else {
            return invalid("Invalid message: not a JSON object");
        };
        let Some(kind) = fields
            .remove("type")
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        else {
            return invalid("Invalid message: 'type' is missing or not a string");
        };
        let payload = fields.remove("payload").filter(|raw| raw.get() != "null");
        let id = fields.remove("id");
        match kind.as_str() {
            "connection_init" => Ok(Self::ConnectionInit {
                payload: optional_object(payload)?.unwrap_or_default(),
            }),
            "ping" => Ok(Self::Ping {
                payload: optional_object(payload)?,
            }),
            "pong" => optional_object(payload).map(|_| Self::Pong),
            "subscribe" => Ok(Self::Subscribe {
                id: operation_id(id)?,
                request: Box::new(graphql_request(payload)?),
            }),
            "complete" => Ok(Self::Complete {
                id: operation_id(id)?,
            }),
            "start" => invalid(
                "Invalid message: 'start' is the deprecated graphql-ws protocol; send 'subscribe'",
            ),
            "stop" => invalid(
                "Invalid message: 'stop' is the deprecated graphql-ws protocol; send 'complete'",
            ),
            "connection_terminate" => invalid(
                "Invalid message: 'connection_terminate' is the deprecated graphql-ws protocol; \
                 close the socket",
            ),
            "connection_ack" | "next" | "error" => {
                invalid("Invalid message: only the server sends this type")
            }
            _ => invalid("Invalid message: unknown 'type'"),
        }
    }
}

/// The `payload` of `connection_init`, `ping` and `pong`: an object, or nothing.
fn optional_object(payload: Option<Box<RawValue>>) -> Result<Option<Map<String, Value>>, Close> {
    payload
        .map(|raw| {
            serde_json::from_str(raw.get()).map_err(|_| {
                Close::BadRequest("Invalid message: 'payload' must be an object or null")
            })
        })
        .transpose()
}

/// The `id` of `subscribe` and `complete`: a non-empty string.
fn operation_id(id: Option<Box<RawValue>>) -> Result<String, Close> {
    id.and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .filter(|id| !id.is_empty())
        .ok_or(Close::BadRequest(
            "Invalid message: 'id' must be a non-empty string",
        ))
}

/// The `payload` of `subscribe`: a GraphQL request, read exactly as a GraphQL-over-HTTP body
/// is (`query`, and optionally `operationName`, `variables` and `extensions`).
fn graphql_request(payload: Option<Box<RawValue>>) -> Result<async_graphql::Request, Close> {
    let Some(raw) = payload else {
        return Err(Close::BadRequest(
            "Invalid message: 'subscribe' needs a 'payload' object with a 'query'",
        ));
    };
    from_body(raw.get().as_bytes()).map_err(|refusal| {
        let field = match &refusal {
            AppError::Malformed { field, .. } => field.as_deref(),
            _ => None,
        };
        Close::BadRequest(match field {
            Some("query") => "Invalid message: 'payload.query' must be a string",
            Some("operationName") => {
                "Invalid message: 'payload.operationName' must be a string or null"
            }
            Some("variables") => "Invalid message: 'payload.variables' must be an object or null",
            Some("extensions") => "Invalid message: 'payload.extensions' must be an object or null",
            _ => {
                "Invalid message: 'payload' must be an object of query, operationName, \
                 variables and extensions"
            }
        })
    })
}

/// Why the server closes a connection: the protocol's close codes, each with a short reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Close {
    /// 4400: the client sent a message the protocol does not define.
    BadRequest(&'static str),
    /// 4401: `subscribe` before `connection_ack`.
    Unauthorized,
    /// 4403: `connection_init` without valid credentials, or the credentials stopped being
    /// valid while the connection lasted.
    Forbidden(&'static str),
    /// 4408: no `connection_init` within `--ws-init-timeout-seconds`.
    InitialisationTimeout,
    /// 4409: `subscribe` with the id of an operation still running.
    SubscriberAlreadyExists(String),
    /// 4429: a second `connection_init`.
    TooManyInitialisationRequests,
    /// 4429: the client address is over the failed-authentication limit; the reason is the
    /// refusal's own text (when to retry), as over HTTP.
    AuthenticationThrottled(String),
}

impl Close {
    pub fn code(&self) -> u16 {
        match self {
            Close::BadRequest(_) => 4400,
            Close::Unauthorized => 4401,
            Close::Forbidden(_) => 4403,
            Close::InitialisationTimeout => 4408,
            Close::SubscriberAlreadyExists(_) => 4409,
            Close::TooManyInitialisationRequests | Close::AuthenticationThrottled(_) => 4429,
        }
    }

    /// The reason, at most [`MAX_CLOSE_REASON`] bytes (a long operation id is cut short).
    pub fn reason(&self) -> String {
        let reason = match self {
            Close::BadRequest(reason) | Close::Forbidden(reason) => (*reason).to_owned(),
            Close::Unauthorized => "Unauthorized".to_owned(),
            Close::InitialisationTimeout => "Connection initialisation timeout".to_owned(),
            Close::SubscriberAlreadyExists(id) => {
                const SAYING: usize = "Subscriber for … already exists".len();
                let id = match truncated(id, MAX_CLOSE_REASON - SAYING) {
                    short if short.len() < id.len() => format!("{short}…"),
                    whole => whole.to_owned(),
                };
                format!("Subscriber for {id} already exists")
            }
            Close::TooManyInitialisationRequests => "Too many initialisation requests".to_owned(),
            Close::AuthenticationThrottled(refusal) => refusal.clone(),
        };
        truncated(&reason, MAX_CLOSE_REASON).to_owned()
    }

    pub fn frame(&self) -> CloseFrame {
        CloseFrame {
            code: self.code(),
            reason: self.reason().into(),
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A `next` or `error` payload encoded once, to be sent to every subscriber that shares it
/// (each message differs only in its `id`): a GraphQL response, or a JSON array of errors.
pub type Payload = Arc<RawValue>;

/// `response` as a `next` payload.
pub fn response_payload(response: &Response) -> Payload {
    payload(response)
}

/// `errors` as an `error` payload.
pub fn errors_payload(errors: &[ServerError]) -> Payload {
    payload(errors)
}

fn payload<P: Serialize + ?Sized>(payload: &P) -> Payload {
    serde_json::value::to_raw_value(payload)
        .unwrap_or_else(|err| {
            // Not expected (every payload is plain JSON); the client still learns the outcome.
            tracing::error!(error = %err, "a graphql-transport-ws payload could not be encoded");
            let internal = [ServerError::new("internal error", None)];
            serde_json::value::to_raw_value(&internal).unwrap_or_default()
        })
        .into()
}

/// A message from the server.
pub enum ServerMessage<'a> {
    ConnectionAck,
    Pong(Option<Map<String, Value>>),
    /// One result of operation `id`: a [`response_payload`].
    Next(&'a str, &'a RawValue),
    /// Operation `id` failed as a whole and is over (no `complete` follows): an
    /// [`errors_payload`].
    Error(&'a str, &'a RawValue),
    /// Operation `id` is over.
    Complete(&'a str),
}

#[derive(Serialize)]
struct Wire<'a, P: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<P>,
}

impl ServerMessage<'_> {
    /// The message as JSON text.
    pub fn encode(&self) -> String {
        let encoded = match self {
            ServerMessage::ConnectionAck => encode::<()>(None, "connection_ack", None),
            ServerMessage::Pong(payload) => encode(None, "pong", payload.as_ref()),
            ServerMessage::Next(id, payload) => encode(Some(id), "next", Some(payload)),
            ServerMessage::Error(id, payload) => encode(Some(id), "error", Some(payload)),
            ServerMessage::Complete(id) => encode::<()>(Some(id), "complete", None),
        };
        // Serializing a string id beside payloads that are JSON already cannot fail.
        encoded.unwrap_or_default()
    }
}

fn encode<P: Serialize>(
    id: Option<&str>,
    kind: &'static str,
    payload: Option<P>,
) -> serde_json::Result<String> {
    serde_json::to_string(&Wire { id, kind, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> Close {
        match ClientMessage::parse(text.as_bytes()) {
            Err(close) => close,
            Ok(message) => panic!("{text} was read as {message:?}"),
        }
    }

    #[test]
    fn every_client_message_is_read() {
        let parse = |text: &str| ClientMessage::parse(text.as_bytes()).unwrap();
        assert!(matches!(
            parse(r#"{"type":"connection_init","payload":{"Authorization":"Bearer k"}}"#),
            ClientMessage::ConnectionInit { payload } if payload.len() == 1
        ));
        assert!(matches!(
            parse(r#"{"type":"connection_init","payload":null}"#),
            ClientMessage::ConnectionInit { payload } if payload.is_empty()
        ));
        assert!(matches!(
            parse(r#"{"type":"ping","payload":{"at":1}}"#),
            ClientMessage::Ping { payload: Some(_) }
        ));
        assert!(matches!(parse(r#"{"type":"pong"}"#), ClientMessage::Pong));
        let ClientMessage::Subscribe { id, request } = parse(
            r#"{"type":"subscribe","id":"a","payload":{"query":"{ a }","variables":{"n":1}}}"#,
        ) else {
            panic!("not a subscribe");
        };
        assert_eq!(id, "a");
        assert_eq!(request.query, "{ a }");
        assert!(matches!(
            parse(r#"{"type":"complete","id":"a"}"#),
            ClientMessage::Complete { id } if id == "a"
        ));
    }

    #[test]
    fn anything_else_is_a_bad_request_with_a_short_fixed_reason() {
        for text in [
            "{",
            "not json",
            "[]",
            r#""connection_init""#,
            "{}",
            r#"{"type":1}"#,
            r#"{"type":"connection_init","payload":"token"}"#,
            r#"{"type":"ping","payload":[1]}"#,
            r#"{"type":"subscribe","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":7,"payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":"1","payload":{}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":1}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ a }","variables":[]}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ a }","operationName":1}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ a }","extensions":1}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ a }","other":1}}"#,
            r#"{"type":"subscribe","id":"1","payload":[{"query":"{ a }"}]}"#,
            r#"{"type":"complete"}"#,
            r#"{"type":"start","id":"1","payload":{"query":"{ a }"}}"#,
            r#"{"type":"stop","id":"1"}"#,
            r#"{"type":"connection_terminate"}"#,
            r#"{"type":"next","id":"1","payload":{}}"#,
            r#"{"type":"connection_ack"}"#,
            r#"{"type":"unsubscribe_from_everything_with_a_very_long_name_that_goes_on_and_on_and_on_and_on_and_on_and_on_and_on"}"#,
        ] {
            let close = refusal(text);
            assert_eq!(close.code(), 4400, "{text}");
            let reason = close.reason();
            assert!(reason.len() <= MAX_CLOSE_REASON, "{text}: {reason}");
            assert!(reason.starts_with("Invalid message: "), "{text}: {reason}");
            assert!(
                !reason.contains("line") && !reason.contains("column"),
                "{reason}"
            );
        }
    }

    #[test]
    fn a_long_subscriber_id_is_cut_short_in_the_reason() {
        for id in ["x".repeat(500), "é".repeat(200)] {
            let reason = Close::SubscriberAlreadyExists(id).reason();
            assert!(reason.len() <= MAX_CLOSE_REASON, "{} bytes", reason.len());
            assert!(reason.starts_with("Subscriber for ") && reason.ends_with("… already exists"));
        }
        assert_eq!(
            Close::SubscriberAlreadyExists("7".into()).reason(),
            "Subscriber for 7 already exists"
        );
    }

    #[test]
    fn server_messages_are_encoded_as_the_protocol_has_them() {
        assert_eq!(
            ServerMessage::ConnectionAck.encode(),
            r#"{"type":"connection_ack"}"#
        );
        assert_eq!(ServerMessage::Pong(None).encode(), r#"{"type":"pong"}"#);
        assert_eq!(
            ServerMessage::Complete("a").encode(),
            r#"{"id":"a","type":"complete"}"#
        );
        let error = ServerError::new("boom", None);
        assert_eq!(
            ServerMessage::Error("a", &errors_payload(&[error])).encode(),
            r#"{"id":"a","type":"error","payload":[{"message":"boom"}]}"#
        );
        let response = Response::new(async_graphql::value!({ "feed": { "id": "1" } }));
        let once = response_payload(&response);
        for id in ["1", "a\"quoted\" id"] {
            let wire: Value =
                serde_json::from_str(&ServerMessage::Next(id, &once).encode()).unwrap();
            assert_eq!(
                wire,
                serde_json::json!({ "id": id, "type": "next", "payload": { "data": { "feed": { "id": "1" } } } })
            );
        }
    }
}
