//! The operations one connection runs. Each `subscribe` becomes a stream of replies, polled by
//! the connection's loop: `next` for each result and then `complete`, or one `error` when the
//! operation fails as a whole. Ids are unique among the running operations, and free again
//! once an operation is over.

use super::protocol::{Payload, errors_payload, response_payload};
use super::shared::FeedGroups;
use crate::auth::Principal;
use crate::graphql::ConvioSchema;
use crate::http::graphql::{is_request_error, label_library_errors};
use crate::observability::code_of;
use crate::observability::labels::NO_ERROR;
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, Value};
use futures_util::stream::{BoxStream, Peekable};
use futures_util::{FutureExt, StreamExt};
use std::collections::HashMap;
use std::pin::Pin;
use tokio_stream::StreamMap;

/// What an operation has to say to the client, its payload encoded already (once, however
/// many subscribers share it).
#[derive(Clone, Debug)]
pub enum Reply {
    /// A result (`next`).
    Next(Payload),
    /// The operation failed as a whole (`error`); it is over.
    Error(Payload),
    /// The operation is over (`complete`).
    Complete,
}

impl Reply {
    pub(super) fn ends(&self) -> bool {
        matches!(self, Reply::Error(_) | Reply::Complete)
    }
}

/// A running operation, as the connection knows it.
struct Running {
    /// The client's id; `None` once the client completed a single-result operation that is
    /// still executing (its result is dropped: a mutation runs to its end, never cut halfway).
    id: Option<String>,
    subscription: bool,
}

pub struct Operations {
    schema: ConvioSchema,
    groups: FeedGroups,
    /// Replies of every running operation, by serial number.
    replies: StreamMap<u64, BoxStream<'static, Reply>>,
    running: HashMap<u64, Running>,
    /// The serial of each id the client may not reuse yet.
    ids: HashMap<String, u64>,
    serial: u64,
}

impl Operations {
    pub fn new(schema: ConvioSchema, groups: FeedGroups) -> Self {
        Operations {
            schema,
            groups,
            replies: StreamMap::new(),
            running: HashMap::new(),
            ids: HashMap::new(),
            serial: 0,
        }
    }

    /// How many operations are running, those whose results the client no longer wants
    /// included: each holds server resources until it ends.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether an operation with this id is running for the client.
    pub fn is_running(&self, id: &str) -> bool {
        self.ids.contains_key(id)
    }

    /// Starts `request` (which carries its data: `principal`, the loaders) under `id`, which
    /// must not be running. A `conversionFeed` subscription shares its execution with every
    /// other one like it (`shared`).
    pub fn start(&mut self, id: String, mut request: Request, principal: &Principal) {
        let subscription = is_subscription(&mut request);
        let shared = if subscription {
            self.groups.join(principal, request)
        } else {
            Err(request)
        };
        let replies = shared.unwrap_or_else(|request| {
            let results = self.schema.execute_stream(request);
            replies(results, subscription)
                .map(|(reply, _)| reply)
                .boxed()
        });
        self.serial += 1;
        self.replies.insert(self.serial, replies);
        self.ids.insert(id.clone(), self.serial);
        self.running.insert(
            self.serial,
            Running {
                id: Some(id),
                subscription,
            },
        );
    }

    /// The client completed `id`: a subscription stops at once; a query or mutation runs to
    /// its end unheard. An id that is not running is ignored, as the protocol asks.
    pub fn complete(&mut self, id: &str) {
        let Some(serial) = self.ids.remove(id) else {
            return;
        };
        match self.running.get_mut(&serial) {
            Some(running) if running.subscription => {
                self.running.remove(&serial);
                self.replies.remove(&serial);
            }
            Some(running) => running.id = None,
            None => {}
        }
    }

    /// Stops every operation; the ids the client was still listening to.
    pub fn stop_all(&mut self) -> Vec<String> {
        self.ids.clear();
        self.replies = StreamMap::new();
        self.running.drain().filter_map(|(_, r)| r.id).collect()
    }

    /// The next reply the client should hear, with its operation's id; `None` at once when
    /// nothing is running. Cancel-safe: it only awaits the streams.
    pub async fn next(&mut self) -> Option<(String, Reply)> {
        loop {
            let (serial, reply) = self.replies.next().await?;
            let id = if reply.ends() {
                let id = self.running.remove(&serial).and_then(|r| r.id);
                if let Some(id) = &id {
                    self.ids.remove(id);
                }
                id
            } else {
                self.running.get(&serial).and_then(|r| r.id.clone())
            };
            if let Some(id) = id {
                return Some((id, reply));
            }
        }
    }
}

/// Whether the operation `request` selects is a subscription. A document that does not
/// parse, or names no operation it has, is not: executing it reports why. The parsed
/// document stays in the request, so it is parsed once.
fn is_subscription(request: &mut Request) -> bool {
    let wanted = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    document.operations.iter().any(|(name, operation)| {
        let selected = wanted
            .as_deref()
            .is_none_or(|want| name.is_some_and(|n| n.as_str() == want));
        selected && operation.node.ty == OperationType::Subscription
    })
}

type Results = Peekable<BoxStream<'static, Response>>;

enum Step {
    First(Results),
    Later(Results),
    Over,
}

/// The replies to one operation's results. The first result is an `error` instead of a
/// `next` when the operation failed as a whole: a request error (the document does not parse
/// or validate, the variables do not fit it), or a subscription that ended with errors and
/// no data before its first event (a refused argument, a missing permission). Every error
/// carries `extensions.code`; each reply comes with the code of its first error (`OK`), by
/// which `convio_graphql_operations_total` counts operations.
pub(super) fn replies(
    results: BoxStream<'static, Response>,
    subscription: bool,
) -> BoxStream<'static, (Reply, String)> {
    futures_util::stream::unfold(Step::First(results.peekable()), move |step| async move {
        let (mut results, first) = match step {
            Step::First(results) => (results, true),
            Step::Later(results) => (results, false),
            Step::Over => return None,
        };
        let Some(mut response) = results.next().await else {
            return Some(((Reply::Complete, NO_ERROR.to_owned()), Step::Over));
        };
        label_library_errors(&mut response);
        let failed = first
            && (is_request_error(&response)
                || (subscription && no_data(&response) && ended(&mut results)));
        let code = code_of(&response);
        if failed {
            let reply = Reply::Error(errors_payload(&response.errors));
            return Some(((reply, code), Step::Over));
        }
        let reply = Reply::Next(response_payload(&response));
        Some(((reply, code), Step::Later(results)))
    })
    .boxed()
}

fn no_data(response: &Response) -> bool {
    response.data == Value::Null && !response.errors.is_empty()
}

/// Whether the stream has ended already, without waiting for it.
fn ended(results: &mut Results) -> bool {
    matches!(Pin::new(results).peek().now_or_never(), Some(None))
}
