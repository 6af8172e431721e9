//! How long feed events stay replayable (`--feed-retention-seconds`), and the sweep that
//! deletes older ones from `feed_events`.
//!
//! Nothing references a `feed_events` row (it references its conversion), and the pump of
//! every node is long past an event by the time it is old enough to go, so only cursors
//! notice: one at a deleted or older event is refused (`CURSOR_EXPIRED`). The sweep deletes
//! the oldest rows first, by id, so the rows kept are always every row from some id on: a
//! cursor whose row is still stored can replay everything after it. It keeps the newest row
//! whatever its age, so that ids never start again from 1 (SQLite reuses a freed rowid past
//! the largest one left).

use super::Services;
use crate::error::AppResult;
use chrono::Utc;
use entity::feed_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::fmt;
use std::time::Duration;

/// Rows deleted per statement, so writers are never held up long.
const SWEEP_BATCH: u64 = 1000;

/// How long feed events stay replayable: whole seconds, at least one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedRetention(Duration);

impl FeedRetention {
    /// Seven days, as Salesforce's 72 hours and then some.
    pub const DEFAULT: FeedRetention = FeedRetention(Duration::from_secs(7 * 86_400));

    /// `seconds` (at least one).
    pub fn from_seconds(seconds: u64) -> Self {
        FeedRetention(Duration::from_secs(seconds.max(1)))
    }

    pub fn duration(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }

    /// How often the sweep runs: a tenth of the retention, between a second and an hour, so
    /// an event outlives it by at most that.
    pub fn sweep_every(&self) -> Duration {
        (self.0 / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
    }
}

impl fmt::Display for FeedRetention {
    /// In the largest whole unit: `7 days`, `36 hours`, `90 minutes`, `1 second`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.as_secs();
        let (count, unit) = [(86_400, "day"), (3600, "hour"), (60, "minute")]
            .into_iter()
            .find(|(size, _)| seconds.is_multiple_of(*size))
            .map_or((seconds, "second"), |(size, unit)| (seconds / size, unit));
        let plural = if count == 1 { "" } else { "s" };
        write!(f, "{count} {unit}{plural}")
    }
}

impl Services {
    /// Keeps feed events replayable for `retention`.
    pub fn with_feed_retention(mut self, retention: FeedRetention) -> Self {
        self.parts_mut().feed_retention = retention;
        self
    }

    pub fn feed_retention(&self) -> FeedRetention {
        self.feed_retention
    }

    /// Deletes the feed events older than the retention, oldest first, in batches; returns
    /// how many. Every node may run it at once: a row deleted twice is deleted once.
    pub async fn sweep_feed_events(&self) -> AppResult<u64> {
        let conn = self.db.conn();
        let cutoff = Utc::now() - self.feed_retention.duration();
        // The first row kept: the oldest within retention, else the newest of all.
        let oldest_kept: Option<i64> = feed_event::Entity::find()
            .select_only()
            .column(feed_event::Column::Id)
            .filter(feed_event::Column::CreatedAt.gte(cutoff))
            .order_by_asc(feed_event::Column::Id)
            .limit(1)
            .into_tuple()
            .one(conn)
            .await?;
        let keep_from = match oldest_kept {
            Some(id) => id,
            None => self.feed_head().await?,
        };
        let mut deleted = 0;
        loop {
            let batch: Vec<i64> = feed_event::Entity::find()
                .select_only()
                .column(feed_event::Column::Id)
                .filter(feed_event::Column::Id.lt(keep_from))
                .order_by_asc(feed_event::Column::Id)
                .limit(SWEEP_BATCH)
                .into_tuple()
                .all(conn)
                .await?;
            let Some(&through) = batch.last() else {
                return Ok(deleted);
            };
            deleted += feed_event::Entity::delete_many()
                .filter(feed_event::Column::Id.lte(through))
                .exec(conn)
                .await?
                .rows_affected;
            if (batch.len() as u64) < SWEEP_BATCH {
                return Ok(deleted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_its_length_in_the_largest_whole_unit() {
        assert_eq!(FeedRetention::DEFAULT.to_string(), "7 days");
        assert_eq!(
            FeedRetention::from_seconds(36 * 3600).to_string(),
            "36 hours"
        );
        assert_eq!(
            FeedRetention::from_seconds(90 * 60).to_string(),
            "90 minutes"
        );
        assert_eq!(FeedRetention::from_seconds(1).to_string(), "1 second");
        assert_eq!(FeedRetention::from_seconds(0).to_string(), "1 second");
        assert_eq!(FeedRetention::from_seconds(61).to_string(), "61 seconds");
    }

    #[test]
    fn sweeps_a_tenth_as_often_between_a_second_and_an_hour() {
        assert_eq!(
            FeedRetention::DEFAULT.sweep_every(),
            Duration::from_secs(3600)
        );
        assert_eq!(
            FeedRetention::from_seconds(2).sweep_every(),
            Duration::from_secs(1)
        );
        assert_eq!(
            FeedRetention::from_seconds(600).sweep_every(),
            Duration::from_secs(60)
        );
    }
}
