//! The domain's error: what a service call can fail with, in words a person can act on.
//!
//! Database errors are kept whole for the log and never shown: the HTTP layers turn
//! [`DomainError::Internal`] into a generic 500.

use crate::dto::UserSource;

/// A domain service failure.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input breaks a rule; the message says which, for the person who typed it.
    #[error("{0}")]
    Invalid(String),
    /// A name that must be unique is taken (the edges word it for their audience).
    #[error("{0} already exists")]
    Taken(Taken),
    /// The userName is taken in this tenant (userNames are unique case-insensitively), by
    /// `existing` when it could be read: the edges word it for their audience (SCIM's
    /// `uniqueness` error; the dashboard links to the existing user).
    #[error("userName {user_name:?} is already taken")]
    UserNameTaken {
        /// The userName asked for.
        user_name: String,
        /// The user who has it: id and where they came from.
        existing: Option<(String, UserSource)>,
    },
    /// The user came from `from`, and whoever asked may not change them that way (users from
    /// the identity provider are read-only in the dashboard except their user groups; manual
    /// users are invisible to the SCIM API).
    #[error("a user from {from:?} cannot be changed this way")]
    WrongSource {
        /// Where the user came from.
        from: UserSource,
    },
    /// Another write changed the resource after it was read (its version moved on); nothing
    /// was written.
    #[error("the resource changed meanwhile")]
    Stale,
    /// Email or password wrong. One message for both, so the form does not reveal which
    /// addresses have accounts.
    #[error("The email address or password is not correct.")]
    BadCredentials,
    /// Too many failed sign-ins for this account or address.
    #[error("Too many failed sign-in attempts. Try again in {} minute{}.", minutes(*.retry_after_secs), if minutes(*.retry_after_secs) == 1 { "" } else { "s" })]
    Throttled {
        /// How long until the next attempt is allowed.
        retry_after_secs: u64,
    },
    /// The thing does not exist (or belongs to someone else, which looks the same).
    #[error("not found")]
    NotFound,
    /// Too many requests of this kind at once for this tenant (expensive searches); the
    /// caller may retry shortly.
    #[error("{0}")]
    Busy(String),
    /// The database cannot serve the request now (no free connection in time, unreachable, or
    /// the statement ran past its time limit and was stopped). The detail is for the log.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The service operator disabled the organization: its SCIM API, sign-ins and dashboard
    /// are refused until it is enabled again.
    #[error("This organization is disabled. Its administrators can contact the service operator.")]
    OrganizationDisabled,
    /// A failure that is ours, not the caller's.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a [`DomainError::Taken`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// An account (of any organization) has this email address.
    AccountEmail,
    /// A user group of this organization has this name.
    UserGroupName,
    /// An SSO connection (of any organization) has this IdP entity ID or issuer.
    SsoIdp,
    /// Another organization verified this email domain.
    VerifiedDomain,
}

impl std::fmt::Display for Taken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Taken::AccountEmail => "an account with this email address",
            Taken::UserGroupName => "a user group with this name",
            Taken::SsoIdp => "a connection to this identity provider (entity ID or issuer)",
            Taken::VerifiedDomain => "an organization that verified this domain",
        })
    }
}

/// How long a caller is told to wait after [`DomainError::Busy`] or [`DomainError::Unavailable`].
pub const RETRY_AFTER_SECS: u64 = 2;

/// Whether a database error's code says the server ended the connection: PostgreSQL's
/// connection exceptions (class 08) and shutdowns (57P01 an administrator's, 57P02 a crash's,
/// 57P03 still starting).
pub(crate) fn connection_lost(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03"))
}

fn minutes(secs: u64) -> u64 {
    secs.div_ceil(60).max(1)
}

impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            // No connection in time, or none to be had: the caller may retry.
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
                DomainError::Unavailable(format!("database: {e}"))
            }
            // The server ended the connection (a restart, a failover, an administrator).
            E::Database(db) if connection_lost(db.code().as_deref()) => {
                DomainError::Unavailable(format!("database connection lost: {e}"))
            }
            // A statement stopped at its time limit: SQLite's interrupt (from the progress
            // handler), PostgreSQL's statement_timeout (57014 query_canceled).
            E::Database(db) if db.code().as_deref() == Some("9") || db.code().as_deref() == Some("57014") => {
                DomainError::Unavailable(format!("database statement stopped at its time limit: {e}"))
            }
            _ => DomainError::Internal(format!("database: {e}")),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for DomainError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        DomainError::Internal(format!("migration: {e}"))
    }
}

/// The domain's result type.
pub type DomainResult<T> = Result<T, DomainError>;
