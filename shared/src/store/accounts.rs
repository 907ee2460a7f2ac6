//! Console accounts and sign-in attempts: platform-level rows (a support account has no tenant).

use sqlx::Row;

use super::{unique_violation, with_pool, Store, Unique};
use crate::dto::ConsoleRole;
use crate::error::{DomainError, DomainResult, Taken};
use crate::ids::{AccountId, TenantId};

/// A console account as stored (the password hash never leaves the store layer's callers in
/// `accounts`).
#[derive(Clone, Debug)]
pub struct AccountRecord {
    /// Its id.
    pub id: AccountId,
    /// Its organization (organization admins only).
    pub tenant_id: Option<TenantId>,
    /// What it may do.
    pub role: ConsoleRole,
    /// The email address as typed at sign-up.
    pub email: String,
    /// The person's name.
    pub name: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// Last successful sign-in, epoch ms.
    pub last_sign_in_at_ms: Option<i64>,
    /// When the password last changed, epoch ms: sessions from before no longer count.
    pub password_changed_at_ms: Option<i64>,
}

/// A console account to create.
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// Its id.
    pub id: AccountId,
    /// What it may do.
    pub role: ConsoleRole,
    /// The email address as typed.
    pub email: String,
    /// The email address normalized ([`crate::policy::normalize_email`]).
    pub email_normalized: String,
    /// The person's name.
    pub name: String,
    /// The argon2id PHC string.
    pub password_hash: String,
}

/// How a sign-in attempt ended (stored in `sign_in_attempts.outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInOutcome {
    /// Signed in.
    Success,
    /// Unknown email or wrong password.
    BadCredentials,
    /// Refused without checking, because of earlier failures.
    Throttled,
    /// Right password, disabled account.
    Disabled,
}

impl SignInOutcome {
    fn as_str(self) -> &'static str {
        match self {
            SignInOutcome::Success => "success",
            SignInOutcome::BadCredentials => "bad_credentials",
            SignInOutcome::Throttled => "throttled",
            SignInOutcome::Disabled => "disabled",
        }
    }
}

pub(super) const ACCOUNT_COLUMNS: &str =
    "id, tenant_id, role, email, name, password_hash, disabled, created_at, last_sign_in_at, password_changed_at";

pub(super) fn account_from_row<R>(row: &R) -> DomainResult<AccountRecord>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = row.try_get("role")?;
    Ok(AccountRecord {
        id: AccountId::from_store(row.try_get("id")?),
        tenant_id: row.try_get::<Option<String>, _>("tenant_id")?.map(TenantId::from_store),
        role: ConsoleRole::parse(&role)
            .ok_or_else(|| DomainError::Internal(format!("unknown role {role:?} in store")))?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        disabled: row.try_get("disabled")?,
        created_at_ms: row.try_get("created_at")?,
        last_sign_in_at_ms: row.try_get("last_sign_in_at")?,
        password_changed_at_ms: row.try_get("password_changed_at")?,
    })
}

impl Store {
    /// The account with this normalized email address, if any.
    pub async fn account_by_email(&self, email_normalized: &str) -> DomainResult<Option<AccountRecord>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM console_accounts WHERE email_normalized = $1");
        with_pool!(self, |p| {
            let row = sqlx::query(&sql).bind(email_normalized).fetch_optional(p).await?;
            row.as_ref().map(account_from_row).transpose()
        })
    }

    /// The account with this id, if any.
    pub async fn account_by_id(&self, id: &AccountId) -> DomainResult<Option<AccountRecord>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM console_accounts WHERE id = $1");
        with_pool!(self, |p| {
            let row = sqlx::query(&sql).bind(id.as_str()).fetch_optional(p).await?;
            row.as_ref().map(account_from_row).transpose()
        })
    }

    /// Records a successful sign-in time on the account.
    pub async fn touch_sign_in(&self, id: &AccountId, now_ms: i64) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query("UPDATE console_accounts SET last_sign_in_at = $1 WHERE id = $2")
                .bind(now_ms)
                .bind(id.as_str())
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Records a sign-in attempt as a failure before it is checked, and reads, in the same
    /// transaction, the failures recorded before it: the time of the `nth_email`-th most recent
    /// for this email address (since its last success) and of the `nth_ip`-th from this client
    /// address, both since `since_ms`. Returns the attempt's id (to settle its outcome) and
    /// those times.
    ///
    /// On PostgreSQL a transaction-scoped advisory lock on the email address orders concurrent
    /// attempts for one account (without it, an attempt could count before an earlier one had
    /// committed); SQLite has one writer, so its transactions are ordered already.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_sign_in_attempt(
        &self,
        email_normalized: &str,
        client_ip: &str,
        account: Option<&AccountRecord>,
        now_ms: i64,
        since_ms: i64,
        nth_email: i64,
        nth_ip: i64,
    ) -> DomainResult<(i64, Option<i64>, Option<i64>)> {
        let account_id = account.map(|a| a.id.as_str().to_owned());
        let tenant_id = account.and_then(|a| a.tenant_id.as_ref()).map(|t| t.as_str().to_owned());
        let lock = matches!(self.backend(), super::Backend::Postgres);
        let out = with_pool!(self, |p| {
            async {
                let mut tx = p.begin().await?;
                if lock {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))").bind(email_normalized).execute(&mut *tx).await?;
                }
                let id = sqlx::query_scalar::<_, i64>(
                    "INSERT INTO sign_in_attempts (email_normalized, client_ip, account_id, tenant_id, outcome, at) \
                     VALUES ($1, $2, $3, $4, 'bad_credentials', $5) RETURNING id",
                )
                .bind(email_normalized)
                .bind(client_ip)
                .bind(account_id)
                .bind(tenant_id)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await?;
                let by_email = sqlx::query_scalar::<_, i64>(
                    "SELECT at FROM sign_in_attempts \
                     WHERE email_normalized = $1 AND outcome = 'bad_credentials' AND at > $2 AND id < $4 \
                       AND at > COALESCE((SELECT MAX(at) FROM sign_in_attempts WHERE email_normalized = $1 AND outcome = 'success'), 0) \
                     ORDER BY at DESC LIMIT 1 OFFSET $3",
                )
                .bind(email_normalized)
                .bind(since_ms)
                .bind(nth_email - 1)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let by_ip = sqlx::query_scalar::<_, i64>(
                    "SELECT at FROM sign_in_attempts \
                     WHERE client_ip = $1 AND outcome = 'bad_credentials' AND at > $2 AND id < $4 \
                     ORDER BY at DESC LIMIT 1 OFFSET $3",
                )
                .bind(client_ip)
                .bind(since_ms)
                .bind(nth_ip - 1)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>((id, by_email, by_ip))
            }
            .await
        })?;
        Ok(out)
    }

    /// Settles the outcome of an attempt recorded before it was checked.
    pub async fn set_sign_in_outcome(&self, attempt_id: i64, outcome: SignInOutcome) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query("UPDATE sign_in_attempts SET outcome = $1 WHERE id = $2")
                .bind(outcome.as_str())
                .bind(attempt_id)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Records a sign-up from a client address.
    pub async fn record_sign_up(&self, client_ip: &str, now_ms: i64) -> DomainResult<()> {
        with_pool!(self, |p| {
            sqlx::query("INSERT INTO sign_ups (client_ip, at) VALUES ($1, $2)")
                .bind(client_ip)
                .bind(now_ms)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// The time of the `nth` most recent sign-up (1-based) from this client address since
    /// `since_ms`, if there were that many.
    pub async fn nth_recent_sign_up_for_ip(
        &self,
        client_ip: &str,
        since_ms: i64,
        nth: i64,
    ) -> DomainResult<Option<i64>> {
        let at = with_pool!(self, |p| {
            sqlx::query_scalar::<_, i64>(
                "SELECT at FROM sign_ups WHERE client_ip = $1 AND at > $2 ORDER BY at DESC LIMIT 1 OFFSET $3",
            )
            .bind(client_ip)
            .bind(since_ms)
            .bind(nth - 1)
            .fetch_optional(p)
            .await
        })?;
        Ok(at)
    }

    /// How many attempts with this outcome were recorded for this email address (for tests and
    /// support).
    pub async fn count_sign_in_attempts(&self, email_normalized: &str, outcome: SignInOutcome) -> DomainResult<i64> {
        let n = with_pool!(self, |p| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM sign_in_attempts WHERE email_normalized = $1 AND outcome = $2",
            )
            .bind(email_normalized)
            .bind(outcome.as_str())
            .fetch_one(p)
            .await
        })?;
        Ok(n)
    }
}

pub(super) fn map_account_conflict(e: sqlx::Error) -> DomainError {
    match unique_violation(&e) {
        Some(Unique::AccountEmail) => DomainError::Taken(Taken::AccountEmail),
        _ => e.into(),
    }
}
