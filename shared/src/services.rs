//! What every request handler needs, in one cheap-to-clone value: the server builds it once at
//! start and hands it to the axum router and to the dashboard's server functions.

use crate::activity::ActivitySink;
use crate::store::Store;

/// The shared services of a running Roster instance.
#[derive(Clone, Debug)]
pub struct Services {
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
}

impl Services {
    /// The services over `store`; starts the activity writer on the current Tokio runtime.
    pub fn new(store: Store, public_url: String, trust_forwarded_for: bool) -> Services {
        let activity = ActivitySink::start(store.clone());
        Services {
            store,
            public_url,
            trust_forwarded_for,
            activity,
            sign_ups_per_hour: crate::accounts::DEFAULT_SIGN_UPS_PER_HOUR,
        }
    }
}
