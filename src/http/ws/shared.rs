//! Shared executions of `conversionFeed`: subscribers that would get the same bytes run one
//! execution between them.
//!
//! Executing and serializing a subscription's selection costs ~20 µs per event; once per
//! subscriber, a thousand subscribers spend most of the CPU on it. Subscribers whose
//! (document, operation name, variables, extensions) and whose caller (the whole
//! [`Principal`]: scope, permissions, key and proof, all that a resolver may read) are equal
//! are served by one execution ([`FeedGroups::join`]): it runs in a task of its own, not tied
//! to any connection, encodes each result once as a [`Payload`], and broadcasts it to its
//! members, each of which only adds its own operation id on the way out. It ends when its
//! last member leaves. Two callers that may see different data never share one: their
//! principals differ.
//!
//! Every member keeps what a subscriber had alone: it is counted in `convio_feed_subscribers`
//! once its execution listens (so nothing written after that is missed), each event it
//! receives counts as one delivery, and a member whose connection falls more than the feed
//! buffer behind gets the same lag notice an execution of its own would have sent, then the
//! events it can still receive. Operations the sharing does not cover (documents with
//! fragments or directives at the root, queries, mutations, and feeds resumed after a cursor,
//! whose replay starts at each subscriber's own point) run on their own as before.

use super::operations::{Reply, replies};
use super::protocol::response_payload;
use crate::auth::Principal;
use crate::events::EventBus;
use crate::graphql::{ConvioSchema, Delivery, FeedTap, fell_behind};
use crate::observability::Metrics;
use async_graphql::parser::{self, types::Selection};
use async_graphql::{PathSegment, Pos, Request, Response, Value, Variables};
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::AbortHandle;

/// The subscription field served by shared executions.
const FIELD: &str = "conversionFeed";
/// Its argument that resumes after a cursor: subscriptions giving one run on their own.
const AFTER: &str = "after";

/// The shared executions of this node, by what their subscribers have in common.
#[derive(Clone)]
pub struct FeedGroups(Arc<Inner>);

struct Inner {
    schema: ConvioSchema,
    bus: EventBus,
    metrics: Metrics,
    groups: Mutex<HashMap<Arc<ShareKey>, Group>>,
    serial: Mutex<u64>,
}

/// Everything an execution's results depend on besides the events: subscribers with equal
/// keys get byte-identical results.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ShareKey {
    principal: Principal,
    query: String,
    operation_name: Option<String>,
    /// As JSON (variables are an ordered map, so equal variables give equal text).
    variables: String,
    /// As JSON, sorted by name.
    extensions: String,
}

/// One shared execution, as the registry knows it.
struct Group {
    serial: u64,
    fanout: broadcast::Sender<Arc<Frame>>,
    members: usize,
    /// Whether its resolver listens to the bus yet: only then are its members counted.
    listening: bool,
    task: AbortHandle,
}

/// One result of a shared execution, as every member receives it.
struct Frame {
    reply: Reply,
    /// The code of its first error (`OK`), for members counting their operation.
    code: String,
    delivery: Option<Delivery>,
}

/// Where a lag notice points: the subscription field, at its place in the document and
/// under its response key, as the library reports a resolver's error.
#[derive(Clone)]
struct Field {
    pos: Pos,
    key: String,
}

impl FeedGroups {
    pub fn new(schema: ConvioSchema, bus: EventBus, metrics: Metrics) -> Self {
        FeedGroups(Arc::new(Inner {
            schema,
            bus,
            metrics,
            groups: Mutex::default(),
            serial: Mutex::default(),
        }))
    }

    /// The replies to `request` (a subscription, with its data: the caller, the loaders),
    /// made by `principal`, from the execution it shares with every subscriber like it (one
    /// is started when there is none). `Err` gives `request` back when it cannot be shared:
    /// it selects anything but exactly `conversionFeed`, without directives.
    #[expect(
        clippy::result_large_err,
        reason = "the request comes back whole, to be executed on its own"
    )]
    pub fn join(
        &self,
        principal: &Principal,
        mut request: Request,
    ) -> Result<BoxStream<'static, Reply>, Request> {
        let Some(field) = shared_field(&mut request) else {
            return Err(request);
        };
        let key = Arc::new(ShareKey::of(principal, &request));
        let mut groups = self.lock();
        let (serial, receiver, started) = match groups.get_mut(&key) {
            Some(group) => {
                group.members += 1;
                if group.listening {
                    self.0.bus.shared_subscribers(1);
                }
                (group.serial, group.fanout.subscribe(), false)
            }
            None => {
                let serial = self.next_serial();
                let (fanout, receiver) = broadcast::channel(self.0.bus.capacity());
                let task =
                    tokio::spawn(
                        self.clone()
                            .run(key.clone(), serial, request, fanout.clone()),
                    );
                let group = Group {
                    serial,
                    fanout,
                    members: 1,
                    listening: false,
                    task: task.abort_handle(),
                };
                groups.insert(key.clone(), group);
                (serial, receiver, true)
            }
        };
        drop(groups);
        let membership = Membership {
            groups: self.clone(),
            key,
            serial,
            counted: started,
        };
        Ok(member(membership, receiver, field))
    }

    /// Runs one shared execution until it ends, or until it is aborted when its last member
    /// leaves.
    async fn run(
        self,
        key: Arc<ShareKey>,
        serial: u64,
        request: Request,
        fanout: broadcast::Sender<Arc<Frame>>,
    ) {
        let groups = self.clone();
        let listening_key = key.clone();
        let tap = FeedTap::new(move || groups.listening(&listening_key, serial));
        let results = self.0.schema.execute_stream(request.data(tap.clone()));
        let mut replies = replies(results, true);
        while let Some((reply, code)) = replies.next().await {
            let ends = reply.ends();
            if ends {
                // Whoever comes next starts afresh; the members present hear the end.
                self.over(&key, serial);
            }
            let frame = Frame {
                delivery: tap.take(),
                reply,
                code,
            };
            // No receiver left is not an error: the last member is leaving.
            let _ = fanout.send(Arc::new(frame));
            if ends {
                return;
            }
        }
    }

    /// The execution `serial` listens to the bus: its members count as subscribers.
    fn listening(&self, key: &ShareKey, serial: u64) {
        let mut groups = self.lock();
        if let Some(group) = groups.get_mut(key).filter(|g| g.serial == serial)
            && !group.listening
        {
            group.listening = true;
            self.0.bus.shared_subscribers(sharing(group.members));
        }
    }

    /// The execution `serial` ended by itself.
    fn over(&self, key: &ShareKey, serial: u64) {
        let mut groups = self.lock();
        if groups.get(key).is_some_and(|g| g.serial == serial)
            && let Some(group) = groups.remove(key).filter(|g| g.listening)
        {
            self.0.bus.shared_subscribers(-sharing(group.members));
        }
    }

    /// A member of the execution `serial` left; the last one stops it.
    fn leave(&self, key: &ShareKey, serial: u64) {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(key).filter(|g| g.serial == serial) else {
            return;
        };
        group.members -= 1;
        if group.members == 0 {
            if let Some(group) = groups.remove(key) {
                group.task.abort();
            }
        } else if group.listening {
            self.0.bus.shared_subscribers(-1);
        }
    }

    fn next_serial(&self) -> u64 {
        let mut serial = self.0.serial.lock().unwrap_or_else(PoisonError::into_inner);
        *serial += 1;
        *serial
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<ShareKey>, Group>> {
        self.0.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How many subscribers `members` add beyond the one receiver their execution holds.
fn sharing(members: usize) -> isize {
    isize::try_from(members.saturating_sub(1)).unwrap_or(isize::MAX)
}

impl ShareKey {
    fn of(principal: &Principal, request: &Request) -> Self {
        let extensions: BTreeMap<_, _> = request.extensions.iter().collect();
        ShareKey {
            principal: principal.clone(),
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).unwrap_or_default(),
            extensions: serde_json::to_string(&extensions).unwrap_or_default(),
        }
    }
}

/// The `conversionFeed` field `request` selects alone, without directives, in the operation it
/// names (or its only one); `None` for anything else, which runs unshared.
fn shared_field(request: &mut Request) -> Option<Field> {
    let wanted = request.operation_name.clone();
    let variables = request.variables.clone();
    let document = request.parsed_query().ok()?;
    let mut operations = document.operations.iter().filter(|(name, _)| {
        wanted
            .as_deref()
            .is_none_or(|want| name.is_some_and(|n| n.as_str() == want))
    });
    let (_, operation) = operations.next()?;
    if operations.next().is_some() {
        return None;
    }
    let [selection] = operation.node.selection_set.node.items.as_slice() else {
        return None;
    };
    let Selection::Field(field) = &selection.node else {
        return None;
    };
    let plain = field.node.name.node == FIELD
        && field.node.directives.is_empty()
        && !resumes(&field.node, &variables);
    plain.then(|| Field {
        pos: field.pos,
        key: field.node.response_key().node.to_string(),
    })
}

/// Whether the feed `field` resumes after a cursor (an `after` that is not null): each such
/// subscriber replays from its own point, which a shared execution already past it could not
/// give one that joins later.
fn resumes(field: &parser::types::Field, variables: &Variables) -> bool {
    field.get_argument(AFTER).is_some_and(|after| {
        let value = after.node.clone().into_const_with(|name| {
            Ok::<_, ()>(variables.get(&name).cloned().unwrap_or(Value::Null))
        });
        value.is_ok_and(|v| v != Value::Null)
    })
}

/// A member's place in a shared execution; leaving (dropping it) may stop the execution.
struct Membership {
    groups: FeedGroups,
    key: Arc<ShareKey>,
    serial: u64,
    /// Whether this subscription was counted in `convio_graphql_operations_total`: the one
    /// that started the execution is counted by the schema's extension, each later member by
    /// the first reply it gets (or when it leaves before any).
    counted: bool,
}

impl Membership {
    fn count(&mut self, code: &str) {
        if !self.counted {
            self.counted = true;
            let metrics = &self.groups.0.metrics;
            metrics.graphql_operation("subscription", "websocket", code, None);
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.count(crate::observability::labels::NO_ERROR);
        self.groups.leave(&self.key, self.serial);
    }
}

struct Member {
    membership: Membership,
    receiver: broadcast::Receiver<Arc<Frame>>,
    field: Field,
}

/// One member's replies: the execution's, counted as its own, and a lag notice when its
/// connection fell so far behind that frames were lost.
fn member(
    membership: Membership,
    receiver: broadcast::Receiver<Arc<Frame>>,
    field: Field,
) -> BoxStream<'static, Reply> {
    let member = Member {
        membership,
        receiver,
        field,
    };
    stream::unfold(Some(member), |member| async move {
        let mut member = member?;
        let metrics = member.membership.groups.0.metrics.clone();
        let reply = match member.receiver.recv().await {
            Ok(frame) => {
                member.membership.count(&frame.code);
                match frame.delivery {
                    Some(Delivery::Event { written_at }) => metrics.feed_delivered(written_at),
                    Some(Delivery::Lagged { missed }) => metrics.feed_lagged(missed),
                    None => {}
                }
                frame.reply.clone()
            }
            Err(RecvError::Lagged(missed)) => {
                metrics.feed_lagged(missed);
                let notice = lag_notice(&member.field, missed);
                member
                    .membership
                    .count(&crate::observability::code_of(&notice));
                Reply::Next(response_payload(&notice))
            }
            // The execution is gone without a last word (it cannot end otherwise).
            Err(RecvError::Closed) => Reply::Complete,
        };
        let next = (!reply.ends()).then_some(member);
        Some((reply, next))
    })
    .boxed()
}

/// What an execution of its own would have sent a subscriber that missed `missed` events:
/// the resolver's error at the field, with no data.
fn lag_notice(field: &Field, missed: u64) -> Response {
    let error = async_graphql::Error::from(fell_behind(missed))
        .into_server_error(field.pos)
        .with_path(vec![PathSegment::Field(field.key.clone())]);
    Response::from_errors(vec![error])
}
