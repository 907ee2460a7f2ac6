//! The domain's error: what a service call can fail with, in words a person can act on.
//!
//! Database errors are kept whole for the log and never shown: the HTTP layers turn
//! [`DomainError::Internal`] into a generic 500.

/// A domain service failure.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input breaks a rule; the message says which, for the person who typed it.
    #[error("{0}")]
    Invalid(String),
    /// The thing already exists (an email address already has an account, …).
    #[error("{0}")]
    Conflict(String),
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
    /// A failure that is ours, not the caller's.
    #[error("internal error: {0}")]
    Internal(String),
}

fn minutes(secs: u64) -> u64 {
    secs.div_ceil(60).max(1)
}

impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> Self {
        DomainError::Internal(format!("database: {e}"))
    }
}

impl From<sqlx::migrate::MigrateError> for DomainError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        DomainError::Internal(format!("migration: {e}"))
    }
}

/// The domain's result type.
pub type DomainResult<T> = Result<T, DomainError>;
