//! The users table, one user's detail, manual users, and the navigation's counts.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::dto::{ImportReport, ManualUserInput, NavCounts, UserDetail, UserPage, UserQuery};

use crate::error::UiError;

/// A page of the users table.
#[server(prefix = "/api", endpoint = "users", input = Json)]
pub async fn list_users(query: UserQuery) -> Result<UserPage, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::directory::list(&admin.services.store, &admin.tenant, &query).await?)
}

/// Everything about one user.
#[server(prefix = "/api", endpoint = "user", input = Json)]
pub async fn get_user(id: String) -> Result<UserDetail, UiError> {
    let admin = super::ctx::require_reader().await?;
    admin.services.activity.flush().await;
    Ok(roster_shared::service::directory::detail(&admin.services.store, &admin.tenant, &admin.services.public_url, &id)
        .await?)
}

/// The organization at a glance, for the Overview page (its SCIM health counts the requests
/// this instance has answered so far, so the queued activity records are written first).
#[server(prefix = "/api", endpoint = "overview", input = Json)]
pub async fn load_overview() -> Result<roster_shared::dto::OrgOverview, UiError> {
    let admin = super::ctx::require_reader().await?;
    admin.services.activity.flush().await;
    Ok(roster_shared::service::overview::load(&admin.services.store, &admin.tenant, &admin.services.public_url).await?)
}

/// The counts shown in the navigation.
#[server(prefix = "/api", endpoint = "nav_counts", input = Json)]
pub async fn load_nav_counts() -> Result<NavCounts, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(NavCounts {
        unassigned: roster_shared::service::directory::unassigned_count(&admin.services.store, &admin.tenant).await?,
        held: admin.services.store.tenant(&admin.tenant).held_changes(0).await?.1,
    })
}

/// Creates a manual user; returns its id.
#[server(prefix = "/api", endpoint = "user_create", input = Json)]
pub async fn create_manual_user(input: ManualUserInput) -> Result<String, UiError> {
    let admin = super::ctx::require_admin().await?;
    let ids = roster_shared::service::directory::create_manual(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        std::slice::from_ref(&input),
    )
    .await?;
    ids.into_iter().next().ok_or(UiError::Internal)
}

/// Edits a manual user.
#[server(prefix = "/api", endpoint = "user_update", input = Json)]
pub async fn update_manual_user(id: String, input: ManualUserInput) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::directory::update_manual(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        &id,
        &input,
    )
    .await?)
}

/// Removes a manual user.
#[server(prefix = "/api", endpoint = "user_delete", input = Json)]
pub async fn delete_manual_user(id: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::directory::delete_manual(&admin.services.store, &admin.tenant, &admin.actor, &id)
        .await?)
}

/// Imports manual users from CSV text (all or nothing); the report lists problems by line.
#[server(prefix = "/api", endpoint = "users_import", input = Json)]
pub async fn import_users(csv: String) -> Result<ImportReport, UiError> {
    let admin = super::ctx::require_admin().await?;
    if csv.len() > 5 * 1024 * 1024 {
        return Err(UiError::Invalid("The file is larger than 5 MB; split it.".into()));
    }
    Ok(roster_shared::service::directory::import_csv(&admin.services.store, &admin.tenant, &admin.actor, &csv).await?)
}
