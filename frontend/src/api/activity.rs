//! The activity log.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::dto::{ActivityPage, ActivityQuery, ActivityView};

use crate::error::UiError;

/// A page of the tenant's activity, newest first.
#[server(prefix = "/api", endpoint = "activity", input = Json)]
pub async fn list_activity(query: ActivityQuery) -> Result<ActivityPage, UiError> {
    let admin = super::ctx::require_reader().await?;
    admin.services.activity.flush().await;
    Ok(roster_shared::service::activity::list(&admin.services.store, &admin.tenant, &query).await?)
}

/// One record.
#[server(prefix = "/api", endpoint = "activity_record", input = Json)]
pub async fn activity_record(id: i64) -> Result<ActivityView, UiError> {
    let admin = super::ctx::require_reader().await?;
    roster_shared::service::activity::get(&admin.services.store, &admin.tenant, id)
        .await?
        .ok_or_else(|| UiError::Invalid("This activity record does not exist (it may have expired).".into()))
}
