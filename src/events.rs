//! The in-process fan-out of the conversion feed. Only the feed pump (`crate::feed`) publishes
//! here, from the `feed_events` table, so every event describes something durably stored and
//! arrives in commit order on every node.
//!
//! Events fan out per workspace: a subscriber confined to one workspace listens on that
//! workspace's channel and is never woken for another's events; the admin's unfiltered feed
//! listens on the channel of every event.

use crate::domain::WorkspaceId;
use crate::service::shared::SeenContact;
use entity::{conversion, conversion_adjustment};
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;

/// What happened to the event's conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "ConversionEventKind")]
pub enum EventKind {
    /// It was logged.
    Logged,
    /// It was restated: a new value and/or type.
    Adjusted,
    /// It was retracted: it counts nowhere from now on.
    Retracted,
}

impl EventKind {
    /// As stored in `feed_events.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logged => "logged",
            Self::Adjusted => "adjusted",
            Self::Retracted => "retracted",
        }
    }

    /// Reads a stored value; anything unknown is a logged event.
    pub fn from_stored(raw: &str) -> Self {
        match raw {
            "adjusted" => Self::Adjusted,
            "retracted" => Self::Retracted,
            _ => Self::Logged,
        }
    }
}

/// A stored conversion, or an adjustment of one, and its contact.
#[derive(Clone, Debug)]
pub struct ConversionEvent {
    /// The event's durable position in the feed (`feed_events.id`).
    pub sequence: i64,
    pub kind: EventKind,
    /// The conversion as the event left it: as logged, or as the adjustment left it.
    pub conversion: conversion::Model,
    /// The adjustment an `Adjusted` or `Retracted` event reports.
    pub adjustment: Option<conversion_adjustment::Model>,
    /// The contact as the conversion left it, whole: what the admin sees.
    pub contact: SeenContact,
    /// The same contact as the converting workspace sees it: whole if it owns the contact,
    /// else only its own figures. A workspace's subscribers get only its own events, so this.
    pub contact_for_workspace: SeenContact,
}

type Sender = broadcast::Sender<Arc<ConversionEvent>>;

#[derive(Clone)]
pub struct EventBus {
    capacity: usize,
    /// Every event.
    all: Sender,
    /// Each workspace's events, for the workspaces someone listens to.
    by_workspace: Arc<Mutex<HashMap<String, Sender>>>,
    /// Subscribers served by an execution shared with others, beyond the one receiver that
    /// execution holds (`http::ws::shared`): counted in [`EventBus::subscriber_count`].
    sharing: Arc<AtomicIsize>,
}

impl EventBus {
    /// `capacity` events may queue per subscriber before the slowest one is told it lagged.
    pub fn new(capacity: usize) -> Self {
        let (all, _) = broadcast::channel(capacity);
        EventBus {
            capacity,
            all,
            by_workspace: Arc::default(),
            sharing: Arc::default(),
        }
    }

    /// Events a subscriber may fall behind before it is told it lagged.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn publish(&self, event: ConversionEvent) {
        let event = Arc::new(event);
        let mut channels = self.channels();
        if let Some(channel) = channels.get(&event.conversion.workspace_id)
            && channel.send(event.clone()).is_err()
        {
            // Nobody listens to this workspace any more.
            channels.remove(&event.conversion.workspace_id);
        }
        drop(channels);
        // No subscribers is not an error: the event is already stored.
        let _ = self.all.send(event);
    }

    /// Listens to `workspace`'s events, or to every event with `None`. A receiver that falls
    /// more than [`EventBus::capacity`] of its events behind is told how many it missed.
    pub fn subscribe(
        &self,
        workspace: Option<&WorkspaceId>,
    ) -> broadcast::Receiver<Arc<ConversionEvent>> {
        let Some(workspace) = workspace else {
            return self.all.subscribe();
        };
        let mut channels = self.channels();
        channels.retain(|_, channel| channel.receiver_count() > 0);
        channels
            .entry(workspace.as_str().to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }

    /// Live subscribers: every receiver, plus the further subscribers each shared execution
    /// serves.
    pub fn subscriber_count(&self) -> usize {
        let receivers = self.all.receiver_count()
            + self
                .channels()
                .values()
                .map(broadcast::Sender::receiver_count)
                .sum::<usize>();
        let sharing = self.sharing.load(Ordering::Relaxed);
        receivers.saturating_add_signed(sharing)
    }

    /// `delta` more (or fewer) subscribers share a receiver someone already holds.
    pub fn shared_subscribers(&self, delta: isize) {
        self.sharing.fetch_add(delta, Ordering::Relaxed);
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, Sender>> {
        self.by_workspace
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
