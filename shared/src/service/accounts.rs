//! Console accounts: organization sign-up, sign-in with throttling, support staff accounts.
//!
//! Sign-in throttling is stored, not kept in memory, so that it holds across restarts and across
//! several instances: every attempt is a row in `sign_in_attempts`, and an attempt is refused
//! unchecked while an email address has had [`MAX_FAILURES_PER_EMAIL`] failures, or a client
//! address [`MAX_FAILURES_PER_IP`], within [`FAILURE_WINDOW_MS`]. A successful sign-in clears the
//! email's count (not the address's: one office behind one NAT shares an address).

use tokio::sync::OnceCell;

use crate::clock::now_ms;
use crate::dto::{ConsoleRole, Viewer};
use crate::error::{DomainError, DomainResult, Taken};
use crate::ids::{AccountId, TenantId};
use crate::passwords;
use crate::policy::{email_problem, name_problem, normalize_email, password_problem};
use crate::store::{NewAccount, NewTenant, SignInOutcome, Store};

/// Failed attempts per email address within the window before further attempts are refused.
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
/// Failed attempts per client address within the window before further attempts are refused.
pub const MAX_FAILURES_PER_IP: i64 = 30;
/// The throttling window.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

/// What the sign-up form sends.
#[derive(Clone)]
pub struct SignUp {
    /// The organization's name.
    pub organization: String,
    /// The first admin's name.
    pub name: String,
    /// The first admin's email address.
    pub email: String,
    /// The first admin's password.
    pub password: String,
    /// The client's address and how many sign-ups it may make within [`SIGN_UP_WINDOW_MS`]
    /// (`None`: an operator's CLI, not throttled).
    pub throttle: Option<(String, i64)>,
}

/// Self-service sign-ups from one client address within [`SIGN_UP_WINDOW_MS`] before further
/// ones are refused, unless configured otherwise.
pub const DEFAULT_SIGN_UPS_PER_HOUR: i64 = 10;
/// The sign-up throttling window.
pub const SIGN_UP_WINDOW_MS: i64 = 60 * 60 * 1000;

/// The result of a sign-up.
#[derive(Clone, Debug)]
pub struct SignedUp {
    /// The new tenant.
    pub tenant_id: TenantId,
    /// Its first admin.
    pub account_id: AccountId,
}

/// Creates an organization (tenant) and its first organization admin.
pub async fn sign_up(store: &Store, input: SignUp) -> DomainResult<SignedUp> {
    let organization = input.organization.trim().to_owned();
    let name = input.name.trim().to_owned();
    let email = input.email.trim().to_owned();
    if let Some(msg) = name_problem("organization name", &organization)
        .or_else(|| name_problem("your name", &name))
        .or_else(|| email_problem(&email))
        .or_else(|| password_problem(&input.password))
    {
        return Err(DomainError::Invalid(msg));
    }
    if let Some((ip, per_hour)) = &input.throttle {
        // Counted before the work, like sign-in attempts, so concurrent sign-ups cannot slip
        // past the limit together.
        let now = now_ms();
        store.record_sign_up(ip, now).await?;
        if let Some(at) = store.nth_recent_sign_up_for_ip(ip, now - SIGN_UP_WINDOW_MS, per_hour + 1).await? {
            tracing::warn!(client_ip = %ip, "sign-up throttled");
            return Err(DomainError::Throttled {
                retry_after_secs: ((at + SIGN_UP_WINDOW_MS - now).max(1000) as u64).div_ceil(1000),
            });
        }
    }
    let email_normalized = normalize_email(&email);
    if store.account_by_email(&email_normalized).await?.is_some() {
        return Err(DomainError::Taken(Taken::AccountEmail));
    }
    let password_hash = passwords::hash(input.password).await?;
    let tenant = NewTenant { id: TenantId::random(), name: organization };
    let admin = NewAccount {
        id: AccountId::random(),
        role: ConsoleRole::OrgAdmin,
        email,
        email_normalized,
        name,
        password_hash,
    };
    // The unique index still decides a race between two sign-ups with one address.
    store.create_tenant_with_admin(&tenant, &admin, now_ms()).await?;
    tracing::info!(tenant = %tenant.id, account = %admin.id, "organization created");
    Ok(SignedUp { tenant_id: tenant.id, account_id: admin.id })
}

/// What the sign-in form sends, with the client's address.
#[derive(Clone)]
pub struct SignIn {
    /// The email address as typed.
    pub email: String,
    /// The password as typed.
    pub password: String,
    /// The client's IP address (for throttling and the record).
    pub client_ip: String,
}

/// Checks a sign-in; returns the account on success. Every attempt is recorded.
///
/// The attempt is recorded as a failure *before* the password is checked (and settled after),
/// and it is refused when [`MAX_FAILURES_PER_EMAIL`] failures were recorded before it: so
/// concurrent wrong passwords for one account are throttled exactly like sequential ones (the
/// first five are checked, the rest refused), not all checked because each saw the count from
/// before the others.
pub async fn sign_in(store: &Store, input: SignIn) -> DomainResult<AccountId> {
    let email = normalize_email(&input.email);
    let now = now_ms();
    let since = now - FAILURE_WINDOW_MS;
    let account = store.account_by_email(&email).await?;
    let (attempt, by_email, by_ip) = store
        .open_sign_in_attempt(
            &email,
            &input.client_ip,
            account.as_ref(),
            now,
            since,
            MAX_FAILURES_PER_EMAIL,
            MAX_FAILURES_PER_IP,
        )
        .await?;
    // The attempt is allowed again when the limiting failure leaves the window.
    let until = by_email.into_iter().chain(by_ip).map(|at| at + FAILURE_WINDOW_MS).max().filter(|&u| u > now);
    if let Some(until) = until {
        store.set_sign_in_outcome(attempt, SignInOutcome::Throttled).await?;
        crate::metrics::console_sign_in("throttled");
        tracing::warn!(client_ip = %input.client_ip, "sign-in throttled");
        return Err(DomainError::Throttled { retry_after_secs: ((until - now) as u64).div_ceil(1000) });
    }

    let ok = match &account {
        Some(a) => passwords::verify(input.password, a.password_hash.clone()).await,
        None => {
            // Spend the same time as for a wrong password, so timing does not reveal which
            // addresses have accounts.
            match dummy_hash().await {
                Ok(dummy) => passwords::verify(input.password, dummy.to_owned()).await.map(|_| false),
                Err(e) => Err(e),
            }
        }
    };
    let ok = match ok {
        Ok(ok) => ok,
        Err(e) => {
            // Not checked (too many sign-ins at once, or a failure of ours): not a failure of
            // the person's either.
            store.set_sign_in_outcome(attempt, SignInOutcome::Throttled).await?;
            return Err(e);
        }
    };
    let outcome = match (&account, ok) {
        (Some(a), true) if a.disabled => SignInOutcome::Disabled,
        (Some(_), true) => SignInOutcome::Success,
        _ => SignInOutcome::BadCredentials,
    };
    if outcome != SignInOutcome::BadCredentials {
        store.set_sign_in_outcome(attempt, outcome).await?;
    }
    crate::metrics::console_sign_in(match outcome {
        SignInOutcome::Success => "success",
        SignInOutcome::Disabled => "disabled",
        SignInOutcome::Throttled => "throttled",
        SignInOutcome::BadCredentials => "bad_credentials",
    });
    match (outcome, account) {
        (SignInOutcome::Success, Some(a)) => {
            if let Some(t) = &a.tenant_id {
                if store.tenant(t).summary().await?.is_some_and(|s| s.disabled_at_ms.is_some()) {
                    return Err(DomainError::OrganizationDisabled);
                }
            }
            store.touch_sign_in(&a.id, now).await?;
            Ok(a.id)
        }
        (SignInOutcome::Disabled, _) => Err(DomainError::Invalid(
            "This account is disabled. Ask your organization's administrator or Roster support.".into(),
        )),
        _ => Err(DomainError::BadCredentials),
    }
}

async fn dummy_hash() -> DomainResult<&'static str> {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    DUMMY.get_or_try_init(passwords::dummy_hash).await.map(String::as_str)
}

/// The signed-in person for a session's account id; `None` if the account is gone or disabled
/// (the session is then treated as signed out).
pub async fn viewer(store: &Store, account_id: &AccountId) -> DomainResult<Option<Viewer>> {
    viewer_checked(store, account_id, None).await
}

/// The signed-in person of a dashboard session that signed in at `signed_in_at` (epoch ms;
/// `None` for sessions from before that was recorded): as [`viewer`], and `None` too when the
/// account's password changed after the session signed in — a reset (by link or by the
/// operator) or a change ends every other session of the account.
pub async fn session_viewer(
    store: &Store,
    account_id: &AccountId,
    signed_in_at: Option<i64>,
) -> DomainResult<Option<Viewer>> {
    viewer_checked(store, account_id, Some(signed_in_at.unwrap_or(0))).await
}

async fn viewer_checked(
    store: &Store,
    account_id: &AccountId,
    signed_in_at: Option<i64>,
) -> DomainResult<Option<Viewer>> {
    let Some(account) = store.account_by_id(account_id).await? else {
        return Ok(None);
    };
    if account.disabled {
        return Ok(None);
    }
    if let (Some(at), Some(changed)) = (signed_in_at, account.password_changed_at_ms) {
        if at < changed {
            return Ok(None);
        }
    }
    let tenant = match &account.tenant_id {
        Some(t) => store.tenant(t).summary().await?,
        None => None,
    };
    // An organization the operator disabled: its sessions no longer sign anyone in.
    if tenant.as_ref().is_some_and(|t| t.disabled_at_ms.is_some()) {
        return Ok(None);
    }
    Ok(Some(Viewer {
        account_id: account.id.to_string(),
        name: account.name,
        email: account.email,
        role: account.role,
        tenant,
        sso: false,
    }))
}

/// How long an invitation link works.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;

fn invitation_token() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!("rsi_{}", Alphanumeric.sample_string(&mut rand::thread_rng(), 40))
}

/// An admin invites another by email: a link (shown once; only its hash is stored) that works
/// once, for [`INVITATION_TTL_MS`].
pub async fn invite(
    store: &Store,
    tenant: &crate::ids::TenantId,
    actor: &crate::service::activity::Actor,
    email: &str,
    public_url: &str,
    mailer: Option<&crate::service::email::Mailer>,
) -> DomainResult<crate::dto::NewInvitation> {
    let email = email.trim().to_string();
    if let Some(problem) = email_problem(&email) {
        return Err(DomainError::Invalid(problem));
    }
    if store.account_by_email(&normalize_email(&email)).await?.is_some() {
        return Err(DomainError::Taken(crate::error::Taken::AccountEmail));
    }
    let token = invitation_token();
    let now = now_ms();
    let expires_at = now + INVITATION_TTL_MS;
    let id = uuid::Uuid::new_v4().to_string();
    let hash = crate::service::credentials::hash_secret(&token);
    store.insert_invitation(&id, tenant, &email, &hash, &actor.name, now, expires_at).await?;
    crate::service::activity::record(
        store,
        tenant,
        actor,
        "Invitation",
        Some(&id),
        format!("invited {email} as an admin"),
    )
    .await;
    let link = format!("{public_url}/invite/{token}");
    let emailed = match mailer {
        None => None,
        Some(mailer) => {
            let organization = store.tenant(tenant).summary().await?.map(|s| s.name).unwrap_or_default();
            let notice = crate::service::email::Notice::invitation(
                &organization,
                &actor.name,
                &link,
                INVITATION_TTL_MS / 86_400_000,
            );
            Some(mailer.send(&email, &notice).await.is_ok())
        }
    };
    Ok(crate::dto::NewInvitation { email, link, expires_at_ms: expires_at, emailed })
}

/// How long a password reset link works.
pub const PASSWORD_RESET_TTL_MS: i64 = 60 * 60 * 1000;

/// Reset links one account may be sent per hour (more requests are answered the same, and
/// send nothing).
const PASSWORD_RESETS_PER_HOUR: i64 = 3;

/// "Forgot password": emails a one-time link that works for an hour to the console account
/// with this address. The answer is the same whether or not the address has an account (and
/// the email goes out in the background, so the time taken does not tell either). Without
/// email configured, says so.
pub async fn request_password_reset(
    store: &Store,
    mailer: Option<&crate::service::email::Mailer>,
    email: &str,
    public_url: &str,
) -> DomainResult<()> {
    let Some(mailer) = mailer else {
        return Err(DomainError::Invalid(
            "Password reset by email is not set up on this Roster. Ask another admin of your organization to \
             invite you again, or the operator to run `roster account reset-password`."
                .into(),
        ));
    };
    if email_problem(email.trim()).is_some() {
        return Err(DomainError::Invalid("Enter the email address you sign in with.".into()));
    }
    let Some(account) = store.account_by_email(&normalize_email(email)).await? else { return Ok(()) };
    let now = now_ms();
    if account.disabled || store.password_resets_since(&account.id, now - 3_600_000).await? >= PASSWORD_RESETS_PER_HOUR
    {
        return Ok(());
    }
    let token = {
        use rand::distributions::{Alphanumeric, DistString};
        format!("rsr_{}", Alphanumeric.sample_string(&mut rand::thread_rng(), 40))
    };
    store
        .insert_password_reset(
            &account.id,
            &crate::service::credentials::hash_secret(&token),
            now,
            now + PASSWORD_RESET_TTL_MS,
        )
        .await?;
    let notice = crate::service::email::Notice::password_reset(
        &account.name,
        &format!("{public_url}/reset-password/{token}"),
        PASSWORD_RESET_TTL_MS / 60_000,
    );
    let (mailer, to) = (mailer.clone(), account.email.clone());
    tokio::spawn(async move {
        let _ = mailer.send(&to, &notice).await;
    });
    tracing::info!(account = %account.id, "password reset link sent");
    Ok(())
}

fn reset_link_gone() -> DomainError {
    DomainError::Invalid(
        "This password reset link is not valid: it was used, it expired, or it was mistyped. Ask for a new one.".into(),
    )
}

/// Whether a reset link can still be used (the page asks before showing its form).
pub async fn password_reset_open(store: &Store, token: &str) -> DomainResult<()> {
    if !token.starts_with("rsr_") || token.len() > 100 {
        return Err(reset_link_gone());
    }
    match store.password_reset_account(&crate::service::credentials::hash_secret(token), now_ms()).await? {
        Some(_) => Ok(()),
        None => Err(reset_link_gone()),
    }
}

/// Sets a new password through a reset link (once); the account's other open links stop
/// working too.
pub async fn reset_password_with_link(store: &Store, token: &str, new: String) -> DomainResult<AccountId> {
    password_reset_open(store, token).await?;
    if let Some(msg) = password_problem(&new) {
        return Err(DomainError::Invalid(msg));
    }
    let hash = passwords::hash(new).await?;
    let account = store
        .use_password_reset(&crate::service::credentials::hash_secret(token), &hash, now_ms())
        .await?
        .and_then(|a| AccountId::parse(&a))
        .ok_or_else(reset_link_gone)?;
    tracing::info!(account = %account, "password reset through an emailed link");
    Ok(account)
}

async fn open_invitation(store: &Store, token: &str) -> DomainResult<crate::store::InvitationRecord> {
    let gone = || {
        DomainError::Invalid(
            "This invitation link is not valid: it was used, it expired, or it was mistyped. Ask for a new one.".into(),
        )
    };
    if !token.starts_with("rsi_") || token.len() > 100 {
        return Err(gone());
    }
    let found = store.invitation_by_token_hash(&crate::service::credentials::hash_secret(token)).await?;
    match found {
        Some(i) if i.accepted_at.is_none() && i.expires_at > now_ms() => Ok(i),
        _ => Err(gone()),
    }
}

/// What an invitation link shows.
pub async fn invitation(store: &Store, token: &str) -> DomainResult<crate::dto::InvitationInfo> {
    let i = open_invitation(store, token).await?;
    Ok(crate::dto::InvitationInfo { organization: i.organization, email: i.email })
}

/// Accepts an invitation: the invited person becomes an admin of the organization, with the
/// name and password they chose. The link works once.
pub async fn accept_invitation(store: &Store, token: &str, name: &str, password: String) -> DomainResult<AccountId> {
    let i = open_invitation(store, token).await?;
    let name = if name.trim().is_empty() { i.email.clone() } else { name.trim().to_string() };
    if let Some(msg) = name_problem("name", &name).or_else(|| password_problem(&password)) {
        return Err(DomainError::Invalid(msg));
    }
    let admin = NewAccount {
        id: AccountId::random(),
        role: ConsoleRole::OrgAdmin,
        email_normalized: normalize_email(&i.email),
        email: i.email.clone(),
        name,
        password_hash: passwords::hash(password).await?,
    };
    if !store.accept_invitation(&i.id, &i.tenant_id, &admin, now_ms()).await? {
        return Err(DomainError::Invalid("This invitation was used or expired meanwhile. Ask for a new one.".into()));
    }
    let actor = crate::service::activity::Actor::admin(&admin.email);
    crate::service::activity::record(
        store,
        &i.tenant_id,
        &actor,
        "Invitation",
        Some(&i.id),
        "accepted the invitation".into(),
    )
    .await;
    Ok(admin.id)
}

/// An admin changes their own password (the current one is checked).
pub async fn change_password(store: &Store, id: &AccountId, current: String, new: String) -> DomainResult<()> {
    let account = store.account_by_id(id).await?.ok_or(DomainError::NotFound)?;
    if !passwords::verify(current, account.password_hash.clone()).await? {
        return Err(DomainError::Invalid("The current password is not correct.".into()));
    }
    if let Some(msg) = password_problem(&new) {
        return Err(DomainError::Invalid(msg));
    }
    store.set_password_hash(id, &passwords::hash(new).await?).await?;
    Ok(())
}

/// An operator sets a new password for the account with `email` (a locked-out admin).
pub async fn reset_password(store: &Store, email: &str, new: String) -> DomainResult<AccountId> {
    let account = store
        .account_by_email(&normalize_email(email))
        .await?
        .ok_or_else(|| DomainError::Invalid(format!("No account has the email {email}.")))?;
    if let Some(msg) = password_problem(&new) {
        return Err(DomainError::Invalid(msg));
    }
    store.set_password_hash(&account.id, &passwords::hash(new).await?).await?;
    tracing::info!(account = %account.id, "password reset by an operator");
    Ok(account.id)
}
