//! Group commit for conversions. A commit costs a sync to disk (0.15–0.4 ms here), so one
//! transaction per request caps ingest at a few thousand a second however fast the rest is.
//! Instead, one writer task per process takes every conversion waiting in its queue, writes
//! each inside its own savepoint (so one request's error rolls back only its own rows), and
//! commits them together: one sync for the whole group. Each request still gets its own
//! result, only after the commit that made it durable.
//!
//! Groups form by themselves: while one commits, the next requests queue up. Under light
//! load a group is one request and nothing waits for company.

use super::Services;
use super::conversion::{LogConversion, Logged};
use super::idempotency::Claim;
use super::rollup::Delta;
use crate::auth::Caller;
use crate::domain::WorkspaceId;
use crate::error::{AppError, AppResult};
use futures_util::FutureExt;
use sea_orm::TransactionTrait;
use std::panic::AssertUnwindSafe;
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
    reply: oneshot::Sender<AppResult<Logged>>,
}

pub(super) type Queue = mpsc::Sender<Job>;

impl Services {
    /// Queues one conversion for the writer and waits until its group is committed.
    pub(super) async fn ingest(
        &self,
        caller: Caller,
        workspace_id: WorkspaceId,
        input: LogConversion,
        claim: Option<Claim>,
    ) -> AppResult<Logged> {
        // Started on first use, from a clone that carries the finished configuration.
        let queue = self.ingest.get_or_init(|| {
            let (queue, jobs) = mpsc::channel(QUEUE);
            tokio::spawn(self.clone().write_groups(jobs));
            queue
        });
        let (reply, answer) = oneshot::channel();
        let job = Job {
            caller,
            workspace_id,
            input,
            claim,
            reply,
        };
        queue
            .send(job)
            .await
            .map_err(|_| AppError::Internal("the conversion writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| AppError::Internal("the conversion writer dropped a request".into()))?
    }

    async fn write_groups(self, mut jobs: mpsc::Receiver<Job>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while jobs.recv_many(&mut group, MAX_GROUP).await > 0 {
            // A panic must not stop ingest for good: its group's requests get an error (their
            // answer channels close) and the writer takes the next group.
            let commit = AssertUnwindSafe(self.commit_group(std::mem::take(&mut group)));
            if commit.catch_unwind().await.is_err() {
                tracing::error!("a group commit panicked; its requests got an error");
            }
        }
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
        let txn = match self.db.begin_write().await {
            Ok(txn) => txn,
            Err(err) => {
                let reason = err.to_string();
                for job in group {
                    let _ = job.reply.send(Err(AppError::Internal(reason.clone())));
                }
                return;
            }
        };
        let mut rollups = Delta::default();
        let mut answers = Vec::with_capacity(size);
        for job in group {
            let result = async {
                let savepoint = txn.begin().await?;
                let mut mine = Delta::default();
                let logged = self
                    .log_in(
                        &savepoint,
                        &job.caller,
                        job.workspace_id,
                        job.input,
                        job.claim.as_ref(),
                        &mut mine,
                    )
                    .await;
                match logged {
                    Ok(logged) => {
                        savepoint.commit().await?;
                        rollups.merge(mine);
                        Ok(logged)
                    }
                    Err(err) => {
                        savepoint.rollback().await?;
                        Err(err)
                    }
                }
            }
            .await;
            answers.push((job.reply, result));
        }
        // Rollups of the whole group in one upsert per row: fewer statements than per request.
        let committed = async {
            rollups.apply(&*txn).await?;
            txn.commit().await
        }
        .await;
        match committed {
            Ok(()) => {
                // Publish after commit: the feed pump reads new events from `feed_events`.
                self.feed_signal.notify_one();
                for (reply, result) in answers {
                    if let Ok(Logged::Stored(c)) = &result {
                        self.metrics
                            .conversion_logged(&c.conversion_type, c.value_minor);
                    }
                    let _ = reply.send(result);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, size, "a group commit failed; its requests get an error");
                for (reply, _) in answers {
                    let _ = reply.send(Err(AppError::Internal(
                        "the transaction could not be committed".into(),
                    )));
                }
            }
        }
    }
}
