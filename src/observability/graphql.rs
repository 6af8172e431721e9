//! GraphQL operations counted by type, transport and error code, as a schema extension: it sees
//! every operation on either door, over HTTP (`Schema::execute`: the `request` hook) and over
//! the WebSocket (`Schema::execute_stream`: the `subscribe` hook), refused documents included.
//!
//! An operation is counted once, when its outcome is known: a query or mutation at its result,
//! a subscription at its first message (an event, or the error that refused it), or when the
//! client stops it before any. Its `code` is that of the first error (`OK` without one), so
//! `sum by (code)` is an error breakdown of operations, not of individual errors.

use super::labels;
use super::registry::Metrics;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextSubscribe,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerResult, Value, Variables};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The extension factory: `.extension(OperationMetrics::new(metrics))` on the schema.
pub struct OperationMetrics {
    metrics: Metrics,
}

impl OperationMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        OperationMetrics {
            metrics: metrics.clone(),
        }
    }
}

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerOperation {
            metrics: self.metrics.clone(),
            seen: Arc::default(),
        })
    }
}

/// What the operation turned out to be, learnt as its document is prepared and parsed.
#[derive(Default)]
struct Seen {
    /// The `operationName` the client asked for.
    name: Option<String>,
    kind: Option<OperationType>,
}

/// One operation's extension instance.
struct PerOperation {
    metrics: Metrics,
    /// Shared with the stream of a WebSocket operation, which outlives the hook.
    seen: Arc<Mutex<Seen>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for PerOperation {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let kind = kind_of(&self.seen);
        let took = timed(kind).then(|| started.elapsed());
        self.metrics
            .graphql_operation(operation_label(kind), "http", &code_of(&response), took);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let mut outcome = WebSocketOutcome {
            metrics: self.metrics.clone(),
            seen: self.seen.clone(),
            started: Instant::now(),
            counted: false,
        };
        next.run(ctx, stream)
            .map(move |response| {
                outcome.first_message(&response);
                response
            })
            .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        lock(&self.seen).name = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut seen = lock(&self.seen);
        seen.kind = selected(&document, seen.name.as_deref());
        drop(seen);
        Ok(document)
    }
}

/// Counts a WebSocket operation at its first message, or when dropped without one (the
/// client completed a subscription before any event: it ran without error).
struct WebSocketOutcome {
    metrics: Metrics,
    seen: Arc<Mutex<Seen>>,
    started: Instant,
    counted: bool,
}

impl WebSocketOutcome {
    fn first_message(&mut self, response: &Response) {
        if !self.counted {
            self.count(&code_of(response), Some(self.started.elapsed()));
        }
    }

    fn count(&mut self, code: &str, took: Option<Duration>) {
        self.counted = true;
        let kind = kind_of(&self.seen);
        let took = took.filter(|_| timed(kind));
        self.metrics
            .graphql_operation(operation_label(kind), "websocket", code, took);
    }
}

impl Drop for WebSocketOutcome {
    fn drop(&mut self) {
        if !self.counted {
            self.count(labels::NO_ERROR, None);
        }
    }
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

fn kind_of(seen: &Mutex<Seen>) -> Option<OperationType> {
    lock(seen).kind
}

/// Queries and mutations are timed; a subscription's life is the client's to choose.
fn timed(kind: Option<OperationType>) -> bool {
    matches!(kind, Some(OperationType::Query | OperationType::Mutation))
}

fn operation_label(kind: Option<OperationType>) -> &'static str {
    match kind {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        // The document did not parse, or named no operation it has.
        None => "unknown",
    }
}

/// The operation `name` selects (the only one when no name is given).
fn selected(document: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    let mut operations = document.operations.iter();
    match name {
        Some(wanted) => operations
            .find(|(n, _)| n.is_some_and(|n| n.as_str() == wanted))
            .map(|(_, op)| op.node.ty),
        None => match (operations.next(), operations.next()) {
            (Some((_, op)), None) => Some(op.node.ty),
            _ => None,
        },
    }
}

/// The code of the response's first error, or `OK`. A subscription's event carries data; a
/// subscription refused before its first event has errors and no data. The library's own
/// parse and validation errors carry no code here: the HTTP and WebSocket doors label them
/// `BAD_USER_INPUT` on their way out (`http::graphql::label_library_errors`), and so does this.
pub fn code_of(response: &Response) -> String {
    let Some(first) = response.errors.first() else {
        return labels::NO_ERROR.to_owned();
    };
    match first.extensions.as_ref().and_then(|e| e.get("code")) {
        Some(Value::String(code)) => labels::error_code(code).to_owned(),
        Some(Value::Enum(code)) => labels::error_code(code.as_str()).to_owned(),
        _ => "BAD_USER_INPUT".to_owned(),
    }
}
