//! Subscription root: the live conversion feed, resumable after a cursor.

use super::types::ConversionEvent;
use super::{caller, services};
use crate::domain::{ConversionType, Permission, WorkspaceId};
use crate::error::AppError;
use crate::events;
use crate::observability::Metrics;
use crate::service::conversion::scoped_workspace;
use crate::service::feed_cursor::FeedCursor;
use crate::service::feed_replay::{FeedFilter, FeedItem};
use async_graphql::{Context, ID, Result, Subscription};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::sync::{Arc, Mutex, PoisonError};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Live updates.
pub struct SubscriptionRoot;

/// Live updates.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Conversions as they are committed. A workspace receives only its own; filters narrow
    /// further. A subscriber too slow to keep up gets an error saying how many it missed.
    /// With `after`, the events since that cursor come first, read back from the server's
    /// store with the same filters, then live ones, each once and in feed order; such a
    /// subscriber that falls behind catches up from the store instead of missing events.
    async fn conversion_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this workspace (a workspace may name only itself).")]
        workspace_id: Option<ID>,
        #[graphql(desc = "Only these conversion types.")] conversion_types: Option<Vec<String>>,
        #[graphql(
            desc = "Resume after the event with this `cursor`. `CURSOR_EXPIRED` once that event \
                    is older than the feed's retention (7 days by default)."
        )]
        after: Option<String>,
    ) -> Result<BoxStream<'static, Result<ConversionEvent>>> {
        let caller = caller(ctx)?;
        caller.principal.require(Permission::Read)?;
        // Validate everything before the stream starts, so a bad argument fails at once.
        let requested = workspace_id
            .map(|w| WorkspaceId::parse("workspace_id", &w))
            .transpose()?;
        let workspace = scoped_workspace(caller, requested.as_ref())?;
        let conversion_types = conversion_types
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        ConversionType::parse("conversion_types", t).map(|t| t.as_str().to_owned())
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let services = services(ctx)?;
        let resume_after = match after {
            Some(raw) => {
                let cursor = FeedCursor::decode(AFTER, &raw)?;
                Some(services.feed_resume_point(AFTER, cursor).await?)
            }
            None => None,
        };
        let filter = FeedFilter {
            workspace,
            conversion_types,
        };
        // The admin sees each event's contact whole; a workspace gets only its own events, so
        // it sees the contact as the converting workspace does: whole if it owns the contact,
        // else only its own figures (never another receiver's).
        let whole = caller.principal.scope().is_none();
        let view = move |event: &events::ConversionEvent| ConversionEvent {
            sequence: event.sequence,
            kind: event.kind,
            adjustment: event.adjustment.clone(),
            conversion: event.conversion.clone(),
            contact: if whole {
                event.contact.clone()
            } else {
                event.contact_for_workspace.clone()
            },
        };
        let meter = match ctx.data_opt::<FeedTap>() {
            Some(tap) => Meter::Shared(tap.clone()),
            None => Meter::Own(services.metrics.clone()),
        };
        // Only the named workspace's events wake this stream; the filter stays as a guard.
        // Listening comes first: a resumed feed then reads the store, and nothing committed
        // in between can fall through.
        let receiver = services.bus.subscribe(filter.workspace.as_ref());
        meter.listening();
        if let Some(after) = resume_after {
            let resumed = services.resumed_feed(AFTER, receiver, after, filter);
            return Ok(resumed
                .map(move |item| match item {
                    Ok(FeedItem::Replayed(event)) => Ok(view(&event)),
                    Ok(FeedItem::Live(event)) => {
                        meter.record(Delivery::Event {
                            written_at: event.conversion.created_at,
                        });
                        Ok(view(&event))
                    }
                    Err(err) => Err(err.into()),
                })
                .boxed());
        }
        Ok(BroadcastStream::new(receiver)
            .filter_map(move |item| {
                let out = match item {
                    Ok(event) => filter.admits(&event.conversion).then(|| {
                        meter.record(Delivery::Event {
                            written_at: event.conversion.created_at,
                        });
                        Ok(view(&event))
                    }),
                    Err(BroadcastStreamRecvError::Lagged(missed)) => {
                        meter.record(Delivery::Lagged { missed });
                        Some(Err(fell_behind(missed).into()))
                    }
                };
                async move { out }
            })
            .boxed())
    }
}

/// The argument that resumes the feed, as errors name it.
const AFTER: &str = "after";

/// The error a subscriber that fell behind gets, in a `next` message, before the events it
/// can still receive: `CONFLICT`, saying how many it missed.
pub fn fell_behind(missed: u64) -> AppError {
    AppError::Conflict(format!(
        "the subscriber fell behind and missed {missed} events; re-read them with the conversions query"
    ))
}

/// What one result of `conversionFeed` was: an event, written at `written_at`, or the notice
/// that `missed` events were lost to lag.
#[derive(Clone, Copy, Debug)]
pub enum Delivery {
    Event { written_at: DateTime<Utc> },
    Lagged { missed: u64 },
}

/// In a request's data when one execution of `conversionFeed` serves several subscribers
/// (the WebSocket's shared feed, `http::ws::shared`): the resolver then counts nothing itself.
/// It says when it listens to the bus, and what each result it yields is, which the execution
/// takes ([`FeedTap::take`]) once the result is executed and counts once per subscriber.
#[derive(Clone)]
pub struct FeedTap {
    listening: Arc<dyn Fn() + Send + Sync>,
    last: Arc<Mutex<Option<Delivery>>>,
}

impl FeedTap {
    /// `listening` runs once, when the resolver has subscribed to the bus: from then on no
    /// event is missed.
    pub fn new(listening: impl Fn() + Send + Sync + 'static) -> Self {
        FeedTap {
            listening: Arc::new(listening),
            last: Arc::default(),
        }
    }

    /// What the result just executed was; `None` for a result that is neither (an error
    /// refusing the subscription).
    pub fn take(&self) -> Option<Delivery> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Who counts this execution's deliveries: itself (one subscriber), or its shared execution.
enum Meter {
    Own(Metrics),
    Shared(FeedTap),
}

impl Meter {
    fn listening(&self) {
        if let Meter::Shared(tap) = self {
            (tap.listening)();
        }
    }

    fn record(&self, delivery: Delivery) {
        match (self, delivery) {
            (Meter::Own(metrics), Delivery::Event { written_at }) => {
                metrics.feed_delivered(written_at)
            }
            (Meter::Own(metrics), Delivery::Lagged { missed }) => metrics.feed_lagged(missed),
            (Meter::Shared(tap), delivery) => {
                *tap.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(delivery);
            }
        }
    }
}
