//! The organization at a glance, for its admins: the dashboard's Overview page, which says
//! where they stand (SCIM on or off and its health, users, unassigned users, rules) and what to
//! do next (the setup checklist is derived from this in the page).

use crate::dto::{OrgOverview, OverviewState};
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::service::{mappings, scim_setup, user_groups};
use crate::store::Store;

/// The overview of one organization: what the page shows, read from the store (not the
/// support console's whole inspection: held changes, webhooks, the IdP's diagnostics and latest
/// errors, which the page does not show).
pub async fn load(store: &Store, tenant: &TenantId, public_url: &str) -> DomainResult<OrgOverview> {
    let t = store.tenant(tenant);
    let tenant_summary = t.summary().await?.ok_or(DomainError::NotFound)?;
    let scim = scim_setup::at_a_glance(store, tenant, public_url, tenant_summary.scim_enabled).await?;
    let state = OverviewState {
        tenant: tenant_summary,
        scim,
        users: t.user_count().await?,
        unassigned: t.unassigned_count().await?,
    };
    let groups = user_groups::list(store, tenant).await?;
    let rules = mappings::list(store, tenant).await?.len();
    Ok(OrgOverview { state, rules, user_groups: groups.len(), any_assigned: groups.iter().any(|g| g.member_count > 0) })
}
