//! Resuming the conversion feed after a cursor: the events a subscriber missed are replayed
//! from `feed_events`, in bounded pages, and then the live bus takes over with no gap and no
//! duplicate.
//!
//! The order of steps is what makes the switch exact. The subscriber listens to the bus
//! first; then it reads the table after its cursor, page by page, until a page ends short of
//! the limit (the head, as that read saw it); then it takes live events, skipping those at or
//! before the last one it read. Every event published after it began listening is on the bus,
//! and every event published before is committed, so the table read after listening holds it.
//! (On PostgreSQL ids are appended under a lock, so id order is commit order, and a read by
//! id never passes over an id that commits later.)
//!
//! A resumed subscriber that falls behind the bus goes back to the table from its last event
//! instead of being told it lagged: nothing it may see is lost while it is kept. Retention
//! deletes the oldest events only (`feed_retention`), so while the last event read is still
//! stored, every event after it is too: each page reads that event again to prove it.

use super::Services;
use super::feed_cursor::FeedCursor;
use crate::domain::WorkspaceId;
use crate::error::{AppError, AppResult};
use crate::events::ConversionEvent;
use chrono::{DateTime, Utc};
use entity::{conversion, feed_event};
use futures_util::Stream;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait,
};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// Events read per replay query: what one resumed subscriber holds in memory at most.
const REPLAY_PAGE: u64 = 100;

/// Which events a feed subscriber receives: the same rule for live and replayed events.
#[derive(Clone, Debug, Default)]
pub struct FeedFilter {
    /// Only this workspace's events (a workspace's own subscriptions always set it).
    pub workspace: Option<WorkspaceId>,
    /// Only conversions of these types.
    pub conversion_types: Option<Vec<String>>,
}

impl FeedFilter {
    /// Whether a subscriber with this filter receives the event of `conversion`.
    pub fn admits(&self, conversion: &conversion::Model) -> bool {
        self.workspace
            .as_ref()
            .is_none_or(|w| w.as_str() == conversion.workspace_id)
            && self
                .conversion_types
                .as_ref()
                .is_none_or(|ts| ts.contains(&conversion.conversion_type))
    }

    /// The part of [`FeedFilter::admits`] SQL can ask of `conversions` as stored now: the
    /// workspace, which never changes. The type is the event's (a restatement may have
    /// changed the row's since), so it is checked on each event read.
    fn condition(&self) -> Condition {
        let mut cond = Condition::all();
        if let Some(workspace) = &self.workspace {
            cond = cond.add(conversion::Column::WorkspaceId.eq(workspace.as_str()));
        }
        cond
    }
}

/// One result of a resumed feed: an event read back from the table, or one from the live bus.
pub enum FeedItem {
    Replayed(Arc<ConversionEvent>),
    Live(Arc<ConversionEvent>),
}

/// One page of replay: the events after `after` that the filter admits, oldest first.
struct ReplayPage {
    events: Vec<ConversionEvent>,
    /// The sequence of the page's last row, when it has any.
    last: Option<i64>,
    /// Whether the page reached the head of the table as its read saw it.
    at_head: bool,
}

impl Services {
    /// Where a subscription resuming after `cursor` starts: the cursor's sequence, when its
    /// event is still kept and within `--feed-retention-seconds`. `CURSOR_EXPIRED` (naming
    /// `field`) when it is older or was deleted; `BAD_USER_INPUT` for a sequence past the
    /// newest event, which no server issued.
    pub async fn feed_resume_point(&self, field: &str, cursor: FeedCursor) -> AppResult<i64> {
        let created: Option<DateTime<Utc>> = feed_event::Entity::find_by_id(cursor.sequence)
            .select_only()
            .column(feed_event::Column::CreatedAt)
            .into_tuple()
            .one(self.db.conn())
            .await?;
        match created {
            Some(at) if at >= Utc::now() - self.feed_retention().duration() => Ok(cursor.sequence),
            Some(_) => Err(self.cursor_expired(field)),
            None if cursor.sequence <= self.feed_head().await? => Err(self.cursor_expired(field)),
            None => Err(AppError::invalid(
                field,
                "is not a feed cursor this server issued",
            )),
        }
    }

    /// The events after `after` (a sequence still stored: see [`Services::feed_resume_point`])
    /// that `filter` admits, replayed from the table, then the live events of `receiver`
    /// (already listening: see the module's docs), each once, in feed order. Its only error,
    /// `CURSOR_EXPIRED` naming `field`, ends it: the events it was about to replay were
    /// deleted meanwhile. A database error on the way ends it too.
    pub fn resumed_feed(
        &self,
        field: &str,
        receiver: broadcast::Receiver<Arc<ConversionEvent>>,
        after: i64,
        filter: FeedFilter,
    ) -> impl Stream<Item = AppResult<FeedItem>> + Send + 'static {
        let resume = Resume {
            services: self.clone(),
            field: field.to_owned(),
            receiver,
            filter,
            last: after,
            phase: Phase::Replay {
                buffered: VecDeque::new(),
                at_head: false,
            },
        };
        futures_util::stream::unfold(resume, |mut resume| async move {
            let item = resume.next().await?;
            Some((item, resume))
        })
    }

    /// The page after `after`: in one statement, the row `after` itself (proof that nothing
    /// after it was deleted yet) and up to `limit` rows after it of `filter`'s workspace; of
    /// their events, those `filter` admits.
    async fn feed_replay_page(
        &self,
        field: &str,
        after: i64,
        filter: &FeedFilter,
        limit: u64,
    ) -> AppResult<ReplayPage> {
        let _turn = self.replay_turn().await;
        let wanted = Condition::all()
            .add(feed_event::Column::Id.gt(after))
            .add(filter.condition());
        let mut rows = feed_event::Entity::find()
            .join(JoinType::InnerJoin, feed_event::Relation::Conversion.def())
            // The range alone lets the database start its scan of ids at `after`.
            .filter(feed_event::Column::Id.gte(after))
            .filter(
                Condition::any()
                    .add(feed_event::Column::Id.eq(after))
                    .add(wanted),
            )
            .order_by_asc(feed_event::Column::Id)
            .limit(limit + 1)
            .all(self.db.conn())
            .await?;
        if rows.first().is_none_or(|row| row.id != after) {
            return Err(self.cursor_expired(field));
        }
        rows.remove(0);
        let at_head = (rows.len() as u64) < limit;
        let last = rows.last().map(|row| row.id);
        let mut events = self.events_of(rows).await?;
        events.retain(|event| filter.admits(&event.conversion));
        Ok(ReplayPage {
            events,
            last,
            at_head,
        })
    }

    fn cursor_expired(&self, field: &str) -> AppError {
        AppError::CursorExpired {
            field: field.to_owned(),
            retention: self.feed_retention().to_string(),
        }
    }
}

/// A resumed feed between two results.
struct Resume {
    services: Services,
    field: String,
    receiver: broadcast::Receiver<Arc<ConversionEvent>>,
    filter: FeedFilter,
    /// The sequence of the last event read, delivered or not: replay continues after it, and
    /// live events at or before it were replayed already.
    last: i64,
    phase: Phase,
}

enum Phase {
    Replay {
        buffered: VecDeque<ConversionEvent>,
        /// Whether the table holds nothing after `buffered` (as last read).
        at_head: bool,
    },
    Live,
    Over,
}

impl Resume {
    async fn next(&mut self) -> Option<AppResult<FeedItem>> {
        loop {
            match &mut self.phase {
                Phase::Over => return None,
                Phase::Replay { buffered, at_head } => {
                    if let Some(event) = buffered.pop_front() {
                        return Some(Ok(FeedItem::Replayed(Arc::new(event))));
                    }
                    if *at_head {
                        self.phase = Phase::Live;
                        continue;
                    }
                    let page = self
                        .services
                        .feed_replay_page(&self.field, self.last, &self.filter, REPLAY_PAGE)
                        .await;
                    match page {
                        Ok(page) => {
                            self.last = page.last.unwrap_or(self.last);
                            self.phase = Phase::Replay {
                                buffered: page.events.into(),
                                at_head: page.at_head,
                            };
                        }
                        Err(err) => {
                            self.phase = Phase::Over;
                            return Some(Err(err));
                        }
                    }
                }
                Phase::Live => match self.receiver.recv().await {
                    Ok(event) if event.sequence <= self.last => {}
                    Ok(event) => {
                        self.last = event.sequence;
                        if self.filter.admits(&event.conversion) {
                            return Some(Ok(FeedItem::Live(event)));
                        }
                    }
                    // What the bus dropped is in the table: read it from there.
                    Err(RecvError::Lagged(_)) => {
                        self.phase = Phase::Replay {
                            buffered: VecDeque::new(),
                            at_head: false,
                        };
                    }
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}
