//! The operator's side of an organization's life (`roster tenant list | show | disable |
//! enable | export | delete`): what it holds, switching it off and on, a complete export, and
//! deleting every row of it.

use std::io::Write;

use serde_json::{json, Value};

use crate::clock::now_ms;
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::service::activity::{self, Actor};
use crate::store::{JobFilter, JobRecord, Store, TenantFacts};

/// Rows per statement when deleting or reading an organization.
pub const BATCH: i64 = 2_000;

/// The export's format tag (its first member).
pub const EXPORT_FORMAT: &str = "roster-tenant-export/1";

/// Every organization with its counts.
pub async fn list(store: &Store) -> DomainResult<Vec<TenantFacts>> {
    store.tenant_facts().await
}

/// One organization in detail.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TenantDetail {
    /// Its counts and state.
    #[serde(flatten)]
    pub facts: TenantFacts,
    /// Its SCIM credentials (never their secrets).
    pub credentials: Vec<Value>,
    /// Its email domains: (domain, verified at).
    pub domains: Vec<Value>,
    /// Its latest background jobs.
    pub jobs: Vec<Value>,
    /// Its last SCIM request (epoch ms).
    pub last_scim_request_at: Option<i64>,
}

/// One organization in detail; `NotFound` if there is none with this id.
pub async fn show(store: &Store, tenant: &TenantId) -> DomainResult<TenantDetail> {
    let t = store.tenant(tenant);
    let facts = t.facts().await?.ok_or(DomainError::NotFound)?;
    let credentials = t.credentials().await?.iter().map(credential_json).collect();
    let domains = t
        .domains()
        .await?
        .into_iter()
        .map(|(domain, _, verified)| json!({"domain": domain, "verified_at": verified}))
        .collect();
    let jobs = store
        .jobs(&JobFilter { tenant_id: Some(tenant.as_str().into()), limit: 10, ..Default::default() })
        .await?
        .iter()
        .map(job_json)
        .collect();
    let last_scim_request_at = t.scim_traffic(now_ms()).await?.last_at;
    Ok(TenantDetail { facts, credentials, domains, jobs, last_scim_request_at })
}

/// A credential as the CLI prints it (never its secret or hash).
pub fn credential_json(c: &crate::store::CredentialRecord) -> Value {
    json!({
        "id": c.id.as_str(),
        "kind": c.kind.as_str(),
        "name": c.name,
        "prefix": c.prefix,
        "created_by": c.created_by,
        "created_at": c.created_at,
        "expires_at": c.expires_at,
        "revoked_at": c.revoked_at,
        "last_used_at": c.last_used_at,
    })
}

/// A job as the CLI prints it.
pub fn job_json(j: &JobRecord) -> Value {
    json!({
        "id": j.id,
        "tenant_id": j.tenant_id,
        "kind": j.kind,
        "state": j.state,
        "attempts": j.attempts,
        "run_at": j.run_at,
        "lease_owner": j.lease_owner,
        "lease_until": j.lease_until,
        "progress": j.progress.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()),
        "error": j.error,
        "created_at": j.created_at,
        "finished_at": j.finished_at,
    })
}

/// Disables (or enables again) the organization: while disabled, its SCIM API answers 403,
/// and its admins and SSO users cannot sign in or use the dashboard. Nothing is deleted.
pub async fn set_disabled(store: &Store, tenant: &TenantId, disabled: bool, operator: &str) -> DomainResult<()> {
    let t = store.tenant(tenant);
    let now = now_ms();
    if !t.set_disabled(disabled.then_some(now), now).await? {
        return Err(DomainError::NotFound);
    }
    // Credentials are cached with the tenant's state: every instance drops them now.
    t.cached_settings_changed().await?;
    let actor = Actor { kind: "system", name: operator.to_string() };
    let summary =
        if disabled { "organization disabled by the operator" } else { "organization enabled by the operator" };
    t.record_activity(&activity::action(&actor, "Organization", Some(tenant.as_str()), summary, now)).await
}

/// Writes the organization's export: one JSON document with its settings, directory (users
/// with their user groups, SCIM groups with their members) and activity log. Secrets are
/// never in it (credentials are listed without them; SSO connections without their
/// configuration). Read and written a page at a time, so its size is not bounded by memory.
pub async fn export(store: &Store, tenant: &TenantId, out: &mut impl Write) -> DomainResult<ExportCounts> {
    let t = store.tenant(tenant);
    let facts = t.facts().await?.ok_or(DomainError::NotFound)?;
    let io = |e: std::io::Error| DomainError::Internal(format!("cannot write the export: {e}"));
    let mut counts = ExportCounts::default();
    let settings = json!({
        "default_role": t.default_role().await?,
        "scim_credentials": t.credentials().await?.iter().map(credential_json).collect::<Vec<_>>(),
        "user_groups": t.user_groups().await?.into_iter().map(|g| json!({
            "id": g.id, "name": g.name, "description": g.description, "role": g.role, "is_default": g.is_default,
        })).collect::<Vec<_>>(),
        "mapping_rules": t.mapping_rules().await?.into_iter().map(|r| json!({
            "id": r.id, "position": r.position, "kind": r.kind, "idp_group_id": r.idp_group_id,
            "filter": r.filter, "user_group_id": r.user_group_id, "enabled": r.enabled,
        })).collect::<Vec<_>>(),
        "sso_connections": t.sso_connections().await?.into_iter().map(|c| json!({
            "id": c.id, "protocol": c.protocol.as_str(), "name": c.name, "enabled": c.enabled,
            "idp": c.idp_key, "just_in_time": c.jit.as_deref().and_then(|j| serde_json::from_str::<Value>(j).ok()),
        })).collect::<Vec<_>>(),
        "domains": t.domains().await?.into_iter().map(|(domain, _, verified)| json!({"domain": domain, "verified_at": verified})).collect::<Vec<_>>(),
    });
    let head = json!({"format": EXPORT_FORMAT, "exported_at": now_ms(), "organization": facts, "settings": settings});
    // The head object without its closing brace, then the long arrays member by member.
    let head = serde_json::to_string(&head).map_err(|e| DomainError::Internal(e.to_string()))?;
    out.write_all(&head.as_bytes()[..head.len() - 1]).map_err(io)?;

    out.write_all(b",\"users\":[").map_err(io)?;
    let mut after = String::new();
    loop {
        let users = t.directory_users_after(&after, BATCH).await?;
        let Some(last) = users.last() else { break };
        after = last.id.clone();
        let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        let memberships = t.memberships_of_users(&ids).await?;
        for u in users {
            let groups: Vec<Value> = memberships
                .iter()
                .filter(|m| m.user_id == u.id)
                .map(|m| json!({"user_group_id": m.group_id, "name": m.group_name, "reason": m.reason}))
                .collect();
            let row = json!({
                "id": u.id, "source": u.source, "created_at": u.created_at, "updated_at": u.updated_at,
                "resource": serde_json::from_str::<Value>(&u.data).unwrap_or(Value::Null),
                "user_groups": groups,
            });
            write_member(out, &row, counts.users == 0).map_err(io)?;
            counts.users += 1;
        }
    }
    out.write_all(b"],\"groups\":[").map_err(io)?;
    let mut after = String::new();
    loop {
        let groups = t.groups_after(&after, BATCH).await?;
        let Some((last, _)) = groups.last() else { break };
        after = last.clone();
        let ids: Vec<String> = groups.iter().map(|(id, _)| id.clone()).collect();
        let members = t.members_of(&ids).await?;
        for (id, data) in groups {
            let row = json!({
                "id": id,
                "resource": serde_json::from_str::<Value>(&data).unwrap_or(Value::Null),
                "members": members.get(&id).map(|ms| ms.iter().map(|m| json!({"id": m.id, "type": m.kind})).collect::<Vec<_>>()).unwrap_or_default(),
            });
            write_member(out, &row, counts.groups == 0).map_err(io)?;
            counts.groups += 1;
        }
    }
    out.write_all(b"],\"activity\":[").map_err(io)?;
    let mut after = 0;
    loop {
        let records = t.activity_after(after, BATCH).await?;
        let Some(last) = records.last() else { break };
        after = last.id;
        for r in records {
            let row = serde_json::to_value(&r).map_err(|e| DomainError::Internal(e.to_string()))?;
            write_member(out, &row, counts.activity == 0).map_err(io)?;
            counts.activity += 1;
        }
    }
    out.write_all(b"]}\n").map_err(io)?;
    out.flush().map_err(io)?;
    Ok(counts)
}

fn write_member(out: &mut impl Write, row: &Value, first: bool) -> std::io::Result<()> {
    if !first {
        out.write_all(b",")?;
    }
    serde_json::to_writer(&mut *out, row).map_err(std::io::Error::other)
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportCounts {
    /// Users.
    pub users: u64,
    /// SCIM groups.
    pub groups: u64,
    /// Activity records.
    pub activity: u64,
}

/// Deletes the organization and every row of it, activity included, [`BATCH`] rows per
/// statement (`progress(table, rows so far)` after each). Returns rows deleted per table.
/// Safe to run again if interrupted; `NotFound` if the organization does not exist.
pub async fn delete(
    store: &Store,
    tenant: &TenantId,
    progress: impl FnMut(&str, u64),
) -> DomainResult<Vec<(&'static str, u64)>> {
    if store.tenant(tenant).facts().await?.is_none() {
        return Err(DomainError::NotFound);
    }
    // New requests are refused while the rows go (SCIM, sign-ins): disable it first.
    store.tenant(tenant).set_disabled(Some(now_ms()), now_ms()).await?;
    store.tenant(tenant).cached_settings_changed().await?;
    let deleted = store.delete_tenant(tenant.as_str(), BATCH, progress).await?;
    store.tenant(tenant).cached_settings_changed().await?;
    Ok(deleted)
}
