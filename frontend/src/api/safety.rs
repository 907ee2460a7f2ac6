//! Provisioning safety: the changes the deprovisioning brake held, its settings and the delete
//! policy, and the users a soft delete keeps. The actions are url-encoded forms (they work
//! before hydration and without JavaScript; see [`super::forms`]).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use roster_shared::dto::{DeletedUser, HeldChanges, SafetySettings};

use crate::error::UiError;

/// The held changes and the brake's state.
#[server(prefix = "/api", endpoint = "held_changes", input = Json)]
pub async fn load_held() -> Result<HeldChanges, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::safety::held(&admin.services.store, &admin.tenant).await?)
}

/// The settings.
#[server(prefix = "/api", endpoint = "safety_settings", input = Json)]
pub async fn load_safety() -> Result<SafetySettings, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::safety::settings(&admin.services.store, &admin.tenant).await?)
}

/// Soft-deleted users.
#[server(prefix = "/api", endpoint = "deleted_users", input = Json)]
pub async fn load_deleted() -> Result<Vec<DeletedUser>, UiError> {
    let admin = super::ctx::require_reader().await?;
    Ok(roster_shared::service::safety::deleted(&admin.services.store, &admin.tenant).await?)
}

/// Applies or discards held changes: `decision` is `apply` or `discard` (the ticked changes,
/// `ids[]`) or `apply_all` or `discard_all`. Returns what happened, in a sentence.
#[server(prefix = "/api", endpoint = "form/held_decide")]
pub async fn held_decide(decision: String, ids: Option<Vec<String>>) -> Result<String, UiError> {
    use roster_shared::service::safety;
    let admin = super::ctx::require_admin().await?;
    let (apply, all) = match decision.as_str() {
        "apply" => (true, false),
        "discard" => (false, false),
        "apply_all" => (true, true),
        "discard_all" => (false, true),
        _ => return Err(UiError::Invalid("Choose whether to apply or discard the changes.".into())),
    };
    let ids = ids.unwrap_or_default();
    if !all && ids.is_empty() {
        return Err(UiError::Invalid("Select the changes first.".into()));
    }
    let ids = if all { None } else { Some(ids.as_slice()) };
    let plural = |n: u64| if n == 1 { "1 change".to_string() } else { format!("{n} changes") };
    let (store, tenant, actor) = (&admin.services.store, &admin.tenant, &admin.actor);
    if apply {
        let done = safety::apply(store, tenant, actor, ids).await?;
        let mut message = format!("Applied {}.", plural(done.applied));
        if !done.failed.is_empty() {
            let failed: Vec<String> = done.failed.iter().map(|(u, why)| format!("{u} ({why})")).collect();
            message.push_str(&format!(" Could not apply {}: {}.", plural(done.failed.len() as u64), failed.join("; ")));
        }
        Ok(message)
    } else {
        let n = safety::discard(store, tenant, actor, ids).await?;
        Ok(format!(
            "Discarded {}: these users keep their access. Your identity provider still considers them removed: \
             assign them there again to bring the two back in line (if they should go after all, restart \
             provisioning in the identity provider so that it sends the removal again).",
            plural(n)
        ))
    }
}

/// Saves the brake and the delete policy (a form: a missing checkbox is off).
#[server(prefix = "/api", endpoint = "form/safety_save")]
pub async fn safety_save(
    brake_enabled: Option<String>,
    brake_percent: String,
    brake_min_users: String,
    brake_window_minutes: String,
    delete_policy: String,
    soft_delete_days: String,
) -> Result<(), UiError> {
    use roster_shared::dto::DeletePolicy;
    let admin = super::ctx::require_admin().await?;
    let number = |v: &str, what: &str| {
        v.trim()
            .replace(',', "")
            .parse::<u32>()
            .map_err(|_| UiError::Invalid(format!("Enter a whole number for {what}.")))
    };
    let settings = SafetySettings {
        brake_enabled: brake_enabled.is_some(),
        brake_percent: number(&brake_percent, "the share of users")?,
        brake_min_users: number(&brake_min_users, "the minimum number of users")?,
        brake_window_minutes: number(&brake_window_minutes, "the window")?,
        delete_policy: match delete_policy.as_str() {
            "soft" => DeletePolicy::Soft,
            "delete" => DeletePolicy::Delete,
            _ => return Err(UiError::Invalid("Choose what a delete from the identity provider does.".into())),
        },
        soft_delete_days: number(&soft_delete_days, "the days deleted users are kept")?,
    };
    Ok(roster_shared::service::safety::save_settings(&admin.services.store, &admin.tenant, &admin.actor, &settings)
        .await?)
}

/// Restores a soft-deleted user.
#[server(prefix = "/api", endpoint = "form/deleted_restore")]
pub async fn deleted_restore(id: String) -> Result<(), UiError> {
    let admin = super::ctx::require_admin().await?;
    Ok(roster_shared::service::safety::restore(&admin.services.store, &admin.tenant, &admin.actor, &id).await?)
}

/// The adoption view: every manual user matched `by` one way (`user_name`, `email`,
/// `external_id`).
#[server(prefix = "/api", endpoint = "adoption", input = Json)]
pub async fn load_adoption(by: String) -> Result<roster_shared::dto::AdoptionPreview, UiError> {
    use roster_shared::dto::AdoptBy;
    let admin = super::ctx::require_reader().await?;
    // The view shows the IdP's refused creates, read from the activity log: what the API has
    // handed to the log's writer so far must be in it.
    admin.services.activity.flush().await;
    let by = AdoptBy::parse(&by).unwrap_or_default();
    Ok(roster_shared::service::safety::adoption_preview(&admin.services.store, &admin.tenant, by).await?)
}

/// Marks the ticked manual users (`ids[]`) adoptable `by` one way; returns how many.
#[server(prefix = "/api", endpoint = "form/adopt_mark")]
pub async fn adopt_mark(by: String, ids: Option<Vec<String>>) -> Result<u64, UiError> {
    use roster_shared::dto::AdoptBy;
    let admin = super::ctx::require_admin().await?;
    let by = AdoptBy::parse(&by).ok_or_else(|| UiError::Invalid("Choose what to match users on.".into()))?;
    let ids = ids.unwrap_or_default();
    if ids.is_empty() {
        return Err(UiError::Invalid("Select the users first.".into()));
    }
    Ok(roster_shared::service::safety::mark_adoptable(
        &admin.services.store,
        &admin.tenant,
        &admin.actor,
        by,
        Some(&ids),
    )
    .await?)
}

/// Marks one manual user adoptable (`by`: `user_name`, `email`, `external_id`), or clears its
/// mark (`by` empty).
#[server(prefix = "/api", endpoint = "form/adopt_set")]
pub async fn adopt_set(user_id: String, by: Option<String>) -> Result<(), UiError> {
    use roster_shared::dto::AdoptBy;
    let admin = super::ctx::require_admin().await?;
    let by = match by.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(b) => Some(AdoptBy::parse(b).ok_or_else(|| UiError::Invalid("Choose what to match the user on.".into()))?),
    };
    Ok(roster_shared::service::safety::set_adoptable(&admin.services.store, &admin.tenant, &admin.actor, &user_id, by)
        .await?)
}
