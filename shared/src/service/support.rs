//! The support console: Roster's staff look into any tenant, read-only, and every look is
//! recorded in that tenant's activity where its admins see it ("support viewed users").
//!
//! Staff accounts are made by operators on the command line, never in the dashboard. Staff
//! read through the same services the admin pages use (directory, user groups, mappings,
//! activity); this module adds what only support needs: the tenants overview, the search
//! across tenants, and the view records.

use std::cmp::Reverse;

use crate::clock::now_ms;
use crate::dto::{
    ConsoleRole, HealthState, MappingsInspection, RuleInspection, ScimGroupView, TenantInspection, TenantOverview,
    TenantQuery, TenantSort, TenantSummary, UserHit,
};
use crate::error::{DomainError, DomainResult};
use crate::ids::{AccountId, TenantId};
use crate::passwords;
use crate::policy::{email_problem, name_problem, normalize_email, password_problem};
use crate::service::activity::{self, Actor};
use crate::service::{directory, mappings, scim_setup, user_groups};
use crate::store::{fold_ascii, AccountRecord, NewAccount, Store};

const DAY_MS: i64 = 86_400_000;

/// Most users the cross-tenant search returns.
pub const MAX_HITS: usize = 50;

/// Most SCIM groups the tenant view lists.
pub const MAX_GROUPS: i64 = 500;

impl Actor {
    /// A member of Roster's support staff.
    pub fn support(email: &str) -> Actor {
        Actor { kind: "support", name: email.to_string() }
    }
}

/// Creates a support staff account (operators only: `roster staff create`).
pub async fn create_staff(store: &Store, email: &str, name: &str, password: String) -> DomainResult<AccountId> {
    let email = email.trim().to_owned();
    let name = if name.trim().is_empty() { email.clone() } else { name.trim().to_owned() };
    if let Some(msg) =
        email_problem(&email).or_else(|| name_problem("name", &name)).or_else(|| password_problem(&password))
    {
        return Err(DomainError::Invalid(msg));
    }
    let account = NewAccount {
        id: AccountId::random(),
        role: ConsoleRole::Support,
        email_normalized: normalize_email(&email),
        email,
        name,
        password_hash: passwords::hash(password).await?,
    };
    store.insert_staff(&account, now_ms()).await?;
    tracing::info!(account = %account.id, "support staff account created");
    Ok(account.id)
}

/// Disables a support staff account (or enables it again): its sessions end at their next
/// request, and it can no longer sign in.
pub async fn set_staff_disabled(store: &Store, email: &str, disabled: bool) -> DomainResult<()> {
    if store.set_staff_disabled(&normalize_email(email), disabled).await? {
        Ok(())
    } else {
        Err(DomainError::Invalid(format!("There is no support staff account with the address {}.", email.trim())))
    }
}

/// Every support staff account.
pub async fn staff(store: &Store) -> DomainResult<Vec<AccountRecord>> {
    store.staff_accounts().await
}

/// The tenant with this key; `NotFound` if there is none (or the key is malformed).
pub async fn tenant(store: &Store, id: &str) -> DomainResult<(TenantId, TenantSummary)> {
    let tenant = TenantId::parse(id.trim()).ok_or(DomainError::NotFound)?;
    let summary = store.tenant(&tenant).summary().await?.ok_or(DomainError::NotFound)?;
    Ok((tenant, summary))
}

/// Records that a staff member looked at something of the tenant (`what`: "users", "activity",
/// …; `resource`: the user or record looked at). A failure to record is logged, not fatal.
pub async fn record_view(store: &Store, tenant: &TenantId, actor: &Actor, what: &str, resource: Option<(&str, &str)>) {
    let (resource_type, resource_id) = resource.unwrap_or(("Support", ""));
    let resource_id = (!resource_id.is_empty()).then_some(resource_id);
    activity::record(store, tenant, actor, resource_type, resource_id, format!("support viewed {what}")).await;
}

/// Records that a staff member tried to change something and was refused.
pub async fn record_refused(store: &Store, tenant: &TenantId, actor: &Actor, call: &str) {
    activity::record(store, tenant, actor, "Support", None, format!("support refused: {call} (support is read-only)"))
        .await;
}

async fn overview(store: &Store, s: TenantSummary) -> DomainResult<TenantOverview> {
    let tenant = TenantId::from_store(s.id.clone());
    let t = store.tenant(&tenant);
    let now = now_ms();
    let credentials = t.credentials().await?;
    let active_credentials = credentials
        .iter()
        .filter(|c| !c.created_by.starts_with("oauth:"))
        .filter(|c| c.revoked_at.is_none() && c.expires_at.is_none_or(|e| e > now))
        .count() as i64;
    let credential_last_used_ms = credentials.iter().filter_map(|c| c.last_used_at).max();
    let traffic = t.scim_traffic(now - DAY_MS).await?;
    Ok(TenantOverview {
        users: t.user_count().await?,
        unassigned: t.unassigned_count().await?,
        health: HealthState::classify(traffic.last_at, traffic.requests, traffic.errors),
        id: s.id,
        name: s.name,
        created_at_ms: s.created_at_ms,
        scim_enabled: s.scim_enabled,
        disabled_at_ms: s.disabled_at_ms,
        active_credentials,
        credential_last_used_ms,
        last_request_ms: traffic.last_at,
        requests_24h: traffic.requests,
        errors_24h: traffic.errors,
    })
}

/// Every tenant matching the search (a part of its name, or its key), with its figures, in
/// the order asked for. Looking at the overview is not recorded per tenant: it shows counts,
/// no tenant's data.
pub async fn tenants(store: &Store, q: &TenantQuery) -> DomainResult<Vec<TenantOverview>> {
    let search = q.search.trim().to_lowercase();
    super::check_filter_text("Search", &search)?;
    let mut out = Vec::new();
    for s in store.tenant_summaries().await? {
        if search.is_empty() || s.name.to_lowercase().contains(&search) || s.id.to_lowercase() == search {
            out.push(overview(store, s).await?);
        }
    }
    let error_rate = |t: &TenantOverview| if t.requests_24h == 0 { 0 } else { t.errors_24h * 10_000 / t.requests_24h };
    let by_name = |t: &TenantOverview| t.name.to_lowercase();
    match q.sort {
        TenantSort::Health => out.sort_by_key(|t| (t.health, Reverse(error_rate(t)), by_name(t))),
        TenantSort::Name => out.sort_by_key(by_name),
        TenantSort::Users => out.sort_by_key(|t| (Reverse(t.users), by_name(t))),
        TenantSort::Unassigned => out.sort_by_key(|t| (Reverse(t.unassigned), by_name(t))),
        TenantSort::ErrorRate => out.sort_by_key(|t| (Reverse(error_rate(t)), Reverse(t.errors_24h), by_name(t))),
        TenantSort::LastRequest => out.sort_by_key(|t| (Reverse(t.last_request_ms), by_name(t))),
    }
    if q.reverse {
        out.reverse();
    }
    Ok(out)
}

/// Users of any tenant whose userName, primary email or externalId is `text` (userName and
/// email case-insensitively). Each tenant whose users are shown gets a view record.
pub async fn find_users(store: &Store, actor: &Actor, text: &str) -> DomainResult<Vec<UserHit>> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DomainError::Invalid("Enter a userName, an email address or an externalId.".into()));
    }
    super::check_text("Search", text, 300)?;
    let found = store.find_users_everywhere(&fold_ascii(text), text, (MAX_HITS * 3) as i64).await?;
    // Each user once (with everything it matched), at most MAX_HITS, grouped by tenant.
    let mut matches: Vec<(String, String, String)> = Vec::new();
    for (tenant_id, user_id, matched) in found {
        if let Some(hit) = matches.iter_mut().find(|(t, u, _)| *t == tenant_id && *u == user_id) {
            hit.2 = format!("{}, {matched}", hit.2);
        } else if matches.len() < MAX_HITS {
            matches.push((tenant_id, user_id, matched));
        }
    }
    let mut tenant_ids: Vec<&String> = matches.iter().map(|(t, _, _)| t).collect();
    tenant_ids.sort();
    tenant_ids.dedup();
    // One read of the users (and of the organization) per tenant, and one view record each.
    let mut hits: Vec<UserHit> = Vec::new();
    for tenant_id in tenant_ids {
        let tenant = TenantId::from_store(tenant_id.clone());
        let name = store.tenant(&tenant).summary().await?.map(|s| s.name).unwrap_or_default();
        let ids: Vec<String> = matches.iter().filter(|(t, _, _)| t == tenant_id).map(|(_, u, _)| u.clone()).collect();
        let users = directory::items(store, &tenant, &ids).await?;
        let shown: Vec<&str> = users.iter().map(|u| u.user_name.as_str()).collect();
        let what = format!("users in a search for “{text}” (found {})", shown.join(", "));
        record_view(store, &tenant, actor, &what, None).await;
        for user in users {
            let matched = matches.iter().find(|(t, u, _)| t == tenant_id && *u == user.id).map(|m| m.2.clone());
            hits.push(UserHit {
                tenant_id: tenant_id.clone(),
                tenant_name: name.clone(),
                matched: matched.unwrap_or_default(),
                user,
            });
        }
    }
    Ok(hits)
}

/// The top of a tenant's page: the organization, its SCIM setup (no secrets) and its counts.
pub async fn inspect(store: &Store, tenant: &TenantId, public_url: &str) -> DomainResult<TenantInspection> {
    let t = store.tenant(tenant);
    Ok(TenantInspection {
        tenant: t.summary().await?.ok_or(DomainError::NotFound)?,
        scim: scim_setup::setup(store, tenant, public_url).await?,
        users: t.user_count().await?,
        unassigned: t.unassigned_count().await?,
        held: super::safety::held(store, tenant).await?,
        webhooks: super::webhooks::endpoints(store, tenant).await?,
    })
}

/// The tenant's SCIM groups (what its IdP pushed).
pub async fn scim_groups(store: &Store, tenant: &TenantId) -> DomainResult<Vec<ScimGroupView>> {
    store.tenant(tenant).scim_group_views(MAX_GROUPS).await
}

/// The tenant's mapping rules in words, its default user group and its last evaluation.
pub async fn mapping_rules(store: &Store, tenant: &TenantId) -> DomainResult<MappingsInspection> {
    let groups = user_groups::list(store, tenant).await?;
    let idp = store.tenant(tenant).idp_group_names().await?;
    let name_of = |id: &str| groups.iter().find(|g| g.id == id).map(|g| g.name.clone()).unwrap_or_else(|| id.into());
    let rules = mappings::list(store, tenant)
        .await?
        .into_iter()
        .map(|r| RuleInspection {
            condition: r.condition.describe(&idp),
            user_group: name_of(&r.user_group_id),
            enabled: r.enabled,
            id: r.id,
        })
        .collect();
    Ok(MappingsInspection {
        rules,
        default_group: groups.iter().find(|g| g.is_default).map(|g| g.name.clone()),
        latest_run: mappings::latest_run(store, tenant).await?,
    })
}
