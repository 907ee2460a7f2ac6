//! The organization at a glance, for its admins: the dashboard's Overview page, which says
//! where they stand (SCIM on or off and its health, users, unassigned users, rules) and what to
//! do next (the setup checklist is derived from this in the page).

use crate::dto::OrgOverview;
use crate::error::DomainResult;
use crate::ids::TenantId;
use crate::service::{mappings, support, user_groups};
use crate::store::Store;

/// The overview of one organization.
pub async fn load(store: &Store, tenant: &TenantId, public_url: &str) -> DomainResult<OrgOverview> {
    let state = support::inspect(store, tenant, public_url).await?;
    let groups = user_groups::list(store, tenant).await?;
    let rules = mappings::list(store, tenant).await?.len();
    Ok(OrgOverview {
        state: state.into(),
        rules,
        user_groups: groups.len(),
        any_assigned: groups.iter().any(|g| g.member_count > 0),
    })
}
