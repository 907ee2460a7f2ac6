//! The platform's user groups: each gives its members a role; admins create, rename, describe
//! and delete them, and put users in and out. Memberships say why they exist (see
//! `store::user_groups`), so an admin's removal never undoes a mapping rule's placement.

use super::events::{self, Access, Cause};
use crate::clock::now_ms;
use crate::dto::{Assigned, GroupRole, UserGroupInput, UserGroupView};
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::service::activity::{self, Actor};
use crate::store::{Store, UserGroupRecord};

/// Users per assign/remove call.
pub const MAX_BATCH: usize = 1000;

fn view(r: &UserGroupRecord) -> UserGroupView {
    UserGroupView {
        id: r.id.clone(),
        name: r.name.clone(),
        description: r.description.clone(),
        role: GroupRole::parse(&r.role).unwrap_or(GroupRole::Viewer),
        is_default: r.is_default,
        member_count: r.member_count,
        seat_limit: r.seat_limit,
        created_at_ms: r.created_at,
    }
}

fn checked(input: &UserGroupInput) -> DomainResult<(String, String)> {
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::Invalid("Give the user group a name of 1 to 100 characters.".into()));
    }
    let description = input.description.trim().to_string();
    if description.chars().count() > 500 {
        return Err(DomainError::Invalid("Keep the description under 500 characters.".into()));
    }
    Ok((name, description))
}

/// Every user group of the tenant, by name.
pub async fn list(store: &Store, tenant: &TenantId) -> DomainResult<Vec<UserGroupView>> {
    Ok(store.tenant(tenant).user_groups().await?.iter().map(view).collect())
}

/// One user group.
pub async fn get(store: &Store, tenant: &TenantId, id: &str) -> DomainResult<UserGroupView> {
    store.tenant(tenant).user_group(id).await?.as_ref().map(view).ok_or(DomainError::NotFound)
}

/// Creates a user group.
pub async fn create(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    input: &UserGroupInput,
) -> DomainResult<UserGroupView> {
    let (name, description) = checked(input)?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    tx.insert_user_group(&id, &name, &description, input.role.as_str(), now).await?;
    let summary = format!("created user group \"{name}\" (role {})", input.role.label());
    tx.record_activity(&[activity::action(actor, "UserGroup", Some(&id), &summary, now)]).await?;
    tx.commit().await?;
    get(store, tenant, &id).await
}

/// Renames, describes or changes the role of a user group.
pub async fn update(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    id: &str,
    input: &UserGroupInput,
) -> DomainResult<UserGroupView> {
    let (name, description) = checked(input)?;
    let before = get(store, tenant, id).await?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    events::set_cause(&mut tx, &Cause::of_actor(actor));
    let members = if before.role != input.role { tx.user_group_member_ids(id).await? } else { Vec::new() };
    let access = Access::read(&mut tx, &members).await?;
    if !tx.update_user_group(id, &name, &description, input.role.as_str(), now).await? {
        return Err(DomainError::NotFound);
    }
    events::emit_access_after(&mut tx, &members, &access, "admin", now).await?;
    let mut changes = Vec::new();
    if before.name != name {
        changes.push(format!("renamed \"{}\" to \"{name}\"", before.name));
    }
    if before.role != input.role {
        changes.push(format!("role {} → {}", before.role.label(), input.role.label()));
    }
    if before.description != description {
        changes.push("description changed".to_string());
    }
    if !changes.is_empty() {
        let summary = format!("user group \"{name}\": {}", changes.join(", "));
        tx.record_activity(&[activity::action(actor, "UserGroup", Some(id), &summary, now)]).await?;
    }
    tx.commit().await?;
    get(store, tenant, id).await
}

/// Deletes a user group; returns how many users were in it.
pub async fn delete(store: &Store, tenant: &TenantId, actor: &Actor, id: &str) -> DomainResult<i64> {
    let before = get(store, tenant, id).await?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    events::set_cause(&mut tx, &Cause::of_actor(actor));
    let members = tx.user_group_member_ids(id).await?;
    let access = Access::read(&mut tx, &members).await?;
    if !tx.delete_user_group(id).await? {
        return Err(DomainError::NotFound);
    }
    events::emit_access_after(&mut tx, &members, &access, "admin", now).await?;
    let summary = format!("deleted user group \"{}\" ({} members lost it)", before.name, before.member_count);
    tx.record_activity(&[activity::action(actor, "UserGroup", Some(id), &summary, now)]).await?;
    tx.commit().await?;
    // Its mapping rules and its default flag went with it.
    store.tenant(tenant).cached_settings_changed().await?;
    Ok(before.member_count)
}

/// Makes a group the default (or none).
pub async fn set_default(store: &Store, tenant: &TenantId, actor: &Actor, id: Option<&str>) -> DomainResult<()> {
    let name = match id {
        Some(id) => Some(get(store, tenant, id).await?.name),
        None => None,
    };
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    // It may give the tenant its first thing to place: writes that place nothing hold the lock
    // shared until they commit (see `mappings::place_late`).
    tx.lock_placement().await?;
    if !tx.set_default_user_group(id, now).await? {
        return Err(DomainError::NotFound);
    }
    let summary = match name {
        Some(n) => format!("default user group set to \"{n}\""),
        None => "default user group cleared".to_string(),
    };
    tx.record_activity(&[activity::action(actor, "UserGroup", id, &summary, now)]).await?;
    tx.commit().await?;
    // Users no mapping rule places go to the default group (or leave the old one).
    crate::service::mappings::start_place_all(store, tenant, "default user group changed").await?;
    Ok(())
}

/// The role of users in no user group (`None`: no access).
pub async fn default_role(store: &Store, tenant: &TenantId) -> DomainResult<Option<crate::dto::GroupRole>> {
    Ok(store.tenant(tenant).default_role().await?.as_deref().and_then(crate::dto::GroupRole::parse))
}

/// Sets the role of users in no user group (`None`: no access). Takes effect at their next
/// request (roles are read at every request).
pub async fn set_default_role(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    role: Option<crate::dto::GroupRole>,
) -> DomainResult<()> {
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    let before = events::default_role(&mut tx).await?;
    tx.set_default_role(role.map(|r| r.as_str()), now).await?;
    if before != role {
        // Users in no user group have the default role: theirs changed.
        events::set_cause(&mut tx, &Cause::of_actor(actor));
        for user in tx.users_without_user_groups().await? {
            let data = serde_json::json!({
                "user": {"id": user},
                "role": role.map(GroupRole::as_str),
                "previous_role": before.map(GroupRole::as_str),
            });
            events::emit(&mut tx, "user.role_changed", data, now);
        }
    }
    let summary = match role {
        Some(r) => format!("default role of users in no user group set to {}", r.label()),
        None => "users in no user group have no access (default role cleared)".to_string(),
    };
    tx.record_activity(&[activity::action(actor, "Organization", None, &summary, now)]).await?;
    tx.commit().await
}

fn batch(user_ids: &[String]) -> DomainResult<()> {
    if user_ids.is_empty() {
        return Err(DomainError::Invalid("Select at least one user.".into()));
    }
    if user_ids.len() > MAX_BATCH {
        return Err(DomainError::Invalid(format!("Select at most {MAX_BATCH} users at a time.")));
    }
    Ok(())
}

/// Puts users in a group as the admin's choice; returns how many were added (users of other
/// tenants and unknown ids are skipped; users already put there by an admin stay as they are).
pub async fn assign(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    group_id: &str,
    user_ids: &[String],
) -> DomainResult<Assigned> {
    batch(user_ids)?;
    let group = get(store, tenant, group_id).await?;
    let users = store.tenant(tenant).existing_user_ids(user_ids).await?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    if let Some(limit) = group.seat_limit {
        // Counted under the placement lock: the rules' placements count seats the same way.
        tx.lock_placement().await?;
        let usage = tx.seat_usage(std::slice::from_ref(&group.id), &users).await?;
        let used = usage.used.get(&group.id).copied().unwrap_or(0);
        let new: Vec<String> =
            users.iter().filter(|u| !usage.rows.contains_key(&(group.id.clone(), (*u).clone()))).cloned().collect();
        if used + new.len() as i64 > limit {
            tx.rollback().await?;
            let reason = super::safety::seat_reason(&group.name, limit);
            let refused: Vec<(String, String, String)> =
                new.iter().map(|u| (u.clone(), group.id.clone(), reason.clone())).collect();
            let mut tx = store.tenant(tenant).begin().await?;
            tx.add_refusals(&refused, now).await?;
            let summary = format!("not assigned to user group \"{}\": {reason}", group.name);
            tx.record_activity(&activity::actions(actor, "User", &new, &summary, now)).await?;
            tx.commit().await?;
            let free = (limit - used).max(0);
            return Err(DomainError::Invalid(format!(
                "“{}” has a seat limit of {limit} and {used} seats are taken: {free} of the {} users could be added. \
                 Nothing was assigned; raise the limit or free seats first.",
                group.name,
                new.len()
            )));
        }
    }
    events::set_cause(&mut tx, &Cause::of_actor(actor));
    let access = Access::read(&mut tx, &users).await?;
    let added = tx.add_user_group_members(group_id, &users, "admin", "", Some(&actor.name), now).await?;
    events::emit_access_after(&mut tx, &users, &access, "admin", now).await?;
    tx.clear_refusals(group_id, &users).await?;
    if added > 0 {
        // One record per user, so that each user's timeline says who put them where.
        let summary = format!("assigned to user group \"{}\"", group.name);
        tx.record_activity(&activity::actions(actor, "User", &users, &summary, now)).await?;
    }
    tx.commit().await?;
    Ok(Assigned { added, group_name: group.name })
}

/// Takes the admin's membership of users away (a mapping rule's stays); returns how many.
pub async fn unassign(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    group_id: &str,
    user_ids: &[String],
) -> DomainResult<u64> {
    batch(user_ids)?;
    let group = get(store, tenant, group_id).await?;
    let users = store.tenant(tenant).existing_user_ids(user_ids).await?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    events::set_cause(&mut tx, &Cause::of_actor(actor));
    let access = Access::read(&mut tx, &users).await?;
    let removed = tx.remove_user_group_members(group_id, &users, "admin").await?;
    events::emit_access_after(&mut tx, &users, &access, "admin", now).await?;
    if removed > 0 {
        let summary = format!("removed from user group \"{}\"", group.name);
        tx.record_activity(&activity::actions(actor, "User", &users, &summary, now)).await?;
    }
    tx.commit().await?;
    Ok(removed)
}

/// Sets a user group's seat limit (`None`: no limit). Members beyond a lowered limit keep their
/// seats; nobody new comes in until seats are free. The tenant's rules are evaluated again, so
/// that users the old limit kept out are placed now.
pub async fn set_seat_limit(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    group_id: &str,
    limit: Option<i64>,
) -> DomainResult<()> {
    if limit.is_some_and(|l| !(1..=10_000_000).contains(&l)) {
        return Err(DomainError::Invalid("A seat limit is between 1 and 10,000,000 users (or none).".into()));
    }
    let group = get(store, tenant, group_id).await?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    tx.lock_placement().await?;
    if !tx.set_seat_limit(group_id, limit, now).await? {
        return Err(DomainError::NotFound);
    }
    let summary = match limit {
        Some(l) => format!("set the seat limit of user group \"{}\" to {l}", group.name),
        None => format!("removed the seat limit of user group \"{}\"", group.name),
    };
    tx.record_activity(&[activity::action(actor, "UserGroup", Some(group_id), &summary, now)]).await?;
    tx.commit().await?;
    if super::mappings::Placer::load_active(store, tenant).await?.is_some() {
        super::mappings::start_place_all(store, tenant, "seat limit changed").await?;
    }
    Ok(())
}
