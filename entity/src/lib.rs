//! SeaORM entities for convio: one module per table, no business logic.
//!
//! The schema itself is created by the `migration` crate; these entities
//! mirror it column for column.

pub mod api_key;
pub mod audit_anchor;
pub mod audit_log;
pub mod contact;
pub mod contact_rollup;
pub mod contact_state;
pub mod conversion;
pub mod conversion_adjustment;
pub mod conversion_rollup;
pub mod exchange_rate;
pub mod feed_event;
pub mod id_allocator;
pub mod idempotency_key;
pub mod lead;
pub mod rollup_zone;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod wide;
pub mod workspace;
pub mod workspace_tracking;

pub mod prelude {
    //! Every entity under a distinct name, e.g. `Workspace` for `workspace::Entity`.

    pub use crate::api_key::Entity as ApiKey;
    pub use crate::audit_anchor::Entity as AuditAnchor;
    pub use crate::audit_log::Entity as AuditLog;
    pub use crate::contact::Entity as Contact;
    pub use crate::contact_rollup::Entity as ContactRollup;
    pub use crate::contact_state::Entity as ContactState;
    pub use crate::conversion::Entity as Conversion;
    pub use crate::conversion_adjustment::Entity as ConversionAdjustment;
    pub use crate::conversion_rollup::Entity as ConversionRollup;
    pub use crate::exchange_rate::Entity as ExchangeRate;
    pub use crate::feed_event::Entity as FeedEvent;
    pub use crate::id_allocator::Entity as IdAllocator;
    pub use crate::idempotency_key::Entity as IdempotencyKey;
    pub use crate::lead::Entity as Lead;
    pub use crate::rollup_zone::Entity as RollupZone;
    pub use crate::webhook_delivery::Entity as WebhookDelivery;
    pub use crate::webhook_endpoint::Entity as WebhookEndpoint;
    pub use crate::workspace::Entity as Workspace;
    pub use crate::workspace_tracking::Entity as WorkspaceTracking;
}
