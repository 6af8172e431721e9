//! Group commit for conversions. A commit costs a sync to disk (0.15–0.4 ms here), and on
//! SQLite every statement a round trip to the database's thread; one transaction per request,
//! or a statement per table per request, caps ingest at about a thousand a second.
//! Instead, one writer task per process takes every conversion waiting in its queue and
//! writes them set at a time (`group`): a few statements per table for the whole group (rows
//! in chunks of 64 on SQLite, all of them in one statement on PostgreSQL: `sets`), one
//! commit, one sync. Each request still gets its own result, only after the commit that made
//! it durable; a request that fails a check is refused alone.
//!
//! Groups form by themselves: while one commits, the next requests queue up. Under light
//! load a group is one request and nothing waits for company.
//!
//! On SQLite the writer runs on a thread of its own, with a runtime of its own. Each
//! statement, and each row a read returns, comes back from SQLite's thread as a wake-up; on
//! the shared runtime every one of them waited behind the request tasks queued there, and
//! the whole chain of a group's statements with it. PostgreSQL's connections belong to the
//! I/O driver of the runtime that opened them, so there the writer is a task like others.

mod group;

use super::conversion::{LogConversion, Logged};
use super::idempotency::Claim;
use super::{Parts, Services};
use crate::auth::Caller;
use crate::domain::WorkspaceId;
use crate::error::{AppError, AppResult};
use futures_util::FutureExt;
use sea_orm::{DatabaseTransaction, DbBackend, TransactionTrait};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use tokio::runtime;
use tokio::sync::{mpsc, oneshot};

/// Conversions committed together at most; bounds a transaction's size and lock time.
const MAX_GROUP: usize = 512;
/// Requests waiting for the writer at most, before senders wait for room.
const QUEUE: usize = 4_096;

pub(super) struct Job {
    caller: Caller,
    workspace_id: WorkspaceId,
    input: LogConversion,
    claim: Option<Claim>,
    /// The client's correlation id, for the audit entry (the writer runs outside the request).
    client_request_id: Option<String>,
    reply: oneshot::Sender<AppResult<Logged>>,
}

pub(super) type Queue = mpsc::Sender<Job>;

/// Writes the queued conversions, a group at a time, until the services are dropped: it
/// holds them weakly, so that their queue, and with it this loop, ends with them.
async fn write_groups(services: Weak<Parts>, mut jobs: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while jobs.recv_many(&mut group, MAX_GROUP).await > 0 {
        let Some(services) = services.upgrade().map(Services) else {
            return;
        };
        // A panic must not stop ingest for good: its group's requests get an error (their
        // answer channels close) and the writer takes the next group.
        let commit = AssertUnwindSafe(services.commit_group(std::mem::take(&mut group)));
        if commit.catch_unwind().await.is_err() {
            tracing::error!("a group commit panicked; its requests got an error");
        }
    }
}

impl Services {
    /// Queues one conversion for the writer; the answer comes once its group is committed.
    /// Conversions queued one after another are written in that order.
    pub(super) async fn enqueue(
        &self,
        caller: Caller,
        workspace_id: WorkspaceId,
        input: LogConversion,
        claim: Option<Claim>,
    ) -> AppResult<oneshot::Receiver<AppResult<Logged>>> {
        // Started on first use, once the configuration is finished.
        let queue = self.ingest.get_or_init(|| {
            let (queue, jobs) = mpsc::channel(QUEUE);
            let writer = write_groups(Arc::downgrade(&self.0), jobs);
            if self.db.backend() == DbBackend::Sqlite {
                let runtime = runtime::Builder::new_current_thread().enable_all().build();
                let started = runtime.and_then(|runtime| {
                    std::thread::Builder::new()
                        .name("convio-writer".into())
                        .spawn(move || runtime.block_on(writer))
                });
                if let Err(err) = started {
                    tracing::error!(error = %err, "the conversion writer could not start");
                }
            } else {
                tokio::spawn(writer);
            }
            queue
        });
        let (reply, answer) = oneshot::channel();
        let job = Job {
            caller,
            workspace_id,
            input,
            claim,
            client_request_id: crate::request_id::current_client(),
            reply,
        };
        queue
            .send(job)
            .await
            .map_err(|_| AppError::Internal("the conversion writer has stopped".into()))?;
        Ok(answer)
    }

    /// Conversions waiting for the writer now (`/metrics`).
    pub fn ingest_waiting(&self) -> usize {
        self.ingest
            .get()
            .map_or(0, |q| q.max_capacity() - q.capacity())
    }

    async fn commit_group(&self, group: Vec<Job>) {
        let size = group.len();
        self.metrics.ingest_group(size);
        let outcomes = match self.write_and_commit(&group).await {
            Ok(outcomes) => outcomes,
            Err(err) => {
                tracing::error!(error = %err, size, "a group commit failed; its requests get an error");
                // A busy or deadlocked database is worth retrying, and says so; anything else
                // is ours.
                let answer = match err {
                    busy @ AppError::DatabaseBusy { .. } => busy,
                    _ => AppError::Internal("the transaction could not be committed".into()),
                };
                for job in group {
                    let _ = job.reply.send(Err(answer.clone()));
                }
                return;
            }
        };
        // Publish after commit: the feed pump reads new events from `feed_events`, the
        // webhook worker new deliveries from `webhook_deliveries`.
        self.feed_signal.notify_one();
        self.wake_webhooks_if_recorded();
        for (job, outcome) in group.into_iter().zip(outcomes) {
            if let Ok(Logged::Stored(c)) = &outcome {
                // The value metric is in minor units of --currency: other currencies' values
                // are not added to it (their conversions still count).
                let value = self.lifetime_part(&c.currency, c.value_minor);
                self.metrics.conversion_logged(&c.conversion_type, value);
            }
            let _ = job.reply.send(outcome);
        }
    }

    /// Writes the group set at a time in one transaction and commits it. Should a statement
    /// fail (a claim another node stored first, a deadlock), that transaction is rolled back
    /// and the jobs are written again one by one, each in a savepoint of a second transaction,
    /// so the failure is answered to the job that caused it.
    ///
    /// The common path takes no savepoint, so it pays no `SAVEPOINT`/`RELEASE` round trips.
    /// (Each multi-row statement still journals the pages it changes, as the savepoint did;
    /// on SQLite that journal stays in memory: see `db::connect`.)
    async fn write_and_commit(&self, group: &[Job]) -> AppResult<Vec<AppResult<Logged>>> {
        let txn = self.db.begin_write().await?;
        let err = match self.write_group(&*txn, group).await {
            Ok(outcomes) => return txn.commit().await.map(|()| outcomes),
            Err(err) => err,
        };
        txn.rollback().await?;
        tracing::debug!(error = %err, size = group.len(), "a group failed as a set; writing it one by one");
        let txn = self.db.begin_write().await?;
        let mut outcomes = Vec::with_capacity(group.len());
        for job in group.chunks(1) {
            match self.write_in_savepoint(&txn, job).await {
                Ok(mut outcome) => outcomes.append(&mut outcome),
                Err(err) => outcomes.push(Err(err)),
            }
        }
        txn.commit().await.map(|()| outcomes)
    }

    async fn write_in_savepoint(
        &self,
        txn: &DatabaseTransaction,
        jobs: &[Job],
    ) -> AppResult<Vec<AppResult<Logged>>> {
        let savepoint = txn.begin().await?;
        match self.write_group(&savepoint, jobs).await {
            Ok(outcomes) => {
                savepoint.commit().await?;
                Ok(outcomes)
            }
            Err(err) => {
                savepoint.rollback().await?;
                Err(err)
            }
        }
    }
}
