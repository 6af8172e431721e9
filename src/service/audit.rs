//! The audit log: one row per write, in the same transaction as the write it describes.

use crate::auth::Caller;
use crate::error::AppResult;
use entity::audit_log;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::Value;

pub(crate) async fn record(
    conn: &impl ConnectionTrait,
    caller: &Caller,
    action: &str,
    object_type: &str,
    object_id: &str,
    details: Value,
) -> AppResult<()> {
    audit_log::ActiveModel {
        at: Set(super::now()),
        actor: Set(caller.principal.audit_name()),
        action: Set(action.to_owned()),
        object_type: Set(object_type.to_owned()),
        object_id: Set(object_id.to_owned()),
        request_id: Set(caller.request_id.clone().filter(|id| !id.is_empty())),
        details: Set(Some(details)),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}
