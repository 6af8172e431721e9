//! Subscription root: the live conversion feed.

use super::types::ConversionEvent;
use super::{caller, services};
use crate::domain::{ConversionType, Permission, WorkspaceId};
use crate::error::AppError;
use crate::service::conversion::scoped_workspace;
use async_graphql::{Context, ID, Result, Subscription};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Live updates.
pub struct SubscriptionRoot;

/// Live updates.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Conversions as they are committed. A workspace receives only its own; filters narrow
    /// further. A subscriber too slow to keep up gets an error saying how many it missed.
    async fn conversion_feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this workspace (a workspace may name only itself).")]
        workspace_id: Option<ID>,
        #[graphql(desc = "Only these conversion types.")] conversion_types: Option<Vec<String>>,
    ) -> Result<impl Stream<Item = Result<ConversionEvent>>> {
        let caller = caller(ctx)?;
        caller.principal.require(Permission::Read)?;
        // Validate everything before the stream starts, so a bad argument fails at once.
        let requested = workspace_id
            .map(|w| WorkspaceId::parse("workspace_id", &w))
            .transpose()?;
        let workspace = scoped_workspace(caller, requested.as_ref())?;
        let types = conversion_types
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        ConversionType::parse("conversion_types", t).map(|t| t.as_str().to_owned())
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        // The admin sees each event's contact whole; a workspace gets only its own events, so
        // it sees the contact as the converting workspace does: whole if it owns the contact,
        // else only its own figures (never another receiver's).
        let whole = caller.principal.scope().is_none();
        let metrics = services(ctx)?.metrics.clone();
        let receiver = services(ctx)?.bus.subscribe();
        Ok(BroadcastStream::new(receiver).filter_map(move |item| {
            let out = match item {
                Ok(event) => {
                    let wanted = workspace.as_ref().is_none_or(|w| w.as_str() == event.conversion.workspace_id)
                        && types.as_ref().is_none_or(|ts| ts.contains(&event.conversion.conversion_type));
                    wanted.then(|| {
                        metrics.feed_delivered(event.conversion.created_at);
                        Ok(ConversionEvent {
                            conversion: event.conversion.clone(),
                            contact: if whole {
                                event.contact.clone()
                            } else {
                                event.contact_for_workspace.clone()
                            },
                        })
                    })
                }
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    metrics.feed_lagged(missed);
                    Some(Err(AppError::Conflict(format!(
                        "the subscriber fell behind and missed {missed} events; re-read them with the conversions query"
                    ))
                    .into()))
                }
            };
            async move { out }
        }))
    }
}
