//! The read API's view of an organization's directory, for the platform's applications: users
//! (with their user groups and effective role), SCIM groups, user groups and their members,
//! each with cursor paging (and, for users and groups, SCIM filters — the same compiler and
//! cost limits as the SCIM API). The server's `/api/v1` routes are thin over this; the events
//! are [`super::events::list`].

use serde_json::{json, Map, Value};

use crate::dto::GroupRole;
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::scim::error::ScimError;
use crate::scim::messages::SearchRequest;
use crate::service::provisioning::Scim;
use crate::store::Store;

/// The largest page.
pub const MAX_PAGE: i64 = 200;

/// A page of resources.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ApiPage {
    /// The resources.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Value>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

fn scim_to_domain(e: ScimError) -> DomainError {
    match e.status {
        404 => DomainError::NotFound,
        400..=499 => DomainError::Invalid(e.detail),
        // The store's failure, not the caller's request: a 500 (and logged) at the edge.
        _ => DomainError::Internal(e.detail),
    }
}

fn checked_limit(limit: i64) -> DomainResult<i64> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(DomainError::Invalid(format!("limit must be between 1 and {MAX_PAGE}.")))
    }
}

/// Adds `source`, `user_groups` and `role` to SCIM user resources.
async fn with_access(store: &Store, tenant: &TenantId, users: Vec<Value>) -> DomainResult<Vec<Value>> {
    let t = store.tenant(tenant);
    let ids: Vec<String> =
        users.iter().filter_map(|u| u.get("id").and_then(Value::as_str)).map(str::to_string).collect();
    let memberships = t.memberships_of_users(&ids).await?;
    let sources = t.user_sources(&ids).await?;
    let default_role = super::user_groups::default_role(store, tenant).await?;
    let mut out = Vec::with_capacity(users.len());
    for mut u in users {
        let id = u.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut groups: Map<String, Value> = Map::new();
        let mut role: Option<GroupRole> = None;
        for m in memberships.iter().filter(|m| m.user_id == id) {
            let r = GroupRole::parse(&m.role);
            role = role.max(r);
            let entry = groups
                .entry(m.group_id.clone())
                .or_insert_with(|| json!({"id": m.group_id, "name": m.group_name, "role": m.role, "reasons": []}));
            if let Some(reasons) = entry.get_mut("reasons").and_then(Value::as_array_mut) {
                if !reasons.iter().any(|x| x == m.reason.as_str()) {
                    reasons.push(Value::String(m.reason.clone()));
                }
            }
        }
        if let Value::Object(obj) = &mut u {
            obj.insert("source".into(), json!(sources.get(&id)));
            obj.insert("user_groups".into(), Value::Array(groups.into_iter().map(|(_, v)| v).collect()));
            obj.insert("role".into(), json!(role.or(default_role).map(GroupRole::as_str)));
        }
        out.push(u);
    }
    Ok(out)
}

/// Users, `filter` (SCIM) and `cursor` as the previous page returned.
pub async fn users(
    store: &Store,
    tenant: &TenantId,
    base_url: &str,
    filter: Option<String>,
    cursor: Option<String>,
    limit: i64,
) -> DomainResult<ApiPage> {
    let scim = Scim { store, tenant, base_url };
    let req = SearchRequest {
        filter,
        count: Some(checked_limit(limit)?),
        cursor: Some(cursor.unwrap_or_default()),
        ..Default::default()
    };
    let listed = scim.search_users_of(&req, true).await.map_err(scim_to_domain)?;
    Ok(ApiPage { data: with_access(store, tenant, listed.resources).await?, next_cursor: listed.next_cursor })
}

/// One user.
pub async fn user(store: &Store, tenant: &TenantId, base_url: &str, id: &str) -> DomainResult<Value> {
    let filter = format!("id eq {}", serde_json::to_string(id).map_err(|e| DomainError::Internal(e.to_string()))?);
    let page = users(store, tenant, base_url, Some(filter), None, 1).await?;
    page.data.into_iter().next().ok_or(DomainError::NotFound)
}

/// SCIM groups (without their members: see [`group`]).
pub async fn groups(
    store: &Store,
    tenant: &TenantId,
    base_url: &str,
    filter: Option<String>,
    cursor: Option<String>,
    limit: i64,
) -> DomainResult<ApiPage> {
    let scim = Scim { store, tenant, base_url };
    let req = SearchRequest {
        filter,
        count: Some(checked_limit(limit)?),
        cursor: Some(cursor.unwrap_or_default()),
        excluded_attributes: vec!["members".into()],
        ..Default::default()
    };
    let listed = scim.search_groups(&req).await.map_err(scim_to_domain)?;
    Ok(ApiPage { data: listed.resources, next_cursor: listed.next_cursor })
}

/// One SCIM group with its members.
pub async fn group(store: &Store, tenant: &TenantId, base_url: &str, id: &str) -> DomainResult<Value> {
    let scim = Scim { store, tenant, base_url };
    Ok(scim.get_group(id, true).await.map_err(scim_to_domain)?.json)
}

/// The organization's user groups with their roles and member counts.
pub async fn user_groups(store: &Store, tenant: &TenantId) -> DomainResult<Vec<Value>> {
    Ok(super::user_groups::list(store, tenant)
        .await?
        .into_iter()
        .map(|g| {
            json!({
                "id": g.id, "name": g.name, "description": g.description, "role": g.role.as_str(),
                "is_default": g.is_default, "member_count": g.member_count, "seat_limit": g.seat_limit,
            })
        })
        .collect())
}

/// The users of a user group (ids and why they are in it), in user id order.
pub async fn user_group_members(
    store: &Store,
    tenant: &TenantId,
    group: &str,
    cursor: Option<String>,
    limit: i64,
) -> DomainResult<ApiPage> {
    let limit = checked_limit(limit)?;
    super::user_groups::get(store, tenant, group).await?;
    let after = match cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => {
            use base64::Engine;
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("user:").map(str::to_string));
            raw.ok_or_else(|| DomainError::Invalid("The cursor is not one this API returned.".into()))?
        }
        None => String::new(),
    };
    let rows = store.tenant(tenant).user_group_members_page(group, &after, limit).await?;
    let next_cursor = (rows.len() as i64 == limit).then(|| {
        use base64::Engine;
        let last = rows.last().map(|r| r.0.as_str()).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("user:{last}"))
    });
    let data = rows
        .into_iter()
        .map(|(user, reasons)| json!({"user_id": user, "reasons": reasons.split(',').collect::<Vec<_>>()}))
        .collect();
    Ok(ApiPage { data, next_cursor })
}
