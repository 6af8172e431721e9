//! Small closed vocabularies: a contact's conversion status, workspace permissions, and the
//! actions recorded in `workspace_tracking`.

use crate::error::AppError;
use serde::{Deserialize, Serialize};

/// Where a contact stands. Forward order: pending → qualified → appointment → converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum ConversionStatus {
    /// Not yet worked, or nothing reported back.
    Pending,
    /// The workspace judged the contact a real prospect.
    Qualified,
    /// An appointment is set.
    Appointment,
    /// The contact bought.
    Converted,
    /// The opportunity is lost. Only set explicitly; a later `qualified`, `appointment` or `sale`
    /// conversion moves it forward again, a conversion of another type leaves it lost.
    Lost,
}

impl ConversionStatus {
    pub const ALL: [ConversionStatus; 5] = [
        Self::Pending,
        Self::Qualified,
        Self::Appointment,
        Self::Converted,
        Self::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Qualified => "qualified",
            Self::Appointment => "appointment",
            Self::Converted => "converted",
            Self::Lost => "lost",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                AppError::invalid(
                    field,
                    "must be one of pending, qualified, appointment, converted, lost",
                )
            })
    }

    /// Reads a value the database holds; anything unexpected is treated as pending.
    pub fn from_stored(raw: &str) -> Self {
        Self::parse("", raw).unwrap_or(Self::Pending)
    }

    /// How far along the funnel this is; `lost` ranks with `pending` so any evidence moves it.
    pub fn rank(self) -> u8 {
        match self {
            Self::Pending | Self::Lost => 0,
            Self::Qualified => 1,
            Self::Appointment => 2,
            Self::Converted => 3,
        }
    }

    /// The stage a logged conversion of this type proves the contact reached, if any.
    pub fn implied_by(conversion_type: &str) -> Option<Self> {
        match conversion_type {
            "sale" => Some(Self::Converted),
            "appointment" => Some(Self::Appointment),
            "qualified" => Some(Self::Qualified),
            _ => None,
        }
    }

    /// The status after the conversion of `removed_type` stopped counting (retracted, or
    /// restated as another type), given the types of the conversions that still count. The
    /// documented rule (docs/api.md, "Retract and restate"): a status that conversion proves
    /// (`converted` for a `sale`, …) falls back to the furthest stage the others still prove,
    /// `pending` if none; any other status, `lost` included, stays.
    pub fn without(self, removed_type: &str, remaining: &[&str]) -> Self {
        if Self::implied_by(removed_type) != Some(self) {
            return self;
        }
        remaining
            .iter()
            .fold(Self::Pending, |status, t| status.advanced_by(t))
    }

    /// The status after a conversion of `conversion_type`: forward only, never backwards.
    pub fn advanced_by(self, conversion_type: &str) -> Self {
        match Self::implied_by(conversion_type) {
            Some(next) if next.rank() > self.rank() => next,
            _ => self,
        }
    }
}

/// A stage of the plan's §4.2 funnel. A received contact has reached a stage when its current
/// status (the one its receiving workspace reached itself) is that stage's or a later one
/// (pending → qualified → appointment → converted); `lost` ranks with `pending`, so a lost
/// contact counts as received only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
#[graphql(name = "FunnelStageName")]
pub enum FunnelStage {
    /// Every contact received.
    LeadsReceived,
    /// Received and now qualified, at an appointment or converted.
    Qualified,
    /// Received and now at an appointment or converted.
    Appointments,
    /// Received and now converted.
    Conversions,
}

impl FunnelStage {
    /// The stages in funnel order.
    pub const ALL: [FunnelStage; 4] = [
        Self::LeadsReceived,
        Self::Qualified,
        Self::Appointments,
        Self::Conversions,
    ];

    /// The name the analytics answer gives the stage (`leads_received`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeadsReceived => "leads_received",
            Self::Qualified => "qualified",
            Self::Appointments => "appointments",
            Self::Conversions => "conversions",
        }
    }

    /// The lowest [`ConversionStatus::rank`] of a contact that reached this stage.
    pub fn min_rank(self) -> u8 {
        match self {
            Self::LeadsReceived => 0,
            Self::Qualified => ConversionStatus::Qualified.rank(),
            Self::Appointments => ConversionStatus::Appointment.rank(),
            Self::Conversions => ConversionStatus::Converted.rank(),
        }
    }

    /// Whether a contact with this status reached the stage.
    pub fn reached_by(self, status: ConversionStatus) -> bool {
        status.rank() >= self.min_rank()
    }
}

/// What a workspace's credentials allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read conversions, contacts, leads, analytics, activity and the live feed.
    Read,
    /// Create and send contacts and leads, and update a contact's conversion status.
    Update,
    /// Log conversions.
    Convert,
    /// Everything, across all workspaces, including registering workspaces.
    Admin,
}

impl Permission {
    pub const DEFAULT: [Permission; 3] = [Self::Read, Self::Update, Self::Convert];
    pub const ALL: [Permission; 4] = [Self::Read, Self::Update, Self::Convert, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Update => "update",
            Self::Convert => "convert",
            Self::Admin => "admin",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == raw)
            .ok_or_else(|| AppError::invalid(field, "must be one of read, update, convert, admin"))
    }
}

/// What happened between a workspace and a contact, as recorded in `workspace_tracking`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackingAction {
    Created,
    Sent,
    Received,
    Converted,
    Updated,
    /// A conversion was retracted or restated.
    Adjusted,
}

impl TrackingAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Sent => "sent",
            Self::Received => "received",
            Self::Converted => "converted",
            Self::Updated => "updated",
            Self::Adjusted => "adjusted",
        }
    }
}

/// Whether a conversion still counts (`conversions.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum ConversionState {
    /// It counts in every figure, with its current type and value.
    Active,
    /// Retracted: kept, with its history, but counted nowhere.
    Retracted,
}

impl ConversionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retracted => "retracted",
        }
    }

    /// Reads a value the database holds.
    pub fn from_stored(raw: &str) -> Self {
        if raw == Self::Retracted.as_str() {
            Self::Retracted
        } else {
            Self::Active
        }
    }
}

/// What an adjustment does to a conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentAction {
    /// It stops counting, for good.
    Retract,
    /// Its value and/or type change.
    Restate,
}

impl AdjustmentAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retract => "retract",
            Self::Restate => "restate",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        match raw {
            "retract" => Ok(Self::Retract),
            "restate" => Ok(Self::Restate),
            _ => Err(AppError::invalid(field, "must be retract or restate")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConversionStatus::*;

    #[test]
    fn a_status_falls_back_only_when_the_removed_conversion_proved_it() {
        assert_eq!(Converted.without("sale", &["qualified", "demo"]), Qualified);
        assert_eq!(Converted.without("sale", &[]), Pending);
        assert_eq!(Converted.without("sale", &["sale"]), Converted);
        // Another stage, or one set by hand, stays.
        assert_eq!(Converted.without("qualified", &[]), Converted);
        assert_eq!(Lost.without("sale", &[]), Lost);
        assert_eq!(Appointment.without("demo", &[]), Appointment);
    }

    #[test]
    fn status_moves_forward_only() {
        assert_eq!(Pending.advanced_by("sale"), Converted);
        assert_eq!(Pending.advanced_by("qualified"), Qualified);
        assert_eq!(Qualified.advanced_by("appointment"), Appointment);
        assert_eq!(Converted.advanced_by("qualified"), Converted);
        assert_eq!(Appointment.advanced_by("qualified"), Appointment);
        assert_eq!(Lost.advanced_by("appointment"), Appointment);
        assert_eq!(Qualified.advanced_by("demo_booked"), Qualified);
    }
}
