//! The in-process fan-out of the conversion feed. Only the feed pump (`crate::feed`) publishes
//! here, from the `feed_events` table, so every event describes something durably stored and
//! arrives in commit order on every node; subscribers filter what their principal may see.

use crate::service::shared::SeenContact;
use entity::conversion;
use std::sync::Arc;
use tokio::sync::broadcast;

/// A stored conversion and its contact.
#[derive(Clone, Debug)]
pub struct ConversionEvent {
    /// The event's durable position in the feed (`feed_events.id`).
    pub sequence: i64,
    pub conversion: conversion::Model,
    /// The contact as the conversion left it, whole: what the admin sees.
    pub contact: SeenContact,
    /// The same contact as the converting workspace sees it: whole if it owns the contact,
    /// else only its own figures. A workspace's subscribers get only its own events, so this.
    pub contact_for_workspace: SeenContact,
}

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<ConversionEvent>>,
}

impl EventBus {
    /// `capacity` events may queue per subscriber before the slowest one is told it lagged.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        EventBus { sender }
    }

    pub fn publish(&self, event: ConversionEvent) {
        // No subscribers is not an error: the event is already stored.
        let _ = self.sender.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ConversionEvent>> {
        self.sender.subscribe()
    }

    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }
}
