//! What each connection is doing, so the server can tell a client it is working for from one
//! that only holds a socket: when bytes last moved (the idle timeout), whether a request is
//! being handled or its response delivered, and whether the handler is only waiting for the
//! client's body. At the connection cap, the connection stalled the longest is evicted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One connection's state, shared by its task, its socket and its requests.
pub struct Activity {
    origin: Instant,
    /// When a byte last moved either way, in ms since `origin`.
    last_moved: AtomicU64,
    /// When the connection last started waiting on its client, in ms since `origin`.
    stalled_since: AtomicU64,
    handling: AtomicUsize,
    delivering: AtomicUsize,
    waiting_for_body: AtomicUsize,
    evicted: Notify,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            origin: Instant::now(),
            last_moved: AtomicU64::new(0),
            stalled_since: AtomicU64::new(0),
            handling: AtomicUsize::new(0),
            delivering: AtomicUsize::new(0),
            waiting_for_body: AtomicUsize::new(0),
            evicted: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Bytes moved on the socket.
    pub fn moved(&self) {
        self.last_moved.store(self.now(), Ordering::Relaxed);
    }

    /// A request's handler runs until the guard is dropped.
    pub fn handling(self: &Arc<Self>) -> Guard {
        self.stalled_since.store(self.now(), Ordering::Relaxed);
        Guard::new(self, |a| &a.handling)
    }

    /// A response body is being sent until the guard is dropped.
    pub fn delivering(self: &Arc<Self>) -> Guard {
        Guard::new(self, |a| &a.delivering)
    }

    /// The handler waits only for the client's body until the guard is dropped.
    pub fn waiting_for_body(self: &Arc<Self>) -> Guard {
        Guard::new(self, |a| &a.waiting_for_body)
    }

    /// Whether the server is doing nothing for this connection but wait on its client.
    fn stalled(&self) -> bool {
        let idle = self.handling.load(Ordering::Relaxed) == 0
            && self.delivering.load(Ordering::Relaxed) == 0;
        idle || self.waiting_for_body.load(Ordering::Relaxed) > 0
    }

    /// Resolves once nothing has moved for `limit` while no handler was running.
    pub async fn idle_for(&self, limit: Duration) {
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        loop {
            let busy = self.handling.load(Ordering::Relaxed) > 0;
            let due = self
                .last_moved
                .load(Ordering::Relaxed)
                .saturating_add(limit_ms);
            let now = self.now();
            if !busy && now >= due {
                return;
            }
            let wait = if busy { limit_ms } else { due - now };
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    /// Resolves when the connection cap made room by evicting this connection.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// Whether an eviction should drop the connection now (it only waits on its client) or
    /// let the work in flight finish first.
    pub fn may_drop(&self) -> bool {
        self.stalled()
    }
}

/// Counts one activity of a connection while it lives.
pub struct Guard {
    activity: Arc<Activity>,
    counter: fn(&Activity) -> &AtomicUsize,
}

impl Guard {
    fn new(activity: &Arc<Activity>, counter: fn(&Activity) -> &AtomicUsize) -> Guard {
        counter(activity).fetch_add(1, Ordering::Relaxed);
        Guard {
            activity: activity.clone(),
            counter,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let activity = &self.activity;
        activity.moved();
        activity
            .stalled_since
            .store(activity.now(), Ordering::Relaxed);
        (self.counter)(activity).fetch_sub(1, Ordering::Relaxed);
    }
}

/// Set on each request: lets the body reader tell the connection that it only waits on the
/// client, so a slow body can be evicted at the connection cap like a slow header.
#[derive(Clone)]
pub struct ClientWait(pub(super) Arc<Activity>);

impl ClientWait {
    pub fn begin(&self) -> Guard {
        self.0.waiting_for_body()
    }
}

/// The connections being served over HTTP (not upgraded ones), to pick one to evict.
#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

impl Registry {
    /// Lists a connection until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>, activity: &Arc<Activity>) -> Listed {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, activity.clone());
        Listed {
            registry: self.clone(),
            id,
        }
    }

    /// Evicts the connection that has waited on its client the longest, if any does: an
    /// unfinished request head, a body that does not come, or an idle keep-alive.
    pub fn evict_longest_stalled(&self) -> bool {
        let mut open = self.lock();
        let victim = open
            .iter()
            .filter(|(_, a)| a.stalled())
            .min_by_key(|(_, a)| {
                // Absolute instants, since each connection counts from its own origin.
                a.origin + Duration::from_millis(a.stalled_since.load(Ordering::Relaxed))
            })
            .map(|(id, _)| *id);
        match victim.and_then(|id| open.remove(&id)) {
            Some(activity) => {
                activity.evicted.notify_one();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's place in the registry, given up when it ends.
pub struct Listed {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::{Activity, Registry};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn the_connection_stalled_longest_is_evicted_and_busy_ones_never() {
        let registry = Arc::new(Registry::default());
        let handled = Activity::new();
        let _a = registry.enter(&handled);
        let _working = handled.handling();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let crawler = Activity::new();
        let _b = registry.enter(&crawler);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let uploader = Activity::new();
        let _c = registry.enter(&uploader);
        let _request = uploader.handling();
        let _body = uploader.waiting_for_body();

        // The crawler has waited longest; then the stalled upload; the handled one never.
        assert!(registry.evict_longest_stalled());
        assert!(crawler.may_drop());
        assert!(registry.evict_longest_stalled());
        assert!(uploader.may_drop());
        assert!(!registry.evict_longest_stalled());
        assert!(!handled.may_drop());
        // The notification is kept for the connection's task.
        tokio::time::timeout(Duration::from_millis(1), crawler.evicted())
            .await
            .expect("the crawler was told");
    }
}
