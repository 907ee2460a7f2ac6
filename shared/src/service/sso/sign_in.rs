//! Where every SSO sign-in ends, whatever the protocol: the one place that finds (or creates)
//! the user for an IdP identity, refuses with a reason, and writes the sign-in log.
//!
//! The rules, in order — one identity, never a takeover:
//! 1. An identity (connection, subject) linked at an earlier sign-in signs in as that user
//!    (refused if the user is deactivated, or was deleted by the IdP's provisioning).
//! 2. Else the connection's link key finds an existing user: externalId = the uniqueUserId
//!    claim, or userName = the email (or subject), else the one user whose primary email it
//!    is. Only for an email in one of the organization's verified domains. A manual user is
//!    never linked automatically (an admin links them from the user's page).
//! 3. Else, with just-in-time provisioning on and the email's domain verified, a user is
//!    created (source *just in time*) through the one user write path, placed by the mapping
//!    rules in the same transaction; with it off, the person has no access yet.
//!
//! The IdP's provisioning wins: claims only ever write just-in-time users (at every sign-in, or
//! at creation only, per connection); a SCIM-managed user's attributes come from SCIM. Every
//! check happens before anything is written; a refusal writes the sign-in log (and, once the
//! identity was read, an activity record) only.
//!
//! A person signed in through SSO has the effective role of their user groups (the highest),
//! else the organization's default role, read at every request, so a change of groups or a
//! deactivation takes effect at once.

use crate::service::events;
use std::collections::BTreeMap;

use serde_json::Value;

use super::jit;
use crate::clock::now_ms;
use crate::dto::{ConsoleRole, GroupRole, JitUpdate, LinkKey, MyAccess, UserSource, Viewer};
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::service::activity::{self, Actor};
use crate::service::users::{self, ClaimGroups, Writer};
use crate::store::{fold_ascii, ConnectionRecord, NewSignIn, Store, UserRow};

/// An identity the IdP vouched for (signature and checks passed).
#[derive(Clone, Debug)]
pub struct Identity {
    /// SAML NameID or OIDC `sub`.
    pub subject: String,
    /// The email the IdP sent, if any.
    pub email: Option<String>,
    /// Every attribute or claim, by name.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The assertion or claims for the sign-in log (secrets removed).
    pub detail: String,
}

impl Identity {
    /// Which of what the IdP sent holds a NUL character (U+0000), which no stored text may hold
    /// (see `crate::scim::holds_nul`): `the subject`, `the email` or `the claim "name"`.
    /// SAML cannot carry one (XML forbids it); an OIDC token's or userinfo's JSON can.
    pub fn nul_in(&self) -> Option<String> {
        if self.subject.contains('\0') {
            return Some("the subject".into());
        }
        if self.email.as_deref().is_some_and(|e| e.contains('\0')) {
            return Some("the email".into());
        }
        self.attributes
            .iter()
            .find(|(name, values)| name.contains('\0') || values.iter().any(|v| v.contains('\0')))
            .map(|(name, _)| format!("the claim {:?}", name.replace('\0', "\u{FFFD}")))
    }
}

/// Why a sign-in was refused.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// A short code (`bad_signature`, `expired`, `replayed`, `no_access`, `manual_user`, …).
    pub reason: &'static str,
    /// What happened, for the admin reading the log.
    pub message: String,
    /// The subject, if one was read.
    pub subject: Option<String>,
    /// The email, if one was read.
    pub email: Option<String>,
    /// The response or claims, secrets removed.
    pub detail: Option<String>,
    /// The user the sign-in matched but was refused for (a manual user, a deactivated one).
    pub user_id: Option<String>,
}

impl Refusal {
    /// A refusal without anything read.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal { reason, message: message.into(), subject: None, email: None, detail: None, user_id: None }
    }

    fn about(mut self, user: &UserRow) -> Refusal {
        self.user_id = Some(user.id.clone());
        self
    }
}

/// How a sign-in ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The person is the user `user_id`; start their session.
    SignedIn {
        /// The user.
        user_id: String,
        /// The log record.
        sign_in_id: String,
    },
    /// A test sign-in that succeeded (nobody is signed in).
    Tested {
        /// The log record.
        sign_in_id: String,
    },
    /// Refused.
    Refused {
        /// The log record.
        sign_in_id: String,
        /// The message for the person.
        message: String,
        /// Whether it was a test sign-in.
        test: bool,
    },
}

/// What a sign-in comes to, decided before anything is written.
enum Decision {
    /// Sign in as this user; `linking`: the identity was not linked to them yet; `update`: the
    /// resource and group names to write first (a just-in-time user's changed claims).
    Existing { user: UserRow, linking: bool, update: Option<(Value, Vec<String>)> },
    /// Create a just-in-time user.
    Create { resource: Value, groups: Vec<String> },
}

fn inactive(user: &UserRow) -> Refusal {
    Refusal::new(
        "user_inactive",
        format!("{} is deactivated (by the identity provider's provisioning or an admin).", user.user_name),
    )
    .about(user)
}

/// The existing user found by the link key (rule 2), if any.
async fn by_link_key(
    store: &Store,
    c: &ConnectionRecord,
    key: LinkKey,
    claimed: &jit::Claimed,
    who: &Identity,
) -> DomainResult<Result<Option<UserRow>, Refusal>> {
    let t = store.tenant(&c.tenant_id);
    let ambiguous = |what: String| {
        Refusal::new("ambiguous_user", format!("Several users of this organization have {what}; none was chosen."))
    };
    match key {
        LinkKey::ExternalId => {
            let Some(ext) = &claimed.unique_user_id else { return Ok(Ok(None)) };
            let mut found = t.users_by_external_id(ext).await?;
            if found.len() > 1 {
                return Ok(Err(ambiguous(format!("the externalId {ext:?}"))));
            }
            Ok(Ok(found.pop()))
        }
        LinkKey::UserName => {
            if let Some(u) = t.user_by_user_name(&fold_ascii(&who.subject)).await? {
                return Ok(Ok(Some(u)));
            }
            let Some(email) = &claimed.email else { return Ok(Ok(None)) };
            if let Some(u) = t.user_by_user_name(&fold_ascii(email)).await? {
                return Ok(Ok(Some(u)));
            }
            let mut by_email = t.users_by_email(&fold_ascii(email)).await?;
            if by_email.len() > 1 {
                return Ok(Err(ambiguous(format!("the email {email}"))));
            }
            Ok(Ok(by_email.pop()))
        }
    }
}

/// The claims' resource for a just-in-time user, when it differs from what is stored.
async fn jit_update(
    store: &Store,
    c: &ConnectionRecord,
    settings: &crate::dto::JitSettings,
    claimed: &jit::Claimed,
    who: &Identity,
    user: &UserRow,
) -> DomainResult<Result<Option<(Value, Vec<String>)>, Refusal>> {
    if user.source != UserSource::Jit || !settings.enabled || settings.update != JitUpdate::EverySignIn {
        return Ok(Ok(None));
    }
    if let Some(r) = jit::missing(&settings.claims, claimed, who) {
        return Ok(Err(r.about(user)));
    }
    let resource = match jit::resource(claimed, true) {
        Ok(r) => r,
        Err(e) => return Ok(Err(Refusal::new("invalid_claims", format!("The claims do not make a valid user: {e}")))),
    };
    let groups = jit::group_keys(claimed);
    let stored_groups = store.tenant(&c.tenant_id).claim_groups(&user.id).await?;
    if jit::unchanged(&user.data, &resource) && stored_groups == groups {
        return Ok(Ok(None));
    }
    Ok(Ok(Some((resource, groups))))
}

/// Decides what a sign-in comes to (the rules in the module doc), reading only.
async fn decide(store: &Store, c: &ConnectionRecord, who: &Identity) -> DomainResult<Result<Decision, Refusal>> {
    let settings = jit::settings(c);
    let claimed = jit::read(&settings.claims, who);
    let t = store.tenant(&c.tenant_id);
    // Rule 1: the identity's link.
    let mut deprovisioned = false;
    if let Some((id, gone)) = t.sso_identity(&c.id, &who.subject).await? {
        deprovisioned = gone;
        if !gone {
            if let Some(user) = t.user(&id).await? {
                if !user.is_active() {
                    return Ok(Err(inactive(&user)));
                }
                return Ok(match jit_update(store, c, &settings, &claimed, who, &user).await? {
                    Ok(update) => Ok(Decision::Existing { user, linking: false, update }),
                    Err(r) => Err(r),
                });
            }
        }
    }
    // Rule 2: the link key.
    let found = match by_link_key(store, c, settings.link_key, &claimed, who).await? {
        Ok(found) => found,
        Err(r) => return Ok(Err(r)),
    };
    if let Some(user) = found {
        if user.source == UserSource::Manual {
            return Ok(Err(Refusal::new(
                "manual_user",
                format!(
                    "{} is a user an admin created by hand; a sign-in is never linked to one automatically. An admin can link this identity from the user's page.",
                    user.user_name
                ),
            )
            .about(&user)));
        }
        if !jit::in_verified_domain(store, &c.tenant_id, claimed.email.as_deref()).await? {
            return Ok(Err(unverified(&claimed, "linked to the existing user").about(&user)));
        }
        if !user.is_active() {
            return Ok(Err(inactive(&user)));
        }
        return Ok(match jit_update(store, c, &settings, &claimed, who, &user).await? {
            Ok(update) => Ok(Decision::Existing { user, linking: true, update }),
            Err(r) => Err(r),
        });
    }
    if deprovisioned {
        return Ok(Err(Refusal::new(
            "user_deleted",
            "The identity provider's provisioning removed this person's user; they sign in again once it provisions them again.",
        )));
    }
    // Rule 3: just in time.
    if !settings.enabled {
        return Ok(Err(Refusal::new(
            "no_access",
            format!(
                "You have not been given access yet: no user of this organization matches {}{}. Your organization provisions users through its identity provider.",
                who.subject,
                claimed.email.as_ref().filter(|e| **e != who.subject).map(|e| format!(" or {e}")).unwrap_or_default()
            ),
        )));
    }
    if let Some(r) = jit::missing(&settings.claims, &claimed, who) {
        return Ok(Err(r));
    }
    if !jit::in_verified_domain(store, &c.tenant_id, claimed.email.as_deref()).await? {
        return Ok(Err(unverified(&claimed, "created just in time")));
    }
    match jit::resource(&claimed, true) {
        Ok(resource) => Ok(Ok(Decision::Create { resource, groups: jit::group_keys(&claimed) })),
        Err(e) => Ok(Err(Refusal::new("invalid_claims", format!("The claims do not make a valid user: {e}")))),
    }
}

fn unverified(claimed: &jit::Claimed, what: &str) -> Refusal {
    Refusal::new(
        "unverified_domain",
        format!(
            "{} is not in one of the organization's verified domains, so no user is {what} for it. An admin verifies the domain on the Single sign-on page.",
            claimed.email.as_deref().unwrap_or("The sign-in has no email; it")
        ),
    )
}

/// The words of a refused write, for the log.
fn write_refusal(e: DomainError) -> DomainResult<Refusal> {
    match e {
        DomainError::UserNameTaken { user_name, .. } => Ok(Refusal::new(
            "user_name_taken",
            format!(
                "A user with the userName {user_name} exists that the connection's link key did not match; nothing was created. Link them from the user's page, or change the link key."
            ),
        )),
        DomainError::Stale => Ok(Refusal::new("busy", "The user changed during the sign-in; try again.")),
        DomainError::Invalid(m) => Ok(Refusal::new("invalid_claims", format!("The claims do not make a valid user: {m}"))),
        e => Err(e),
    }
}

/// Writes what a decision needs before the sign-in is logged: the just-in-time user created or
/// updated. Returns the user, whether the identity is new to them, and words for the log.
async fn write(
    store: &Store,
    c: &ConnectionRecord,
    actor: &Actor,
    decision: &Decision,
    claims: &str,
) -> DomainResult<(UserRow, bool, &'static str)> {
    match decision {
        Decision::Existing { user, linking, update: None } => Ok((user.clone(), *linking, "")),
        Decision::Existing { user, linking, update: Some((resource, groups)) } => users::update_with(
            store,
            &c.tenant_id,
            Writer::Jit(actor, claims),
            user,
            resource,
            Some(ClaimGroups(groups)),
        )
        .await
        .map(|u| (u, *linking, " (attributes updated from the claims)")),
        Decision::Create { resource, groups } => {
            users::create_with(store, &c.tenant_id, Writer::Jit(actor, claims), resource, Some(ClaimGroups(groups)))
                .await
                .map(|u| (u, true, " (created just in time)"))
        }
    }
}

/// Ends a sign-in through connection `c`: finds (or creates) the user, links the identity,
/// writes the log. `test_by` is the admin of a test sign-in (nothing but the log is written
/// then).
pub async fn finish(
    store: &Store,
    c: &ConnectionRecord,
    test_by: Option<String>,
    client_ip: Option<String>,
    result: Result<Identity, Refusal>,
) -> DomainResult<Outcome> {
    let test = test_by.is_some();
    let mut log = NewSignIn {
        connection_id: Some(c.id.clone()),
        connection_name: c.name.clone(),
        test_by: test_by.clone(),
        client_ip,
        ..NewSignIn::default()
    };
    let mut read = false;
    let mut decided = match result {
        Err(r) => Err(r),
        Ok(who) => {
            read = true;
            log.subject = Some(who.subject.clone());
            log.email.clone_from(&who.email);
            log.detail = Some(who.detail.clone());
            if let Some(claim) = who.nul_in() {
                Err(Refusal::new(
                    "invalid_claims",
                    format!(
                        "The identity provider sent a NUL character (U+0000) in {claim}; no name or attribute may hold one."
                    ),
                ))
            } else if !c.enabled && !test {
                Err(Refusal::new("connection_disabled", format!("The connection \"{}\" is switched off.", c.name)))
            } else if store.tenant(&c.tenant_id).summary().await?.is_some_and(|s| s.disabled_at_ms.is_some()) {
                Err(Refusal::new(
                    "organization_disabled",
                    "This organization is disabled by the service operator; sign-ins are refused until it is enabled again.",
                ))
            } else {
                decide(store, c, &who).await?.map(|d| (d, who))
            }
        }
    };
    scrub_nul(&mut log);
    let now = now_ms();
    let actor = Actor {
        kind: "sso",
        name: format!("{} via {}", log.email.clone().or(log.subject.clone()).unwrap_or_default(), c.name),
    };
    // The writes of a real sign-in that come before its log: a just-in-time user created or
    // updated (its own transaction, with its placement and activity record). When another
    // sign-in of the same new person created them a moment earlier (the userName is taken by a
    // just-in-time user now), the sign-in is decided again, once: it links to that user.
    let mut signed_in: Option<(UserRow, bool, &'static str)> = None;
    decided = match decided {
        Ok((mut decision, who)) if !test => {
            let mut retried = false;
            loop {
                match write(store, c, &actor, &decision, &who.detail).await {
                    Ok(w) => {
                        signed_in = Some(w);
                        break Ok((decision, who));
                    }
                    Err(DomainError::UserNameTaken { existing: Some((_, UserSource::Jit)), .. })
                        if !retried && matches!(decision, Decision::Create { .. }) =>
                    {
                        retried = true;
                        match decide(store, c, &who).await? {
                            Ok(d) => decision = d,
                            Err(r) => break Err(r),
                        }
                    }
                    Err(e) => break Err(write_refusal(e)?),
                }
            }
        }
        other => other,
    };
    let mut tx = store.tenant(&c.tenant_id).begin().await?;
    let outcome = match decided {
        Err(r) => {
            if log.subject.is_none() {
                log.subject = r.subject;
            }
            if log.email.is_none() {
                log.email = r.email;
            }
            if log.detail.is_none() {
                log.detail = r.detail;
            }
            scrub_nul(&mut log);
            log.user_id = r.user_id;
            log.reason = Some(r.reason.to_string());
            log.message = if test { format!("Test sign-in refused: {}", r.message) } else { r.message.clone() };
            let sign_in_id = tx.insert_sign_in(&log, now).await?;
            if read && !test {
                let mut record = activity::action(
                    &actor,
                    "User",
                    log.user_id.as_deref(),
                    &format!("sign-in through \"{}\" refused ({}): {}", c.name, r.reason, r.message),
                    now,
                );
                record.request_body.clone_from(&log.detail);
                tx.record_activity(&[record]).await?;
            }
            Outcome::Refused { sign_in_id, message: r.message, test }
        }
        Ok((decision, who)) => {
            log.signed_in = true;
            if test {
                let what = match &decision {
                    Decision::Existing { user, linking, update } => {
                        log.user_id = Some(user.id.clone());
                        let role = role_text(effective_role(store, &c.tenant_id, &user.id).await?);
                        format!(
                            "this would sign in as {} ({role}){}{}.",
                            user.user_name,
                            if *linking { ", linking this identity to them" } else { "" },
                            if update.is_some() { ", updating their attributes from the claims" } else { "" }
                        )
                    }
                    Decision::Create { resource, .. } => format!(
                        "this would create the user {} just in time.",
                        resource.get("userName").and_then(Value::as_str).unwrap_or_default()
                    ),
                };
                log.message = format!("Test sign-in succeeded: {what}");
                Outcome::Tested { sign_in_id: tx.insert_sign_in(&log, now).await? }
            } else {
                let Some((user, linking, how)) = signed_in else {
                    return Err(DomainError::Internal("a sign-in decided without its user".into()));
                };
                tx.link_sso_identity(&c.id, &who.subject, &user.id, now).await?;
                if linking {
                    let summary = format!(
                        "SSO identity {:?} of connection \"{}\" linked to {}",
                        who.subject, c.name, user.user_name
                    );
                    let mut record = activity::action(&actor, "User", Some(&user.id), &summary, now);
                    record.request_body = Some(who.detail.clone());
                    tx.record_activity(&[record]).await?;
                }
                log.user_id = Some(user.id.clone());
                let role_now = effective_role(store, &c.tenant_id, &user.id).await?;
                let role = role_text(role_now);
                log.message = format!("Signed in as {} ({role}){how}.", user.user_name);
                events::set_cause(&mut tx, &events::Cause::SignIn(who.subject.clone()));
                let data = serde_json::json!({
                    "user": events::user_data(&user.id, user.source, &events::parse_resource(&user.data)),
                    "connection": {"id": c.id, "name": c.name, "protocol": c.protocol.as_str()},
                    "subject": who.subject,
                    "role": role_now.map(crate::dto::GroupRole::as_str),
                });
                events::emit(&mut tx, "sso.signed_in", data, now);
                Outcome::SignedIn { user_id: user.id.clone(), sign_in_id: tx.insert_sign_in(&log, now).await? }
            }
        }
    };
    tx.commit().await?;
    if !test {
        let (what, reason) = match &outcome {
            Outcome::Refused { .. } => ("refused", log.reason.as_deref().unwrap_or("unknown")),
            _ => ("signed_in", ""),
        };
        crate::metrics::sso_sign_in(c.protocol.as_str(), what, reason);
    }
    Ok(outcome)
}

/// The log keeps what the IdP sent with each NUL character shown as U+FFFD (PostgreSQL's text
/// cannot hold one; a sign-in that sent one is refused, see [`Identity::nul_in`]).
fn scrub_nul(log: &mut NewSignIn) {
    for text in [&mut log.subject, &mut log.email, &mut log.detail].into_iter().flatten() {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{FFFD}");
        }
    }
}

fn role_text(role: Option<GroupRole>) -> String {
    role.map_or("no role: no user group and no default role".to_string(), |r| format!("role {}", r.label()))
}

/// A user's user groups with their roles.
async fn groups_of(store: &Store, tenant: &TenantId, user_id: &str) -> DomainResult<Vec<(String, GroupRole)>> {
    let memberships = store.tenant(tenant).memberships_of_users(&[user_id.to_string()]).await?;
    let mut groups: Vec<(String, GroupRole)> = Vec::new();
    for m in memberships {
        if let Some(role) = GroupRole::parse(&m.role) {
            if !groups.iter().any(|(name, _)| name == &m.group_name) {
                groups.push((m.group_name, role));
            }
        }
    }
    groups.sort();
    Ok(groups)
}

/// A user's effective role: the highest of their user groups' roles, else the organization's
/// default role (`None`: no access).
pub async fn effective_role(store: &Store, tenant: &TenantId, user_id: &str) -> DomainResult<Option<GroupRole>> {
    let groups = groups_of(store, tenant, user_id).await?;
    role_of(store, tenant, &groups).await
}

async fn role_of(store: &Store, tenant: &TenantId, groups: &[(String, GroupRole)]) -> DomainResult<Option<GroupRole>> {
    match groups.iter().map(|(_, r)| *r).max() {
        Some(r) => Ok(Some(r)),
        None => Ok(store.tenant(tenant).default_role().await?.as_deref().and_then(GroupRole::parse)),
    }
}

fn display_of(user: &UserRow) -> (String, Option<String>) {
    let data: serde_json::Value = serde_json::from_str(&user.data).unwrap_or_default();
    let name = data
        .get("displayName")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or_else(|| {
            let n = data.get("name")?;
            let given = n.get("givenName").and_then(|v| v.as_str()).unwrap_or_default();
            let family = n.get("familyName").and_then(|v| v.as_str()).unwrap_or_default();
            let both = format!("{given} {family}").trim().to_string();
            (!both.is_empty()).then_some(both)
        })
        .unwrap_or_else(|| user.user_name.clone());
    let emails = data.get("emails").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    let email = emails
        .iter()
        .find(|e| e.get("primary").and_then(|p| p.as_bool()) == Some(true))
        .or_else(|| emails.first())
        .and_then(|e| e.get("value").and_then(|v| v.as_str()))
        .map(str::to_string);
    (name, email)
}

/// The person signed in through SSO as `user_id`, as the dashboard sees them; `None` when the
/// user is gone or deactivated (their session ends).
pub async fn viewer(store: &Store, tenant: &TenantId, user_id: &str) -> DomainResult<Option<Viewer>> {
    let Some(user) = store.tenant(tenant).user(user_id).await? else {
        return Ok(None);
    };
    // A manual user has an SSO session only through an identity an admin linked to them.
    if !user.is_active() {
        return Ok(None);
    }
    let Some(summary) = store.tenant(tenant).summary().await? else {
        return Ok(None);
    };
    if summary.disabled_at_ms.is_some() {
        return Ok(None);
    }
    let role = match effective_role(store, tenant, user_id).await? {
        Some(GroupRole::Admin) => ConsoleRole::OrgAdmin,
        Some(GroupRole::Viewer) => ConsoleRole::OrgViewer,
        Some(GroupRole::Member) => ConsoleRole::Member,
        None => ConsoleRole::NoAccess,
    };
    let (name, email) = display_of(&user);
    Ok(Some(Viewer {
        account_id: user.id.clone(),
        name,
        email: email.unwrap_or_else(|| user.user_name.clone()),
        role,
        tenant: Some(summary),
        sso: true,
    }))
}

/// What a person signed in through SSO sees of their own access.
pub async fn my_access(store: &Store, tenant: &TenantId, user_id: &str, connection_id: &str) -> DomainResult<MyAccess> {
    let user = store.tenant(tenant).user(user_id).await?.ok_or(DomainError::NotFound)?;
    let organization = store.tenant(tenant).summary().await?.ok_or(DomainError::NotFound)?.name;
    let connection = store
        .sso_connection(connection_id)
        .await?
        .filter(|c| &c.tenant_id == tenant)
        .map_or_else(|| "a connection since deleted".to_string(), |c| c.name);
    let groups = groups_of(store, tenant, user_id).await?;
    let (name, email) = display_of(&user);
    Ok(MyAccess {
        name,
        user_name: user.user_name.clone(),
        email,
        organization,
        connection,
        role: role_of(store, tenant, &groups).await?,
        groups,
    })
}

/// A user's single sign-on, for their page.
pub async fn user_sso(store: &Store, tenant: &TenantId, user_id: &str) -> DomainResult<crate::dto::UserSso> {
    let t = store.tenant(tenant);
    t.user(user_id).await?.ok_or(DomainError::NotFound)?;
    let connections: Vec<(String, String)> = t.sso_connections().await?.into_iter().map(|c| (c.id, c.name)).collect();
    let identities = t
        .sso_identities_of(user_id)
        .await?
        .into_iter()
        .map(|(connection_id, subject, linked_at_ms, last_sign_in_ms)| crate::dto::LinkedIdentity {
            connection_name: connections
                .iter()
                .find(|(id, _)| id == &connection_id)
                .map_or_else(|| "a deleted connection".to_string(), |(_, n)| n.clone()),
            connection_id,
            subject,
            linked_at_ms,
            last_sign_in_ms,
        })
        .collect();
    Ok(crate::dto::UserSso { identities, connections, sign_ins: t.sign_ins(10, Some(user_id)).await? })
}

/// An admin links an IdP identity (connection, subject) to a user explicitly — the way a
/// manual user gets SSO (a sign-in never links one by itself). An identity already linked to
/// another user moves to this one; the activity log records it.
pub async fn link_identity(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    user_id: &str,
    connection_id: &str,
    subject: &str,
) -> DomainResult<()> {
    let subject = subject.trim();
    if subject.is_empty() || subject.chars().count() > 512 {
        return Err(DomainError::Invalid(
            "Give the identity's subject (the SAML NameID or OIDC sub), at most 512 characters.".into(),
        ));
    }
    let c = super::connections::connection(store, tenant, connection_id).await?;
    let user = store.tenant(tenant).user(user_id).await?.ok_or(DomainError::NotFound)?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    tx.link_sso_identity(&c.id, subject, &user.id, now).await?;
    let summary = format!("linked SSO identity {subject:?} of connection \"{}\" to {}", c.name, user.user_name);
    tx.record_activity(&[activity::action(actor, "User", Some(&user.id), &summary, now)]).await?;
    tx.commit().await
}

/// An admin removes an identity's link to a user (its next sign-in is decided afresh).
pub async fn unlink_identity(
    store: &Store,
    tenant: &TenantId,
    actor: &Actor,
    user_id: &str,
    connection_id: &str,
    subject: &str,
) -> DomainResult<()> {
    let user = store.tenant(tenant).user(user_id).await?.ok_or(DomainError::NotFound)?;
    let now = now_ms();
    let mut tx = store.tenant(tenant).begin().await?;
    if !tx.unlink_sso_identity(connection_id, subject, user_id).await? {
        return Err(DomainError::NotFound);
    }
    let summary = format!("unlinked SSO identity {subject:?} from {}", user.user_name);
    tx.record_activity(&[activity::action(actor, "User", Some(&user.id), &summary, now)]).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_is_found_in_the_subject_the_email_or_any_claim() {
        let who = |subject: &str, email: Option<&str>, attributes: &[(&str, &[&str])]| Identity {
            subject: subject.into(),
            email: email.map(Into::into),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            detail: String::new(),
        };
        let clean: &[(&str, &[&str])] = &[("groups", &["Staff", "Sales"]), ("department", &["R&D"])];
        assert_eq!(who("ada", Some("ada@acme.test"), clean).nul_in(), None);
        assert_eq!(who("a\0da", None, clean).nul_in().as_deref(), Some("the subject"));
        assert_eq!(who("ada", Some("ada\0@acme.test"), clean).nul_in().as_deref(), Some("the email"));
        let second_value: &[(&str, &[&str])] = &[("groups", &["Staff", "Sa\0les"])];
        assert_eq!(who("ada", None, second_value).nul_in().as_deref(), Some("the claim \"groups\""));
        let in_a_name: &[(&str, &[&str])] = &[("dept\0", &["R&D"])];
        assert_eq!(who("ada", None, in_a_name).nul_in().as_deref(), Some("the claim \"dept\u{FFFD}\""));
    }
}
