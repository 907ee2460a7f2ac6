//! The error the dashboard's server functions return: a message meant for the person in front
//! of the page, plus a kind the page can react to.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What went wrong, in a form the page can show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum UiError {
    /// The input breaks a rule; show the message next to the form.
    #[error("{0}")]
    Invalid(String),
    /// It already exists; `href` is its page.
    #[error("{message}")]
    Exists { message: String, href: String },
    /// Not signed in (or the session expired).
    #[error("Your session has ended. Sign in again.")]
    Unauthenticated,
    /// Signed in, but not allowed to do this.
    #[error("You are not allowed to do this.")]
    Forbidden,
    /// Too busy right now (the database or a limit); the page may retry shortly.
    #[error("Roster is busy right now. Try again in a moment.")]
    Unavailable,
    /// The request was larger than the server accepts.
    #[error("That is more than Roster accepts in one request. Send less at a time.")]
    TooLarge,
    /// Something failed on our side; the details are in the server log.
    #[error("Something went wrong on our side. Try again in a moment.")]
    Internal,
    /// The call did not reach the server or its answer could not be read.
    #[error("Could not reach Roster: {0}")]
    Transport(String),
}

impl FromServerFnError for UiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        // On the server these are the client's mistakes (arguments that do not decode): say so
        // in words, with a 400, not the framework's text with a 500.
        #[cfg(feature = "ssr")]
        if matches!(
            value,
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) | ServerFnErrorErr::Deserialization(_)
        ) {
            return UiError::Invalid("The request could not be read. Reload the page and try again.".into());
        }
        UiError::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<roster_shared::error::DomainError> for UiError {
    fn from(e: roster_shared::error::DomainError) -> Self {
        use roster_shared::error::{DomainError as D, Taken};
        match e {
            D::Invalid(m) => UiError::Invalid(m),
            D::Taken(Taken::AccountEmail) => UiError::Invalid(
                "An account with this email address already exists. Sign in instead, or use another address.".into(),
            ),
            D::Taken(Taken::UserGroupName) => UiError::Invalid("A user group with this name already exists.".into()),
            D::Taken(Taken::VerifiedDomain) => UiError::Invalid(
                "Another organization has verified this domain. Ask Roster's support if it is yours.".into(),
            ),
            D::Taken(Taken::SsoIdp) => UiError::Invalid(
                "A connection to this identity provider (same entity ID or issuer) already exists, in this or another organization. Each IdP connects to one organization.".into(),
            ),
            D::UserNameTaken { user_name, existing: Some((id, _)) } => UiError::Exists {
                message: format!("A user named “{user_name}” already exists in your organization."),
                href: format!("/users/{id}"),
            },
            D::UserNameTaken { user_name, existing: None } => UiError::Invalid(if user_name.is_empty() {
                "A user name in the list is already taken in your organization; nothing was created.".into()
            } else {
                format!("A user named “{user_name}” already exists in your organization; choose another user name.")
            }),
            D::WrongSource { .. } => UiError::Invalid(
                "This user is managed by your identity provider: change or remove them there, and the change arrives here."
                    .into(),
            ),
            D::Stale => UiError::Invalid("Someone else changed this meanwhile; reload and try again.".into()),
            e @ (D::BadCredentials | D::Throttled { .. } | D::OrganizationDisabled) => UiError::Invalid(e.to_string()),
            D::NotFound => UiError::Invalid("It no longer exists.".into()),
            D::Busy(_) => UiError::Unavailable,
            D::Unavailable(detail) => {
                tracing::warn!(%detail, "server function: database unavailable");
                UiError::Unavailable
            }
            D::Internal(detail) => {
                tracing::error!(%detail, "server function failed");
                UiError::Internal
            }
        }
    }
}
