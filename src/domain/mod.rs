//! Domain types: raw input is parsed into these at the edge (REST and GraphQL), so the
//! service layer never re-checks strings.

mod amount;
mod calendar;
pub mod contact_details;
mod custom_data;
mod ids;
mod money;
mod numbers;
mod paging;
mod period;
mod rate;
mod status;
mod webhook;

pub use amount::Amount;
pub use calendar::{
    Granularity, WeekStart, as_day_boundary, day_start, local_day, parse_date, parse_zone,
    zone_or_utc,
};
pub use custom_data::{CustomData, SENSITIVE_PREFIX, is_sensitive};
pub use ids::{
    ASSIGNED_ID_MAX, ASSIGNED_ID_MIN, CLIENT_ID_MAX, ContactId, ConversionType, IdempotencyKey,
    LeadId, WorkspaceId, optional_text, required_text,
};
pub use money::{Currency, ISO_4217, Money};
pub use numbers::{inexact_number_in_graphql, inexact_number_in_json};
pub use paging::page_size;
pub use period::{DateRange, happened_by, instant, parse_instant};
pub use rate::Rate;
pub use status::{
    AdjustmentAction, ConversionState, ConversionStatus, FunnelStage, Permission, TrackingAction,
};
pub use webhook::{EndpointUrl, EventType, MAX_URL_LEN};
