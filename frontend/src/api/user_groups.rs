//! User groups: the platform's own groups, each with a role.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::dto::{Assigned, UserGroupInput, UserGroupView};

use crate::error::UiError;

/// Every user group.
#[server(prefix = "/api", endpoint = "user_groups", input = Json)]
pub async fn list_user_groups() -> Result<Vec<UserGroupView>, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::user_groups::list(&admin.services.store, &admin.tenant).await?)
}

/// One user group.
#[server(prefix = "/api", endpoint = "user_group", input = Json)]
pub async fn get_user_group(id: String) -> Result<UserGroupView, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::user_groups::get(&admin.services.store, &admin.tenant, &id).await?)
}

/// Creates a user group.
#[server(prefix = "/api", endpoint = "user_group_create", input = Json)]
pub async fn create_user_group(input: UserGroupInput) -> Result<UserGroupView, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::user_groups::create(&admin.services.store, &admin.tenant, &admin.actor, &input).await?)
}

/// Renames, describes or changes the role of a user group.
#[server(prefix = "/api", endpoint = "user_group_update", input = Json)]
pub async fn update_user_group(id: String, input: UserGroupInput) -> Result<UserGroupView, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::user_groups::update(&admin.services.store, &admin.tenant, &admin.actor, &id, &input)
        .await?)
}

/// Deletes a user group; returns how many users lost it.
#[server(prefix = "/api", endpoint = "user_group_delete", input = Json)]
pub async fn delete_user_group(id: String) -> Result<i64, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::user_groups::delete(&admin.services.store, &admin.tenant, &admin.actor, &id).await?)
}

/// Makes a group the default (or none with `None`).
#[server(prefix = "/api", endpoint = "user_group_default", input = Json)]
pub async fn set_default_user_group(id: Option<String>) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::user_groups::set_default(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        id.as_deref(),
    )
    .await?)
}

/// Puts users in a user group; returns how many were added.
#[server(prefix = "/api", endpoint = "user_group_assign", input = Json)]
pub async fn assign_users(group_id: String, user_ids: Vec<String>) -> Result<Assigned, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::user_groups::assign(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        &group_id,
        &user_ids,
    )
    .await?)
}

/// Takes users out of a user group (the admin's placement only); returns how many.
#[server(prefix = "/api", endpoint = "user_group_unassign", input = Json)]
pub async fn unassign_users(group_id: String, user_ids: Vec<String>) -> Result<u64, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::user_groups::unassign(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        &group_id,
        &user_ids,
    )
    .await?)
}

/// The role of users in no user group (`None`: no access).
#[server(prefix = "/api", endpoint = "default_role", input = Json)]
pub async fn load_default_role() -> Result<Option<roster_shared::dto::GroupRole>, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::user_groups::default_role(&admin.services.store, &admin.tenant).await?)
}

/// Sets the role of users in no user group (a form; `role` empty: no access).
#[server(prefix = "/api", endpoint = "form/default_role")]
pub async fn set_default_role(role: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    let role = match role.as_str() {
        "" => None,
        r => Some(roster_shared::dto::GroupRole::parse(r).ok_or_else(|| UiError::Invalid("Unknown role.".into()))?),
    };
    Ok(roster_shared::service::user_groups::set_default_role(&admin.services.store, &admin.tenant, &admin.actor, role)
        .await?)
}
