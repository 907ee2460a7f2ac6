//! Mapping rules.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::rules::RuleDef;

use crate::error::UiError;

/// The tenant's rules, in order.
#[server(prefix = "/api", endpoint = "mapping_rules", input = Json)]
pub async fn list_mapping_rules() -> Result<Vec<RuleDef>, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::mappings::list(&admin.services.store, &admin.tenant).await?)
}

/// Adds a rule (at the end) and places the tenant's users; returns its id.
#[server(prefix = "/api", endpoint = "mapping_rule_create", input = Json)]
pub async fn create_mapping_rule(rule: RuleDef) -> Result<String, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::mappings::create(&admin.services.store, &admin.tenant, &admin.actor, &rule).await?)
}

/// Changes a rule and re-places the tenant's users.
#[server(prefix = "/api", endpoint = "mapping_rule_update", input = Json)]
pub async fn update_mapping_rule(rule: RuleDef) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::mappings::update(&admin.services.store, &admin.tenant, &admin.actor, &rule).await?)
}

/// Deletes a rule and re-places the tenant's users.
#[server(prefix = "/api", endpoint = "mapping_rule_delete", input = Json)]
pub async fn delete_mapping_rule(id: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::mappings::delete(&admin.services.store, &admin.tenant, &admin.actor, &id).await?)
}

/// Puts the rules in this order.
#[server(prefix = "/api", endpoint = "mapping_rules_reorder", input = Json)]
pub async fn reorder_mapping_rules(ids: Vec<String>) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::mappings::reorder(&admin.services.store, &admin.tenant, &admin.actor, &ids).await?)
}

/// The groups the IdP pushed: (id, name).
#[server(prefix = "/api", endpoint = "idp_groups", input = Json)]
pub async fn list_idp_groups() -> Result<Vec<(String, String)>, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::mappings::idp_groups(&admin.services.store, &admin.tenant).await?)
}

/// What saving (or deleting) a rule would change, without changing anything.
#[server(prefix = "/api", endpoint = "mapping_rule_preview", input = Json)]
pub async fn preview_mapping_rule(
    rule: RuleDef,
    delete: bool,
) -> Result<Vec<roster_shared::dto::RulePreview>, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::mappings::preview(&admin.services.store, &admin.tenant, &rule, delete).await?)
}

/// The latest whole-tenant evaluation (progress of the background run after a rule change).
#[server(prefix = "/api", endpoint = "mapping_run", input = Json)]
pub async fn latest_mapping_run() -> Result<Option<roster_shared::dto::MappingRun>, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::mappings::latest_run(&admin.services.store, &admin.tenant).await?)
}

/// Places every user again now (in the background); returns the run's id.
#[server(prefix = "/api", endpoint = "mapping_reevaluate", input = Json)]
pub async fn reevaluate_mappings() -> Result<String, UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::mappings::start_place_all(
        &admin.services.store,
        &admin.tenant,
        "re-evaluated by an admin",
    )
    .await?)
}

/// The attributes the organization's users have, with their common values (the rule form's
/// picker).
#[server(prefix = "/api", endpoint = "rule_attributes", input = Json)]
pub async fn rule_attributes() -> Result<Vec<roster_shared::dto::AttributeSuggestion>, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::mappings::attribute_suggestions(&admin.services.store, &admin.tenant).await?)
}
