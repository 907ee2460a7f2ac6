//! Mapping rules (the dashboard page for them is not built yet; these functions are its API).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::mapping::RuleDef;

use crate::error::UiError;

/// The tenant's rules, in order.
#[server(prefix = "/api", endpoint = "mapping_rules", input = Json)]
pub async fn list_mapping_rules() -> Result<Vec<RuleDef>, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::mappings::list(&admin.services.store, &admin.tenant).await?)
}

/// Adds a rule (at the end) and places the tenant's users; returns its id.
#[server(prefix = "/api", endpoint = "mapping_rule_create", input = Json)]
pub async fn create_mapping_rule(rule: RuleDef) -> Result<String, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::mappings::create(&admin.services.store, &admin.tenant, &admin.actor, &rule).await?)
}

/// Changes a rule and re-places the tenant's users.
#[server(prefix = "/api", endpoint = "mapping_rule_update", input = Json)]
pub async fn update_mapping_rule(rule: RuleDef) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::mappings::update(&admin.services.store, &admin.tenant, &admin.actor, &rule).await?)
}

/// Deletes a rule and re-places the tenant's users.
#[server(prefix = "/api", endpoint = "mapping_rule_delete", input = Json)]
pub async fn delete_mapping_rule(id: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::mappings::delete(&admin.services.store, &admin.tenant, &admin.actor, &id).await?)
}
