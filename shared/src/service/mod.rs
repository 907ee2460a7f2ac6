//! The domain services: what Roster does, one module per area, each a set of functions over
//! the [`Store`] (validate → write → place → record, in one transaction where a change has
//! several parts). Wording for people lives at the edges (the SCIM API's errors in the server,
//! the dashboard's messages in the frontend); these return [`crate::error::DomainError`].
//!
//! [`Services`] bundles what every request handler needs.

pub mod accounts;
pub mod activity;
pub mod api_keys;
pub mod credentials;
pub mod diagnostics;
pub mod directory;
pub mod email;
pub mod events;
pub mod jobs;
pub mod mappings;
pub mod overview;
pub mod provisioning;
pub mod read_api;
pub mod safety;
pub mod scim_setup;
pub mod sso;
pub mod support;
pub mod tenants;
pub mod user_groups;
pub mod users;
pub mod webhooks;

use crate::error::{DomainError, DomainResult};
use crate::store::Store;
use activity::ActivitySink;

/// The longest text a dashboard search or filter takes.
pub const MAX_FILTER_CHARS: usize = 200;

/// Checks a dashboard search or text filter: at most [`MAX_FILTER_CHARS`] characters, and no NUL
/// character, which PostgreSQL's text cannot hold (its driver refuses the parameter: the page
/// failed with an internal error) and no stored name has on either backend.
pub fn check_filter_text(what: &str, text: &str) -> DomainResult<()> {
    check_text(what, text, MAX_FILTER_CHARS)
}

/// [`check_filter_text`] with a limit of `max` characters.
pub fn check_text(what: &str, text: &str, max: usize) -> DomainResult<()> {
    if text.chars().count() > max {
        return Err(DomainError::Invalid(format!("{what} for at most {max} characters.")));
    }
    if text.contains('\0') {
        return Err(DomainError::Invalid(format!("{what} for text without a NUL character.")));
    }
    Ok(())
}

/// The shared services of a running Roster instance, in one cheap-to-clone value: the server
/// builds it once at start and hands it to the axum router and to the dashboard's server
/// functions. A clone shares the parts (one reference count: axum clones its state for every
/// handler and middleware of every request); changing a part of a shared value changes a
/// copy of its own.
#[derive(Clone, Debug)]
pub struct Services(std::sync::Arc<ServiceParts>);

impl std::ops::Deref for Services {
    type Target = ServiceParts;
    fn deref(&self) -> &ServiceParts {
        &self.0
    }
}

impl std::ops::DerefMut for Services {
    fn deref_mut(&mut self) -> &mut ServiceParts {
        std::sync::Arc::make_mut(&mut self.0)
    }
}

/// What [`Services`] holds.
#[derive(Clone, Debug)]
pub struct ServiceParts {
    /// The database.
    pub store: Store,
    /// The URL people and identity providers reach this instance at, without a trailing slash
    /// (e.g. `https://roster.example.com`).
    pub public_url: String,
    /// Whether to take the client address from the last `X-Forwarded-For` entry (set it only
    /// behind a proxy that overwrites that header).
    pub trust_forwarded_for: bool,
    /// Where the SCIM API's activity records go (written in batches).
    pub activity: ActivitySink,
    /// Self-service sign-ups allowed per client address and hour.
    pub sign_ups_per_hour: i64,
    /// Single sign-on: the sealing key and the fetch policy.
    pub sso: sso::SsoSettings,
    /// Outgoing email; `None` when no SMTP server is configured.
    pub email: Option<email::Mailer>,
    /// Webhook requests the dashboard sends itself (*Send test event*, *Resend*); the
    /// [`webhooks::Dispatcher`] delivers the rest.
    pub webhooks: webhooks::Sender,
    /// Days events are kept.
    pub event_retention_days: i64,
}

impl Services {
    /// The services over `store`; starts the activity writer on the current Tokio runtime.
    pub fn new(store: Store, public_url: String, trust_forwarded_for: bool) -> Services {
        let activity = ActivitySink::start(store.clone());
        Services(std::sync::Arc::new(ServiceParts {
            store,
            public_url,
            trust_forwarded_for,
            activity,
            sign_ups_per_hour: crate::service::accounts::DEFAULT_SIGN_UPS_PER_HOUR,
            sso: sso::SsoSettings::ephemeral(),
            email: None,
            webhooks: webhooks::Sender::new(&webhooks::WebhookSettings::default()),
            event_retention_days: 30,
        }))
    }
}
