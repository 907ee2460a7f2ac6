//! The support console's server functions: read-only, across tenants. Each one starts with
//! `require_staff` or `staff_view` (which records the view in the tenant's activity); none
//! changes anything.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::dto::{
    ActivityPage, ActivityQuery, ActivityView, MappingsInspection, ScimGroupView, TenantInspection, TenantOverview,
    TenantQuery, UserDetail, UserGroupView, UserHit, UserPage, UserQuery,
};

use crate::error::UiError;

/// Every tenant with its figures.
#[server(prefix = "/api", endpoint = "support_tenants", input = Json)]
pub async fn support_tenants(query: TenantQuery) -> Result<Vec<TenantOverview>, UiError> {
    let staff = super::ctx::require_staff().await?;
    staff.services.activity.flush().await;
    Ok(roster_shared::service::support::tenants(&staff.services.store, &query).await?)
}

/// Users of any tenant by userName, email or externalId.
#[server(prefix = "/api", endpoint = "support_find_users", input = Json)]
pub async fn support_find_users(text: String) -> Result<Vec<UserHit>, UiError> {
    let staff = super::ctx::require_staff().await?;
    Ok(roster_shared::service::support::find_users(&staff.services.store, &staff.actor, &text).await?)
}

/// A tenant's organization, SCIM setup (no secrets), health and counts.
#[server(prefix = "/api", endpoint = "support_tenant", input = Json)]
pub async fn support_tenant(tenant: String) -> Result<TenantInspection, UiError> {
    let v = super::ctx::staff_view(&tenant, "the SCIM setup and health", None).await?;
    v.services.activity.flush().await;
    Ok(roster_shared::service::support::inspect(&v.services.store, &v.tenant, &v.services.public_url).await?)
}

/// A page of a tenant's users.
#[server(prefix = "/api", endpoint = "support_users", input = Json)]
pub async fn support_users(tenant: String, query: UserQuery) -> Result<UserPage, UiError> {
    let mut what = match query.filter {
        roster_shared::dto::UserFilter::Unassigned => "unassigned users".to_string(),
        f => format!("users ({})", f.label().to_lowercase()),
    };
    if !query.search.trim().is_empty() {
        what.push_str(&format!(" matching “{}”", query.search.trim().chars().take(100).collect::<String>()));
    }
    let v = super::ctx::staff_view(&tenant, &what, None).await?;
    Ok(roster_shared::service::directory::list(&v.services.store, &v.tenant, &query).await?)
}

/// One user of a tenant, with its timeline.
#[server(prefix = "/api", endpoint = "support_user", input = Json)]
pub async fn support_user(tenant: String, id: String) -> Result<UserDetail, UiError> {
    let v = super::ctx::staff_view(&tenant, "a user", Some(("User", &id))).await?;
    v.services.activity.flush().await;
    Ok(roster_shared::service::directory::detail(&v.services.store, &v.tenant, &v.services.public_url, &id).await?)
}

/// A tenant's SCIM groups and user groups.
#[server(prefix = "/api", endpoint = "support_groups", input = Json)]
pub async fn support_groups(tenant: String) -> Result<(Vec<ScimGroupView>, Vec<UserGroupView>), UiError> {
    let v = super::ctx::staff_view(&tenant, "SCIM groups and user groups", None).await?;
    Ok((
        roster_shared::service::support::scim_groups(&v.services.store, &v.tenant).await?,
        roster_shared::service::user_groups::list(&v.services.store, &v.tenant).await?,
    ))
}

/// A tenant's SSO connections and sign-in log (no secrets).
#[server(prefix = "/api", endpoint = "support_sso", input = Json)]
pub async fn support_sso(tenant: String) -> Result<roster_shared::dto::SsoSetup, UiError> {
    let v = super::ctx::staff_view(&tenant, "single sign-on and the sign-in log", None).await?;
    Ok(roster_shared::service::sso::connections::setup(&v.services.store, &v.services.public_url, &v.tenant).await?)
}

/// A tenant's mapping rules and their last evaluation.
#[server(prefix = "/api", endpoint = "support_mappings", input = Json)]
pub async fn support_mappings(tenant: String) -> Result<MappingsInspection, UiError> {
    let v = super::ctx::staff_view(&tenant, "mapping rules", None).await?;
    Ok(roster_shared::service::support::mapping_rules(&v.services.store, &v.tenant).await?)
}

/// A page of a tenant's activity.
#[server(prefix = "/api", endpoint = "support_activity", input = Json)]
pub async fn support_activity(tenant: String, query: ActivityQuery) -> Result<ActivityPage, UiError> {
    let v = super::ctx::staff_view(&tenant, "the activity log", None).await?;
    v.services.activity.flush().await;
    Ok(roster_shared::service::activity::list(&v.services.store, &v.tenant, &query).await?)
}

/// One activity record of a tenant, with its request body (secrets removed).
#[server(prefix = "/api", endpoint = "support_activity_record", input = Json)]
pub async fn support_activity_record(tenant: String, id: i64) -> Result<ActivityView, UiError> {
    let v = super::ctx::staff_view(&tenant, &format!("activity record {id}"), None).await?;
    roster_shared::service::activity::get(&v.services.store, &v.tenant, id)
        .await?
        .ok_or_else(|| UiError::Invalid("This activity record does not exist (it may have expired).".into()))
}
